"""The diffusers pipeline the recipe names, loaded from the model dir only and made fast.

Everything is local (local_files_only, HF_HUB_OFFLINE set by the backend before diffusers
is imported) and safetensors only. Speed-ups that cost nothing in quality are applied at
load: channels_last memory format (convolutions' preferred layout on tensor cores) and
torch.compile of the UNet (compiled in the backend's warm-up, before /ping says ready).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headshot.settings import ConfigurationError
from headshot_inference.backends.diffusion.recipe import Recipe

if TYPE_CHECKING:
    import torch

# The package's logger (the name operators filter on, as before the package split).
log = logging.getLogger(__name__.rpartition(".")[0])


def load_pipeline(model_dir: Path, recipe: Recipe, device: str, dtype: Any, few_step: bool) -> Any:
    """The recipe's pipeline on `device`; ConfigurationError when the weights do not load."""
    import diffusers

    local = str(model_dir)
    try:
        parts: dict[str, Any] = {}
        if recipe.vae.subfolder != "vae":
            # Another VAE (e.g. the fp16-fix one) replaces the pipeline's own.
            vae_class: Any = diffusers.AutoencoderKL
            parts["vae"] = vae_class.from_pretrained(
                str(model_dir / recipe.vae.subfolder),
                dtype=dtype,
                variant=recipe.variant,
                use_safetensors=True,
                local_files_only=True,
            )
        pipe = getattr(diffusers, recipe.pipeline).from_pretrained(
            local, dtype=dtype, variant=recipe.variant, use_safetensors=True, local_files_only=True, **parts
        )
        if recipe.vae.force_upcast is not None:
            pipe.vae.register_to_config(force_upcast=recipe.vae.force_upcast)
        scheduler = recipe.few_step.scheduler if few_step and recipe.few_step.scheduler else recipe.scheduler
        if scheduler is not None:
            pipe.scheduler = _scheduler_class(diffusers, scheduler.class_name).from_config(
                pipe.scheduler.config, **scheduler.config
            )
        lora = recipe.few_step.lora
        if few_step and lora is not None:
            pipe.load_lora_weights(
                str(model_dir / lora.subfolder),
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
        raise ConfigurationError(f"cannot load the diffusion pipeline from {model_dir}: {exc}") from exc
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    if upcasts_vae(pipe):
        log.warning(
            "the VAE decodes in float32 (its config says force_upcast): slower; an fp16-safe VAE "
            '(recipe "vae": {"subfolder": ...}, docs/RECIPE.md) avoids it'
        )
    return pipe


def optimise(pipe: Any, recipe: Recipe, device: str) -> None:
    """channels_last and (on CUDA) torch.compile of the UNet, as the recipe says."""
    torch = _torch()
    if recipe.channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    if recipe.compile and device.startswith("cuda"):
        # Compiled lazily by torch on the first call: the backend's warm-up makes that call
        # during load(), so no user's request pays for it.
        pipe.unet = torch.compile(pipe.unet, mode=recipe.compile_mode, fullgraph=False)


def upcasts_vae(pipe: Any) -> bool:
    """Whether the VAE runs in float32 although the pipeline is in float16."""
    return bool(pipe.vae.dtype == _torch().float16 and pipe.vae.config.force_upcast)


def encode(pipe: Any, images: torch.Tensor) -> torch.Tensor:
    """Scaled VAE latents of (B, 3, H, W) images in [-1, 1]: the distribution's mode, so a
    held region (regions.RegionHold) gets no encoder noise, upcast as diffusers does."""
    th = _torch()
    vae = pipe.vae
    upcast = upcasts_vae(pipe)
    dtype = th.float32 if upcast else vae.dtype
    if upcast:
        vae.to(dtype=th.float32)
    try:
        latents = vae.encode(images.to(device=vae.device, dtype=dtype)).latent_dist.mode()
    finally:
        if upcast:
            vae.to(dtype=th.float16)
    config = vae.config
    if getattr(config, "latents_mean", None) is not None and getattr(config, "latents_std", None) is not None:
        mean = th.tensor(config.latents_mean).view(1, -1, 1, 1).to(latents)
        std = th.tensor(config.latents_std).view(1, -1, 1, 1).to(latents)
        scaled: torch.Tensor = (latents - mean) * config.scaling_factor / std
    else:
        scaled = latents * config.scaling_factor
    result: torch.Tensor = scaled.to(pipe.unet.dtype)
    return result


def _torch() -> Any:
    import torch

    return torch


def _scheduler_class(diffusers: Any, name: str) -> Any:
    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, "from_config"):
        raise ConfigurationError(f"recipe scheduler {name!r} is not a diffusers scheduler class")
    return cls
