"""The person's matte at output size (per image), from the canvas mask (person_mask.py).

The upsampled mask is snapped to the photo's edges with a guided filter, and the
foreground colour at soft edges is re-estimated (blur fusion) so hair shows no fringe of
the old background on any new backdrop; a fringe of hair too thin for the mask beside skin is
read against the hair's own colour (hair_fringe.py), a tuft of shadowed backdrop on the outline is
cut (backdrop_tufts.py); skin edges are cut like a retoucher's pen
path (skin_edge.py).
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from headshot_inference.backends.studio import backdrop_tufts, filters, hair_fringe, skin_edge

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
       beside skin, from the eye line up, a pixel that is the crown hair's colour at some
       shade over the backdrop is hair (hair_fringe.py: the temples), and a thin tuft off
       the outline more backdrop-hued than the backdrop is not (backdrop_tufts.py);
    3. the foreground colour is F plus the pixel's own lightness detail weighted by alpha
       (blur fusion, Forte & Pitie 2021, with the detail's chroma dropped: a strand keeps
       its light and shade, never the old backdrop's colour) wherever alpha can be partial;
    `ears` (output size, 0-1) are the ears the canvas matte kept: the guided filter may not
    cut into them.
    4. skin edges (skin_edge.py; `eyes` = the eye midpoint in output pixels: below the
       brows, where the person colour is skin-like: ears, jaw, neck) are cut like a
       retoucher's pen path: the outline (the estimate's decision; the canvas matte's
       around the ears) opened and smoothed into a clean curve, choked SKIN_CHOKE px
       inside the photo's edge with a SKIN_FEATHER px feather, and the last SKIN_PULL of
       skin takes the interior skin colour (with the pixel's fine texture): no gold, red
       or white rim, no wedge or pocket of wall, no pale island beside the jaw;
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
    image_px, f_px, b_px, q_px, spread_px = (filters.pixels(x, in_band) for x in (image, f_local, b_local, q, spread))
    # How busy the backdrop is for its contrast with the person (BUSY_*, CROWN_*).
    busyness = spread_px / np.maximum(np.sqrt(((f_px - b_px) ** 2).sum(-1)), 1.0)
    down = _eye_distances_below(in_band // size[0], eyes, eye_distance)
    at_shoulders = _ramp(busyness, BUSY_RATIO, BUSY_RAMP) * _ramp(down, BUSY_FROM, CLOTHES_RAMP)
    estimated = _estimated_alpha(image_px, f_px, b_px, q_px, at_shoulders)
    at_crown = _ramp(busyness, CROWN_BUSY_RATIO, CROWN_BUSY_RAMP) * _ramp(-down, CROWN_FROM, CLOTHES_RAMP)
    if at_crown.any():
        b_near_px = filters.pixels(_nearest_backdrop(guide_small, sure_bg, size), in_band)
        beside_nearest = _estimated_alpha(image_px, f_px, b_near_px, q_px, np.zeros_like(at_crown))
        estimated = estimated * (1 - at_crown) + np.minimum(estimated, beside_nearest) * at_crown
    hair = None
    colours, band_at = (image_px, f_px, b_px), (in_band, size[0])
    if eyes is not None:
        cheek = skin_edge.cheek_lab(guide_small, eyes, eye_distance)
        hair = hair_fringe.fringe(guide_small, sure_fg, eyes, eye_distance, band_at, colours, estimated, HAZE, cheek)
    alpha_out.reshape(-1)[in_band] = estimated
    strands = np.zeros(0, np.int64) if hair is None else hair_fringe.apply(alpha_out, hair, in_band)
    alpha_out = cv2.GaussianBlur(alpha_out, (0, 0), 0.6)
    if eyes is not None:
        alpha_out = backdrop_tufts.cut(alpha_out, band_at, colours, eyes[1], eye_distance)
        clothes = _clothes_zone(alpha_out.shape, eyes, eye_distance)
        # The estimate's own decision (it drops backdrop the guided filter let in), made crisp.
        path = _clothes_path(alpha_out > 0.5, clothes, eye_distance)
        cut = cv2.GaussianBlur(path.astype(np.float32), (0, 0), CLOTHES_FEATHER)
        alpha_out = alpha_out * (1 - clothes) + cut * clothes
    # The decontaminated colour wherever alpha can be partial, the blur's spill included.
    soft = np.flatnonzero(cv2.dilate(band.astype(np.uint8), filters.disc(2)))
    fg = image.copy()
    fg.reshape(-1, 3)[soft] = _fused_colour(*(filters.pixels(x, soft) for x in (image, f_local, b_local, alpha_out)))
    hair_small = None
    if hair is not None and len(strands):
        # The strands start from their own colour, not the skin's.
        at = in_band[hair.at[strands]]
        fg.reshape(-1, 3)[at] = _fused_colour(
            filters.pixels(image, at), hair.colour[strands], filters.pixels(b_local, at), filters.pixels(alpha_out, at)
        )
        hair_small = np.zeros(hard.shape, bool)
        rows, columns = np.divmod(at, size[0])
        hair_small[np.minimum(rows // 2, hard.shape[0] - 1), np.minimum(columns // 2, hard.shape[1] - 1)] = True
    if eyes is not None:
        maps = skin_edge.HalfSize(guide_small, hard, f_small, sure_bg > 0, ears_small, hair_small)
        alpha_out, fg = skin_edge.skin_edges(alpha_out, fg, image, maps, eye_distance, eyes, cheek)
    return alpha_out, fg


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
    nearest = cv2.GaussianBlur(filters.nearest_colour(guide_small, sure_bg > 0), (0, 0), NEAREST_SIGMA)
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
    down = _eye_distances_below(np.arange(shape[0]), eyes, eye_distance)
    out = np.abs(np.arange(shape[1], dtype=np.float32) - eyes[0]) / eye_distance
    below = _ramp(down, CLOTHES_FROM, CLOTHES_RAMP)[:, None]
    beside = _ramp(down, CLOTHES_BESIDE_FROM, CLOTHES_RAMP)[:, None]
    zone: np.ndarray = np.maximum(below, beside * _ramp(out, CLOTHES_BESIDE, CLOTHES_RAMP)[None, :])
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
        kept = kept & ~(zone & ~filters.attached_regions(labels, stats)[labels])
    path = solid.copy()
    path[top:] = kept
    return path
