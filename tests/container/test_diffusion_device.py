"""The diffusion backend's device: a GPU unless the CPU is asked for by name, never a silent fallback."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.container, pytest.mark.slow]

if any(importlib.util.find_spec(name) is None for name in ("torch", "diffusers", "transformers", "cv2")):
    pytest.skip("the diffusion backend's tests need the 'inference' extra", allow_module_level=True)

from headshot.settings import ConfigurationError  # noqa: E402
from headshot_inference.backends.diffusion import DiffusionBackend  # noqa: E402
from headshot_inference.settings import get_settings  # noqa: E402
from tests.container.test_diffusion import build_tiny_model_dir  # noqa: E402

torch: Any = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-sdxl-device")
    build_tiny_model_dir(path)
    return path


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    # HEADSHOT_DEVICE is read once per process (the container's settings): re-read per test.
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("HEADSHOT_DEVICE", raising=False)


@pytest.mark.parametrize("device_env", [None, "cuda", "cuda:0", " CUDA "])
def test_no_cuda_fails_the_load_with_a_clear_log_line(
    model_dir: Path,
    no_cuda: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    device_env: str | None,
) -> None:
    # Given a complete model dir, a machine without CUDA, and HEADSHOT_DEVICE unset or naming a GPU
    if device_env is not None:
        monkeypatch.setenv("HEADSHOT_DEVICE", device_env)
    backend = DiffusionBackend(model_dir)
    # When the backend loads
    with caplog.at_level(logging.ERROR), pytest.raises(ConfigurationError, match="expects a GPU") as error:
        backend.load()
    # Then it refuses to fall back to the CPU, and says so in one error line naming the way out
    assert "HEADSHOT_DEVICE=cpu" in str(error.value)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.endswith("diffusion")]
    assert [r.getMessage() for r in errors] == [str(error.value)]
    with pytest.raises(RuntimeError, match="has not run"):
        _ = backend.pipeline


def test_the_cpu_is_used_only_when_asked_for_by_name(
    model_dir: Path, no_cuda: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a machine without CUDA and HEADSHOT_DEVICE=cpu
    monkeypatch.setenv("HEADSHOT_DEVICE", "cpu")
    backend = DiffusionBackend(model_dir)
    # When the backend loads
    backend.load()
    # Then it runs on the CPU in float32
    assert (backend.info["device"], backend.info["dtype"]) == ("cpu", "float32")


def test_an_unknown_device_is_a_configuration_error(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given HEADSHOT_DEVICE naming no device torch has here
    monkeypatch.setenv("HEADSHOT_DEVICE", "tpu")
    # When the settings are read (at start, before any model loads), Then the variable and its value are named
    with pytest.raises(ConfigurationError, match=r"HEADSHOT_DEVICE.*'tpu'"):
        DiffusionBackend(model_dir).load()
