"""DiffusionBackend: SDXL redraws the person's own framing into a studio headshot.

load() reads and checks the model dir, loads the pipeline on the GPU (the CPU only when
named), applies channels_last and torch.compile, and warms up with one full generation so
compilation and kernel selection happen before /ping turns 200.

generate(), per job (numbered as diffusers numbers its __call__):
1. plan the outputs (style, variant, per-image seed) as every backend does;
2. frame the best framable photo for each output (framing.py): the person, segmented by the
   studio matte, over the style's backdrop;
3. average the identity adapter's embeddings over every accepted photo (identity.py);
4. per style, all its variants in one pipeline call (sampling with per-region strength,
   regions.py);
5. paste the person's own face pixels back over the generated face (paste.py).

Each output has its own CPU torch.Generator seeded with its per-image seed, so an image
depends on its own seed only, not on the batch it was rendered in.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, Final

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
from headshot_inference.backends.diffusion import pipeline as pipelines
from headshot_inference.backends.diffusion.defaults import INPAINT, RECIPE_FILE
from headshot_inference.backends.diffusion.framing import Face, Framed, frame
from headshot_inference.backends.diffusion.identity import FACE_CROP_PX, IdentityEmbeds, aligned_face
from headshot_inference.backends.diffusion.model_dir import check_model_dir
from headshot_inference.backends.diffusion.paste import paste_face
from headshot_inference.backends.diffusion.recipe import Recipe, Strength
from headshot_inference.backends.diffusion.regions import RegionHold, start_steps, strength_map
from headshot_inference.settings import get_settings

# The package's logger (the name operators filter on, as before the package split).
log = logging.getLogger(__name__.rpartition(".")[0])

# Salt for the noise RegionHold re-noises held pixels with: independent of the pipeline's own.
_HOLD_NOISE_SALT: Final = 0x5EED_4E01


@dataclass(frozen=True, slots=True)
class Sampling:
    steps: int
    guidance: float
    strength: Strength


class DiffusionBackend:
    name = "diffusion"
    # Another seed gives another image: render.py regenerates outputs that fail the gate.
    seed_sensitive = True

    def __init__(self, model_dir: Path, *, device: str | None = None, few_step: bool | None = None) -> None:
        """`device` None: HEADSHOT_DEVICE, else "cuda" (no silent CPU fallback); `few_step` None: as the recipe."""
        self.model_dir = Path(model_dir)
        self._device_request = device
        self._few_step_request = few_step
        self._pipe: Any = None
        self._recipe: Recipe | None = None
        self._sampling = Sampling(0, 0.0, Strength(0, 0, 0, 0))
        self._few_step = False
        self._device = "cpu"
        self._dtype_name = "float32"
        self._recipe_sha256 = ""
        self._timings: dict[str, float] = {}
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
        started = time.perf_counter()
        # 1. the model dir and its recipe: everything missing is named at once
        recipe = check_model_dir(self.model_dir)
        few_step = recipe.few_step.enabled if self._few_step_request is None else self._few_step_request
        if few_step and recipe.few_step.lora is not None and importlib.util.find_spec("peft") is None:
            raise ConfigurationError("the few-step LoRA needs the 'peft' package (part of the 'inference' extra)")
        # 2. the device: a GPU unless the CPU is asked for by name (tests), no silent fallback
        device = self._device_request or get_settings().device
        # Belt and braces: every path below is local and passes local_files_only, and the hub
        # client is told it is offline before diffusers imports it.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
        import torch

        _require_device(device, torch)
        dtype_name = _dtype_for(recipe.dtype, device)
        # 3. the pipeline with its VAE, scheduler, few-step LoRA and identity adapter
        pipe = pipelines.load_pipeline(self.model_dir, recipe, device, getattr(torch, dtype_name), few_step)
        # 4. channels_last and torch.compile
        pipelines.optimise(pipe, recipe, device)
        loaded = time.perf_counter()

        self._recipe = recipe
        self._few_step = few_step
        self._device = device
        self._dtype_name = dtype_name
        self._recipe_sha256 = hashlib.sha256((self.model_dir / RECIPE_FILE).read_bytes()).hexdigest()
        few = recipe.few_step
        self._sampling = (
            Sampling(few.steps, few.guidance, few.strength)
            if few_step
            else Sampling(recipe.steps, recipe.guidance, recipe.strength)
        )
        self._pipe = pipe
        # 5. warm-up: compilation, autotuning and allocator growth happen now, not in a request
        if recipe.warmup:
            self._warm_up()
        self._timings = {"load_s": loaded - started, "warmup_s": time.perf_counter() - loaded}

    @property
    def info(self) -> dict[str, Any]:
        """What produced the images (for the result manifest and the logs)."""
        recipe, pipe, sampling = self.recipe, self.pipeline, self._sampling
        adapter = recipe.identity_adapter
        processors = {type(p).__name__ for p in pipe.unet.attn_processors.values()}
        return {
            "pipeline": recipe.pipeline,
            "scheduler": type(pipe.scheduler).__name__,
            "steps": sampling.steps,
            "guidance": sampling.guidance,
            "strength": {
                "face": sampling.strength.face,
                "hair": sampling.strength.hair,
                "body": sampling.strength.body,
                "backdrop": sampling.strength.backdrop,
            },
            "resolution": recipe.resolution,
            "batch_size": recipe.batch_size,
            "few_step": self._few_step,
            "paste_face": recipe.paste_face.enabled,
            "identity_adapter": None if adapter is None else f"{adapter.kind}:{adapter.weight_name}",
            "identity_adapter_scale": None if adapter is None else adapter.scale,
            "dtype": self._dtype_name,
            "vae": recipe.vae.subfolder,
            "vae_upcast": pipelines.upcasts_vae(pipe),
            "device": self._device,
            "channels_last": recipe.channels_last,
            "compiled": recipe.compile and self._device.startswith("cuda"),
            "attention": "sdpa" if all(name.endswith("2_0") for name in processors) else ",".join(sorted(processors)),
            "recipe_sha256": self._recipe_sha256,
            **{key: round(value, 3) for key, value in self._timings.items()},
        }

    def frame(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> tuple[int, list[Framed]]:
        """Steps 1 and 2 of generate(): the photo used and every output's starting framing."""
        items = plan(len(photos), styles, variants, seed)
        if not items:
            return 0, []
        source, prepared = studio.first_framable(photos)
        return source, frame(prepared, items)

    def generate(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> list[GeneratedImage]:
        recipe = self.recipe
        # 1.-2. plan and frame
        source, framed = self.frame(photos, styles, variants, seed)
        if not framed:
            return []
        dst = (
            DST_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA if recipe.paste_face.enabled else DST_TRAINED_ALGORITHMIC_MEDIA
        )
        outputs: list[GeneratedImage] = []
        with self._lock:
            # 3. identity: every accepted photo's face, averaged
            identity = self._identity([aligned_face(photo) for photo in photos])
            # 4. per style, its variants batched
            for _, group in groupby(framed, key=lambda f: f.item.style):
                jobs = list(group)
                for start in range(0, len(jobs), recipe.batch_size):
                    chunk = jobs[start : start + recipe.batch_size]
                    for job, image in zip(chunk, self._sample(chunk, identity), strict=True):
                        # 5. the person's own face pixels back
                        if recipe.paste_face.enabled:
                            paste = recipe.paste_face
                            image = paste_face(
                                image, job.image, job.face, job.person, paste.feather, paste.colour_match
                            )
                        item = job.item
                        outputs.append(GeneratedImage(item.style, item.variant, item.seed, image, source, dst))
        return outputs

    def _identity(self, faces: Sequence[Image.Image]) -> IdentityEmbeds | None:
        if self.recipe.identity_adapter is None:
            return None
        import torch

        with torch.inference_mode():
            return IdentityEmbeds.average(self.pipeline, faces)

    def _sample(self, jobs: Sequence[Framed], identity: IdentityEmbeds | None) -> list[np.ndarray]:
        """One pipeline call for `jobs`: RGB uint8 images at OUTPUT_SIZE."""
        import torch

        recipe, pipe, sampling = self.recipe, self.pipeline, self._sampling
        side = recipe.resolution
        cfg = sampling.guidance > 1 and pipe.unet.config.time_cond_proj_dim is None
        prompts = [recipe.style(job.item.style) for job in jobs]
        starts = [Image.fromarray(_resize(job.image, side)) for job in jobs]
        most = sampling.strength.most
        with torch.inference_mode():
            # Start latents, encoded once here: the pipeline starts from them and RegionHold
            # holds each pixel at them until its region's share of the schedule begins.
            init = pipelines.encode(pipe, pipe.image_processor.preprocess(starts, height=side, width=side))
            latent_side = init.shape[-1]
            maps = [
                strength_map(job, sampling.strength, p.keep_hair, latent_side)
                for job, p in zip(jobs, prompts, strict=True)
            ]
            start = torch.from_numpy(np.stack([start_steps(m, sampling.steps) for m in maps])[:, None]).to(init.device)
            noise = torch.stack(
                [
                    torch.randn(
                        init.shape[1:], generator=torch.Generator("cpu").manual_seed(job.item.seed ^ _HOLD_NOISE_SALT)
                    )
                    for job in jobs
                ]
            ).to(init)
            first = sampling.steps - min(int(sampling.steps * most), sampling.steps)  # as img2img computes it
            kwargs: dict[str, Any] = {
                "prompt": [p.prompt for p in prompts],
                "negative_prompt": [p.negative_prompt for p in prompts] if cfg else None,
                "strength": most,
                "num_inference_steps": sampling.steps,
                "guidance_scale": sampling.guidance,
                # CPU generators: the same noise whatever the device, one per output.
                "generator": [torch.Generator("cpu").manual_seed(job.item.seed) for job in jobs],
                "callback_on_step_end": RegionHold(init, noise, start, first),
                "callback_on_step_end_tensor_inputs": ["latents"],
                "output_type": "np",
            }
            if recipe.pipeline == INPAINT:
                masks = [Image.fromarray(_resize_mask(m / max(most, 1e-6), side)) for m in maps]
                kwargs.update(image=starts, mask_image=masks, height=side, width=side)
            else:
                kwargs["image"] = init  # latents: the pipeline noises them with each output's generator
            if identity is not None:
                kwargs["ip_adapter_image_embeds"] = [identity.rows(len(jobs), cfg)]
            result = pipe(**kwargs).images
        images = []
        for array in np.asarray(result):
            pixels = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
            images.append(_resize(pixels, OUTPUT_SIZE))
        return images

    def _warm_up(self) -> None:
        """Full generations on a synthetic framing: batch_size outputs, and one output when the
        UNet is compiled (the second shape makes torch compile a batch-size-dynamic graph)."""
        recipe = self.recipe
        side = OUTPUT_SIZE
        image = np.full((side, side, 3), 128, np.uint8)
        person = np.zeros((side, side), np.float32)
        person[side // 4 :, side // 4 : 3 * side // 4] = 1.0
        face = Face(side / 2, studio.EYE_LINE * side, studio.EYE_DISTANCE * side)
        style = next(iter(recipe.styles))
        identity = self._identity([Image.new("RGB", (FACE_CROP_PX, FACE_CROP_PX), (128, 128, 128))])
        sizes = [recipe.batch_size]
        if recipe.compile and self._device.startswith("cuda") and recipe.batch_size > 1:
            sizes.append(1)
        for size in sizes:
            jobs = [Framed(PlannedImage(style, v, v, 0), image, person, face) for v in range(size)]
            self._sample(jobs, identity)
        log.info("diffusion backend warmed up (batches of %s)", ", ".join(map(str, sizes)))


def _require_device(device: str, torch: Any) -> None:
    if not device.startswith("cuda"):
        return
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


def _dtype_for(requested: str, device: str) -> str:
    if not device.startswith("cuda"):
        return "float32"  # half precision on CPU is slow where it works at all
    return "float16" if requested == "auto" else requested


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    if image.shape[0] == side and image.shape[1] == side:
        return image
    interpolation = cv2.INTER_AREA if image.shape[0] > side else cv2.INTER_LANCZOS4
    resized: np.ndarray = cv2.resize(image, (side, side), interpolation=interpolation)
    return resized


def _resize_mask(mask: np.ndarray, side: int) -> np.ndarray:
    pixels = np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)
    resized: np.ndarray = cv2.resize(pixels, (side, side), interpolation=cv2.INTER_LINEAR)
    return resized
