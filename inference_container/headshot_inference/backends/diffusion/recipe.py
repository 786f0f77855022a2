"""The recipe: what the diffusion backend runs, read from the model dir's recipe.json.

Every key is optional; what is absent takes DEFAULT_RECIPE's value (objects merge key by
key). Every problem is reported at once, at start (ConfigurationError), never in a request.
docs/RECIPE.md explains each choice and the licences of the weights it names.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from headshot.settings import ConfigurationError
from headshot_inference.backends.diffusion.defaults import (
    COMPILE_MODES,
    DEFAULT_RECIPE,
    DTYPES,
    IP_ADAPTER,
    NONCOMMERCIAL_ADAPTERS,
    PIPELINES,
    RECIPE_FILE,
    RECIPE_FORMAT,
    REGIONS,
)
from headshot_inference.styles import STYLES


class NonCommercialAdapterError(ConfigurationError, NotImplementedError):
    """An insightface-based identity adapter was switched on; this build does not carry one."""


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
class Strength:
    """How much of the schedule each region is redrawn over (img2img strength per region)."""

    face: float
    hair: float
    body: float
    backdrop: float

    @property
    def most(self) -> float:
        """The pipeline's strength: the most-redrawn region sets how many steps run."""
        return max(self.face, self.hair, self.body, self.backdrop)


@dataclass(frozen=True, slots=True)
class FewStepSpec:
    enabled: bool
    lora: LoraSpec | None  # None: the UNet itself is distilled for few steps
    steps: int
    guidance: float
    strength: Strength
    scheduler: SchedulerSpec | None  # None: keep the main scheduler


@dataclass(frozen=True, slots=True)
class VaeSpec:
    subfolder: str
    force_upcast: bool | None  # None: as the VAE's own config says


@dataclass(frozen=True, slots=True)
class PasteSpec:
    enabled: bool
    feather: float  # eye distances
    colour_match: bool


@dataclass(frozen=True, slots=True)
class StylePrompt:
    prompt: str
    negative_prompt: str
    keep_hair: bool  # the hair is held like the face (face strength) instead of redrawn


@dataclass(frozen=True, slots=True)
class Recipe:
    pipeline: str
    variant: str | None
    dtype: str
    vae: VaeSpec
    scheduler: SchedulerSpec | None
    steps: int
    guidance: float
    strength: Strength
    resolution: int
    batch_size: int
    compile: bool
    compile_mode: str
    warmup: bool
    channels_last: bool
    paste_face: PasteSpec
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
    """A deep copy of the default recipe (what docs/RECIPE.md shows), to edit and write."""
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


class _Checks:
    """Value checks that collect every problem instead of stopping at the first."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors

    def number(self, value: Any, name: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            self.errors.append(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
            return low
        return float(value)

    def integer(self, value: Any, name: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.errors.append(f"{name} must be an integer from {low} to {high}, got {value!r}")
            return low
        return value

    def flag(self, value: Any, name: str) -> bool:
        if not isinstance(value, bool):
            self.errors.append(f"{name} must be true or false, got {value!r}")
            return False
        return value

    def text(self, value: Any, name: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.errors.append(f"{name} must be a non-empty string, got {value!r}")
            return ""
        return value

    def choice(self, value: Any, name: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            self.errors.append(f"{name} must be one of {', '.join(choices)}, got {value!r}")
            return choices[0]
        return str(value)

    def relative(self, value: Any, name: str) -> str:
        path = self.text(value, name)
        if path and (Path(path).is_absolute() or ".." in Path(path).parts):
            self.errors.append(f"{name} must be a path inside the model directory, got {path!r}")
        return path

    def safetensors(self, value: Any, name: str) -> str:
        weight = self.relative(value, name)
        if weight and not weight.endswith(".safetensors"):
            self.errors.append(
                f"{name} must name a .safetensors file (pickled weights are never loaded), got {weight!r}"
            )
        return weight

    def keys(self, value: Any, name: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.errors.append(f"{name} must be an object, got {value!r}")
            return {}
        unknown = set(value) - allowed
        if unknown:
            self.errors.append(f"unknown key(s) in {name}: {', '.join(sorted(unknown))}")
        return value

    def scheduler(self, value: Any, name: str) -> SchedulerSpec | None:
        if value is None:
            return None
        entry = self.keys(value, name, {"class", "config"})
        class_name = self.text(entry.get("class"), f"{name}.class")
        if class_name and not class_name.endswith("Scheduler"):
            self.errors.append(f"{name}.class must name a diffusers scheduler class, got {class_name!r}")
        config = entry.get("config", {})
        if not isinstance(config, Mapping):
            self.errors.append(f"{name}.config must be an object, got {config!r}")
            config = {}
        return SchedulerSpec(class_name, dict(config))

    def strength(self, value: Any, name: str, steps: int) -> Strength:
        """One number for every region, or {"face", "hair", "body", "backdrop"}."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = dict.fromkeys(REGIONS, value)
        entry = self.keys(value, name, set(REGIONS))
        strength = Strength(*(self.number(entry.get(r), f"{name}.{r}", 0.0, 1.0) for r in REGIONS))
        # img2img runs int(steps x strength) of the scheduler's steps: at least one must remain.
        if steps * strength.most < 1:
            self.errors.append(f"steps x {name} must be at least 1, got {steps} x {strength.most:g}")
        return strength


def _parse(data: Mapping[str, Any], errors: list[str]) -> Recipe | None:
    check = _Checks(errors)
    if data.get("format") != RECIPE_FORMAT:
        errors.append(f"format must be {RECIPE_FORMAT}, got {data.get('format')!r}")
    pipeline = check.choice(data.get("pipeline"), "pipeline", PIPELINES)
    variant = data.get("variant")
    if variant is not None and (not isinstance(variant, str) or not variant.isidentifier()):
        errors.append(f"variant must be null or a weights variant such as 'fp16', got {variant!r}")
    resolution = check.integer(data.get("resolution"), "resolution", 64, 2048)
    if resolution % 8:
        errors.append(f"resolution must be a multiple of 8, got {resolution}")
    allow_noncommercial = check.flag(data.get("allow_noncommercial"), "allow_noncommercial")
    steps = check.integer(data.get("steps"), "steps", 1, 200)

    raw_vae = check.keys(data.get("vae"), "vae", {"subfolder", "force_upcast"})
    upcast = raw_vae.get("force_upcast")
    vae = VaeSpec(
        subfolder=check.relative(raw_vae.get("subfolder"), "vae.subfolder"),
        force_upcast=None if upcast is None else check.flag(upcast, "vae.force_upcast"),
    )
    raw_paste = check.keys(data.get("paste_face"), "paste_face", {"enabled", "feather", "colour_match"})
    paste = PasteSpec(
        enabled=check.flag(raw_paste.get("enabled"), "paste_face.enabled"),
        feather=check.number(raw_paste.get("feather"), "paste_face.feather", 0.02, 0.5),
        colour_match=check.flag(raw_paste.get("colour_match"), "paste_face.colour_match"),
    )
    few_step = _few_step(data.get("few_step"), check)
    styles = _styles(data.get("styles"), data.get("negative_prompt"), check)
    adapter = _adapter(data.get("identity_adapter"), allow_noncommercial, check)
    recipe = Recipe(
        pipeline=pipeline,
        variant=variant,
        dtype=check.choice(data.get("dtype"), "dtype", DTYPES),
        vae=vae,
        scheduler=check.scheduler(data.get("scheduler"), "scheduler"),
        steps=steps,
        guidance=check.number(data.get("guidance"), "guidance", 0.0, 30.0),
        strength=check.strength(data.get("strength"), "strength", steps),
        resolution=resolution,
        batch_size=check.integer(data.get("batch_size"), "batch_size", 1, 64),
        compile=check.flag(data.get("compile"), "compile"),
        compile_mode=check.choice(data.get("compile_mode"), "compile_mode", COMPILE_MODES),
        warmup=check.flag(data.get("warmup"), "warmup"),
        channels_last=check.flag(data.get("channels_last"), "channels_last"),
        paste_face=paste,
        identity_adapter=adapter,
        few_step=few_step,
        allow_noncommercial=allow_noncommercial,
        styles=styles,
    )
    return None if errors else recipe


def _adapter(raw: Any, allow_noncommercial: bool, check: _Checks) -> AdapterSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        check.errors.append(f"identity_adapter must be an object or null, got {raw!r}")
        return None
    kind = raw.get("kind")
    if kind in NONCOMMERCIAL_ADAPTERS:
        _refuse_noncommercial(str(kind), allow_noncommercial)
    elif kind != IP_ADAPTER:
        known = ", ".join((IP_ADAPTER, *NONCOMMERCIAL_ADAPTERS))
        check.errors.append(f"identity_adapter.kind must be one of {known}, got {kind!r}")
    encoder = raw.get("image_encoder_folder")
    return AdapterSpec(
        kind=str(kind),
        subfolder=check.relative(raw.get("subfolder"), "identity_adapter.subfolder"),
        weight_name=check.safetensors(raw.get("weight_name"), "identity_adapter.weight_name"),
        image_encoder_folder=None
        if encoder is None
        else check.relative(encoder, "identity_adapter.image_encoder_folder"),
        scale=check.number(raw.get("scale"), "identity_adapter.scale", 0.0, 2.0),
    )


def _few_step(raw: Any, check: _Checks) -> FewStepSpec:
    few = check.keys(raw, "few_step", set(DEFAULT_RECIPE["few_step"]))
    raw_lora = few.get("lora")
    lora: LoraSpec | None = None
    if raw_lora is not None:
        entry = check.keys(raw_lora, "few_step.lora", {"subfolder", "weight_name", "scale"})
        lora = LoraSpec(
            subfolder=check.relative(entry.get("subfolder"), "few_step.lora.subfolder"),
            weight_name=check.safetensors(entry.get("weight_name"), "few_step.lora.weight_name"),
            scale=check.number(entry.get("scale"), "few_step.lora.scale", 0.0, 2.0),
        )
    steps = check.integer(few.get("steps"), "few_step.steps", 1, 16)
    return FewStepSpec(
        enabled=check.flag(few.get("enabled"), "few_step.enabled"),
        lora=lora,
        steps=steps,
        guidance=check.number(few.get("guidance"), "few_step.guidance", 0.0, 20.0),
        strength=check.strength(few.get("strength"), "few_step.strength", steps),
        scheduler=check.scheduler(few.get("scheduler"), "few_step.scheduler"),
    )


def _styles(raw: Any, negative: Any, check: _Checks) -> dict[str, StylePrompt]:
    styles: dict[str, StylePrompt] = {}
    if not isinstance(raw, Mapping):
        check.errors.append("styles must be an object keyed by style id")
        return styles
    for style, entry in raw.items():
        if style not in STYLES:
            check.errors.append(f"styles.{style}: unknown style (known: {', '.join(STYLES)})")
            continue
        if not isinstance(entry, Mapping) or set(entry) - {"prompt", "negative_prompt", "keep_hair"}:
            check.errors.append(
                f"styles.{style} must be an object with 'prompt' and optionally 'negative_prompt', 'keep_hair'"
            )
            continue
        styles[style] = StylePrompt(
            prompt=check.text(entry.get("prompt"), f"styles.{style}.prompt"),
            negative_prompt=check.text(entry.get("negative_prompt", negative), f"styles.{style}.negative_prompt"),
            keep_hair=check.flag(entry.get("keep_hair", False), f"styles.{style}.keep_hair"),
        )
    return styles


def _refuse_noncommercial(kind: str, allowed: bool) -> None:
    if not allowed:
        raise ConfigurationError(
            f"identity adapter {kind!r} needs insightface face models, whose weights are licensed for "
            'non-commercial use only; it is off unless recipe.json sets "allow_noncommercial": true '
            "(see docs/RECIPE.md, 'Licences')"
        )
    raise NonCommercialAdapterError(
        f'identity adapter {kind!r} is allowed by "allow_noncommercial": true but is not implemented in this '
        f'build; use "kind": "{IP_ADAPTER}" (IP-Adapter Plus Face, commercially usable weights)'
    )
