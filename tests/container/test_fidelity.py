"""The fidelity gate catches what people complain about, and keeps good outputs.

Synthetic defects (tests/support/defects.py) are made from good studio outputs:
paler skin, the yellow undertone removed, blue irises, eyes shut, eyes looking away,
hair cut off or recoloured, a blurred face; each must be refused with its own code. The
astronaut (scikit-image) covers the core path without the shared photos; the shared
photos (`faces_dir`) add real people, several photos of one person and another person.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headshot.checks import PhotoChecker
from headshot_inference import fidelity
from headshot_inference.backends.studio import StudioBackend
from headshot_inference.render import render
from headshot_inference.segmentation import PersonSegmenter
from headshot_inference.styles import STYLES
from tests.support.defects import DEFECTS, Defect, blur_face, lighten_skin

pytestmark = pytest.mark.container

VISIBLE = [defect for defect in DEFECTS if defect.visible]


@pytest.fixture(scope="module")
def checker() -> PhotoChecker:
    return PhotoChecker()


@pytest.fixture(scope="module")
def segmenter() -> PersonSegmenter:
    return fidelity.default_segmenter()


def reference_for(checker: PhotoChecker, photos: list[bytes]) -> fidelity.Reference:
    """The reference render() builds: each accepted photo's pixels and face."""
    sources = []
    for i, data in enumerate(photos):
        check = checker.check_bytes(data, f"p{i}", keep_normalised=True)
        assert check.face is not None and check.photo is not None and check.photo.normalised is not None
        image = np.asarray(check.photo.normalised.convert("RGB"))
        sources.append((image, check.face, image.shape[1] / check.photo.analysis.shape[1]))
    return fidelity.Reference.from_photos(sources)


def studio_outputs(
    photo: bytes, studio: StudioBackend, checker: PhotoChecker, styles: tuple[str, ...]
) -> list[np.ndarray]:
    """Good studio outputs of one photo, decoded from the JPEGs render() delivers."""
    images = render([photo], styles, 1, 0, studio, image_format="jpeg", checker=checker).images
    return [np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB")) for image in images]


@pytest.fixture(scope="module")
def astronaut_case(
    astronaut: bytes, studio: StudioBackend, checker: PhotoChecker
) -> tuple[np.ndarray, fidelity.Reference]:
    (output,) = studio_outputs(astronaut, studio, checker, ("studio_gray",))
    return output, reference_for(checker, [astronaut])


def score(
    checker: PhotoChecker, rgb: np.ndarray, reference: fidelity.Reference, source: int | None = 0
) -> fidelity.Fidelity:
    return fidelity.score(rgb, reference, checker.analyzer, fidelity.limits_for("studio"), source=source)


def apply(defect: Defect, rgb: np.ndarray, checker: PhotoChecker, segmenter: PersonSegmenter) -> np.ndarray:
    face = checker.analyzer.analyse(rgb).main
    assert face is not None and face.mesh is not None
    return defect.apply(rgb, face, segmenter)


# ---------------------------------------------------------------------------------------
# the astronaut: always available


def test_a_faithful_output_is_kept_with_every_number(
    checker: PhotoChecker, astronaut_case: tuple[np.ndarray, fidelity.Reference]
) -> None:
    """Given a studio output of the astronaut and the photo it came from,
    When it is scored,
    Then it is kept, with no reasons, and every metric the manifest documents is there."""
    output, reference = astronaut_case
    result = score(checker, output, reference)
    assert result.kept and result.reason is None and result.reasons == (), result.metrics
    expected = {
        "face_found",
        "face_count",
        "baseline_photo",
        "identity_distance",
        "identity_match",
        "roll_deg",
        "yaw_deg",
        "pitch_deg",
        "second_face_ratio",
        "skin_lab",
        "skin_ita_deg",
        "skin_tone_delta_e",
        "skin_lightness_shift",
        "skin_a_shift",
        "skin_b_shift",
        "skin_hue_shift_deg",
        "ita_shift_deg",
        "iris_lab",
        "eye_colour_delta_e",
        "eye_openness",
        "eye_openness_ratio",
        "iris_contrast_ratio",
        "gaze_x",
        "gaze_y",
        "gaze_shift_x",
        "gaze_shift_y",
        "hair_area_ratio",
        "hair_iou",
        "hair_kept",
        "hair_delta_e",
        "sharpness",
        "sharpness_ratio",
    }
    assert expected <= set(result.metrics), expected - set(result.metrics)
    assert result.metrics["face_count"] == 1


@pytest.mark.parametrize("defect", VISIBLE, ids=[d.name for d in VISIBLE])
def test_each_defect_is_refused_with_its_code(
    defect: Defect,
    checker: PhotoChecker,
    segmenter: PersonSegmenter,
    astronaut_case: tuple[np.ndarray, fidelity.Reference],
) -> None:
    """Given a good studio output of the astronaut with one synthetic defect,
    When it is scored against the photo it came from,
    Then it is refused, its reasons include the defect's code, and it is still her."""
    output, reference = astronaut_case
    result = score(checker, apply(defect, output, checker, segmenter), reference)
    assert not result.kept
    assert defect.expected in result.codes, (result.codes, result.metrics)
    assert result.metrics["identity_match"] is True


def test_every_failing_reason_is_listed(
    checker: PhotoChecker, segmenter: PersonSegmenter, astronaut_case: tuple[np.ndarray, fidelity.Reference]
) -> None:
    """Given an output that is both paler and blurred,
    When it is scored,
    Then both reasons are listed, in the gate's order, each with a message; `reason` is the first."""
    output, reference = astronaut_case
    pale = apply(Defect("pale", "skin_tone_shift", lighten_skin(6.0)), output, checker, segmenter)
    both = apply(Defect("blur", "blurry", blur_face(2.0)), pale, checker, segmenter)
    result = score(checker, both, reference)
    assert {fidelity.SKIN_TONE_SHIFT, fidelity.BLURRY} <= set(result.codes), result.codes
    assert result.codes == [code for code in fidelity.REASONS if code in result.codes]
    assert result.reason == result.codes[0]
    assert all(failure.message for failure in result.reasons)


def test_an_output_without_a_face_is_refused(
    checker: PhotoChecker, astronaut_case: tuple[np.ndarray, fidelity.Reference]
) -> None:
    """Given a blank image, When it is scored, Then it is `no_face` and sorts last."""
    _, reference = astronaut_case
    result = score(checker, np.full((1024, 1024, 3), 200, np.uint8), reference)
    assert result.codes == [fidelity.NO_FACE]
    assert result.identity_distance == float("inf")


def test_a_turned_face_is_face_not_frontal(
    checker: PhotoChecker, astronaut_case: tuple[np.ndarray, fidelity.Reference]
) -> None:
    """Given limits that allow no head turn at all,
    When a good output (yaw a degree or two) is scored,
    Then the code is the photo checks' `face_not_frontal` (formerly `not_frontal`)."""
    output, reference = astronaut_case
    strict = fidelity.FidelityLimits(max_yaw_deg=0.0)
    result = fidelity.score(output, reference, checker.analyzer, strict, source=0)
    assert fidelity.FACE_NOT_FRONTAL in result.codes
    assert fidelity.FACE_NOT_FRONTAL == "face_not_frontal" == fidelity.NOT_FRONTAL


def test_reference_embedding_from_the_request_wins(checker: PhotoChecker, astronaut: bytes) -> None:
    """Given the validator's reference embedding (here: far from the astronaut's face),
    When the astronaut photo itself is scored,
    Then identity is measured to the given embedding, not to the photos' own mean."""
    check = checker.check_bytes(astronaut, "a")
    assert check.face is not None and check.photo is not None
    reference = fidelity.Reference.from_faces([check.face], embedding=check.face.embedding + 0.2)
    result = score(checker, check.photo.analysis, reference, source=None)
    assert result.metrics["identity_distance"] == pytest.approx(float(np.linalg.norm(0.2 * np.ones(128))), abs=0.01)
    assert result.reason == fidelity.IDENTITY_MISMATCH


def test_render_manifest_lists_every_reason(astronaut: bytes, studio: StudioBackend, checker: PhotoChecker) -> None:
    """Given a render whose limits no output can meet (a maximum identity distance of 0),
    When the manifest is built,
    Then each rejected entry keeps `reason` (the first) and adds `reasons` with code and message."""
    result = render([astronaut], ["studio_gray"], 1, 0, studio, image_format="png", checker=checker)
    (image,) = result.images
    assert image.kept and image.reasons == ()
    entry = image.entry("k")
    assert "reasons" not in entry and entry["rank"] == 1
    reasons = ({"code": "blurry", "message": "m"}, {"code": "hair_changed", "message": "n"})
    failed = dataclasses.replace(image, kept=False, reason="blurry", rank=None, reasons=reasons)
    entry = failed.entry(None)
    assert entry["reason"] == "blurry"
    assert [r["code"] for r in entry["reasons"]] == ["blurry", "hair_changed"]


# ---------------------------------------------------------------------------------------
# the shared photos: real people, several photos of one person


def shared(faces_dir: Path, name: str) -> bytes:
    path = faces_dir / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {faces_dir}")
    return path.read_bytes()


@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "alex-lacamoire.png"])
def test_good_studio_outputs_of_real_photos_are_kept(
    name: str, faces_dir: Path, studio: StudioBackend, checker: PhotoChecker
) -> None:
    """Given studio outputs of a real photo in every style,
    When each is scored against the photo,
    Then every one is kept."""
    photo = shared(faces_dir, name)
    reference = reference_for(checker, [photo])
    for output in studio_outputs(photo, studio, checker, STYLES):
        result = score(checker, output, reference)
        assert result.kept, (name, result.codes, result.metrics)


@pytest.fixture(scope="module")
def obama_case(faces_dir: Path, studio: StudioBackend, checker: PhotoChecker) -> tuple[np.ndarray, fidelity.Reference]:
    """obama's good studio_blue output and his reference, made once for the module's defects."""
    photo = shared(faces_dir, "obama.jpg")
    (output,) = studio_outputs(photo, studio, checker, ("studio_blue",))
    output.flags.writeable = False  # each defect works on its own copy
    return output, reference_for(checker, [photo])


@pytest.mark.parametrize("defect", VISIBLE, ids=[d.name for d in VISIBLE])
def test_defects_on_a_real_photo_are_refused(
    defect: Defect, obama_case: tuple[np.ndarray, fidelity.Reference], checker: PhotoChecker,
    segmenter: PersonSegmenter,
) -> None:  # fmt: skip
    """Given obama's studio output with one synthetic defect,
    When it is scored against his photo,
    Then it is refused with the defect's code."""
    output, reference = obama_case
    result = score(checker, apply(defect, output.copy(), checker, segmenter), reference)
    assert defect.expected in result.codes, (result.codes, result.metrics)


def test_another_persons_headshot_is_refused(faces_dir: Path, studio: StudioBackend, checker: PhotoChecker) -> None:
    """Given biden's good headshot offered as an output for obama,
    When it is scored against obama's three photos,
    Then it is refused as somebody else."""
    reference = reference_for(checker, [shared(faces_dir, n) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")])
    (other,) = studio_outputs(shared(faces_dir, "biden.jpg"), studio, checker, ("studio_gray",))
    result = score(checker, other, reference, source=None)
    assert result.reason == fidelity.IDENTITY_MISMATCH, result.metrics
    assert result.metrics["identity_match"] is False


def test_without_a_source_the_closest_photo_is_the_baseline(
    faces_dir: Path, studio: StudioBackend, checker: PhotoChecker
) -> None:
    """Given obama's three photos as the reference and an output made from the third,
    When it is scored without being told its source,
    Then the third photo is its baseline, and it is kept."""
    photos = [shared(faces_dir, n) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    (output,) = studio_outputs(photos[2], studio, checker, ("office_blur",))
    result = score(checker, output, reference_for(checker, photos), source=None)
    assert result.metrics["baseline_photo"] == 2
    assert result.kept, (result.codes, result.metrics)


# Each studio limit and the metric whose row in docs/CALIBRATION.md ("Output gate") argues it.
DOCUMENTED_LIMITS = {
    "max_skin_delta_e": "skin_tone_delta_e",
    "max_skin_lightness_shift": "skin_lightness_shift",
    "max_skin_b_shift": "skin_b_shift",
    "max_skin_hue_shift_deg": "skin_hue_shift_deg",
    "max_ita_shift_deg": "ita_shift_deg",
    "max_eye_colour_delta_e": "eye_colour_delta_e",
    "min_eye_openness_ratio": "eye_openness_ratio",
    "min_iris_contrast_ratio": "iris_contrast_ratio",
    "max_gaze_shift_x": "gaze_shift_x",
    "max_gaze_shift_y": "gaze_shift_y",
    "min_hair_area_ratio": "hair_area_ratio",
    "max_hair_area_ratio": "hair_area_ratio",
    "min_hair_iou": "hair_iou",
    "min_hair_kept": "hair_kept",
    "max_hair_delta_e": "hair_delta_e",
    "min_sharpness_ratio": "sharpness_ratio",
    "max_roll_deg": "roll_deg",
}


def test_every_studio_limit_is_the_documented_one() -> None:
    """Given docs/CALIBRATION.md's output-gate table,
    When each studio limit is looked up in its metric's row,
    Then the code's value is the one the evidence argues for (doc and code cannot drift)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "CALIBRATION.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Output gate") :]
    limits = fidelity.limits_for("studio")
    for field, metric in DOCUMENTED_LIMITS.items():
        row = next((line for line in section.splitlines() if line.startswith("|") and f"`{metric}`" in line), None)
        assert row is not None, f"no row for {metric}"
        assert f"{getattr(limits, field):g}" in row, f"{field} = {getattr(limits, field):g} missing from: {row}"
