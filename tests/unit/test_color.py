"""Colour science against published reference values."""

from __future__ import annotations

import numpy as np
import pytest

from headshot.color import delta_e_2000, ita_degrees, srgb_to_lab


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        ((255, 255, 255), (100.0, 0.0, 0.0)),
        ((0, 0, 0), (0.0, 0.0, 0.0)),
        ((255, 0, 0), (53.24, 80.09, 67.20)),
        ((0, 0, 255), (32.30, 79.19, -107.86)),
        ((128, 128, 128), (53.59, 0.0, 0.0)),
    ],
)
def test_srgb_to_lab_matches_reference_values(rgb: tuple[int, int, int], lab: tuple[float, float, float]) -> None:
    assert np.allclose(srgb_to_lab(np.array(rgb)), lab, atol=0.05)
    assert np.allclose(srgb_to_lab(np.array(rgb, np.uint8)), lab, atol=0.05)


def test_8_bit_pixels_convert_exactly_as_the_formula_does() -> None:
    # Given every 8-bit colour channel value in every channel position
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (4096, 3)).astype(np.uint8)
    pixels[:256] = np.arange(256)[:, None]
    # When converted as uint8 (the lookup) and as floats (the formula)
    # Then the results are the same
    assert np.allclose(srgb_to_lab(pixels), srgb_to_lab(pixels.astype(np.float64)), rtol=0, atol=1e-9)


# Test pairs from Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula".
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.694), (23.0331, 14.973, -42.5619), 2.0373),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA_PAIRS)
def test_delta_e_2000_matches_sharma_test_data(
    lab1: tuple[float, ...], lab2: tuple[float, ...], expected: float
) -> None:
    assert delta_e_2000(np.array(lab1), np.array(lab2)) == pytest.approx(expected, abs=1e-4)
    assert delta_e_2000(np.array(lab2), np.array(lab1)) == pytest.approx(expected, abs=1e-4)


def test_ita_orders_skin_from_dark_to_light() -> None:
    # ITA° > 55 "very light", < -30 "dark" (Chardon et al.)
    assert ita_degrees(np.array([75.0, 8.0, 15.0])) > 55
    assert ita_degrees(np.array([30.0, 10.0, 15.0])) < -30
