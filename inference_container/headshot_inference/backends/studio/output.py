"""The studio backend's per-output work: the variant's frame, the photo warped into it, the
matte refined on the photo's edges, foreground colours re-estimated (no halo), mild skin
smoothing, and the style's backdrop with the variant's light direction and falloff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from headshot_inference.backends import OUTPUT_SIZE
from headshot_inference.backends.studio import compose, matte
from headshot_inference.backends.studio.photo import Prepared

# Above this upscale the warp's softness shows; an unsharp mask of this strength per
# extra 1x of upscale (calibrated on alex 2.8x and astronaut 2.9x) restores edge contrast.
SHARPEN_FROM: Final = 1.3
SHARPEN_PER_UPSCALE: Final = 0.35
# The composite runs this many rows at a time: its float temporaries stay in the CPU cache (whole
# ones are 25 MB of fresh pages each). The noise, drawn block by block in order, is the same.
COMPOSITE_BLOCK_ROWS: Final = 64


@dataclass(frozen=True, slots=True)
class Layers:
    """One variant's person, shared by all its styles (only the backdrop differs)."""

    alpha: np.ndarray  # float32 (OUTPUT_SIZE, OUTPUT_SIZE)
    person: np.ndarray  # float32 RGB: the person's own colours (edges decontaminated)
    old_background: np.ndarray  # float32 RGB: the photo's background, filled behind the person
    eye_line: float


def layers(prepared: Prepared, variant: int) -> Layers:
    """The variant's frame: photo warped in, colour-corrected, retouched, matted."""
    framing = prepared.framing(variant)
    size = (OUTPUT_SIZE, OUTPUT_SIZE)
    to_output = framing.from_photo(prepared.canvas)
    magnify = framing.upscale / prepared.scale
    interpolation = cv2.INTER_LANCZOS4 if magnify > SHARPEN_FROM else cv2.INTER_CUBIC
    photo = cv2.warpAffine(prepared.image, to_output[:2], size, flags=interpolation, borderMode=cv2.BORDER_REPLICATE)
    if magnify > SHARPEN_FROM:
        amount = SHARPEN_PER_UPSCALE * (magnify - 1)
        soft = cv2.GaussianBlur(photo, (0, 0), 0.6 * magnify)
        photo = cv2.addWeighted(photo, 1 + amount, soft, -amount, 0)
    photo = cv2.LUT(photo, prepared.lut)
    from_canvas = framing.from_canvas(prepared.canvas)[:2]
    alpha = cv2.warpAffine(prepared.alpha, from_canvas, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    ears = cv2.warpAffine(prepared.ears, from_canvas, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    d = framing.eye_distance * OUTPUT_SIZE
    photo = compose.retouch(photo, framing.eye_x * OUTPUT_SIZE, framing.eye_line * OUTPUT_SIZE, d)
    eyes = (framing.eye_x * OUTPUT_SIZE, framing.eye_line * OUTPUT_SIZE)
    alpha, person = matte.matte(alpha, photo, d, eyes, ears)
    old_background = cv2.warpAffine(
        prepared.background, from_canvas, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return Layers(alpha, person, old_background, framing.eye_line)


def render_output(
    prepared: Prepared, style: str, rng: np.random.Generator, *, variant: int = 0, shared: Layers | None = None
) -> np.ndarray:
    """One output; `shared` are the variant's layers when another style already made them."""
    parts = shared if shared is not None else layers(prepared, variant)
    backdrop = compose.backdrop(style, variant, parts.old_background, parts.eye_line, rng)
    result = np.empty(parts.person.shape, np.uint8)
    for start in range(0, len(result), COMPOSITE_BLOCK_ROWS):
        rows = slice(start, start + COMPOSITE_BLOCK_ROWS)
        a = parts.alpha[rows, :, None]
        composite = parts.person[rows] * a
        composite += backdrop[rows] * (1 - a)
        # 1/2-LSB noise dithers the smooth gradients so they do not band after 8-bit encoding.
        composite += rng.uniform(-0.5, 0.5, size=composite.shape).astype(np.float32)
        composite += 0.5
        result[rows] = np.clip(composite, 0, 255, out=composite).astype(np.uint8)
    return result
