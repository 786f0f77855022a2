"""The GPU backend: an SDXL-class diffusers pipeline that redraws the person's own framing.

One file per job: `defaults` (the default recipe), `recipe` (parsing and checks),
`model_dir` (what the model directory must hold), `pipeline` (loading, channels_last,
compile, VAE encode), `framing` (the starting image from the studio matte), `regions`
(per-region strength), `identity` (averaged adapter embeddings), `paste` (face paste-back)
and `backend` (DiffusionBackend). docs/DIFFUSION.md covers the model dir, docs/RECIPE.md the
recipe, its licences and how to swap it.
"""

from __future__ import annotations

from headshot_inference.backends.diffusion.backend import DiffusionBackend
from headshot_inference.backends.diffusion.defaults import DEFAULT_RECIPE, IMG2IMG, INPAINT, RECIPE_FILE
from headshot_inference.backends.diffusion.model_dir import check_model_dir, missing_parts
from headshot_inference.backends.diffusion.recipe import NonCommercialAdapterError, Recipe, Strength, default_recipe

__all__ = [
    "DEFAULT_RECIPE",
    "IMG2IMG",
    "INPAINT",
    "RECIPE_FILE",
    "DiffusionBackend",
    "NonCommercialAdapterError",
    "Recipe",
    "Strength",
    "check_model_dir",
    "default_recipe",
    "missing_parts",
]
