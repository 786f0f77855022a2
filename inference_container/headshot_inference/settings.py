"""Container configuration, read once per process from the environment (and the model dir).

Names follow the SageMaker bring-your-own-container contract where one exists
(SAGEMAKER_BIND_TO_PORT); our own knobs are HEADSHOT_*. A value that is present but
malformed fails at start with a message naming the variable, never later in a request.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

from headshot.settings import ConfigurationError

BACKENDS: Final = ("studio", "diffusion")
DEFAULT_PORT: Final = 8080
DEFAULT_MODEL_DIR: Final = Path("/opt/ml/model")
# Optional file in the model dir (shipped inside model.tar.gz) that names the backend the
# model archive was built for; HEADSHOT_BACKEND still wins when set.
MODEL_CONFIG_FILE: Final = "headshot.json"
# SageMaker async invocations may run up to 3600 s (InvocationTimeoutSeconds' maximum):
# no socket timeout of ours may cut a valid invocation shorter than that.
DEFAULT_SOCKET_TIMEOUT_S: Final = 3600
OUTPUT_FORMATS: Final = ("jpeg", "png")
# A Secrets Manager secret ARN (partition aws, aws-cn, aws-us-gov, ...): the C2PA signing material.
_SECRET_ARN: Final = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigurationError(f"{name} must be at least {minimum}{upper}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _model_config(model_dir: Path) -> dict[str, object]:
    path = model_dir / MODEL_CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ConfigurationError(f"{path} must hold a JSON object")
    return config


def _device(env: Mapping[str, str]) -> str:
    device = env.get("HEADSHOT_DEVICE", "").strip().lower() or "cuda"
    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise ConfigurationError(f"HEADSHOT_DEVICE must be cpu, cuda or cuda:<index>, got {device!r}")
    return device


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _secret_arn(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not _SECRET_ARN.fullmatch(raw):
        raise ConfigurationError(f"{name} must be a Secrets Manager secret ARN, got {raw!r}")
    return raw


@dataclass(frozen=True, slots=True)
class ContainerSettings:
    port: int
    host: str
    model_dir: Path
    backend: str
    # Idle/read timeout of a client connection. Requests themselves are never timed out
    # by the server: SageMaker's InvocationTimeoutSeconds is the one deadline that counts.
    socket_timeout_s: int
    # Fewer outputs passing fidelity than this is a 422 (insufficient_fidelity).
    min_images_kept: int
    # Generations run at the same time (the endpoint sends one at a time; extra ones wait).
    max_concurrency: int
    max_request_bytes: int
    output_format: str
    log_level: str
    # Diffusion backend only: "cuda", "cuda:N" or "cpu"; a GPU is expected unless the CPU is
    # named (no silent CPU fallback in production).
    device: str
    # Secrets Manager secret holding the C2PA signing key and certificate chain
    # (docs/CONTENT_CREDENTIALS.md); fetched once at load. The server refuses to start without
    # it unless `unsigned_outputs` says so on purpose (tests, local experiments): an image
    # deployed outside our template must not quietly deliver unmarked AI images.
    c2pa_secret_arn: str | None = None
    unsigned_outputs: bool = False
    # Outputs that fail the fidelity gate are generated again with a new seed (backends whose
    # images depend on the seed): at most this many times each, and this many in all per job.
    max_regenerations: int = 2
    max_regenerations_total: int = 8

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ContainerSettings:
        model_dir = Path(env.get("HEADSHOT_MODEL_DIR", "").strip() or DEFAULT_MODEL_DIR)
        config = _model_config(model_dir)
        configured = config.get("backend", "studio")
        if configured not in BACKENDS:
            raise ConfigurationError(f"{model_dir / MODEL_CONFIG_FILE}: backend must be one of {', '.join(BACKENDS)}")
        return cls(
            port=_int(env, "SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT, minimum=0, maximum=65535),
            # SageMaker reaches the container from outside its network namespace.
            host=env.get("HEADSHOT_BIND_HOST", "").strip() or "0.0.0.0",
            model_dir=model_dir,
            backend=_choice(env, "HEADSHOT_BACKEND", BACKENDS, str(configured)),
            socket_timeout_s=_int(env, "HEADSHOT_SOCKET_TIMEOUT_S", DEFAULT_SOCKET_TIMEOUT_S, minimum=1),
            min_images_kept=_int(env, "HEADSHOT_MIN_IMAGES_KEPT", 1, minimum=0),
            max_concurrency=_int(env, "HEADSHOT_MAX_CONCURRENCY", 1, minimum=1),
            max_request_bytes=_int(env, "HEADSHOT_MAX_REQUEST_BYTES", 1 << 20, minimum=1024),
            output_format=_choice(env, "HEADSHOT_OUTPUT_FORMAT", OUTPUT_FORMATS, "jpeg"),
            log_level=env.get("LOG_LEVEL", "").strip().upper() or "INFO",
            device=_device(env),
            c2pa_secret_arn=_secret_arn(env, "HEADSHOT_C2PA_SECRET_ARN"),
            unsigned_outputs=_flag(env, "HEADSHOT_UNSIGNED_OUTPUTS"),
            max_regenerations=_int(env, "HEADSHOT_MAX_REGENERATIONS", 2, minimum=0, maximum=10),
            max_regenerations_total=_int(env, "HEADSHOT_MAX_REGENERATIONS_TOTAL", 8, minimum=0, maximum=64),
        )


@lru_cache(maxsize=1)
def get_settings() -> ContainerSettings:
    """The process-wide settings, read from the environment on first use."""
    return ContainerSettings.from_env(os.environ)
