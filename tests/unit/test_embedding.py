"""dlib's face-embedding network run by numpy (headshot.embedding) gives dlib's embeddings."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np
import pytest
from PIL import Image

from headshot import faces
from headshot.embedding import NumpyFaceEncoder, read_weights
from headshot.faces import EMBEDDING_MODEL, LANDMARKS_MODEL, FaceModels, default_model_dir
from headshot.settings import ConfigurationError, Settings
from tests.support import images

# Float32 rounding in a different summation order: at most 2e-6 measured on the shared
# photos' chips and on noise; the identity distances are calibrated in hundredths.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def dlib_models() -> FaceModels:
    return FaceModels.load(default_model_dir(), "dlib")


@pytest.fixture(scope="module")
def numpy_encoder() -> NumpyFaceEncoder:
    return NumpyFaceEncoder(default_model_dir() / EMBEDDING_MODEL)


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


def test_numpy_embeddings_equal_dlibs(
    dlib_models: FaceModels, numpy_encoder: NumpyFaceEncoder, request: pytest.FixtureRequest
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
        got = numpy_encoder.compute_face_descriptor(chip)
        # Then they agree to float32 rounding
        assert got.shape == (128,) and got.dtype == np.float32
        assert float(np.abs(got - expected).max()) < TOLERANCE


def test_only_a_face_chip_is_embedded(numpy_encoder: NumpyFaceEncoder) -> None:
    with pytest.raises(ValueError, match="150 x 150"):
        numpy_encoder.compute_face_descriptor(np.zeros((160, 160, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        numpy_encoder.compute_face_descriptor(np.zeros((150, 150, 3), np.float32))


def test_a_read_only_chip_is_embedded(numpy_encoder: NumpyFaceEncoder) -> None:
    # Given a chip as dlib.get_face_chip's array may come: not writable
    chip = np.full((150, 150, 3), 128, np.uint8)
    chip.setflags(write=False)
    # Then it embeds, and the chip is left as it was
    assert numpy_encoder.compute_face_descriptor(chip).shape == (128,)
    assert int(chip[0, 0, 0]) == 128


def test_another_model_file_is_refused() -> None:
    with pytest.raises(ValueError, match="not dlib's face-embedding network"):
        read_weights(default_model_dir() / LANDMARKS_MODEL)


def test_the_encoder_can_be_chosen() -> None:
    assert isinstance(FaceModels.load(default_model_dir(), "numpy").encoder, NumpyFaceEncoder)
    assert not isinstance(FaceModels.load(default_model_dir(), "dlib").encoder, NumpyFaceEncoder)
    # "auto" (the default) is numpy's, in the validator Lambda and the inference container alike
    assert isinstance(FaceModels.load(default_model_dir(), "auto").encoder, NumpyFaceEncoder)
    with pytest.raises(ConfigurationError, match="face encoder"):
        FaceModels.load(default_model_dir(), "onnx")


def test_the_setting_chooses_the_encoder() -> None:
    assert Settings.from_env({"HEADSHOT_FACE_ENCODER": "dlib"}).face_encoder == "dlib"
    assert Settings.from_env({}).face_encoder == "auto"
    with pytest.raises(ConfigurationError, match="HEADSHOT_FACE_ENCODER"):
        Settings.from_env({"HEADSHOT_FACE_ENCODER": "onnx"})
    # torch ran the network before numpy did (same numbers, same speed): no longer a choice
    with pytest.raises(ConfigurationError, match="HEADSHOT_FACE_ENCODER"):
        Settings.from_env({"HEADSHOT_FACE_ENCODER": "torch"})
    assert not isinstance(faces.load_models(None, "dlib").encoder, NumpyFaceEncoder)
