"""The person's hard mask on the work canvas (once per photo): hair kept, no neighbour.

MediaPipe's selfie segmenter gives a person prior that keeps hair (short coily hair, curls,
dark hair on a dark wall); GrabCut snaps its outline to the photo's colour edges inside the
band where the prior is unsure, the face (mesh outline) and the prior's confident core
being certain person. Ears the segmenter drops are found by their own skin colour. Only
the connected region holding the face is kept. The output-size refinement is matte.py.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from headshot.mesh import FaceMesh
from headshot_inference.backends.studio import filters
from headshot_inference.segmentation import load_segmenter

# Prior levels, calibrated on the shared photos (obama, obama3, biden, alex, astronaut):
# above SURE the prior is right everywhere we looked (hair included); below UNSURE it is
# backdrop; GrabCut decides in between, and within BAND eye distances of the 0.5 contour.
PRIOR_SURE: Final = 0.9
PRIOR_UNSURE: Final = 0.1
BAND: Final = 0.12  # eye distances
# At shoulder height (SHOULDERS_FROM eye distances below the eye line and lower) GrabCut may
# move the prior's outline outward by SNAP eye distances (edges the segmenter blurs); farther
# out only where the prior is at least BACKDROP_PRIOR. Higher up it stays free: there the
# segmenter under-reads hair (biden's white hair, alex's curls: 889 and 153 canvas pixels
# lost when the limit applied everywhere), and hair beside the face ends ~1.7 d down (alex).
SNAP: Final = 0.04
BACKDROP_PRIOR: Final = 0.25
SHOULDERS_FROM: Final = 1.8
GRABCUT_ITERATIONS: Final = 3
TEXTURE_WEIGHT: Final = 3.0
# Holes smaller than this share of the canvas inside the person are misread skin or hair.
HOLE_SHARE: Final = 0.004
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
    canvas: np.ndarray,
    inside: np.ndarray,
    face: np.ndarray,
    per_d: float,
    eye_y: float,
    ears: np.ndarray | None = None,
) -> np.ndarray:
    """Hard person mask (bool) on the work canvas; `face` is the sure-face region (bool),
    `eye_y` the eye line's row, `ears` where the mesh says an ear may be (bool): probable
    person, GrabCut decides."""
    prior = load_segmenter().segment(canvas) * inside
    sure = cv2.erode((prior > PRIOR_SURE).astype(np.uint8), filters.disc(max(1, round(0.04 * per_d)))) > 0
    sure = _face_region(sure, face) & sure  # the subject's own core, not a neighbour's
    reach = cv2.dilate((sure | face).astype(np.uint8), filters.disc(max(1, round(LIKELY_REACH * per_d)))) > 0
    likely = (prior > 0.5) & reach
    band = filters.disc(max(1, round(BAND * per_d)))
    near = cv2.dilate(likely.astype(np.uint8), band) > 0
    mask = np.full(prior.shape, cv2.GC_BGD, np.uint8)
    mask[near | (prior > PRIOR_UNSURE)] = cv2.GC_PR_BGD
    mask[likely] = cv2.GC_PR_FGD
    # Past a thin snapping layer, a pixel the segmenter reads as backdrop stays backdrop:
    # GrabCut's colour models are global, and took the dark shadow in obama2's neighbour's
    # hair on his shoulder for his dark suit (prior 0-0.2 there; where the segmenter is only
    # unsure, 0.3-0.5 on obama's sleeve at the frame edge, GrabCut still decides).
    snap = cv2.dilate((likely | sure | face).astype(np.uint8), filters.disc(max(1, round(SNAP * per_d)))) > 0
    shoulders = (np.arange(prior.shape[0]) >= eye_y + SHOULDERS_FROM * per_d)[:, None]
    mask[(mask == cv2.GC_PR_BGD) & (prior < BACKDROP_PRIOR) & ~snap & shoulders] = cv2.GC_BGD
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
    near = cv2.dilate(person.astype(np.uint8), filters.disc(max(1, round(EAR_BACKDROP_GAP * per_d)))) > 0
    backdrop = filters.normalised_blur(lab, (~near).astype(np.float32), EAR_BACKDROP_SIGMA * per_d)
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
    disc = filters.disc(max(1, round(EAR_CLOSE * per_d)))
    grown |= (cv2.morphologyEx(grown.astype(np.uint8), cv2.MORPH_CLOSE, disc) > 0) & ears
    opened = cv2.morphologyEx(grown.astype(np.uint8), cv2.MORPH_OPEN, filters.disc(max(1, round(EAR_OPEN * per_d)))) > 0
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
