"""The gate's thresholds, per backend. Every number's evidence: docs/CALIBRATION.md, "Output gate".

Studio limits are calibrated (tests/benchmarks/calibrate_gate.py, docs/calibration/gate.md):
every good studio output of the shared photos passes and every synthetic defect of a
visible size is caught. The studio backend copies the person's own pixels, so it is held
to tight tolerances. The diffusion backend re-draws skin, eyes and hair under new light and
is compared with the closest accepted photo; its limits are the studio's widened by about
half, pending GPU outputs to calibrate on (docs/CALIBRATION.md, "Open items").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from headshot.policy import IDENTITY_MAX_DISTANCE, RULES


def _policy_limit(metric: str) -> float:
    """The validator's own reject threshold for a metric: outputs meet the photos' bar."""
    for rule in RULES:
        if rule.metric == metric and rule.reject is not None:
            return float(rule.reject)
    raise LookupError(metric)  # pragma: no cover - the policy table always has these


@dataclass(frozen=True, slots=True)
class FidelityLimits:
    """Reject thresholds. Evidence quoted as "good" is the range over 48 good studio outputs
    (6 photos x 4 styles x 2 variants), "defect" over 24 synthetic defects of each kind
    (docs/calibration/gate.md); every number is argued in docs/CALIBRATION.md, "Output gate"."""

    # --- identity and pose (the validator's own limits, headshot.policy)
    # Good: identity distance <= 0.14; another person's headshot >= 0.77.
    identity_max_distance: float = IDENTITY_MAX_DISTANCE
    max_yaw_deg: float = field(default_factory=lambda: _policy_limit("yaw_deg"))
    max_pitch_deg: float = field(default_factory=lambda: _policy_limit("pitch_deg"))
    max_second_face_ratio: float = field(default_factory=lambda: _policy_limit("second_face_ratio"))
    # Good: |roll| <= 0.94° (the backend levels the eyes).
    max_roll_deg: float = 5.0
    # --- skin (face oval minus eyes, brows, lips; median CIELAB vs the baseline photo)
    # Good: ΔE2000 <= 1.47, |ΔL*| <= 0.97. Skin made paler by L* +5: ΔE >= 3.35, ΔL* >= 4.06.
    max_skin_delta_e: float = 3.0
    max_skin_lightness_shift: float = 3.0
    # Undertone. Good: |Δb*| <= 0.51, |Δhue| <= 3.1° (white balance moves a*). b* pulled 40%
    # toward 0: Δb* <= -5.43, Δhue <= -11.1°, while ΔL* stays <= 1.63.
    max_skin_b_shift: float = 2.5
    max_skin_hue_shift_deg: float = 6.0
    # ITA swings by degrees for invisible changes when L* is near 50, so an ITA shift counts
    # only once the colour change is perceptible (ΔE > ita_min_delta_e). Good: |ΔITA| <= 2.6°.
    max_ita_shift_deg: float = 3.0
    ita_min_delta_e: float = 2.0
    # --- eyes
    # Good: iris ΔE2000 <= 2.75 (alex's 5 px irises); brown turned blue >= 20.2.
    max_eye_colour_delta_e: float = 10.0
    # Good: openness ratio >= 0.91, iris contrast ratio >= 0.90. Eyes painted shut: openness
    # 0.30-0.89 (the mesh draws open lids over closed eyes), contrast ratio -0.56-1.30 (when
    # the mesh places the iris on the painted lid); every one fails at least one of the two.
    min_eye_openness_ratio: float = 0.6
    min_iris_contrast_ratio: float = 0.4
    # Good: |Δgaze x| <= 0.01, |Δgaze y| <= 0.01 eye widths. Irises moved 0.15 eye widths:
    # measured 0.07-0.12 (the mesh under-reads the move); 0.08 (a probe): 0.01-0.07.
    max_gaze_shift_x: float = 0.045
    max_gaze_shift_y: float = 0.06
    # --- hair (selfie segmentation and colour in the face-aligned frame)
    # Good: area ratio 0.87-1.03, outline IoU >= 0.93, hair kept >= 0.88, hair ΔE <= 3.94.
    # Sides removed: area <= 0.78. Crown cut flat: kept <= 0.80. Recoloured: ΔE >= 18.2.
    min_hair_area_ratio: float = 0.82
    max_hair_area_ratio: float = 1.5
    min_hair_iou: float = 0.88
    max_hair_delta_e: float = 12.0
    min_hair_kept: float = 0.85
    # --- sharpness of the inner face at the baseline's scale, output / baseline
    # Good: >= 0.69 (skin retouch, upscaling). Face blurred by 1.5% of its width: <= 0.50.
    min_sharpness_ratio: float = 0.55


STUDIO: Final = FidelityLimits()
DIFFUSION: Final = replace(
    STUDIO,
    max_roll_deg=10.0,
    max_skin_delta_e=4.5,
    max_skin_lightness_shift=4.5,
    max_skin_b_shift=3.5,
    max_skin_hue_shift_deg=8.0,
    max_ita_shift_deg=5.0,
    max_eye_colour_delta_e=14.0,
    min_eye_openness_ratio=0.5,
    min_iris_contrast_ratio=0.3,
    max_gaze_shift_x=0.07,
    max_gaze_shift_y=0.08,
    min_hair_area_ratio=0.7,
    max_hair_area_ratio=1.8,
    min_hair_iou=0.78,
    max_hair_delta_e=16.0,
    min_hair_kept=0.6,
    min_sharpness_ratio=0.45,
)
LIMITS: Final = {"studio": STUDIO, "diffusion": DIFFUSION}


def limits_for(backend: str) -> FidelityLimits:
    """A backend's limits; an unknown (new) backend gets the generative one's, the wider."""
    return LIMITS.get(backend, DIFFUSION)
