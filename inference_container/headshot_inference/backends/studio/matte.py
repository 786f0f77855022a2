"""The person's matte at output size (per image), from the canvas mask (person_mask.py).

The upsampled mask is snapped to the photo's edges with a guided filter, and the
foreground colour at soft edges is re-estimated (blur fusion) so hair shows no fringe of
the old background on any new backdrop; skin edges are cut like a retoucher's pen path.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from headshot_inference.backends.studio import filters

# Output-size refinement: guided filter at half size (radius in half-size pixels).
GUIDED_RADIUS: Final = 4
GUIDED_EPS: Final = 2e-3
# The unsure band around the mask's edge, in output eye distances inward and outward
# (hair wisps reach ~0.1 d past the segmenter's outline on obama and biden), and the
# reach of the local colour means.
BAND_INNER: Final = 0.04
BAND_OUTER: Final = 0.08
LOCAL_COLOUR_SIGMA: Final = 0.08
# F and B closer than this (RGB distance) cannot tell hair from wall; the colour estimate
# takes over fully SEPARATION_RAMP above it (alex's curls on his wall: ~15; biden ~120).
MIN_SEPARATION: Final = 25.0
SEPARATION_RAMP: Final = 35.0
# A busy backdrop: where the backdrop's local spread (RGB standard deviation within
# LOCAL_COLOUR_SIGMA) exceeds BUSY_RATIO of the person-backdrop separation (full effect
# BUSY_RAMP above), its local mean is neither of its colours, and a pixel of the darker one
# reads as part person: obama2's left shoulder under the edge of the navy flag and a pale
# stripe (spread/separation 1-10 there) got a grey tick and a smear. From BUSY_FROM eye
# distances below the eye line (shoulders) the edge is cut crisp there. Higher up it is
# left alone: obama's edge band before his window and curtains reads 0.8-1.2 at its 90th-95th
# percentile, and his coily temples lost width when cut there too.
BUSY_RATIO: Final = 0.8
BUSY_RAMP: Final = 0.4
BUSY_FROM: Final = 1.5
# Above the crown (from CROWN_FROM eye distances above the eye line), where the backdrop is
# busy (CROWN_BUSY_RATIO, full effect CROWN_BUSY_RAMP above), a pixel is person only as far
# as it also differs from its nearest backdrop pixel's colour (smoothed NEAREST_SIGMA
# half-size px): obama2's navy flag meeting a pale stripe above his hair projected a grey
# tick onto the mean of the two (0.65-1.1 there). Hair strands over one backdrop colour keep
# their alpha (the nearest is the mean there); on the shared photos it took 2-3 wisps off
# obama's and biden's crowns and left their hair measures unchanged. Not at the temples:
# obama's grey coily temples before his dark red curtains are as dark as the curtain, and
# narrowed.
CROWN_FROM: Final = 1.4
CROWN_BUSY_RATIO: Final = 0.3
CROWN_BUSY_RAMP: Final = 0.2
NEAREST_SIGMA: Final = 1.5
# Estimated alpha below this is haze, not hair (the grey wisps above obama's hair on white).
HAZE: Final = 0.15
# Below this alpha a strand's colour fades to grey (its chroma is the old backdrop's).
STRAND_CHROMA_FROM: Final = 0.8
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
# Clothes edges (shoulders, collars), in eye distances from the eye line and the eye midpoint:
# below CLOTHES_BESIDE_FROM beside the face (farther than CLOTHES_BESIDE out) and below
# CLOTHES_FROM everywhere, ramped over CLOTHES_RAMP. A suit against a busy backdrop (obama2's
# flag, obama3's room) projects to partial alpha 4-8 px wide there: a grey smear on the new
# backdrop. Clothes are cut like a pen path instead, CLOTHES_FEATHER px soft. Hair hangs
# lower beside the face than the face ends (alex's curls: ~1.7 d below the eye line, ~1.8 d
# out), so the zone beside starts below that; a shoulder raised above it stays a hair edge
# (obama2's right shoulder, ~1.5 d at the frame edge). Hair longer than 1.9 d is cut crisp
# there (no such photo in the shared set).
CLOTHES_BESIDE_FROM: Final = 1.9
CLOTHES_BESIDE: Final = 1.0
CLOTHES_FROM: Final = 2.2
CLOTHES_RAMP: Final = 0.1
CLOTHES_FEATHER: Final = 0.8
# The cut path is opened with a disc of CLOTHES_OPEN eye distances, and only the person's main
# region kept: shreds of a backdrop object touching the shoulder (obama3: a grey-blue lamp,
# 0.02-0.08 d) are not the person, and a shoulder's outline is a gentle curve.
CLOTHES_OPEN: Final = 0.1


def matte(
    alpha: np.ndarray,
    photo: np.ndarray,
    eye_distance: float,
    eyes: tuple[float, float] | None = None,
    ears: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, foreground RGB float32) at output size from the upsampled canvas mask.

    1. the mask is snapped to the photo's edges with a colour guided filter (half size);
    2. a band around its 0.5 contour is re-estimated from the local colours: the nearby
       solid person colour F and backdrop colour B (normalised blurs of the sure regions),
       alpha = the projection of the pixel onto the line B -> F. Where F and B differ
       (white hair on a blue curtain, dark hair on a window) this follows single strands
       and drops the old backdrop; where they do not (dark curls on a dark wall) the
       guided-filter alpha stays; faint haze (alpha < HAZE) is dropped; where the backdrop
       is busy for its contrast with the person, the edge is cut crisp at shoulder height,
       and above the crown a pixel must also differ from its nearest backdrop colour;
    3. the foreground colour is F plus the pixel's own lightness detail weighted by alpha
       (blur fusion, Forte & Pitie 2021, with the detail's chroma dropped: a strand keeps
       its light and shade, never the old backdrop's colour) wherever alpha can be partial;
    `ears` (output size, 0-1) are the ears the canvas matte kept: the guided filter may not
    cut into them.
    4. skin edges (`eyes` = the eye midpoint in output pixels: below the brows, where the
       person colour is skin-like: ears, jaw, neck) are cut like a retoucher's pen path: the
       outline (the estimate's decision; the canvas matte's around the ears) opened and
       smoothed into a clean curve, choked SKIN_CHOKE px inside the photo's edge with a
       SKIN_FEATHER px feather, and the last SKIN_PULL of skin takes the interior skin
       colour (with the pixel's fine texture): no gold, red or white rim, no wedge of wall;
    5. back light along those skin edges (a blown, grey line: WRAP_*) takes the nearby skin's
       colour; the outline stays.
    """
    size = photo.shape[1], photo.shape[0]
    half = (size[0] // 2, size[1] // 2)
    guide_small = cv2.resize(photo, half, interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha_small = cv2.resize(alpha, half, interpolation=cv2.INTER_AREA)
    q = filters.guided_filter(guide_small / 255.0, alpha_small, GUIDED_RADIUS, GUIDED_EPS)
    ears_small = None
    if ears is not None:
        # An ear rim the colour of the backdrop behind it (obama2's helix before a beige
        # face) is lost to the guided filter; the canvas matte's ear skin stays.
        ears_small = cv2.resize(ears, half, interpolation=cv2.INTER_AREA)
        q = np.maximum(q, alpha_small * ears_small)
    hard = q > 0.5
    inner = max(1, round(BAND_INNER * eye_distance / 2))
    outer = max(1, round(BAND_OUTER * eye_distance / 2))
    sure_fg = (cv2.erode(hard.astype(np.uint8), filters.disc(inner)) > 0).astype(np.float32)
    sure_bg = (cv2.dilate(hard.astype(np.uint8), filters.disc(outer)) == 0).astype(np.float32)
    sigma = LOCAL_COLOUR_SIGMA * eye_distance / 2
    f_small = filters.normalised_blur(guide_small, sure_fg, sigma)
    b_small = filters.normalised_blur(guide_small, sure_bg, sigma)
    # How much the backdrop varies around each pixel (RGB standard deviation, same weights).
    b_square = filters.normalised_blur(guide_small * guide_small, sure_bg, sigma)
    b_spread_small = np.sqrt(np.maximum(b_square - b_small * b_small, 0).sum(-1))
    up = cv2.INTER_LINEAR
    f_local = cv2.resize(f_small, size, interpolation=up)
    b_local = cv2.resize(b_small, size, interpolation=up)
    q = np.clip(cv2.resize(q, size, interpolation=up), 0.0, 1.0)
    band_small = (1 - sure_fg - sure_bg).astype(np.uint8)
    band = cv2.resize(band_small.astype(np.float32), size, interpolation=up) > 0
    image = photo.astype(np.float32)
    # The per-pixel estimates run only where they are used (the band, and the pixels near it
    # whose colour is re-estimated): a fifth of the output or less.
    in_band = np.flatnonzero(band)
    alpha_out: np.ndarray = (q > 0.5).astype(np.float32)
    spread = cv2.resize(b_spread_small, size, interpolation=up)
    image_px, f_px, b_px, q_px, spread_px = (_pixels(x, in_band) for x in (image, f_local, b_local, q, spread))
    # How busy the backdrop is for its contrast with the person (BUSY_*, CROWN_*).
    busyness = spread_px / np.maximum(np.sqrt(((f_px - b_px) ** 2).sum(-1)), 1.0)
    down = _eye_distances_below(in_band // size[0], eyes, eye_distance)
    at_shoulders = _ramp(busyness, BUSY_RATIO, BUSY_RAMP) * _ramp(down, BUSY_FROM, CLOTHES_RAMP)
    estimated = _estimated_alpha(image_px, f_px, b_px, q_px, at_shoulders)
    at_crown = _ramp(busyness, CROWN_BUSY_RATIO, CROWN_BUSY_RAMP) * _ramp(-down, CROWN_FROM, CLOTHES_RAMP)
    if at_crown.any():
        b_near_px = _pixels(_nearest_backdrop(guide_small, sure_bg, size), in_band)
        beside_nearest = _estimated_alpha(image_px, f_px, b_near_px, q_px, np.zeros_like(at_crown))
        estimated = estimated * (1 - at_crown) + np.minimum(estimated, beside_nearest) * at_crown
    alpha_out.reshape(-1)[in_band] = estimated
    alpha_out = cv2.GaussianBlur(alpha_out, (0, 0), 0.6)
    if eyes is not None:
        clothes = _clothes_zone(alpha_out.shape, eyes, eye_distance)
        # The estimate's own decision (it drops backdrop the guided filter let in), made crisp.
        path = _clothes_path(alpha_out > 0.5, clothes, eye_distance)
        cut = cv2.GaussianBlur(path.astype(np.float32), (0, 0), CLOTHES_FEATHER)
        alpha_out = alpha_out * (1 - clothes) + cut * clothes
    # The decontaminated colour wherever alpha can be partial, the blur's spill included.
    soft = np.flatnonzero(cv2.dilate(band.astype(np.uint8), filters.disc(2)))
    fg = image.copy()
    fg.reshape(-1, 3)[soft] = _fused_colour(*(_pixels(x, soft) for x in (image, f_local, b_local, alpha_out)))
    if eyes is not None:
        alpha_out, fg = _skin_edges(alpha_out, fg, image, hard, f_small, guide_small, eye_distance, eyes, ears_small)
    return alpha_out, fg


def _pixels(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The pixels at the flat `index` of an (H, W) or (H, W, C) array: (N,) or (N, C)."""
    # np.take gathers rows ~3x faster than fancy indexing.
    pixels: np.ndarray = np.take(array.reshape(-1, *array.shape[2:]), index, axis=0)
    return pixels


def _estimated_alpha(image: np.ndarray, f: np.ndarray, b: np.ndarray, q: np.ndarray, crisp: np.ndarray) -> np.ndarray:
    """Alpha from the local colours (pixels (N, 3); q (N,) the guided filter's alpha): the
    pixel's projection onto the line B -> F where they differ, q where they do not; where
    `crisp` (N,) is 1, q's own decision (cut crisp)."""
    span = f - b
    separation = np.sqrt((span * span).sum(-1))
    projected = np.clip(((image - b) * span).sum(-1) / (separation * separation + 1e-3), 0.0, 1.0)
    trust = np.clip((separation - MIN_SEPARATION) / SEPARATION_RAMP, 0.0, 1.0) * (1 - crisp)
    q = (1 - crisp) * q + crisp * (q > 0.5)
    estimated = trust * projected + (1 - trust) * q
    # Haze: the projection reads a few percent of F into a backdrop that is not uniform
    # (grey wisps over obama's window, biden's curtain folds); real strands are denser.
    alpha: np.ndarray = np.clip((estimated - HAZE) / (1 - HAZE), 0.0, 1.0)
    return alpha


def _nearest_backdrop(guide_small: np.ndarray, sure_bg: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """At output size: the colour of each pixel's nearest sure-backdrop pixel (half-size
    Voronoi fill, smoothed over NEAREST_SIGMA half-size pixels): one side of a backdrop edge,
    never the mean of both."""
    backdrop = sure_bg > 0
    if not backdrop.any():
        return cv2.resize(guide_small, size, interpolation=cv2.INTER_LINEAR)
    _, labels = cv2.distanceTransformWithLabels(
        (~backdrop).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    colours = np.zeros((int(labels.max()) + 1, 3), np.float32)
    colours[labels[backdrop]] = guide_small[backdrop]
    nearest = cv2.GaussianBlur(colours[labels], (0, 0), NEAREST_SIGMA)
    filled: np.ndarray = cv2.resize(nearest, size, interpolation=cv2.INTER_LINEAR)
    return filled


def _fused_colour(image: np.ndarray, f: np.ndarray, b: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The person's own colour at partial alpha (pixels (N, 3); alpha (N,)): blur fusion."""
    a = alpha[..., None]
    residual = image - a * f - (1 - a) * b
    # Only the detail's lightness: its chroma is the old backdrop's (biden's blue line).
    residual = residual.mean(-1, keepdims=True)
    fused = np.clip(f + a * a * residual, 0, 255)
    # A thin strand's colour is mostly what shows through it: the local person colour F is
    # itself tinted by the old backdrop there (biden's white hair over the blue curtain), so
    # the chroma fades with alpha toward the strand's own grey.
    grey = fused.mean(-1, keepdims=True)
    colour: np.ndarray = grey + (fused - grey) * np.clip(a / STRAND_CHROMA_FROM, 0.0, 1.0)
    return colour


def _skin_edges(
    alpha: np.ndarray,
    fg: np.ndarray,
    image: np.ndarray,
    hard: np.ndarray,
    f_small: np.ndarray,
    guide_small: np.ndarray,
    eye_distance: float,
    eyes: tuple[float, float],
    ears_small: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Alpha and colour of the skin outline (ears, jaw, neck) as a smooth, clean cut.

    `fg` (float32, the matte's own) is changed in place; `alpha` is not."""
    size = image.shape[1], image.shape[0]
    d_half = eye_distance / 2
    # Where the edge is skin: below the brows, and the nearby person colour close to the
    # face's own skin (hair, collars and suits are not; alex's curls reach the jaw).
    height = hard.shape[0]
    rows = (np.arange(height, dtype=np.float32) * 2 - (eyes[1] - SKIN_FROM_BROW * eye_distance)) / (0.1 * eye_distance)
    below = np.clip(rows, 0.0, 1.0)[:, None]
    cheek = _cheek_colour(guide_small, eyes, eye_distance)
    lab = filters.lab(f_small)
    distance = np.sqrt(((lab - filters.lab(cheek[None, None]).reshape(1, 1, 3)) ** 2).sum(-1))
    skin_like = np.clip((SKIN_DELTA - distance) / (0.5 * SKIN_DELTA), 0.0, 1.0)
    weight_small = (below * skin_like).astype(np.float32)
    if ears_small is not None:
        # An ear in shadow is darker than the lit cheeks (obama2: L* 40 vs 70) yet skin;
        # the canvas matte found it by the ear's own colour. The edge just outside it too.
        reach = filters.disc(max(1, round(SKIN_CLOSE * d_half)))
        weight_small = np.maximum(weight_small, cv2.dilate(np.clip(ears_small * 2, 0.0, 1.0), reach))
    if float(weight_small.max()) < 0.05:
        return alpha, fg
    # The outline: opening drops backdrop blobs glued to the ear (chandelier bokeh), the
    # blur + threshold turns pixel steps into a curve of curvature radius >~ the sigma.
    # Closing first fills notches the segmentation bit into an ear whose colour is close to
    # the backdrop's (obama2's ear tip against the red flag); those pixels take the skin's
    # colour below, never the photo's (which is the backdrop there).
    solid = _skin_outline(hard, alpha, ears_small, d_half).astype(np.uint8)
    closed = cv2.morphologyEx(solid, cv2.MORPH_CLOSE, filters.disc(max(1, round(SKIN_CLOSE * d_half))))
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
    smooth_at, depth_at, w = _pixels(smooth, at), _pixels(depth, at), _pixels(weight, at)
    skin_alpha = np.clip((smooth_at - 0.5 - SKIN_CHOKE * slope) / (SKIN_FEATHER * slope) + 0.5, 0.0, 1.0)
    # Interior skin colour: the person well inside the edge (away from rim light and
    # backdrop), locally averaged; the pixel keeps its fine texture.
    interior = cv2.erode(opened, filters.disc(max(1, round(SKIN_INTERIOR * d_half)))).astype(np.float32)
    inner_colour = cv2.resize(filters.normalised_blur(guide_small, interior, SKIN_COLOUR_SIGMA * d_half), size,
                              interpolation=cv2.INTER_LINEAR)  # fmt: skip
    pull = np.clip(1.0 - (depth_at - SKIN_CHOKE) / (SKIN_PULL * eye_distance), 0.0, 1.0)
    pull = np.maximum(pull, np.clip(_pixels(filled, at) * 2, 0.0, 1.0))[..., None]
    clean = np.clip(_pixels(inner_colour, at) + detail, 0, 255)
    fg_at = _pixels(fg, at)
    skin_fg = fg_at * (1 - pull) + clean * pull
    fg_at = fg_at * (1 - w[..., None]) + skin_fg * w[..., None]
    if found is not None:
        wrap_weight, fill = found
        line = np.flatnonzero(_pixels(wrap_weight, at))  # of `at`'s pixels
        wrap = _pixels(wrap_weight, at[line])[..., None]
        texture = np.clip(detail[line], -WRAP_DETAIL, WRAP_DETAIL)
        fg_at[line] = fg_at[line] * (1 - wrap) + np.clip(_pixels(fill, at[line]) + texture, 0, 255) * wrap
    alpha_at = _pixels(alpha, at)
    alpha = alpha.astype(np.result_type(alpha, skin_alpha))
    alpha.reshape(-1)[at] = alpha_at * (1 - w) + skin_alpha * w
    fg.reshape(-1, 3)[at] = fg_at
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
    detail: np.ndarray = (_pixels(image, at) - _pixels(blurred, in_patch)).mean(-1, keepdims=True)
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
    the face's lit skin (RGB); `near_skin_edge` (half size, bool) where the outline is skin's.
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
    pixel, reference = filters.lab(guide_small), filters.lab(cheek[None, None])[0, 0]
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


def _eye_distances_below(rows: np.ndarray, eyes: tuple[float, float] | None, eye_distance: float) -> np.ndarray:
    """Per output row in `rows`: eye distances below the eye line (above it: negative); 0
    everywhere without eyes (no zone then reaches them: every zone starts away from the eyes)."""
    if eyes is None:
        return np.zeros(rows.shape, np.float32)
    below: np.ndarray = (rows.astype(np.float32) - eyes[1]) / eye_distance
    return below


def _ramp(value: np.ndarray, start: float, width: float) -> np.ndarray:
    """0 below `start`, rising to 1 over `width`."""
    ramp: np.ndarray = np.clip((value - start) / width, 0.0, 1.0)
    return ramp


def _clothes_zone(shape: tuple[int, ...], eyes: tuple[float, float], eye_distance: float) -> np.ndarray:
    """0-1: where the person's outline is clothes, not hair (below the face, and beside it below the hair)."""
    down = (np.arange(shape[0], dtype=np.float32) - eyes[1]) / eye_distance
    out = np.abs(np.arange(shape[1], dtype=np.float32) - eyes[0]) / eye_distance

    def rise(value: np.ndarray, start: float) -> np.ndarray:
        return np.clip((value - start) / CLOTHES_RAMP, 0.0, 1.0)

    below, beside = rise(down, CLOTHES_FROM)[:, None], rise(down, CLOTHES_BESIDE_FROM)[:, None]
    zone: np.ndarray = np.maximum(below, beside * rise(out, CLOTHES_BESIDE)[None, :])
    return zone.astype(np.float32)


def _clothes_path(solid: np.ndarray, clothes: np.ndarray, eye_distance: float) -> np.ndarray:
    """The solid person where the outline is clothes: opened, and only the person's main region.

    Only the rows the zone reaches (and a margin) are worked on. The opening runs at half size
    (a 0.1 d disc is large); the full-size outline is kept wherever it lies within a pixel
    of the opened shape, so only what sticks out goes.
    """
    rows = np.flatnonzero(clothes.max(axis=1) > 0)
    if len(rows) == 0:
        return solid
    top = max(0, int(rows[0]) - round(2 * CLOTHES_OPEN * eye_distance))
    part, zone = solid[top:], clothes[top:] > 0
    half = (part.shape[1] // 2, max(1, part.shape[0] // 2))
    small = cv2.resize(part.astype(np.float32), half, interpolation=cv2.INTER_AREA) > 0.5
    radius = max(1, round(CLOTHES_OPEN * eye_distance / 2))
    opened_small = cv2.morphologyEx(small.astype(np.uint8), cv2.MORPH_OPEN, filters.disc(radius))
    opened = cv2.resize(opened_small, (part.shape[1], part.shape[0]), interpolation=cv2.INTER_NEAREST)
    near = cv2.dilate(opened, filters.disc(1)) > 0
    kept = np.where(zone, part & near, part)
    # Islands the opening cut off within the zone go: what is neither the largest region nor
    # reaches the rows above (hair, the head) nor lies outside the zone.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(kept.astype(np.uint8), connectivity=8)
    if count > 2:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        above = np.unique(labels[0][labels[0] > 0])
        island = kept & zone & ~np.isin(labels, [largest, *above.tolist()])
        kept = kept & ~island
    path = solid.copy()
    path[top:] = kept
    return path


def _cheek_colour(guide_small: np.ndarray, eyes: tuple[float, float], eye_distance: float) -> np.ndarray:
    """Median RGB of both cheeks (half-size image; `eyes` in output pixels)."""
    patches = []
    for side in (-0.45, 0.45):
        cx, cy = (eyes[0] + side * eye_distance) / 2, (eyes[1] + 0.55 * eye_distance) / 2
        r = max(1, round(0.12 * eye_distance / 2))
        x0, y0 = max(0, round(cx) - r), max(0, round(cy) - r)
        patches.append(guide_small[y0 : round(cy) + r, x0 : round(cx) + r].reshape(-1, 3))
    pixels = np.concatenate(patches)
    colour: np.ndarray = np.median(pixels, axis=0) if len(pixels) else np.full(3, 150.0, np.float32)
    return colour.astype(np.float32)
