"""The model directory: a diffusers SDXL folder plus recipe.json, checked before anything loads.

A missing or incomplete directory fails at load() with one message listing everything that
is missing (docs/DIFFUSION.md shows the layout); weights are never downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from headshot.settings import ConfigurationError
from headshot_inference.backends.diffusion.defaults import RECIPE_FILE
from headshot_inference.backends.diffusion.recipe import Recipe

MODEL_INDEX: Final = "model_index.json"
# The SDXL pipeline's parts besides the VAE (whose folder the recipe names): (folder, what).
MODEL_FOLDERS: Final = (
    ("unet", "UNet"),
    ("text_encoder", "CLIP text encoder"),
    ("text_encoder_2", "CLIP text encoder 2"),
)
TOKENIZER_FOLDERS: Final = ("tokenizer", "tokenizer_2")
SCHEDULER_CONFIG: Final = "scheduler/scheduler_config.json"


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
    folders = [*MODEL_FOLDERS[:1], (recipe.vae.subfolder, "VAE"), *MODEL_FOLDERS[1:]]
    for folder, what in folders:
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
