"""Rim-light healing: a blown, grey-white line along the cheeks and under the jaw.

A photo lit from behind (obama3: a chandelier behind the head) draws a thin, nearly white
line along the face's outline. Against the room it reads as light; once the backdrop is
replaced it reads as a cut-out error (a white crescent under the jaw). The line is found
and inpainted from the skin beside it, before the matte is cut:

1. the zone: a band inside the face outline (face mesh FACE_OVAL) below the eyes, and a
   band under the face where the neck's skin carries on underneath (never the room beside
   the neck, which would then be painted skin and matted in);
2. rim pixels: much lighter and much greyer than the face's own skin (median of the face
   away from its outline), in thin structures only (what survives an opening of
   THICK eye distances is a collar or the room), touching the outline;
3. the heal: the rim's low frequencies are replaced by the skin around it (a normalised
   blur of the skin-like pixels of the zone), half its fine texture is kept.

A photo without such a line is left as it was: nothing at all where no pixel qualifies
(alex-lacamoire), a few hundred pixels of bright room inside the mesh's outline at most
(obama: < 0.2 % of the photo). Thresholds were tuned on obama3 (rim L* 60-75, chroma 4-8; skin L* 43, chroma 29) and
checked on every shared photo for pixels changed where no rim is visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from headshot.face_regions import FACE_OVAL
from headshot.mesh import FaceMesh

ZONE_INSIDE: Final = 0.35  # eye distances inside the outline
ZONE_BELOW: Final = 0.3  # eye distances under the face
NECK_BELOW: Final = 0.25  # skin must carry on within this far under a healed pixel outside the face
LIGHTER: Final = 10.0  # L* above the face's skin
GREYER: Final = 0.65  # chroma under this share of the skin's
THICK: Final = 0.07  # eye distances: a wider bright region is not a rim line
HUG: Final = 0.12  # eye distances from the outline a rim line must reach
SKIN_LIKE_DELTA: Final = 22.0  # Lab distance from the face's skin still counted as skin
HEAL_SIGMA: Final = 0.12  # eye distances: how far the healing looks for skin
HEAL_GROW: Final = 0.02  # eye distances the rim's mask is grown and feathered by
DETAIL_KEPT: Final = 0.5
PAD_SIDES: Final = 0.6
PAD_BELOW: Final = 0.9
MIN_RIM_PIXELS: Final = 4


@dataclass(frozen=True, slots=True)
class RimLight:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the region looked at, in the image
    rim: np.ndarray  # bool, the box's rim pixels
    skin_like: np.ndarray  # bool, the box's pixels the healing may draw from


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)


def find_rim_light(image: np.ndarray, mesh: FaceMesh, to_image: float, eye_distance: float) -> RimLight | None:
    """The rim-light pixels along the face outline of `image` (RGB), or None when there is no face skin to go by."""
    d = eye_distance
    points = mesh.points[:, :2] * to_image
    oval = points[list(FACE_OVAL)]
    eye_y = float(points[[33, 263], 1].mean())
    x0, y0 = np.floor(oval.min(axis=0) - PAD_SIDES * d).astype(int)
    x1, y1 = np.ceil(oval.max(axis=0) + np.array([PAD_SIDES * d, PAD_BELOW * d])).astype(int)
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), image.shape[1]), min(int(y1), image.shape[0])
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    roi = image[y0:y1, x0:x1]
    outline = np.round(oval - np.array([x0, y0])).astype(np.int32)

    # 1. The zone: inside the outline below the eyes, and under the face.
    face = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillPoly(face, [outline], 1)
    inside = cv2.distanceTransform(face, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - face, cv2.DIST_L2, 5)
    rows = np.arange(roi.shape[0])[:, None]
    lower = rows + y0 > eye_y
    in_face = face.astype(bool)
    columns = np.any(in_face, axis=0)
    height = roi.shape[0]
    bottom = np.where(columns, height - 1 - np.argmax(face[::-1], axis=0), height)
    under_face = (rows > bottom[None, :]) & columns[None, :]
    zone = (in_face & lower & (inside < ZONE_INSIDE * d)) | (under_face & (outside < ZONE_BELOW * d))
    core = in_face & lower & (inside >= ZONE_INSIDE * d)
    if core.sum() < 64:
        return None

    # 2. Rim pixels: lighter and greyer than the face's skin, thin, touching the outline.
    lab = cv2.cvtColor(roi, cv2.COLOR_RGB2LAB).astype(np.float32)
    lightness, a, b = lab[..., 0] * (100 / 255), lab[..., 1] - 128, lab[..., 2] - 128
    skin_l, skin_a, skin_b = (float(np.median(channel[core])) for channel in (lightness, a, b))
    rim = zone & (lightness > skin_l + LIGHTER) & (np.hypot(a, b) < GREYER * float(np.hypot(skin_a, skin_b)))
    skin_like = np.sqrt((lightness - skin_l) ** 2 + (a - skin_a) ** 2 + (b - skin_b) ** 2) < SKIN_LIKE_DELTA
    reach = max(2, round(NECK_BELOW * d))
    skin_underneath = cv2.dilate(skin_like.astype(np.uint8), np.ones((reach, 1), np.uint8), anchor=(0, 0)) > 0
    rim &= in_face | skin_underneath
    rim &= ~(cv2.morphologyEx(rim.astype(np.uint8), cv2.MORPH_OPEN, _disk(max(1, round(THICK * d)))) > 0)
    line = np.zeros_like(face)
    cv2.polylines(line, [outline], True, 1, thickness=1)
    near_outline = cv2.dilate(line, _disk(max(1, round(HUG * d)))) > 0
    _, labels = cv2.connectedComponents(rim.astype(np.uint8), connectivity=8)
    touching = np.unique(labels[near_outline & rim])
    rim = np.isin(labels, touching[touching > 0])
    return RimLight((x0, y0, x1, y1), rim, (zone | core) & ~rim & skin_like)


def heal_rim_light(image: np.ndarray, mesh: FaceMesh, to_image: float, eye_distance: float) -> np.ndarray:
    """`image` with its rim light along the face outline inpainted from the skin beside it."""
    found = find_rim_light(image, mesh, to_image, eye_distance)
    if found is None or found.rim.sum() < MIN_RIM_PIXELS:
        return image
    # 3. The heal: low frequencies from the skin around, half the rim's own fine texture.
    sigma = max(1.0, HEAL_SIGMA * eye_distance)
    grow = max(1, round(HEAL_GROW * eye_distance))
    # Only around the rim: the blurs reach 3.5 sigma, nothing changes further out.
    margin = math.ceil(3.5 * sigma + 4 * grow)
    rows, columns = np.nonzero(found.rim)
    top, left = max(0, int(rows.min()) - margin), max(0, int(columns.min()) - margin)
    bottom, right = int(rows.max()) + margin + 1, int(columns.max()) + margin + 1
    rim, skin_like = found.rim[top:bottom, left:right], found.skin_like[top:bottom, left:right]
    x0, y0 = found.box[0] + left, found.box[1] + top
    x1, y1 = x0 + rim.shape[1], y0 + rim.shape[0]
    pixels = image[y0:y1, x0:x1].astype(np.float32)
    soft = cv2.GaussianBlur(cv2.dilate(rim.astype(np.uint8), _disk(grow)).astype(np.float32), (0, 0), grow)
    weight = skin_like.astype(np.float32)
    total = cv2.GaussianBlur(pixels * weight[..., None], (0, 0), sigma)
    share = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    skin_around = total / np.maximum(share, 1e-3)
    detail = pixels - cv2.GaussianBlur(pixels, (0, 0), max(1.0, sigma / 4))
    # Where no skin is near enough to draw from, the pixel stays as it was.
    amount = np.clip(soft, 0, 1)[..., None] * np.clip(share / 0.05, 0, 1)
    healed = image.copy()
    blended = pixels * (1 - amount) + (skin_around + DETAIL_KEPT * detail) * amount
    healed[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return healed
