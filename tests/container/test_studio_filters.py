"""The studio's small filters against their straightforward versions, on random data."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import pytest

from headshot_inference.backends.studio import filters

pytestmark = pytest.mark.container

EPS: Final = 2e-3


def random_covariances(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 3, 3) float32 covariances as the guided filter sees them: of RGB values in [0, 1]
    over a window, many nearly rank one (grey areas: the channels vary together), plus EPS."""
    samples = rng.random((count, 81, 3), np.float32)
    grey = rng.random(count) < 0.5
    samples[grey] = samples[grey, :, :1] * rng.uniform(0.5, 1.5, (int(grey.sum()), 1, 3)).astype(np.float32)
    samples *= rng.uniform(0.0, 1.0, (count, 1, 1)).astype(np.float32)  # flat windows too
    centred = samples - samples.mean(axis=1, keepdims=True)
    covariance: np.ndarray = np.einsum("nki,nkj->nij", centred, centred) / samples.shape[1]
    return (covariance + EPS * np.eye(3)).astype(np.float32)


def test_the_closed_form_solve_matches_numpy() -> None:
    rng = np.random.default_rng(7)
    # Given symmetric, well-conditioned 3x3 systems (a 2-D grid of them, as the filter has)
    matrices = random_covariances(rng, 64 * 64)
    rhs = rng.normal(0.0, 0.05, (64 * 64, 3)).astype(np.float32)
    a00, a01, a02, a11, a12, a22 = (
        matrices[:, i, j].reshape(64, 64) for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    )
    # When solved in closed form
    solved = filters.solve_symmetric_3x3((a00, a01, a02, a11, a12, a22), rhs.reshape(64, 64, 3))
    # Then it is numpy's solution (numpy solves float32 in float64 too) to float32 rounding
    expected = np.linalg.solve(matrices, rhs[..., None])[..., 0].reshape(64, 64, 3)
    assert solved.dtype == np.float32
    np.testing.assert_allclose(solved, expected, rtol=1e-6, atol=1e-6 * float(np.abs(expected).max()))
    # And a single system too
    single = filters.solve_symmetric_3x3((a00[0, 0], a01[0, 0], a02[0, 0], a11[0, 0], a12[0, 0], a22[0, 0]), rhs[0])
    np.testing.assert_allclose(single, expected[0, 0], rtol=1e-6, atol=1e-6 * float(np.abs(expected).max()))


def reference_guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s colour guided filter as written: the per-pixel 3x3 systems solved by numpy."""
    window = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        out: np.ndarray = cv2.boxFilter(x, -1, window)
        return out

    mean_i, mean_p = box(guide), box(p)
    cov_ip = box(guide * p[..., None]) - mean_i * mean_p[..., None]
    var = np.empty((*guide.shape[:2], 3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            var[..., i, j] = box(guide[..., i] * guide[..., j]) - mean_i[..., i] * mean_i[..., j]
    var += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var, cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(-1)
    q: np.ndarray = (box(a) * guide).sum(-1) + box(b)
    return q.astype(np.float32)


def test_the_guided_filter_matches_its_straightforward_version() -> None:
    rng = np.random.default_rng(11)
    # Given a textured colour guide with flat and grey patches, and a soft mask
    guide = cv2.GaussianBlur(rng.random((96, 128, 3), np.float32), (0, 0), 1.0)
    guide[:40, :50] = 0.5  # flat: the covariance is EPS alone
    guide[50:, 60:] = guide[50:, 60:, :1]  # grey: nearly rank one
    mask = (cv2.GaussianBlur(rng.random((96, 128), np.float32), (0, 0), 6.0) > 0.5).astype(np.float32)
    # When filtered
    q = filters.guided_filter(guide, mask, 4, EPS)
    # Then it is the straightforward filter's result
    expected = reference_guided_filter(guide, mask, 4, EPS)
    np.testing.assert_allclose(q, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("sigma", "top", "left"), [(1.5, 36, 3), (7.3, 37, 4)])
def test_the_upsampled_normalised_blur_in_a_box_is_the_whole_images(sigma: float, top: int, left: int) -> None:
    rng = np.random.default_rng(3)
    # Given a half-size colour image and weights, and the output pixels where the result is
    # needed (box edges on even and odd output pixels: between two source pixels or on one)
    image = (rng.random((96, 128, 3)) * 255).astype(np.float32)
    weight = (rng.random((96, 128)) > 0.4).astype(np.float32)
    needed = np.zeros((192, 256), bool)
    needed[top:101, left:90] = True
    needed[150 + top % 2, 200 + left % 2] = True
    bottom, right = 151 + top % 2, 201 + left % 2
    # When upsampled within the box only
    part = filters.upsampled_normalised_blur(image, weight, sigma, (256, 192), needed)
    # Then the box holds what upsampling the whole image's blur gives, and nothing lies outside it
    whole = cv2.resize(filters.normalised_blur(image, weight, sigma), (256, 192), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(part[top:bottom, left:right], whole[top:bottom, left:right])
    assert not part[:top].any() and not part[bottom:].any() and not part[:, :left].any() and not part[:, right:].any()
    # And at a size that is not twice the image's, the whole image is used
    odd = filters.upsampled_normalised_blur(image, weight, sigma, (255, 191), needed)
    expected = cv2.resize(filters.normalised_blur(image, weight, sigma), (255, 191), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(odd, expected)
