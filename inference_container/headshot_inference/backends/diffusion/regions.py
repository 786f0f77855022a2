"""Per-region strength: the face and hair stay close to the photo, clothes and backdrop are redrawn.

img2img has one strength: how far back along the noise schedule the start image is pushed,
so how much of it the model may change. A single value either keeps the photo's clothes,
light and backdrop (low) or redraws the face (high). Here every latent pixel gets its own
strength from a map (face, hair, body, backdrop from the studio matte and eye geometry,
feathered so regions blend): the pipeline runs at the largest strength, and after every
step `RegionHold` puts back, for each pixel whose own share of the schedule has not begun
yet, the start image noised to the current level (the inpainting pipelines' blend, with a
per-pixel start step: "differential diffusion", Levin & Fried 2023). A pixel of strength s
is therefore denoised over exactly its last int(steps x s) steps, and one of strength 0 ends
as the start image's latent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import cv2
import numpy as np

from headshot_inference.backends.diffusion.framing import Face, Framed
from headshot_inference.backends.diffusion.recipe import Strength

if TYPE_CHECKING:
    import torch

# The face region: an ellipse around the face centre (KEEP_DROP eye distances below the eye
# line), KEEP_AXES eye distances across and down: forehead to chin, cheek to cheek.
KEEP_AXES: Final = (0.95, 1.35)
KEEP_DROP: Final = 0.5
# The head (face, hair, ears): a larger ellipse; the person inside it but outside the face
# is hair. Below and beside it the person is body (neck, clothes).
HEAD_AXES: Final = (1.7, 2.1)
HEAD_DROP: Final = 0.1
# Region edges are blurred over this many eye distances so strengths change gradually.
FEATHER: Final = 0.12
# Masks are built at least this large, then area-averaged to the latent grid (1/8 of the
# resolution): finer would only cost blur time, the strengths apply per latent pixel.
WORK_SIDE: Final = 256


def ellipse(face: Face, side: int, axes: tuple[float, float], drop: float) -> np.ndarray:
    """A filled ellipse (uint8 0/1) around the face centre, in eye distances."""
    d = face.eye_distance
    mask = np.zeros((side, side), np.uint8)
    centre = (round(face.eye_x), round(face.eye_y + drop * d))
    cv2.ellipse(mask, centre, (max(1, round(axes[0] * d)), max(1, round(axes[1] * d))), 0, 0, 360, 1, thickness=-1)
    return mask


def region_masks(framed: Framed, side: int) -> dict[str, np.ndarray]:
    """Soft masks (float32, summing to 1) of the face, hair, body and backdrop at `side` px."""
    geometry = framed.face.scaled(side / framed.image.shape[0])
    sigma = max(0.5, FEATHER * geometry.eye_distance)
    face = cv2.GaussianBlur(ellipse(geometry, side, KEEP_AXES, KEEP_DROP).astype(np.float32), (0, 0), sigma)
    head = cv2.GaussianBlur(ellipse(geometry, side, HEAD_AXES, HEAD_DROP).astype(np.float32), (0, 0), sigma)
    matte = cv2.resize(framed.person.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
    # The face ellipse is person wherever the matte is unsure: it is never redrawn far.
    person = np.maximum(np.clip(matte, 0.0, 1.0), face)
    rest = person - face
    return {"face": face, "hair": rest * head, "body": rest * (1.0 - head), "backdrop": 1.0 - person}


def strength_map(framed: Framed, strength: Strength, keep_hair: bool, side: int) -> np.ndarray:
    """Per-pixel strength (float32, side x side): the regions' strengths mixed by their masks."""
    masks = region_masks(framed, max(side, WORK_SIDE))
    hair = strength.face if keep_hair else strength.hair
    values = {"face": strength.face, "hair": hair, "body": strength.body, "backdrop": strength.backdrop}
    mixed = np.zeros_like(masks["face"])
    for name, mask in masks.items():
        mixed += mask * values[name]
    result: np.ndarray = cv2.resize(mixed, (side, side), interpolation=cv2.INTER_AREA)
    return result


def start_steps(strengths: np.ndarray, steps: int) -> np.ndarray:
    """The first step (of `steps`) that may change each pixel: as img2img computes it per image."""
    share = np.floor(steps * strengths.astype(np.float64) + 1e-6).astype(np.int64)
    result: np.ndarray = steps - np.minimum(share, steps)
    return result


class RegionHold:
    """A pipeline `callback_on_step_end` holding every pixel until its own start step."""

    def __init__(self, init: torch.Tensor, noise: torch.Tensor, start: torch.Tensor, first: int) -> None:
        """`init` and `noise`: (B, 4, h, w) latents; `start`: (B, 1, h, w) start steps; `first`:
        the schedule index the pipeline starts at (its strength's start step)."""
        self.init, self.noise, self.start, self.first = init, noise, start, first

    def __call__(self, pipe: Any, index: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        import torch

        latents = kwargs["latents"]
        upcoming = self.first + index + 1  # the schedule index of the next step
        # A pixel enters its first step (and the end, for strength 0) as the noised start image.
        held = self.start >= upcoming
        if not bool(held.any()):
            return {"latents": latents}
        timesteps = pipe.scheduler.timesteps
        if upcoming >= len(timesteps):
            noised = self.init  # the schedule's end: noise level 0
        else:
            # Schedulers that track their step index noise to it (the next step's level), the
            # others to the timestep given: the same level either way.
            at = timesteps[upcoming : upcoming + 1].repeat(latents.shape[0])
            noised = pipe.scheduler.add_noise(self.init, self.noise, at)
        return {"latents": torch.where(held, noised.to(latents.dtype), latents)}
