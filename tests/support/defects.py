"""Synthetic defects of a good headshot: what users of AI headshot apps complain about.

Each defect edits a good output where its face mesh says the feature is, the way a bad
generator would get it wrong: skin made paler or its yellow undertone removed, brown eyes
turned blue, eyes shut, eyes looking away, hair cut off at the sides or the top or
recoloured, the face blurred. Used by the gate's calibration (calibrate_gate.py) and tests
(tests/container/test_fidelity.py). Deterministic: no randomness anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from headshot import face_regions
from headshot.color import srgb_to_lab
from headshot.faces import FaceMeasurement
from headshot.mesh import Eye
from headshot_inference.segmentation import PersonSegmenter

_D65_WHITE: Final = np.array([0.95047, 1.0, 1.08883])
_XYZ_TO_RGB: Final = np.linalg.inv(
    np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
)
# The blue of a blue iris (CIELAB a*, b*) and how much lighter than a brown one it is.
BLUE_IRIS_AB: Final = (-3.0, -22.0)
BLUE_IRIS_LIGHTER: Final = 12.0
# Hair cuts take the person's soft edge too (mask grown by this many px of a 1024 output).
CUT_GROW_PX: Final = 6


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """The inverse of headshot.color.srgb_to_lab: (..., 3) CIELAB to sRGB uint8."""
    lightness, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    fy = (lightness + 16) / 116
    f = np.stack([fy + a / 500, fy, fy - b / 200], axis=-1)
    delta = 6 / 29
    xyz = np.where(f > delta, f**3, 3 * delta**2 * (f - 4 / 29)) * _D65_WHITE
    linear = np.clip(xyz @ _XYZ_TO_RGB.T, 0, 1)
    encoded = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    out: np.ndarray = np.clip(np.round(encoded * 255), 0, 255).astype(np.uint8)
    return out


def _feather(mask: np.ndarray, radius: float) -> np.ndarray:
    soft = Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    weights: np.ndarray = np.asarray(soft, np.float32) / 255.0
    return weights


def _blend(rgb: np.ndarray, edited: np.ndarray, weight: np.ndarray) -> np.ndarray:
    mixed = rgb.astype(np.float32) * (1 - weight[..., None]) + edited.astype(np.float32) * weight[..., None]
    out: np.ndarray = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    return out


def _points(face: FaceMeasurement) -> np.ndarray:
    assert face.mesh is not None, "defects are placed with the face mesh"
    points: np.ndarray = face.mesh.points[:, :2]
    return points


def _eye_width(face: FaceMeasurement) -> float:
    assert face.mesh is not None
    return float(np.mean([eye.width for eye in face.mesh.eyes]))


def _skin_edit(rgb: np.ndarray, face: FaceMeasurement, edit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a CIELAB edit to the face and the skin around it (oval grown 10%, feathered)."""
    oval = face_regions.region_mask(_points(face), face_regions.FACE_OVAL, rgb.shape[:2], grow=1.1)
    weight = _feather(oval, 0.08 * _eye_width(face) * 3)
    ys, xs = np.nonzero(weight > 0.01)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    patch = rgb[y0:y1, x0:x1]
    edited = lab_to_srgb(edit(srgb_to_lab(patch)))
    out = rgb.copy()
    out[y0:y1, x0:x1] = _blend(patch, edited, weight[y0:y1, x0:x1])
    return out


def lighten_skin(delta_l: float) -> Callable[[np.ndarray, FaceMeasurement, PersonSegmenter], np.ndarray]:
    """Skin made paler: L* raised by `delta_l` on the face."""

    def apply(rgb: np.ndarray, face: FaceMeasurement, _: PersonSegmenter) -> np.ndarray:
        def edit(lab: np.ndarray) -> np.ndarray:
            lighter: np.ndarray = lab + np.array([delta_l, 0.0, 0.0])
            return lighter

        return _skin_edit(rgb, face, edit)

    return apply


def remove_undertone(
    keep_b: float, delta_l: float = 1.0
) -> Callable[[np.ndarray, FaceMeasurement, PersonSegmenter], np.ndarray]:
    """The yellow undertone removed: b* pulled toward 0 (kept at `keep_b` of itself), a touch paler."""

    def apply(rgb: np.ndarray, face: FaceMeasurement, _: PersonSegmenter) -> np.ndarray:
        def edit(lab: np.ndarray) -> np.ndarray:
            out = lab.copy()
            out[..., 0] += delta_l
            out[..., 2] *= keep_b
            return out

        return _skin_edit(rgb, face, edit)

    return apply


def _iris_disc(shape: tuple[int, int], eye: Eye, centre: np.ndarray, inner: float = 0.0) -> np.ndarray:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64) + 0.5
    distance = np.hypot(xs - centre[0], ys - centre[1])
    disc: np.ndarray = (distance <= eye.iris_radius) & (distance >= inner * eye.iris_radius)
    return disc


def recolour_irises(rgb: np.ndarray, face: FaceMeasurement, _: PersonSegmenter) -> np.ndarray:
    """Brown eyes turned blue: the iris (not the pupil) set to a blue a*b*, lighter, texture kept."""
    assert face.mesh is not None
    out = rgb.copy()
    for eye in face.mesh.eyes:
        opening = face_regions.rasterise([face_regions.eye_opening(eye.contour)], rgb.shape[:2])
        disc = _iris_disc(rgb.shape[:2], eye, eye.iris[0], inner=0.35) & opening
        lab = srgb_to_lab(out[disc])
        lab[:, 0] = np.clip(lab[:, 0] + BLUE_IRIS_LIGHTER, 0, 100)
        lab[:, 1], lab[:, 2] = BLUE_IRIS_AB
        out[disc] = lab_to_srgb(lab)
    return out


def close_eyes(rgb: np.ndarray, face: FaceMeasurement, _: PersonSegmenter) -> np.ndarray:
    """Eyes painted shut: the opening filled with the skin below it and a dark lash line across."""
    assert face.mesh is not None
    out = rgb.copy()
    width = _eye_width(face)
    for eye in face.mesh.eyes:
        opening = face_regions.rasterise(
            [face_regions.polygon(face_regions.eye_opening(eye.contour), range(16), grow=1.25)], rgb.shape[:2]
        )
        below = eye.contour[4] + np.array([0.0, 0.35 * width])
        x, y = int(below[0]), int(below[1])
        skin = np.median(rgb[y - 3 : y + 4, x - 3 : x + 4].reshape(-1, 3), axis=0)
        lid = np.where(opening[..., None], skin, out).astype(np.uint8)
        out = _blend(out, lid, _feather(opening, 0.04 * width))
        canvas = Image.fromarray(out)
        lower = [tuple(p) for p in eye.contour[:9]]
        ImageDraw.Draw(canvas).line(lower, fill=(40, 30, 28), width=max(2, round(0.04 * width)))
        out = np.asarray(canvas).copy()
    return out


def move_irises(fraction: float) -> Callable[[np.ndarray, FaceMeasurement, PersonSegmenter], np.ndarray]:
    """Eyes looking away: both irises moved sideways by `fraction` of the eye width, sclera behind."""

    def apply(rgb: np.ndarray, face: FaceMeasurement, _: PersonSegmenter) -> np.ndarray:
        assert face.mesh is not None
        out = rgb.copy()
        for eye in face.mesh.eyes:
            opening = face_regions.rasterise([face_regions.eye_opening(eye.contour)], rgb.shape[:2])
            old = _iris_disc(rgb.shape[:2], eye, eye.iris[0])
            sclera_pixels = rgb[opening & ~_iris_disc(rgb.shape[:2], eye, eye.iris[0], inner=0.0)]
            sclera = np.percentile(sclera_pixels, 85, axis=0) if len(sclera_pixels) else np.array([220, 215, 210])
            shift = np.array([fraction * eye.width, 0.0])
            new = _iris_disc(rgb.shape[:2], eye, eye.iris[0] + shift)
            dx = round(shift[0])
            moved = np.roll(rgb, dx, axis=1)
            out[old & opening] = sclera.astype(np.uint8)
            out[new & opening] = moved[new & opening]
        return out

    return apply


def _person(rgb: np.ndarray, segmenter: PersonSegmenter, *, grow: int = 0) -> np.ndarray:
    """The person mask, optionally grown by `grow` px so a cut takes the soft edge too (no ghost outline)."""
    probability = segmenter.segment(rgb)
    mask = probability > (0.5 if grow == 0 else 0.1)
    if grow:
        grown = Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(2 * grow + 1))
        mask = np.asarray(grown) > 0
    return mask


def _box(values: np.ndarray, radius: int) -> np.ndarray:
    """Box blur along both axes (edges padded), numpy only."""
    out = values
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius + 1, radius)
        summed = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis)
        high = np.take(summed, np.arange(2 * radius + 1, summed.shape[axis]), axis=axis)
        low = np.take(summed, np.arange(0, summed.shape[axis] - 2 * radius - 1), axis=axis)
        out = (high - low) / (2 * radius + 1)
    return out


def _fill_from_backdrop(rgb: np.ndarray, remove: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """Removed pixels take the local backdrop colour: a normalised blur of the backdrop alone.

    Worked at 1/8 scale (the backdrops are smooth gradients or blurred photos) and upsampled.
    """
    step = 8
    small = (rgb.shape[1] // step, rgb.shape[0] // step)
    weight = (
        np.asarray(Image.fromarray((backdrop * 255).astype(np.uint8)).resize(small, Image.Resampling.BOX), np.float32)
        / 255
    )
    colour = np.asarray(Image.fromarray(rgb).resize(small, Image.Resampling.BOX), np.float32)
    numerator, denominator = colour * weight[..., None], weight
    for _ in range(3):  # three box passes: about a Gaussian
        numerator, denominator = _box(numerator, 6), _box(denominator, 6)
    fill = numerator / np.maximum(denominator, 1e-3)[..., None]
    fill_image = Image.fromarray(np.clip(fill, 0, 255).astype(np.uint8)).resize(
        rgb.shape[1::-1], Image.Resampling.BILINEAR
    )
    out = rgb.copy()
    out[remove] = np.asarray(fill_image)[remove]
    return out


def cut_side_hair(rgb: np.ndarray, face: FaceMeasurement, segmenter: PersonSegmenter) -> np.ndarray:
    """Hair at the sides replaced by backdrop: everything of the person beside the face, crown to mouth."""
    points = _points(face)
    oval = face_regions.polygon(points, face_regions.FACE_OVAL)
    margin = 0.05 * _eye_width(face) * 3
    left, right = oval[:, 0].min() - margin, oval[:, 0].max() + margin
    bottom = face_regions.polygon(points, face_regions.LIPS)[:, 1].mean()
    person = _person(rgb, segmenter, grow=CUT_GROW_PX)
    ys, xs = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]]
    remove = person & ((xs < left) | (xs > right)) & (ys < bottom)
    return _fill_from_backdrop(rgb, remove, ~person)


def cut_top_hair(rgb: np.ndarray, face: FaceMeasurement, segmenter: PersonSegmenter) -> np.ndarray:
    """A cut-off hairline: the head flattened just above the top of the face oval."""
    points = _points(face)
    oval = face_regions.polygon(points, face_regions.FACE_OVAL)
    top = oval[:, 1].min() - 0.1 * _eye_width(face) * 3
    person = _person(rgb, segmenter, grow=CUT_GROW_PX)
    ys = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]][0]
    remove = person & (ys < top)
    return _fill_from_backdrop(rgb, remove, ~person)


def recolour_hair(rgb: np.ndarray, face: FaceMeasurement, segmenter: PersonSegmenter) -> np.ndarray:
    """Hair recoloured: dark hair made light brown-blond, light hair made dark brown."""
    points = _points(face)
    oval = face_regions.region_mask(points, face_regions.FACE_OVAL, rgb.shape[:2], grow=1.08)
    bottom = face_regions.polygon(points, face_regions.FACE_OVAL)[:, 1].mean()
    ys = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]][0]
    hair = _person(rgb, segmenter) & ~oval & (ys < bottom)
    lab = srgb_to_lab(rgb[hair])
    median_l = float(np.median(lab[:, 0])) if len(lab) else 50.0
    if median_l < 45:
        lab[:, 0] += 35
        lab[:, 1] += 4
        lab[:, 2] += 22
    else:
        lab[:, 0] -= 30
        lab[:, 2] += 6
    out = rgb.copy()
    out[hair] = lab_to_srgb(lab)
    return out


def blur_face(percent: float) -> Callable[[np.ndarray, FaceMeasurement, PersonSegmenter], np.ndarray]:
    """The face blurred by a Gaussian of `percent` % of the face width (oval grown 20%, feathered)."""

    def apply(rgb: np.ndarray, face: FaceMeasurement, _: PersonSegmenter) -> np.ndarray:
        oval = face_regions.polygon(_points(face), face_regions.FACE_OVAL)
        face_width = float(oval[:, 0].max() - oval[:, 0].min())
        mask = face_regions.region_mask(_points(face), face_regions.FACE_OVAL, rgb.shape[:2], grow=1.2)
        blurred = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(face_width * percent / 100)))
        return _blend(rgb, blurred, _feather(mask, 0.05 * face_width))

    return apply


@dataclass(frozen=True, slots=True)
class Defect:
    name: str
    expected: str  # the reason code that must be among the rejection's reasons
    apply: Callable[[np.ndarray, FaceMeasurement, PersonSegmenter], np.ndarray]
    visible: bool = True  # False: a probe below what the gate promises to catch, reported only


DEFECTS: Final = (
    Defect("skin lightened L*+5", "skin_tone_shift", lighten_skin(5.0)),
    Defect("skin lightened L*+3 (probe)", "skin_tone_shift", lighten_skin(3.0), visible=False),
    Defect("undertone removed b*x0.6, L*+1", "skin_tone_shift", remove_undertone(0.6)),
    Defect("undertone removed b*x0.8, L*+1 (probe)", "skin_tone_shift", remove_undertone(0.8), visible=False),
    Defect("irises brown to blue", "eye_colour_changed", recolour_irises),
    Defect("eyes painted shut", "eyes_closed", close_eyes),
    Defect("irises moved 0.15 eye widths", "gaze_off_camera", move_irises(0.15)),
    Defect("irises moved 0.08 eye widths (probe)", "gaze_off_camera", move_irises(0.08), visible=False),
    Defect("hair at the sides removed", "hair_changed", cut_side_hair),
    Defect("hair cut flat above the forehead", "hair_changed", cut_top_hair),
    Defect("hair recoloured", "hair_changed", recolour_hair),
    Defect("face blurred 1.5% of its width", "blurry", blur_face(1.5)),
    Defect("face blurred 0.75% (probe)", "blurry", blur_face(0.75), visible=False),
)


def ita_group(ita: float) -> str:
    """Chardon's ITA° skin categories."""
    for limit, name in (
        (55, "very light (>55°)"),
        (41, "light (41-55°)"),
        (28, "intermediate (28-41°)"),
        (10, "tan (10-28°)"),
        (-30, "brown (-30-10°)"),
    ):
        if ita > limit:
            return name
    return "dark (<-30°)"


ITA_GROUPS: Final = (
    "very light (>55°)",
    "light (41-55°)",
    "intermediate (28-41°)",
    "tan (10-28°)",
    "brown (-30-10°)",
    "dark (<-30°)",
)
