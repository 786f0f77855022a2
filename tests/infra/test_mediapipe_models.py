"""Getting MediaPipe's model files: from the pinned wheel, hash-checked, the same way everywhere."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from headshot.mediapipe_models import ALL_MODELS, WHEEL_REQUIREMENT, default_model_dir
from infra.build import mediapipe_models

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "inference_container" / "Dockerfile"
# What the Dockerfile's mediapipe-models stage copies in (and its .dockerignore lets through).
STAGE_FILES = (
    "functions/headshot/__init__.py",
    "functions/headshot/settings.py",
    "functions/headshot/mediapipe_models.py",
    "infra/__init__.py",
    "infra/build/__init__.py",
    "infra/build/mediapipe_models.py",
)


def _fake_download(wheel_bytes: dict[str, bytes]) -> object:
    """A stand-in for `pip download` that writes a mediapipe wheel holding the given files."""

    def run(command: list[str], check: bool) -> None:
        dest = Path(command[command.index("--dest") + 1])
        with zipfile.ZipFile(dest / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl", "w") as wheel:
            for name, data in wheel_bytes.items():
                wheel.writestr(name, data)

    return run


def test_fetch_extracts_the_pinned_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a wheel whose model files are the pinned ones
    files = {model.path_in_wheel: (default_model_dir() / model.name).read_bytes() for model in ALL_MODELS}
    monkeypatch.setattr(subprocess, "run", _fake_download(files))
    # When fetched into an empty folder / Then every model lands there, byte for byte
    paths = mediapipe_models.fetch(tmp_path)
    assert [p.name for p in paths] == [model.name for model in ALL_MODELS]
    assert all(p.read_bytes() == files[m.path_in_wheel] for p, m in zip(paths, ALL_MODELS, strict=True))


def test_fetch_refuses_a_file_whose_hash_differs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a wheel with an altered face-landmark model
    files = {model.path_in_wheel: b"tampered" for model in ALL_MODELS}
    monkeypatch.setattr(subprocess, "run", _fake_download(files))
    # When fetched / Then it stops with the hash mismatch and writes nothing
    with pytest.raises(SystemExit, match="sha256"):
        mediapipe_models.fetch(tmp_path)
    assert not list(tmp_path.iterdir())


def test_the_dockerfile_stage_runs_the_same_fetcher_from_only_the_files_it_copies(tmp_path: Path) -> None:
    # Given only the files the Dockerfile's model stage copies, and the models already in place
    text = DOCKERFILE.read_text()
    stage = text.split("AS mediapipe-models", 1)[1].split("\nFROM ", 1)[0]
    assert "python -m infra.build.mediapipe_models --dest /models" in stage
    copied = {path for line in re.findall(r"COPY ([^\n]+(?:\\\n[^\n]+)*)", stage) for path in line.split()}
    for name in STAGE_FILES:
        assert Path(name).name in " ".join(copied), f"{name} not copied into the stage"
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    dest = tmp_path / "models"
    dest.mkdir()
    for model in ALL_MODELS:
        shutil.copy2(default_model_dir() / model.name, dest / model.name)
    # When the fetcher runs there with an isolated interpreter (no venv packages beyond the stdlib)
    script = (
        "import runpy, sys; sys.path[:0] = sys.argv[1:3]; sys.argv = ['fetch', '--dest', sys.argv[3]]; "
        "runpy.run_module('infra.build.mediapipe_models', run_name='__main__')"
    )
    command = [sys.executable, "-I", "-c", script, str(tmp_path / "functions"), str(tmp_path), str(dest)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    # Then it finds every file already verified and needs no download
    assert done.returncode == 0, done.stderr
    assert sorted(Path(line).name for line in done.stdout.split()) == sorted(m.name for m in ALL_MODELS)
    # And the runtime stage points the container at those files
    runtime = text.rsplit("\nFROM ", 1)[1]
    assert "HEADSHOT_MEDIAPIPE_MODEL_DIR=/opt/headshot/mediapipe-models" in runtime
    assert "COPY --from=mediapipe-models /models/ /opt/headshot/mediapipe-models/" in runtime


def test_the_wheel_is_pinned_exactly() -> None:
    assert re.fullmatch(r"mediapipe==\d+\.\d+\.\d+", WHEEL_REQUIREMENT)
