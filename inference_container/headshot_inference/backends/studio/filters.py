"""Small image filters the studio's person mask and matte share."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

# The 3x3 solves run this many image rows at a time: a block's float64 temporaries stay in the
# CPU cache and the allocator's pool (whole-image ones are fresh pages each time): ~3x faster
# on the matte's 512-px guide.
SOLVE_BLOCK_ROWS: Final = 32


def disc(radius: int) -> np.ndarray:
    disc: np.ndarray = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return disc


def lab(rgb: np.ndarray) -> np.ndarray:
    lab: np.ndarray = cv2.cvtColor(np.ascontiguousarray(rgb, np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab


def pixels(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The pixels at the flat `index` of an (H, W) or (H, W, C) array: (N,) or (N, C)."""
    # np.take gathers rows ~3x faster than fancy indexing.
    gathered: np.ndarray = np.take(array.reshape(-1, *array.shape[2:]), index, axis=0)
    return gathered


def nearest_colour(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Each pixel's colour of its nearest pixel in `where` (bool; a Voronoi fill by the
    distance transform's labels); the image itself where `where` is empty."""
    if not where.any():
        return image.copy()
    _, labels = cv2.distanceTransformWithLabels(
        (~where).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    colours = np.zeros((int(labels.max()) + 1, image.shape[2]), image.dtype)
    colours[labels[where]] = image[where]
    nearest: np.ndarray = colours[labels]
    return nearest


def attached_regions(labels: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """Per label of cv2.connectedComponentsWithStats: True for the background (0), the largest
    region and every region that reaches the first row (the person above the rows looked at);
    False for the islands."""
    attached = np.zeros(len(stats), bool)
    attached[0] = True
    if len(stats) > 1:
        attached[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))] = True
    attached[np.unique(labels[0])] = True
    return attached


def normalised_blur(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    num = cv2.GaussianBlur(image * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    mean: np.ndarray = num / np.maximum(den, 1e-4)
    return mean


def upsampled_normalised_blur(
    image: np.ndarray, weight: np.ndarray, sigma: float, size: tuple[int, int], needed: np.ndarray
) -> np.ndarray:
    """cv2.resize(normalised_blur(image, weight, sigma), size) (linear), exact within the
    bounding box of `needed` (bool, (size[1], size[0])).

    When `size` is twice the image's (the matte's half-size work), only that box is computed
    (0 outside it): its source pixels grown by the blur's reach (OpenCV's float kernel: 4 sigma)
    and the upsampling's, which gives the same values in the box as the whole image would.
    """
    height, width = image.shape[:2]
    if size != (2 * width, 2 * height):
        whole: np.ndarray = cv2.resize(normalised_blur(image, weight, sigma), size, interpolation=cv2.INTER_LINEAR)
        return whole
    result = np.zeros((size[1], size[0], *image.shape[2:]), np.float32)
    rows, columns = np.flatnonzero(needed.any(axis=1)), np.flatnonzero(needed.any(axis=0))
    if len(rows) == 0:
        return result
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1
    # The source rows and columns the upsampling reads for the box, one more each side: an
    # upsampled crop is exact except in its outermost pixels.
    y0, y1 = max(0, top // 2 - 1), min(height, (bottom + 1) // 2 + 1)
    x0, x1 = max(0, left // 2 - 1), min(width, (right + 1) // 2 + 1)
    reach = int(4 * sigma) + 2
    by0, by1, bx0, bx1 = max(0, y0 - reach), min(height, y1 + reach), max(0, x0 - reach), min(width, x1 + reach)
    blurred = normalised_blur(image[by0:by1, bx0:bx1], weight[by0:by1, bx0:bx1], sigma)
    source = np.ascontiguousarray(blurred[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0])
    upsampled = cv2.resize(source, (2 * (x1 - x0), 2 * (y1 - y0)), interpolation=cv2.INTER_LINEAR)
    box = upsampled[top - 2 * y0 : bottom - 2 * y0, left - 2 * x0 : right - 2 * x0]
    result[top:bottom, left:right] = box.reshape(bottom - top, right - left, *image.shape[2:])
    return result


def guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a colour guide (per-pixel 3x3 covariance)."""
    window = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        out: np.ndarray = cv2.boxFilter(x, -1, window)
        return out

    mean_i = box(guide)
    mean_p = box(p)
    cov_ip = box(guide * p[..., None]) - mean_i * mean_p[..., None]

    def var(i: int, j: int) -> np.ndarray:
        v: np.ndarray = box(guide[..., i] * guide[..., j]) - mean_i[..., i] * mean_i[..., j]
        return v + np.float32(eps) if i == j else v

    a = solve_symmetric_3x3((var(0, 0), var(0, 1), var(0, 2), var(1, 1), var(1, 2), var(2, 2)), cov_ip)
    b = mean_p - (a * mean_i).sum(-1)
    q: np.ndarray = (box(a) * guide).sum(-1) + box(b)
    return q.astype(np.float32)


def solve_symmetric_3x3(
    upper: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], rhs: np.ndarray
) -> np.ndarray:
    """x (float32, rhs's shape (..., 3)) with A x = rhs per pixel, A symmetric given by its upper
    triangle (a00, a01, a02, a11, a12, a22), each (...).

    Cramer's rule with the cofactors, in float64: np.linalg.solve computes float32 input in
    float64 too (and gives the same float32 result), but loops LAPACK over the pixels, ~4x slower.
    A must be well conditioned (the guided filter's covariance plus eps on the diagonal is).
    Solved SOLVE_BLOCK_ROWS rows (the first axis) at a time.
    """
    if rhs.ndim < 2:
        return _cramer_3x3(upper, rhs)
    x = np.empty(rhs.shape, np.float32)
    for start in range(0, len(rhs), SOLVE_BLOCK_ROWS):
        block = slice(start, start + SOLVE_BLOCK_ROWS)
        x[block] = _cramer_3x3(tuple(entry[block] for entry in upper), rhs[block])
    return x


def _cramer_3x3(upper: tuple[np.ndarray, ...], rhs: np.ndarray) -> np.ndarray:
    a00, a01, a02, a11, a12, a22 = (np.asarray(entry, np.float64) for entry in upper)
    # The cofactors: each a 2x2 determinant of the entries beside it.
    c00, c01, c02 = _det2(a11, a22, a12, a12), _det2(a02, a12, a01, a22), _det2(a01, a12, a02, a11)
    c11, c12, c22 = _det2(a00, a22, a02, a02), _det2(a01, a02, a00, a12), _det2(a00, a11, a01, a01)
    determinant = a00 * c00
    determinant += a01 * c01
    determinant += a02 * c02
    r0, r1, r2 = (rhs[..., k].astype(np.float64) for k in range(3))
    x = np.empty(rhs.shape, np.float32)
    for k, (first, second, third) in enumerate(((c00, c01, c02), (c01, c11, c12), (c02, c12, c22))):
        row = first * r0
        row += second * r1
        row += third * r2
        row /= determinant
        x[..., k] = row
    return x


def _det2(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """p q - r s, computed in place on a fresh product (no third temporary)."""
    result: np.ndarray = p * q
    result -= r * s
    return result
