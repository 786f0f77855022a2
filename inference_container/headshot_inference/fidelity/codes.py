"""Stable output reason codes of the fidelity gate (docs/REASON_CODES.md) and their default messages.

Codes are never renamed (the app localises from them); the messages are English defaults
for people reading a manifest or `headshot score`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NO_FACE: Final = "no_face"
MULTIPLE_FACES: Final = "multiple_faces"
IDENTITY_MISMATCH: Final = "identity_mismatch"
SKIN_TONE_SHIFT: Final = "skin_tone_shift"
FACE_NOT_FRONTAL: Final = "face_not_frontal"
EYES_NOT_LEVEL: Final = "eyes_not_level"
EYE_COLOUR_CHANGED: Final = "eye_colour_changed"
EYES_CLOSED: Final = "eyes_closed"
GAZE_OFF_CAMERA: Final = "gaze_off_camera"
HAIR_CHANGED: Final = "hair_changed"
BLURRY: Final = "blurry"
# Formerly `not_frontal`; the output gate now uses the photo checks' own code.
NOT_FRONTAL: Final = FACE_NOT_FRONTAL

# The order reasons are listed in (the first is the manifest's `reason`): faces first, then
# identity, then what the face looks like.
REASONS: Final = (
    NO_FACE,
    MULTIPLE_FACES,
    IDENTITY_MISMATCH,
    SKIN_TONE_SHIFT,
    FACE_NOT_FRONTAL,
    EYES_NOT_LEVEL,
    EYE_COLOUR_CHANGED,
    EYES_CLOSED,
    GAZE_OFF_CAMERA,
    HAIR_CHANGED,
    BLURRY,
)

MESSAGES: Final = {
    NO_FACE: "No face was found in the image.",
    MULTIPLE_FACES: "More than one face is in the image.",
    IDENTITY_MISMATCH: "The face does not look like the person in the photos.",
    SKIN_TONE_SHIFT: "The skin tone changed (lighter, darker or a different undertone).",
    FACE_NOT_FRONTAL: "The face is turned too far from the camera.",
    EYES_NOT_LEVEL: "The head is tilted: the eyes are not level.",
    EYE_COLOUR_CHANGED: "The eye colour changed.",
    EYES_CLOSED: "The eyes are closed or much less open than in the photo.",
    GAZE_OFF_CAMERA: "The eyes look away from the camera, unlike in the photo.",
    HAIR_CHANGED: "The hair changed: cut off, missing or recoloured.",
    BLURRY: "The face is blurrier than in the photo.",
}


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed check: a stable code and a message with the numbers behind it."""

    code: str
    message: str

    @classmethod
    def of(cls, code: str, detail: str = "") -> Failure:
        message = MESSAGES.get(code, code)
        return cls(code, f"{message} ({detail})" if detail else message)

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
