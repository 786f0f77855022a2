"""Face paste-back on synthetic images: the face stays the person's pixels, the seam does not show."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = pytest.mark.container

if importlib.util.find_spec("cv2") is None:
    pytest.skip("the paste-back needs OpenCV (the 'inference' extra)", allow_module_level=True)

from headshot_inference.backends.diffusion.framing import Face  # noqa: E402
from headshot_inference.backends.diffusion.paste import PASTE_AXES, PASTE_DROP, paste_face, paste_mask  # noqa: E402
from headshot_inference.backends.diffusion.regions import ellipse  # noqa: E402

SIDE = 512
FACE = Face(eye_x=256.0, eye_y=200.0, eye_distance=90.0)
FEATHER = 0.12
CAST = np.array([30.0, -25.0, 15.0])  # the generated image's colour shift (a relit scene)


def _source() -> np.ndarray:
    """A smooth skin-ish image with fine texture: what the framing holds."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE
    base = np.stack([150 + 40 * xs, 110 + 30 * ys, 90 + 20 * xs * ys], axis=-1)
    image: np.ndarray = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    return image


def _generated(source: np.ndarray) -> np.ndarray:
    """The model's redraw: another texture and a colour cast over the same scene."""
    rng = np.random.default_rng(1)
    image: np.ndarray = np.clip(source.astype(float) + CAST + rng.normal(0, 6, source.shape), 0, 255).astype(np.uint8)
    return image


def _rings(width: float) -> tuple[np.ndarray, np.ndarray]:
    """(just outside the pasted ellipse, far from it): where a seam and an untouched image show."""
    inside = ellipse(FACE, SIDE, PASTE_AXES, PASTE_DROP)
    import cv2

    distance = cv2.distanceTransform((1 - inside).astype(np.uint8), cv2.DIST_L2, 5)
    return (distance > 0) & (distance <= 0.5 * width), distance > 3 * width


def test_inside_the_feather_the_face_is_the_sources_own_pixels() -> None:
    # Given a framing and a generated image that differs everywhere
    source, person = _source(), np.ones((SIDE, SIDE), np.float32)
    generated = _generated(source)
    # When the face is pasted back
    out = paste_face(generated, source, FACE, person, FEATHER, colour_match=True)
    # Then the core of the face ellipse holds the source's pixels exactly
    core = paste_mask(FACE, person, FEATHER) >= 0.999
    assert core.sum() > 0.6 * np.pi * PASTE_AXES[0] * PASTE_AXES[1] * FACE.eye_distance**2
    np.testing.assert_array_equal(out[core], source[core])
    # and far from the face the generated image is untouched
    _, far = _rings(FEATHER * FACE.eye_distance)
    np.testing.assert_array_equal(out[far], generated[far])


def test_colour_match_keeps_the_seam_small() -> None:
    # Given a generated image whose colours are shifted against the framing's
    source, person = _source(), np.ones((SIDE, SIDE), np.float32)
    generated = _generated(source)
    near, _ = _rings(FEATHER * FACE.eye_distance)
    # When the face is pasted with and without the colour match
    matched = paste_face(generated, source, FACE, person, FEATHER, colour_match=True)
    plain = paste_face(generated, source, FACE, person, FEATHER, colour_match=False)
    # Then right outside the pasted face the colour step to the face is small with it,
    # and the whole cast without it
    step_matched = np.abs((matched[near].astype(float) - source[near]).mean(axis=0))
    step_plain = np.abs((plain[near].astype(float) - source[near]).mean(axis=0))
    assert step_matched.max() < 4.0
    assert np.allclose(step_plain, np.abs(CAST), atol=3.0)


def test_the_backdrop_inside_the_ellipse_is_not_pasted() -> None:
    # Given a matte that ends inside the face ellipse (a narrow face: backdrop at its side)
    person = np.ones((SIDE, SIDE), np.float32)
    person[:, : round(FACE.eye_x - 0.6 * FACE.eye_distance)] = 0.0
    # When the paste mask is built, Then it is zero on the backdrop
    mask = paste_mask(FACE, person, FEATHER)
    assert mask[person == 0].max() == 0.0
    assert mask.max() == 1.0
