"""Every reason code (docs/REASON_CODES.md) is produced by a real input (generated or a real photo), and the
documented lists are the code's."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headshot.checks import PhotoCheck, PhotoChecker
from headshot.faces import FaceAnalyzer, FaceMeasurement, load_models
from headshot.mesh import load_mesh_model
from headshot.reasons import Reason
from headshot.settings import PhotoLimits
from headshot_inference.fidelity import codes as output_codes
from headshot_inference.segmentation import load_segmenter
from tests.support import images
from tests.support.defects import close_eyes, move_irises

# Warning-only codes: checked by the warning tests below, never a rejection.
WARNING_ONLY = {Reason.NOT_LOOKING_AT_CAMERA}

Make = Callable[[], bytes]


def _astronaut_png(transform: Callable[[Image.Image], Image.Image]) -> Make:
    return lambda: images.encode(transform(images.astronaut()))


def _cut_through_face(image: Image.Image) -> Image.Image:
    # Upscale 2x, then crop so the left 15% of the face box lies outside the frame.
    big = image.resize((1024, 1024), Image.Resampling.LANCZOS)
    left, _, right, _ = images.ASTRONAUT_FACE
    return big.crop((2 * (left + (right - left) * 15 // 100), 0, 1024, 1024))


def _face(image: Image.Image) -> FaceMeasurement:
    analysis = FaceAnalyzer(load_models(), load_mesh_model()).analyse(np.asarray(image.convert("RGB")))
    assert analysis.main is not None and analysis.main.mesh is not None
    return analysis.main


def _eyes_painted_shut(image: Image.Image) -> Image.Image:
    rgb = np.asarray(image.convert("RGB"))
    return Image.fromarray(close_eyes(rgb, _face(image), load_segmenter()))


def _crown_cut(image: Image.Image) -> Image.Image:
    # The top edge 0.3 eye distances above the forehead: the skull's top is outside the photo,
    # while the face box (brows to lips) is still wholly inside it.
    mesh = _face(image).mesh
    assert mesh is not None
    eye_distance = float(np.hypot(*(mesh.eyes[1].contour.mean(0) - mesh.eyes[0].contour.mean(0))))
    top = round(mesh.points[10, 1] - 0.3 * eye_distance)
    return image.crop((0, top, image.width, image.height))


def _chin_cut(image: Image.Image) -> Image.Image:
    # The bottom edge right at the chin.
    mesh = _face(image).mesh
    assert mesh is not None
    return image.crop((0, 0, image.width, round(mesh.points[152, 1])))


def _no_face() -> bytes:
    import skimage.data

    return images.encode(Image.fromarray(skimage.data.coffee()))


FACE_WIDTH = images.ASTRONAUT_FACE[2] - images.ASTRONAUT_FACE[0]
SINGLE_PHOTO_INPUTS: dict[str, tuple[Reason, Make]] = {
    "gif": (Reason.UNSUPPORTED_FORMAT, lambda: images.animated("GIF")),
    "animated png": (Reason.UNSUPPORTED_FORMAT, lambda: images.animated("PNG")),
    "animated webp": (Reason.UNSUPPORTED_FORMAT, lambda: images.animated("WEBP")),
    "pdf": (Reason.UNSUPPORTED_FORMAT, images.pdf),
    "svg": (Reason.UNSUPPORTED_FORMAT, images.svg),
    "tiff": (Reason.UNSUPPORTED_FORMAT, lambda: images.encode(images.astronaut(), "TIFF")),
    "bmp": (Reason.UNSUPPORTED_FORMAT, lambda: images.encode(images.astronaut(), "BMP")),
    "empty": (Reason.CORRUPT_IMAGE, lambda: b""),
    "random bytes": (Reason.CORRUPT_IMAGE, images.random_bytes),
    "truncated jpeg": (Reason.CORRUPT_IMAGE, lambda: images.truncated(images.encode(images.astronaut(), "JPEG"))),
    "truncated png": (Reason.CORRUPT_IMAGE, lambda: images.truncated(images.encode(images.astronaut()))),
    "jpeg header then garbage": (Reason.CORRUPT_IMAGE, lambda: b"\xff\xd8\xff\xe0" + images.random_bytes(2000)),
    "png bomb 40000²": (Reason.IMAGE_TOO_LARGE, images.png_bomb),
    "jpeg claiming 60000²": (Reason.IMAGE_TOO_LARGE, lambda: images.jpeg_claiming(60000, 60000)),
    "webp claiming 16000²": (Reason.IMAGE_TOO_LARGE, lambda: images.webp_claiming(16000, 16000)),
    "downscaled to 300 px": (Reason.RESOLUTION_TOO_LOW, _astronaut_png(lambda im: im.resize((300, 300)))),
    "no face (coffee)": (Reason.NO_FACE, _no_face),
    "rotated 90° without exif": (Reason.NO_FACE, _astronaut_png(lambda im: im.transpose(Image.Transpose.ROTATE_90))),
    "two people": (Reason.MULTIPLE_FACES, _astronaut_png(lambda im: images.side_by_side(im, im))),
    "face pasted small": (Reason.FACE_TOO_SMALL, _astronaut_png(lambda im: images.pasted_small(im, 1.3, 2400))),
    "face cut by the edge": (Reason.FACE_CUT_OFF, _astronaut_png(_cut_through_face)),
    "tilted 40°": (
        Reason.FACE_NOT_FRONTAL,
        _astronaut_png(lambda im: im.rotate(40, Image.Resampling.BILINEAR, expand=True, fillcolor=(128, 128, 128))),
    ),
    "eyes painted shut": (Reason.EYES_CLOSED, _astronaut_png(_eyes_painted_shut)),
    "top of the head cut": (Reason.FACE_CUT_OFF, _astronaut_png(_crown_cut)),
    "chin cut": (Reason.FACE_CUT_OFF, _astronaut_png(_chin_cut)),
    "gaussian blur 3% of the face": (Reason.BLURRY, _astronaut_png(lambda im: images.blurred(im, FACE_WIDTH, 3))),
    "exposure x0.25": (Reason.TOO_DARK, _astronaut_png(lambda im: images.light(im, 0.25))),
    "exposure x1.6": (Reason.TOO_BRIGHT, _astronaut_png(lambda im: images.light(im, 1.6))),
    "half the face in shadow": (
        Reason.UNEVEN_LIGHTING,
        _astronaut_png(lambda im: images.half_shadow(im, images.ASTRONAUT_NOSE_X, 0.4)),
    ),
}
SMALL_LIMIT = PhotoLimits(max_bytes=200_000)


@pytest.mark.parametrize("name", SINGLE_PHOTO_INPUTS)
def test_input_is_rejected_with_its_reason(checker: PhotoChecker, name: str) -> None:
    # Given a generated input known to be bad in one way
    expected, make = SINGLE_PHOTO_INPUTS[name]
    # When it is checked on its own
    result = checker.check_bytes(make(), name)
    # Then it is rejected, and that reason is among the reasons given
    assert not result.accepted
    assert expected in {r.code for r in result.reasons}, result.to_dict()


def test_file_over_the_byte_limit_is_rejected_before_decoding(checker: PhotoChecker) -> None:
    # Given a checker limited to 200 kB and a valid 700 kB PNG
    limited = PhotoChecker(checker.analyzer, SMALL_LIMIT)
    data = images.encode(images.astronaut())
    assert len(data) > SMALL_LIMIT.max_bytes
    # When it is checked
    result = limited.check_bytes(data, "big.png")
    # Then it is file_too_large
    assert [r.code for r in result.reasons] == [Reason.FILE_TOO_LARGE]


def test_set_rejects_a_near_duplicate(checker: PhotoChecker) -> None:
    # Given the same portrait twice: once as PNG, once re-encoded as a JPEG at quality 80
    portrait = images.astronaut()
    checks = [
        checker.check_bytes(images.encode(portrait), "original.png"),
        checker.check_bytes(images.encode(portrait, "JPEG", quality=80), "copy.jpg"),
    ]
    # When they are checked as one job's set
    checker.check_set(checks)
    # Then the first is kept and the second is a duplicate
    assert checks[0].accepted
    assert [r.code for r in checks[1].reasons] == [Reason.DUPLICATE_PHOTO]


@pytest.mark.photos
def test_set_rejects_a_different_person(checker: PhotoChecker, faces_dir: Path) -> None:
    # Given three photos of one person and one of another
    names = ["obama.jpg", "obama2.jpg", "biden.jpg", "obama3.jpg"]
    checks = [checker.check_path(faces_dir / name) for name in names]
    assert all(c.accepted for c in checks), [c.to_dict() for c in checks]
    # When they are checked as one job's set
    assessment = checker.check_set(checks)
    # Then only the other person's photo is rejected, as different_person
    verdicts = {Path(c.file).name: [r.code for r in c.reasons] for c in checks}
    assert verdicts == {"obama.jpg": [], "obama2.jpg": [], "biden.jpg": [Reason.DIFFERENT_PERSON], "obama3.jpg": []}
    assert assessment.members == (0, 1, 3)


@pytest.mark.photos
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("obama-240p.jpg", Reason.RESOLUTION_TOO_LOW),
        ("obama_partial_face.jpg", Reason.FACE_CUT_OFF),
        ("two_people.jpg", Reason.MULTIPLE_FACES),
        ("t1.jpg", Reason.MULTIPLE_FACES),
    ],
)
def test_real_photo_is_rejected_with_its_reason(
    checker: PhotoChecker, faces_dir: Path, name: str, expected: Reason
) -> None:
    # Given a real photo with a known problem / When it is checked / Then that reason is given
    result = checker.check_path(faces_dir / name)
    assert expected in {r.code for r in result.reasons}, result.to_dict()


@pytest.mark.photos
@pytest.mark.parametrize(
    "name", ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "alex-lacamoire.png", "astronaut.png"]
)
def test_good_real_photo_is_accepted(checker: PhotoChecker, faces_dir: Path, name: str) -> None:
    result = checker.check_path(faces_dir / name)
    assert result.accepted, result.to_dict()


def test_every_reason_code_is_exercised() -> None:
    # Given the inputs above / Then together they cover every code but the documented exception
    single = {reason for reason, _ in SINGLE_PHOTO_INPUTS.values()}
    set_level = {Reason.DUPLICATE_PHOTO, Reason.DIFFERENT_PERSON, Reason.FILE_TOO_LARGE}
    assert single | set_level | WARNING_ONLY == set(Reason)


def test_eyes_turned_aside_warn_not_looking_at_camera(checker: PhotoChecker) -> None:
    # Given the astronaut with both irises moved a fifth of the eye's width toward the image's left
    portrait = images.astronaut()
    moved = Image.fromarray(move_irises(-0.2)(np.asarray(portrait), _face(portrait), load_segmenter()))
    # When checked
    result = checker.check_bytes(images.encode(moved), "aside.png")
    # Then it is accepted with the not_looking_at_camera warning; the original has none
    assert result.accepted, result.to_dict()
    assert Reason.NOT_LOOKING_AT_CAMERA in {w.code for w in result.warnings}
    original = checker.check_bytes(images.encode(portrait), "astronaut.png")
    assert Reason.NOT_LOOKING_AT_CAMERA not in {w.code for w in original.warnings}


@pytest.mark.photos
def test_real_photo_looking_aside_warns(checker: PhotoChecker, faces_dir: Path) -> None:
    # Given obama2.jpg (eyes turned to the side) / When checked / Then accepted with the gaze warning
    result = checker.check_path(faces_dir / "obama2.jpg")
    assert result.accepted and Reason.NOT_LOOKING_AT_CAMERA in {w.code for w in result.warnings}


@pytest.mark.photos
def test_real_photo_with_lowered_eyes_warns_eyes_closed(checker: PhotoChecker, faces_dir: Path) -> None:
    # Given t1.jpg (eyes lowered to a hand of cards) / When checked / Then eyes_closed is a warning
    result = checker.check_path(faces_dir / "t1.jpg")
    assert Reason.EYES_CLOSED in {w.code for w in result.warnings}


def _codes(result: PhotoCheck) -> list[str]:
    return [r.code.value for r in result.reasons]


def test_core_path_accepts_the_package_shipped_portrait(checker: PhotoChecker) -> None:
    # Given the astronaut as JPEG, PNG, WebP and HEIC
    portrait = images.astronaut()
    for fmt, data in {
        "jpeg": images.encode(portrait, "JPEG", quality=92),
        "png": images.encode(portrait),
        "webp": images.encode(portrait, "WEBP", quality=92),
        "heif": images.heic(portrait),
    }.items():
        # When checked / Then accepted with one face, and the format sniffed from the bytes
        result = checker.check_bytes(data, f"astronaut.{fmt}")
        assert result.accepted, (fmt, _codes(result))
        assert result.metrics["format"] == fmt
        assert result.metrics["faces_detected"] == 1


REASON_CODES_DOC = Path(__file__).resolve().parents[2] / "docs" / "REASON_CODES.md"


def _documented_codes(section: str) -> list[str]:
    """The codes in the first column of the table under ``## <section>`` of docs/REASON_CODES.md."""
    text = REASON_CODES_DOC.read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", body, flags=re.MULTILINE)


def test_documented_photo_codes_are_the_codes_reasons_py_defines() -> None:
    # Given the photo-check table of the docs / Then it lists every Reason once, and nothing else
    documented = _documented_codes("Photo check codes")
    assert sorted(documented) == sorted(reason.value for reason in Reason)
    assert len(documented) == len(set(documented))


def test_documented_output_codes_are_the_gates_codes_in_its_order() -> None:
    # Given the output-code table of the docs / Then it is the gate's REASONS, in the gate's order
    assert _documented_codes("Output codes") == list(output_codes.REASONS)
