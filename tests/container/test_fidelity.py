"""Fidelity scoring catches the failures that matter: lightened skin, another person, no face."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from headshot.checks import PhotoChecker
from headshot.faces import eye_centres
from headshot_inference import fidelity
from headshot_inference.backends.studio import StudioBackend
from headshot_inference.render import render
from tests.container.conftest import shared_photo

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def checker() -> PhotoChecker:
    return PhotoChecker()


def reference_for(checker: PhotoChecker, photos: list[bytes]) -> fidelity.Reference:
    faces = [checker.check_bytes(photo, f"p{i}").face for i, photo in enumerate(photos)]
    assert all(face is not None for face in faces)
    return fidelity.Reference.from_faces([face for face in faces if face is not None])


def studio_output(astronaut: bytes, studio: StudioBackend) -> np.ndarray:
    (image,) = render([astronaut], ["studio_gray"], 1, 0, studio, image_format="png").images
    assert image.kept
    return np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"))


def test_a_faithful_output_is_kept(checker: PhotoChecker, astronaut: bytes, studio: StudioBackend) -> None:
    # Given a studio output and the photo it came from
    output = studio_output(astronaut, studio)
    reference = reference_for(checker, [astronaut])
    # When it is scored
    result = fidelity.score(output, reference, checker.analyzer, fidelity.limits_for("studio"), source=0)
    # Then it is kept, with the metrics the manifest promises
    assert result.kept and result.reason is None
    assert {"identity_distance", "identity_match", "skin_tone_delta_e", "ita_shift_deg"} <= set(result.metrics)


def test_lightened_skin_is_caught(checker: PhotoChecker, astronaut: bytes, studio: StudioBackend) -> None:
    # Given a studio output whose face was blended a third of the way toward white
    output = studio_output(astronaut, studio).astype(np.float32)
    face = checker.analyzer.analyse(output.astype(np.uint8)).main
    assert face is not None
    left, right = eye_centres(face.landmarks)
    d = float(np.hypot(*(right - left)))
    centre = (left + right) / 2 + np.array([0, 0.6 * d])
    ys, xs = np.mgrid[0 : output.shape[0], 0 : output.shape[1]]
    on_face = ((xs - centre[0]) / (1.1 * d)) ** 2 + ((ys - centre[1]) / (1.5 * d)) ** 2 <= 1
    output[on_face] = output[on_face] * 0.67 + 255 * 0.33
    # When it is scored against the photo it came from
    result = fidelity.score(
        output.astype(np.uint8),
        reference_for(checker, [astronaut]),
        checker.analyzer,
        fidelity.limits_for("studio"),
        source=0,
    )
    # Then it is refused for its skin tone, still recognised as the same person
    assert result.reason == fidelity.SKIN_TONE_SHIFT, result.metrics
    assert result.metrics["identity_match"] is True
    assert result.metrics["ita_shift_deg"] > 3


def test_another_person_is_caught(checker: PhotoChecker, obama_photos: list[bytes]) -> None:
    # Given a different person's photo, framed square, offered as an output for this person
    other = Image.open(io.BytesIO(shared_photo("biden.jpg"))).convert("RGB")
    side = max(other.size)
    canvas = Image.new("RGB", (side, side), (128, 128, 128))
    canvas.paste(other, ((side - other.width) // 2, 0))
    output = np.asarray(canvas.resize((1024, 1024), Image.Resampling.LANCZOS))
    # When it is scored against the person's accepted photos
    result = fidelity.score(
        output, reference_for(checker, obama_photos), checker.analyzer, fidelity.limits_for("diffusion")
    )
    # Then it is refused as somebody else
    assert result.reason == fidelity.IDENTITY_MISMATCH, result.metrics
    assert result.metrics["identity_match"] is False
    assert not result.kept


def test_an_output_without_a_face_is_caught(checker: PhotoChecker, astronaut: bytes) -> None:
    blank = np.full((1024, 1024, 3), 200, np.uint8)
    result = fidelity.score(blank, reference_for(checker, [astronaut]), checker.analyzer, fidelity.limits_for("studio"))
    assert result.reason == fidelity.NO_FACE
    assert result.identity_distance == float("inf")


def test_reference_embedding_from_the_request_wins(checker: PhotoChecker, astronaut: bytes) -> None:
    # Given the validator's reference embedding (here: far from the astronaut's face)
    face = checker.check_bytes(astronaut, "a").face
    assert face is not None
    elsewhere = face.embedding + 0.2
    reference = fidelity.Reference.from_faces([face], embedding=elsewhere)
    # When the astronaut photo itself is scored
    result = fidelity.score(
        checker.check_bytes(astronaut, "a").photo.analysis,  # type: ignore[union-attr]
        reference,
        checker.analyzer,
        fidelity.limits_for("studio"),
    )
    # Then the distance is measured to the given reference, not to the photos' own mean
    assert result.metrics["identity_distance"] == pytest.approx(float(np.linalg.norm(0.2 * np.ones(128))), abs=0.01)
    assert result.reason == fidelity.IDENTITY_MISMATCH
