"""ruff and mypy run as part of `make test`, so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra
REPO_ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name(name)
    if not executable.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}; install the dev extra")
    return subprocess.run([str(executable), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_is_clean() -> None:
    result = _tool("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _tool("ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    # Incremental, with its cache in the checkout (.mypy_cache, see pyproject.toml): a warm run
    # re-checks only what changed. `make lint` shares the same cache.
    result = _tool("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
