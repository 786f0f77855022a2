"""Fidelity: is each output still this person, with this person's skin tone, facing us?

Every output is measured with the very face code the validator used on the photos
(headshot.faces), so "same person" means the same thing at upload and at delivery:
- identity: Euclidean distance of the dlib embedding to the reference (the mean embedding
  of the accepted photos, or the one the validator sent), matched below
  headshot.policy.IDENTITY_MAX_DISTANCE;
- skin tone: CIEDE2000 between the cheeks' median L*a*b* and the baseline's, and the shift
  of the Individual Typology Angle (positive = lighter). The baseline is the photo the
  output was made from when there is one (studio), else the accepted photo whose cheeks
  are closest (diffusion): photos of one person differ by lighting far more than a
  faithful output differs from its source, so a mean of all photos would be no baseline;
- pose: a face must be found, frontal within the validator's own limits, eyes level.
A failing output is kept=False with the first failing reason, in the order below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from headshot.color import delta_e_2000, ita_degrees
from headshot.faces import FaceAnalyzer, FaceMeasurement
from headshot.policy import IDENTITY_MAX_DISTANCE, RULES

NO_FACE: Final = "no_face"
MULTIPLE_FACES: Final = "multiple_faces"
IDENTITY_MISMATCH: Final = "identity_mismatch"
SKIN_TONE_SHIFT: Final = "skin_tone_shift"
NOT_FRONTAL: Final = "not_frontal"
EYES_NOT_LEVEL: Final = "eyes_not_level"
REASONS: Final = (NO_FACE, MULTIPLE_FACES, IDENTITY_MISMATCH, SKIN_TONE_SHIFT, NOT_FRONTAL, EYES_NOT_LEVEL)


def _policy_limit(metric: str) -> float:
    """The validator's own reject threshold for a metric: outputs meet the photos' bar."""
    for rule in RULES:
        if rule.metric == metric and rule.reject is not None:
            return float(rule.reject)
    raise LookupError(metric)  # pragma: no cover - the policy table always has these


@dataclass(frozen=True, slots=True)
class FidelityLimits:
    # Studio outputs of the astronaut and the shared photos (48 outputs, 4 styles, 6 people;
    # inference_container/README.md) measure ΔE <= 1.2, |ΔITA| <= 3.6° (at ΔE ~1, where L*
    # is near 50), identity distance <= 0.17 and |roll| <= 1°: the limits leave 3x room.
    max_skin_delta_e: float
    max_ita_shift_deg: float
    max_roll_deg: float
    # CIEDE2000 below which skin colour differences are at the edge of visibility (~1 JND).
    ita_min_delta_e: float = 2.0
    identity_max_distance: float = IDENTITY_MAX_DISTANCE
    max_yaw_deg: float = field(default_factory=lambda: _policy_limit("yaw_deg"))
    max_pitch_deg: float = field(default_factory=lambda: _policy_limit("pitch_deg"))
    max_second_face_ratio: float = field(default_factory=lambda: _policy_limit("second_face_ratio"))


# The studio backend copies the person's own pixels and levels the eyes itself, so it is
# held to its own tight tolerances; a generative backend re-draws skin and pose and is
# compared with the closest photo, with more room.
LIMITS: Final = {
    "studio": FidelityLimits(max_skin_delta_e=4.0, max_ita_shift_deg=3.0, max_roll_deg=5.0),
    "diffusion": FidelityLimits(max_skin_delta_e=6.0, max_ita_shift_deg=5.0, max_roll_deg=10.0),
}


def limits_for(backend: str) -> FidelityLimits:
    return LIMITS.get(backend, LIMITS["diffusion"])


@dataclass(frozen=True, slots=True)
class Reference:
    """What outputs are compared with: one identity, and every accepted photo's cheeks."""

    embedding: np.ndarray  # (128,)
    skin_labs: tuple[np.ndarray | None, ...]  # per accepted photo, in the backend's order
    # The validator's mean cheek colour, used only when no photo's cheeks could be measured.
    fallback_skin_lab: np.ndarray | None = None

    @classmethod
    def from_faces(
        cls,
        faces: Sequence[FaceMeasurement],
        *,
        embedding: np.ndarray | None = None,
        fallback_skin_lab: np.ndarray | None = None,
    ) -> Reference:
        if embedding is None:
            embedding = np.mean([face.embedding for face in faces], axis=0)
        return cls(np.asarray(embedding, np.float32), tuple(face.skin_lab for face in faces), fallback_skin_lab)

    def skin_baseline(self, output_lab: np.ndarray, source: int | None) -> np.ndarray | None:
        if source is not None and 0 <= source < len(self.skin_labs) and self.skin_labs[source] is not None:
            return self.skin_labs[source]
        known = [lab for lab in self.skin_labs if lab is not None]
        if not known:
            return self.fallback_skin_lab
        return min(known, key=lambda lab: delta_e_2000(lab, output_lab))


@dataclass(frozen=True, slots=True)
class Fidelity:
    metrics: dict[str, Any]
    reason: str | None
    identity_distance: float  # inf when no face: sorts last

    @property
    def kept(self) -> bool:
        return self.reason is None


def score(
    rgb: np.ndarray,
    reference: Reference,
    analyzer: FaceAnalyzer,
    limits: FidelityLimits,
    *,
    source: int | None = None,
) -> Fidelity:
    """Measure one output (RGB uint8) against the person's reference."""
    analysis = analyzer.analyse(rgb)
    face = analysis.main
    if face is None:
        return Fidelity({"face_found": False, "identity_match": False}, NO_FACE, float("inf"))
    distance = float(np.linalg.norm(face.embedding - reference.embedding))
    others = analysis.detections[1:]
    second_ratio = max((o.width for o in others), default=0.0) / face.detection.width
    metrics: dict[str, Any] = {
        "face_found": True,
        "identity_distance": _round(distance),
        "identity_match": distance < limits.identity_max_distance,
        "roll_deg": _round(face.roll_deg),
        "yaw_deg": _round(face.yaw_deg),
        "pitch_deg": _round(face.pitch_deg),
        "second_face_ratio": _round(second_ratio),
    }
    skin_failed = False
    if face.skin_lab is not None:
        baseline = reference.skin_baseline(face.skin_lab, source)
        metrics["skin_lab"] = [_round(v) for v in face.skin_lab]
        metrics["skin_ita_deg"] = _round(ita_degrees(face.skin_lab))
        if baseline is not None:
            delta_e = delta_e_2000(baseline, face.skin_lab)
            ita_shift = ita_degrees(face.skin_lab) - ita_degrees(baseline)
            metrics["skin_tone_delta_e"] = _round(delta_e)
            metrics["ita_shift_deg"] = _round(ita_shift)
            # ITA = atan((L* - 50) / b*) swings by degrees for an invisible change when L* is
            # near 50, so an ITA shift counts only once the colour change is perceptible.
            skin_failed = delta_e > limits.max_skin_delta_e or (
                abs(ita_shift) > limits.max_ita_shift_deg and delta_e > limits.ita_min_delta_e
            )
    checks = (
        (MULTIPLE_FACES, second_ratio > limits.max_second_face_ratio),
        (IDENTITY_MISMATCH, not metrics["identity_match"]),
        (SKIN_TONE_SHIFT, skin_failed),
        (NOT_FRONTAL, abs(face.yaw_deg) > limits.max_yaw_deg or abs(face.pitch_deg) > limits.max_pitch_deg),
        (EYES_NOT_LEVEL, abs(face.roll_deg) > limits.max_roll_deg),
    )
    reason = next((code for code, failed in checks if failed), None)
    return Fidelity(metrics, reason, distance)


def _round(value: float) -> float:
    return round(float(value), 3)
