"""A quick look for every face in a photo: MediaPipe's full-range BlazeFace through LiteRT.

dlib's HOG detector finds and frames the main face (headshot.faces); scanning the whole
analysis image with it to be sure no other face hides there costs ~75 ms on one core.
BlazeFace sees the whole photo in 192 px, small faces included (it was built for faces up
to ~5 m away), in a few milliseconds. The photo checks use it as a sentinel: when it sees
no face besides the main one, the full HOG scan is skipped; when it sees any, HOG scans as
before, so the faces that are reported and measured are always dlib's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

from headshot.litert import TfliteModel
from headshot.mediapipe_models import FACE_DETECTION_FULL_RANGE, default_model_dir, model_path

# The full-range model's SSD anchors: one per cell of a 48x48 grid over its 192 px input
# (stride 4), fixed size; box offsets are in input pixels (MediaPipe's face_detection_full_range).
_GRID: Final = 48
# Low on purpose: a doubtful face costs a HOG scan, a missed one a wrong verdict. MediaPipe's
# own operating point is 0.6; real faces on the shared photos score 0.71-0.95, and of ten
# photos without faces one scored above 0.3 (rocket, 0.35: a HOG scan then says no face).
MIN_SCORE: Final = 0.3
# Boxes overlapping more than this are one face.
_SAME_FACE_IOU: Final = 0.3


@dataclass(frozen=True, slots=True)
class FaceBox:
    left: float
    top: float
    right: float
    bottom: float
    score: float

    def iou(self, other: tuple[float, float, float, float]) -> float:
        left, top, right, bottom = other
        width = max(0.0, min(self.right, right) - max(self.left, left))
        height = max(0.0, min(self.bottom, bottom) - max(self.top, top))
        overlap = width * height
        union = (self.right - self.left) * (self.bottom - self.top) + (right - left) * (bottom - top) - overlap
        return overlap / union if union > 0 else 0.0


class FaceDetector:
    def __init__(self, model_dir: Path) -> None:
        self._model = TfliteModel(model_path(model_dir, FACE_DETECTION_FULL_RANGE))
        centres = (np.arange(_GRID) + 0.5) / _GRID
        xs, ys = np.meshgrid(centres, centres)
        self._anchors = np.stack([xs.ravel(), ys.ravel()], axis=1)

    def detect(self, image: Image.Image) -> list[FaceBox]:
        """Faces in an RGB image (any size), most confident first, in the image's pixels."""
        n = self._model.input_side
        side = max(image.size)
        # Letterboxed into a square as the model was trained, the photo centred on black.
        # A box-filter integer reduction first: a resampling filter over the whole photo
        # would cost more than the model itself.
        if side >= 2 * n:
            image = image.reduce(side // n)
        scale = n / side
        target = (max(1, round(image.width * n / max(image.size))), max(1, round(image.height * n / max(image.size))))
        fitted = image.resize(target, Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", (n, n))
        offset = ((n - fitted.width) // 2, (n - fitted.height) // 2)
        canvas.paste(fitted, offset)
        tensor = np.asarray(canvas, np.float32) / 127.5 - 1.0
        boxes, logits = self._model.run(tensor)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[:, 0], -30.0, 30.0)))
        found: list[FaceBox] = []
        for index in np.argsort(-scores):
            if scores[index] < MIN_SCORE:
                break
            x, y, w, h = boxes[index, :4] / n
            cx, cy = x + self._anchors[index, 0], y + self._anchors[index, 1]
            # Back from the letterboxed unit square to image pixels.
            corners = (np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) * n - np.tile(offset, 2)) / scale
            left, top, right, bottom = (float(v) for v in corners)
            box = FaceBox(left, top, right, bottom, float(scores[index]))
            if all(box.iou((f.left, f.top, f.right, f.bottom)) < _SAME_FACE_IOU for f in found):
                found.append(box)
        return found


@lru_cache(maxsize=2)
def load_face_detector(model_dir: Path | None = None) -> FaceDetector:
    """Loaded once per process (per folder)."""
    return FaceDetector(model_dir or default_model_dir())
