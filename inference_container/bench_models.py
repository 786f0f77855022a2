"""SDXL model directories with random weights, at the real model's size or tiny, built locally.

The benchmark (bench_gpu.py) needs the shipped recipe's exact architecture — SDXL base's UNet
and VAE, both CLIP text encoders, IP-Adapter Plus Face with its OpenCLIP ViT-H/14 image
encoder — but never downloads anything: every part is built here from its published
configuration with random weights and written as the diffusers layout docs/DIFFUSION.md
describes. Random weights make random pictures at the real cost: the arithmetic, memory and
kernels are the real model's. `TINY` is the same structure a few thousand times smaller,
for a CPU smoke run.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

# SDXL base 1.0's unet/config.json (the fields that shape the network; the rest are defaults):
# 2,567,463,684 parameters.
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
}
# SDXL base 1.0's vae/config.json: 83,653,863 parameters.
SDXL_VAE: Final[dict[str, Any]] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "force_upcast": True,
}
# text_encoder (CLIP ViT-L/14 text), text_encoder_2 (OpenCLIP bigG/14 text), and the
# IP-Adapter SDXL ViT-H models' image encoder (OpenCLIP ViT-H/14 vision).
CLIP_L_TEXT: Final[dict[str, Any]] = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
}
CLIP_BIGG_TEXT: Final[dict[str, Any]] = {
    "vocab_size": 49408,
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "projection_dim": 1280,
    "hidden_act": "gelu",
}
VIT_H_VISION: Final[dict[str, Any]] = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 16,
    "image_size": 224,
    "patch_size": 14,
    "projection_dim": 1024,
    "hidden_act": "gelu",
}


@dataclass(frozen=True, slots=True)
class Sizes:
    unet: dict[str, Any]
    vae: dict[str, Any]
    text: dict[str, Any]
    text_2: dict[str, Any]
    vision: dict[str, Any]
    resampler_width: int  # IP-Adapter Plus: the Perceiver's latent width
    resampler_heads: int  # of 64 channels each
    resampler_queries: int  # image tokens it hands the UNet


SDXL: Final = Sizes(SDXL_UNET, SDXL_VAE, CLIP_L_TEXT, CLIP_BIGG_TEXT, VIT_H_VISION, 1280, 20, 16)
_TINY_TEXT: Final[dict[str, Any]] = {
    "vocab_size": 64,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "projection_dim": 32,
    "hidden_act": "quick_gelu",
}
TINY: Final = Sizes(
    unet={
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
    },
    vae={
        **SDXL_VAE,
        "block_out_channels": (32, 64),
        "down_block_types": ("DownEncoderBlock2D",) * 2,
        "up_block_types": ("UpDecoderBlock2D",) * 2,
        "layers_per_block": 1,
        "sample_size": 64,
    },
    text=_TINY_TEXT,
    text_2=_TINY_TEXT,
    vision={
        **VIT_H_VISION,
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 32,
        "patch_size": 8,
        "projection_dim": 32,
    },
    resampler_width=32,
    resampler_heads=1,
    resampler_queries=4,
)
ADAPTER_FOLDER: Final = "ip_adapter"
ADAPTER_WEIGHTS: Final = "ip-adapter-plus-face_sdxl_vit-h.safetensors"
TOKENS: Final = 77


def build_model_dir(model_dir: Path, sizes: Sizes, *, recipe: dict[str, Any], device: str = "cpu") -> None:
    """Write a complete model dir (diffusers layout, IP-Adapter, `recipe`) with random weights."""
    torch: Any = importlib.import_module("torch")
    diffusers: Any = importlib.import_module("diffusers")
    transformers: Any = importlib.import_module("transformers")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        unet = diffusers.UNet2DConditionModel(**sizes.unet).to(dtype)
        vae = diffusers.AutoencoderKL(**sizes.vae).to(dtype)
        text = transformers.CLIPTextModel(_text_config(transformers, sizes.text)).to(dtype)
        text_2 = transformers.CLIPTextModelWithProjection(_text_config(transformers, sizes.text_2)).to(dtype)
        vision = transformers.CLIPVisionModelWithProjection(transformers.CLIPVisionConfig(**sizes.vision)).to(dtype)
    for name in ("tokenizer", "tokenizer_2"):
        write_tokenizer(model_dir / name)
    tokenizers = [
        transformers.CLIPTokenizer.from_pretrained(str(model_dir / name), local_files_only=True)
        for name in ("tokenizer", "tokenizer_2")
    ]
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )
    # Saved as the text-to-image pipeline, as SDXL base ships; the backend loads it into the
    # pipeline class its recipe names.
    pipe = diffusers.StableDiffusionXLPipeline(
        vae=vae, text_encoder=text, text_encoder_2=text_2, tokenizer=tokenizers[0], tokenizer_2=tokenizers[1],
        unet=unet, scheduler=scheduler,
    )  # fmt: skip
    pipe.save_pretrained(str(model_dir), safe_serialization=True)
    vision.save_pretrained(str(model_dir / ADAPTER_FOLDER / "image_encoder"), safe_serialization=True)
    _ip_adapter(torch, unet, sizes, model_dir / ADAPTER_FOLDER / ADAPTER_WEIGHTS)
    write_recipe(model_dir, recipe)


def write_recipe(model_dir: Path, recipe: dict[str, Any]) -> None:
    (model_dir / "recipe.json").write_text(json.dumps(recipe, indent=2), encoding="utf-8")


def _text_config(transformers: Any, sizes: dict[str, Any]) -> Any:
    return transformers.CLIPTextConfig(
        **sizes, max_position_embeddings=TOKENS, bos_token_id=0, eos_token_id=1, pad_token_id=1
    )


def write_tokenizer(folder: Path) -> None:
    """A CLIP BPE tokenizer of single letters (prompt length in tokens is all that matters to the
    benchmark; the tests' tiny model directory uses it too)."""
    folder.mkdir(parents=True, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.update({c: len(vocab) + i for i, c in enumerate(letters)})
    vocab.update({f"{c}</w>": len(vocab) + i for i, c in enumerate(letters)})
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": TOKENS, "pad_token": "<|endoftext|>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")


def _ip_adapter(torch: Any, unet: Any, sizes: Sizes, path: Path) -> None:
    write_ip_adapter(
        torch, unet, path, width=sizes.resampler_width, heads=sizes.resampler_heads,
        queries=sizes.resampler_queries, image_width=sizes.vision["hidden_size"],
    )  # fmt: skip


def write_ip_adapter(
    torch: Any, unet: Any, path: Path, *, width: int, heads: int, queries: int, image_width: int, scale: float = 0.02
) -> None:
    """A random IP-Adapter Plus checkpoint for `unet`, in the original layout diffusers'
    load_ip_adapter converts: the Perceiver resampler (4 blocks of `heads` 64-wide heads,
    `queries` tokens) over the image encoder's hidden states (`image_width`), and to_k_ip /
    to_v_ip for every cross-attention layer (numbered 1, 3, 5, … in processor order). The
    tests' tiny model directory uses it too, so the layout is written once."""
    save_file: Any = importlib.import_module("safetensors.torch").save_file
    generator = torch.Generator().manual_seed(3)

    def rand(*shape: int) -> Any:
        return (torch.randn(*shape, generator=generator) * scale).to(unet.dtype)

    inner, out = 64 * heads, unet.config.cross_attention_dim

    def ones(n: int) -> Any:
        return torch.ones(n, dtype=unet.dtype)

    def zeros(n: int) -> Any:
        return torch.zeros(n, dtype=unet.dtype)

    tensors: dict[str, Any] = {
        "image_proj.latents": rand(1, queries, width),
        "image_proj.proj_in.weight": rand(width, image_width),
        "image_proj.proj_in.bias": rand(width),
        "image_proj.proj_out.weight": rand(out, width),
        "image_proj.proj_out.bias": rand(out),
        "image_proj.norm_out.weight": ones(out),
        "image_proj.norm_out.bias": zeros(out),
    }
    for i in range(4):
        block = f"image_proj.layers.{i}"
        for norm in ("0.norm1", "0.norm2", "1.0"):
            tensors[f"{block}.{norm}.weight"] = ones(width)
            tensors[f"{block}.{norm}.bias"] = zeros(width)
        tensors[f"{block}.0.to_q.weight"] = rand(inner, width)
        tensors[f"{block}.0.to_kv.weight"] = rand(2 * inner, width)
        tensors[f"{block}.0.to_out.weight"] = rand(width, inner)
        tensors[f"{block}.1.1.weight"] = rand(4 * width, width)
        tensors[f"{block}.1.3.weight"] = rand(width, 4 * width)
    channels = list(unet.config.block_out_channels)
    key = 1
    for name in unet.attn_processors:
        if not name.endswith("attn2.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = channels[::-1][int(name.split(".")[1])]
        else:
            hidden = channels[int(name.split(".")[1])]
        tensors[f"ip_adapter.{key}.to_k_ip.weight"] = rand(hidden, out)
        tensors[f"ip_adapter.{key}.to_v_ip.weight"] = rand(hidden, out)
        key += 2
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: tensor.contiguous().cpu() for name, tensor in tensors.items()}, str(path))
