"""MediaPipe face mesh and eyes through LiteRT (headshot.mesh), on the package-shipped portrait."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from headshot.faces import FaceAnalyzer, load_models
from headshot.mediapipe_models import ALL_MODELS, FACE_LANDMARK, default_model_dir, model_path
from headshot.mesh import EYE_CONTOURS, FaceMeshModel, load_mesh_model
from headshot.settings import ConfigurationError
from tests.support import images


@pytest.fixture(scope="module")
def astronaut_mesh() -> tuple[np.ndarray, FaceAnalyzer]:
    rgb = np.asarray(images.astronaut())
    return rgb, FaceAnalyzer(load_models(), load_mesh_model())


def test_mesh_lands_on_the_face_with_open_eyes_looking_ahead(astronaut_mesh: tuple[np.ndarray, FaceAnalyzer]) -> None:
    # Given the astronaut (eyes open, looking into the lens)
    rgb, analyzer = astronaut_mesh
    # When her face is measured
    face = analyzer.analyse(rgb).main
    # Then the mesh has 468 points inside her face box, and both eyes are open and centred
    assert face is not None and face.mesh is not None
    mesh = face.mesh
    assert mesh.points.shape == (468, 3) and mesh.presence > 0.9
    box = face.detection
    nose_tip = mesh.points[1, :2]
    assert box.left < nose_tip[0] < box.right and box.top < nose_tip[1] < box.bottom
    for eye in mesh.eyes:
        assert 0.25 < eye.openness < 0.5
        assert abs(eye.gaze[0]) < 0.12
        assert 2.0 < eye.iris_radius < 0.25 * eye.width
        # Lids run image-left to image-right for either eye (the right one is mirrored for the model)
        assert eye.contour[0][0] < eye.contour[8][0]
        # The iris centre lies between the eye's corners
        assert eye.contour[0][0] < eye.iris[0][0] < eye.contour[8][0]
    left, right = mesh.eyes
    assert left.iris[0][0] < right.iris[0][0]
    # The iris model's lids agree with the face mesh's own eye points (same order, a few px apart)
    for eye, indices in zip(mesh.eyes, EYE_CONTOURS, strict=True):
        assert float(np.abs(eye.contour - mesh.points[list(indices), :2]).max()) < 0.35 * eye.width


def test_no_face_in_the_crop_gives_no_mesh() -> None:
    # Given a flat grey image and made-up 5 points where a face would be
    grey = np.full((256, 256, 3), 128, np.uint8)
    points = np.array([[150.0, 100.0], [130.0, 100.0], [90.0, 100.0], [110.0, 100.0], [120.0, 130.0]])
    # When the mesh model is asked / Then it says there is no face
    assert load_mesh_model().measure(grey, points) is None


def test_the_model_dir_setting_is_where_every_model_is_looked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headshot.settings import get_settings

    # Given HEADSHOT_MEDIAPIPE_MODEL_DIR set (the image keeps its models outside the package)
    monkeypatch.setenv("HEADSHOT_MEDIAPIPE_MODEL_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        # Then the default folder of every MediaPipe model (segmenter, mesh, sentinel) is that one
        assert default_model_dir() == tmp_path
    finally:
        get_settings.cache_clear()


def test_models_load_once_per_process() -> None:
    assert load_mesh_model() is load_mesh_model()


def test_a_missing_or_altered_model_file_fails_at_load(tmp_path: Path) -> None:
    # Given a model folder with one file missing, then one file altered
    for model in ALL_MODELS:
        shutil.copy2(default_model_dir() / model.name, tmp_path / model.name)
    (tmp_path / FACE_LANDMARK.name).unlink()
    # Then loading fails with a message naming the file and how to get it
    with pytest.raises(ConfigurationError, match=r"face_landmark\.tflite"):
        FaceMeshModel(tmp_path)
    (tmp_path / FACE_LANDMARK.name).write_bytes(b"not the pinned model")
    with pytest.raises(ConfigurationError, match="sha256"):
        model_path(tmp_path, FACE_LANDMARK)
