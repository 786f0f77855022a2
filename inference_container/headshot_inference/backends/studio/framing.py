"""Where the head sits in the output: a crop that never needs a body the photo does not show.

Everything is decided on the work canvas: a levelled square of the photo around the eyes
(eye midpoint at CANVAS_LEFT, CANVAS_TOP eye distances from its corner), large enough for
every frame we may choose. A frame is an axis-aligned square on that canvas, given by the
eye distance (share of the output side), the eye line and the eyes' horizontal position.

A frame is feasible when
- it contains no "missing body": where the person touches an edge of the photo, the body
  goes on beyond it, so the frame must stay inside the photo there (no repeated rows, no
  invented torso, no straight cut through a shoulder);
- the hair is whole, with headroom above it and room beside it at head height;
- the face is upscaled at most MAX_UPSCALE.
Among feasible frames the least upscaled one wins once the upscale passes
PREFERRED_MAX_UPSCALE (a smaller head is better than a blurred one), then the one closest
to the preferred composition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from headshot_inference.backends import OUTPUT_SIZE

# The preferred composition (shares of the output side): eyes 40% from the top, 17% of the
# width apart (a ~38%-wide head): a classic head-and-shoulders business headshot.
EYE_LINE: Final = 0.40
EYE_DISTANCE: Final = 0.17
# How far a photo may push the frame from that. 0.12 still reads as a headshot (head ~28%
# of the width, astronaut's 512 px photo needs it); 0.25 is a tight headshot (head ~55%).
EYE_DISTANCE_RANGE: Final = (0.12, 0.25)
EYE_LINE_RANGE: Final = (0.36, 0.46)
EYE_X_RANGE: Final = (0.42, 0.58)
_GRID: Final = (24, 6, 9)  # candidates per axis: eye distance, eye line, eye x
# Upscale (output px per photo px): above 2x detail visibly smears, so frames get wider
# first; 3x is the most we deliver (astronaut 2.9x at the widest frame; alex 2.8x, held
# by its bottom and side edges). Beyond that the photo is refused for this frame.
PREFERRED_MAX_UPSCALE: Final = 2.0
MAX_UPSCALE: Final = 3.0
# Headroom over the hair and room beside the head, shares of the output side.
HEADROOM: Final = 0.04
SIDE_ROOM: Final = 0.02
# Canvas: x from -CANVAS_LEFT to +CANVAS_LEFT eye distances, y from -CANVAS_TOP to
# CANVAS_SIDE - CANVAS_TOP: covers the widest frame (1/0.12 = 8.3 d) at every eye line/x.
CANVAS_SIDE: Final = 9.6
CANVAS_LEFT: Final = 4.8
CANVAS_TOP: Final = 3.9
# Pixels of missing body a frame may include (anti-aliasing of the photo's edge).
MISSING_TOLERANCE: Final = 3
# Variants: the target eye distance relative to the chosen frame (tighter and wider crops
# read as different pictures; 3% did not).
VARIANT_ZOOMS: Final = (1.0, 0.84, 1.16, 0.92, 1.08, 0.88, 1.12, 0.96)


@dataclass(frozen=True, slots=True)
class Canvas:
    """The levelled work canvas: photo pixels -> canvas pixels."""

    from_photo: np.ndarray  # 3x3
    side: int
    per_d: float  # canvas pixels per eye distance
    eye: tuple[float, float]  # eye midpoint on the canvas

    @classmethod
    def around(cls, eye_mid: np.ndarray, eye_distance: float, roll: float, side: int) -> Canvas:
        per_d = side / CANVAS_SIDE
        k = per_d / eye_distance
        c, s = math.cos(roll) * k, math.sin(roll) * k
        linear = np.array([[c, s], [-s, c]])  # rotates by -roll: the eyes become level
        eye = (CANVAS_LEFT * per_d, CANVAS_TOP * per_d)
        shift = np.array(eye) - linear @ eye_mid
        matrix = np.array([[*linear[0], shift[0]], [*linear[1], shift[1]], [0, 0, 1]])
        return cls(matrix, side, per_d, eye)


@dataclass(frozen=True, slots=True)
class Framing:
    eye_distance: float  # share of the output side
    eye_line: float  # share of the height
    eye_x: float  # share of the width
    upscale: float  # output pixels per photo pixel

    def from_canvas(self, canvas: Canvas) -> np.ndarray:
        """3x3: canvas pixels -> output pixels."""
        s = OUTPUT_SIZE * self.eye_distance / canvas.per_d
        tx = self.eye_x * OUTPUT_SIZE - s * canvas.eye[0]
        ty = self.eye_line * OUTPUT_SIZE - s * canvas.eye[1]
        return np.array([[s, 0, tx], [0, s, ty], [0, 0, 1]])

    def from_photo(self, canvas: Canvas) -> np.ndarray:
        """3x3: photo pixels -> output pixels."""
        matrix: np.ndarray = self.from_canvas(canvas) @ canvas.from_photo
        return matrix


@dataclass(frozen=True, slots=True)
class Candidates:
    """Every feasible frame of one photo (parallel arrays), or why there is none."""

    eye_distance: np.ndarray
    eye_line: np.ndarray
    eye_x: np.ndarray
    upscale: np.ndarray
    refusal: str | None

    def best(self, zoom: float = 1.0, around: Framing | None = None) -> Framing:
        """The frame closest to the preferred one (or `around` zoomed), least upscaled first."""
        target = (around.eye_distance if around is not None else EYE_DISTANCE) * zoom
        line = around.eye_line if around is not None else EYE_LINE
        x = around.eye_x if around is not None else 0.5
        # Upscale beyond the preferred limit outranks composition (1 step = 0.1 x upscale).
        blur = np.maximum(self.upscale, PREFERRED_MAX_UPSCALE) * 10
        if around is not None:  # a variant never blurs more than its base frame
            blur = np.where(self.upscale > around.upscale * 1.001, np.inf, np.round(blur))
        cost = (
            blur * 100
            + (np.log(self.eye_distance / target) / 0.05) ** 2
            + ((self.eye_line - line) / 0.03) ** 2
            + ((self.eye_x - x) / 0.03) ** 2
        )
        i = int(np.argmin(cost))
        return Framing(
            float(self.eye_distance[i]), float(self.eye_line[i]), float(self.eye_x[i]), float(self.upscale[i])
        )


def candidates(canvas: Canvas, person: np.ndarray, missing: np.ndarray, photo_eye_distance: float) -> Candidates:
    """The feasible frames on `canvas` for a person mask and the missing-body mask (both bool)."""
    grid = np.meshgrid(
        np.geomspace(*EYE_DISTANCE_RANGE, _GRID[0]),
        np.linspace(*EYE_LINE_RANGE, _GRID[1]),
        np.linspace(*EYE_X_RANGE, _GRID[2]),
        indexing="ij",
    )
    e, y, x = (axis.ravel() for axis in grid)
    side = canvas.per_d / e  # the frame's side in canvas pixels
    left = canvas.eye[0] - x * side
    top = canvas.eye[1] - y * side
    right, bottom = left + side, top + side
    upscale = OUTPUT_SIZE * e / photo_eye_distance

    person_sum = _integral(person)
    missing_sum = _integral(missing)
    head_bottom = canvas.eye[1] + 0.8 * canvas.per_d  # below it, shoulders may leave the frame
    room = SIDE_ROOM * side
    checks = {
        "the photo ends where the body goes on (it would need an invented torso)": _count(
            missing_sum, top, bottom, left, right
        )
        <= MISSING_TOLERANCE,
        "the hair would be cut at the top": _count(person_sum, 0, top + HEADROOM * side, left, right) == 0,
        "the head would be cut at the side": (_count(person_sum, top, head_bottom, 0, left + room) == 0)
        & (_count(person_sum, top, head_bottom, right - room, canvas.side) == 0),
        f"the face would be upscaled more than {MAX_UPSCALE:g}x": upscale <= MAX_UPSCALE,
    }
    ok = np.ones_like(e, dtype=bool)
    refusal = None
    for reason, passed in checks.items():
        if not (ok & passed).any():
            refusal = reason
            break
        ok &= passed
    if refusal is not None:
        empty = np.empty(0)
        return Candidates(empty, empty, empty, empty, refusal)
    return Candidates(e[ok], y[ok], x[ok], upscale[ok], None)


def _integral(mask: np.ndarray) -> np.ndarray:
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    table[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    return table


def _count(table: np.ndarray, top: np.ndarray | float, bottom: np.ndarray | float, left: np.ndarray | float,
           right: np.ndarray | float) -> np.ndarray:  # fmt: skip
    """Set pixels in the rectangles [top, bottom) x [left, right) (clipped to the canvas)."""
    h, w = table.shape[0] - 1, table.shape[1] - 1
    t = np.clip(np.round(top), 0, h).astype(int)
    b = np.clip(np.round(bottom), 0, h).astype(int)
    left_ = np.clip(np.round(left), 0, w).astype(int)
    r = np.clip(np.round(right), 0, w).astype(int)
    b, r = np.maximum(b, t), np.maximum(r, left_)
    counts: np.ndarray = table[b, r] - table[t, r] - table[b, left_] + table[t, left_]
    return counts


def missing_body(person: np.ndarray, inside: np.ndarray, photo_xy: tuple[np.ndarray, np.ndarray],
                 photo_size: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """Canvas pixels beyond the photo's edges where the person would go on.

    Where the person touches the photo's bottom edge the body continues straight down,
    at a side edge sideways, at the top upwards: everything beyond the edge in that
    direction is body we do not have.
    """
    src_x, src_y = photo_xy
    width, height = photo_size
    # Two canvas pixels from the edge, in photo pixels (the canvas may be smaller or larger).
    near = 2.0 * float(np.hypot(src_x[0, 1] - src_x[0, 0], src_y[0, 1] - src_y[0, 0]))
    touching = person & inside
    seeds = {
        "bottom": touching & (src_y > height - 0.5 - near),
        "top": touching & (src_y < near - 0.5),
        "left": touching & (src_x < near - 0.5),
        "right": touching & (src_x > width - 0.5 - near),
    }
    missing = np.zeros_like(person)
    # Cumulative maxima carry each contact away from the photo along the canvas rows or
    # columns (the canvas is levelled, the photo's edges nearly axis-aligned on it).
    missing |= np.maximum.accumulate(seeds["bottom"], axis=0)
    missing |= np.maximum.accumulate(seeds["top"][::-1], axis=0)[::-1]
    missing |= np.maximum.accumulate(seeds["right"], axis=1)
    missing |= np.maximum.accumulate(seeds["left"][:, ::-1], axis=1)[:, ::-1]
    result: np.ndarray = missing & ~inside
    return result
