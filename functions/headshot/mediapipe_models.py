"""MediaPipe's face-landmark, iris, face-detection and selfie-segmentation models: files, source, bytes.

The `.tflite` files are Apache-2.0 and ship inside the `mediapipe==0.10.21` wheel (later
wheels no longer carry them). They are taken from that pinned wheel at build or install
time (`python -m infra.build.mediapipe_models`, the Dockerfile's model stage) and checked
against the sha256 pinned here; nothing is ever downloaded at run time. We run them with
LiteRT (`ai-edge-litert`), not the MediaPipe framework.

`face_landmark_with_attention` needs a custom op LiteRT lacks; `face_landmark` + the
separate iris model give the same eyelid and iris points.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from headshot.settings import ConfigurationError

WHEEL_REQUIREMENT: Final = "mediapipe==0.10.21"


@dataclass(frozen=True, slots=True)
class ModelFile:
    name: str
    path_in_wheel: str
    sha256: str


FACE_LANDMARK: Final = ModelFile(
    "face_landmark.tflite",
    "mediapipe/modules/face_landmark/face_landmark.tflite",
    "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
)
IRIS_LANDMARK: Final = ModelFile(
    "iris_landmark.tflite",
    "mediapipe/modules/iris_landmark/iris_landmark.tflite",
    "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
)
SELFIE_SEGMENTATION: Final = ModelFile(
    "selfie_segmentation.tflite",
    "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
)
FACE_DETECTION_FULL_RANGE: Final = ModelFile(
    "face_detection_full_range_sparse.tflite",
    "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
    "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
)
ALL_MODELS: Final = (FACE_LANDMARK, IRIS_LANDMARK, FACE_DETECTION_FULL_RANGE, SELFIE_SEGMENTATION)
# What the photo checks need (eyes, and the quick look for other faces); the selfie model
# serves only the inference container.
PHOTO_CHECK_MODELS: Final = (FACE_LANDMARK, IRIS_LANDMARK, FACE_DETECTION_FULL_RANGE)

# Deployment artefacts and `make venv` put the files here, beside the dlib models.
BUNDLED_MODEL_DIR: Final = Path(__file__).resolve().parent.parent / "models" / "mediapipe"


def default_model_dir() -> Path:
    """HEADSHOT_MEDIAPIPE_MODEL_DIR when set (the image's model stage), else the bundled folder."""
    from headshot.settings import get_settings

    return get_settings().mediapipe_model_dir or BUNDLED_MODEL_DIR


def model_path(model_dir: Path, model: ModelFile) -> Path:
    """The model's file, verified against its pinned hash; ConfigurationError if absent or altered."""
    path = model_dir / model.name
    if not path.is_file():
        raise ConfigurationError(
            f"MediaPipe model {model.name} not found in {model_dir}: run "
            "`python -m infra.build.mediapipe_models` (make venv does) or set HEADSHOT_MEDIAPIPE_MODEL_DIR"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != model.sha256:
        raise ConfigurationError(f"MediaPipe model {path} has sha256 {digest}, expected {model.sha256}")
    return path
