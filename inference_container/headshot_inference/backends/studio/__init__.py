"""The classical CPU backend: a real photo of the person, levelled, framed and re-lit.

Per job: the best accepted photo that can be framed (photos come best first; one that
cannot be framed without inventing a body or blurring the face is skipped) is used for
every style, so the person looks the same across the job's images.

Per photo (once, shared by its outputs; `prepare`, photo.py):
1. a levelled work canvas around the eyes (framing.Canvas);
2. the person mask on it: selfie-segmenter prior + GrabCut + the face mesh (person_mask);
3. the feasible frames (framing): no missing body, whole hair, bounded upscale;
4. colour: white balance and levels under the skin guard; a rim light along the
   face outline healed first (rim).

Per output (`render_output`, output.py): the variant's frame (crop), the photo warped into it, the
matte refined on the photo's edges, foreground colours re-estimated (no halo), mild skin
smoothing, and the style's backdrop with the variant's light direction and falloff.
Nothing here is a trained generative model; see inference_container/README.md for the
IPTC digital source type this implies.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from headshot_inference.backends import (
    DST_ALGORITHMICALLY_ENHANCED,
    DST_COMPOSITE_SYNTHETIC,
    GeneratedImage,
    SourcePhoto,
    plan,
)
from headshot_inference.backends.studio.framing import EYE_DISTANCE, EYE_LINE, PREFERRED_MAX_UPSCALE
from headshot_inference.backends.studio.output import Layers, layers, render_output
from headshot_inference.backends.studio.photo import REFUSAL_CODE, Prepared, first_framable, prepare
from headshot_inference.segmentation import load_segmenter
from headshot_inference.styles import OFFICE_BLUR


class StudioBackend:
    name = "studio"
    seed_sensitive = False  # the seed moves the backdrop's light, not the person the gate judges

    def load(self) -> None:
        # The face models load with the photo checker; the segmenter and OpenCV's GrabCut
        # are pulled in now instead of during the first request.
        load_segmenter()
        image = np.zeros((16, 16, 3), np.uint8)
        mask = np.full((16, 16), cv2.GC_PR_BGD, np.uint8)
        mask[4:12, 4:12] = cv2.GC_FGD
        mask[0, :] = cv2.GC_BGD
        cv2.grabCut(image, mask, (0, 0, 0, 0), np.zeros((1, 65)), np.zeros((1, 65)), 1, cv2.GC_INIT_WITH_MASK)

    def generate(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> list[GeneratedImage]:
        items = plan(len(photos), styles, variants, seed)
        if not items:
            return []
        source, prepared = first_framable(photos)
        notes = _notes(prepared, variants)
        outputs = []
        per_variant: dict[int, Layers] = {}  # the person is the same in every style
        for item in items:
            if item.variant not in per_variant:
                per_variant[item.variant] = layers(prepared, item.variant)
            rng = np.random.default_rng(item.seed)
            image = render_output(prepared, item.style, rng, variant=item.variant, shared=per_variant[item.variant])
            dst = DST_ALGORITHMICALLY_ENHANCED if item.style == OFFICE_BLUR else DST_COMPOSITE_SYNTHETIC
            outputs.append(GeneratedImage(item.style, item.variant, item.seed, image, source, dst, notes[item.variant]))
        return outputs


def _notes(prepared: Prepared, variants: int) -> list[tuple[str, ...]]:
    notes = []
    for variant in range(variants):
        framing = prepared.framing(variant)
        found = []
        if framing.upscale > PREFERRED_MAX_UPSCALE * 1.01:
            found.append(f"upscaled {framing.upscale:.1f}x: the photo's face is small")
        if framing.eye_distance < EYE_DISTANCE * 0.95 and variant == 0:
            found.append(f"framed wider (head {framing.eye_distance / EYE_DISTANCE:.0%} of the usual size)")
        notes.append(tuple(found))
    return notes


__all__ = [
    "EYE_DISTANCE",
    "EYE_LINE",
    "REFUSAL_CODE",
    "Layers",
    "Prepared",
    "StudioBackend",
    "first_framable",
    "layers",
    "prepare",
    "render_output",
]
