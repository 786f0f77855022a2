"""Eye defects made in code from real photos: lids painted shut, irises moved sideways.

They stand in for photos we do not have (a blink, a look away) and for what a generator
can do to a face (empty eyes). Both work from the MediaPipe eye points of the photo itself
(headshot.mesh), so they land exactly on the eyes at any size.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from headshot.mesh import Eye, FaceMesh


def _outline(eye: Eye) -> list[tuple[float, float]]:
    """The eye's opening as a closed polygon: lower lid left to right, upper lid back."""
    lower = eye.contour[0:9]
    upper = eye.contour[9:16][::-1]
    return [(float(x), float(y)) for x, y in np.vstack([lower, upper])]


def _eye_mask(size: tuple[int, int], eye: Eye, grow: float) -> Image.Image:
    """The eye opening (grown by `grow` eye widths around its centre), feathered."""
    centre = eye.contour.mean(axis=0)
    points = [(centre + (np.array(p) - centre) * (1 + grow)) for p in _outline(eye)]
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).polygon([(float(x), float(y)) for x, y in points], fill=255)
    return mask.filter(ImageFilter.GaussianBlur(max(1.0, 0.04 * eye.width)))


def paint_eyes_shut(image: Image.Image, mesh: FaceMesh) -> Image.Image:
    """Both eyes covered by the skin just below them, with a dark lash line along the closed lids."""
    result = image.convert("RGB").copy()
    pixels = np.asarray(result)
    for eye in mesh.eyes:
        first, last = eye.corners
        below = eye.contour[4] + np.array([0.0, 0.45 * eye.width])
        half = max(2, round(0.12 * eye.width))
        x, y = (int(v) for v in below.round())
        patch = pixels[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1].reshape(-1, 3)
        skin = tuple(int(v) for v in np.median(patch, axis=0))
        lid = Image.new("RGB", result.size, skin)
        result = Image.composite(lid, result, _eye_mask(result.size, eye, 0.25))
        lashes = eye.contour[0:9] * 0.5 + np.vstack([eye.contour[0:1], eye.contour[9:16], eye.contour[8:9]]) * 0.5
        ImageDraw.Draw(result).line(
            [(float(px), float(py)) for px, py in lashes], fill=(40, 30, 30), width=max(1, round(0.05 * eye.width))
        )
        del first, last
    return result


def move_irises(image: Image.Image, mesh: FaceMesh, shift: float) -> Image.Image:
    """Both irises moved by `shift` eye widths along the eye (positive: toward the image's right)."""
    result = image.convert("RGB").copy()
    pixels = np.asarray(result)
    for eye in mesh.eyes:
        first, last = eye.corners
        axis = (last - first) / eye.width
        opening = _eye_mask(result.size, eye, 0.0)
        inside = np.asarray(opening) > 127
        # The white of the eye: the brighter half of what the opening shows.
        shown = pixels[inside]
        brightness = shown.mean(axis=1)
        sclera = tuple(int(v) for v in np.median(shown[brightness >= np.median(brightness)], axis=0))
        eye_layer = Image.new("RGB", result.size, sclera)
        centre, radius = eye.iris[0], eye.iris_radius * 1.15
        box = (
            int(centre[0] - radius),
            int(centre[1] - radius),
            int(centre[0] + radius) + 1,
            int(centre[1] + radius) + 1,
        )
        iris = result.crop(box)
        disc = Image.new("L", iris.size, 0)
        ImageDraw.Draw(disc).ellipse((0, 0, iris.size[0] - 1, iris.size[1] - 1), fill=255)
        moved = centre + axis * shift * eye.width
        eye_layer.paste(iris, (int(moved[0] - radius), int(moved[1] - radius)), disc)
        result = Image.composite(eye_layer, result, opening)
    return result
