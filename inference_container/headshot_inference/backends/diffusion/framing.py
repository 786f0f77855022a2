"""What the model starts from: the person's best framable photo, segmented, over the style's backdrop.

The studio backend frames and mattes the photo (eyes level on a fixed line, head and
shoulders, the person mask of its matte, a backdrop in the style's colour): that composite,
not a finished studio output with its defects baked in, is what the diffusion model redraws,
and the person mask tells the region map (regions.py) where the backdrop and clothes are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from headshot_inference.backends import PlannedImage, studio


@dataclass(frozen=True, slots=True)
class Face:
    """Where the face sits in a framing, in output pixels (the studio framing's eye geometry)."""

    eye_x: float
    eye_y: float
    eye_distance: float

    def scaled(self, factor: float) -> Face:
        return Face(self.eye_x * factor, self.eye_y * factor, self.eye_distance * factor)


@dataclass(frozen=True, slots=True)
class Framed:
    """One output's starting point at OUTPUT_SIZE."""

    item: PlannedImage
    image: np.ndarray  # RGB uint8: the person (studio matte) over the style's backdrop
    person: np.ndarray  # float32 [0, 1]: the person matte
    face: Face


def frame(prepared: studio.Prepared, items: Sequence[PlannedImage]) -> list[Framed]:
    """Each item's framing: its variant's crop, the photo's person, its style's backdrop."""
    per_variant: dict[int, studio.Layers] = {}  # the person is the same in every style
    framed = []
    for item in items:
        if item.variant not in per_variant:
            per_variant[item.variant] = studio.layers(prepared, item.variant)
        parts = per_variant[item.variant]
        image = studio.render_output(
            prepared, item.style, np.random.default_rng(item.seed), variant=item.variant, shared=parts
        )
        geometry = prepared.framing(item.variant)
        side = image.shape[0]
        face = Face(geometry.eye_x * side, geometry.eye_line * side, geometry.eye_distance * side)
        framed.append(Framed(item, image, parts.alpha, face))
    return framed
