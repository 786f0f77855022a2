"""Hair too thin for the mask beside skin (the temples): read against the hair's own colour.

Part of the studio matte (matte.py). Where a fringe of hair is thinner than the matte's sure-person
erosion, the nearby person colour F is the skin's: dark hair over a dark backdrop lies nowhere on
the line from the backdrop B to F, projects to ~0, and the fringe turns into a pale haze on a
light backdrop (obama2's left temple: the segmenter, GrabCut and the guided filter all dropped it).
The hair's colour H, sampled on the crown, explains those pixels: pixel = alpha k H + (1 - alpha) B,
the strand's shade k free (a strand in shadow is darker than the crown's mean, a lit one lighter).
Where that fits much better than the B -> F line and gives more alpha, the pixel is hair: its
alpha is raised and its colour is k H.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from headshot_inference.backends.studio import filters, skin_edge

# The hair's colour: sure-person pixels from HAIR_FROM eye distances above the eye line up,
# farther than skin_edge.SKIN_DELTA (CIELAB) from the cheeks, averaged over HAIR_SIGMA eye
# distances (at quarter size: it is smooth), and used only where they weigh HAIR_SUPPORT of
# that neighbourhood or more. Fewer sampled pixels than HAIR_MIN_PIXELS (quarter size): no hair
# to read against (a bald head, a hat).
HAIR_FROM: Final = 0.5
HAIR_SIGMA: Final = 0.3
HAIR_SUPPORT: Final = 0.005
HAIR_MIN_PIXELS: Final = 10
# Down to FRINGE_TO eye distances below the eye line, fading in over FRINGE_RAMP above it:
# sideburns reach the eye line; lower down the skin's pen path (skin_edge.py) cuts the outline.
FRINGE_TO: Final = 0.1
FRINGE_RAMP: Final = 0.1
# The strand's shade against the crown's mean colour: obama2's temple strands are 0.4-1.4.
# Darker reads shadow or backdrop as hair (a navy fold is 0.1-0.3 of brown hair).
SHADE_MIN: Final = 0.35
SHADE_MAX: Final = 1.6
# Only where the B -> F line misses the pixel by more than OFF_LINE (RGB) and the hair model
# misses it by under BETTER of that, and where hair and backdrop differ in hue (the cosine of
# their RGB vectors under SAME_HUE: above it a shade of the backdrop passes for hair).
OFF_LINE: Final = 12.0
BETTER: Final = 0.5
SAME_HUE: Final = 0.97
# Holes in the strands up to this radius (output px) are closed.
HOLE_RADIUS: Final = 2


@dataclass(frozen=True)
class Fringe:
    """The band pixels the hair model judged (`at`: indices into the band's pixel arrays), which
    of them it read as hair (`raised`, bool (N,)), their alpha (N,) (the estimate's where not
    raised) and the strands' colour (N, 3)."""

    at: np.ndarray
    raised: np.ndarray
    alpha: np.ndarray
    colour: np.ndarray


def fringe(
    guide_small: np.ndarray,
    sure_fg: np.ndarray,
    eyes: tuple[float, float],
    eye_distance: float,
    band: tuple[np.ndarray, int],
    colours: tuple[np.ndarray, np.ndarray, np.ndarray],
    estimated: np.ndarray,
    haze: float,
    cheek: np.ndarray,
) -> Fringe | None:
    """The hair fringe among the matte's band pixels, or None.

    `guide_small` and `sure_fg` are the matte's half-size photo and sure person; `band` the band
    pixels' flat output indices and the output's width, `colours` their (image, F, B) colours
    (N, 3), `estimated` (N,) the matte's alpha there and `haze` the alpha the matte drops as
    haze, `cheek` the face's lit skin in CIELAB (skin_edge.cheek_lab). Only pixels beside skin
    (F within skin_edge.SKIN_DELTA of the cheeks), from FRINGE_TO below the eye line up, near the
    crown's hair."""
    crown = _crown_hair(guide_small, sure_fg, cheek, int((eyes[1] - HAIR_FROM * eye_distance) / 4))
    if crown is None:
        return None
    quarter, sample = crown
    in_band, width = band
    rows, columns = np.divmod(in_band, width)
    down = (rows - eyes[1]) / eye_distance
    sigma = HAIR_SIGMA * eye_distance / 4
    support = cv2.GaussianBlur(sample, (0, 0), sigma)
    at_quarter = np.minimum(rows // 4, quarter.shape[0] - 1), np.minimum(columns // 4, quarter.shape[1] - 1)
    at = np.flatnonzero((down < FRINGE_TO) & (support[at_quarter] >= HAIR_SUPPORT))
    image, f, b = colours
    at = at[_distance(filters.lab(f[at][:, None])[:, 0], cheek) < skin_edge.SKIN_DELTA]
    if len(at) == 0:
        return None
    hair = filters.normalised_blur(quarter, sample, sigma)[at_quarter[0][at], at_quarter[1][at]]
    image, f, b = image[at], f[at], b[at]
    alpha, shade, miss = _hair_over_backdrop(image, hair, b)
    off_line = _distance_to_segment(image, b, f)
    alpha = np.clip((alpha - haze) / (1 - haze), 0.0, 1.0)
    cosine = (hair * b).sum(-1) / (np.linalg.norm(hair, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-3)
    raised = (off_line > OFF_LINE) & (miss < BETTER * off_line) & (cosine < SAME_HUE)
    raised &= (shade >= SHADE_MIN) & (shade <= SHADE_MAX) & (alpha > estimated[at])
    # Fading out toward FRINGE_TO.
    fade = np.clip((FRINGE_TO - down[at]) / FRINGE_RAMP, 0.0, 1.0)
    kept = estimated[at]
    alpha = np.where(raised, kept + (alpha - kept) * fade, kept)
    colour = hair * np.clip(shade, SHADE_MIN, SHADE_MAX)[:, None]
    return Fringe(at, raised, alpha, np.clip(colour, 0, 255))


def _crown_hair(
    guide_small: np.ndarray, sure_fg: np.ndarray, cheek: np.ndarray, top: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(the photo at quarter size, the hair's pixels there as weights 0/1): sure person above
    quarter-size row `top`, not skin-coloured (`cheek` in CIELAB); None with too few."""
    if top <= 0:
        return None
    quarter_size = (guide_small.shape[1] // 2, guide_small.shape[0] // 2)
    quarter = cv2.resize(guide_small, quarter_size, interpolation=cv2.INTER_AREA)
    sure = cv2.resize(sure_fg, quarter_size, interpolation=cv2.INTER_AREA) > 0.99
    sample = np.zeros(quarter.shape[:2], np.float32)
    sample[:top] = sure[:top] & (_distance(filters.lab(quarter[:top]), cheek) > skin_edge.SKIN_DELTA)
    if sample.sum() < HAIR_MIN_PIXELS:
        return None
    return quarter, sample


def apply(alpha: np.ndarray, hair: Fringe, in_band: np.ndarray) -> np.ndarray:
    """Puts the fringe's alpha into `alpha` (output size, in place) and closes the strands'
    small holes (HOLE_RADIUS px: dark pixels the model could not tell from a shade of the
    backdrop) near raised pixels; returns the indices (into `hair.at`) of the pixels whose alpha
    rose: the strands."""
    judged = in_band[hair.at]
    before = filters.pixels(alpha, judged)
    alpha.reshape(-1)[judged] = hair.alpha
    ys, xs = np.divmod(judged, alpha.shape[1])
    reach = HOLE_RADIUS + 1
    y0, x0 = max(0, int(ys.min()) - reach), max(0, int(xs.min()) - reach)
    patch = alpha[y0 : int(ys.max()) + 1 + reach, x0 : int(xs.max()) + 1 + reach]
    disc = filters.disc(HOLE_RADIUS)
    closed = cv2.morphologyEx(patch, cv2.MORPH_CLOSE, disc)[ys - y0, xs - x0]
    raised = np.zeros(patch.shape, np.uint8)
    raised[ys[hair.raised] - y0, xs[hair.raised] - x0] = 1
    near = cv2.dilate(raised, disc)[ys - y0, xs - x0] > 0
    alpha.reshape(-1)[judged] = np.where(near, np.maximum(hair.alpha, closed), hair.alpha)
    strands: np.ndarray = np.flatnonzero(filters.pixels(alpha, judged) > before)
    return strands


def _hair_over_backdrop(
    image: np.ndarray, hair: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha, shade k, RGB miss) of the least-squares fit pixel = u H + v B (N, 3 each):
    alpha = 1 - v, k = u / alpha (0 where alpha is ~0)."""
    hh, hb, bb = (hair * hair).sum(-1), (hair * b).sum(-1), (b * b).sum(-1)
    hp, bp = (hair * image).sum(-1), (b * image).sum(-1)
    det = hh * bb - hb * hb + 1e-3
    u = (bb * hp - hb * bp) / det
    v = (hh * bp - hb * hp) / det
    miss = np.sqrt(((image - u[:, None] * hair - v[:, None] * b) ** 2).sum(-1))
    alpha = 1 - v
    shade = np.where(alpha > 0.05, u / np.maximum(alpha, 0.05), 0.0)
    return np.clip(alpha, 0.0, 1.0), shade, miss


def _distance_to_segment(image: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """RGB distance of each pixel (N, 3) from the segment start -> end."""
    span = end - start
    t = np.clip(((image - start) * span).sum(-1) / ((span * span).sum(-1) + 1e-3), 0.0, 1.0)
    return _distance(image, start + t[:, None] * span)


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    distance: np.ndarray = np.sqrt(((a - b) ** 2).sum(-1))
    return distance
