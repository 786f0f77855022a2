"""Scoring one output against the person's reference: every failing reason, and the numbers.

The baseline for everything but identity is one accepted photo: the one the output was made
from when there is one (studio), else the photo whose face embedding is closest to the
output's (diffusion outputs, which draw on all photos, and `headshot score`, which is not
told the source). Photos of one person differ by lighting, framing and expression far more
than a faithful output differs from its source, so a mean over the photos would be no
baseline. Identity is measured against the reference embedding (the validator's, else the
mean of the photos), as at upload.

A check whose measurement is missing on either side (no mesh, an iris of a few pixels, no
hair) is skipped and its metric left out, never failed: the gate refuses what it sees, not
what it cannot see. An output whose face dlib finds but the mesh cannot is `no_face`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from headshot.color import delta_e_2000, ita_degrees
from headshot.faces import FaceAnalyzer, FaceMeasurement
from headshot_inference.fidelity import codes
from headshot_inference.fidelity.codes import Failure
from headshot_inference.fidelity.limits import FidelityLimits
from headshot_inference.fidelity.measure import EYE_LINE, FRAME_SIDE, Features, dilate, measure

if TYPE_CHECKING:
    from headshot_inference.segmentation import PersonSegmenter

# Below this many hair pixels in the baseline's frame (0.6% of it: ears and a shaved head)
# hair shape and colour are not compared.
MIN_BASELINE_HAIR_PX: Final = 400
# A photo whose eyes show less contrast than this (a squint, deep shadow) gives no baseline
# for it: the shared photos' open eyes measure 0.2 (dim) to 0.8, closed lids about 0.
MIN_IRIS_CONTRAST: Final = 0.08
# A hair cell's colour may move this much (CIE76 ΔE*ab: a 4 px cell of hair, not a smooth
# colour) and still be the same hair; fewer than MIN_HAIR_CELLS hair cells (a shaved head)
# and appearance is not compared.
HAIR_CELL_DELTA_E: Final = 15.0
MIN_HAIR_CELLS: Final = 20
# Edge tolerance of the hair outline comparison, in frame px (0.05 eye distances).
HAIR_EDGE_TOLERANCE_PX: Final = 2
_ABOVE_EYES: Final = np.arange(FRAME_SIDE)[:, None] < EYE_LINE * FRAME_SIDE


@dataclass(frozen=True, slots=True)
class ReferencePhoto:
    """One accepted photo: its face and, when its pixels were given, the gate's features."""

    face: FaceMeasurement
    features: Features | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    """What outputs are compared with: one identity, and every accepted photo's features."""

    embedding: np.ndarray  # (128,)
    photos: tuple[ReferencePhoto, ...]
    # The validator's mean cheek colour, used only when no photo's skin could be measured.
    fallback_skin_lab: np.ndarray | None = None

    @classmethod
    def from_photos(
        cls,
        photos: Sequence[tuple[np.ndarray, FaceMeasurement, float]],
        *,
        embedding: np.ndarray | None = None,
        fallback_skin_lab: np.ndarray | None = None,
        segmenter: PersonSegmenter | None = None,
    ) -> Reference:
        """From (RGB image, face measured on it, image px per face-coordinate unit) per photo."""
        segmenter = segmenter or default_segmenter()
        refs = tuple(
            ReferencePhoto(face, measure(image, face, segmenter, scale=scale) if face.mesh is not None else None)
            for image, face, scale in photos
        )
        return cls(_embedding([p.face for p in refs], embedding), refs, fallback_skin_lab)

    @classmethod
    def from_faces(
        cls,
        faces: Sequence[FaceMeasurement],
        *,
        embedding: np.ndarray | None = None,
        fallback_skin_lab: np.ndarray | None = None,
    ) -> Reference:
        """Faces only, no pixels: identity, pose and cheek colour are all that can be compared."""
        return cls(_embedding(faces, embedding), tuple(ReferencePhoto(f) for f in faces), fallback_skin_lab)

    @property
    def skin_labs(self) -> tuple[np.ndarray | None, ...]:
        return tuple(p.face.skin_lab for p in self.photos)

    def baseline(self, embedding: np.ndarray, source: int | None) -> int:
        """The photo an output is compared with: its source, else the closest in identity."""
        if source is not None and 0 <= source < len(self.photos):
            return source
        distances = [float(np.linalg.norm(p.face.embedding - embedding)) for p in self.photos]
        return int(np.argmin(distances))


@dataclass(frozen=True, slots=True)
class Fidelity:
    metrics: dict[str, Any]
    reasons: tuple[Failure, ...]
    identity_distance: float  # inf when no face: sorts last

    @property
    def kept(self) -> bool:
        return not self.reasons

    @property
    def reason(self) -> str | None:
        """The first failing code (the manifest's `reason`), None when kept."""
        return self.reasons[0].code if self.reasons else None

    @property
    def codes(self) -> list[str]:
        return [failure.code for failure in self.reasons]


def default_segmenter() -> PersonSegmenter:
    from headshot_inference.segmentation import load_segmenter

    return load_segmenter()  # the folder comes from headshot.mediapipe_models.default_model_dir


def score(
    rgb: np.ndarray,
    reference: Reference,
    analyzer: FaceAnalyzer,
    limits: FidelityLimits,
    *,
    source: int | None = None,
    segmenter: PersonSegmenter | None = None,
) -> Fidelity:
    """Measure one output (RGB uint8) against the person's reference; every failing reason."""
    detections = analyzer.detect(rgb)
    if not detections:
        return Fidelity(
            {"face_found": False, "face_count": 0, "identity_match": False}, (Failure.of(codes.NO_FACE),), math.inf
        )
    face = analyzer.measure(rgb, detections[0])
    distance = float(np.linalg.norm(face.embedding - reference.embedding))
    second_ratio = max((d.width for d in detections[1:]), default=0.0) / detections[0].width
    index = reference.baseline(face.embedding, source)
    base = reference.photos[index]
    metrics: dict[str, Any] = {
        "face_found": True,
        "face_count": len(detections),
        "baseline_photo": index,
        "identity_distance": _round(distance),
        "identity_match": distance < limits.identity_max_distance,
        "roll_deg": _round(face.roll_deg),
        "yaw_deg": _round(face.yaw_deg),
        "pitch_deg": _round(face.pitch_deg),
        "second_face_ratio": _round(second_ratio),
    }
    failed: dict[str, str] = {}
    if face.mesh is None:
        failed[codes.NO_FACE] = "a face was detected but its landmarks could not be found"
    if second_ratio > limits.max_second_face_ratio:
        failed[codes.MULTIPLE_FACES] = f"second face {second_ratio:.2f} of the main one's width"
    if not metrics["identity_match"]:
        failed[codes.IDENTITY_MISMATCH] = f"embedding distance {distance:.2f} >= {limits.identity_max_distance}"
    if abs(face.yaw_deg) > limits.max_yaw_deg or abs(face.pitch_deg) > limits.max_pitch_deg:
        failed[codes.FACE_NOT_FRONTAL] = f"yaw {face.yaw_deg:+.0f}°, pitch {face.pitch_deg:+.0f}°"
    if abs(face.roll_deg) > limits.max_roll_deg:
        failed[codes.EYES_NOT_LEVEL] = f"roll {face.roll_deg:+.1f}°"

    if base.features is not None and face.mesh is not None:
        if segmenter is None:
            segmenter = default_segmenter()
        out = measure(rgb, face, segmenter, sharpness_eye_distance=base.features.sharpness_eye_distance)
        _compare(out, base.features, limits, metrics, failed)
    else:
        # Faces only (Reference.from_faces): cheek colour, as the photo checks measure it.
        _compare_skin(face.skin_lab, _cheek_baseline(reference, index, face), limits, metrics, failed)

    reasons = tuple(Failure.of(code, failed[code]) for code in codes.REASONS if code in failed)
    return Fidelity(metrics, reasons, distance)


def _compare(
    out: Features, base: Features, limits: FidelityLimits, metrics: dict[str, Any], failed: dict[str, str]
) -> None:
    _compare_skin(out.skin_lab, base.skin_lab, limits, metrics, failed)

    if out.iris_lab is not None:
        metrics["iris_lab"] = [_round(v) for v in out.iris_lab]
        if base.iris_lab is not None:
            iris_de = delta_e_2000(base.iris_lab, out.iris_lab)
            metrics["eye_colour_delta_e"] = _round(iris_de)
            if iris_de > limits.max_eye_colour_delta_e:
                failed[codes.EYE_COLOUR_CHANGED] = f"iris ΔE2000 {iris_de:.1f}"

    if out.openness is not None and base.openness:
        ratio = out.openness / base.openness
        metrics["eye_openness"] = _round(out.openness)
        metrics["eye_openness_ratio"] = _round(ratio)
        if ratio < limits.min_eye_openness_ratio:
            failed[codes.EYES_CLOSED] = f"eyes {ratio:.0%} as open as in the photo"
    if out.iris_contrast is not None and base.iris_contrast is not None and base.iris_contrast >= MIN_IRIS_CONTRAST:
        contrast = out.iris_contrast / base.iris_contrast
        metrics["iris_contrast_ratio"] = _round(contrast)
        if contrast < limits.min_iris_contrast_ratio:
            failed[codes.EYES_CLOSED] = f"iris against the white of the eye {contrast:.0%} as clear as in the photo"

    if out.gaze is not None and base.gaze is not None:
        shift_x, shift_y = out.gaze[0] - base.gaze[0], out.gaze[1] - base.gaze[1]
        metrics.update(gaze_x=_round(out.gaze[0]), gaze_y=_round(out.gaze[1]))
        metrics.update(gaze_shift_x=_round(shift_x), gaze_shift_y=_round(shift_y))
        if abs(shift_x) > limits.max_gaze_shift_x or abs(shift_y) > limits.max_gaze_shift_y:
            failed[codes.GAZE_OFF_CAMERA] = f"irises moved {shift_x:+.2f}, {shift_y:+.2f} eye widths"

    _compare_hair(out, base, limits, metrics, failed)

    if base.sharpness > 0:
        ratio = out.sharpness / base.sharpness
        metrics["sharpness"] = _round(out.sharpness)
        metrics["sharpness_ratio"] = _round(ratio)
        if ratio < limits.min_sharpness_ratio:
            failed[codes.BLURRY] = f"face detail {ratio:.0%} of the photo's"


def _compare_skin(
    out_lab: np.ndarray | None,
    base_lab: np.ndarray | None,
    limits: FidelityLimits,
    metrics: dict[str, Any],
    failed: dict[str, str],
) -> None:
    if out_lab is None:
        return
    metrics["skin_lab"] = [_round(v) for v in out_lab]
    metrics["skin_ita_deg"] = _round(ita_degrees(out_lab))
    if base_lab is None:
        return
    delta_e = delta_e_2000(base_lab, out_lab)
    shift = out_lab - base_lab
    hue_shift = (
        math.degrees(math.atan2(out_lab[2], out_lab[1]) - math.atan2(base_lab[2], base_lab[1])) + 180
    ) % 360 - 180
    ita_shift = ita_degrees(out_lab) - ita_degrees(base_lab)
    metrics.update(
        skin_tone_delta_e=_round(delta_e),
        skin_lightness_shift=_round(shift[0]),
        skin_a_shift=_round(shift[1]),
        skin_b_shift=_round(shift[2]),
        skin_hue_shift_deg=_round(hue_shift),
        ita_shift_deg=_round(ita_shift),
    )
    why = []
    if delta_e > limits.max_skin_delta_e:
        why.append(f"ΔE2000 {delta_e:.1f}")
    if abs(shift[0]) > limits.max_skin_lightness_shift:
        why.append(f"L* {shift[0]:+.1f}")
    if abs(shift[2]) > limits.max_skin_b_shift or abs(hue_shift) > limits.max_skin_hue_shift_deg:
        why.append(f"undertone b* {shift[2]:+.1f}, hue {hue_shift:+.1f}°")
    # ITA = atan((L* - 50) / b*) swings by degrees for an invisible change when L* is near
    # 50, so an ITA shift counts only once the colour change is perceptible.
    if abs(ita_shift) > limits.max_ita_shift_deg and delta_e > limits.ita_min_delta_e:
        why.append(f"ITA {ita_shift:+.1f}°")
    if why:
        failed[codes.SKIN_TONE_SHIFT] = ", ".join(why)


def _compare_hair(
    out: Features, base: Features, limits: FidelityLimits, metrics: dict[str, Any], failed: dict[str, str]
) -> None:
    # Only where the baseline photo has pixels: a photo that ends at the crown says nothing
    # about the hair above it. The output's frame edge does count: hair cut off by it is lost.
    seen = base.inside
    base_hair = base.hair & seen
    base_area = int(base_hair.sum())
    if base_area < MIN_BASELINE_HAIR_PX:
        return
    area_ratio = float((out.hair & seen).sum()) / base_area
    # The hair's own outline above the eyes (the face oval cut out): a flattened crown or
    # missing sides change it by far more than they change the whole head's outline. Short
    # hair is a band a few pixels thick, so pixels within HAIR_EDGE_TOLERANCE_PX of the other
    # mask count as shared: edge jitter between two segmentations is not a change of hair.
    above = seen & _ABOVE_EYES
    iou = _tolerant_iou(out.hair & above, base.hair & above, HAIR_EDGE_TOLERANCE_PX)
    metrics.update(hair_area_ratio=_round(area_ratio), hair_iou=_round(iou))
    why = []
    # Where the photo has hair, does the output still look like that hair? Cells whose colour
    # moved by more than HAIR_CELL_DELTA_E are hair lost (to backdrop, skin) or recoloured.
    cells = base.hair_cells
    if int(cells.sum()) >= MIN_HAIR_CELLS:
        moved = np.linalg.norm(out.cells_lab[cells] - base.cells_lab[cells], axis=-1)
        kept = float((moved <= HAIR_CELL_DELTA_E).mean())
        metrics["hair_kept"] = _round(kept)
        if kept < limits.min_hair_kept:
            why.append(f"{1 - kept:.0%} of the hair no longer looks like it")
    if not limits.min_hair_area_ratio <= area_ratio <= limits.max_hair_area_ratio:
        why.append(f"hair area {area_ratio:.0%} of the photo's")
    if iou < limits.min_hair_iou:
        why.append(f"head outline overlap {iou:.2f}")
    if out.hair_lab is not None and base.hair_lab is not None:
        hair_de = delta_e_2000(base.hair_lab, out.hair_lab)
        metrics["hair_delta_e"] = _round(hair_de)
        if hair_de > limits.max_hair_delta_e:
            why.append(f"hair colour ΔE2000 {hair_de:.1f}")
    if why:
        failed[codes.HAIR_CHANGED] = ", ".join(why)


def _tolerant_iou(first: np.ndarray, second: np.ndarray, tolerance: int) -> float:
    """Intersection over union where a pixel within `tolerance` px of the other mask counts as shared."""
    total = int(first.sum()) + int(second.sum())
    if total == 0:
        return 1.0
    shared = int((first & dilate(second, tolerance)).sum()) + int((second & dilate(first, tolerance)).sum())
    # Both masks' shared pixels are counted once each, so shared / total is the Dice score;
    # IoU = Dice / (2 - Dice).
    dice = shared / total
    return dice / (2 - dice)


def _cheek_baseline(reference: Reference, index: int, face: FaceMeasurement) -> np.ndarray | None:
    lab = reference.photos[index].face.skin_lab
    if lab is not None:
        return lab
    known = [p.face.skin_lab for p in reference.photos if p.face.skin_lab is not None]
    if known and face.skin_lab is not None:
        return min(known, key=lambda k: delta_e_2000(k, face.skin_lab))  # type: ignore[arg-type]
    return reference.fallback_skin_lab


def _embedding(faces: Sequence[FaceMeasurement], given: np.ndarray | None) -> np.ndarray:
    if given is None:
        given = np.mean([face.embedding for face in faces], axis=0)
    return np.asarray(given, np.float32)


def _round(value: float) -> float:
    return round(float(value), 3)
