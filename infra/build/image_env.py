"""The inference image's Python environment, built without Docker (a one-time build, cached).

    python -m infra.build.image_env      # prints the environment's python; builds it when missing

A fresh virtualenv gets exactly what the Dockerfile's runtime stage installs from the registry:
CPU torch (standing in for the base image's CUDA build, the Makefile's TORCH pin) and then the
pinned `inference_container/requirements.txt`, nothing else. It is cached in
build/image-venv-<hash of the requirements, the torch pin and the Python version>, so a change
to any of them builds a new one. `make test` builds it before pytest (a one-time environment
build, reported on its own); tests/container/test_image_env.py installs the package into it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
REQUIREMENTS: Final = ROOT / "inference_container" / "requirements.txt"
MAKEFILE: Final = ROOT / "Makefile"


class BuildError(RuntimeError):
    """A pip or venv step failed; the message carries its output's tail."""


def torch_pin() -> str:
    """The CPU torch the test machines use (the Makefile's TORCH), standing in for the base's CUDA build."""
    found = re.search(r"^TORCH \?= (\S+)$", MAKEFILE.read_text(), flags=re.MULTILINE)
    if found is None:
        raise BuildError("Makefile: TORCH ?= torch==<version> not found")
    return found.group(1)


def location() -> Path:
    """Where the environment for the current requirements, torch pin and Python lives."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + torch_pin().encode() + sys.version.encode()).hexdigest()[:16]
    return ROOT / "build" / f"image-venv-{key}"


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")


def _build(target: Path) -> None:
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(partial)])
    python = str(partial / "bin" / "python")
    # torch first, as the base image has it: the requirements' torch>=2.6 needs are then met.
    _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", torch_pin()])
    _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)])
    partial.rename(target)  # the script shebangs keep the partial path: always call `python -m pip`


def ensure() -> Path:
    """The environment's python, built first when it is missing."""
    target = location()
    if not (target / "bin" / "python").is_file():
        target.parent.mkdir(exist_ok=True)
        _build(target)
    return target / "bin" / "python"


def main() -> int:
    started = time.monotonic()
    built = not (location() / "bin" / "python").is_file()
    try:
        python = ensure()
    except BuildError as error:
        print(f"image environment: {error}", file=sys.stderr)
        return 1
    how = f"built in {time.monotonic() - started:.0f} s" if built else "cached"
    print(f"image environment ({how}): {python}", file=sys.stderr)
    print(python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
