"""End-to-end benchmark of the diffusion backend at the shipped recipe, on one GPU.

What is timed is what a job runs: DiffusionBackend.generate() for one style with all its
variants in one batch (studio framing of the photo, identity embeddings of every photo,
VAE encode, the denoising loop at per-region strength with CFG and the IP-Adapter, VAE
decode, face paste-back), at 1024x1024 with the default recipe and in few-step mode. The
models are SDXL base's UNet and VAE, both CLIP text encoders and IP-Adapter Plus Face with
its ViT-H image encoder, built from their published configurations with random weights
(bench_models.py: nothing is downloaded; the arithmetic is the real model's). Reported per
mode: seconds per image (median of --repeats generate() calls / batch), images per GPU-hour,
peak GPU memory, load + compile + warm-up time (DiffusionBackend.load(), i.e. until /ping
would say ready), and beside them the CPU parts: studio framing (inside generate) and the
fidelity gate (after it, in render.py), per image.

    python inference_container/bench_gpu.py            # CUDA required: the real sizes at 1024²
    python inference_container/bench_gpu.py --tiny     # tiny models at 64² on the CPU (a smoke run; tests use it)

Without CUDA the full run says "not measured on GPU" and exits 2; --tiny says its numbers
are not GPU measurements. Targets on an H100/H200 (docs/PERFORMANCE.md): default recipe
<= 1.0 s per 1024² image, few-step <= 0.3 s, load-to-ready <= 120 s.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

EXIT_NO_DEVICE: Final = 2
TARGETS: Final = {"default": 1.0, "few-step": 0.3}  # seconds per 1024² image on an H100/H200
TARGET_READY_S: Final = 120.0
STYLE: Final = "studio_gray"
NOT_MEASURED: Final = "not measured on GPU"


def _bench_models() -> Any:
    """bench_models.py beside this script (a script directory is not a package)."""
    path = Path(__file__).resolve().with_name("bench_models.py")
    spec = importlib.util.spec_from_file_location("bench_models", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True, slots=True)
class Row:
    mode: str
    batch: int
    steps_run: int
    seconds_per_image: float
    peak_gib: float | None
    ready_s: float
    framing_s: float
    gate_s: float

    def markdown(self) -> str:
        peak = f"{self.peak_gib:.1f}" if self.peak_gib is not None else "-"
        return (
            f"| {self.mode} | {self.batch} | {self.steps_run} | {self.seconds_per_image:.3f} | "
            f"{3600 / self.seconds_per_image:,.0f} | {peak} | {self.ready_s:.1f} | "
            f"{self.framing_s:.3f} | {self.gate_s:.3f} |"
        )


HEADER: Final = (
    "| mode | batch | steps run | s / image | images / GPU-hour | peak GiB | load + compile + warm-up s "
    "| framing s / image (CPU) | gate s / image (CPU) |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tiny", action="store_true", help="tiny random models at 64x64 on the CPU: a smoke run")
    parser.add_argument("--modes", nargs="+", choices=tuple(TARGETS), default=list(TARGETS))
    parser.add_argument("--variants", type=int, default=4, help="outputs of the style = the batch (default 4)")
    parser.add_argument("--repeats", type=int, help="timed generate() calls, median reported (default 3; 1 --tiny)")
    parser.add_argument("--photo", type=Path, action="append", help="photo(s) of one person (default: astronaut)")
    parser.add_argument("--workdir", type=Path, help="where the random-weight model dir is written (~7 GB full size)")
    return parser


def shipped_recipe(mode: str, tiny: bool) -> dict[str, Any]:
    """The default recipe (few-step on for that mode); --tiny shrinks only sizes and steps."""
    from headshot_inference.backends.diffusion import default_recipe

    recipe = default_recipe()
    if mode == "few-step":
        # A random UNet stands for a distilled one: a LoRA is fused at load, costing nothing per image.
        recipe["few_step"].update(enabled=True, lora=None)
    if tiny:
        recipe.update(resolution=64, steps=2)
        recipe["few_step"]["steps"] = 2
        for entry in recipe["styles"].values():  # the tiny tokenizer spells letter by letter
            entry["prompt"] = "studio"
        recipe["negative_prompt"] = "blurry"
    return recipe


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    cuda = torch.cuda.is_available()
    if not args.tiny and not cuda:
        print(
            f"bench_gpu.py: {NOT_MEASURED}: no CUDA device (torch.cuda.is_available() is False). "
            "Run it on the GPU instance; --tiny is a CPU smoke run only.",
            file=sys.stderr,
        )
        return EXIT_NO_DEVICE
    models = _bench_models()
    device = "cpu" if args.tiny else "cuda"
    repeats = args.repeats or (1 if args.tiny else 3)
    sources, reference, checker = _photos(args.photo)
    what = "tiny CPU smoke run" if args.tiny else torch.cuda.get_device_name(0)
    print(f"## Diffusion backend end to end ({what})\n")
    if args.tiny:
        gpu = "no CUDA device" if not cuda else "CUDA present but --tiny runs on the CPU"
        print(f"GPU: {NOT_MEASURED} ({gpu}); these numbers only show the benchmark runs.\n")
    import diffusers

    print(
        f"torch {torch.__version__}, diffusers {diffusers.__version__}; random weights "
        f"({'tiny' if args.tiny else 'SDXL base + IP-Adapter Plus Face ViT-H sizes'}); {len(sources)} photo(s); "
        f"one style, {args.variants} variants per generate(); median of {repeats} after load's warm-up.\n"
    )
    print(HEADER, flush=True)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        model_dir = Path(tmp) / "model"
        sizes = models.TINY if args.tiny else models.SDXL
        started = time.perf_counter()
        models.build_model_dir(model_dir, sizes, recipe=shipped_recipe(args.modes[0], args.tiny), device=device)
        built = time.perf_counter() - started
        for mode in args.modes:
            models.write_recipe(model_dir, shipped_recipe(mode, args.tiny))
            rows.append(_measure(mode, model_dir, device, sources, reference, checker, args.variants, repeats))
            print(rows[-1].markdown(), flush=True)
    print(f"\n(random-weight model dir built in {built:.0f} s; not part of any number above)")
    if not args.tiny:
        for row in rows:
            verdict = "met" if row.seconds_per_image <= TARGETS[row.mode] else "NOT met"
            print(f"- {row.mode}: {row.seconds_per_image:.3f} s / image, target <= {TARGETS[row.mode]} s: {verdict}")
        slowest = max(row.ready_s for row in rows)
        print(f"- load-to-ready: {slowest:.0f} s, target <= {TARGET_READY_S:.0f} s: "
              f"{'met' if slowest <= TARGET_READY_S else 'NOT met'}")  # fmt: skip
    return 0


def _photos(paths: Sequence[Path] | None) -> tuple[list[Any], Any, Any]:
    """Accepted photos as render() hands them to the backend, the gate's reference, the checker."""
    from headshot.checks import PhotoChecker
    from headshot_inference import fidelity
    from headshot_inference.render import _photo_quality, _source

    if paths:
        named = [(str(p), p.read_bytes()) for p in paths]
    else:
        from PIL import Image
        from skimage import data

        buffer = io.BytesIO()
        Image.fromarray(data.astronaut()).save(buffer, "PNG")  # type: ignore[no-untyped-call]
        named = [("astronaut", buffer.getvalue())]
    checker = PhotoChecker()
    checks = [checker.check_bytes(data, name, keep_normalised=True) for name, data in named]
    usable = sorted((c for c in checks if c.accepted and c.face is not None), key=_photo_quality)
    if not usable:
        raise SystemExit("bench_gpu.py: no photo passes the photo checks")
    sources = [_source(check) for check in usable]
    reference = fidelity.Reference.from_photos([(s.image, s.face, s.face_scale) for s in sources])
    return sources, reference, checker


def _measure(
    mode: str,
    model_dir: Path,
    device: str,
    sources: list[Any],
    reference: Any,
    checker: Any,
    variants: int,
    repeats: int,
) -> Row:
    import torch

    from headshot_inference import fidelity
    from headshot_inference.backends.diffusion import DiffusionBackend

    cuda = device == "cuda"
    sync: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
    backend = DiffusionBackend(model_dir, device=device)
    started = time.perf_counter()
    backend.load()  # compile and warm-up included: what /ping waits for
    sync()
    ready = time.perf_counter() - started
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    generate, framing, gate = [], [], []
    limits = fidelity.limits_for(backend.name)
    for repeat in range(repeats):
        sync()
        begun = time.perf_counter()
        images = backend.generate(sources, [STYLE], variants, repeat)
        sync()
        generate.append(time.perf_counter() - begun)
        begun = time.perf_counter()
        backend.frame(sources, [STYLE], variants, repeat)
        framing.append(time.perf_counter() - begun)
        begun = time.perf_counter()
        for image in images:
            fidelity.score(image.image, reference, checker.analyzer, limits, source=image.source)
        gate.append(time.perf_counter() - begun)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    info = backend.info
    strength = max(info["strength"].values())
    row = Row(
        mode=mode,
        batch=variants,
        steps_run=int(info["steps"] * strength),
        seconds_per_image=statistics.median(generate) / variants,
        peak_gib=peak,
        ready_s=ready,
        framing_s=statistics.median(framing) / variants,
        gate_s=statistics.median(gate) / variants,
    )
    del backend
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch._dynamo.reset()
    return row


if __name__ == "__main__":
    raise SystemExit(main())
