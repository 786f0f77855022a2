"""Face analysis with dlib only: offline, licence-clean, fast on one CPU core.

Models: the HOG frontal face detector (built into dlib), the 5-point landmark model and the
ResNet face-embedding model. All three are public domain / CC0. dlib's 68-point landmark
model is trained on data licensed for non-commercial use only and is never loaded: only the
files in ALLOWED_MODEL_FILES can be opened through this module.

The embedding network runs on numpy (headshot.embedding: the same network and weights, ~9x
faster than dlib-bin's BLAS-less build, equal to float32 rounding) in the validator Lambda
and the inference container alike; HEADSHOT_FACE_ENCODER=dlib runs dlib's own build instead.

Everything here measures; deciding what the measurements mean is `headshot.policy`'s job.
"""

from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import dlib
import numpy as np
from PIL import Image

from headshot.blazeface import FaceDetector
from headshot.color import ita_degrees, luma, srgb_to_lab
from headshot.embedding import NumpyFaceEncoder
from headshot.mesh import FaceMesh, FaceMeshModel
from headshot.settings import FACE_ENCODERS, ConfigurationError

LANDMARKS_MODEL: Final = "shape_predictor_5_face_landmarks.dat"
EMBEDDING_MODEL: Final = "dlib_face_recognition_resnet_model_v1.dat"
ALLOWED_MODEL_FILES: Final = frozenset({LANDMARKS_MODEL, EMBEDDING_MODEL})

# HOG detections scoring at or below this are discarded (calibrated: docs/CALIBRATION.md).
DETECTION_SCORE_MIN: Final = 0.3
# dlib's HOG detector scans an 80x80 window: smaller faces need upsampling to be found.
HOG_MIN_FACE_PX: Final = 80
# First, cheap pass on a reduced image. Its result is trusted only when the main face is
# large enough that any other face of >= 40% its size (policy's multiple_faces ratio)
# would also have been found there; otherwise the full analysis image is scanned.
FAST_PASS_SIDE: Final = 640
FAST_PASS_TRUST_PX: Final = 200
# When the BlazeFace sentinel (headshot.blazeface) sees exactly one face of at least
# LONE_FACE_PX, HOG scans only a crop LONE_CROP_SCALE times its box instead of the whole
# photo (with less context HOG picks a box a pyramid level off), reduced so the face is
# about LONE_HOG_PX wide. HOG boxes are ~SENTINEL_BOX_TO_HOG of BlazeFace's, and the HOG face
# must overlap the sentinel's box at least SENTINEL_MATCH_IOU (measured IoU 0.55-0.75 on the
# shared photos: BlazeFace's boxes are larger and sit higher).
LONE_FACE_PX: Final = 100
LONE_HOG_PX: Final = 120
LONE_CROP_SCALE: Final = 3.0
SENTINEL_BOX_TO_HOG: Final = 0.85
SENTINEL_MATCH_IOU: Final = 0.3
# Face geometry in units of the distance between the eye centres (5-point landmarks):
# the nose point sits ~0.76 below the eye line and ~0.45 in front of it on frontal faces.
NOSE_DROP: Final = 0.76
NOSE_DEPTH: Final = 0.45
EMBEDDING_CHIP_PX: Final = 150
SHARPNESS_SIDE_PX: Final = 64


# Deployment artefacts carry just the allowed model files here, beside the package.
BUNDLED_MODEL_DIR: Final = Path(__file__).resolve().parent.parent / "models" / "dlib"


def default_model_dir() -> Path:
    """Bundled models if present, else the face_recognition_models package (found without importing it)."""
    if all((BUNDLED_MODEL_DIR / name).is_file() for name in ALLOWED_MODEL_FILES):
        return BUNDLED_MODEL_DIR
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("face_recognition_models is not installed and HEADSHOT_DLIB_MODEL_DIR is not set")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@dataclass(frozen=True, slots=True)
class FaceModels:
    detector: Any
    landmarks: Any
    encoder: Any
    load_seconds: float

    @classmethod
    def load(cls, model_dir: Path, encoder: str = "auto") -> FaceModels:
        """encoder: what runs the embedding network (FACE_ENCODERS; "auto": numpy's)."""
        started = time.perf_counter()
        missing = [name for name in sorted(ALLOWED_MODEL_FILES) if not (model_dir / name).is_file()]
        if missing:
            raise ConfigurationError(f"dlib model files missing in {model_dir}: {', '.join(missing)}")
        if encoder not in FACE_ENCODERS:
            raise ConfigurationError(f"face encoder {encoder!r} is not one of {', '.join(FACE_ENCODERS)}")
        if encoder == "dlib":
            embedder: Any = dlib.face_recognition_model_v1(str(model_dir / EMBEDDING_MODEL))
        else:
            embedder = NumpyFaceEncoder(model_dir / EMBEDDING_MODEL)
        return cls(
            detector=dlib.get_frontal_face_detector(),
            landmarks=dlib.shape_predictor(str(model_dir / LANDMARKS_MODEL)),
            encoder=embedder,
            load_seconds=time.perf_counter() - started,
        )


@lru_cache(maxsize=4)
def load_models(model_dir: Path | None = None, encoder: str = "auto") -> FaceModels:
    """Models load once per process (per folder and encoder) and are shared by every check.

    encoder: FACE_ENCODERS (the setting HEADSHOT_FACE_ENCODER, headshot.settings).
    """
    return FaceModels.load(model_dir or default_model_dir(), encoder)


@dataclass(frozen=True, slots=True)
class Detection:
    """A detected face box in analysis-image pixels."""

    left: float
    top: float
    right: float
    bottom: float
    score: float
    # Which of dlib's five HOG filters fired (0 front, 1-2 side-looking, 3-4 rotated).
    subdetector: int

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class FaceMeasurement:
    """Everything measured on the main face, in analysis-image pixels unless stated."""

    detection: Detection
    landmarks: np.ndarray  # (5, 2): dlib's order (eye corners x4, then the nose)
    roll_deg: float  # positive: the eye line slopes down to the right of the image
    yaw_deg: float  # positive: the nose points to the right of the image
    pitch_deg: float  # positive: chin up
    sharpness: float  # high-frequency energy over contrast of the face, at a fixed scale
    luma_mean: float  # 0..255, inner face region
    luma_p95: float
    dark_share: float  # share of inner-face pixels with luma <= 10
    bright_share: float  # share of inner-face pixels with luma >= 245
    lighting_balance: float  # (right - left) / (right + left) mean luma of the face halves
    skin_lab: np.ndarray | None  # median CIELAB of both cheeks
    skin_ita_deg: float | None
    embedding: np.ndarray  # (128,) float32, dlib ResNet
    chip_signature: np.ndarray  # (1024,) float32, zero-mean unit-norm aligned-face thumbnail
    # MediaPipe's 468 points and both eyes (lids, iris); None when no mesh model is loaded
    # or the mesh model sees no face where dlib found one.
    mesh: FaceMesh | None = None


@dataclass(frozen=True, slots=True)
class FaceAnalysis:
    detections: tuple[Detection, ...]  # most prominent (score x width) first
    main: FaceMeasurement | None
    detect_ms: float
    measure_ms: float


class FaceAnalyzer:
    """Detects and measures faces on an upright RGB uint8 analysis image."""

    def __init__(
        self,
        models: FaceModels,
        mesh_model: FaceMeshModel | None = None,
        sentinel: FaceDetector | None = None,
    ) -> None:
        self._models = models
        self._mesh_model = mesh_model
        # Optional quick whole-photo look for faces (headshot.blazeface): when it sees exactly
        # one, HOG scans a crop around it instead of the whole photo.
        self._sentinel = sentinel

    @property
    def models(self) -> FaceModels:
        return self._models

    def analyse(self, rgb: np.ndarray) -> FaceAnalysis:
        started = time.perf_counter()
        detections = self.detect(rgb)
        detected = time.perf_counter()
        main = self.measure(rgb, detections[0]) if detections else None
        return FaceAnalysis(
            detections=tuple(detections),
            main=main,
            detect_ms=(detected - started) * 1000,
            measure_ms=(time.perf_counter() - detected) * 1000,
        )

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        lone = self._lone_face(rgb)
        if lone:
            return lone
        height, width = rgb.shape[:2]
        long_side = max(height, width)
        if long_side > FAST_PASS_SIDE * 1.25:
            factor = long_side / FAST_PASS_SIDE
            small = Image.fromarray(rgb).resize(
                (round(width / factor), round(height / factor)), Image.Resampling.BILINEAR
            )
            found = self._run(np.asarray(small), upsample=0, factor=factor)
            if found and found[0].width / factor >= FAST_PASS_TRUST_PX:
                return found
        found = self._run(rgb, upsample=0, factor=1.0)
        if found:
            return found
        # Small faces (40-80 px) are found only on a 2x upsampled pyramid: slower, so last.
        return self._run(rgb, upsample=1, factor=1.0)

    def _lone_face(self, rgb: np.ndarray) -> list[Detection]:
        """HOG on a crop around the face when the sentinel sees exactly one; [] to scan as usual.

        A face the sentinel alone sees (HOG finds nothing there) goes to the full scan too, so
        `no_face` and every box reported stay dlib's, calibrated as before.
        """
        if self._sentinel is None:
            return []
        boxes = self._sentinel.detect(Image.fromarray(rgb))
        if len(boxes) != 1:
            return []
        box = boxes[0]
        size = max(box.right - box.left, box.bottom - box.top)
        if size < LONE_FACE_PX:
            return []  # small faces need the scan's upsampling
        height, width = rgb.shape[:2]
        # Reduced so the HOG face is about LONE_HOG_PX wide: a quarter of the pixels a full-
        # resolution crop would have, and still 1.5x the detector's window.
        factor = max(1.0, size * SENTINEL_BOX_TO_HOG / LONE_HOG_PX)
        cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
        half = LONE_CROP_SCALE * size / 2
        left, top = max(0, round(cx - half)), max(0, round(cy - half))
        right, bottom = min(width, round(cx + half)), min(height, round(cy + half))
        if right - left < 2 * HOG_MIN_FACE_PX or bottom - top < 2 * HOG_MIN_FACE_PX:
            return []
        crop = Image.fromarray(rgb[top:bottom, left:right])
        # reducing_gap 1: box-average by the whole factor first, then a near-1 bilinear step
        # (a third of the time of one wide bilinear filter, the same antialiasing).
        reduced = (round(crop.width / factor), round(crop.height / factor))
        crop = crop.resize(reduced, Image.Resampling.BILINEAR, reducing_gap=1.0)
        found = self._run(np.asarray(crop), upsample=0, factor=factor)
        found = [
            replace(d, left=d.left + left, top=d.top + top, right=d.right + left, bottom=d.bottom + top) for d in found
        ]
        if (
            len(found) != 1
            or box.iou((found[0].left, found[0].top, found[0].right, found[0].bottom)) < SENTINEL_MATCH_IOU
        ):
            return []
        return found

    def _run(self, rgb: np.ndarray, *, upsample: int, factor: float) -> list[Detection]:
        rects, scores, indices = self._models.detector.run(rgb, upsample, DETECTION_SCORE_MIN)
        found = [
            Detection(
                left=r.left() * factor,
                top=r.top() * factor,
                right=(r.right() + 1) * factor,
                bottom=(r.bottom() + 1) * factor,
                score=float(score),
                subdetector=int(index),
            )
            for r, score, index in zip(rects, scores, indices, strict=True)
        ]
        # Most prominent first: a confident face beats a larger but doubtful box (a badge, a
        # printed face), while the subject of a portrait is both the largest and the clearest.
        return sorted(found, key=lambda d: d.score * d.width, reverse=True)

    def measure(self, rgb: np.ndarray, detection: Detection) -> FaceMeasurement:
        rect = dlib.rectangle(
            round(detection.left),
            round(detection.top),
            round(detection.right) - 1,
            round(detection.bottom) - 1,
        )
        shape = self._models.landmarks(rgb, rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        chip = np.asarray(dlib.get_face_chip(rgb, shape, size=EMBEDDING_CHIP_PX, padding=0.25))
        embedding = np.asarray(self._models.encoder.compute_face_descriptor(chip), dtype=np.float32)

        pose = _pose(points)
        inner = _inner_box(detection, rgb.shape[1], rgb.shape[0])
        face_luma = luma(rgb[inner[1] : inner[3], inner[0] : inner[2]])
        skin_lab = cheek_lab(rgb, points)
        return FaceMeasurement(
            detection=detection,
            landmarks=points,
            roll_deg=pose[0],
            yaw_deg=pose[1],
            pitch_deg=pose[2],
            sharpness=_sharpness(face_luma),
            luma_mean=float(face_luma.mean()),
            luma_p95=float(np.percentile(face_luma, 95)),
            dark_share=float((face_luma <= 10).mean()),
            bright_share=float((face_luma >= 245).mean()),
            lighting_balance=_lighting_balance(face_luma, points[4][0] - inner[0]),
            skin_lab=skin_lab,
            skin_ita_deg=ita_degrees(skin_lab) if skin_lab is not None else None,
            embedding=embedding,
            chip_signature=_chip_signature(chip),
            mesh=self._mesh_model.measure(rgb, points) if self._mesh_model is not None else None,
        )


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(eye on the image's left, eye on the image's right) centres for an upright face."""
    return points[2:4].mean(axis=0), points[0:2].mean(axis=0)


def _pose(points: np.ndarray) -> tuple[float, float, float]:
    """Roll, yaw, pitch estimates (degrees) from the eye centres and the nose point.

    With the eye distance d as unit, a frontal face has the nose NOSE_DROP below the eye
    midpoint and NOSE_DEPTH in front of the eye plane. Turning by yaw θ shifts the nose
    sideways by NOSE_DEPTH·tan θ; tilting by pitch φ moves it to NOSE_DROP·cos φ − NOSE_DEPTH·sin φ.
    These are estimates for gating, not a head-pose solver.
    """
    left_eye, right_eye = eye_centres(points)
    axis = right_eye - left_eye
    distance = float(np.hypot(*axis)) or 1.0
    across = axis / distance
    down = np.array([-across[1], across[0]])
    offset = points[4] - (left_eye + right_eye) / 2
    sideways = float(offset @ across) / distance
    drop = float(offset @ down) / distance
    roll = math.degrees(math.atan2(across[1], across[0]))
    yaw = math.atan2(sideways, NOSE_DEPTH)
    # A turned face shows a shorter eye distance, which inflates the drop by 1/cos(yaw).
    drop *= math.cos(yaw)
    radius = math.hypot(NOSE_DROP, NOSE_DEPTH)
    pitch = math.acos(max(-1.0, min(1.0, drop / radius))) - math.atan2(NOSE_DEPTH, NOSE_DROP)
    return roll, math.degrees(yaw), math.degrees(pitch)


def _inner_box(detection: Detection, width: int, height: int) -> tuple[int, int, int, int]:
    """The detection box shrunk by 12% a side (skin, eyes, mouth; little hair or background)."""
    inset_x, inset_y = detection.width * 0.12, detection.height * 0.12
    left = max(0, round(detection.left + inset_x))
    top = max(0, round(detection.top + inset_y))
    right = min(width, round(detection.right - inset_x))
    bottom = min(height, round(detection.bottom - inset_y))
    if right - left < 4 or bottom - top < 4:  # face almost entirely outside the frame
        left, top = max(0, min(left, width - 4)), max(0, min(top, height - 4))
        right, bottom = min(width, left + 4), min(height, top + 4)
    return left, top, right, bottom


def _sharpness(face_luma: np.ndarray) -> float:
    """Laplacian energy over contrast of the face at a fixed 64 px width: robust to resolution and exposure."""
    if min(face_luma.shape) < 3:
        return 0.0
    # Every face is resampled to the same width, so blur is judged relative to the face.
    size = (SHARPNESS_SIDE_PX, max(3, round(face_luma.shape[0] * SHARPNESS_SIDE_PX / face_luma.shape[1])))
    resample = Image.Resampling.BOX if face_luma.shape[1] >= SHARPNESS_SIDE_PX else Image.Resampling.BILINEAR
    grey = np.asarray(Image.fromarray(face_luma.astype(np.float32)).resize(size, resample))
    laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(laplacian.std() / (grey.std() + 4.0))


def _lighting_balance(face_luma: np.ndarray, split_x: float) -> float:
    split = int(min(max(split_x, 1), face_luma.shape[1] - 1))
    left, right = float(face_luma[:, :split].mean()), float(face_luma[:, split:].mean())
    return (right - left) / (right + left + 1e-6)


def cheek_lab(rgb: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """Median CIELAB of two cheek patches below the eyes, clipped pixels excluded."""
    left_eye, right_eye = eye_centres(points)
    axis = right_eye - left_eye
    distance = float(np.hypot(*axis)) or 1.0
    down = np.array([-axis[1], axis[0]]) / distance
    half = max(1, round(0.12 * distance))
    patches = []
    for eye in (left_eye, right_eye):
        cx, cy = (eye + 0.55 * distance * down).round().astype(int)
        patch = rgb[max(0, cy - half) : cy + half + 1, max(0, cx - half) : cx + half + 1].reshape(-1, 3)
        patches.append(patch)
    pixels = np.concatenate(patches)
    if pixels.size == 0:
        return None
    pixel_luma = luma(pixels)
    usable = pixels[(pixel_luma > 10) & (pixel_luma < 245)]
    if len(usable) < 4:
        return None
    lab: np.ndarray = np.median(srgb_to_lab(usable), axis=0)
    return lab


def _chip_signature(chip: np.ndarray) -> np.ndarray:
    """A 32x32 zero-mean, unit-norm grey thumbnail of the aligned face, for near-duplicates."""
    thumb = np.asarray(Image.fromarray(chip).convert("L").resize((32, 32), Image.Resampling.BOX), np.float32)
    centred = thumb.ravel() - thumb.mean()
    norm = float(np.linalg.norm(centred))
    signature: np.ndarray = centred / norm if norm > 0 else centred
    return signature
