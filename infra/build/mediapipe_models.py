"""Put MediaPipe's three `.tflite` models in place, from the pinned wheel, hash-checked.

    python -m infra.build.mediapipe_models [--dest DIR]

Downloads `mediapipe==0.10.21` with pip (a package registry, never a model hub; pip's cache
makes a second run offline), extracts only the files listed in headshot.mediapipe_models and
refuses any whose sha256 differs from the pinned one. The wheel itself is never installed
(it would pull jax and numpy<2). Files already present with the right hash are left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from headshot.mediapipe_models import ALL_MODELS, BUNDLED_MODEL_DIR, WHEEL_REQUIREMENT, ModelFile

# Any platform's wheel carries the same model bytes; one fixed tag keeps the download stable.
WHEEL_PLATFORM = "manylinux_2_28_x86_64"
WHEEL_PYTHON = "3.11"


def _has(dest: Path, model: ModelFile) -> bool:
    path = dest / model.name
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == model.sha256


def fetch(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    missing = [model for model in ALL_MODELS if not _has(dest, model)]
    if missing:
        with tempfile.TemporaryDirectory() as tmp:
            command = [
                sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                "--only-binary=:all:", "--platform", WHEEL_PLATFORM, "--python-version", WHEEL_PYTHON,
                "--dest", tmp, WHEEL_REQUIREMENT,
            ]  # fmt: skip
            subprocess.run(command, check=True)
            (wheel,) = Path(tmp).glob("mediapipe-*.whl")
            with zipfile.ZipFile(wheel) as archive:
                for model in missing:
                    data = archive.read(model.path_in_wheel)
                    digest = hashlib.sha256(data).hexdigest()
                    if digest != model.sha256:
                        raise SystemExit(f"{model.path_in_wheel}: sha256 {digest}, expected {model.sha256}")
                    (dest / model.name).write_bytes(data)
    return [dest / model.name for model in ALL_MODELS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=BUNDLED_MODEL_DIR, help=f"default {BUNDLED_MODEL_DIR}")
    args = parser.parse_args(argv)
    for path in fetch(args.dest):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
