"""Person segmentation: MediaPipe's selfie-segmentation model through LiteRT.

The model sees a 256 px square and answers, per pixel, how likely it shows a person
(hair, face, neck, clothes) rather than background. It is a prior, soft at the edges:
the studio backend seeds its GrabCut with it and refines edges on the photo itself; the
fidelity gate reads the hair silhouette from it. Callers pass a roughly square crop
around the head and shoulders (a full-length photo squeezed to 256 px loses the hair).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from headshot.litert import TfliteModel
from headshot.mediapipe_models import SELFIE_SEGMENTATION, default_model_dir, model_path


class PersonSegmenter:
    def __init__(self, model_dir: Path) -> None:
        self._model = TfliteModel(model_path(model_dir, SELFIE_SEGMENTATION))

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """Person probability (float32 0..1, the input's H x W) of an RGB uint8 image."""
        height, width = rgb.shape[:2]
        n = self._model.input_side
        small = np.asarray(Image.fromarray(rgb).resize((n, n), Image.Resampling.BILINEAR), np.float32) / 255.0
        (mask,) = self._model.run(small)
        probability: np.ndarray = np.clip(mask[..., 0], 0.0, 1.0).astype(np.float32)
        if (height, width) == (n, n):
            return probability
        resized = Image.fromarray(probability).resize((width, height), Image.Resampling.BILINEAR)
        full: np.ndarray = np.asarray(resized, np.float32)
        return full


@lru_cache(maxsize=2)
def load_segmenter(model_dir: Path | None = None) -> PersonSegmenter:
    """Loaded once per process (per folder)."""
    return PersonSegmenter(model_dir or default_model_dir())
