"""The person's matte: a hair-keeping mask on the work canvas, refined at output size.

On the canvas (once per photo): MediaPipe's selfie segmenter gives a person prior that
keeps hair (short coily hair, curls, dark hair on a dark wall); GrabCut snaps its outline
to the photo's colour edges inside the band where the prior is unsure, the face (mesh
outline) and the prior's confident core being certain person. Only the connected region
holding the face is kept.

At output size (per image): the upsampled mask is snapped to the photo's edges with a
guided filter, and the foreground colour at soft edges is re-estimated (blur fusion) so
hair shows no fringe of the old background on any new backdrop.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from headshot.mesh import FaceMesh
from headshot_inference.segmentation import load_segmenter

# Prior levels, calibrated on the shared photos (obama, obama3, biden, alex, astronaut):
# above SURE the prior is right everywhere we looked (hair included); below UNSURE it is
# backdrop; GrabCut decides in between, and within BAND eye distances of the 0.5 contour.
PRIOR_SURE: Final = 0.9
PRIOR_UNSURE: Final = 0.1
BAND: Final = 0.12  # eye distances
GRABCUT_ITERATIONS: Final = 3
TEXTURE_WEIGHT: Final = 3.0
# Holes smaller than this share of the canvas inside the person are misread skin or hair.
HOLE_SHARE: Final = 0.004
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

# Ears (eye distances, on the levelled canvas): the face oval's points at the ear roots
# (tragus to lobe) per side; an ear reaches ~0.25-0.45 d outward of them on a frontal face,
# more on the far side of a turned one (obama2's far ear: 0.55 d, its near ear 0.3 d), and
# spans from about the brow to the nose base (obama2: 0.45 d above to 0.55 d below the
# roots' mean, which sits ~0.3 d under the eye line).
EAR_ROOTS: Final = ((127, 234, 93), (356, 454, 323))
EAR_REACH: Final = 0.6
EAR_HALF_HEIGHT: Final = 0.55
EAR_DROP: Final = 0.05
# The ear's own skin test (CIELAB; eye distances): lightness counts half (an ear's folds
# shade it: obama2 L* 38-55 on one ear); the backdrop is sampled EAR_BACKDROP_GAP outside
# the person and averaged over EAR_BACKDROP_SIGMA. Rim 41/34/28 vs kept ear ~50/32/32: 6;
# the beige face behind 28, the red flag 27.
EAR_L_WEIGHT: Final = 0.5
EAR_SKIN_DELTA: Final = 16.0
# The segmenter marks every person; a neighbour at the photo's edge reads as "likely"
# person (obama2's: prior 0.58 median, never "sure"), and GrabCut's colour model may take a
# dark shoulder along with the subject's dark suit. Likely pixels count as probable person
# only within LIKELY_REACH eye distances of the subject's own sure core (hair and clothes
# edges lie within 0.1-0.2 d of it on the shared photos; the neighbour's shoulder 0.3-1.5 d).
LIKELY_REACH: Final = 0.3
# Ear-zone pixels this close to the face's own median colour seed GrabCut as probable
# person (obama2's ear rim 41/34/28 and lobe lie within 20 of his face; the flag 27+ and
# the beige face behind 28 do not).
EAR_SEED_DELTA: Final = 22.0
EAR_BACKDROP_GAP: Final = 0.1
EAR_BACKDROP_SIGMA: Final = 0.15
EAR_CLOSE: Final = 0.04
EAR_OPEN: Final = 0.06
EAR_MIN_PIXELS: Final = 20

# MediaPipe face-mesh outline (the face oval, clockwise from the forehead).
FACE_OVAL: Final = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip


def person_mask(
    canvas: np.ndarray, inside: np.ndarray, face: np.ndarray, per_d: float, ears: np.ndarray | None = None
) -> np.ndarray:
    """Hard person mask (bool) on the work canvas; `face` is the sure-face region (bool),
    `ears` where the mesh says an ear may be (bool): probable person, GrabCut decides."""
    prior = load_segmenter().segment(canvas) * inside
    sure = cv2.erode((prior > PRIOR_SURE).astype(np.uint8), _disc(max(1, round(0.04 * per_d)))) > 0
    sure = _face_region(sure, face) & sure  # the subject's own core, not a neighbour's
    reach = cv2.dilate((sure | face).astype(np.uint8), _disc(max(1, round(LIKELY_REACH * per_d)))) > 0
    likely = (prior > 0.5) & reach
    band = _disc(max(1, round(BAND * per_d)))
    near = cv2.dilate(likely.astype(np.uint8), band) > 0
    mask = np.full(prior.shape, cv2.GC_BGD, np.uint8)
    mask[near | (prior > PRIOR_UNSURE)] = cv2.GC_PR_BGD
    mask[likely] = cv2.GC_PR_FGD
    if ears is not None:
        # The segmenter drops ears before a backdrop it reads as skin or clutter (obama2's
        # far ear before a red flag and a beige face: prior ~0 on its outer half). Only the
        # zone's skin-coloured pixels: marking the flag and the face behind as person too
        # taught GrabCut's global colour model that a neighbour's dark shoulder was person.
        mask[ears & inside & _near_colour(canvas, face, EAR_SEED_DELTA)] = cv2.GC_PR_FGD
    mask[sure | face] = cv2.GC_FGD
    mask[~inside] = cv2.GC_BGD
    if (mask == cv2.GC_BGD).sum() < 64:  # GrabCut's backdrop model needs samples
        mask[:2, :] = cv2.GC_BGD
    person = _grabcut(_features(canvas), mask)
    person &= inside
    return _face_region(person, face)


def _near_colour(canvas: np.ndarray, region: np.ndarray, delta: float) -> np.ndarray:
    """Pixels within `delta` (CIELAB, lightness at EAR_L_WEIGHT) of the region's median colour."""
    lab = cv2.cvtColor(canvas.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    if not region.any():
        return np.zeros(canvas.shape[:2], bool)
    weights = np.array([EAR_L_WEIGHT, 1.0, 1.0], np.float32)
    distance = np.sqrt((((lab - np.median(lab[region], axis=0)) * weights) ** 2).sum(-1))
    near: np.ndarray = distance < delta
    return near


def ear_skin(canvas: np.ndarray, person: np.ndarray, ears: np.ndarray, per_d: float) -> tuple[np.ndarray, np.ndarray]:
    """(`person` plus the ear pixels coloured like the ear's own skin, that ear skin) (bool).

    `ears`: where the mesh says an ear may be, outside the face oval.
    GrabCut's colour models are global: obama2's reddish helix rim (L*a*b* ~41/34/28) falls
    to the red flag's component although the backdrop beside it is a beige face (43/8/17)
    and the ear's kept skin is 50/32/32. Per ear, a pixel joins the person when it is
    within EAR_SKIN_DELTA (lightness counted at EAR_L_WEIGHT: shading) of that ear's median
    kept colour, nearer to it than to the local backdrop, and connected to the person.
    """
    ys, xs = np.nonzero(ears)
    if len(ys) == 0:
        return person, np.zeros_like(person)
    # Only around the ears (the backdrop sampled beside them): a fraction of the canvas.
    margin = round(2 * EAR_BACKDROP_SIGMA * per_d)
    y0, x0 = max(0, int(ys.min()) - margin), max(0, int(xs.min()) - margin)
    y1, x1 = int(ys.max()) + margin + 1, int(xs.max()) + margin + 1
    window = (slice(y0, y1), slice(x0, x1))
    grown_window, skin_window = _ear_skin_window(canvas[window], person[window], ears[window], per_d)
    grown, skin_mask = person.copy(), np.zeros_like(person)
    grown[window], skin_mask[window] = grown_window, skin_window
    return grown, skin_mask


def _ear_skin_window(
    canvas: np.ndarray, person: np.ndarray, ears: np.ndarray, per_d: float
) -> tuple[np.ndarray, np.ndarray]:
    count, labels = cv2.connectedComponents(ears.astype(np.uint8), connectivity=8)
    skin_mask = np.zeros_like(person)
    if count <= 1:
        return person, skin_mask
    lab = cv2.cvtColor(canvas.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    weights = np.array([EAR_L_WEIGHT, 1.0, 1.0], np.float32)
    near = cv2.dilate(person.astype(np.uint8), _disc(max(1, round(EAR_BACKDROP_GAP * per_d)))) > 0
    backdrop = _normalised_blur(lab, (~near).astype(np.float32), EAR_BACKDROP_SIGMA * per_d)
    d_backdrop = np.sqrt((((lab - backdrop) * weights) ** 2).sum(-1))
    grown = person.copy()
    for index in range(1, count):
        zone = labels == index
        own = zone & person
        if own.sum() < EAR_MIN_PIXELS:
            continue
        skin = np.median(lab[own], axis=0)
        d_skin = np.sqrt((((lab - skin) * weights) ** 2).sum(-1))
        candidate = zone & ~person & (d_skin < EAR_SKIN_DELTA) & (d_skin < d_backdrop)
        _, part_labels = cv2.connectedComponents((candidate | person).astype(np.uint8), connectivity=8)
        attached = np.unique(part_labels[person])
        grown |= candidate & np.isin(part_labels, attached[attached > 0])
        skin_mask |= zone & (d_skin < EAR_SKIN_DELTA)
    # Specular spots and pores the colour test missed inside the ear; small skin-coloured
    # blobs the test glued onto the outline (obama3's gold bokeh) are opened away.
    disc = _disc(max(1, round(EAR_CLOSE * per_d)))
    grown |= (cv2.morphologyEx(grown.astype(np.uint8), cv2.MORPH_CLOSE, disc) > 0) & ears
    opened = cv2.morphologyEx(grown.astype(np.uint8), cv2.MORPH_OPEN, _disc(max(1, round(EAR_OPEN * per_d)))) > 0
    grown = person | (grown & opened)
    skin_mask = (cv2.morphologyEx((skin_mask & grown).astype(np.uint8), cv2.MORPH_CLOSE, disc) > 0) & grown
    return grown, skin_mask


def face_region_from_mesh(mesh: FaceMesh, to_canvas: np.ndarray, side: int) -> np.ndarray:
    """The face oval of the mesh on the canvas (bool), shrunk a little: certain person."""
    points = mesh.points[list(FACE_OVAL), :2] @ to_canvas[:2, :2].T + to_canvas[:2, 2]
    centre = points.mean(axis=0)
    points = centre + (points - centre) * 0.92
    region = np.zeros((side, side), np.uint8)
    cv2.fillPoly(region, [np.round(points).astype(np.int32)], 1)
    return region > 0


def ear_regions_from_mesh(mesh: FaceMesh, to_canvas: np.ndarray, side: int, per_d: float) -> np.ndarray:
    """Where each ear may be on the canvas (bool): outward of the face oval's ear roots.

    An ellipse per side centred on the roots (EAR_ROOTS), reaching EAR_REACH eye distances
    outward and EAR_HALF_HEIGHT up and down; the canvas is levelled, so outward is along x.
    """
    points = mesh.points[:, :2] @ to_canvas[:2, :2].T + to_canvas[:2, 2]
    centre_x = float(points[list(FACE_OVAL), 0].mean())
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    region = np.zeros((side, side), bool)
    for roots in EAR_ROOTS:
        root = points[list(roots)].mean(axis=0)
        outward = 1.0 if root[0] > centre_x else -1.0
        dx = (xs - root[0]) * outward
        dy = ys - (root[1] + EAR_DROP * per_d)
        region |= (dx > 0) & ((dx / (EAR_REACH * per_d)) ** 2 + (dy / (EAR_HALF_HEIGHT * per_d)) ** 2 <= 1)
    return region


def face_region_from_eyes(eye: tuple[float, float], per_d: float, side: int) -> np.ndarray:
    """Without a mesh: an ellipse over the face measured in eye distances from the eyes."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    inside: np.ndarray = ((xs - eye[0]) / (0.72 * per_d)) ** 2 + (
        (ys - eye[1] - 0.5 * per_d) / (1.05 * per_d)
    ) ** 2 <= 1
    return inside


def _disc(radius: int) -> np.ndarray:
    disc: np.ndarray = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return disc


def _features(canvas: np.ndarray) -> np.ndarray:
    """CIELAB with local texture folded into lightness: curls separate from smooth walls."""
    lab = cv2.cvtColor(canvas, cv2.COLOR_RGB2LAB).astype(np.float32)
    lightness = lab[..., 0]
    mean = cv2.blur(lightness, (5, 5))
    variance = np.maximum(cv2.blur(lightness * lightness, (5, 5)) - mean * mean, 0)
    lab[..., 0] = lightness + TEXTURE_WEIGHT * np.sqrt(variance)
    features: np.ndarray = np.clip(lab, 0, 255).astype(np.uint8)
    return features


def _grabcut(features: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    mask = seeds.copy()
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means starts from OpenCV's RNG: keep outputs reproducible
    cv2.grabCut(
        features, mask, (0, 0, 0, 0), background_model, foreground_model, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK
    )
    person: np.ndarray = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    return person


def _face_region(person: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Only the connected region holding the face, with its small holes filled."""
    count, labels, _, _ = cv2.connectedComponentsWithStats(person.astype(np.uint8), connectivity=8)
    votes = np.bincount(labels[face], minlength=count)
    votes[0] = 0
    if count <= 1 or votes.max() == 0:
        return face.copy()
    region: np.ndarray = labels == int(votes.argmax())
    # Holes: backdrop regions not touching the border. Small ones are misread skin or hair;
    # large ones (an arm akimbo showing the wall) are real backdrop and stay.
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~region).astype(np.uint8), connectivity=4)
    side = person.shape[0]
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        touches = x == 0 or y == 0 or x + w == side or y + h == side
        if not touches and area < HOLE_SHARE * side * side:
            region[labels == index] = True
    return region


# ---------------------------------------------------------------------------------------
# at output size


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
       guided-filter alpha stays; faint haze (alpha < HAZE) is dropped;
    3. the foreground colour is F plus the pixel's own lightness detail weighted by alpha
       (blur fusion, Forte & Pitie 2021, with the detail's chroma dropped: a strand keeps
       its light and shade, never the old backdrop's colour) wherever alpha can be partial;
    `ears` (output size, 0-1) are the ears the canvas matte kept: the guided filter may not
    cut into them.
    4. skin edges (`eyes` = the eye midpoint in output pixels: below the brows, where the
       person colour is skin-like: ears, jaw, neck) are cut like a retoucher's pen path: the
       outline opened and smoothed into a clean curve, choked SKIN_CHOKE px inside the
       photo's edge with a SKIN_FEATHER px feather, and the last SKIN_PULL of skin takes
       the interior skin colour (with the pixel's fine texture): no gold, red or white rim.
    """
    size = photo.shape[1], photo.shape[0]
    half = (size[0] // 2, size[1] // 2)
    guide_small = cv2.resize(photo, half, interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha_small = cv2.resize(alpha, half, interpolation=cv2.INTER_AREA)
    q = _guided_filter(guide_small / 255.0, alpha_small, GUIDED_RADIUS, GUIDED_EPS)
    ears_small = None
    if ears is not None:
        # An ear rim the colour of the backdrop behind it (obama2's helix before a beige
        # face) is lost to the guided filter; the canvas matte's ear skin stays.
        ears_small = cv2.resize(ears, half, interpolation=cv2.INTER_AREA)
        q = np.maximum(q, alpha_small * ears_small)
    hard = q > 0.5
    inner = max(1, round(BAND_INNER * eye_distance / 2))
    outer = max(1, round(BAND_OUTER * eye_distance / 2))
    sure_fg = (cv2.erode(hard.astype(np.uint8), _disc(inner)) > 0).astype(np.float32)
    sure_bg = (cv2.dilate(hard.astype(np.uint8), _disc(outer)) == 0).astype(np.float32)
    sigma = LOCAL_COLOUR_SIGMA * eye_distance / 2
    f_small = _normalised_blur(guide_small, sure_fg, sigma)
    b_small = _normalised_blur(guide_small, sure_bg, sigma)
    up = cv2.INTER_LINEAR
    f_local = cv2.resize(f_small, size, interpolation=up)
    b_local = cv2.resize(b_small, size, interpolation=up)
    q = np.clip(cv2.resize(q, size, interpolation=up), 0.0, 1.0)
    band_small = (1 - sure_fg - sure_bg).astype(np.uint8)
    band = cv2.resize(band_small.astype(np.float32), size, interpolation=up) > 0
    image = photo.astype(np.float32)
    span = f_local - b_local
    separation = np.sqrt((span * span).sum(-1))
    projected = np.clip(((image - b_local) * span).sum(-1) / (separation * separation + 1e-3), 0.0, 1.0)
    trust = np.clip((separation - MIN_SEPARATION) / SEPARATION_RAMP, 0.0, 1.0)
    estimated = trust * projected + (1 - trust) * q
    # Haze: the projection reads a few percent of F into a backdrop that is not uniform
    # (grey wisps over obama's window, biden's curtain folds); real strands are denser.
    estimated = np.clip((estimated - HAZE) / (1 - HAZE), 0.0, 1.0)
    alpha_out = np.where(band, estimated, (q > 0.5).astype(np.float32))
    alpha_out = cv2.GaussianBlur(alpha_out.astype(np.float32), (0, 0), 0.6)
    a = alpha_out[..., None]
    residual = image - a * f_local - (1 - a) * b_local
    # Only the detail's lightness: its chroma is the old backdrop's (biden's blue line).
    residual = residual.mean(-1, keepdims=True)
    # The decontaminated colour wherever alpha can be partial, the blur's spill included.
    soft = cv2.dilate(band.astype(np.uint8), _disc(2)) > 0
    fused = np.clip(f_local + a * a * residual, 0, 255)
    # A thin strand's colour is mostly what shows through it: the local person colour F is
    # itself tinted by the old backdrop there (biden's white hair over the blue curtain), so
    # the chroma fades with alpha toward the strand's own grey.
    grey = fused.mean(-1, keepdims=True)
    fused = grey + (fused - grey) * np.clip(a / STRAND_CHROMA_FROM, 0.0, 1.0)
    fg = np.where(soft[..., None], fused, image)
    if eyes is not None:
        alpha_out, fg = _skin_edges(alpha_out, fg, image, hard, f_small, guide_small, eye_distance, eyes, ears_small)
    return alpha_out, fg.astype(np.float32)


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
    """Alpha and colour of the skin outline (ears, jaw, neck) as a smooth, clean cut."""
    size = image.shape[1], image.shape[0]
    d_half = eye_distance / 2
    # Where the edge is skin: below the brows, and the nearby person colour close to the
    # face's own skin (hair, collars and suits are not; alex's curls reach the jaw).
    height = hard.shape[0]
    rows = (np.arange(height, dtype=np.float32) * 2 - (eyes[1] - SKIN_FROM_BROW * eye_distance)) / (0.1 * eye_distance)
    below = np.clip(rows, 0.0, 1.0)[:, None]
    cheek = _cheek_colour(guide_small, eyes, eye_distance)
    lab = _lab(f_small)
    distance = np.sqrt(((lab - _lab(cheek[None, None]).reshape(1, 1, 3)) ** 2).sum(-1))
    skin_like = np.clip((SKIN_DELTA - distance) / (0.5 * SKIN_DELTA), 0.0, 1.0)
    weight_small = (below * skin_like).astype(np.float32)
    if ears_small is not None:
        # An ear in shadow is darker than the lit cheeks (obama2: L* 40 vs 70) yet skin;
        # the canvas matte found it by the ear's own colour. The edge just outside it too.
        reach = _disc(max(1, round(SKIN_CLOSE * d_half)))
        weight_small = np.maximum(weight_small, cv2.dilate(np.clip(ears_small * 2, 0.0, 1.0), reach))
    if float(weight_small.max()) < 0.05:
        return alpha, fg
    # The outline: opening drops backdrop blobs glued to the ear (chandelier bokeh), the
    # blur + threshold turns pixel steps into a curve of curvature radius >~ the sigma.
    # Closing first fills notches the segmentation bit into an ear whose colour is close to
    # the backdrop's (obama2's ear tip against the red flag); those pixels take the skin's
    # colour below, never the photo's (which is the backdrop there).
    solid = hard.astype(np.uint8)
    closed = cv2.morphologyEx(solid, cv2.MORPH_CLOSE, _disc(max(1, round(SKIN_CLOSE * d_half))))
    closed = np.where(weight_small > 0.5, closed, solid)
    opened = cv2.morphologyEx(closed, cv2.MORPH_OPEN, _disc(max(1, round(SKIN_OPEN * d_half))))
    filled = cv2.resize((closed > solid).astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    sigma_small = max(1.0, SKIN_SMOOTH * d_half)
    smooth = cv2.resize(cv2.GaussianBlur(opened.astype(np.float32), (0, 0), sigma_small), size,
                        interpolation=cv2.INTER_LINEAR)  # fmt: skip
    # Near the 0.5 level a blurred step rises 1 / (sqrt(2 pi) sigma) per pixel.
    slope = 1.0 / (np.sqrt(2 * np.pi) * 2 * sigma_small)
    skin_alpha = np.clip((smooth - 0.5 - SKIN_CHOKE * slope) / (SKIN_FEATHER * slope) + 0.5, 0.0, 1.0)
    # Interior skin colour: the person well inside the edge (away from rim light and
    # backdrop), locally averaged; the pixel keeps its fine texture.
    interior = cv2.erode(opened, _disc(max(1, round(SKIN_INTERIOR * d_half)))).astype(np.float32)
    inner_colour = cv2.resize(_normalised_blur(guide_small, interior, SKIN_COLOUR_SIGMA * d_half), size,
                              interpolation=cv2.INTER_LINEAR)  # fmt: skip
    detail = (image - cv2.GaussianBlur(image, (0, 0), 1.5)).mean(-1, keepdims=True)
    depth = (smooth - 0.5) / slope  # ~ pixels inside the smoothed outline
    pull = np.clip(1.0 - (depth - SKIN_CHOKE) / (SKIN_PULL * eye_distance), 0.0, 1.0)
    pull = np.maximum(pull, np.clip(filled * 2, 0.0, 1.0))[..., None]
    clean = np.clip(inner_colour + detail, 0, 255)
    skin_fg = fg * (1 - pull) + clean * pull
    weight = cv2.resize(weight_small, size, interpolation=cv2.INTER_LINEAR)
    # Only around the outline: deep inside the person nothing changes.
    weight *= (depth < SKIN_PULL * eye_distance + SKIN_CHOKE + 2).astype(np.float32)
    w = weight[..., None]
    return alpha * (1 - weight) + skin_alpha * weight, fg * (1 - w) + skin_fg * w


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


def _lab(rgb: np.ndarray) -> np.ndarray:
    lab: np.ndarray = cv2.cvtColor(np.ascontiguousarray(rgb, np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab


def _normalised_blur(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    num = cv2.GaussianBlur(image * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    mean: np.ndarray = num / np.maximum(den, 1e-4)
    return mean


def _guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a colour guide (per-pixel 3x3 covariance)."""
    window = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        out: np.ndarray = cv2.boxFilter(x, -1, window)
        return out

    mean_i = box(guide)
    mean_p = box(p)
    cov_ip = box(guide * p[..., None]) - mean_i * mean_p[..., None]
    var = np.empty((*guide.shape[:2], 3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = box(guide[..., i] * guide[..., j]) - mean_i[..., i] * mean_i[..., j]
            var[..., i, j] = var[..., j, i] = v
    var += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var, cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(-1)
    q: np.ndarray = (box(a) * guide).sum(-1) + box(b)
    return q.astype(np.float32)
