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

# MediaPipe face-mesh outline (the face oval, clockwise from the forehead).
FACE_OVAL: Final = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip


def person_mask(canvas: np.ndarray, inside: np.ndarray, face: np.ndarray, per_d: float) -> np.ndarray:
    """Hard person mask (bool) on the work canvas; `face` is the sure-face region (bool)."""
    prior = load_segmenter().segment(canvas) * inside
    sure = cv2.erode((prior > PRIOR_SURE).astype(np.uint8), _disc(max(1, round(0.04 * per_d)))) > 0
    likely = prior > 0.5
    band = _disc(max(1, round(BAND * per_d)))
    near = cv2.dilate(likely.astype(np.uint8), band) > 0
    mask = np.full(prior.shape, cv2.GC_BGD, np.uint8)
    mask[near | (prior > PRIOR_UNSURE)] = cv2.GC_PR_BGD
    mask[likely] = cv2.GC_PR_FGD
    mask[sure | face] = cv2.GC_FGD
    mask[~inside] = cv2.GC_BGD
    if (mask == cv2.GC_BGD).sum() < 64:  # GrabCut's backdrop model needs samples
        mask[:2, :] = cv2.GC_BGD
    person = _grabcut(_features(canvas), mask)
    person &= inside
    return _face_region(person, face)


def face_region_from_mesh(mesh: FaceMesh, to_canvas: np.ndarray, side: int) -> np.ndarray:
    """The face oval of the mesh on the canvas (bool), shrunk a little: certain person."""
    points = mesh.points[list(FACE_OVAL), :2] @ to_canvas[:2, :2].T + to_canvas[:2, 2]
    centre = points.mean(axis=0)
    points = centre + (points - centre) * 0.92
    region = np.zeros((side, side), np.uint8)
    cv2.fillPoly(region, [np.round(points).astype(np.int32)], 1)
    return region > 0


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


def matte(alpha: np.ndarray, photo: np.ndarray, eye_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, foreground RGB float32) at output size from the upsampled canvas mask.

    1. the mask is snapped to the photo's edges with a colour guided filter (half size);
    2. a band around its 0.5 contour is re-estimated from the local colours: the nearby
       solid person colour F and backdrop colour B (normalised blurs of the sure regions),
       alpha = the projection of the pixel onto the line B -> F. Where F and B differ
       (white hair on a blue curtain, dark hair on a window) this follows single strands
       and drops the old backdrop; where they do not (dark curls on a dark wall) the
       guided-filter alpha stays;
    3. the foreground colour is F plus the pixel's own detail weighted by alpha (blur
       fusion, Forte & Pitie 2021): no rim of the old backdrop on any new one.
    """
    size = photo.shape[1], photo.shape[0]
    half = (size[0] // 2, size[1] // 2)
    guide_small = cv2.resize(photo, half, interpolation=cv2.INTER_AREA).astype(np.float32)
    q = _guided_filter(guide_small / 255.0, cv2.resize(alpha, half, interpolation=cv2.INTER_AREA), GUIDED_RADIUS,
                       GUIDED_EPS)  # fmt: skip
    hard = q > 0.5
    inner = max(1, round(BAND_INNER * eye_distance / 2))
    outer = max(1, round(BAND_OUTER * eye_distance / 2))
    sure_fg = (cv2.erode(hard.astype(np.uint8), _disc(inner)) > 0).astype(np.float32)
    sure_bg = (cv2.dilate(hard.astype(np.uint8), _disc(outer)) == 0).astype(np.float32)
    sigma = LOCAL_COLOUR_SIGMA * eye_distance / 2
    f_local = _normalised_blur(guide_small, sure_fg, sigma)
    b_local = _normalised_blur(guide_small, sure_bg, sigma)
    up = cv2.INTER_LINEAR
    f_local = cv2.resize(f_local, size, interpolation=up)
    b_local = cv2.resize(b_local, size, interpolation=up)
    q = np.clip(cv2.resize(q, size, interpolation=up), 0.0, 1.0)
    band = cv2.resize(1 - sure_fg - sure_bg, size, interpolation=up) > 0
    image = photo.astype(np.float32)
    span = f_local - b_local
    separation = np.sqrt((span * span).sum(-1))
    projected = np.clip(((image - b_local) * span).sum(-1) / (separation * separation + 1e-3), 0.0, 1.0)
    trust = np.clip((separation - MIN_SEPARATION) / SEPARATION_RAMP, 0.0, 1.0)
    estimated = trust * projected + (1 - trust) * q
    alpha_out = np.where(band, estimated, (q > 0.5).astype(np.float32))
    alpha_out = cv2.GaussianBlur(alpha_out.astype(np.float32), (0, 0), 0.6)
    a = alpha_out[..., None]
    residual = image - a * f_local - (1 - a) * b_local
    fg = np.where(band[..., None], np.clip(f_local + a * residual, 0, 255), image)
    return alpha_out, fg.astype(np.float32)


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
