"""Face regions of MediaPipe's 468-point face mesh, and masks rasterised from them.

The index sets are MediaPipe's own (face_mesh_connections: FACEMESH_FACE_OVAL, _LIPS,
_LEFT_EYE, _RIGHT_EYE, _LEFT_EYEBROW, _RIGHT_EYEBROW), written here as closed polygons
in drawing order so that a region is one `ImageDraw.polygon` call. "Image-left" is the
subject's right (mesh points 33/133 side), as in headshot.mesh.EYE_CONTOURS.

Pillow and numpy only: the validator Lambda imports this package and ships no OpenCV.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
from PIL import Image, ImageDraw

# The face silhouette, clockwise from the top of the forehead (10) round the chin (152).
FACE_OVAL: Final = (
    10,
    338,
    297,
    332,
    284,
    251,
    389,
    356,
    454,
    323,
    361,
    288,
    397,
    365,
    379,
    378,
    400,
    377,
    152,
    148,
    176,
    149,
    150,
    136,
    172,
    58,
    132,
    93,
    234,
    127,
    162,
    21,
    54,
    103,
    67,
    109,
)
# Outer lip line: upper lip left corner (61) to right corner (291), then the lower lip back.
LIPS: Final = (
    61,
    185,
    40,
    39,
    37,
    0,
    267,
    269,
    270,
    409,
    291,
    375,
    321,
    405,
    314,
    17,
    84,
    181,
    91,
    146,
)
# Eye openings: lower lid corner to corner, then the upper lid back (the iris model's 16).
EYE_IMAGE_LEFT: Final = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
EYE_IMAGE_RIGHT: Final = (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398)
# Eyebrows: upper edge outward-in, then the lower edge back.
BROW_IMAGE_LEFT: Final = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
BROW_IMAGE_RIGHT: Final = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)

EYES: Final = (EYE_IMAGE_LEFT, EYE_IMAGE_RIGHT)
BROWS: Final = (BROW_IMAGE_LEFT, BROW_IMAGE_RIGHT)
# Margins around the features cut out of the skin: lashes, lid creases and brow hairs
# reach past the landmark polygons, and lipstick edges past the lip line.
EYE_MARGIN: Final = 1.6
BROW_MARGIN: Final = 1.3
LIPS_MARGIN: Final = 1.15


def polygon(points: np.ndarray, indices: Sequence[int], *, grow: float = 1.0) -> np.ndarray:
    """The (n, 2) xy polygon of a region, optionally scaled by `grow` about its centroid."""
    xy = np.asarray(points, np.float64)[list(indices), :2]
    if grow == 1.0:
        return xy
    centre = xy.mean(axis=0)
    grown: np.ndarray = centre + (xy - centre) * grow
    return grown


def rasterise(
    polygons: Sequence[np.ndarray], shape: tuple[int, int], *, subtract: Sequence[np.ndarray] = ()
) -> np.ndarray:
    """Boolean (H, W) mask: inside any of `polygons` and outside all of `subtract`."""
    height, width = shape
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for fill, shapes in ((255, polygons), (0, subtract)):
        for xy in shapes:
            draw.polygon([(float(x), float(y)) for x, y in xy], fill=fill)
    return np.asarray(canvas) > 0


def region_mask(points: np.ndarray, indices: Sequence[int], shape: tuple[int, int], *, grow: float = 1.0) -> np.ndarray:
    """Boolean (H, W) mask of one region of a mesh whose points are in the mask's pixels."""
    return rasterise([polygon(points, indices, grow=grow)], shape)


def eye_opening(contour: np.ndarray) -> np.ndarray:
    """The closed polygon of an eye opening from the iris model's 16 contour points.

    Its order (headshot.mesh.EYE_CONTOURS) runs both lids from the same corner, lower (0..8)
    then upper (9..15): drawn as given it would be a bow tie, so the upper lid is reversed.
    """
    loop: np.ndarray = np.vstack([contour[:9], contour[9:][::-1]])
    return loop


def face_skin_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Face skin: the face oval minus the eyes, brows and lips (each with a margin)."""
    holes = [polygon(points, eye, grow=EYE_MARGIN) for eye in EYES]
    holes += [polygon(points, brow, grow=BROW_MARGIN) for brow in BROWS]
    holes.append(polygon(points, LIPS, grow=LIPS_MARGIN))
    return rasterise([polygon(points, FACE_OVAL)], shape, subtract=holes)
