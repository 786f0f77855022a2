"""The photo-check benchmark measures the validator's own models (the encoder its settings name)."""

from __future__ import annotations

import pytest

from headshot.settings import get_settings
from tests.benchmarks import bench_check


def test_the_benchmark_loads_the_encoder_the_settings_name(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dlib")
    # Given a validator set to dlib's own encoder
    monkeypatch.setenv("HEADSHOT_FACE_ENCODER", "dlib")
    get_settings.cache_clear()
    # When the benchmark loads its models
    models = bench_check.validator_models()
    # Then both paths and the load time are dlib's encoder, as that validator's are (the
    # benchmark once loaded load_models()'s default instead, whatever the settings said)
    get_settings.cache_clear()
    assert type(models.encoder).__module__.startswith("_dlib"), type(models.encoder)
