"""The classical CPU backend: a real photo of the person, levelled, framed and re-lit.

Per photo (once, shared by all its outputs):
1. framing: a similarity transform puts the eye centres on a level line at EYE_LINE of the
   height with EYE_DISTANCE of the width between them, so every output has the same head
   size and eye line whatever the photo;
2. segmentation: GrabCut on a small (WORK_SIDE) canvas of that framing, seeded from the
   face (certain foreground), a head-and-shoulders envelope (probable) and everything
   outside it (certain background); cleaned to the one region holding the face;
3. colour: a gentle white balance and levels stretch, backed off until the cheeks' ITA and
   CIEDE2000 stay within SKIN_GUARD of the photo's own: we never lighten skin.

Per output: the variant's framing (seeded ±SCALE_JITTER), the mask upsampled and refined
on the full-resolution edges (guided filter), edge colours decontaminated so no old
background halo survives, mild bilateral skin smoothing, and the style's background.
Nothing here is a trained generative model; see inference_container/README.md for the
IPTC digital source type this implies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from headshot.color import delta_e_2000, ita_degrees
from headshot.faces import cheek_lab, eye_centres
from headshot_inference.backends import (
    DST_ALGORITHMICALLY_ENHANCED,
    DST_COMPOSITE_SYNTHETIC,
    OUTPUT_SIZE,
    GeneratedImage,
    SourcePhoto,
    plan,
)
from headshot_inference.styles import OFFICE_BLUR, STUDIO_BLUE, STUDIO_GRAY, STUDIO_WHITE

# Framing, in shares of the output side: eyes on a line 40% from the top, 17% of the width
# apart (about a 38%-wide head): a classic head-and-shoulders business headshot.
EYE_LINE: Final = 0.40
EYE_DISTANCE: Final = 0.17
# Variants differ in crop scale by at most this much, so head size stays consistent.
SCALE_JITTER: Final = 0.03
# Segmentation canvas: the canonical frame plus WORK_MARGIN on every side (so every
# variant's crop is covered), WORK_SIDE pixels square. GrabCut's cost grows with pixels;
# 320 px keeps it near 0.1 s and the guided filter restores the fine edges afterwards.
WORK_SIDE: Final = 448
WORK_MARGIN: Final = 0.12
GRABCUT_ITERATIONS: Final = 4
TEXTURE_WEIGHT: Final = 3.0
# Guided-filter refinement of the upsampled mask, run at half the output resolution.
GUIDED_RADIUS: Final = 4
GUIDED_EPS: Final = 1e-3
# The work mask's transition is narrowed around this level (a little inward of 0.5).
EDGE_THRESHOLD: Final = 0.55
EDGE_STEEPNESS: Final = 2.0
# Skin guard: the colour correction is scaled back until the cheeks' ITA moved by at most
# MAX_ITA_SHIFT degrees and their colour by at most MAX_SKIN_DELTA_E (CIEDE2000).
MAX_ITA_SHIFT: Final = 1.0
MAX_SKIN_DELTA_E: Final = 1.5
MAX_WB_GAIN: Final = 0.06
RETOUCH_STRENGTH: Final = 0.35

# Background colours (RGB) at the centre glow and at the far edges, per studio style.
_BACKDROPS: Final = {
    STUDIO_GRAY: ((172, 174, 176), (92, 94, 98)),
    STUDIO_WHITE: ((252, 252, 252), (232, 233, 235)),
    STUDIO_BLUE: ((96, 132, 176), (36, 58, 94)),
}


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What every output of one photo shares."""

    image: np.ndarray  # the photo, reduced so that no output needs to downscale it
    scale: float  # `image` pixels per SourcePhoto.image pixel
    eye_mid: np.ndarray  # in `image` pixels
    eye_distance: float
    roll_rad: float
    alpha_work: np.ndarray  # float32 (WORK_SIDE, WORK_SIDE): person mask on the work canvas
    work_from_frame: np.ndarray  # 3x3: canonical output pixels -> work canvas pixels
    lut: np.ndarray  # uint8 (256, 1, 3): colour correction per channel
    background: np.ndarray  # float32 RGB, WORK_SIDE canvas: the photo's own background, filled


class StudioBackend:
    name = "studio"

    def load(self) -> None:
        # Nothing to read from disk: the face models load with the photo checker. A tiny
        # GrabCut run pulls OpenCV's code in now instead of during the first request.
        image = np.zeros((16, 16, 3), np.uint8)
        mask = np.full((16, 16), cv2.GC_PR_BGD, np.uint8)
        mask[4:12, 4:12] = cv2.GC_FGD
        mask[0, :] = cv2.GC_BGD
        cv2.grabCut(image, mask, (0, 0, 0, 0), np.zeros((1, 65)), np.zeros((1, 65)), 1, cv2.GC_INIT_WITH_MASK)

    def generate(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> list[GeneratedImage]:
        if not photos:
            return []
        prepared: dict[int, _Prepared] = {}
        outputs = []
        for item in plan(len(photos), styles, variants, seed):
            if item.source not in prepared:
                prepared[item.source] = prepare(photos[item.source])
            rng = np.random.default_rng(item.seed)
            image = render_output(prepared[item.source], item.style, rng)
            dst = DST_ALGORITHMICALLY_ENHANCED if item.style == OFFICE_BLUR else DST_COMPOSITE_SYNTHETIC
            outputs.append(GeneratedImage(item.style, item.variant, item.seed, image, item.source, dst))
        return outputs


# ---------------------------------------------------------------------------------------
# per photo


def prepare(photo: SourcePhoto) -> _Prepared:
    left_eye, right_eye = eye_centres(photo.landmarks)
    axis = right_eye - left_eye
    eye_distance = float(np.hypot(*axis))
    roll = math.atan2(float(axis[1]), float(axis[0]))
    # Reduce large photos once (area averaging) to the smallest output scale, so the
    # per-output cubic warps only ever magnify (a minifying warp samples, and aliases).
    scale = min(1.0, EYE_DISTANCE * OUTPUT_SIZE * (1 - SCALE_JITTER) / eye_distance)
    image = photo.image
    if scale < 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        scale = size[0] / photo.image.shape[1]
    eye_mid = (left_eye + right_eye) / 2 * scale
    eye_distance *= scale

    frame = _frame_matrix(eye_mid, eye_distance, roll, 1.0)
    side = OUTPUT_SIZE * (1 + 2 * WORK_MARGIN)
    k = WORK_SIDE / side
    work_from_frame = np.array(
        [[k, 0, WORK_MARGIN * OUTPUT_SIZE * k], [0, k, WORK_MARGIN * OUTPUT_SIZE * k], [0, 0, 1]]
    )
    work = work_from_frame @ frame
    canvas = _warp_reduced(image, work, WORK_SIDE)
    inside, below = _photo_coverage(work, image.shape[1], image.shape[0], WORK_SIDE)
    alpha = _segment(canvas, inside, below, work_from_frame)
    background = _fill_background(canvas, alpha, inside)
    lut = _colour_correction(photo, image, scale, canvas, alpha)
    return _Prepared(image, scale, eye_mid, eye_distance, roll, alpha, work_from_frame, lut, background)


def _frame_matrix(eye_mid: np.ndarray, eye_distance: float, roll: float, zoom: float) -> np.ndarray:
    """3x3 similarity: photo pixels -> output pixels, eyes level at the fixed eye line."""
    s = EYE_DISTANCE * OUTPUT_SIZE * zoom / eye_distance
    c, n = math.cos(roll) * s, math.sin(roll) * s
    linear = np.array([[c, n], [-n, c]])
    target = np.array([OUTPUT_SIZE / 2, EYE_LINE * OUTPUT_SIZE])
    shift = target - linear @ eye_mid
    return np.array([[linear[0, 0], linear[0, 1], shift[0]], [linear[1, 0], linear[1, 1], shift[1]], [0, 0, 1]])


def _warp_reduced(image: np.ndarray, matrix: np.ndarray, side: int) -> np.ndarray:
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
    warped: np.ndarray = cv2.warpAffine(
        image, matrix[:2], (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return warped


def _photo_coverage(matrix: np.ndarray, width: int, height: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of canvas pixels inside the photo, and of those just below its bottom edge.

    Below the photo the body continues (the photo ends mid-chest), so those pixels keep the
    replicated last rows and may stay foreground; beyond the other edges is only backdrop.
    """
    inverse = np.linalg.inv(matrix)
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    across = (src_x >= -0.5) & (src_x <= width - 0.5)
    inside = across & (src_y >= -0.5) & (src_y <= height - 0.5)
    below = across & (src_y > height - 0.5)
    return inside, below


# Dark hair on a dark, plain wall: GrabCut's hair/backdrop decision is unreliable there.
# Measured on the test photos (mean L* / std of the wall near the head, L* of the hair band):
# alex-lacamoire 18 / 6.4 / 29 (curls cut away without the fallback); every other photo has
# a wall at L* >= 32 or a busy one (std >= 12), where GrabCut keeps the hair.
DARK_BACKDROP_MAX_L: Final = 25.0
PLAIN_BACKDROP_MAX_L_STD: Final = 10.0
DARK_HAIR_MAX_L: Final = 45.0


def _segment(canvas: np.ndarray, inside: np.ndarray, below: np.ndarray, work_from_frame: np.ndarray) -> np.ndarray:
    """Soft person mask (float32 0..1) on the work canvas."""
    k = work_from_frame[0, 0]
    eye = work_from_frame[:2, :2] @ np.array([OUTPUT_SIZE / 2, EYE_LINE * OUTPUT_SIZE]) + work_from_frame[:2, 2]
    d = EYE_DISTANCE * OUTPUT_SIZE * k  # eye distance on the canvas
    side = canvas.shape[0]
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    dx, dy = xs - eye[0], ys - eye[1]

    def ellipse(cy: float, ax: float, ay: float) -> np.ndarray:
        result: np.ndarray = (dx / (ax * d)) ** 2 + ((dy - cy * d) / (ay * d)) ** 2 <= 1
        return result

    def body(top: float, half_width: float, slope: float) -> np.ndarray:
        below_top = dy >= top * d
        result: np.ndarray = below_top & (np.abs(dx) <= half_width * d + slope * np.maximum(dy - top * d, 0))
        return result

    # Measured in eye distances d from the eye midpoint: the face spans about ±0.9 d across
    # and from ~0.6 d above the eyes to ~1.7 d below; hair adds up to ~1 d around it.
    face_core = ellipse(0.5, 0.72, 1.05)
    # The skull under the hair: sure foreground, so the hair's colours seed the person model
    # even where they resemble the backdrop (dark hair on a dark wall).
    skull_core = ellipse(-0.3, 0.8, 1.05)
    # Neck, collar and tie knot: a wedge under the chin widening to the chest (white
    # collars against bright walls would otherwise go to the backdrop).
    neck_core = (dy >= 1.5 * d) & (dy <= 3.4 * d) & (np.abs(dx) <= 0.35 * d + 0.35 * (dy - 1.5 * d))
    chest_core = (np.abs(dx) <= 1.4 * d) & (dy >= 3.4 * d)
    # Probable person: a head with generous room for hair (GrabCut hands the backdrop in
    # it back to the background, but hair outside it would start in the backdrop's model).
    head = ellipse(-0.25, 1.6, 2.3)
    shoulders = body(2.2, 1.2, 1.6)
    envelope = ellipse(-0.25, 2.7, 3.3) | body(1.6, 1.9, 2.2)

    mask = np.full((side, side), cv2.GC_BGD, np.uint8)
    mask[envelope] = cv2.GC_PR_BGD
    mask[head | shoulders] = cv2.GC_PR_FGD
    mask[face_core | skull_core | neck_core | chest_core] = cv2.GC_FGD
    # Beyond the photo's top and sides there is nothing to segment: backdrop only.
    outside = ~(inside | below)
    mask[outside] = cv2.GC_BGD
    features = _grabcut_features(canvas)
    person = _grabcut(features, mask, face_core)
    person[outside] = 0
    # A light open/close removes single-pixel speckle and closes pinholes in hair and skin.
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    person = cv2.morphologyEx(person, cv2.MORPH_OPEN, kernel)
    person = cv2.morphologyEx(person, cv2.MORPH_CLOSE, kernel)
    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 0.8)
    hair_band = ellipse(-0.3, 1.05, 1.3) & ~skull_core & (dy < 0) & inside
    backdrop_near = envelope & ~head & inside & (dy < 1.0 * d)
    if _dark_hair_on_plain_dark_backdrop(canvas, hair_band, backdrop_near):
        # Hair the colour of the wall behind it (dark curls on a dark wall): GrabCut cannot tell
        # them apart and returns a bald outline. A feathered hair-zone prior keeps a soft halo
        # that reads as hair; a hard cut through it never does.
        hair_zone = ellipse(-0.35, 1.2, 1.55).astype(np.float32)
        alpha = np.maximum(alpha, cv2.GaussianBlur(hair_zone, (0, 0), 0.18 * d))
    alpha[outside] = 0.0
    return alpha


def _dark_hair_on_plain_dark_backdrop(canvas: np.ndarray, hair_band: np.ndarray, backdrop: np.ndarray) -> bool:
    """The case GrabCut's colour model cannot separate: dark hair against a dark, plain wall."""
    if hair_band.sum() < 32 or backdrop.sum() < 32:
        return False
    lightness = cv2.cvtColor(canvas, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32) * (100.0 / 255.0)
    wall = lightness[backdrop]
    return (
        float(wall.mean()) < DARK_BACKDROP_MAX_L
        and float(wall.std()) < PLAIN_BACKDROP_MAX_L_STD
        and float(lightness[hair_band].mean()) < DARK_HAIR_MAX_L
    )


def _grabcut(features: np.ndarray, seeds: np.ndarray, face_core: np.ndarray) -> np.ndarray:
    """GrabCut from a seed mask; the connected person region holding the face (uint8 0/1)."""
    mask = seeds.copy()
    # GrabCut's colour models need a few samples of each class to start from.
    if (mask == cv2.GC_BGD).sum() < 64:
        mask[:2, :] = cv2.GC_BGD
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means starts from OpenCV's RNG: keep outputs reproducible
    cv2.grabCut(
        features,
        mask,
        (0, 0, 0, 0),  # no rectangle: GC_INIT_WITH_MASK starts from the mask alone
        background_model,
        foreground_model,
        GRABCUT_ITERATIONS,
        cv2.GC_INIT_WITH_MASK,
    )
    person = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    return _keep_face_region(person, face_core)


def _grabcut_features(canvas: np.ndarray) -> np.ndarray:
    """The canvas as GrabCut sees it: CIELAB with local texture folded into lightness.

    GrabCut models colour only, and dark hair on a dark wall has the wall's colour. Hair is
    textured where walls are smooth, so lightness is raised by the local contrast: curls
    and the wall separate, while smooth skin and clothes keep their colour.
    """
    lab = cv2.cvtColor(canvas, cv2.COLOR_RGB2LAB).astype(np.float32)
    lightness = lab[..., 0]
    mean = cv2.blur(lightness, (5, 5))
    variance = np.maximum(cv2.blur(lightness * lightness, (5, 5)) - mean * mean, 0)
    lab[..., 0] = lightness + TEXTURE_WEIGHT * np.sqrt(variance)
    features: np.ndarray = np.clip(lab, 0, 255).astype(np.uint8)
    return features


def _keep_face_region(person: np.ndarray, face_core: np.ndarray) -> np.ndarray:
    """Only the connected region holding the face, with its small holes filled."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(person, connectivity=8)
    if count <= 1:
        core: np.ndarray = face_core.astype(np.uint8)
        return core
    votes = np.bincount(labels[face_core], minlength=count)
    votes[0] = 0
    keep = int(votes.argmax()) if votes.max() > 0 else int(stats[1:, cv2.CC_STAT_AREA].argmax()) + 1
    region: np.ndarray = (labels == keep).astype(np.uint8)
    # Holes: background components not touching the border. Small ones are misread skin or
    # hair; large ones (an arm akimbo showing the wall) are real background and stay.
    holes = 1 - region
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    side = person.shape[0]
    limit = 0.004 * side * side
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        touches = x == 0 or y == 0 or x + w == side or y + h == side
        if not touches and area < limit:
            region[labels == index] = 1
    return region


def _fill_background(canvas: np.ndarray, alpha: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The photo's background with the person removed and the gap filled from around it.

    Normalised convolution: blur(background * weight) / blur(weight), so the person's
    colours never bleed into the blurred backdrop (no halo), and areas far from any
    background (or outside the photo) take the background's mean colour.
    """
    weight = ((1 - alpha) * inside).astype(np.float32)
    weight = cv2.erode(weight, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    image = canvas.astype(np.float32)
    sigma = WORK_SIDE / 40
    num = cv2.GaussianBlur(image * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    total = float(weight.sum())
    mean = (image * weight[..., None]).reshape(-1, 3).sum(0) / total if total > 0 else np.array([120.0, 120.0, 120.0])
    confidence = np.clip(den / 0.15, 0, 1)
    filled = num / np.maximum(den, 1e-4) * confidence + mean * (1 - confidence)
    result: np.ndarray = filled.astype(np.float32)
    return result


def _colour_correction(
    photo: SourcePhoto, image: np.ndarray, scale: float, canvas: np.ndarray, alpha: np.ndarray
) -> np.ndarray:
    """Per-channel LUT: gentle white balance and levels, backed off to protect skin tone."""
    # Statistics over the person only (the backdrop is replaced anyway), read on the canvas.
    pixels = canvas[alpha > 0.5].astype(np.float32)
    identity = np.arange(256, dtype=np.float32)
    if len(pixels) < 256:
        return _lut(identity, identity, identity)
    # Shades-of-grey (Minkowski p=6) illuminant estimate: less fooled by one dominant
    # colour than plain grey-world, and gains are clamped to a few percent anyway.
    illuminant = np.power(np.mean(np.power(pixels / 255.0, 6), axis=0), 1 / 6)
    grey = float(illuminant.mean())
    gains = np.clip(grey / np.maximum(illuminant, 1e-3), 1 - MAX_WB_GAIN, 1 + MAX_WB_GAIN)
    # Levels: pull a lifted black point down and a dull white point up, a little.
    luma = pixels @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    low, high = np.percentile(luma, [0.5, 99.5])
    black = min(max(float(low) - 4.0, 0.0), 16.0)
    white = max(min(float(high) + 4.0, 255.0), 235.0)

    # The cheeks, measured on the photo itself (same code as the validator's skin_lab).
    points = photo.landmarks * scale
    reference = cheek_lab(image, points)
    for strength in (1.0, 0.5, 0.25):
        g = 1 + (gains - 1) * strength
        b0 = black * strength
        w0 = 255 + (white - 255) * strength
        curves = [np.clip((identity * g[c] - b0) * 255.0 / (w0 - b0), 0, 255) for c in range(3)]
        lut = _lut(*curves)
        if reference is None:
            return lut
        corrected = cheek_lab(cv2.LUT(image, lut), points)
        if corrected is None:
            return lut
        shift = abs(ita_degrees(corrected) - ita_degrees(reference))
        if shift <= MAX_ITA_SHIFT and delta_e_2000(reference, corrected) <= MAX_SKIN_DELTA_E:
            return lut
    return _lut(identity, identity, identity)


def _lut(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    table: np.ndarray = np.stack([red, green, blue], axis=-1).reshape(256, 1, 3).round().astype(np.uint8)
    return table


# ---------------------------------------------------------------------------------------
# per output


def render_output(prepared: _Prepared, style: str, rng: np.random.Generator) -> np.ndarray:
    zoom = 1 + rng.uniform(-SCALE_JITTER, SCALE_JITTER)
    frame = _frame_matrix(prepared.eye_mid, prepared.eye_distance, prepared.roll_rad, zoom)
    size = (OUTPUT_SIZE, OUTPUT_SIZE)
    photo = cv2.warpAffine(prepared.image, frame[:2], size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    photo = cv2.LUT(photo, prepared.lut)
    canonical = _frame_matrix(prepared.eye_mid, prepared.eye_distance, prepared.roll_rad, 1.0)
    # output <- work canvas: (frame) o (work_from_frame o canonical)^-1
    from_work = frame @ np.linalg.inv(prepared.work_from_frame @ canonical)
    alpha = cv2.warpAffine(prepared.alpha_work, from_work[:2], size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    alpha = _refine(alpha, photo)
    photo = _retouch(photo, zoom)
    old_background = cv2.warpAffine(
        prepared.background, from_work[:2], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    foreground = _decontaminate(photo, alpha, old_background)
    backdrop = _backdrop(style, old_background, rng)
    a = alpha[..., None]
    composite = foreground * a + backdrop * (1 - a)
    # 1/2-LSB noise dithers the smooth gradients so they do not band after 8-bit encoding.
    composite += rng.uniform(-0.5, 0.5, size=composite.shape).astype(np.float32)
    result: np.ndarray = np.clip(composite + 0.5, 0, 255).astype(np.uint8)
    return result


def _refine(alpha: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """Turn the upsampled (blurry) work mask into a tight, edge-following matte.

    The transition is first narrowed around a slightly inward threshold (GrabCut borders
    tend to include a rim of backdrop), then snapped to the photo's own edges with a grey
    guided filter at half size, and finally anti-aliased. Deep inside or far outside the
    mask nothing changes.
    """
    half = (OUTPUT_SIZE // 2, OUTPUT_SIZE // 2)
    guide = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), half, interpolation=cv2.INTER_AREA).astype(np.float32)
    guide /= 255.0
    p = cv2.resize(alpha, half, interpolation=cv2.INTER_AREA)
    p = np.clip((p - EDGE_THRESHOLD) * EDGE_STEEPNESS + 0.5, 0.0, 1.0)
    window = (2 * GUIDED_RADIUS + 1, 2 * GUIDED_RADIUS + 1)
    mean_i = cv2.boxFilter(guide, -1, window)
    mean_p = cv2.boxFilter(p, -1, window)
    var_i = cv2.boxFilter(guide * guide, -1, window) - mean_i * mean_i
    cov = cv2.boxFilter(guide * p, -1, window) - mean_i * mean_p
    a = cov / (var_i + GUIDED_EPS)
    b = mean_p - a * mean_i
    q = cv2.boxFilter(a, -1, window) * guide + cv2.boxFilter(b, -1, window)
    refined = cv2.resize(q, (OUTPUT_SIZE, OUTPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    refined = np.clip((refined - 0.5) * 1.5 + 0.5, 0.0, 1.0)
    band = (alpha > 0.02) & (alpha < 0.98)
    result = np.where(band, refined, (alpha >= 0.98).astype(np.float32))
    out: np.ndarray = cv2.GaussianBlur(result.astype(np.float32), (0, 0), 0.7)
    return out


def _decontaminate(photo: np.ndarray, alpha: np.ndarray, old_background: np.ndarray) -> np.ndarray:
    """Foreground colours at the edges, with the old backdrop's share taken out (no halo).

    Compositing says I = a F + (1 - a) B; with B estimated (the photo's backdrop filled
    behind the person) F = (I - (1 - a) B) / a. Where a is too small for that to be
    stable, the colour of the nearby solid foreground is used instead.
    """
    image = photo.astype(np.float32)
    a = alpha[..., None]
    unmixed = np.clip((image - (1 - a) * old_background) / np.maximum(a, 0.05), 0, 255)
    solid = np.clip((alpha - 0.6) / 0.4, 0, 1)
    weight = solid * solid
    num = cv2.GaussianBlur(image * weight[..., None], (0, 0), 3.0)
    den = cv2.GaussianBlur(weight, (0, 0), 3.0)[..., None]
    nearby = np.where(den > 1e-3, num / np.maximum(den, 1e-4), unmixed)
    trust = np.clip((a - 0.15) / 0.35, 0, 1)
    edge_colour = unmixed * trust + nearby * (1 - trust)
    edge = (alpha > 0.005) & (alpha < 0.995)
    result: np.ndarray = np.where(edge[..., None], edge_colour, image)
    return result


def _retouch(photo: np.ndarray, zoom: float) -> np.ndarray:
    """Mild skin smoothing: an edge-preserving bilateral filter blended in at 35%.

    The bilateral filter averages only similar colours, so it evens out skin texture without
    moving the skin's colour (the fidelity check measures that) or softening eyes and lips.
    """
    d = EYE_DISTANCE * OUTPUT_SIZE * zoom
    cx, cy = OUTPUT_SIZE / 2, EYE_LINE * OUTPUT_SIZE + 0.5 * d
    half_w, half_h = 1.0 * d, 1.35 * d
    x0, x1 = max(0, int(cx - half_w)), min(OUTPUT_SIZE, int(cx + half_w))
    y0, y1 = max(0, int(cy - half_h)), min(OUTPUT_SIZE, int(cy + half_h))
    roi = photo[y0:y1, x0:x1]
    smooth = cv2.bilateralFilter(roi, 7, 14, 4)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    inside = ((xs - cx) / half_w) ** 2 + ((ys - cy) / half_h) ** 2
    weight = np.clip((1 - inside) * 3, 0, 1)
    # Keep the eyes crisp: no smoothing within 0.3 d of either eye centre.
    for ex in (cx - d / 2, cx + d / 2):
        near = np.hypot(xs - ex, ys - EYE_LINE * OUTPUT_SIZE) / (0.3 * d)
        weight *= np.clip(near - 1, 0, 1)
    weight = (weight * RETOUCH_STRENGTH)[..., None]
    result = photo.copy()
    result[y0:y1, x0:x1] = (roi * (1 - weight) + smooth * weight + 0.5).astype(np.uint8)
    return result


def _backdrop(style: str, old_background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    size = (OUTPUT_SIZE, OUTPUT_SIZE)
    if style == OFFICE_BLUR:
        # The photo's own background (already filled behind the person and soft), blurred
        # further like a fast lens and slightly darkened so the subject stands out.
        blurred = cv2.GaussianBlur(old_background, (0, 0), OUTPUT_SIZE / 96)
        tone = rng.uniform(0.86, 0.94)
        result: np.ndarray = blurred * np.float32(tone)
        return result
    centre, edge = (np.array(c, np.float32) for c in _BACKDROPS[style])
    gain = np.float32(rng.uniform(0.95, 1.03) if style != STUDIO_WHITE else rng.uniform(0.99, 1.0))
    # A soft glow behind the head, falling off to the edges and a little more to the
    # bottom: the classic lit-backdrop look. Computed at 1/8 size; it is smooth.
    small = OUTPUT_SIZE // 8
    ys, xs = np.mgrid[0:small, 0:small].astype(np.float32) / small
    glow_x = 0.5 + rng.uniform(-0.04, 0.04)
    glow_y = EYE_LINE - 0.05 + rng.uniform(-0.03, 0.03)
    r = np.hypot((xs - glow_x) / 0.75, (ys - glow_y) / 0.85)
    t = np.clip(r, 0, 1) ** 1.6
    t = np.clip(t + 0.12 * np.clip(ys - 0.6, 0, 1), 0, 1)
    grid = centre * (1 - t[..., None]) + edge * t[..., None]
    grid = np.clip(grid * gain, 0, 255).astype(np.float32)
    backdrop: np.ndarray = cv2.resize(grid, size, interpolation=cv2.INTER_CUBIC)
    return backdrop


__all__ = ["EYE_DISTANCE", "EYE_LINE", "StudioBackend", "prepare", "render_output"]
