"""The default recipe: SDXL img2img, IP-Adapter Plus Face, per-region strength, face paste-back.

docs/RECIPE.md explains every value and the licence of every weight it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from headshot_inference.styles import MAX_VARIANTS, OFFICE_BLUR, STUDIO_BLUE, STUDIO_GRAY, STUDIO_WHITE

RECIPE_FILE: Final = "recipe.json"
RECIPE_FORMAT: Final = 1

IMG2IMG: Final = "StableDiffusionXLImg2ImgPipeline"
INPAINT: Final = "StableDiffusionXLInpaintPipeline"
PIPELINES: Final = (IMG2IMG, INPAINT)
DTYPES: Final = ("auto", "float16", "bfloat16", "float32")
# torch.compile modes; "max-autotune" variants tune kernels for minutes (load-to-ready budget).
COMPILE_MODES: Final = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
REGIONS: Final = ("face", "hair", "body", "backdrop")

IP_ADAPTER: Final = "ip_adapter"
# Identity adapters built on insightface's face models, whose weights are licensed for
# non-commercial research only (docs/RECIPE.md, licences). Refused unless the recipe says
# "allow_noncommercial": true, and not implemented in this build even then.
NONCOMMERCIAL_ADAPTERS: Final = ("instantid", "photomaker_v2", "ip_adapter_faceid")

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
    # The VAE folder: "vae" is SDXL's own (fp16 overflows, so diffusers upcasts it to fp32
    # when its config says force_upcast); point it at the fp16-fix VAE to stay in fp16.
    "vae": {"subfolder": "vae", "force_upcast": None},
    "scheduler": {
        "class": "DPMSolverMultistepScheduler",
        "config": {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True},
    },
    "steps": 24,
    "guidance": 5.0,
    # Per-region strength (share of the schedule each region is redrawn over): the face and
    # hair stay close to the photo, clothes, light and backdrop really become studio ones.
    "strength": {"face": 0.3, "hair": 0.35, "body": 0.75, "backdrop": 0.9},
    "resolution": 1024,
    "batch_size": MAX_VARIANTS,  # all variants of a style in one pipeline call
    "compile": True,
    "compile_mode": "default",
    "warmup": True,
    "channels_last": True,
    # The person's own face pixels pasted back over the generated face (feather and radius
    # in eye distances), the surroundings colour-matched to them so the seam does not show.
    "paste_face": {"enabled": True, "feather": 0.12, "colour_match": True},
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
        "strength": {"face": 0.25, "hair": 0.25, "body": 0.75, "backdrop": 1.0},
        "scheduler": {"class": "EulerDiscreteScheduler", "config": {"timestep_spacing": "trailing"}},
    },
    "allow_noncommercial": False,
    "negative_prompt": _NEGATIVE,
    "styles": {
        STUDIO_GRAY: {
            "prompt": f"{_BASE}, seamless neutral gray studio backdrop, soft key light, subtle rim light",
            "keep_hair": True,
        },
        STUDIO_WHITE: {
            "prompt": f"{_BASE}, clean white studio background, bright high-key lighting",
            "keep_hair": True,
        },
        STUDIO_BLUE: {
            "prompt": f"{_BASE}, deep blue studio backdrop, soft key light, subtle rim light",
            "keep_hair": True,
        },
        OFFICE_BLUR: {
            "prompt": f"{_BASE}, modern bright office behind, background out of focus with soft bokeh, "
            "shallow depth of field, natural window light",
            "keep_hair": True,
        },
    },
}
