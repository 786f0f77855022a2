"""Configuration, read once per process from the environment.

Every knob has one name here. Optional values carry defaults; a value that is present but
malformed fails at start with a message naming the variable, never later in a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

from headshot.hostnames import parse_allowed_hosts


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or malformed."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_ANALYSIS_SIDE = 1024
DEFAULT_KEEP_SIDE = 2048


@dataclass(frozen=True, slots=True)
class PhotoLimits:
    """Limits applied to every uploaded photo before and while it is decoded."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    # Long side of the image the face analysis runs on. Phone photos are reduced to this
    # while decoding (JPEG DCT scaling), never decoded at full size first.
    analysis_side: int = DEFAULT_ANALYSIS_SIDE
    # Long side of the normalised copy that later stages keep instead of the original.
    keep_side: int = DEFAULT_KEEP_SIDE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PhotoLimits:
        return cls(
            max_bytes=_int(env, "HEADSHOT_MAX_UPLOAD_BYTES", DEFAULT_MAX_BYTES),
            max_pixels=_int(env, "HEADSHOT_MAX_PIXELS", DEFAULT_MAX_PIXELS),
            analysis_side=_int(env, "HEADSHOT_ANALYSIS_SIDE", DEFAULT_ANALYSIS_SIDE, minimum=256),
            keep_side=_int(env, "HEADSHOT_KEEP_SIDE", DEFAULT_KEEP_SIDE, minimum=512),
        )


FACE_ENCODERS: Final = ("auto", "numpy", "dlib")


@dataclass(frozen=True, slots=True)
class Settings:
    photo_limits: PhotoLimits
    # Folder holding the dlib model files; None means the face_recognition_models package.
    dlib_model_dir: Path | None
    # Folder holding MediaPipe's .tflite files; None means the bundled folder (headshot.mediapipe_models).
    mediapipe_model_dir: Path | None
    # What runs the identity embedding network (FACE_ENCODERS; "auto": numpy, headshot.embedding;
    # "dlib": dlib's own build, ~9x slower). Same numbers either way.
    face_encoder: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        model_dir = env.get("HEADSHOT_DLIB_MODEL_DIR") or None
        if model_dir is not None and not Path(model_dir).is_dir():
            raise ConfigurationError(f"HEADSHOT_DLIB_MODEL_DIR={model_dir!r} is not a directory")
        mediapipe_dir = env.get("HEADSHOT_MEDIAPIPE_MODEL_DIR") or None
        if mediapipe_dir is not None and not Path(mediapipe_dir).is_dir():
            raise ConfigurationError(f"HEADSHOT_MEDIAPIPE_MODEL_DIR={mediapipe_dir!r} is not a directory")
        encoder = env.get("HEADSHOT_FACE_ENCODER") or "auto"
        if encoder not in FACE_ENCODERS:
            raise ConfigurationError(f"HEADSHOT_FACE_ENCODER={encoder!r} is not one of {', '.join(FACE_ENCODERS)}")
        return cls(
            photo_limits=PhotoLimits.from_env(env),
            dlib_model_dir=Path(model_dir) if model_dir else None,
            mediapipe_model_dir=Path(mediapipe_dir) if mediapipe_dir else None,
            face_encoder=encoder,
        )


def require(env: Mapping[str, str], name: str) -> str:
    """A required variable: missing or empty fails at start with its name."""
    value = env.get(name, "")
    if not value:
        raise ConfigurationError(f"required environment variable {name} is not set")
    return value


def _allowed_hosts(env: Mapping[str, str]) -> frozenset[str]:
    try:
        return parse_allowed_hosts(env.get("WEBHOOK_ALLOWED_HOSTS", ""))
    except ValueError as error:
        raise ConfigurationError(f"WEBHOOK_ALLOWED_HOSTS: {error}") from None


@dataclass(frozen=True, slots=True)
class ControlPlaneSettings:
    """What the Lambda functions share; each reads it once at cold start (template.yaml Globals)."""

    jobs_table: str
    data_bucket: str
    retention_days: int
    upload_window_s: int
    max_active_jobs_per_user: int
    # Rounds (the first and each regeneration) one job may have: each costs GPU time and record size.
    max_rounds_per_job: int
    webhook_allowed_hosts: frozenset[str]
    # Only the local stack sets this (http://127.0.0.1 receivers); nothing in template.yaml does.
    webhook_allow_loopback_http: bool
    webhook_max_attempts: int
    # First retry delay of the exponential backoff (the local stack shortens it to seconds).
    webhook_retry_base_s: int
    webhook_queue_url: str | None
    # The signing secret (the sender, and the API's test events); see docs/WEBHOOKS.md.
    webhook_secret_arn: str | None
    sagemaker_endpoint_name: str | None
    inference_request_ttl_s: int
    inference_invocation_timeout_s: int
    # Slack after a deadline before the sweeper steps in, so in-flight events win the race.
    sweep_grace_s: int
    # How long an Idempotency-Key is remembered (its answer is stored that long).
    idempotency_window_s: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ControlPlaneSettings:
        return cls(
            jobs_table=require(env, "JOBS_TABLE"),
            data_bucket=require(env, "DATA_BUCKET"),
            retention_days=_int(env, "RETENTION_DAYS", 7),
            # How long presigned uploads stay valid; jobs whose uploads never came expire after it.
            upload_window_s=_int(env, "UPLOAD_WINDOW_SECONDS", 900, minimum=60),
            max_active_jobs_per_user=_int(env, "MAX_ACTIVE_JOBS_PER_USER", 5),
            max_rounds_per_job=_int(env, "MAX_ROUNDS_PER_JOB", 5, minimum=1),
            webhook_allowed_hosts=_allowed_hosts(env),
            webhook_allow_loopback_http=env.get("HEADSHOT_WEBHOOK_ALLOW_LOOPBACK_HTTP", "") == "1",
            webhook_max_attempts=_int(env, "WEBHOOK_MAX_ATTEMPTS", 8),
            webhook_retry_base_s=_int(env, "HEADSHOT_WEBHOOK_RETRY_BASE_SECONDS", 30),
            webhook_queue_url=env.get("WEBHOOK_QUEUE_URL") or None,
            webhook_secret_arn=env.get("WEBHOOK_SECRET_ARN") or None,
            sagemaker_endpoint_name=env.get("SAGEMAKER_ENDPOINT_NAME") or None,
            inference_request_ttl_s=_int(env, "INFERENCE_REQUEST_TTL_SECONDS", 3600),
            inference_invocation_timeout_s=_int(env, "INFERENCE_INVOCATION_TIMEOUT_SECONDS", 900),
            sweep_grace_s=_int(env, "HEADSHOT_SWEEP_GRACE_SECONDS", 600),
            idempotency_window_s=_int(env, "IDEMPOTENCY_WINDOW_SECONDS", 3600, minimum=60),
        )

    def need(self, value: str | None, name: str) -> str:
        """A variable only some functions get (their template entry must provide it)."""
        if not value:
            raise ConfigurationError(f"required environment variable {name} is not set for this function")
        return value


@lru_cache(maxsize=1)
def get_control_plane_settings() -> ControlPlaneSettings:
    return ControlPlaneSettings.from_env(os.environ)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings.from_env(os.environ)
