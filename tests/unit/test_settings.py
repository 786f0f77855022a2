"""Configuration is read once and fails at start, naming the variable, when malformed."""

from __future__ import annotations

from pathlib import Path

import pytest

from headshot.settings import ConfigurationError, PhotoLimits, Settings


def test_defaults_match_the_design() -> None:
    limits = Settings.from_env({}).photo_limits
    assert limits == PhotoLimits()
    assert limits.max_bytes == 25 * 1024 * 1024 and limits.max_pixels == 50_000_000


def test_limits_are_configurable() -> None:
    settings = Settings.from_env({"HEADSHOT_MAX_UPLOAD_BYTES": "1000", "HEADSHOT_MAX_PIXELS": "2000"})
    assert settings.photo_limits.max_bytes == 1000 and settings.photo_limits.max_pixels == 2000


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"HEADSHOT_MAX_UPLOAD_BYTES": "lots"}, "HEADSHOT_MAX_UPLOAD_BYTES"),
        ({"HEADSHOT_MAX_PIXELS": "0"}, "HEADSHOT_MAX_PIXELS"),
        ({"HEADSHOT_ANALYSIS_SIDE": "64"}, "HEADSHOT_ANALYSIS_SIDE"),
        ({"HEADSHOT_DLIB_MODEL_DIR": "/no/such/dir"}, "HEADSHOT_DLIB_MODEL_DIR"),
    ],
)
def test_malformed_values_fail_naming_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env(env)


def test_model_dir_is_taken_when_it_exists(tmp_path: Path) -> None:
    assert Settings.from_env({"HEADSHOT_DLIB_MODEL_DIR": str(tmp_path)}).dlib_model_dir == tmp_path
