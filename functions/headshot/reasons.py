"""Stable photo-check reason codes (docs/REASON_CODES.md) and their English messages.

The app localises from the code; the message is a sensible default. Codes are never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT_IMAGE = "corrupt_image"
    FILE_TOO_LARGE = "file_too_large"
    IMAGE_TOO_LARGE = "image_too_large"
    RESOLUTION_TOO_LOW = "resolution_too_low"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    FACE_CUT_OFF = "face_cut_off"
    FACE_NOT_FRONTAL = "face_not_frontal"
    BLURRY = "blurry"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    UNEVEN_LIGHTING = "uneven_lighting"
    EYES_CLOSED = "eyes_closed"
    NOT_LOOKING_AT_CAMERA = "not_looking_at_camera"
    DIFFERENT_PERSON = "different_person"
    DUPLICATE_PHOTO = "duplicate_photo"


REJECTION_MESSAGES: dict[Reason, str] = {
    Reason.UNSUPPORTED_FORMAT: "This file type is not supported. Upload a JPEG, PNG, WebP or HEIC photo.",
    Reason.CORRUPT_IMAGE: "The photo could not be read. It may be damaged or incomplete; try uploading it again.",
    Reason.FILE_TOO_LARGE: "The file is too large. Upload a smaller photo.",
    Reason.IMAGE_TOO_LARGE: "The photo has too many pixels. Upload a photo of at most 50 megapixels.",
    Reason.RESOLUTION_TOO_LOW: "The photo's resolution is too low. Use a photo from your phone's main camera.",
    Reason.NO_FACE: "No face was found. Make sure your face is clearly visible and the right way up.",
    Reason.MULTIPLE_FACES: "More than one face was found. Use a photo with only you in it.",
    Reason.FACE_TOO_SMALL: "Your face is too small in the photo. Move closer to the camera.",
    Reason.FACE_CUT_OFF: "Part of your face is cut off by the edge of the photo. Keep your whole head in frame.",
    Reason.FACE_NOT_FRONTAL: "Your face is turned or tilted too far. Look straight at the camera.",
    Reason.BLURRY: "The photo is blurry. Hold the camera steady and make sure your face is in focus.",
    Reason.TOO_DARK: "Your face is too dark. Take the photo in better light.",
    Reason.TOO_BRIGHT: "Your face is overexposed. Avoid direct sunlight or flash on your face.",
    Reason.UNEVEN_LIGHTING: "One side of your face is much darker than the other. Face the light source.",
    Reason.EYES_CLOSED: "Your eyes appear to be closed. Use a photo with your eyes open.",
    Reason.NOT_LOOKING_AT_CAMERA: "You are looking away from the camera. Use a photo looking into the lens.",
    Reason.DIFFERENT_PERSON: "This photo shows a different person from your other photos.",
    Reason.DUPLICATE_PHOTO: "This photo is nearly identical to another one you uploaded. Use a different photo.",
}

WARNING_MESSAGES: dict[Reason, str] = {
    Reason.RESOLUTION_TOO_LOW: "A higher-resolution photo would give better results.",
    Reason.MULTIPLE_FACES: "Other faces are visible; a photo with only you would be better.",
    Reason.FACE_TOO_SMALL: "A closer photo would give better results.",
    Reason.FACE_CUT_OFF: "Leave a little more space around your head.",
    Reason.FACE_NOT_FRONTAL: "A photo looking straight at the camera would give better results.",
    Reason.BLURRY: "A sharper photo would give better results.",
    Reason.TOO_DARK: "A photo in brighter light would give better results.",
    Reason.TOO_BRIGHT: "A photo in softer light would give better results.",
    Reason.UNEVEN_LIGHTING: "More even light on your face would give better results.",
    Reason.EYES_CLOSED: "Your eyes look half closed; a photo with your eyes fully open would be better.",
    Reason.NOT_LOOKING_AT_CAMERA: "A photo looking straight into the lens would give better results.",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """A reason code with its message, as the API, the CLI and webhooks show it."""

    code: Reason
    message: str

    @classmethod
    def rejection(cls, code: Reason) -> Finding:
        return cls(code, REJECTION_MESSAGES[code])

    @classmethod
    def warning(cls, code: Reason) -> Finding:
        return cls(code, WARNING_MESSAGES.get(code, REJECTION_MESSAGES[code]))

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}
