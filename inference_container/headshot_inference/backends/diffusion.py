"""The GPU backend: an SDXL-class diffusers pipeline that redraws the studio framing.

Per output:
1. the studio backend frames the photo (eyes level on a fixed line, head and shoulders,
   the style's backdrop) exactly as it would for its own output: that image is the
   img2img (or inpainting) starting point, so pose, face shape and framing stay the
   person's and the diffusion model only re-renders light, skin, clothes and backdrop;
2. the face region of that framing, already aligned, conditions an identity adapter
   (IP-Adapter Plus Face by default) so the redrawn face stays this person's face;
3. the style's prompt and negative prompt from the recipe steer the look.

Everything is read from the model directory (diffusers layout plus `recipe.json`, see
docs/DIFFUSION.md) with local_files_only and HF_HUB_OFFLINE: nothing is ever downloaded.
A missing or incomplete directory fails at load() with the list of what is missing.

Each output has its own torch.Generator seeded with its per-image seed (backends.plan), so
an image depends on its own seed only, not on the batch it was rendered in.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import cv2
import numpy as np
from PIL import Image

from headshot.settings import ConfigurationError
from headshot_inference.backends import (
    DST_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    DST_TRAINED_ALGORITHMIC_MEDIA,
    OUTPUT_SIZE,
    GeneratedImage,
    PlannedImage,
    SourcePhoto,
    plan,
    studio,
)
from headshot_inference.settings import get_settings
from headshot_inference.styles import OFFICE_BLUR, STUDIO_BLUE, STUDIO_GRAY, STUDIO_WHITE, STYLES

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

RECIPE_FILE: Final = "recipe.json"
MODEL_INDEX: Final = "model_index.json"
RECIPE_FORMAT: Final = 1

IMG2IMG: Final = "StableDiffusionXLImg2ImgPipeline"
INPAINT: Final = "StableDiffusionXLInpaintPipeline"
PIPELINES: Final = (IMG2IMG, INPAINT)
DTYPES: Final = ("auto", "float16", "bfloat16", "float32")

IP_ADAPTER: Final = "ip_adapter"
# Identity adapters built on insightface's face models, whose weights are licensed for
# non-commercial research only (DESIGN.md §8). Refused unless the recipe says
# "allow_noncommercial": true, and not implemented in this build even then.
NONCOMMERCIAL_ADAPTERS: Final = ("instantid", "photomaker_v2", "ip_adapter_faceid")

# The SDXL pipeline's parts: (folder, what it is) for models with config.json + weights.
MODEL_FOLDERS: Final = (
    ("unet", "UNet"),
    ("vae", "VAE"),
    ("text_encoder", "CLIP text encoder"),
    ("text_encoder_2", "CLIP text encoder 2"),
)
TOKENIZER_FOLDERS: Final = ("tokenizer", "tokenizer_2")
SCHEDULER_CONFIG: Final = "scheduler/scheduler_config.json"

# Share of the framed output's side (studio framing: eyes level at studio.EYE_LINE,
# studio.EYE_DISTANCE apart) that the identity adapter sees: a square around the face
# from the forehead to the chin, in eye distances.
FACE_CROP_SIDE: Final = 2.6
FACE_CROP_DROP: Final = 0.45  # crop centre below the eye line
FACE_CROP_PX: Final = 224
# Inpainting keeps this ellipse (in eye distances around the face centre) as it was.
KEEP_FACE_AXES: Final = (0.95, 1.35)
KEEP_FACE_DROP: Final = 0.5

_NEGATIVE: Final = (
    "cartoon, illustration, painting, 3d render, deformed face, asymmetric eyes, distorted features, blurry, "
    "lowres, jpeg artifacts, oversaturated, plastic skin, airbrushed skin, skin lightening, changed skin tone, "
    "heavy makeup, watermark, text, logo"
)
_BASE: Final = (
    "professional corporate headshot photograph of a person, head and shoulders, looking at the camera, "
    "natural skin texture, sharp focus on the eyes, 85mm portrait lens"
)

DEFAULT_RECIPE: Final[Mapping[str, Any]] = {
    "format": RECIPE_FORMAT,
    "pipeline": IMG2IMG,
    "variant": None,
    "dtype": "auto",
    "scheduler": {
        "class": "DPMSolverMultistepScheduler",
        "config": {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True},
    },
    "steps": 30,
    "guidance": 5.0,
    "strength": 0.45,
    "resolution": 1024,
    "batch_size": 4,
    "compile": False,
    "identity_adapter": {
        "kind": IP_ADAPTER,
        "subfolder": "ip_adapter",
        "weight_name": "ip-adapter-plus-face_sdxl_vit-h.safetensors",
        "image_encoder_folder": "image_encoder",
        "scale": 0.6,
    },
    "few_step": {
        "enabled": False,
        "lora": {"subfolder": "lora", "weight_name": "sdxl_lightning_4step_lora.safetensors", "scale": 1.0},
        "steps": 4,
        "guidance": 0.0,
        "strength": 0.5,
        "scheduler": {"class": "EulerDiscreteScheduler", "config": {"timestep_spacing": "trailing"}},
    },
    "allow_noncommercial": False,
    "negative_prompt": _NEGATIVE,
    "styles": {
        STUDIO_GRAY: {"prompt": f"{_BASE}, seamless neutral gray studio backdrop, soft key light, subtle rim light"},
        STUDIO_WHITE: {"prompt": f"{_BASE}, clean white studio background, bright high-key lighting"},
        STUDIO_BLUE: {"prompt": f"{_BASE}, deep blue studio backdrop, soft key light, subtle rim light"},
        OFFICE_BLUR: {
            "prompt": f"{_BASE}, modern bright office behind, background out of focus with soft bokeh, "
            "shallow depth of field, natural window light"
        },
    },
}


class NonCommercialAdapterError(ConfigurationError, NotImplementedError):
    """An insightface-based identity adapter was switched on; this build does not carry one."""


# ---------------------------------------------------------------------------------------
# the recipe


@dataclass(frozen=True, slots=True)
class SchedulerSpec:
    class_name: str
    config: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AdapterSpec:
    kind: str
    subfolder: str
    weight_name: str
    image_encoder_folder: str | None
    scale: float

    def image_encoder_path(self) -> str | None:
        """The encoder folder relative to the model dir, resolved as load_ip_adapter does."""
        if self.image_encoder_folder is None:
            return None
        if "/" in self.image_encoder_folder:
            return Path(self.image_encoder_folder).as_posix()
        return Path(self.subfolder, self.image_encoder_folder).as_posix()


@dataclass(frozen=True, slots=True)
class LoraSpec:
    subfolder: str
    weight_name: str
    scale: float


@dataclass(frozen=True, slots=True)
class FewStepSpec:
    enabled: bool
    lora: LoraSpec | None  # None: the UNet itself is distilled for few steps
    steps: int
    guidance: float
    strength: float
    scheduler: SchedulerSpec | None  # None: keep the main scheduler


@dataclass(frozen=True, slots=True)
class StylePrompt:
    prompt: str
    negative_prompt: str


@dataclass(frozen=True, slots=True)
class Recipe:
    pipeline: str
    variant: str | None
    dtype: str
    scheduler: SchedulerSpec | None
    steps: int
    guidance: float
    strength: float
    resolution: int
    batch_size: int
    compile: bool
    identity_adapter: AdapterSpec | None
    few_step: FewStepSpec
    allow_noncommercial: bool
    styles: Mapping[str, StylePrompt]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = RECIPE_FILE) -> Recipe:
        """The recipe over DEFAULT_RECIPE; ConfigurationError listing every problem at once."""
        errors: list[str] = []
        merged = _merge(DEFAULT_RECIPE, data, errors, "")
        recipe = _parse(merged, errors)
        if errors or recipe is None:
            raise ConfigurationError(f"{source}: " + "; ".join(errors))
        return recipe

    @classmethod
    def load(cls, path: Path) -> Recipe:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"{path} is not readable JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{path} must hold a JSON object")
        return cls.from_dict(data, source=str(path))

    def style(self, style: str) -> StylePrompt:
        return self.styles[style]


def default_recipe() -> dict[str, Any]:
    """A deep copy of the default recipe (what docs/DIFFUSION.md shows), to edit and write."""
    return copy.deepcopy(dict(DEFAULT_RECIPE))


# Keys whose value replaces the default's whole (a scheduler's config belongs to its class).
_REPLACED: Final = frozenset({"scheduler", "few_step.scheduler", "scheduler.config", "few_step.scheduler.config"})


def _merge(default: Mapping[str, Any], given: Mapping[str, Any], errors: list[str], prefix: str) -> dict[str, Any]:
    merged = copy.deepcopy(dict(default))
    for key, value in given.items():
        path = f"{prefix}{key}"
        if key not in default and not prefix.startswith("styles."):
            errors.append(f"unknown key {path!r}")
            continue
        base = default.get(key)
        if isinstance(base, Mapping) and isinstance(value, Mapping) and path not in _REPLACED:
            merged[key] = _merge(base, value, errors, f"{path}.")
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _parse(data: Mapping[str, Any], errors: list[str]) -> Recipe | None:
    def number(value: Any, name: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            errors.append(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
            return low
        return float(value)

    def integer(value: Any, name: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.append(f"{name} must be an integer from {low} to {high}, got {value!r}")
            return low
        return value

    def flag(value: Any, name: str) -> bool:
        if not isinstance(value, bool):
            errors.append(f"{name} must be true or false, got {value!r}")
            return False
        return value

    def text(value: Any, name: str) -> str:
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{name} must be a non-empty string, got {value!r}")
            return ""
        return value

    def relative(value: Any, name: str) -> str:
        path = text(value, name)
        if path and (Path(path).is_absolute() or ".." in Path(path).parts):
            errors.append(f"{name} must be a path inside the model directory, got {path!r}")
        return path

    def safetensors(value: Any, name: str) -> str:
        weight = relative(value, name)
        if weight and not weight.endswith(".safetensors"):
            errors.append(f"{name} must name a .safetensors file (pickled weights are never loaded), got {weight!r}")
        return weight

    def scheduler(value: Any, name: str) -> SchedulerSpec | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            errors.append(f"{name} must be an object with 'class' and 'config', got {value!r}")
            return None
        unknown = set(value) - {"class", "config"}
        if unknown:
            errors.append(f"unknown key(s) in {name}: {', '.join(sorted(unknown))}")
        class_name = text(value.get("class"), f"{name}.class")
        if class_name and not class_name.endswith("Scheduler"):
            errors.append(f"{name}.class must name a diffusers scheduler class, got {class_name!r}")
        config = value.get("config", {})
        if not isinstance(config, Mapping):
            errors.append(f"{name}.config must be an object, got {config!r}")
            config = {}
        return SchedulerSpec(class_name, dict(config))

    if data.get("format") != RECIPE_FORMAT:
        errors.append(f"format must be {RECIPE_FORMAT}, got {data.get('format')!r}")
    pipeline = data.get("pipeline")
    if pipeline not in PIPELINES:
        errors.append(f"pipeline must be one of {', '.join(PIPELINES)}, got {pipeline!r}")
    variant = data.get("variant")
    if variant is not None and (not isinstance(variant, str) or not variant.isidentifier()):
        errors.append(f"variant must be null or a weights variant such as 'fp16', got {variant!r}")
    dtype = data.get("dtype")
    if dtype not in DTYPES:
        errors.append(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    resolution = integer(data.get("resolution"), "resolution", 64, 2048)
    if resolution % 8:
        errors.append(f"resolution must be a multiple of 8, got {resolution}")
    allow_noncommercial = flag(data.get("allow_noncommercial"), "allow_noncommercial")

    adapter: AdapterSpec | None = None
    raw_adapter = data.get("identity_adapter")
    if raw_adapter is not None:
        if not isinstance(raw_adapter, Mapping):
            errors.append(f"identity_adapter must be an object or null, got {raw_adapter!r}")
        else:
            kind = raw_adapter.get("kind")
            if kind in NONCOMMERCIAL_ADAPTERS:
                _refuse_noncommercial(str(kind), allow_noncommercial)
            elif kind != IP_ADAPTER:
                known = ", ".join((IP_ADAPTER, *NONCOMMERCIAL_ADAPTERS))
                errors.append(f"identity_adapter.kind must be one of {known}, got {kind!r}")
            encoder = raw_adapter.get("image_encoder_folder")
            adapter = AdapterSpec(
                kind=str(kind),
                subfolder=relative(raw_adapter.get("subfolder"), "identity_adapter.subfolder"),
                weight_name=safetensors(raw_adapter.get("weight_name"), "identity_adapter.weight_name"),
                image_encoder_folder=None
                if encoder is None
                else relative(encoder, "identity_adapter.image_encoder_folder"),
                scale=number(raw_adapter.get("scale"), "identity_adapter.scale", 0.0, 2.0),
            )

    few = data.get("few_step")
    if not isinstance(few, Mapping):
        errors.append(f"few_step must be an object, got {few!r}")
        few = DEFAULT_RECIPE["few_step"]
    raw_lora = few.get("lora")
    lora: LoraSpec | None = None
    if raw_lora is not None:
        if not isinstance(raw_lora, Mapping):
            errors.append(f"few_step.lora must be an object or null, got {raw_lora!r}")
        else:
            lora = LoraSpec(
                subfolder=relative(raw_lora.get("subfolder"), "few_step.lora.subfolder"),
                weight_name=safetensors(raw_lora.get("weight_name"), "few_step.lora.weight_name"),
                scale=number(raw_lora.get("scale"), "few_step.lora.scale", 0.0, 2.0),
            )
    few_step = FewStepSpec(
        enabled=flag(few.get("enabled"), "few_step.enabled"),
        lora=lora,
        steps=integer(few.get("steps"), "few_step.steps", 1, 16),
        guidance=number(few.get("guidance"), "few_step.guidance", 0.0, 20.0),
        strength=number(few.get("strength"), "few_step.strength", 0.01, 1.0),
        scheduler=scheduler(few.get("scheduler"), "few_step.scheduler"),
    )

    negative = data.get("negative_prompt")
    styles: dict[str, StylePrompt] = {}
    raw_styles = data.get("styles")
    if not isinstance(raw_styles, Mapping):
        errors.append("styles must be an object keyed by style id")
        raw_styles = {}
    for style, entry in raw_styles.items():
        if style not in STYLES:
            errors.append(f"styles.{style}: unknown style (known: {', '.join(STYLES)})")
            continue
        if not isinstance(entry, Mapping) or set(entry) - {"prompt", "negative_prompt"}:
            errors.append(f"styles.{style} must be an object with 'prompt' and optionally 'negative_prompt'")
            continue
        styles[style] = StylePrompt(
            prompt=text(entry.get("prompt"), f"styles.{style}.prompt"),
            negative_prompt=text(entry.get("negative_prompt", negative), f"styles.{style}.negative_prompt"),
        )

    steps = integer(data.get("steps"), "steps", 1, 200)
    strength = number(data.get("strength"), "strength", 0.01, 1.0)
    # img2img runs int(steps x strength) of the scheduler's steps: at least one must remain.
    for name, total, share in (("", steps, strength), ("few_step.", few_step.steps, few_step.strength)):
        if total * share < 1:
            errors.append(f"{name}steps x {name}strength must be at least 1, got {total} x {share:g}")

    if errors:
        return None
    return Recipe(
        pipeline=str(pipeline),
        variant=variant,
        dtype=str(dtype),
        scheduler=scheduler(data.get("scheduler"), "scheduler"),
        steps=steps,
        guidance=number(data.get("guidance"), "guidance", 0.0, 30.0),
        strength=strength,
        resolution=resolution,
        batch_size=integer(data.get("batch_size"), "batch_size", 1, 64),
        compile=flag(data.get("compile"), "compile"),
        identity_adapter=adapter,
        few_step=few_step,
        allow_noncommercial=allow_noncommercial,
        styles=styles,
    )


def _refuse_noncommercial(kind: str, allowed: bool) -> None:
    if not allowed:
        raise ConfigurationError(
            f"identity adapter {kind!r} needs insightface face models, whose weights are licensed for "
            'non-commercial use only; it is off unless recipe.json sets "allow_noncommercial": true '
            "(see docs/DIFFUSION.md, 'Non-commercial adapters')"
        )
    raise NonCommercialAdapterError(
        f'identity adapter {kind!r} is allowed by "allow_noncommercial": true but is not implemented in this '
        f'build; use "kind": "{IP_ADAPTER}" (IP-Adapter Plus Face, commercially usable weights)'
    )


# ---------------------------------------------------------------------------------------
# the model directory


def _has_weights(folder: Path, variant: str | None) -> bool:
    names = [p.name for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    if variant:
        return any(f".{variant}." in n and (n.endswith(".safetensors") or n.endswith(".json")) for n in names)
    return any(n.endswith(".safetensors") for n in names)


def _model_folder(model_dir: Path, folder: str, what: str, variant: str | None) -> list[str]:
    path = model_dir / folder
    if not path.is_dir():
        return [f"{folder}/ ({what})"]
    missing = [] if (path / "config.json").is_file() else [f"{folder}/config.json"]
    if not _has_weights(path, variant):
        pattern = f"*.{variant}.safetensors" if variant else "*.safetensors"
        missing.append(f"{folder}/{pattern} ({what} weights)")
    return missing


def missing_parts(model_dir: Path, recipe: Recipe | None) -> list[str]:
    """Every file or folder the recipe needs that the model dir lacks, as relative paths.

    `recipe` None means recipe.json itself is missing: it is listed first and the rest is
    checked against the default recipe, so one message names everything to add.
    """
    missing = [] if recipe is not None else [RECIPE_FILE]
    recipe = recipe or Recipe.from_dict({})
    if not (model_dir / MODEL_INDEX).is_file():
        missing.append(MODEL_INDEX)
    for folder, what in MODEL_FOLDERS:
        missing += _model_folder(model_dir, folder, what, recipe.variant)
    for folder in TOKENIZER_FOLDERS:
        path = model_dir / folder
        if not path.is_dir():
            missing.append(f"{folder}/ (CLIP tokenizer)")
        elif not (path / "tokenizer.json").is_file() and not (
            (path / "vocab.json").is_file() and (path / "merges.txt").is_file()
        ):
            missing.append(f"{folder}/vocab.json + merges.txt (or tokenizer.json)")
    if not (model_dir / SCHEDULER_CONFIG).is_file():
        missing.append(SCHEDULER_CONFIG)
    adapter = recipe.identity_adapter
    if adapter is not None:
        weights = Path(adapter.subfolder, adapter.weight_name).as_posix()
        if not (model_dir / weights).is_file():
            missing.append(f"{weights} (identity adapter weights)")
        encoder = adapter.image_encoder_path()
        if encoder is not None:
            missing += _model_folder(model_dir, encoder, "CLIP image encoder", None)
    lora = recipe.few_step.lora
    if recipe.few_step.enabled and lora is not None:
        weights = Path(lora.subfolder, lora.weight_name).as_posix()
        if not (model_dir / weights).is_file():
            missing.append(f"{weights} (few-step LoRA)")
    return missing


def check_model_dir(model_dir: Path) -> Recipe:
    """The model dir's recipe, once everything it names is there; ConfigurationError if not."""
    if not model_dir.is_dir():
        raise ConfigurationError(
            f"diffusion model directory {model_dir} does not exist "
            "(set HEADSHOT_MODEL_DIR; layout in docs/DIFFUSION.md)"
        )
    recipe_path = model_dir / RECIPE_FILE
    recipe = Recipe.load(recipe_path) if recipe_path.is_file() else None
    missing = missing_parts(model_dir, recipe)
    if missing:
        raise ConfigurationError(
            f"diffusion model directory {model_dir} is incomplete; missing: {', '.join(missing)} "
            "(layout in docs/DIFFUSION.md; weights are never downloaded)"
        )
    assert recipe is not None
    return recipe


# ---------------------------------------------------------------------------------------
# the backend


@dataclass(frozen=True, slots=True)
class _Job:
    item: PlannedImage
    init: Image.Image  # the studio framing at the recipe's resolution
    face: Image.Image  # the aligned face crop the identity adapter sees


@dataclass(frozen=True, slots=True)
class _Sampling:
    steps: int
    guidance: float
    strength: float


class DiffusionBackend:
    name = "diffusion"

    def __init__(self, model_dir: Path, *, device: str | None = None, few_step: bool | None = None) -> None:
        """`device` None: HEADSHOT_DEVICE, else "cuda" (no silent CPU fallback); `few_step` None: as the recipe."""
        self.model_dir = Path(model_dir)
        self._device_request = device
        self._few_step_request = few_step
        self._pipe: Any = None
        self._recipe: Recipe | None = None
        self._sampling = _Sampling(0, 0.0, 0.0)
        self._few_step = False
        self._device = "cpu"
        self._dtype_name = "float32"
        self._recipe_sha256 = ""
        self._lock = threading.Lock()

    @property
    def recipe(self) -> Recipe:
        if self._recipe is None:
            raise RuntimeError("DiffusionBackend.load() has not run")
        return self._recipe

    @property
    def pipeline(self) -> Any:
        """The loaded diffusers pipeline (for tests and benchmarks)."""
        if self._pipe is None:
            raise RuntimeError("DiffusionBackend.load() has not run")
        return self._pipe

    def load(self) -> None:
        recipe = check_model_dir(self.model_dir)
        # A GPU is expected unless the CPU is asked for by name (tests): no silent CPU fallback.
        device = self._device_request or get_settings().device
        few_step = recipe.few_step.enabled if self._few_step_request is None else self._few_step_request
        if few_step and recipe.few_step.lora is not None and importlib.util.find_spec("peft") is None:
            raise ConfigurationError("the few-step LoRA needs the 'peft' package (part of the 'inference' extra)")
        # Belt and braces: every path below is local and passes local_files_only, and the hub
        # client is told it is offline before diffusers imports it.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
        import diffusers
        import torch

        if device.startswith("cuda"):
            index = int(device.partition(":")[2] or 0)
            if not torch.cuda.is_available() or index >= torch.cuda.device_count():
                message = (
                    f"the diffusion backend expects a GPU ({device}) but CUDA is unavailable "
                    f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}, "
                    f"{torch.cuda.device_count() if torch.cuda.is_available() else 0} device(s) visible); "
                    "not falling back to the CPU: check the instance type and its NVIDIA driver, "
                    "or set HEADSHOT_DEVICE=cpu to run on the CPU on purpose"
                )
                log.error(message)
                raise ConfigurationError(message)
        dtype_name = _dtype_for(recipe.dtype, device)
        dtype = getattr(torch, dtype_name)
        local = str(self.model_dir)
        try:
            pipe = getattr(diffusers, recipe.pipeline).from_pretrained(
                local, dtype=dtype, variant=recipe.variant, use_safetensors=True, local_files_only=True
            )
            scheduler = recipe.few_step.scheduler if few_step and recipe.few_step.scheduler else recipe.scheduler
            if scheduler is not None:
                pipe.scheduler = _scheduler_class(diffusers, scheduler.class_name).from_config(
                    pipe.scheduler.config, **scheduler.config
                )
            lora = recipe.few_step.lora
            if few_step and lora is not None:
                pipe.load_lora_weights(
                    str(self.model_dir / lora.subfolder),
                    weight_name=lora.weight_name,
                    adapter_name="few_step",
                    local_files_only=True,
                )
                pipe.fuse_lora(lora_scale=lora.scale)
                pipe.unload_lora_weights()  # the fused weights stay; the LoRA layers go
            adapter = recipe.identity_adapter
            if adapter is not None:
                pipe.load_ip_adapter(
                    local,
                    subfolder=adapter.subfolder,
                    weight_name=adapter.weight_name,
                    image_encoder_folder=adapter.image_encoder_folder,
                    local_files_only=True,
                )
                pipe.set_ip_adapter_scale(adapter.scale)
        except ConfigurationError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ConfigurationError(f"cannot load the diffusion pipeline from {self.model_dir}: {exc}") from exc
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        if recipe.compile and device.startswith("cuda"):
            pipe.unet = torch.compile(pipe.unet, fullgraph=False)

        self._recipe = recipe
        self._few_step = few_step
        self._device = device
        self._dtype_name = dtype_name
        self._recipe_sha256 = hashlib.sha256((self.model_dir / RECIPE_FILE).read_bytes()).hexdigest()
        self._sampling = (
            _Sampling(recipe.few_step.steps, recipe.few_step.guidance, recipe.few_step.strength)
            if few_step
            else _Sampling(recipe.steps, recipe.guidance, recipe.strength)
        )
        self._pipe = pipe

    @property
    def info(self) -> dict[str, Any]:
        """What produced the images (for the result manifest and the logs)."""
        recipe, pipe = self.recipe, self.pipeline
        adapter = recipe.identity_adapter
        processors = {type(p).__name__ for p in pipe.unet.attn_processors.values()}
        return {
            "pipeline": recipe.pipeline,
            "scheduler": type(pipe.scheduler).__name__,
            "steps": self._sampling.steps,
            "guidance": self._sampling.guidance,
            "strength": self._sampling.strength,
            "resolution": recipe.resolution,
            "few_step": self._few_step,
            "identity_adapter": None if adapter is None else f"{adapter.kind}:{adapter.weight_name}",
            "identity_adapter_scale": None if adapter is None else adapter.scale,
            "dtype": self._dtype_name,
            "device": self._device,
            "attention": "sdpa" if all(name.endswith("2_0") for name in processors) else ",".join(sorted(processors)),
            "recipe_sha256": self._recipe_sha256,
        }

    def generate(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> list[GeneratedImage]:
        recipe = self.recipe
        if not photos:
            return []
        prepared: dict[int, Any] = {}
        jobs: list[_Job] = []
        for item in plan(len(photos), styles, variants, seed):
            if item.source not in prepared:
                prepared[item.source] = studio.prepare(photos[item.source])
            # The studio framing of this very output (its seed picks the crop jitter and
            # backdrop shading): the pose, face and backdrop colour the model starts from.
            framed = studio.render_output(prepared[item.source], item.style, np.random.default_rng(item.seed))
            jobs.append(_Job(item, _resize(framed, recipe.resolution), _face_crop(framed)))

        dst = (
            DST_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
            if recipe.pipeline == INPAINT
            else DST_TRAINED_ALGORITHMIC_MEDIA
        )
        outputs: list[GeneratedImage] = []
        with self._lock:
            for start in range(0, len(jobs), recipe.batch_size):
                chunk = jobs[start : start + recipe.batch_size]
                for job, image in zip(chunk, self._run(chunk), strict=True):
                    item = job.item
                    outputs.append(GeneratedImage(item.style, item.variant, item.seed, image, item.source, dst))
        return outputs

    def _run(self, jobs: Sequence[_Job]) -> list[np.ndarray]:
        import torch

        recipe, pipe, sampling = self.recipe, self.pipeline, self._sampling
        cfg = sampling.guidance > 1 and pipe.unet.config.time_cond_proj_dim is None
        prompts = [recipe.style(job.item.style) for job in jobs]
        kwargs: dict[str, Any] = {
            "prompt": [p.prompt for p in prompts],
            "negative_prompt": [p.negative_prompt for p in prompts] if cfg else None,
            "image": [job.init for job in jobs],
            "strength": sampling.strength,
            "num_inference_steps": sampling.steps,
            "guidance_scale": sampling.guidance,
            # CPU generators: the same noise whatever the device, one per output.
            "generator": [torch.Generator("cpu").manual_seed(job.item.seed) for job in jobs],
            "output_type": "np",
        }
        if recipe.pipeline == INPAINT:
            mask = _keep_face_mask(recipe.resolution)
            kwargs.update(mask_image=[mask] * len(jobs), height=recipe.resolution, width=recipe.resolution)
        with torch.inference_mode():
            if recipe.identity_adapter is not None:
                kwargs["ip_adapter_image_embeds"] = [self._face_embeds([job.face for job in jobs], cfg)]
            result = pipe(**kwargs).images
        images = []
        for array in np.asarray(result):
            pixels = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
            images.append(_resize_array(pixels, OUTPUT_SIZE))
        return images

    def _face_embeds(self, faces: Sequence[Image.Image], cfg: bool) -> torch.Tensor:
        """Identity-adapter embeddings, one per output (B, 1, ...), negatives first under CFG."""
        import torch
        from diffusers.models.embeddings import ImageProjection

        pipe = self.pipeline
        projection = pipe.unet.encoder_hid_proj.image_projection_layers[0]
        hidden = not isinstance(projection, ImageProjection)  # Plus adapters read hidden states
        embeds, negative = pipe.encode_image(list(faces), pipe.device, 1, hidden)
        embeds, negative = embeds.unsqueeze(1), negative.unsqueeze(1)
        result: torch.Tensor = torch.cat([negative, embeds]) if cfg else embeds
        return result


def _dtype_for(requested: str, device: str) -> str:
    if not device.startswith("cuda"):
        return "float32"  # half precision on CPU is slow where it works at all
    return "float16" if requested == "auto" else requested


def _scheduler_class(diffusers: Any, name: str) -> Any:
    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, "from_config"):
        raise ConfigurationError(f"recipe scheduler {name!r} is not a diffusers scheduler class")
    return cls


def _resize(image: np.ndarray, side: int) -> Image.Image:
    return Image.fromarray(_resize_array(image, side))


def _resize_array(image: np.ndarray, side: int) -> np.ndarray:
    if image.shape[0] == side and image.shape[1] == side:
        return image
    interpolation = cv2.INTER_AREA if image.shape[0] > side else cv2.INTER_LANCZOS4
    resized: np.ndarray = cv2.resize(image, (side, side), interpolation=interpolation)
    return resized


def _face_crop(framed: np.ndarray) -> Image.Image:
    """The face square of a studio framing: the eyes are level at a known line and distance."""
    side = framed.shape[0]
    d = studio.EYE_DISTANCE * side
    half = FACE_CROP_SIDE * d / 2
    cx, cy = side / 2, studio.EYE_LINE * side + FACE_CROP_DROP * d
    box = (math.floor(cx - half), math.floor(cy - half), math.ceil(cx + half), math.ceil(cy + half))
    crop = Image.fromarray(framed).crop(box)
    return crop.resize((FACE_CROP_PX, FACE_CROP_PX), Image.Resampling.LANCZOS)


def _keep_face_mask(side: int) -> Image.Image:
    """Inpainting mask at `side` px: white (redraw) everywhere but a feathered face ellipse."""
    d = studio.EYE_DISTANCE * side
    mask = np.full((side, side), 255, np.uint8)
    centre = (round(side / 2), round(studio.EYE_LINE * side + KEEP_FACE_DROP * d))
    axes = (round(KEEP_FACE_AXES[0] * d), round(KEEP_FACE_AXES[1] * d))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 0, thickness=-1)
    feather = max(1.0, 0.08 * d)
    blurred: np.ndarray = cv2.GaussianBlur(mask, (0, 0), feather)
    return Image.fromarray(blurred)


__all__ = [
    "DEFAULT_RECIPE",
    "RECIPE_FILE",
    "DiffusionBackend",
    "NonCommercialAdapterError",
    "Recipe",
    "check_model_dir",
    "default_recipe",
    "missing_parts",
]
