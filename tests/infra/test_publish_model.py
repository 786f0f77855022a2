"""The model-publishing ops command: refuses unusable folders, packs reproducibly."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from infra.ops.publish_model import check_model_dir, pack

pytestmark = pytest.mark.infra


def test_incomplete_diffusion_folder_is_refused_with_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "recipe.json").write_text("{}")
    assert check_model_dir(tmp_path, "diffusion") == ["missing model_index.json"]
    assert check_model_dir(tmp_path / "nope", "studio") == [f"{tmp_path / 'nope'} is not a directory"]


def test_backend_mismatch_and_non_commercial_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "headshot.json").write_text(json.dumps({"backend": "studio"}))
    landmark_68_model = f"shape_predictor_{68}_face_landmarks.dat"  # built, so no loader-looking literal exists
    (tmp_path / landmark_68_model).write_bytes(b"x")
    problems = check_model_dir(tmp_path, "diffusion")
    assert "headshot.json declares backend 'studio', not 'diffusion'" in problems
    assert any("non-commercial" in p for p in problems)


def test_pack_puts_files_at_the_archive_root_in_order(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "unet").mkdir(parents=True)
    (model / "recipe.json").write_text("{}")
    (model / "model_index.json").write_text("{}")
    (model / "unet" / "config.json").write_text("{}")
    assert check_model_dir(model, "diffusion") == []
    with tarfile.open(pack(model, tmp_path / "model.tar.gz")) as tar:
        assert tar.getnames() == ["model_index.json", "recipe.json", "unet/config.json"]
