"""What the eyes and the frame edges say about a photo, from the MediaPipe mesh (headshot.mesh).

Measurements only; headshot.policy decides. The constants are geometry of the human eye
and face, checked on the shared photos (docs/CALIBRATION.md, "Eyes and head room").
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from PIL import Image, ImageDraw

from headshot.color import luma
from headshot.mesh import Eye, FaceMesh

# Eye width (corner to corner, ~30 mm) over the eyeball's radius (~12 mm): an iris offset
# of s eye widths from the eye's centre is a rotation of asin(s * EYE_WIDTH_OVER_RADIUS).
EYE_WIDTH_OVER_RADIUS: Final = 2.4
# With the head turned by yaw and the eyes on the camera, the corners (in front of the
# eyeballs' centres) shift against the irises by YAW_PARALLAX * sin(yaw) eye widths.
# Fitted on the shared photos whose subject looks into the lens (residual <= 0.022).
YAW_PARALLAX: Final = 0.19
# Mesh points: 10 is the top of the forehead, 152 the bottom of the chin.
FOREHEAD_TOP: Final = 10
CHIN: Final = 152


def gaze_off_camera_deg(mesh: FaceMesh, yaw_deg: float) -> float:
    """How far (degrees, either side) the eyes look past the camera, head turn allowed for.

    Each eye's iris sits a little toward its outer corner when looking ahead; averaging the
    two eyes cancels that, so the mean offset is the eyes' own turn.
    """
    offset = mesh.gaze[0] + YAW_PARALLAX * math.sin(math.radians(yaw_deg))
    return math.degrees(math.asin(min(1.0, abs(offset) * EYE_WIDTH_OVER_RADIUS)))


def iris_contrast(rgb: np.ndarray, eye: Eye) -> float:
    """White of the eye minus iris, in luma, over the skin just below the eye.

    An open eye shows a dark iris against a brighter white whatever the skin tone; a closed
    lid shows skin only (about 0). The lids' landmarks alone cannot tell: the mesh draws an
    open-looking eye over a closed lid more often than not.
    """
    outline = np.vstack([eye.contour[0:9], eye.contour[9:16][::-1]])
    low = np.floor(outline.min(axis=0)).astype(int) - 1
    high = np.ceil(outline.max(axis=0)).astype(int) + 2
    height, width = rgb.shape[:2]
    x0, y0 = max(0, low[0]), max(0, low[1])
    x1, y1 = min(width, high[0]), min(height, high[1])
    if x1 - x0 < 3 or y1 - y0 < 2:
        return 0.0
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(mask).polygon([(float(x - x0), float(y - y0)) for x, y in outline], fill=255)
    inside = np.asarray(mask) > 0
    region = luma(rgb[y0:y1, x0:x1])
    ys, xs = np.nonzero(inside)
    distance = np.hypot(xs + x0 - eye.iris[0][0], ys + y0 - eye.iris[0][1])
    values = region[inside]
    iris = values[distance <= 0.9 * eye.iris_radius]
    white = values[distance > 1.1 * eye.iris_radius]
    skin = _skin_below(rgb, eye)
    if len(iris) == 0 or len(white) < 4:
        return 0.0
    return float((np.median(white) - np.median(iris)) / (skin + 10.0))


def _skin_below(rgb: np.ndarray, eye: Eye) -> float:
    """Median luma of a small patch of cheek half an eye width below the lower lid."""
    centre = eye.contour[4] + np.array([0.0, 0.45 * eye.width])
    half = max(2, round(0.12 * eye.width))
    x, y = (int(v) for v in centre.round())
    patch = rgb[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1]
    return float(np.median(luma(patch))) if patch.size else 128.0


def head_room(mesh: FaceMesh, width: int, height: int) -> tuple[float, float]:
    """Room in the frame above the forehead and below the chin, in eye distances.

    Measured along the face's own up/down axis to the frame's edge; negative when the
    forehead top or the chin lies outside the photo.
    """
    left, right = (eye.contour.mean(axis=0) for eye in mesh.eyes)
    axis = right - left
    distance = float(np.hypot(*axis)) or 1.0
    down = np.array([-axis[1], axis[0]]) / distance
    crown = _room(mesh.points[FOREHEAD_TOP, :2], -down, width, height) / distance
    chin = _room(mesh.points[CHIN, :2], down, width, height) / distance
    return crown, chin


def _room(point: np.ndarray, direction: np.ndarray, width: int, height: int) -> float:
    """Distance from a point to the frame's edge along a direction (negative if outside)."""
    steps = []
    for k, limit in ((0, width), (1, height)):
        if direction[k] > 1e-6:
            steps.append((limit - point[k]) / direction[k])
        elif direction[k] < -1e-6:
            steps.append(-point[k] / direction[k])
    return float(min(steps)) if steps else math.inf
