"""Tufts of backdrop on the hair's outline: a shadowed gap or fold of the wall the matte read as hair.

Part of the studio matte (matte.py). A dark gap between two out-of-focus lights behind the head
(obama3's right temple: tan, L* 46-55, between cream bokeh discs) is darker than the local
backdrop mean B, so it projects onto the B -> F line as person and stands off the head as a
tuft. Its colour gives it away: measured from the person colour F, its chroma goes past the
backdrop's own, in the backdrop's direction (more backdrop-hued than the backdrop). Hair over a
backdrop lies between F and B; a rim light goes another way. Where most of a thin protrusion of
the outline above the eye line is such colour, it is cut along the outline's smooth curve.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from headshot_inference.backends.studio import filters

# A protrusion is what opening the outline (alpha > 0.5) with a disc of TUFT_OPEN eye distances
# removes: obama3's tuft stands 0.07 d off the head, and its root is thicker than 0.04 d.
TUFT_OPEN: Final = 0.06
# A pixel is backdrop-hued where its chroma (CIELAB a*, b*) lies farther than FROM_PERSON from
# F's and goes past B's by BEYOND of the F -> B chroma step, and F and B differ in chroma by
# MIN_CHROMA_STEP or more (below it the direction is noise). obama3's tuft (a step of 8-12):
# 1.5 steps along at its median pixel, 1.9 at the 90th percentile, 16-20 from F; 68 % of it is
# backdrop-hued. Its hair's edge and blue rim light go the other way.
BEYOND: Final = 1.3
FROM_PERSON: Final = 12.0
MIN_CHROMA_STEP: Final = 4.0
# A protrusion mostly (TUFT_SHARE of its pixels) backdrop-hued is cut: on the shared photos
# only obama3's tuft and three specks of obama's coily temple (19 px or less) are.
TUFT_SHARE: Final = 0.5
# The cut reaches CUT_REACH px around the tuft (its soft rim) and is feathered like a pen path.
CUT_REACH: Final = 3
CUT_FEATHER: Final = 1.0


def cut(
    alpha: np.ndarray,
    band: tuple[np.ndarray, int],
    colours: tuple[np.ndarray, np.ndarray, np.ndarray],
    eye_row: float,
    eye_distance: float,
) -> np.ndarray:
    """`alpha` (output size) with the backdrop tufts above `eye_row` cut; `band` is the matte's
    band pixels' flat indices and the output's width, `colours` their (image, F, B) (N, 3)."""
    in_band, width = band
    image, f, b = colours
    above = np.flatnonzero(in_band // width < eye_row)
    if len(above) == 0:
        return alpha
    hued = _backdrop_hued(*(x[above] for x in (image, f, b)))
    if not hued.any():
        return alpha
    radius = max(1, round(TUFT_OPEN * eye_distance))
    # The opening sees past the eye line (a tuft's root may sit on it); tufts end there.
    rows = min(alpha.shape[0], int(eye_row) + 2 * radius + 1)
    hard = (alpha[:rows] > 0.5).astype(np.uint8)
    opened = cv2.morphologyEx(hard, cv2.MORPH_OPEN, filters.disc(radius))
    protrusions = hard & (cv2.dilate(opened, filters.disc(1)) == 0)
    protrusions[max(0, int(eye_row)) :] = 0
    count, labels = cv2.connectedComponents(protrusions)
    if count <= 1:
        return alpha
    marked = np.zeros(hard.shape, np.float32)
    marked.reshape(-1)[in_band[above[hued]]] = 1.0
    share = np.bincount(labels.ravel(), marked.ravel(), count) / np.maximum(np.bincount(labels.ravel(), None, count), 1)
    tufts = (share >= TUFT_SHARE)[labels] & (labels > 0)
    if not tufts.any():
        return alpha
    reach = cv2.dilate(tufts.astype(np.uint8), filters.disc(CUT_REACH)).astype(np.float32)
    zone = cv2.GaussianBlur(reach, (0, 0), CUT_FEATHER)
    path = cv2.GaussianBlur(opened.astype(np.float32), (0, 0), CUT_FEATHER)
    out = alpha.copy()
    out[:rows] = alpha[:rows] * (1 - zone) + np.minimum(alpha[:rows], path) * zone
    return out


def _backdrop_hued(image: np.ndarray, f: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether each pixel's chroma goes past the backdrop's, seen from the person's (N, 3 RGB each)."""
    chroma = [filters.lab(x[:, None])[:, 0, 1:] for x in (image, f, b)]
    step = chroma[2] - chroma[1]
    offset = chroma[0] - chroma[1]
    length = np.sqrt((step * step).sum(-1))
    along = (offset * step).sum(-1) / np.maximum(length * length, 1e-3)
    hued: np.ndarray = (
        (length >= MIN_CHROMA_STEP) & (along > BEYOND) & (np.sqrt((offset * offset).sum(-1)) > FROM_PERSON)
    )
    return hued
