"""Photo checks: safe intake + face analysis + policy, for one photo or one job's set.

This is the entry point the CLI, the validator Lambda and the inference container share.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headshot.blazeface import load_face_detector
from headshot.eye_metrics import gaze_off_camera_deg, head_room, iris_contrast
from headshot.faces import FaceAnalysis, FaceAnalyzer, FaceMeasurement, load_models
from headshot.mesh import load_mesh_model
from headshot.photos import DecodedPhoto, PhotoError, check_byte_size, decode_photo, read_limited
from headshot.policy import IdentityEvidence, SetAssessment, assess_set, evaluate
from headshot.reasons import Finding
from headshot.settings import PhotoLimits, get_settings


@dataclass(slots=True)
class PhotoCheck:
    """The verdict on one photo: accepted unless it has reasons."""

    file: str
    reasons: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    face: FaceMeasurement | None = None
    photo: DecodedPhoto | None = None

    @property
    def accepted(self) -> bool:
        return not self.reasons

    @property
    def evidence(self) -> IdentityEvidence | None:
        """Identity evidence for the set checks; None when the photo is already rejected."""
        if not self.accepted or self.face is None:
            return None
        openness = self.face.mesh.openness if self.face.mesh is not None else None
        return IdentityEvidence(self.face.embedding, self.face.chip_signature, openness)

    def reject(self, finding: Finding) -> None:
        if all(r.code != finding.code for r in self.reasons):
            self.reasons.append(finding)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "accepted": self.accepted,
            "reasons": [r.to_dict() for r in self.reasons],
            "warnings": [w.to_dict() for w in self.warnings],
            "metrics": self.metrics,
        }


class PhotoChecker:
    """Checks photos with models loaded once; safe to reuse for every photo of a process."""

    def __init__(self, analyzer: FaceAnalyzer | None = None, limits: PhotoLimits | None = None) -> None:
        settings = get_settings()
        self.limits = limits or settings.photo_limits
        self.analyzer = analyzer or FaceAnalyzer(
            load_models(settings.dlib_model_dir, settings.face_encoder),
            # Their folder is headshot.mediapipe_models.default_model_dir (the setting, else bundled):
            # one cached instance per process whoever asks.
            load_mesh_model(),
            load_face_detector(),
        )

    def check_bytes(self, data: bytes, file: str, *, keep_normalised: bool = False) -> PhotoCheck:
        started = time.perf_counter()
        try:
            photo = decode_photo(data, self.limits, keep_normalised=keep_normalised)
        except PhotoError as error:
            return _rejected(file, error)
        analysis = self.analyzer.analyse(photo.analysis)
        metrics = measurements(photo, analysis)
        metrics["check_ms"] = _round((time.perf_counter() - started) * 1000)
        reasons, warnings = evaluate(metrics)
        return PhotoCheck(file, reasons, warnings, metrics, analysis.main, photo)

    def check_path(self, path: Path, *, keep_normalised: bool = False) -> PhotoCheck:
        """Check a file, refusing oversize files from their size before reading them."""
        try:
            check_byte_size(path.stat().st_size, self.limits)
            with path.open("rb") as stream:
                data = read_limited(stream, self.limits.max_bytes)
        except PhotoError as error:
            return _rejected(str(path), error)
        return self.check_bytes(data, str(path), keep_normalised=keep_normalised)

    def check_set(self, checks: Sequence[PhotoCheck]) -> SetAssessment:
        """Apply the multi-photo checks (different_person, duplicate_photo) in place."""
        assessment = assess_set([check.evidence for check in checks])
        for index, finding in assessment.rejections.items():
            checks[index].reject(finding)
        return assessment


def measurements(photo: DecodedPhoto, analysis: FaceAnalysis) -> dict[str, Any]:
    """The flat metrics the policy reads (and the CLI/API report), in original pixels."""
    metrics: dict[str, Any] = {
        "format": photo.format,
        "width": photo.width,
        "height": photo.height,
        "short_side_px": min(photo.width, photo.height),
        "decoded_long_side_px": max(photo.decoded_size),
        "faces_detected": len(analysis.detections),
        "decode_ms": _round(photo.decode_ms),
        "detect_ms": _round(analysis.detect_ms),
        "measure_ms": _round(analysis.measure_ms),
    }
    face = analysis.main
    if face is None:
        return metrics
    box = face.detection
    scale = photo.analysis_scale
    frame_h, frame_w = photo.analysis.shape[:2]
    inside_w = max(0.0, min(box.right, frame_w) - max(box.left, 0.0))
    inside_h = max(0.0, min(box.bottom, frame_h) - max(box.top, 0.0))
    others = analysis.detections[1:]
    metrics |= {
        "detection_score": _round(box.score),
        "face_box": [_round(v / scale) for v in (box.left, box.top, box.right, box.bottom)],
        "face_width_px": _round(box.width / scale),
        "face_share": _round(math.sqrt(box.width * box.height / (frame_w * frame_h))),
        "face_outside_share": _round(1 - inside_w * inside_h / (box.width * box.height)),
        "face_margin_min": _round(min(box.left, box.top, frame_w - box.right, frame_h - box.bottom) / box.width),
        "second_face_ratio": _round(max(o.width for o in others) / box.width) if others else 0.0,
        "roll_deg": _round(face.roll_deg),
        "yaw_deg": _round(face.yaw_deg),
        "pitch_deg": _round(face.pitch_deg),
        "sharpness": _round(face.sharpness),
        "face_luma_mean": _round(face.luma_mean),
        "face_luma_p95": _round(face.luma_p95),
        "face_dark_share": _round(face.dark_share),
        "face_bright_share": _round(face.bright_share),
        "lighting_balance": _round(face.lighting_balance),
        "skin_lab": [_round(v) for v in face.skin_lab] if face.skin_lab is not None else None,
        "skin_ita_deg": _round(face.skin_ita_deg) if face.skin_ita_deg is not None else None,
    }
    return metrics | _eye_metrics(photo.analysis, face)


def _eye_metrics(rgb: np.ndarray, face: FaceMeasurement) -> dict[str, Any]:
    """Eyes and head room from the mesh; absent (rules skip them) when the mesh found no face."""
    mesh = face.mesh
    if mesh is None:
        return {}
    crown_room, chin_room = head_room(mesh, rgb.shape[1], rgb.shape[0])
    return {
        "eye_openness": _round(mesh.openness),
        "eye_openness_min": _round(min(eye.openness for eye in mesh.eyes)),
        "iris_contrast": _round(max(iris_contrast(rgb, eye) for eye in mesh.eyes)),
        "gaze_off_camera_deg": _round(gaze_off_camera_deg(mesh, face.yaw_deg)),
        "crown_room": _round(crown_room),
        "chin_room": _round(chin_room),
    }


def _rejected(file: str, error: PhotoError) -> PhotoCheck:
    check = PhotoCheck(file, metrics={"error": error.detail})
    check.reject(Finding.rejection(error.reason))
    return check


def _round(value: float) -> float:
    return round(float(value), 3)
