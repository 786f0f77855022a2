"""The diffusion backend through its real loading code, on tiny random-weight components.

The components are the real diffusers/transformers classes (SDXL-style UNet with
text_time conditioning, AutoencoderKL, both CLIP text encoders, CLIP tokenizers, an
IP-Adapter Plus with its CLIP image encoder, optionally a few-step LoRA), shrunk to about
two million parameters in all (9 MB), written with save_pretrained into a temporary model
directory beside a recipe.json, and loaded by DiffusionBackend.load() exactly as the container loads SDXL.
Everything runs on the CPU at 64x64 for 2 steps; nothing touches the network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytestmark = [
    pytest.mark.container,
    pytest.mark.slow,
    # diffusers' schedulers build numpy arrays from tensors in a way numpy 2 flags; not ours
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),
]

_NEEDED = ("torch", "diffusers", "transformers", "safetensors", "cv2")
_ABSENT = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
if _ABSENT:
    pytest.skip(
        f"diffusion backend tests need {', '.join(_ABSENT)} (install the 'inference' extra)", allow_module_level=True
    )

# After the skip: the backend's module imports OpenCV, and the rest needs the 'inference' extra.
from bench_models import write_ip_adapter, write_tokenizer  # noqa: E402  (inference_container/, on the test path)

from headshot.checks import PhotoChecker  # noqa: E402
from headshot.settings import ConfigurationError  # noqa: E402
from headshot_inference.backends import (  # noqa: E402
    DST_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    DST_TRAINED_ALGORITHMIC_MEDIA,
    OUTPUT_SIZE,
    SourcePhoto,
    plan,
    studio,
)
from headshot_inference.backends.diffusion import (  # noqa: E402
    RECIPE_FILE,
    DiffusionBackend,
    NonCommercialAdapterError,
    Recipe,
    Strength,
    default_recipe,
)
from headshot_inference.backends.diffusion.identity import aligned_face, face_embeds  # noqa: E402
from headshot_inference.backends.diffusion.paste import paste_mask  # noqa: E402
from headshot_inference.backends.diffusion.pipeline import upcasts_vae  # noqa: E402
from headshot_inference.backends.diffusion.regions import RegionHold, region_masks, start_steps, strength_map  # noqa: E402
from headshot_inference.styles import STUDIO_BLUE, STUDIO_GRAY  # noqa: E402
from tests.container.conftest import container_settings, running  # noqa: E402
from tests.support.images import astronaut, encode  # noqa: E402

torch: Any = importlib.import_module("torch")
diffusers: Any = importlib.import_module("diffusers")
transformers: Any = importlib.import_module("transformers")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADAPTER_SCALE: float = default_recipe()["identity_adapter"]["scale"]
SIDE = 64
TEXT_DIM = 32  # each tiny CLIP text encoder's width; the UNet cross-attends to both (64)
TIME_DIM = 8  # addition_time_embed_dim: 6 time ids x 8 + the pooled text (32) = 80
IMAGE_DIM = 32  # the tiny CLIP image encoder's width


# ---------------------------------------------------------------------------------------
# tiny model directory


def _text_config() -> Any:
    return transformers.CLIPTextConfig(
        vocab_size=64,
        hidden_size=TEXT_DIM,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=TEXT_DIM,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )


def _ip_adapter(unet: Any, path: Path) -> None:
    """A tiny IP-Adapter Plus checkpoint (one 64-wide head, 4 query tokens) in the layout the
    benchmark's SDXL-sized one uses."""
    write_ip_adapter(torch, unet, path, width=32, heads=1, queries=4, image_width=IMAGE_DIM, scale=0.1)


def _few_step_lora(unet: Any, path: Path) -> None:
    """A random (non-zero) rank-4 LoRA on the UNet's attention, saved as SDXL LoRA weights."""
    peft = importlib.import_module("peft")
    torch.manual_seed(4)
    config = peft.LoraConfig(
        r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False
    )
    unet.add_adapter(config)
    layers = peft.get_peft_model_state_dict(unet)
    diffusers.StableDiffusionXLPipeline.save_lora_weights(
        save_directory=str(path.parent), unet_lora_layers=layers, weight_name=path.name, safe_serialization=True
    )


def _recipe(**changes: Any) -> dict[str, Any]:
    """The default recipe (IP-Adapter Plus Face and all), shrunk to 64 px and 2 steps."""
    recipe: dict[str, Any] = default_recipe()
    # No warm-up by default (each load would render one more batch); one test turns it on.
    recipe.update(resolution=SIDE, steps=2, strength=1.0, batch_size=4, warmup=False)
    recipe["few_step"].update(steps=2, strength=1.0)
    # The tiny tokenizer spells words letter by letter: short prompts stay within 77 tokens.
    for style, entry in recipe["styles"].items():
        entry["prompt"] = style.replace("_", " ")
    recipe["negative_prompt"] = "blurry"
    recipe.update(changes)
    return recipe


def _write_recipe(model_dir: Path, recipe: dict[str, Any]) -> None:
    (model_dir / RECIPE_FILE).write_text(json.dumps(recipe, indent=2), encoding="utf-8")


def build_tiny_model_dir(model_dir: Path) -> None:
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=SIDE // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_DIM,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * TIME_DIM + TEXT_DIM,
        cross_attention_dim=2 * TEXT_DIM,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=SIDE,
    )
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )
    text_encoder = transformers.CLIPTextModel(_text_config())
    text_encoder_2 = transformers.CLIPTextModelWithProjection(_text_config())
    for name in ("tokenizer", "tokenizer_2"):
        write_tokenizer(model_dir / name)
    tokenizer = transformers.CLIPTokenizer.from_pretrained(str(model_dir / "tokenizer"), local_files_only=True)
    tokenizer_2 = transformers.CLIPTokenizer.from_pretrained(str(model_dir / "tokenizer_2"), local_files_only=True)
    # Saved as the plain text-to-image pipeline, as SDXL base ships; the backend loads it
    # into the img2img (or inpainting) pipeline class its recipe names.
    pipe = diffusers.StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
    )
    pipe.save_pretrained(str(model_dir), safe_serialization=True)
    torch.manual_seed(1)
    encoder = transformers.CLIPVisionModelWithProjection(
        transformers.CLIPVisionConfig(
            hidden_size=IMAGE_DIM,
            intermediate_size=37,
            projection_dim=IMAGE_DIM,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        )
    )
    recipe = _recipe()
    adapter = recipe["identity_adapter"]
    encoder.save_pretrained(str(model_dir / adapter["subfolder"] / adapter["image_encoder_folder"]))
    _ip_adapter(unet, model_dir / adapter["subfolder"] / adapter["weight_name"])
    if importlib.util.find_spec("peft") is not None:
        lora = recipe["few_step"]["lora"]
        _few_step_lora(unet, model_dir / lora["subfolder"] / lora["weight_name"])
    _write_recipe(model_dir, recipe)


def variant_dir(model_dir: Path, target: Path, recipe: dict[str, Any] | None, *, drop: tuple[str, ...] = ()) -> Path:
    """A model dir sharing `model_dir`'s files (symlinks) with another recipe, less `drop`."""
    target.mkdir(parents=True)
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if path.is_dir() or relative.as_posix() == RECIPE_FILE:
            continue
        if any(relative.as_posix() == d or relative.as_posix().startswith(d.rstrip("/") + "/") for d in drop):
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).symlink_to(path)
    if recipe is not None:
        _write_recipe(target, recipe)
    return target


# ---------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and OpenMP's spinning workers slow
    them several-fold as soon as another process wants the same cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-sdxl")
    build_tiny_model_dir(path)
    return path


@pytest.fixture(scope="module")
def photos(checker: PhotoChecker) -> list[SourcePhoto]:
    check = checker.check_bytes(encode(astronaut()), "astronaut.png", keep_normalised=True)
    assert check.accepted and check.face is not None and check.photo is not None
    assert check.photo.normalised is not None
    image = np.asarray(check.photo.normalised.convert("RGB"))
    return [SourcePhoto("astronaut.png", image, check.face, image.shape[1] / check.photo.analysis.shape[1])]


@pytest.fixture(scope="module")
def backend(model_dir: Path) -> DiffusionBackend:
    loaded = DiffusionBackend(model_dir, device="cpu")
    loaded.load()
    return loaded


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def _pixels(images: list[Any]) -> list[np.ndarray]:
    return [image.image for image in images]


# ---------------------------------------------------------------------------------------
# generation


REQUEST = ([STUDIO_GRAY, STUDIO_BLUE], 2, 7)  # styles, variants, seed


@pytest.fixture(scope="module")
def rendered(backend: DiffusionBackend, photos: list[SourcePhoto]) -> list[Any]:
    """REQUEST rendered once by the shared backend (batch size 4: one pipeline call)."""
    styles, variants, seed = REQUEST
    images: list[Any] = backend.generate(photos, styles, variants, seed)
    return images


def test_one_image_per_style_and_variant_at_output_size(rendered: list[Any], photos: list[SourcePhoto]) -> None:
    # Given the tiny SDXL model with IP-Adapter loaded on the CPU and one accepted photo
    # When two variants of two styles are generated (the `rendered` fixture)
    styles, variants, seed = REQUEST
    # Then there is one RGB image per (style, variant), at the contract's size, in plan order,
    # each labelled as generated by a trained model and made from the photo it started from
    expected = plan(len(photos), styles, variants, seed)
    assert [(i.style, i.variant, i.seed, i.source) for i in rendered] == [
        (p.style, p.variant, p.seed, p.source) for p in expected
    ]
    for image in rendered:
        assert image.image.shape == (OUTPUT_SIZE, OUTPUT_SIZE, 3)
        assert image.image.dtype == np.uint8
        # (the default recipe pastes the person's own face back: a composite)
        assert image.digital_source_type == DST_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
        assert image.image.std() > 0  # a real picture, not a constant fill


def test_same_seed_same_pixels_other_seed_differs(
    backend: DiffusionBackend, photos: list[SourcePhoto], rendered: list[Any]
) -> None:
    # Given a request already rendered once
    styles, variants, seed = REQUEST
    first = _pixels(rendered)
    # When the same request is generated again, and once more with another seed
    again = _pixels(backend.generate(photos, styles, variants, seed))
    other = _pixels(backend.generate(photos, styles, variants, seed + 1))
    # Then the same seed gives identical pixels and another seed different ones
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, c in zip(first, other, strict=True):
        assert np.abs(a.astype(int) - c.astype(int)).mean() > 5.0
    # and the variants of one style differ from each other
    assert np.abs(first[0].astype(int) - first[1].astype(int)).mean() > 5.0


def test_an_image_depends_on_its_seed_not_on_its_batch(
    photos: list[SourcePhoto], rendered: list[Any], model_dir: Path, tmp_path: Path
) -> None:
    # Given the same model rendering one image per pipeline call instead of four
    single = DiffusionBackend(variant_dir(model_dir, tmp_path / "single", _recipe(batch_size=1)), device="cpu")
    single.load()
    # When it renders the request the shared backend rendered in one batch
    styles, variants, seed = REQUEST
    alone = _pixels(single.generate(photos, styles, variants, seed))
    # Then every image is the same up to the float rounding of batched kernels (which the
    # tiny random VAE amplifies to a level or two), far from what another seed changes
    batched = _pixels(rendered)
    for i, (a, b) in enumerate(zip(batched, alone, strict=True)):
        batch_effect = np.abs(a.astype(int) - b.astype(int)).mean()
        seed_effect = np.abs(a.astype(int) - batched[i ^ 1].astype(int)).mean()  # the other variant
        assert batch_effect < 3.0
        assert batch_effect < seed_effect / 10


def test_info_describes_how_images_were_made(backend: DiffusionBackend) -> None:
    # Given the loaded backend
    # When it is asked what it runs
    info = backend.info
    # Then it names the recipe's pipeline, sampler settings, adapter, precision and attention
    assert info["pipeline"] == "StableDiffusionXLImg2ImgPipeline"
    assert info["scheduler"] == "DPMSolverMultistepScheduler"
    assert (info["steps"], info["guidance"], info["resolution"]) == (2, 5.0, SIDE)
    assert info["strength"] == {"face": 1.0, "hair": 1.0, "body": 1.0, "backdrop": 1.0}
    assert (info["paste_face"], info["vae"], info["vae_upcast"], info["compiled"]) == (True, "vae", False, False)
    assert info["identity_adapter"] == "ip_adapter:ip-adapter-plus-face_sdxl_vit-h.safetensors"
    assert info["few_step"] is False
    assert (info["dtype"], info["device"], info["attention"]) == ("float32", "cpu", "sdpa")
    assert re.fullmatch(r"[0-9a-f]{64}", info["recipe_sha256"])


def test_identity_adapter_is_loaded_and_conditions_the_image(
    backend: DiffusionBackend, photos: list[SourcePhoto]
) -> None:
    # Given the backend with IP-Adapter Plus loaded from the model dir's own subfolders
    pipe = backend.pipeline
    processors = {type(p).__name__ for p in pipe.unet.attn_processors.values()}
    assert "IPAdapterAttnProcessor2_0" in processors
    assert type(pipe.image_encoder).__name__ == "CLIPVisionModelWithProjection"
    # When the same request is rendered with the adapter's scale at 0
    conditioned = _pixels(backend.generate(photos, [STUDIO_GRAY], 1, 3))
    pipe.set_ip_adapter_scale(0.0)
    try:
        unconditioned = _pixels(backend.generate(photos, [STUDIO_GRAY], 1, 3))
    finally:
        pipe.set_ip_adapter_scale(DEFAULT_ADAPTER_SCALE)
    # Then the face embedding changed the result
    assert np.abs(conditioned[0].astype(int) - unconditioned[0].astype(int)).mean() > 0.5


def test_inpainting_recipe_keeps_the_face_and_says_composite(
    model_dir: Path, photos: list[SourcePhoto], tmp_path: Path
) -> None:
    # Given a recipe naming the SDXL inpainting pipeline (its mask from the region strengths)
    recipe = _recipe(pipeline="StableDiffusionXLInpaintPipeline", strength={"face": 0.0, "hair": 0.0})
    inpaint = DiffusionBackend(variant_dir(model_dir, tmp_path / "inpaint", recipe), device="cpu")
    inpaint.load()
    # When it renders
    images = inpaint.generate(photos, [STUDIO_GRAY], 1, 1)
    # Then the output keeps the framing's face pixels, and says it is a composite
    _, framed = inpaint.frame(photos, [STUDIO_GRAY], 1, 1)
    core = paste_mask(framed[0].face, framed[0].person, inpaint.recipe.paste_face.feather) >= 0.999
    assert np.abs(images[0].image[core].astype(int) - framed[0].image[core].astype(int)).max() <= 1
    assert images[0].digital_source_type == DST_COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA


def test_without_paste_back_the_output_is_labelled_generated(
    model_dir: Path, photos: list[SourcePhoto], tmp_path: Path
) -> None:
    # Given a recipe that turns the face paste-back off
    recipe = _recipe()
    recipe["paste_face"]["enabled"] = False
    plain = DiffusionBackend(variant_dir(model_dir, tmp_path / "nopaste", recipe), device="cpu")
    plain.load()
    # When it renders, Then every pixel came from the model and the label says so
    images = plain.generate(photos, [STUDIO_GRAY], 1, 1)
    assert images[0].digital_source_type == DST_TRAINED_ALGORITHMIC_MEDIA


@pytest.mark.skipif(importlib.util.find_spec("peft") is None, reason="few-step LoRA loading needs peft")
def test_few_step_mode_fuses_the_lora_and_uses_its_sampling(
    backend: DiffusionBackend, model_dir: Path, photos: list[SourcePhoto], tmp_path: Path
) -> None:
    # Given a recipe with few-step mode on (a LoRA, its own scheduler, steps and guidance)
    recipe = _recipe()
    recipe["few_step"]["enabled"] = True
    fast = DiffusionBackend(variant_dir(model_dir, tmp_path / "fast", recipe), device="cpu")
    # When it loads and renders
    fast.load()
    images = _pixels(fast.generate(photos, [STUDIO_GRAY], 1, 9))
    # Then it samples as the few-step section says, with the LoRA fused into the UNet
    info = fast.info
    assert info["few_step"] is True
    assert (info["scheduler"], info["steps"], info["guidance"]) == ("EulerDiscreteScheduler", 2, 0.0)
    assert not any("lora" in name for name, _ in fast.pipeline.unet.named_modules())
    base_weight = backend.pipeline.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn1.to_q.weight
    fused_weight = fast.pipeline.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn1.to_q.weight
    assert not torch.equal(base_weight, fused_weight)
    assert images[0].shape == (OUTPUT_SIZE, OUTPUT_SIZE, 3)


# ---------------------------------------------------------------------------------------
# the recipe's steps: framing, regions, identity, paste-back, batching, warm-up, VAE


def test_face_pixels_are_the_persons_own_after_generation(
    backend: DiffusionBackend, photos: list[SourcePhoto], rendered: list[Any]
) -> None:
    # Given the request rendered with the default recipe (face paste-back on)
    styles, variants, seed = REQUEST
    # When each output is compared with the framing it started from
    _, framed = backend.frame(photos, styles, variants, seed)
    feather = backend.recipe.paste_face.feather
    for image, start in zip(rendered, framed, strict=True):
        core = paste_mask(start.face, start.person, feather) >= 0.999
        face_area = np.pi * 0.8 * 1.15 * start.face.eye_distance**2
        # Then inside the pasted region, less the feather, the pixels are the framing's own
        assert core.sum() > 0.5 * face_area
        diff = np.abs(image.image[core].astype(int) - start.image[core].astype(int))
        assert diff.max() <= 1
        # and the backdrop, far from the face, was really redrawn
        backdrop = start.person < 0.01
        assert np.abs(image.image[backdrop].astype(int) - start.image[backdrop].astype(int)).mean() > 10


def test_the_start_is_the_segmented_photo_over_the_styles_backdrop(
    backend: DiffusionBackend, photos: list[SourcePhoto]
) -> None:
    # Given the best photo's studio preparation (its own background, filled behind the person)
    prepared = studio.prepare(photos[0])
    old_background = studio.layers(prepared, 0).old_background
    # When the backend frames one output in gray and one in blue
    source, (gray, blue) = backend.frame(photos, [STUDIO_GRAY, STUDIO_BLUE], 1, 7)
    assert source == 0
    # Then the person (inside the matte) is the same pixels in both (up to each output's
    # half-level dither and the 1% of backdrop a 0.99 matte lets through)
    person = gray.person > 0.99
    assert np.abs(gray.image[person].astype(int) - blue.image[person].astype(int)).max() <= 2
    # and outside the matte the backdrop is the style's, not the photo's
    outside = gray.person < 0.01
    assert outside.mean() > 0.2
    for framed in (gray, blue):
        assert np.abs(framed.image[outside].astype(float) - old_background[outside]).mean() > 20
    blue_rgb = blue.image[outside].astype(float).mean(axis=0)
    gray_rgb = gray.image[outside].astype(float).mean(axis=0)
    assert blue_rgb[2] > blue_rgb[0] + 20
    assert np.ptp(gray_rgb) < 15


def test_each_region_gets_its_own_strength(backend: DiffusionBackend, photos: list[SourcePhoto]) -> None:
    # Given a framing and strengths that differ per region
    _, (framed,) = backend.frame(photos, [STUDIO_GRAY], 1, 3)
    strength = Strength(face=0.1, hair=0.3, body=0.6, backdrop=0.9)
    masks = region_masks(framed, OUTPUT_SIZE)
    # When the strength map is built with the hair redrawn, and with the hair kept
    redrawn = strength_map(framed, strength, False, OUTPUT_SIZE)
    kept = strength_map(framed, strength, True, OUTPUT_SIZE)
    # Then the face centre, the hair, the body and the backdrop each carry their region's strength
    face = framed.face
    centre = (round(face.eye_y + 0.5 * face.eye_distance), round(face.eye_x))
    assert masks["face"][centre] > 0.99 and redrawn[centre] == pytest.approx(0.1, abs=0.01)
    for region, value in (("hair", 0.3), ("body", 0.6), ("backdrop", 0.9)):
        where = masks[region] > 0.99
        assert where.sum() > 1000, region
        assert np.allclose(redrawn[where], value, atol=0.01), region
    # and a style that keeps the hair holds it like the face
    hair = masks["hair"] > 0.99
    assert np.allclose(kept[hair], 0.1, atol=0.01)


def test_region_hold_starts_every_pixel_at_its_own_step() -> None:
    # Given 10 scheduler steps, start latents, and pixels of strength 0, 0.5 and 1
    steps = 10
    strengths = np.array([[0.0, 0.5, 1.0]], np.float32)
    start = torch.from_numpy(start_steps(strengths, steps))[None, None]
    init = torch.randn(1, 4, 1, 3, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(1, 4, 1, 3, generator=torch.Generator().manual_seed(1))

    def run(denoiser_seed: int) -> list[Any]:
        """The img2img loop at strength 1 with a random 'UNet': latents after each step."""
        scheduler = diffusers.DPMSolverMultistepScheduler(use_karras_sigmas=True)
        scheduler.set_timesteps(steps)
        scheduler.set_begin_index(0)
        pipe = type("Pipe", (), {"scheduler": scheduler})()
        hold = RegionHold(init, noise, start, 0)
        latents = scheduler.add_noise(init, torch.randn(1, 4, 1, 3), scheduler.timesteps[:1])
        unet = torch.Generator().manual_seed(denoiser_seed)
        trace = []
        for i, t in enumerate(scheduler.timesteps):
            latents = scheduler.step(torch.randn(1, 4, 1, 3, generator=unet), t, latents).prev_sample
            latents = hold(pipe, i, t, {"latents": latents})["latents"]
            trace.append(latents.clone())
        return trace

    # When the loop runs with two different denoisers
    a, b = run(2), run(3)
    # Then the strength-1 pixel follows the denoiser from the first step
    assert not torch.allclose(a[0][..., 2], b[0][..., 2])
    # the strength-0.5 pixel is held until its step 5 and follows the denoiser after it
    assert torch.equal(a[3][..., 1], b[3][..., 1])
    assert not torch.allclose(a[5][..., 1], b[5][..., 1])
    # and the strength-0 pixel ends exactly as the start latent
    assert torch.equal(a[-1][..., 0], init[..., 0])
    assert not torch.equal(a[-1][..., 1], init[..., 1])


def test_identity_is_the_mean_of_every_accepted_photos_embedding(
    backend: DiffusionBackend, photos: list[SourcePhoto], checker: PhotoChecker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two accepted photos of the person (the second mirrored: another embedding)
    mirrored = checker.check_bytes(
        encode(astronaut().transpose(Image.Transpose.FLIP_LEFT_RIGHT)), "mirrored.png", keep_normalised=True
    )
    assert mirrored.accepted and mirrored.face is not None and mirrored.photo is not None
    assert mirrored.photo.normalised is not None
    image = np.asarray(mirrored.photo.normalised.convert("RGB"))
    two = [
        *photos,
        SourcePhoto("mirrored.png", image, mirrored.face, image.shape[1] / mirrored.photo.analysis.shape[1]),
    ]
    pipe = backend.pipeline
    with torch.inference_mode():
        each = [face_embeds(pipe, [aligned_face(photo)])[0] for photo in two]
    assert not torch.allclose(each[0], each[1], atol=1e-3)
    # When a job renders from both, with the pipeline's arguments recorded
    calls = _record_calls(monkeypatch, type(pipe))
    backend.generate(two, [STUDIO_GRAY], 2, 5)
    # Then every output's identity embedding is the mean of the two photos' embeddings
    (call,) = calls
    embeds = call["ip_adapter_image_embeds"][0]
    positive = embeds[embeds.shape[0] // 2 :]  # CFG: negatives first
    expected = (each[0] + each[1]) / 2
    assert positive.shape[0] == 2
    for row in positive:
        torch.testing.assert_close(row[0], expected[0], atol=1e-5, rtol=1e-4)


def test_all_variants_of_a_style_share_one_pipeline_call(
    backend: DiffusionBackend, photos: list[SourcePhoto], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the shared backend (batch size 4) and its pipeline's calls recorded
    calls = _record_calls(monkeypatch, type(backend.pipeline))
    # When two styles of three variants are generated
    backend.generate(photos, [STUDIO_GRAY, STUDIO_BLUE], 3, 11)
    # Then there is one call per style, with all of its variants
    assert len(calls) == 2
    for call, style in zip(calls, ("studio gray", "studio blue"), strict=True):
        assert call["prompt"] == [style] * 3


def test_warm_up_runs_a_generation_inside_load(
    model_dir: Path, photos: list[SourcePhoto], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a recipe with warm-up on, and the pipeline's calls recorded
    calls = _record_calls(monkeypatch, diffusers.StableDiffusionXLImg2ImgPipeline)
    warm = DiffusionBackend(variant_dir(model_dir, tmp_path / "warm", _recipe(warmup=True)), device="cpu")
    # When the backend loads
    warm.load()
    # Then one full batch was generated before load() returned (on CUDA with compile, two)
    assert [len(call["prompt"]) for call in calls] == [4]
    assert warm.info["warmup_s"] > 0
    # and a request adds its own call only
    warm.generate(photos, [STUDIO_GRAY], 1, 1)
    assert len(calls) == 2


def test_ping_turns_200_only_after_the_warm_up(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a diffusion backend with warm-up on, whose pipeline calls wait until released
    entered, release = threading.Event(), threading.Event()
    original = diffusers.StableDiffusionXLImg2ImgPipeline.__call__

    def gated(self: Any, *args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(diffusers.StableDiffusionXLImg2ImgPipeline, "__call__", gated)
    warm = DiffusionBackend(variant_dir(model_dir, tmp_path / "warm", _recipe(warmup=True)), device="cpu")
    with running(warm, container_settings(tmp_path / "settings")) as server:
        # When the server starts and its load reaches the warm-up generation
        assert entered.wait(60)
        # Then SageMaker's /ping still hears "loading"
        assert server.request("GET", "/ping") == (503, {"status": "loading"})
        # and once the warm-up has run, "ready"
        release.set()
        server.wait_ready(120)
        assert server.request("GET", "/ping") == (200, {"status": "ready", "backend": "diffusion"})


def test_unet_and_vae_are_channels_last(backend: DiffusionBackend) -> None:
    # Given the loaded backend (channels_last on by default)
    pipe = backend.pipeline
    # Then convolution weights are laid out channels-last
    for conv in (pipe.unet.conv_in.weight, pipe.vae.decoder.conv_in.weight):
        assert conv.is_contiguous(memory_format=torch.channels_last)
        assert not conv.is_contiguous()


def test_an_fp16_safe_vae_folder_replaces_the_vae(model_dir: Path, tmp_path: Path) -> None:
    # Given an alternative VAE folder (different weights, force_upcast false, as the fp16-fix ships)
    target = variant_dir(model_dir, tmp_path / "vaefix", None)
    vae = diffusers.AutoencoderKL.from_pretrained(str(model_dir / "vae"))
    assert vae.config.force_upcast is True
    with torch.no_grad():
        vae.decoder.conv_out.bias.fill_(0.25)
    vae.register_to_config(force_upcast=False)
    vae.save_pretrained(str(target / "vae_fp16_fix"))
    recipe = _recipe(vae={"subfolder": "vae_fp16_fix"})
    _write_recipe(target, recipe)
    # When the backend loads it
    fixed = DiffusionBackend(target, device="cpu")
    fixed.load()
    # Then the pipeline decodes with that VAE, not with vae/
    assert torch.all(fixed.pipeline.vae.decoder.conv_out.bias == 0.25)
    assert fixed.pipeline.vae.config.force_upcast is False
    assert fixed.info["vae"] == "vae_fp16_fix"
    # and a recipe naming a VAE folder that is not there fails at start, naming it
    missing = variant_dir(model_dir, tmp_path / "novae", _recipe(vae={"subfolder": "vae_fp16_fix"}))
    with pytest.raises(ConfigurationError) as error:
        DiffusionBackend(missing).load()
    assert _missing(error) == {"vae_fp16_fix/ (VAE)"}


@pytest.mark.parametrize(
    ("dtype", "force_upcast", "upcasts"),
    [("float16", True, True), ("float16", False, False), ("bfloat16", True, False), ("float32", True, False)],
)
def test_only_an_fp16_vae_that_asks_for_it_is_upcast(dtype: str, force_upcast: bool, upcasts: bool) -> None:
    # Given a pipeline whose VAE has this dtype and force_upcast
    config = type("Config", (), {"force_upcast": force_upcast})()
    pipe = type("Pipe", (), {"vae": type("Vae", (), {"dtype": getattr(torch, dtype), "config": config})()})()
    # When asked whether the VAE runs in float32, Then only fp16 with force_upcast does
    assert upcasts_vae(pipe) is upcasts


def test_recipe_strength_as_one_number_or_per_region() -> None:
    # Given one number, then a partial object, then a value out of range
    # When parsed, Then a number applies to every region and an object merges with the defaults
    assert Recipe.from_dict({"strength": 0.5}).strength == Strength(0.5, 0.5, 0.5, 0.5)
    assert Recipe.from_dict({"strength": {"face": 0.0}}).strength == Strength(0.0, 0.35, 0.75, 0.9)
    with pytest.raises(ConfigurationError, match=r"strength\.body must be a number from 0 to 1"):
        Recipe.from_dict({"strength": {"body": 1.5}})


def _record_calls(monkeypatch: pytest.MonkeyPatch, cls: Any) -> list[dict[str, Any]]:
    """Every call of `cls`'s __call__ from now on (its keyword arguments), passed through."""
    calls: list[dict[str, Any]] = []
    original = cls.__call__

    def record(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", record)
    return calls


def test_loading_never_reaches_the_network(model_dir: Path, tmp_path: Path, no_network: None) -> None:
    # Given a process whose sockets refuse to connect
    fresh = DiffusionBackend(variant_dir(model_dir, tmp_path / "offline", _recipe()), device="cpu")
    # When the backend loads
    fresh.load()
    # Then it loaded from the directory alone, with the hub client told it is offline
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert fresh.info["identity_adapter"] is not None


# ---------------------------------------------------------------------------------------
# the model directory and the recipe


def _missing(error: pytest.ExceptionInfo[ConfigurationError]) -> set[str]:
    message = str(error.value)
    assert "missing: " in message, message
    listed = message.split("missing: ", 1)[1].rsplit(" (layout in", 1)[0]
    return set(re.split(r", (?![^(]*\))", listed))


def test_incomplete_model_dir_fails_at_load_listing_what_is_missing(model_dir: Path, tmp_path: Path) -> None:
    # Given a model dir without its recipe, UNet weights, second tokenizer and adapter weights
    broken = variant_dir(
        model_dir,
        tmp_path / "broken",
        None,
        drop=(
            "unet/diffusion_pytorch_model.safetensors",
            "tokenizer_2/",
            "ip_adapter/ip-adapter-plus-face_sdxl_vit-h.safetensors",
            "ip_adapter/image_encoder/config.json",
        ),
    )
    # When the backend loads it
    with pytest.raises(ConfigurationError) as error:
        DiffusionBackend(broken).load()
    # Then the error names exactly those parts, and nothing that is there
    assert _missing(error) == {
        "recipe.json",
        "unet/*.safetensors (UNet weights)",
        "tokenizer_2/ (CLIP tokenizer)",
        "ip_adapter/ip-adapter-plus-face_sdxl_vit-h.safetensors (identity adapter weights)",
        "ip_adapter/image_encoder/config.json",
    }


def test_empty_model_dir_lists_every_part(tmp_path: Path) -> None:
    # Given an empty model dir
    # When the backend loads it
    with pytest.raises(ConfigurationError) as error:
        DiffusionBackend(tmp_path).load()
    # Then every part of the default layout is listed
    assert _missing(error) == {
        "recipe.json",
        "model_index.json",
        "unet/ (UNet)",
        "vae/ (VAE)",
        "text_encoder/ (CLIP text encoder)",
        "text_encoder_2/ (CLIP text encoder 2)",
        "tokenizer/ (CLIP tokenizer)",
        "tokenizer_2/ (CLIP tokenizer)",
        "scheduler/scheduler_config.json",
        "ip_adapter/ip-adapter-plus-face_sdxl_vit-h.safetensors (identity adapter weights)",
        "ip_adapter/image_encoder/ (CLIP image encoder)",
    }


def test_missing_model_dir_says_so(tmp_path: Path) -> None:
    # Given a model dir path that does not exist
    # When the backend loads, Then it says which directory is absent
    with pytest.raises(ConfigurationError, match="does not exist"):
        DiffusionBackend(tmp_path / "nowhere").load()


def test_enabled_few_step_lora_must_be_present(model_dir: Path, tmp_path: Path) -> None:
    # Given few-step mode on but the LoRA file absent
    recipe = _recipe()
    recipe["few_step"]["enabled"] = True
    broken = variant_dir(model_dir, tmp_path / "nolora", recipe, drop=("lora/",))
    # When the backend loads, Then the LoRA is named as missing
    with pytest.raises(ConfigurationError) as error:
        DiffusionBackend(broken).load()
    assert _missing(error) == {"lora/sdxl_lightning_4step_lora.safetensors (few-step LoRA)"}


@pytest.mark.parametrize("kind", ["instantid", "photomaker_v2", "ip_adapter_faceid"])
def test_insightface_adapters_need_the_noncommercial_switch(kind: str) -> None:
    # Given a recipe asking for an insightface-based identity adapter
    recipe: dict[str, Any] = {"identity_adapter": {"kind": kind}}
    # When it is parsed without the switch, Then it is refused as non-commercial
    with pytest.raises(ConfigurationError, match="non-commercial"):
        Recipe.from_dict(recipe)
    # When the switch is on, Then this build says it does not implement it
    with pytest.raises(NonCommercialAdapterError, match="not implemented"):
        Recipe.from_dict({**recipe, "allow_noncommercial": True})


def test_recipe_problems_are_all_reported_at_once() -> None:
    # Given a recipe with a typo'd key, a bad pipeline, a pickle adapter file, an unknown style
    # and a strength too low to leave a single step
    recipe = {
        "stpes": 30,
        "pipeline": "StableDiffusionPipeline",
        "identity_adapter": {"weight_name": "adapter.bin"},
        "styles": {"beach": {"prompt": "a beach"}},
        "strength": 0.02,  # 30 steps x 0.02 leaves no step to run
    }
    # When it is parsed
    with pytest.raises(ConfigurationError) as error:
        Recipe.from_dict(recipe)
    # Then each problem is named
    message = str(error.value)
    for part in ("'stpes'", "pipeline must be one of", ".safetensors", "styles.beach", "steps x strength"):
        assert part in message


def test_default_recipe_is_valid_and_commercial() -> None:
    # Given the default recipe, When it is parsed
    recipe = Recipe.from_dict({})
    # Then it runs SDXL img2img with IP-Adapter Plus Face, has every style, and no
    # non-commercial switch
    assert recipe.pipeline == "StableDiffusionXLImg2ImgPipeline"
    assert recipe.identity_adapter is not None and recipe.identity_adapter.kind == "ip_adapter"
    assert recipe.allow_noncommercial is False
    assert set(recipe.styles) == {"studio_gray", "studio_white", "studio_blue", "office_blur"}
    assert all(style.prompt and style.negative_prompt for style in recipe.styles.values())


# ---------------------------------------------------------------------------------------
# bench_gpu.py (the end-to-end GPU benchmark; only its CPU smoke mode can run here)


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_gpu", REPO_ROOT / "inference_container" / "bench_gpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def test_bench_tiny_runs_generate_end_to_end_and_says_it_is_not_a_gpu_number(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the benchmark script on a machine without CUDA
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    main: Callable[[list[str]], int] = _bench().main
    # When it runs its tiny CPU smoke mode (one variant, the default recipe)
    code = main(["--tiny", "--modes", "default", "--variants", "1"])
    # Then it prints one Markdown row of the end-to-end measures, and says no GPU was measured
    out = capsys.readouterr().out
    assert code == 0
    assert "not measured on GPU" in out
    assert "load + compile + warm-up s" in out and "gate s / image (CPU)" in out
    rows = [line for line in out.splitlines() if line.startswith("| default |")]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[1] == "1"  # batch = variants
    assert float(cells[3]) > 0 and float(cells[6]) > 0 and float(cells[8]) > 0
    assert cells[5] == "-"  # no GPU memory without a GPU


def test_bench_without_cuda_exits_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a machine without CUDA
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # When the full benchmark is asked for, Then it exits non-zero saying it measured nothing
    code = _bench().main([])
    assert code == 2
    assert "not measured on GPU" in capsys.readouterr().err
