"""Time SDXL-size generation on a GPU: seconds per image and images per GPU-hour.

The UNet and VAE are built from the SDXL base 1.0 configurations written below (2,567,463,684
and 83,653,863 parameters, the published model's) with random weights, so nothing is
downloaded and the arithmetic is the real model's. One timed image is the denoising loop at
1024x1024 (128x128 latents) with random text embeddings of SDXL's shapes (77 x 2048 tokens,
1280-d pooled, 6 time ids) plus the VAE decode. Not included: text and image encoders, the
studio framing, the img2img VAE encode (all small), and img2img's strength (it runs about
strength x steps of the scheduler's steps: the numbers here are the full-steps upper bound).

    python inference_container/bench_gpu.py                  # full matrix (compile adds minutes)
    python inference_container/bench_gpu.py --compile off     # skip torch.compile
    python inference_container/bench_gpu.py --quick           # tiny CPU smoke run (tests use it)

Prints a Markdown table; see docs/DIFFUSION.md for how to read it.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

# SDXL base 1.0's unet/config.json (the fields that shape the network; the rest are defaults).
SDXL_UNET: Final[dict[str, Any]] = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "block_out_channels": (320, 640, 1280),
    "layers_per_block": 2,
    "attention_head_dim": (5, 10, 20),
    "transformer_layers_per_block": (1, 2, 10),
    "cross_attention_dim": 2048,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,  # 6 time ids x 256 + 1280 pooled text
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
}
# SDXL base 1.0's vae/config.json.
SDXL_VAE: Final[dict[str, Any]] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
}
# --quick: the same structure, a few thousand times smaller, at 64x64.
QUICK_UNET: Final[dict[str, Any]] = {
    **SDXL_UNET,
    "sample_size": 8,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "attention_head_dim": (2, 4),
    "transformer_layers_per_block": (1, 2),
    "cross_attention_dim": 64,
    "addition_time_embed_dim": 8,
    "projection_class_embeddings_input_dim": 6 * 8 + 32,
}
QUICK_VAE: Final[dict[str, Any]] = {
    **SDXL_VAE,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (32, 32, 32, 32),
    "layers_per_block": 1,
    "sample_size": 64,
}
TEXT_TOKENS: Final = 77
TIME_IDS: Final = 6
EXIT_NO_DEVICE: Final = 2


@dataclass(frozen=True, slots=True)
class Mode:
    name: str
    steps: int
    guidance: float  # > 1: classifier-free guidance, the UNet runs on a doubled batch
    timestep_spacing: str


STANDARD: Final = Mode("standard", 30, 5.0, "leading")
FEW_STEP: Final = Mode("few-step", 4, 0.0, "trailing")  # Lightning / Hyper-SD style


@dataclass(frozen=True, slots=True)
class Row:
    mode: Mode
    dtype: str
    attention: str
    compiled: bool
    seconds_per_image: float
    peak_gib: float | None
    warmup_s: float

    def markdown(self) -> str:
        per_hour = 3600 / self.seconds_per_image
        peak = f"{self.peak_gib:.1f}" if self.peak_gib is not None else "-"
        cfg = "yes" if self.mode.guidance > 1 else "no"
        return (
            f"| {self.mode.name} | {self.mode.steps} | {cfg} | {self.dtype} | {self.attention} | "
            f"{'on' if self.compiled else 'off'} | {self.seconds_per_image:.3f} | {per_hour:,.0f} | {peak} | "
            f"{self.warmup_s:.1f} |"
        )


HEADER: Final = (
    "| mode | steps | CFG | dtype | attention | compile | s / image | images / GPU-hour | peak GiB | warm-up s |\n"
    "| --- | ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: |"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny configs at 64x64 on the CPU: a smoke run")
    parser.add_argument("--modes", nargs="+", choices=("standard", "few-step"), default=["standard", "few-step"])
    parser.add_argument("--dtypes", nargs="+", choices=("float16", "bfloat16", "float32"))
    parser.add_argument("--attention", nargs="+", choices=("sdpa", "math"), default=["sdpa", "math"])
    parser.add_argument("--compile", nargs="+", choices=("off", "on"), dest="compile_modes")
    parser.add_argument("--resolution", type=int, help="image side in pixels (default 1024; 64 with --quick)")
    parser.add_argument("--batch", type=int, default=1, help="images per pipeline call (default 1)")
    parser.add_argument("--warmup", type=int, help="untimed runs first (default 1)")
    parser.add_argument("--repeats", type=int, help="timed runs, median reported (default 3; 1 with --quick)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    diffusers: Any = importlib.import_module("diffusers")  # its lazy module defeats type checkers

    if args.quick:
        device = "cpu"
        unet_config, vae_config = QUICK_UNET, QUICK_VAE
        dtypes = args.dtypes or ["float32"]
        compile_modes = args.compile_modes or ["off"]
        resolution, repeats = args.resolution or 64, args.repeats or 1
        warmup = 1 if args.warmup is None else args.warmup
        modes = [Mode(m.name, min(m.steps, 2), m.guidance, m.timestep_spacing) for m in _modes(args.modes)]
    else:
        if not torch.cuda.is_available():
            print(
                "bench_gpu.py: no CUDA device (torch.cuda.is_available() is False); it times SDXL on a GPU. "
                "Use --quick for a tiny CPU smoke run.",
                file=sys.stderr,
            )
            return EXIT_NO_DEVICE
        device = "cuda"
        unet_config, vae_config = SDXL_UNET, SDXL_VAE
        dtypes = args.dtypes or ["float16", "float32"]
        compile_modes = args.compile_modes or ["off", "on"]
        resolution = args.resolution or 1024
        warmup = 1 if args.warmup is None else args.warmup
        repeats = args.repeats or 3
        modes = _modes(args.modes)
    if resolution % 8:
        print("bench_gpu.py: --resolution must be a multiple of 8", file=sys.stderr)
        return EXIT_NO_DEVICE

    device_name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    print(f"## SDXL generation benchmark ({'quick CPU smoke run' if args.quick else device_name})\n")
    print(
        f"torch {torch.__version__}, diffusers {diffusers.__version__}; {resolution}x{resolution}, batch {args.batch}, "
        f"random weights, median of {repeats} after {warmup} warm-up; "
        f"TF32 matmul {'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}.\n"
    )
    print(HEADER, flush=True)
    rows: list[Row] = []
    for dtype_name in dtypes:
        dtype = getattr(torch, dtype_name)
        torch.manual_seed(0)
        with torch.device(device):
            unet = diffusers.UNet2DConditionModel(**unet_config).eval()
            vae = diffusers.AutoencoderKL(**vae_config).eval()
        if dtype != torch.float32:
            unet, vae = unet.to(dtype), vae.to(dtype)
        for attention in args.attention:
            _set_attention(unet, vae, attention)
            for compile_mode in compile_modes:
                compiled = compile_mode == "on"
                model = torch.compile(unet) if compiled else unet
                for mode in modes:
                    seconds, peak, warmup_s = _measure(
                        model, vae, mode, dtype, device, resolution, args.batch, warmup, repeats
                    )
                    rows.append(Row(mode, dtype_name, attention, compiled, seconds, peak, warmup_s))
                    print(rows[-1].markdown(), flush=True)
                if compiled:
                    del model
                    torch._dynamo.reset()
        del unet, vae
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
    return 0


def _modes(names: Sequence[str]) -> list[Mode]:
    return [mode for mode in (STANDARD, FEW_STEP) if mode.name in names]


def _set_attention(unet: Any, vae: Any, attention: str) -> None:
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    # AttnProcessor2_0: torch's fused scaled_dot_product_attention (flash / memory-efficient
    # kernels); AttnProcessor: the explicit softmax(QK^T)V in separate matmuls.
    factory: Callable[[], Any] = AttnProcessor2_0 if attention == "sdpa" else AttnProcessor
    unet.set_attn_processor(factory())
    vae.set_attn_processor(factory())


def _measure(
    unet: Any,
    vae: Any,
    mode: Mode,
    dtype: Any,
    device: str,
    resolution: int,
    batch: int,
    warmup: int,
    repeats: int,
) -> tuple[float, float | None, float]:
    """(seconds per image, peak GiB on CUDA, warm-up seconds) for one configuration."""
    import torch

    diffusers: Any = importlib.import_module("diffusers")
    config = unet.config
    cfg = mode.guidance > 1
    rows = batch * (2 if cfg else 1)
    pooled_dim = config.projection_class_embeddings_input_dim - TIME_IDS * config.addition_time_embed_dim
    generator = torch.Generator(device).manual_seed(0)
    text = torch.randn(rows, TEXT_TOKENS, config.cross_attention_dim, generator=generator, device=device, dtype=dtype)
    pooled = torch.randn(rows, pooled_dim, generator=generator, device=device, dtype=dtype)
    time_ids = torch.tensor([[resolution, resolution, 0, 0, resolution, resolution]] * rows, device=device, dtype=dtype)
    conditions = {"text_embeds": pooled, "time_ids": time_ids}
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing=mode.timestep_spacing,
    )
    latent_side = resolution // 8

    def once() -> None:
        scheduler.set_timesteps(mode.steps, device=device)
        latents = torch.randn(batch, 4, latent_side, latent_side, generator=generator, device=device, dtype=dtype)
        latents = latents * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            model_input = torch.cat([latents] * 2) if cfg else latents
            model_input = scheduler.scale_model_input(model_input, t)
            noise = unet(model_input, t, encoder_hidden_states=text, added_cond_kwargs=conditions).sample
            if cfg:
                uncond, cond = noise.chunk(2)
                noise = uncond + mode.guidance * (cond - uncond)
            latents = scheduler.step(noise, t, latents).prev_sample
        vae.decode(latents / vae.config.scaling_factor).sample.float().cpu()

    def timed() -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.inference_mode():
            once()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    warmup_s = sum(timed() for _ in range(warmup))
    seconds = statistics.median(timed() for _ in range(repeats))
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    return seconds / batch, peak, warmup_s


if __name__ == "__main__":
    raise SystemExit(main())
