"""The studio backend's outputs, measured with the same face code the validator uses."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

import numpy as np
import pytest
from PIL import Image

from headshot.faces import FaceAnalyzer, FaceMeasurement, eye_centres, load_models
from headshot.settings import get_settings
from headshot_inference.backends import DST_ALGORITHMICALLY_ENHANCED, DST_COMPOSITE_SYNTHETIC
from headshot_inference.backends.studio import EYE_DISTANCE, EYE_LINE, SCALE_JITTER, StudioBackend
from headshot_inference.metadata import read_xmp
from headshot_inference.render import RenderedImage, RenderResult, render
from headshot_inference.styles import STYLES

pytestmark = pytest.mark.container

SIDE: Final = 1024


@dataclass(frozen=True)
class Output:
    image: RenderedImage
    pixels: np.ndarray
    face: FaceMeasurement | None


def measured(result: RenderResult) -> list[Output]:
    analyzer = FaceAnalyzer(load_models(get_settings().dlib_model_dir))
    outputs = []
    for image in result.images:
        pixels = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"))
        outputs.append(Output(image, pixels, analyzer.analyse(pixels).main))
    return outputs


@pytest.fixture(scope="module")
def astronaut_outputs(astronaut: bytes, studio: StudioBackend) -> list[Output]:
    # One photo, every style, two variants of the default style.
    result = render([astronaut], list(STYLES), 2, 11, studio, image_format="png")
    return measured(result)


@pytest.fixture(scope="module")
def obama_outputs(obama_photos: list[bytes], studio: StudioBackend) -> list[Output]:
    # Three photos of one person (different light, framing, pose): one output from each.
    return measured(render(obama_photos, ["studio_gray"], 3, 5, studio))


def eye_geometry(face: FaceMeasurement) -> tuple[float, float]:
    """(eye-line height, eye distance) in output pixels."""
    left, right = eye_centres(face.landmarks)
    return float((left[1] + right[1]) / 2), float(np.hypot(*(right - left)))


def test_outputs_are_square_1024_with_one_level_frontal_face(astronaut_outputs: list[Output]) -> None:
    # Given the studio outputs of the astronaut photo (rolled ~3° in the original)
    assert len(astronaut_outputs) == 2 * len(STYLES)
    for output in astronaut_outputs:
        # Then each is 1024x1024, shows a face, with the eyes levelled
        assert output.pixels.shape == (SIDE, SIDE, 3)
        assert output.face is not None, output.image.image_id
        assert abs(output.face.roll_deg) < 3, output.image.image_id
        # And it passed fidelity: same person, same skin tone
        assert output.image.kept, output.image.fidelity
        assert output.image.fidelity["identity_match"] is True
        assert abs(output.image.fidelity["ita_shift_deg"]) < 3
        assert output.image.fidelity["skin_tone_delta_e"] < 4


def test_framing_is_consistent_across_photos_of_different_framing(obama_outputs: list[Output]) -> None:
    # Given outputs made from a close-up, a half-body and a full-body photo
    assert {o.image.source_photo for o in obama_outputs} == {0, 1, 2}
    geometry = []
    for output in obama_outputs:
        assert output.face is not None
        assert abs(output.face.roll_deg) < 3
        geometry.append(eye_geometry(output.face))
    eye_lines, distances = np.array(geometry).T
    # Then the eye line sits at the same height (within 2% of the side)
    assert np.all(np.abs(eye_lines - EYE_LINE * SIDE) < 0.02 * SIDE), eye_lines
    # And the head has the same size: eye distances within the variants' jitter plus a few %
    assert distances.max() / distances.min() < (1 + SCALE_JITTER) / (1 - SCALE_JITTER) + 0.06, distances
    assert np.all(np.abs(distances / (EYE_DISTANCE * SIDE) - 1) < SCALE_JITTER + 0.06), distances


def test_identity_and_skin_tone_survive(obama_outputs: list[Output]) -> None:
    for output in obama_outputs:
        fidelity = output.image.fidelity
        # Then every output is the same person and keeps its source photo's skin tone
        assert output.image.kept, fidelity
        assert fidelity["identity_match"] is True
        assert fidelity["skin_tone_delta_e"] < 4
        assert abs(fidelity["ita_shift_deg"]) < 3 or fidelity["skin_tone_delta_e"] < 2


def corner_colours(pixels: np.ndarray) -> np.ndarray:
    """Mean RGB of the two top corners (the bottom ones show shoulders)."""
    patch = SIDE // 16
    return np.array([pixels[:patch, :patch].reshape(-1, 3).mean(0), pixels[:patch, -patch:].reshape(-1, 3).mean(0)])


def test_backgrounds_match_their_style(astronaut_outputs: list[Output]) -> None:
    for output in astronaut_outputs:
        corners = corner_colours(output.pixels)
        spread = corners.max(axis=1) - corners.min(axis=1)  # channel spread: 0 is neutral grey
        style = output.image.style
        # Then the backdrop has the style's colour where no person is
        if style == "studio_white":
            assert np.all(corners > 215) and np.all(spread < 8), corners
        elif style == "studio_gray":
            assert np.all((corners > 60) & (corners < 200)) and np.all(spread < 10), corners
        elif style == "studio_blue":
            assert np.all(corners[:, 2] > corners[:, 0] + 30), corners
        else:  # office_blur keeps the photo's own, blurred background: smooth, not a flat fill
            patch = output.pixels[: SIDE // 8, : SIDE // 8].astype(np.float32)
            assert np.abs(np.diff(patch, axis=1)).mean() < 2.0


def test_variants_are_seeded_and_reproducible(astronaut: bytes, studio: StudioBackend) -> None:
    # Given the same request twice, and once with another seed
    first = render([astronaut], ["studio_blue"], 2, 3, studio)
    again = render([astronaut], ["studio_blue"], 2, 3, studio)
    other = render([astronaut], ["studio_blue"], 2, 4, studio)
    by_id = {image.image_id: image for image in first.images}
    # Then the same seed gives the same images, the other seed different ones
    assert all(image.data == by_id[image.image_id].data for image in again.images)
    assert all(image.data != by_id[image.image_id].data for image in other.images)
    # And the two variants of one request differ from each other
    assert first.images[0].data != first.images[1].data
    assert len({image.seed for image in first.images}) == 2


def test_outputs_disclose_how_they_were_made_and_carry_no_exif(astronaut_outputs: list[Output]) -> None:
    for output in astronaut_outputs:
        data = output.image.data
        image = Image.open(io.BytesIO(data))
        # Then the XMP packet carries the IPTC digital source type for the style
        xmp = read_xmp(data)
        assert xmp is not None
        expected = DST_ALGORITHMICALLY_ENHANCED if output.image.style == "office_blur" else DST_COMPOSITE_SYNTHETIC
        assert f'Iptc4xmpExt:DigitalSourceType="{expected}"'.encode() in xmp
        # And there is no EXIF (so no GPS) of any kind
        assert len(image.getexif()) == 0
        assert b"eXIf" not in data and b"Exif\x00\x00" not in data


def test_jpeg_outputs_carry_xmp_in_app1(astronaut: bytes, studio: StudioBackend) -> None:
    result = render([astronaut], ["studio_gray"], 1, 0, studio, image_format="jpeg")
    (image,) = result.images
    assert image.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(image.data)).format == "JPEG"
    xmp = read_xmp(image.data)
    assert xmp is not None and DST_COMPOSITE_SYNTHETIC.encode() in xmp
    assert b"Exif\x00\x00" not in image.data
