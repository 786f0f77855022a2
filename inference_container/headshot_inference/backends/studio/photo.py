"""The studio backend's per-photo work, shared by every output of one photo (`prepare`).

1. a levelled work canvas around the eyes (framing.Canvas);
2. the person mask on it: selfie-segmenter prior + GrabCut + the face mesh (person_mask);
3. the feasible frames (framing): no missing body, whole hair, bounded upscale;
4. colour: white balance and levels under the skin guard; a rim light along the face
   outline healed first (rim).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from headshot.faces import eye_centres
from headshot_inference.backends import SourcePhoto
from headshot_inference.backends.studio import compose, person_mask, rim
from headshot_inference.backends.studio.framing import (
    VARIANT_ZOOMS,
    Candidates,
    Canvas,
    Framing,
    candidates,
    missing_body,
)
from headshot_inference.errors import UnprocessableError

# Work canvas side (pixels). 512 px gives ~53 px per eye distance: enough for GrabCut to
# follow curls; the guided filter restores the fine edges at output size.
WORK_SIDE: Final = 512
REFUSAL_CODE: Final = "photo_cannot_be_framed"


@dataclass(frozen=True, slots=True)
class Prepared:
    """What every output of one photo shares."""

    image: np.ndarray  # the photo (healed), reduced so that no output needs to downscale it
    scale: float  # `image` pixels per SourcePhoto.image pixel
    canvas: Canvas  # in `image` pixels
    alpha: np.ndarray  # float32 (WORK_SIDE, WORK_SIDE): person matte on the canvas
    ears: np.ndarray  # float32 (WORK_SIDE, WORK_SIDE): the ears GrabCut kept (1), soft-edged
    background: np.ndarray  # float32 RGB canvas: the photo's own background, filled
    lut: np.ndarray  # uint8 (256, 1, 3): colour correction
    frames: Candidates
    base: Framing | None  # None when the photo cannot be framed (frames.refusal says why)

    def framing(self, variant: int) -> Framing:
        if self.base is None:
            raise UnprocessableError(REFUSAL_CODE, f"the photo cannot be framed: {self.frames.refusal}")
        if variant == 0:
            return self.base
        return self.frames.best(VARIANT_ZOOMS[variant % len(VARIANT_ZOOMS)], around=self.base)


def prepare(photo: SourcePhoto) -> Prepared:
    left_eye, right_eye = eye_centres(photo.landmarks)
    axis = right_eye - left_eye
    eye_distance = float(np.hypot(*axis))
    roll = math.atan2(float(axis[1]), float(axis[0]))
    mesh = photo.face.mesh
    image = photo.image
    if mesh is not None:
        image = rim.heal_rim_light(image, mesh, photo.face_scale, eye_distance)

    canvas = Canvas.around((left_eye + right_eye) / 2, eye_distance, roll, WORK_SIDE)
    pixels = _warp(image, canvas.from_photo, WORK_SIDE)
    inside, photo_xy = _coverage(canvas.from_photo, image.shape[1], image.shape[0])
    if mesh is not None:
        to_canvas = canvas.from_photo @ np.diag([photo.face_scale, photo.face_scale, 1.0])
        face = person_mask.face_region_from_mesh(mesh, to_canvas, WORK_SIDE)
        ears = person_mask.ear_regions_from_mesh(mesh, to_canvas, WORK_SIDE, canvas.per_d)
    else:
        face = person_mask.face_region_from_eyes(canvas.eye, canvas.per_d, WORK_SIDE)
        ears = None
    face &= inside
    person = person_mask.person_mask(pixels, inside, face, canvas.per_d, canvas.eye[1], ears)
    ear_skin = np.zeros_like(person)
    if ears is not None:
        person, ear_skin = person_mask.ear_skin(pixels, person, ears & inside & ~face, canvas.per_d)
    missing = missing_body(person, inside, photo_xy, (image.shape[1], image.shape[0]))
    frames = candidates(canvas, person, missing, eye_distance)
    base = frames.best() if frames.refusal is None else None

    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 0.8)
    # The ears' skin: the output matte keeps it (the guided filter alone cuts an ear rim
    # whose colour is the backdrop's) and cuts its outline like the other skin edges.
    ears_alpha = cv2.GaussianBlur(ear_skin.astype(np.float32), (0, 0), 0.8)
    background = compose.fill_background(pixels, alpha, inside)
    lut = compose.colour_correction(photo.landmarks, image, pixels[person])

    # Reduce large photos once (area averaging) to the smallest output scale, so the
    # per-output warps only magnify (a minifying warp samples, and aliases).
    scale = 1.0
    if base is not None:
        smallest = min(frames.best(zoom, around=base).upscale for zoom in VARIANT_ZOOMS)
        smallest = min(smallest, base.upscale)
        if smallest < 0.9:
            scale = smallest / 0.9
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            scale = size[0] / photo.image.shape[1]
    canvas = Canvas(canvas.from_photo @ np.diag([1 / scale, 1 / scale, 1.0]), canvas.side, canvas.per_d, canvas.eye)
    return Prepared(image, scale, canvas, alpha, ears_alpha, background, lut, frames, base)


def _warp(image: np.ndarray, matrix: np.ndarray, side: int) -> np.ndarray:
    """warpAffine that area-averages first when it would minify (a warp only samples)."""
    scale = math.sqrt(abs(float(np.linalg.det(matrix[:2, :2]))))
    if scale < 0.75:
        height, width = image.shape[:2]
        size = (max(1, round(width * scale / 0.75)), max(1, round(height * scale / 0.75)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        fx, fy = size[0] / width, size[1] / height
        # cv2.resize maps pixel centres: x' = (x + 0.5) * f - 0.5.
        reduce = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]])
        matrix = matrix @ np.linalg.inv(reduce)
    # Replicated borders only feed the segmenter a plausible context; every pixel outside
    # the photo is backdrop (or refused as missing body) afterwards.
    warped: np.ndarray = cv2.warpAffine(
        image, matrix[:2], (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return warped


def _coverage(matrix: np.ndarray, width: int, height: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Canvas pixels inside the photo, and every canvas pixel's photo coordinates."""
    inverse = np.linalg.inv(matrix)
    ys, xs = np.mgrid[0:WORK_SIDE, 0:WORK_SIDE].astype(np.float32)
    src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    inside = (src_x >= -0.5) & (src_x <= width - 0.5) & (src_y >= -0.5) & (src_y <= height - 0.5)
    return inside, (src_x, src_y)


def first_framable(photos: Sequence[SourcePhoto]) -> tuple[int, Prepared]:
    """The first (best) photo that can be framed (photos come best first: render.py);
    UnprocessableError naming each one's reason when none can."""
    refusals = []
    for index, photo in enumerate(photos):
        prepared = prepare(photo)
        if prepared.base is not None:
            return index, prepared
        refusals.append({"photo": photo.name, "reason": prepared.frames.refusal})
    reasons = "; ".join(f"{r['photo']}: {r['reason']}" for r in refusals)
    raise UnprocessableError(
        REFUSAL_CODE,
        f"no photo can be framed as a headshot without inventing what it does not show ({reasons})",
        details={"photos": refusals},
    )
