"""What the gate measures on one image (an output or a reference photo), in a face-aligned frame.

Outputs are reframed, rescaled and levelled versions of a photo, so anything compared by
position (the hair silhouette) is compared in a canonical frame fixed by the eyes: the eye
midpoint at (FRAME_SIDE / 2, EYE_LINE * FRAME_SIDE), the eyes level and EYE_DISTANCE apart.
That frame is about a head-and-shoulders square, which is what the selfie segmenter wants.
Colours are medians over regions rasterised from the 468-point mesh (headshot.face_regions),
so they do not depend on the framing either. Iris colour is sampled in image pixels, where
the iris is largest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
from PIL import Image

from headshot import face_regions
from headshot.color import luma, srgb_to_lab
from headshot.eye_metrics import iris_contrast
from headshot.faces import eye_centres
from headshot.mesh import Eye

if TYPE_CHECKING:
    from headshot.faces import FaceMeasurement
    from headshot.mesh import FaceMesh
    from headshot_inference.segmentation import PersonSegmenter

# The canonical frame: the segmenter's own input side; eyes on a line 40% down and a sixth of
# the side apart, so the frame spans ~2.4 eye distances above the eyes (the top of big hair)
# and ~3.6 below (the shoulders): the studio framing (EYE_LINE 0.40, EYE_DISTANCE 0.17).
FRAME_SIDE: Final = 256
EYE_LINE: Final = 0.40
EYE_DISTANCE: Final = FRAME_SIDE / 6
# Outside the image the frame is filled with mid grey, a neutral backdrop for the segmenter.
FILL: Final = (128, 128, 128)

# Hair: person pixels outside the face oval (grown by FACE_OVAL_MARGIN, so the hairline's
# soft edge is not counted as hair) within HAIR_HALF_WIDTH eye distances of the face's axis
# and above HAIR_BOTTOM eye distances below the eye line (about the mouth: hair at the sides
# of the face, not the shoulders). Its colour is read above the eye line only, on confident
# pixels (HAIR_CONFIDENT) away from the silhouette's edge.
PERSON_THRESHOLD: Final = 0.5
HAIR_CONFIDENT: Final = 0.8
FACE_OVAL_MARGIN: Final = 1.08
HAIR_HALF_WIDTH: Final = 2.6
HAIR_BOTTOM: Final = 1.0
MIN_HAIR_PIXELS: Final = 40
# Hair appearance is compared cell by cell on a CELLS x CELLS grid of the frame (4 x 4 px
# cells, an eighth of an eye distance): coarse enough that two aligned images of the same
# hair agree whatever its fine texture, fine enough to see a crown replaced by backdrop.
# The selfie segmenter cannot be trusted for that alone: it has a strong head-shape prior
# and still calls a flattened crown "person" (docs/CALIBRATION.md, "Output gate").
CELLS: Final = 64
# Skin: clipped pixels carry no colour; fewer than this many usable ones is no measurement.
MIN_SKIN_PIXELS: Final = 200
CLIP_DARK: Final = 10
CLIP_BRIGHT: Final = 245
# Iris: the annulus between the pupil and the limbal ring, inside the lids. Pupils fill up to
# ~0.45 of the iris radius in indoor light; the outer tenth is the dark limbal ring and lid
# shadow. Of what is left, the brightest (specular highlights, the catch-light) and the
# darkest (lashes, pupil edge) IRIS_TRIM share are dropped.
IRIS_INNER: Final = 0.45
IRIS_OUTER: Final = 0.9
IRIS_TRIM: Final = 0.15
# Below this radius (image px) an iris is a handful of pixels blurred into its surroundings.
MIN_IRIS_RADIUS_PX: Final = 3.0
MIN_IRIS_PIXELS: Final = 12
# Sharpness is compared at one face scale for both images: at most this eye distance (px),
# and never above the reference photo's own (an upscaled output is not "sharper").
SHARPNESS_EYE_DISTANCE: Final = 48.0


# Frame pixel grids, made once: (row, column) indices and their centres.
_ROWS_COLS: Final = np.mgrid[0:FRAME_SIDE, 0:FRAME_SIDE]
_PIXEL_CENTRES: Final = _ROWS_COLS.astype(np.float64) + 0.5


class Pyramid:
    """One image as Pillow sees it, with its box reductions made once and shared by every crop."""

    def __init__(self, rgb: np.ndarray) -> None:
        self._levels = {1: Image.fromarray(rgb)}

    def reduced(self, factor: int) -> Image.Image:
        if factor not in self._levels:
            self._levels[factor] = self._levels[1].reduce(factor)
        return self._levels[factor]


@dataclass(frozen=True, slots=True)
class Frame:
    """The similarity transform from canonical-frame pixels to image pixels."""

    to_image: np.ndarray  # 2 x 3
    eye_distance_px: float  # eye distance in image px

    @classmethod
    def from_eyes(cls, left: np.ndarray, right: np.ndarray, *, side: int = FRAME_SIDE) -> Frame:
        axis = right - left
        distance = float(np.hypot(*axis)) or 1.0
        k = distance / (side / FRAME_SIDE * EYE_DISTANCE)
        angle = math.atan2(float(axis[1]), float(axis[0]))
        c, s = math.cos(angle) * k, math.sin(angle) * k
        linear = np.array([[c, -s], [s, c]])
        offset = (left + right) / 2 - linear @ np.array([side / 2, EYE_LINE * side])
        return cls(np.hstack([linear, offset[:, None]]), distance)

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        linear, offset = self.to_image[:, :2], self.to_image[:, 2]
        mapped: np.ndarray = (np.asarray(points, np.float64)[:, :2] - offset) @ np.linalg.inv(linear).T
        return mapped

    def warp(self, rgb: np.ndarray | Pyramid, side: int, *, fill: tuple[int, int, int] = FILL) -> np.ndarray:
        """The frame's `side` x `side` view of an RGB image, box-reduced first (no aliasing)."""
        pyramid = rgb if isinstance(rgb, Pyramid) else Pyramid(rgb)
        matrix = self.to_image.copy()
        factor = max(1, math.floor(float(np.hypot(*matrix[:, 0]))))
        image = pyramid.reduced(factor)
        matrix /= factor
        warped = image.transform(
            (side, side), Image.Transform.AFFINE, tuple(matrix.ravel()), Image.Resampling.BILINEAR, fillcolor=fill
        )
        return np.asarray(warped)

    def inside(self, height: int, width: int) -> np.ndarray:
        """Which frame pixels fall inside an image of this size."""
        v, u = _PIXEL_CENTRES
        matrix = self.to_image
        x = matrix[0, 0] * u + matrix[0, 1] * v + matrix[0, 2]
        y = matrix[1, 0] * u + matrix[1, 1] * v + matrix[1, 2]
        inside: np.ndarray = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        return inside


@dataclass(frozen=True, slots=True)
class Features:
    """Everything the gate compares, measured on one image's main face."""

    frame: Frame
    skin_lab: np.ndarray | None
    iris_lab: np.ndarray | None
    openness: float | None
    # White of the eye minus iris over the skin below (headshot.eye_metrics), the more open
    # eye's: ~0 for a closed lid, which the mesh alone often draws as an open eye.
    iris_contrast: float | None
    gaze: tuple[float, float] | None
    person: np.ndarray  # (FRAME_SIDE, FRAME_SIDE) float32 person probability
    inside: np.ndarray  # (FRAME_SIDE, FRAME_SIDE) bool: frame pixels inside the image
    hair_zone: np.ndarray  # (FRAME_SIDE, FRAME_SIDE) bool: where hair is looked for
    hair_lab: np.ndarray | None
    cells_lab: np.ndarray  # (CELLS, CELLS, 3) CIELAB of the frame, box-averaged
    hair_cells: np.ndarray  # (CELLS, CELLS) bool: cells wholly of confident hair, inside the image
    sharpness: float  # at sharpness_eye_distance
    sharpness_eye_distance: float  # px in the frame the sharpness was measured at

    @property
    def hair(self) -> np.ndarray:
        hair: np.ndarray = (self.person > PERSON_THRESHOLD) & self.hair_zone
        return hair


def measure(
    rgb: np.ndarray,
    face: FaceMeasurement,
    segmenter: PersonSegmenter,
    *,
    scale: float = 1.0,
    sharpness_eye_distance: float | None = None,
) -> Features:
    """Measure `face` (coordinates in px / `scale` of `rgb`) on `rgb` (uint8 RGB).

    sharpness_eye_distance: the scale to judge sharpness at (the reference photo's); None
    for a reference itself, which uses its own (capped at SHARPNESS_EYE_DISTANCE).
    """
    mesh = face.mesh
    points = mesh.points[:, :2] * scale if mesh is not None else None
    if mesh is not None:
        left = np.mean([mesh.eyes[0].corners[0], mesh.eyes[0].corners[1]], axis=0) * scale
        right = np.mean([mesh.eyes[1].corners[0], mesh.eyes[1].corners[1]], axis=0) * scale
    else:
        left, right = (eye * scale for eye in eye_centres(face.landmarks))
    frame = Frame.from_eyes(left, right)
    pyramid = Pyramid(rgb)
    canonical = frame.warp(pyramid, FRAME_SIDE)
    inside = frame.inside(rgb.shape[0], rgb.shape[1])
    person = segmenter.segment(canonical)
    # Outside the image there is no person: a frame that cuts the head off has lost that hair.
    person[~inside] = 0.0

    centre_x, eye_y = FRAME_SIDE / 2, EYE_LINE * FRAME_SIDE
    rows, cols = _ROWS_COLS
    zone = (np.abs(cols - centre_x) <= HAIR_HALF_WIDTH * EYE_DISTANCE) & (rows <= eye_y + HAIR_BOTTOM * EYE_DISTANCE)
    skin_lab = hair_lab = None
    if points is not None:
        in_frame = frame.to_frame(points)
        oval = face_regions.region_mask(
            in_frame, face_regions.FACE_OVAL, (FRAME_SIDE, FRAME_SIDE), grow=FACE_OVAL_MARGIN
        )
        zone &= ~oval
        skin_lab = _median_lab(
            canonical[face_regions.face_skin_mask(in_frame, (FRAME_SIDE, FRAME_SIDE))], MIN_SKIN_PIXELS
        )
        confident = _erode(person > HAIR_CONFIDENT) & zone & (rows < eye_y)
        hair_lab = _median_lab(canonical[confident], MIN_HAIR_PIXELS)

    cells_lab = srgb_to_lab(np.asarray(Image.fromarray(canonical).resize((CELLS, CELLS), Image.Resampling.BOX)))
    confident_hair = (person > HAIR_CONFIDENT) & zone & inside
    hair_share = Image.fromarray((confident_hair * 255).astype(np.uint8)).resize((CELLS, CELLS), Image.Resampling.BOX)
    # 250/255: cells with at most a stray pixel of anything else.
    hair_cells = np.asarray(hair_share) >= 250

    own = min(SHARPNESS_EYE_DISTANCE, frame.eye_distance_px)
    at = sharpness_eye_distance if sharpness_eye_distance is not None else own
    return Features(
        frame=frame,
        skin_lab=skin_lab,
        iris_lab=iris_lab(rgb, mesh, scale) if mesh is not None else None,
        openness=mesh.openness if mesh is not None else None,
        iris_contrast=max(iris_contrast(rgb, _scaled(eye, scale)) for eye in mesh.eyes) if mesh is not None else None,
        gaze=mesh.gaze if mesh is not None else None,
        person=person,
        inside=inside,
        hair_zone=zone,
        hair_lab=hair_lab,
        cells_lab=cells_lab,
        hair_cells=hair_cells,
        sharpness=face_sharpness(pyramid, frame, at),
        sharpness_eye_distance=at,
    )


def iris_lab(rgb: np.ndarray, mesh: FaceMesh, scale: float = 1.0) -> np.ndarray | None:
    """Median CIELAB of both irises' annuli inside the lids, highlights and lashes trimmed."""
    samples = [pixels for eye in mesh.eyes if (pixels := _iris_pixels(rgb, eye, scale)) is not None]
    if not samples:
        return None
    pixels = np.concatenate(samples)
    if len(pixels) < MIN_IRIS_PIXELS:
        return None
    lab: np.ndarray = np.median(srgb_to_lab(pixels), axis=0)
    return lab


def _scaled(eye: Eye, scale: float) -> Eye:
    """An eye in another image's pixels."""
    return eye if scale == 1.0 else Eye(eye.contour * scale, eye.iris * scale, eye.iris_radius * scale)


def _iris_pixels(rgb: np.ndarray, eye: Eye, scale: float) -> np.ndarray | None:
    radius = eye.iris_radius * scale
    if radius < MIN_IRIS_RADIUS_PX:
        return None
    centre = eye.iris[0] * scale
    x0, y0 = (math.floor(v - radius) - 1 for v in centre)
    x1, y1 = (math.ceil(v + radius) + 2 for v in centre)
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    patch = rgb[y0:y1, x0:x1]
    opening = face_regions.rasterise([face_regions.eye_opening(eye.contour) * scale - (x0, y0)], patch.shape[:2])
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
    distance = np.hypot(xs - centre[0], ys - centre[1]) / radius
    pixels = patch[opening & (distance >= IRIS_INNER) & (distance <= IRIS_OUTER)]
    if len(pixels) < MIN_IRIS_PIXELS // 2:
        return None
    brightness = luma(pixels)
    low, high = np.quantile(brightness, [IRIS_TRIM, 1 - IRIS_TRIM])
    kept: np.ndarray = pixels[(brightness >= low) & (brightness <= high)]
    return kept


def face_sharpness(rgb: np.ndarray | Pyramid, frame: Frame, eye_distance: float) -> float:
    """Laplacian energy over contrast of the inner face (brows to chin), the face at `eye_distance` px.

    The same measure as the photo checks' (headshot.faces), on a face-aligned crop whose
    scale both images share, so an output is judged against what its photo held.
    """
    # The crop: 2.4 x 2.4 eye distances from half an eye distance above the eyes.
    side = max(8, round(2.4 * eye_distance))
    k = frame.eye_distance_px / eye_distance  # image px per crop px
    linear = frame.to_image[:, :2] / float(np.hypot(*frame.to_image[:, 0])) * k
    eyes_mid = frame.to_image @ np.array([FRAME_SIDE / 2, EYE_LINE * FRAME_SIDE, 1.0])
    offset = eyes_mid - linear @ np.array([side / 2, 0.5 * eye_distance])
    crop_frame = Frame(np.hstack([linear, offset[:, None]]), frame.eye_distance_px)
    grey = luma(crop_frame.warp(rgb, side)).astype(np.float32)
    laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(laplacian.std() / (grey.std() + 4.0))


def _median_lab(pixels: np.ndarray, minimum: int) -> np.ndarray | None:
    brightness = luma(pixels)
    usable = pixels[(brightness > CLIP_DARK) & (brightness < CLIP_BRIGHT)]
    if len(usable) < minimum:
        return None
    lab: np.ndarray = np.median(srgb_to_lab(usable), axis=0)
    return lab


def _erode(mask: np.ndarray) -> np.ndarray:
    """3 x 3 binary erosion (numpy only)."""
    return ~dilate(~mask, 1)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a (2 radius + 1) square (numpy only: the Lambda side has no OpenCV)."""
    padded = np.pad(mask, radius, constant_values=False)
    out = np.zeros_like(mask)
    height, width = mask.shape
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy : dy + height, dx : dx + width]
    return out
