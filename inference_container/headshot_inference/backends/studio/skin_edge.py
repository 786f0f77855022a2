"""The skin's outline at output size (ears, jaw, neck): cut like a retoucher's pen path.

Part of the studio matte (matte.py calls `skin_edges` last): below the brows, where the nearby
person colour is skin's, the outline is opened and smoothed into a clean curve, choked inside
the photo's edge, and the outer skin takes the interior skin colour (no gold, red or white
rim); pale grey pockets of backdrop inside it and pale grey islands beside it go; back light
along the outline (a "light wrap") takes the nearby skin's colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from headshot_inference.backends.studio import filters

# Skin edges (ears, jaw, neck), in eye distances unless said otherwise: from SKIN_FROM_BROW
# above the eye line down; person colour within SKIN_DELTA (CIELAB) of the cheeks; the
# outline opened by SKIN_OPEN (obama3's ear: bokeh blobs ~0.05 d glued to it) and smoothed
# with SKIN_SMOOTH; choked SKIN_CHOKE output px (the old backdrop bleeds ~1 source px, 1.5-2
# output px at obama3's 1.6x) with a SKIN_FEATHER px feather; the outer SKIN_PULL of skin
# takes the colour of the skin SKIN_INTERIOR inside (averaged over SKIN_COLOUR_SIGMA).
SKIN_FROM_BROW: Final = 0.3
SKIN_DELTA: Final = 28.0
SKIN_OPEN: Final = 0.06
SKIN_CLOSE: Final = 0.1
SKIN_SMOOTH: Final = 0.025
SKIN_CHOKE: Final = 1.5
SKIN_FEATHER: Final = 1.6
SKIN_PULL: Final = 0.035
SKIN_INTERIOR: Final = 0.07
SKIN_COLOUR_SIGMA: Final = 0.06
# The skin's outline follows the colour estimate's own decision (as the clothes path does): the
# guided filter keeps backdrop the canvas matte took, such as a wedge of pale wall in the notch
# under an ear lobe (obama2) or beside a jaw (alex). Within SKIN_EAR_RIM eye distances of the
# canvas matte's ear skin its outline stays: a lit ear rim before a bright backdrop reads as
# backdrop to the estimate (obama3's helix went translucent).
SKIN_EAR_RIM: Final = 0.03
# Pockets of backdrop deep inside the mask: the canvas matte can hold a corner of wall between an
# ear lobe and the neck deeper than the edge band the colour estimate judges (obama2's right lobe,
# obama's left, biden's left: a pale corner on every backdrop). Pixels of the skin's region up to
# POCKET_DEPTH eye distances inside the outline that are the nearest backdrop's colour (within
# POCKET_DELTA, CIELAB), nearly grey (chroma under POCKET_GREY) and lighter than the cheeks are
# backdrop, where they reach the outside. Only pale grey: darker or coloured ones were alex's
# curls before a wall of their colour and obama2's ear tip before the red flag (which the
# closing below fills on purpose).
POCKET_DELTA: Final = 12.0
POCKET_GREY: Final = 12.0
POCKET_DEPTH: Final = 0.2
# Islands of alpha above ISLAND_ALPHA apart from the person below the eye line, pale grey as the
# pockets: a highlight on the backdrop the colour estimate read as part person where the nearby
# person colour is pale too (biden: a grey-white smudge beside his left jaw). Dark or coloured
# islands stay (the astronaut's helmet ring, cut at a seam).
ISLAND_ALPHA: Final = 0.05
# Back light along a skin outline (a "light wrap": obama3's neck below the ear, a blown line
# L* ~80 and nearly grey beside skin at ~53, ~8 photo px wide, wider than SKIN_PULL once
# upscaled): within WRAP_DEPTH eye distances inside a skin outline, pixels lighter than the cheeks
# by WRAP_LIGHTER (L*) and with under WRAP_GREYER of their chroma take the nearby skin's colour
# entirely. The person keeps its outline.
WRAP_DEPTH: Final = 0.08
# From this far below the eye line down (white or grey hair at the temples, at eye level, is
# as light and grey as the line: biden), and only lines this long (eye distances).
WRAP_FROM: Final = 0.25
WRAP_MIN_LENGTH: Final = 0.2
WRAP_LIGHTER: Final = 10.0
WRAP_GREYER: Final = 0.65
WRAP_DETAIL: Final = 6.0  # RGB levels of fine texture kept over it (skin pores; the line's edges are ~50)
# The skin's fine texture: the image minus its blur of this sigma (output px). OpenCV's kernel
# for float images reaches 4 sigma: a patch grown by that much blurs its inside like the whole.
DETAIL_SIGMA: Final = 1.5
DETAIL_REACH: Final = 6


@dataclass(frozen=True)
class HalfSize:
    """The matte's half-size maps the skin's outline is cut from."""

    photo: np.ndarray  # float32 RGB
    person: np.ndarray  # bool: the guided filter's person
    person_colour: np.ndarray  # float32 RGB: the nearby sure person's mean colour
    backdrop: np.ndarray  # bool: the sure backdrop
    ears: np.ndarray | None = None  # 0-1: the canvas matte's ear skin
    hair: np.ndarray | None = None  # bool: a fringe of hair beside the skin (hair_fringe.py)


def skin_edges(
    alpha: np.ndarray,
    fg: np.ndarray,
    image: np.ndarray,
    maps: HalfSize,
    eye_distance: float,
    eyes: tuple[float, float],
    cheek: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Alpha and colour of the skin outline (ears, jaw, neck) as a smooth, clean cut.

    `alpha` and `fg` (float32) are the matte's so far, at output size; `cheek` is the face's lit
    skin in CIELAB (`cheek_lab`). A fringe of hair beside
    the skin (`maps.hair`) keeps the matte's alpha and colour; the outline runs outside it.
    `fg` is changed in place; `alpha` is not."""
    guide_small, hard, f_small, ears_small = maps.photo, maps.person, maps.person_colour, maps.ears
    size = image.shape[1], image.shape[0]
    d_half = eye_distance / 2
    # Where the edge is skin: below the brows, and the nearby person colour close to the
    # face's own skin (hair, collars and suits are not; alex's curls reach the jaw).
    height = hard.shape[0]
    rows = (np.arange(height, dtype=np.float32) * 2 - (eyes[1] - SKIN_FROM_BROW * eye_distance)) / (0.1 * eye_distance)
    below = np.clip(rows, 0.0, 1.0)[:, None]
    lab = filters.lab(f_small)
    distance = np.sqrt(((lab - cheek) ** 2).sum(-1))
    skin_like = np.clip((SKIN_DELTA - distance) / (0.5 * SKIN_DELTA), 0.0, 1.0)
    weight_small = (below * skin_like).astype(np.float32)
    if ears_small is not None:
        # An ear in shadow is darker than the lit cheeks (obama2: L* 40 vs 70) yet skin;
        # the canvas matte found it by the ear's own colour. The edge just outside it too.
        reach = filters.disc(max(1, round(SKIN_CLOSE * d_half)))
        weight_small = np.maximum(weight_small, cv2.dilate(np.clip(ears_small * 2, 0.0, 1.0), reach))
    if maps.hair is not None:
        weight_small *= cv2.dilate(maps.hair.astype(np.uint8), filters.disc(1)) == 0
        hard = hard | maps.hair
    if float(weight_small.max()) < 0.05:
        return alpha, fg
    # The outline: opening drops backdrop blobs glued to the ear (chandelier bokeh), the
    # blur + threshold turns pixel steps into a curve of curvature radius >~ the sigma.
    # Closing first fills notches the segmentation bit into an ear whose colour is close to
    # the backdrop's (obama2's ear tip against the red flag); those pixels take the skin's
    # colour below, never the photo's (which is the backdrop there).
    solid = _skin_outline(hard, alpha, ears_small, d_half)
    skin_region = weight_small > 0.5
    if ears_small is not None:
        skin_region &= ears_small < 0.25  # the canvas matte's ears are left alone
    pocket = _backdrop_pockets(guide_small, solid, maps.backdrop, cheek, skin_region, d_half)
    solid = (solid & ~pocket).astype(np.uint8)
    closed = cv2.morphologyEx(solid, cv2.MORPH_CLOSE, filters.disc(max(1, round(SKIN_CLOSE * d_half))))
    closed[pocket] = 0
    closed = np.where(weight_small > 0.5, closed, solid)
    opened = cv2.morphologyEx(closed, cv2.MORPH_OPEN, filters.disc(max(1, round(SKIN_OPEN * d_half))))
    filled = cv2.resize((closed > solid).astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    sigma_small = max(1.0, SKIN_SMOOTH * d_half)
    smooth = cv2.resize(cv2.GaussianBlur(opened.astype(np.float32), (0, 0), sigma_small), size,
                        interpolation=cv2.INTER_LINEAR)  # fmt: skip
    # Near the 0.5 level a blurred step rises 1 / (sqrt(2 pi) sigma) per pixel.
    slope = 1.0 / (np.sqrt(2 * np.pi) * 2 * sigma_small)
    depth = (smooth - 0.5) / slope  # ~ pixels inside the smoothed outline
    weight = cv2.resize(weight_small, size, interpolation=cv2.INTER_LINEAR)
    # Only around the outline: deep inside the person nothing changes.
    weight *= (depth < SKIN_PULL * eye_distance + SKIN_CHOKE + 2).astype(np.float32)
    # 5. back light along the skin's outline takes the nearby skin's colour; only the skin's fine
    #    texture is kept over it, not the line's own edges. The outline itself stays.
    near_skin_edge = cv2.dilate(weight_small, filters.disc(max(1, round(WRAP_DEPTH * d_half)))) > 0.5
    near_skin_edge &= (np.arange(height) * 2 >= eyes[1] + WRAP_FROM * eye_distance)[:, None]
    found = _light_wrap(guide_small, cheek, opened, near_skin_edge, eye_distance, size)
    # Alpha and colour change only where the weight or the wrap is above 0: computed there
    # alone (elsewhere the blends below give back alpha and fg as they are).
    changed = weight > 0 if found is None else (weight > 0) | (found[0] > 0)
    at = np.flatnonzero(changed)
    detail = _detail_at(image, at)
    smooth_at, depth_at, w = filters.pixels(smooth, at), filters.pixels(depth, at), filters.pixels(weight, at)
    skin_alpha = np.clip((smooth_at - 0.5 - SKIN_CHOKE * slope) / (SKIN_FEATHER * slope) + 0.5, 0.0, 1.0)
    # Interior skin colour: the person well inside the edge (away from rim light and
    # backdrop), locally averaged; the pixel keeps its fine texture.
    interior = cv2.erode(opened, filters.disc(max(1, round(SKIN_INTERIOR * d_half)))).astype(np.float32)
    inner_colour = cv2.resize(filters.normalised_blur(guide_small, interior, SKIN_COLOUR_SIGMA * d_half), size,
                              interpolation=cv2.INTER_LINEAR)  # fmt: skip
    pull = np.clip(1.0 - (depth_at - SKIN_CHOKE) / (SKIN_PULL * eye_distance), 0.0, 1.0)
    pull = np.maximum(pull, np.clip(filters.pixels(filled, at) * 2, 0.0, 1.0))[..., None]
    clean = np.clip(filters.pixels(inner_colour, at) + detail, 0, 255)
    fg_at = filters.pixels(fg, at)
    skin_fg = fg_at * (1 - pull) + clean * pull
    fg_at = fg_at * (1 - w[..., None]) + skin_fg * w[..., None]
    if found is not None:
        wrap_weight, fill = found
        line = np.flatnonzero(filters.pixels(wrap_weight, at))  # of `at`'s pixels
        wrap = filters.pixels(wrap_weight, at[line])[..., None]
        texture = np.clip(detail[line], -WRAP_DETAIL, WRAP_DETAIL)
        fg_at[line] = fg_at[line] * (1 - wrap) + np.clip(filters.pixels(fill, at[line]) + texture, 0, 255) * wrap
    alpha_at = filters.pixels(alpha, at)
    alpha = alpha.astype(np.result_type(alpha, skin_alpha))
    alpha.reshape(-1)[at] = alpha_at * (1 - w) + skin_alpha * w
    fg.reshape(-1, 3)[at] = fg_at
    _drop_pale_islands(alpha, image, cheek, round(eyes[1]))
    return alpha, fg


def _skin_outline(hard: np.ndarray, alpha: np.ndarray, ears_small: np.ndarray | None, d_half: float) -> np.ndarray:
    """The person the skin's pen path starts from (half size, bool): what the guided filter kept
    (`hard`) and the colour estimate (`alpha`, output size) did not drop, but around the ears."""
    half = (hard.shape[1], hard.shape[0])
    outline: np.ndarray = hard & (cv2.resize(alpha, half, interpolation=cv2.INTER_AREA) > 0.5)
    if ears_small is not None:
        rim = filters.disc(max(1, round(SKIN_EAR_RIM * d_half)))
        outline |= hard & (cv2.dilate((ears_small > 0.25).astype(np.uint8), rim) > 0)
    return outline


def _backdrop_pockets(
    guide_small: np.ndarray,
    solid: np.ndarray,
    backdrop: np.ndarray,
    cheek: np.ndarray,
    skin_region: np.ndarray,
    d_half: float,
) -> np.ndarray:
    """Half size, bool: pockets of pale grey backdrop in `solid` within the skin's region, up to
    POCKET_DEPTH inside its outline, that reach the outside (POCKET_*; `cheek` in CIELAB). The colour of the
    nearest sure-backdrop pixel is the reference, not the local mean: beside biden's jaw the
    mean of his curtain and its highlights is neither."""
    depth = cv2.distanceTransform(solid.astype(np.uint8), cv2.DIST_L2, 3)
    at = np.flatnonzero(skin_region & (depth > 0) & (depth < POCKET_DEPTH * d_half))
    pocket = np.zeros(solid.shape, bool)
    if len(at) == 0:
        return pocket
    pixel = filters.lab(filters.pixels(guide_small, at)[:, None])[:, 0]
    # The nearest backdrop lies within the depth and the band beyond it: only that box is filled.
    ys, xs = np.divmod(at, solid.shape[1])
    reach = int(np.ceil(2 * POCKET_DEPTH * d_half)) + 1
    y0, x0 = max(0, int(ys.min()) - reach), max(0, int(xs.min()) - reach)
    y1, x1 = int(ys.max()) + 1 + reach, int(xs.max()) + 1 + reach
    if not backdrop[y0:y1, x0:x1].any():
        return pocket  # nothing to compare with (the frame's edge)
    nearest = filters.nearest_colour(guide_small[y0:y1, x0:x1], backdrop[y0:y1, x0:x1])
    backdrop_colour = filters.lab(nearest[ys - y0, xs - x0][:, None])[:, 0]
    like = _pale_grey(pixel, cheek) & (np.sqrt(((pixel - backdrop_colour) ** 2).sum(-1)) < POCKET_DELTA)
    like &= np.sqrt(((pixel - cheek) ** 2).sum(-1)) > SKIN_DELTA
    if not like.any():
        return pocket
    candidate = np.zeros(solid.shape, bool)
    candidate.reshape(-1)[at[like]] = True
    outside = ~solid
    _, labels = cv2.connectedComponents((candidate | outside).astype(np.uint8), connectivity=4)
    pocket = candidate & np.isin(labels, np.unique(labels[outside]))
    return pocket


def _drop_pale_islands(alpha: np.ndarray, image: np.ndarray, cheek: np.ndarray, eye_row: int) -> None:
    """Below the eye line, islands of alpha apart from the person whose photo colour is pale
    grey (POCKET_*: a highlight on the backdrop the colour estimate read as part person where
    the nearby person colour is pale too) become backdrop; `alpha` is changed in place."""
    part = alpha[max(0, eye_row) :]
    count, labels, stats, _ = cv2.connectedComponentsWithStats((part > ISLAND_ALPHA).astype(np.uint8), connectivity=8)
    if count <= 2:
        return
    attached = filters.attached_regions(labels, stats)  # the person and what reaches the eye line
    if attached.all():
        return
    label = labels.reshape(-1)
    at = np.flatnonzero(~attached[label])
    weight, label = part.reshape(-1)[at], label[at]
    total = np.maximum(np.bincount(label, weight, count), 1e-6)
    pixels = filters.pixels(image[max(0, eye_row) :], at)
    colour = np.stack([np.bincount(label, weight * channel, count) for channel in pixels.T], -1)
    island = filters.lab((colour / total[:, None])[:, None])[:, 0]
    pale = _pale_grey(island, cheek) & ~attached
    if pale.any():
        part[pale[labels]] = 0


def _pale_grey(lab: np.ndarray, cheek: np.ndarray) -> np.ndarray:
    """Per colour (CIELAB, (N, 3)): lighter than the cheeks and nearly grey (POCKET_GREY), as a
    lit wall or highlight on the backdrop is and skin is not."""
    pale: np.ndarray = (lab[:, 0] > cheek[0]) & (np.hypot(lab[:, 1], lab[:, 2]) < POCKET_GREY)
    return pale


def _detail_at(image: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(N, 1): the fine lightness detail (the image minus its DETAIL_SIGMA blur, the channels'
    mean) at the flat indices `at`.

    Only their bounding box, grown by the kernel's reach, is blurred: the same values there as
    blurring the whole image, at the box's share of the cost."""
    if len(at) == 0:
        return np.zeros((0, 1), np.float32)
    ys, xs = np.divmod(at, image.shape[1])
    y0, x0 = max(0, int(ys.min()) - DETAIL_REACH), max(0, int(xs.min()) - DETAIL_REACH)
    patch = image[y0 : int(ys.max()) + 1 + DETAIL_REACH, x0 : int(xs.max()) + 1 + DETAIL_REACH]
    blurred = cv2.GaussianBlur(patch, (0, 0), DETAIL_SIGMA)
    in_patch = (ys - y0) * blurred.shape[1] + (xs - x0)
    detail: np.ndarray = (filters.pixels(image, at) - filters.pixels(blurred, in_patch)).mean(-1, keepdims=True)
    return detail


def _light_wrap(
    guide_small: np.ndarray,
    cheek: np.ndarray,
    opened: np.ndarray,
    near_skin_edge: np.ndarray,
    eye_distance: float,
    size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray] | None:
    """(0-1 weight, the skin's colour to put there) at output size: the back-lit line along
    the skin's outline (see WRAP_DEPTH); None where there is none (most photos). `cheek` is
    the face's lit skin (CIELAB); `near_skin_edge` (half size, bool) where the outline is skin's.
    The colour is computed only around the line (the weight above 0), 0 far from it.

    The reference is the cheeks, not the colour just inside the edge: on a narrow neck that is
    itself greyed by the line. Collars and shirts are kept out by the skin-edge region (the nearby
    person colour must be skin's) and by WRAP_MIN_LENGTH. The colour put there is the nearby
    skin's, the line left out."""
    d_half = eye_distance / 2
    # Depth by distance transform: a blurred step's level says depth only within ~1 sigma of it.
    depth_small = cv2.distanceTransform(opened.astype(np.uint8), cv2.DIST_L2, 3)  # half-size px inside
    band = (depth_small > 0) & (depth_small < WRAP_DEPTH * d_half) & near_skin_edge
    if not band.any():
        return None
    pixel, reference = filters.lab(guide_small), cheek
    chroma = np.hypot(pixel[..., 1], pixel[..., 2])
    # The band is WRAP_DEPTH deep, so whatever lies in it is a line along the outline.
    wrap = band & (pixel[..., 0] > reference[0] + WRAP_LIGHTER)
    wrap &= chroma < WRAP_GREYER * float(np.hypot(reference[1], reference[2]))
    skin = (opened > 0) & ~wrap & (np.sqrt(((pixel - reference) ** 2).sum(-1)) < SKIN_DELTA)
    wrap &= cv2.dilate(skin.astype(np.uint8), filters.disc(max(1, round(WRAP_DEPTH * d_half)))) > 0
    # Lines, not specks: the tip of a collar where it meets the neck, or a tuft, is short.
    _, labels, stats, _ = cv2.connectedComponentsWithStats(wrap.astype(np.uint8), connectivity=8)
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    long_enough = extent >= WRAP_MIN_LENGTH * d_half
    long_enough[0] = False
    wrap = long_enough[labels]
    if not wrap.any():
        return None
    # Grown a half-size pixel: the line's edge pixels, averaged with the skin beside them, are lit too.
    grown = cv2.dilate(wrap.astype(np.uint8), filters.disc(1)) & band
    soft = cv2.GaussianBlur(grown.astype(np.float32), (0, 0), 0.7)
    weight: np.ndarray = cv2.resize(np.clip(soft * 2, 0.0, 1.0), size, interpolation=cv2.INTER_LINEAR)
    fill = filters.upsampled_normalised_blur(guide_small, skin.astype(np.float32), SKIN_COLOUR_SIGMA * d_half,
                                             size, weight > 0)  # fmt: skip
    return weight, fill


def cheek_lab(guide_small: np.ndarray, eyes: tuple[float, float], eye_distance: float) -> np.ndarray:
    """CIELAB of the median RGB of both cheeks (half-size image; `eyes` in output pixels)."""
    patches = []
    for side in (-0.45, 0.45):
        cx, cy = (eyes[0] + side * eye_distance) / 2, (eyes[1] + 0.55 * eye_distance) / 2
        r = max(1, round(0.12 * eye_distance / 2))
        x0, y0 = max(0, round(cx) - r), max(0, round(cy) - r)
        patches.append(guide_small[y0 : round(cy) + r, x0 : round(cx) + r].reshape(-1, 3))
    pixels = np.concatenate(patches)
    colour = np.median(pixels, axis=0) if len(pixels) else np.full(3, 150.0, np.float32)
    lab: np.ndarray = filters.lab(colour.astype(np.float32)[None, None])[0, 0]
    return lab
