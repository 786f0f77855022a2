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


@dataclass(frozen=True, slots=True)
class Settings:
    photo_limits: PhotoLimits
    # Folder holding the dlib model files; None means the face_recognition_models package.
    dlib_model_dir: Path | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        model_dir = env.get("HEADSHOT_DLIB_MODEL_DIR") or None
        if model_dir is not None and not Path(model_dir).is_dir():
            raise ConfigurationError(f"HEADSHOT_DLIB_MODEL_DIR={model_dir!r} is not a directory")
        return cls(
            photo_limits=PhotoLimits.from_env(env),
            dlib_model_dir=Path(model_dir) if model_dir else None,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings.from_env(os.environ)
