"""Face paste-back: the person's own face pixels over the generated face, with a seam that does not show.

Even a low-strength redraw of the face goes through the VAE at 1/8 resolution and the
UNet: skin texture, eyes and fine features drift. After generation the face ellipse of the
starting framing (the person's photo, levelled and framed) replaces the generated one:
- inside the ellipse shrunk by the feather the pixels are the framing's own, exactly;
- across the feather the two blend (smoothstep);
- the generated image around the face is shifted towards the framing's colours by the
  low-frequency difference measured along the seam (fully within one feather of the pasted
  region, fading out over the next two), so a relit neck or hairline meets the face
  without a colour step (the face itself is never recoloured: its pixels stay the person's).
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from headshot_inference.backends.diffusion.framing import Face
from headshot_inference.backends.diffusion.regions import ellipse

# The pasted ellipse (eye distances): inside the low-strength face region (regions.KEEP_*),
# from the forehead to the chin and cheek to cheek, so no backdrop comes with it.
PASTE_AXES: Final = (0.8, 1.15)
PASTE_DROP: Final = 0.55


def paste_mask(face: Face, person: np.ndarray, feather: float) -> np.ndarray:
    """float32 [0, 1]: 1 where the framing's face pixels are kept as they are, 0 outside."""
    side = person.shape[0]
    inside = ellipse(face, side, PASTE_AXES, PASTE_DROP)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5)  # distance to the ellipse's edge
    ramp = np.clip(depth / max(1.0, feather * face.eye_distance), 0.0, 1.0)
    smooth = ramp * ramp * (3.0 - 2.0 * ramp)
    # Only the person: a matte edge inside the ellipse (a narrow face) keeps the generated backdrop.
    person_core = np.clip((person.astype(np.float32) - 0.5) * 2.0, 0.0, 1.0)
    mask: np.ndarray = (smooth * person_core).astype(np.float32)
    return mask


def paste_face(
    generated: np.ndarray, source: np.ndarray, face: Face, person: np.ndarray, feather: float, colour_match: bool
) -> np.ndarray:
    """`generated` with `source`'s face pasted in (both RGB uint8 of one size)."""
    mask = paste_mask(face, person, feather)
    gen = generated.astype(np.float32)
    src = source.astype(np.float32)
    if colour_match:
        gen = _match_around(gen, src, mask, face, person, feather)
    m = mask[..., None]
    out = src * m + gen * (1.0 - m)
    result: np.ndarray = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return result


def _match_around(
    gen: np.ndarray, src: np.ndarray, mask: np.ndarray, face: Face, person: np.ndarray, feather: float
) -> np.ndarray:
    width = max(1.0, feather * face.eye_distance)
    outside = (mask <= 0.0).astype(np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, 5)  # from the pasted region, outwards
    # The seam band: the feather itself and one feather beyond it, on the person only.
    band = ((distance <= width) & (mask < 1.0)).astype(np.float32) * (person > 0.5)
    sigma = 2.0 * width
    weight = cv2.GaussianBlur(band, (0, 0), sigma)
    offset = cv2.GaussianBlur((src - gen) * band[..., None], (0, 0), sigma) / np.maximum(weight, 1e-3)[..., None]
    offset[weight < 1e-3] = 0.0
    # Full correction across the band, fading to none two feathers further out.
    fade = np.clip((3.0 * width - distance) / (2.0 * width), 0.0, 1.0)[..., None]
    matched: np.ndarray = gen + offset * fade
    return matched
