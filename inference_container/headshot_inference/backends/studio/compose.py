"""Colour, retouching and backdrops: what a studio retoucher does around the matte.

- colour: a gentle white balance and levels stretch, backed off until the cheeks' ITA and
  CIEDE2000 stay within the skin guard of the photo's own: we never lighten skin;
- retouch: mild bilateral skin smoothing, eyes excluded;
- backdrops: lit-backdrop gradients whose light direction and falloff differ per variant,
  or the photo's own background, filled and blurred (office_blur).
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from headshot.color import delta_e_2000, ita_degrees
from headshot.faces import cheek_lab
from headshot_inference.backends import OUTPUT_SIZE
from headshot_inference.styles import OFFICE_BLUR, STUDIO_GRAY, STUDIO_WHITE

# Skin guard: the colour correction is scaled back until the cheeks' ITA moved by at most
# MAX_ITA_SHIFT degrees and their colour by at most MAX_SKIN_DELTA_E (CIEDE2000).
MAX_ITA_SHIFT: Final = 1.0
MAX_SKIN_DELTA_E: Final = 1.5
MAX_WB_GAIN: Final = 0.06
RETOUCH_STRENGTH: Final = 0.35

# Background colours (RGB) at the centre glow and at the far edges, per studio style.
BACKDROPS: Final = {
    STUDIO_GRAY: ((172, 174, 176), (92, 94, 98)),
    STUDIO_WHITE: ((252, 252, 252), (226, 227, 230)),
    "studio_blue": ((96, 132, 176), (36, 58, 94)),
}
# Per variant: where the backdrop light sits (x share of the width) and how fast it falls
# off (exponent; larger = a broader bright area). Variant 0 is lit from the image-left like
# a classic key light, variant 1 from the right with a tighter pool of light, and so on.
LIGHTS: Final = ((0.36, 1.6), (0.66, 0.9), (0.5, 2.4), (0.3, 1.0), (0.7, 1.8), (0.45, 1.2), (0.58, 2.0), (0.5, 1.4))
# office_blur per variant: blur (share of the side) and how much the backdrop is dimmed.
OFFICE_LOOKS: Final = ((1 / 96, 0.9), (1 / 48, 0.78), (1 / 64, 0.84), (1 / 128, 0.95))


def colour_correction(mesh_free_points: np.ndarray, image: np.ndarray, person_pixels: np.ndarray) -> np.ndarray:
    """Per-channel LUT (uint8 (256,1,3)): white balance and levels, backed off to protect skin.

    `mesh_free_points` are the 5 dlib landmarks in `image` pixels; `person_pixels` (N,3)
    the person's colours (the backdrop is replaced anyway).
    """
    identity = np.arange(256, dtype=np.float32)
    if len(person_pixels) < 256:
        return _lut(identity, identity, identity)
    pixels = person_pixels.astype(np.float32)
    # Shades-of-grey (Minkowski p=6) illuminant estimate: less fooled by one dominant
    # colour than plain grey-world, and gains are clamped to a few percent anyway.
    illuminant = np.power(np.mean(np.power(pixels / 255.0, 6), axis=0), 1 / 6)
    gains = np.clip(float(illuminant.mean()) / np.maximum(illuminant, 1e-3), 1 - MAX_WB_GAIN, 1 + MAX_WB_GAIN)
    luma = pixels @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    low, high = np.percentile(luma, [0.5, 99.5])
    black = min(max(float(low) - 4.0, 0.0), 16.0)
    white = max(min(float(high) + 4.0, 255.0), 235.0)
    reference = cheek_lab(image, mesh_free_points)
    for strength in (1.0, 0.5, 0.25):
        g = 1 + (gains - 1) * strength
        b0 = black * strength
        w0 = 255 + (white - 255) * strength
        lut = _lut(*(np.clip((identity * g[c] - b0) * 255.0 / (w0 - b0), 0, 255) for c in range(3)))
        if reference is None:
            return lut
        corrected = cheek_lab(cv2.LUT(image, lut), mesh_free_points)
        if corrected is None:
            return lut
        shift = abs(ita_degrees(corrected) - ita_degrees(reference))
        if shift <= MAX_ITA_SHIFT and delta_e_2000(reference, corrected) <= MAX_SKIN_DELTA_E:
            return lut
    return _lut(identity, identity, identity)


def _lut(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    table: np.ndarray = np.stack([red, green, blue], axis=-1).reshape(256, 1, 3).round().astype(np.uint8)
    return table


def retouch(photo: np.ndarray, eye_x: float, eye_line: float, eye_distance: float) -> np.ndarray:
    """Mild skin smoothing: an edge-preserving bilateral filter blended in at 35%.

    The bilateral filter averages only similar colours, so it evens out skin texture without
    moving the skin's colour (the fidelity check measures that) or softening eyes and lips.
    Positions are output pixels.
    """
    d = eye_distance
    cx, cy = eye_x, eye_line + 0.5 * d
    half_w, half_h = 1.0 * d, 1.35 * d
    x0, x1 = max(0, int(cx - half_w)), min(OUTPUT_SIZE, int(cx + half_w))
    y0, y1 = max(0, int(cy - half_h)), min(OUTPUT_SIZE, int(cy + half_h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return photo
    roi = photo[y0:y1, x0:x1]
    smooth = cv2.bilateralFilter(roi, 7, 14, 4)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    weight = np.clip((1 - ((xs - cx) / half_w) ** 2 - ((ys - cy) / half_h) ** 2) * 3, 0, 1)
    for ex in (cx - d / 2, cx + d / 2):  # keep the eyes crisp
        weight *= np.clip(np.hypot(xs - ex, ys - eye_line) / (0.3 * d) - 1, 0, 1)
    weight = (weight * RETOUCH_STRENGTH)[..., None]
    result = photo.copy()
    result[y0:y1, x0:x1] = (roi * (1 - weight) + smooth * weight + 0.5).astype(np.uint8)
    return result


def backdrop(
    style: str, variant: int, old_background: np.ndarray, eye_line: float, rng: np.random.Generator
) -> np.ndarray:
    """The style's backdrop (float32 RGB, output size) for this variant."""
    size = (OUTPUT_SIZE, OUTPUT_SIZE)
    if style == OFFICE_BLUR:
        # The photo's own background (filled behind the person), blurred like a fast lens and
        # dimmed so the subject stands out; variants differ in depth of field and dimming.
        blur, tone = OFFICE_LOOKS[variant % len(OFFICE_LOOKS)]
        blurred = cv2.GaussianBlur(old_background, (0, 0), OUTPUT_SIZE * blur)
        result: np.ndarray = blurred * np.float32(tone * rng.uniform(0.98, 1.02))
        return result
    centre, edge = (np.array(c, np.float32) for c in BACKDROPS[style])
    gain = np.float32(rng.uniform(0.97, 1.02) if style != STUDIO_WHITE else 1.0)
    glow_x, falloff = LIGHTS[variant % len(LIGHTS)]
    # A pool of light on the backdrop behind the head, falling off to the edges and a
    # little more to the bottom. Computed at 1/8 size; it is smooth.
    small = OUTPUT_SIZE // 8
    ys, xs = np.mgrid[0:small, 0:small].astype(np.float32) / small
    glow_y = eye_line - 0.05 + rng.uniform(-0.02, 0.02)
    r = np.hypot((xs - glow_x - rng.uniform(-0.02, 0.02)) / 0.7, (ys - glow_y) / 0.85)
    t = np.clip(r, 0, 1) ** falloff
    t = np.clip(t + 0.12 * np.clip(ys - 0.6, 0, 1), 0, 1)
    grid = np.clip((centre * (1 - t[..., None]) + edge * t[..., None]) * gain, 0, 255).astype(np.float32)
    result = cv2.resize(grid, size, interpolation=cv2.INTER_CUBIC)
    return result


def fill_background(canvas: np.ndarray, alpha: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The photo's background with the person removed and the gap filled from around it.

    Normalised convolution: blur(background * weight) / blur(weight), so the person's
    colours never bleed into the blurred backdrop, and areas far from any background
    (or outside the photo) take the background's mean colour.
    """
    weight = ((1 - alpha) * inside).astype(np.float32)
    weight = cv2.erode(weight, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    weighted = canvas.astype(np.float32) * weight[..., None]
    sigma = canvas.shape[0] / 40
    num = cv2.GaussianBlur(weighted, (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    total = float(weight.sum())
    mean = weighted.reshape(-1, 3).sum(0) / total if total > 0 else np.full(3, 120.0)
    confidence = np.clip(den / 0.15, 0, 1)
    filled: np.ndarray = (num / np.maximum(den, 1e-4) * confidence + mean * (1 - confidence)).astype(np.float32)
    return filled
