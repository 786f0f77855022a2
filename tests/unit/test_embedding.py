"""dlib's face-embedding network run by torch (headshot.embedding) gives dlib's embeddings."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np
import pytest
from PIL import Image

from headshot import faces
from headshot.embedding import TorchFaceEncoder, read_weights
from headshot.faces import EMBEDDING_MODEL, LANDMARKS_MODEL, FaceModels, default_model_dir
from headshot.settings import ConfigurationError, Settings
from tests.support import images

pytest.importorskip("torch")  # the inference container has it; the validator Lambda does not

# Float32 rounding in a different summation order: 5e-7 measured on the shared photos'
# chips; the gate's identity distances are calibrated in hundredths.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def dlib_models() -> FaceModels:
    return FaceModels.load(default_model_dir(), "dlib")


@pytest.fixture(scope="module")
def torch_encoder() -> TorchFaceEncoder:
    return TorchFaceEncoder(default_model_dir() / EMBEDDING_MODEL)


def _chips(models: FaceModels, photos: list[Image.Image]) -> list[np.ndarray]:
    chips = []
    for photo in photos:
        rgb = np.asarray(photo.convert("RGB"))
        rects = models.detector(rgb, 0)
        assert rects, "no face found"
        shape = models.landmarks(rgb, rects[0])
        chips.append(np.asarray(dlib.get_face_chip(rgb, shape, size=150, padding=0.25)))
    return chips


def _photos(faces_dir: Path | None) -> list[Image.Image]:
    found = [images.astronaut()]
    if faces_dir is not None:
        found += [Image.open(faces_dir / name) for name in ("obama.jpg", "biden.jpg", "alex-lacamoire.png")]
    return found


def test_torch_embeddings_equal_dlibs(
    dlib_models: FaceModels, torch_encoder: TorchFaceEncoder, request: pytest.FixtureRequest
) -> None:
    # Given face chips cut as the analyzer cuts them, and a few that are no face at all
    try:
        faces_dir: Path | None = request.getfixturevalue("faces_dir")
    except pytest.skip.Exception:
        faces_dir = None
    chips = _chips(dlib_models, _photos(faces_dir))
    rng = np.random.default_rng(0)
    chips += [rng.integers(0, 256, (150, 150, 3), dtype=np.uint8), np.zeros((150, 150, 3), np.uint8)]
    for chip in chips:
        # When both encoders embed the chip
        expected = np.asarray(dlib_models.encoder.compute_face_descriptor(chip), np.float32)
        got = torch_encoder.compute_face_descriptor(chip)
        # Then they agree to float32 rounding
        assert got.shape == (128,) and got.dtype == np.float32
        assert float(np.abs(got - expected).max()) < TOLERANCE


def test_only_a_face_chip_is_embedded(torch_encoder: TorchFaceEncoder) -> None:
    with pytest.raises(ValueError, match="150 x 150"):
        torch_encoder.compute_face_descriptor(np.zeros((160, 160, 3), np.uint8))


def test_another_model_file_is_refused() -> None:
    with pytest.raises(ValueError, match="not dlib's face-embedding network"):
        read_weights(default_model_dir() / LANDMARKS_MODEL)


def test_the_encoder_can_be_chosen() -> None:
    assert isinstance(FaceModels.load(default_model_dir(), "torch").encoder, TorchFaceEncoder)
    assert not isinstance(FaceModels.load(default_model_dir(), "dlib").encoder, TorchFaceEncoder)
    # "auto" takes torch where it is installed, as here (the inference container)
    assert isinstance(FaceModels.load(default_model_dir(), "auto").encoder, TorchFaceEncoder)
    with pytest.raises(ConfigurationError, match="face encoder"):
        FaceModels.load(default_model_dir(), "onnx")


def test_the_setting_chooses_the_encoder() -> None:
    assert Settings.from_env({"HEADSHOT_FACE_ENCODER": "dlib"}).face_encoder == "dlib"
    assert Settings.from_env({}).face_encoder == "auto"
    with pytest.raises(ConfigurationError, match="HEADSHOT_FACE_ENCODER"):
        Settings.from_env({"HEADSHOT_FACE_ENCODER": "onnx"})
    assert not isinstance(faces.load_models(None, "dlib").encoder, TorchFaceEncoder)
