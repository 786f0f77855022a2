"""Fidelity gate: is each output still this person, as they look, sharp and facing us?

Every output is measured with the face code the validator used on the photos
(headshot.faces: dlib identity and pose, MediaPipe mesh, eyelids and irises) plus the
selfie segmenter, and compared with the person's own accepted photos (chiefly the one it
came from). One module per job:
- codes: the stable reason codes and their messages;
- measure: what is measured on one image, in a face-aligned frame (skin, irises, eyes,
  gaze, hair silhouette and colour, sharpness);
- limits: the thresholds per backend, each with its evidence (docs/CALIBRATION.md);
- gate: the reference, the baseline choice and score(), which returns every failing reason.
"""

from headshot_inference.fidelity.codes import (
    BLURRY,
    EYE_COLOUR_CHANGED,
    EYES_CLOSED,
    EYES_NOT_LEVEL,
    FACE_NOT_FRONTAL,
    GAZE_OFF_CAMERA,
    HAIR_CHANGED,
    IDENTITY_MISMATCH,
    MULTIPLE_FACES,
    NO_FACE,
    NOT_FRONTAL,
    REASONS,
    SKIN_TONE_SHIFT,
    Failure,
)
from headshot_inference.fidelity.gate import Fidelity, Reference, ReferencePhoto, default_segmenter, score
from headshot_inference.fidelity.limits import LIMITS, FidelityLimits, limits_for

__all__ = [
    "BLURRY",
    "EYES_CLOSED",
    "EYES_NOT_LEVEL",
    "EYE_COLOUR_CHANGED",
    "FACE_NOT_FRONTAL",
    "GAZE_OFF_CAMERA",
    "HAIR_CHANGED",
    "IDENTITY_MISMATCH",
    "LIMITS",
    "MULTIPLE_FACES",
    "NOT_FRONTAL",
    "NO_FACE",
    "REASONS",
    "SKIN_TONE_SHIFT",
    "Failure",
    "Fidelity",
    "FidelityLimits",
    "Reference",
    "ReferencePhoto",
    "default_segmenter",
    "limits_for",
    "score",
]
