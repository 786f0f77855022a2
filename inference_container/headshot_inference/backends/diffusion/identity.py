"""Identity conditioning: IP-Adapter embeddings of every accepted photo's face, averaged.

One photo's embedding carries that photo's light, expression and compression as much as the
person; the mean over all accepted photos keeps what they share (the face) and averages the
rest out. The crops are the photos' own pixels (not the studio retouch), levelled on the
eyes: the same alignment for every photo. CLIP ViT-H behind IP-Adapter Plus Face carries
commercially usable licences; no insightface model is involved (docs/RECIPE.md, Licences).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import cv2
import numpy as np
from PIL import Image

from headshot.faces import eye_centres
from headshot_inference.backends import SourcePhoto

if TYPE_CHECKING:
    import torch

# The square the adapter sees: FACE_CROP_SIDE eye distances wide (forehead to chin), centred
# FACE_CROP_DROP eye distances below the eye line, FACE_CROP_PX pixels (CLIP's input).
FACE_CROP_SIDE: Final = 2.6
FACE_CROP_DROP: Final = 0.45
FACE_CROP_PX: Final = 224


def aligned_face(photo: SourcePhoto) -> Image.Image:
    """The photo's face, eyes levelled, scaled to FACE_CROP_PX (replicated border past the photo)."""
    left, right = eye_centres(photo.landmarks)
    axis = right - left
    d = float(np.hypot(*axis))
    roll = math.atan2(float(axis[1]), float(axis[0]))
    k = FACE_CROP_PX / (FACE_CROP_SIDE * max(d, 1.0))
    c, s = math.cos(roll) * k, math.sin(roll) * k
    linear = np.array([[c, s], [-s, c]])  # rotates by -roll: eyes level
    middle = (left + right) / 2
    target = np.array([FACE_CROP_PX / 2, FACE_CROP_PX / 2 - FACE_CROP_DROP * d * k])
    shift = target - linear @ middle
    matrix = np.hstack([linear, shift[:, None]])
    crop = cv2.warpAffine(
        photo.image, matrix, (FACE_CROP_PX, FACE_CROP_PX), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )
    return Image.fromarray(crop)


def face_embeds(pipe: Any, faces: Sequence[Image.Image]) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings, negative embeddings) per face, as the pipeline's adapter reads them."""
    from diffusers.models.embeddings import ImageProjection

    projection = pipe.unet.encoder_hid_proj.image_projection_layers[0]
    hidden = not isinstance(projection, ImageProjection)  # Plus adapters read hidden states
    embeds, negative = pipe.encode_image(list(faces), pipe.device, 1, hidden)
    return embeds, negative


@dataclass(frozen=True, slots=True)
class IdentityEmbeds:
    """The mean embedding of a job's faces (and of the adapter's negative), computed once."""

    mean: torch.Tensor  # (1, 1, ...): one image per output, as the adapter's projection reads it
    negative: torch.Tensor

    @classmethod
    def average(cls, pipe: Any, faces: Sequence[Image.Image]) -> IdentityEmbeds:
        embeds, negative = face_embeds(pipe, faces)
        return cls(embeds.mean(dim=0, keepdim=True).unsqueeze(1), negative.mean(dim=0, keepdim=True).unsqueeze(1))

    def rows(self, batch: int, cfg: bool) -> torch.Tensor:
        """`ip_adapter_image_embeds[0]` for `batch` outputs, negatives first under CFG."""
        import torch

        rows = self.mean.expand(batch, *self.mean.shape[1:])
        if not cfg:
            return rows
        result: torch.Tensor = torch.cat([self.negative.expand(batch, *self.negative.shape[1:]), rows])
        return result
