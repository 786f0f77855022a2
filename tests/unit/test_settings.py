"""Configuration is read once and fails at start, naming the variable, when malformed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from headshot.settings import ConfigurationError, ControlPlaneSettings, PhotoLimits, Settings

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


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


def test_settings_read_the_webhook_allow_list_without_loading_webhook_delivery() -> None:
    # Given a fresh interpreter (this one may already hold headshot.webhooks)
    code = (
        "import sys; from headshot.settings import ControlPlaneSettings; "
        "s = ControlPlaneSettings.from_env({'JOBS_TABLE': 't', 'DATA_BUCKET': 'b', "
        "'WEBHOOK_ALLOWED_HOSTS': 'Hooks.Example.com,*.example.org'}); "
        "print(sorted(s.webhook_allowed_hosts)); "
        "print(sorted(m for m in sys.modules if m.startswith('headshot.webhooks')))"
    )
    # When the control-plane settings are read
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=FUNCTIONS)
    hosts, webhook_modules = done.stdout.splitlines()
    # Then the allow-list is parsed, and no webhook module was imported to do it
    assert hosts == "['*.example.org', 'hooks.example.com']"
    assert webhook_modules == "[]"


def test_a_bad_allow_list_entry_fails_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="WEBHOOK_ALLOWED_HOSTS"):
        ControlPlaneSettings.from_env({"JOBS_TABLE": "t", "DATA_BUCKET": "b", "WEBHOOK_ALLOWED_HOSTS": "*.com"})
