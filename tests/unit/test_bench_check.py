"""The photo-check benchmark measures the validator's own models (the Lambda has no torch)."""

from __future__ import annotations

import pytest

from headshot.settings import get_settings
from tests.benchmarks import bench_check


def test_the_benchmark_loads_the_encoder_the_settings_name(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dlib")
    # Given the validator's setting: dlib's own encoder (torch may be installed here, as in dev)
    monkeypatch.setenv("HEADSHOT_FACE_ENCODER", "dlib")
    get_settings.cache_clear()
    # When the benchmark loads its models
    models = bench_check.validator_models()
    # Then the naive path and the load time are dlib's encoder, as in the validator Lambda
    # (load_models() with its "auto" default took torch's: peak RSS 360 MB instead of ~170)
    get_settings.cache_clear()
    assert type(models.encoder).__module__.startswith("_dlib"), type(models.encoder)
