"""Eyes from MediaPipe's face-landmark (468 points) and iris models, run through LiteRT.

dlib finds the face and its 5 points (headshot.faces); this module crops from those:
1. face crop: a square around the eyes and nose, rotated so the eyes are level, 192 px;
   the face-landmark model gives 468 points and a face-presence score;
2. the crop is redone around those points (as MediaPipe tracks: their box x1.5) and the
   model run once more, which centres the face and tightens every point;
3. per eye, a 64 px crop around its corners (x2.3, as MediaPipe does; the image-right eye
   mirrored, since the iris model knows left eyes only) gives 16 eyelid points and 5 iris
   points (centre and four on the iris rim).

From those: eye openness (lid gap over eye width, like the eye aspect ratio) and gaze
(where the iris sits between the corners). Everything is in the input image's pixels.
Crops use Pillow only, so the validator Lambda needs no OpenCV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

from headshot.litert import TfliteModel
from headshot.mediapipe_models import FACE_LANDMARK, IRIS_LANDMARK, default_model_dir, model_path

# Mesh indices of each eye's 16 contour points, in the iris model's contour order:
# lower lid from the image-left corner to the image-right corner (0..8), then the upper
# lid (9..15) over the same span. Image-left eye first (the subject's right eye).
EYE_CONTOURS: Final = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173),
    (362, 382, 381, 380, 374, 373, 390, 249, 263, 398, 384, 385, 386, 387, 388, 466),
)
# (lower, upper) contour positions that face each other across the eye.
_LID_PAIRS: Final = ((3, 11), (4, 12), (5, 13))
# The iris model's crop: the eye corners' distance x2.3, square.
_EYE_CROP_SCALE: Final = 2.3
_FACE_CROP_SCALE: Final = 1.5
# First face crop from the 5 dlib points, in eye distances d: centre 0.4 d below the eye
# midpoint, side 3.6 d (forehead to chin with room), as measured on the test photos.
_FIRST_CROP_DROP: Final = 0.4
_FIRST_CROP_SIDE: Final = 3.6
# The face-presence output is a logit; below 0.5 after the sigmoid there is no face.
MIN_PRESENCE: Final = 0.5


@dataclass(frozen=True, slots=True)
class Eye:
    contour: np.ndarray  # (16, 2) image px, EYE_CONTOURS order
    iris: np.ndarray  # (5, 2) image px: centre, then four rim points
    iris_radius: float  # px

    @property
    def corners(self) -> tuple[np.ndarray, np.ndarray]:
        return self.contour[0], self.contour[8]

    @property
    def width(self) -> float:
        first, last = self.corners
        return float(np.hypot(*(last - first))) or 1.0

    @property
    def openness(self) -> float:
        """Mean lid gap across the eye over the eye's width: ~0.25-0.4 open, under ~0.1 closed."""
        first, last = self.corners
        axis = (last - first) / self.width
        normal = np.array([-axis[1], axis[0]])
        gaps = [abs(float((self.contour[upper] - self.contour[lower]) @ normal)) for lower, upper in _LID_PAIRS]
        return float(np.mean(gaps)) / self.width

    @property
    def gaze(self) -> tuple[float, float]:
        """Iris centre from the eye's centre, in eye widths: (+x toward the image's right, +y down)."""
        first, last = self.corners
        axis = (last - first) / self.width
        normal = np.array([-axis[1], axis[0]])
        lid_mid = (self.contour[[3, 4, 5]].mean(axis=0) + self.contour[[11, 12, 13]].mean(axis=0)) / 2
        centre = (first + last) / 2
        offset = self.iris[0] - centre
        return float(offset @ axis) / self.width, float((self.iris[0] - lid_mid) @ normal) / self.width


@dataclass(frozen=True, slots=True)
class FaceMesh:
    points: np.ndarray  # (468, 3) image px (z in the same scale, negative toward the camera)
    presence: float
    eyes: tuple[Eye, Eye]  # image-left, image-right

    @property
    def openness(self) -> float:
        """The more open eye's openness: one squinting eye in a smile is still an open-eyed photo."""
        return max(eye.openness for eye in self.eyes)

    @property
    def gaze(self) -> tuple[float, float]:
        """Mean gaze of both eyes (see Eye.gaze)."""
        xs, ys = zip(*(eye.gaze for eye in self.eyes), strict=True)
        return float(np.mean(xs)), float(np.mean(ys))


class FaceMeshModel:
    """The two LiteRT models, loaded once per process (see load_mesh_model)."""

    def __init__(self, model_dir: Path) -> None:
        self._face = TfliteModel(model_path(model_dir, FACE_LANDMARK))
        self._iris = TfliteModel(model_path(model_dir, IRIS_LANDMARK))

    def measure(self, rgb: np.ndarray, landmarks5: np.ndarray) -> FaceMesh | None:
        """Mesh and eyes of the face whose dlib 5 points are given; None when no face is there."""
        image = Image.fromarray(rgb)
        right_eye_centre, left_eye_centre = landmarks5[0:2].mean(axis=0), landmarks5[2:4].mean(axis=0)
        axis = right_eye_centre - left_eye_centre
        d = float(np.hypot(*axis)) or 1.0
        angle = math.atan2(float(axis[1]), float(axis[0]))
        down = np.array([-axis[1], axis[0]]) / d
        centre = (left_eye_centre + right_eye_centre) / 2 + _FIRST_CROP_DROP * d * down
        points, presence = self._run_face(image, centre, _FIRST_CROP_SIDE * d, angle)
        if presence < MIN_PRESENCE:
            return None
        centre, side, angle = _roi_around(points[:, :2], _FACE_CROP_SCALE)
        points, presence = self._run_face(image, centre, side, angle)
        if presence < MIN_PRESENCE:
            return None
        eyes = (
            self._run_eye(image, points[:, :2], EYE_CONTOURS[0], mirrored=False),
            self._run_eye(image, points[:, :2], EYE_CONTOURS[1], mirrored=True),
        )
        return FaceMesh(points, presence, eyes)

    def _run_face(self, image: Image.Image, centre: np.ndarray, side: float, angle: float) -> tuple[np.ndarray, float]:
        n = self._face.input_side
        crop, to_image = _crop(image, centre, side, angle, n, mirrored=False)
        landmarks, presence = self._face.run(crop)
        points = landmarks.reshape(-1, 3).astype(np.float64)
        mapped = np.empty_like(points)
        mapped[:, :2] = _apply(to_image, points[:, :2])
        mapped[:, 2] = points[:, 2] * side / n
        return mapped, 1.0 / (1.0 + math.exp(-float(presence.ravel()[0])))

    def _run_eye(self, image: Image.Image, points: np.ndarray, contour: tuple[int, ...], *, mirrored: bool) -> Eye:
        first, last = points[contour[0]], points[contour[8]]
        axis = last - first
        # The crop's x axis runs from the eye's first corner to its last, as the model saw in training.
        angle = math.atan2(float(axis[1]), float(axis[0]))
        side = _EYE_CROP_SCALE * float(np.hypot(*axis))
        n = self._iris.input_side
        crop, to_image = _crop(image, (first + last) / 2, side, angle, n, mirrored=mirrored)
        eye_points, iris_points = self._iris.run(crop)
        lids = _apply(to_image, eye_points.reshape(-1, 3)[:16, :2].astype(np.float64))
        if mirrored:
            # The model answered for a mirrored (left) eye: put both lids back in image-left to
            # image-right order, so EYE_CONTOURS and the gaze axis hold for either eye.
            lids = np.vstack([lids[8::-1], lids[15:8:-1]])
        iris = _apply(to_image, iris_points.reshape(-1, 3)[:, :2].astype(np.float64))
        radius = float(np.mean(np.hypot(*(iris[1:] - iris[0]).T)))
        return Eye(lids, iris, radius)


def _roi_around(points: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
    """Centre, side and angle of the square crop around a face's points, levelled on its eyes."""
    left_eye = points[list(EYE_CONTOURS[0])].mean(axis=0)
    right_eye = points[list(EYE_CONTOURS[1])].mean(axis=0)
    axis = right_eye - left_eye
    angle = math.atan2(float(axis[1]), float(axis[0]))
    c, s = math.cos(angle), math.sin(angle)
    rotated = points @ np.array([[c, -s], [s, c]])  # into the face's own (levelled) frame
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    middle = (low + high) / 2
    centre = np.array([c * middle[0] - s * middle[1], s * middle[0] + c * middle[1]])
    return centre, float(max(high - low)) * scale, angle


def _crop(
    image: Image.Image, centre: np.ndarray, side: float, angle: float, n: int, *, mirrored: bool
) -> tuple[np.ndarray, np.ndarray]:
    """An n x n float crop (0..1) of a rotated square, and the 2x3 map from crop to image coordinates."""
    k = side / n
    c, s = math.cos(angle) * k, math.sin(angle) * k
    flip = -1.0 if mirrored else 1.0
    # image = centre + R(angle) @ ((u - n/2) * k * flip, (v - n/2) * k)
    linear = np.array([[c * flip, -s], [s * flip, c]])
    offset = centre - linear @ np.array([n / 2, n / 2])
    to_image = np.hstack([linear, offset[:, None]])
    crop = image.transform((n, n), Image.Transform.AFFINE, tuple(to_image.ravel()), Image.Resampling.BILINEAR)
    return np.asarray(crop, np.float32) / 255.0, to_image


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    mapped: np.ndarray = points @ matrix[:, :2].T + matrix[:, 2]
    return mapped


@lru_cache(maxsize=2)
def load_mesh_model(model_dir: Path | None = None) -> FaceMeshModel:
    """Loaded once per process (per folder) and shared by every check and score."""
    return FaceMeshModel(model_dir or default_model_dir())
