"""Photo-check benchmark (`make bench`): our check vs the naive approach, side by side.

Input: a 12 MP phone-size JPEG made by upscaling a real test photo (obama.jpg when the
shared set is present, else the package-shipped astronaut). Each approach runs in its own
fresh process pinned to one CPU core, so its peak RSS is its own and the timings compare
like with like:

- `headshot check`: PhotoChecker.check_bytes, every check: safe intake with DCT-scaled
  decoding, the BlazeFace sentinel and HOG detection, 5-point landmarks, the embedding,
  MediaPipe's face mesh and both iris crops (eyes open, gaze), quality metrics, policy;
- naive: full-resolution decode, then the same dlib detector, landmarks and embedding.

Prints a Markdown table (docs/PERFORMANCE.md records it with the command).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_PHOTO = REPO_ROOT.parent / "shared" / "testdata" / "faces" / "obama.jpg"
TARGET_MEDIAN_MS = 160.0
TARGET_SPEEDUP = 6.0
TARGET_RSS_MB = 400.0


def make_input(path: Path) -> str:
    sys.path.insert(0, str(REPO_ROOT))
    from PIL import Image, ImageOps

    from tests.support import images

    if SHARED_PHOTO.is_file():
        source, name = ImageOps.exif_transpose(Image.open(SHARED_PHOTO)).convert("RGB"), SHARED_PHOTO.name
        path.write_bytes(images.upscaled_phone_photo(source, (3024, 4032)))
    else:
        source, name = images.astronaut(), "skimage astronaut"
        path.write_bytes(images.upscaled_phone_photo(source, (4032, 3024)))
    return name


def validator_models() -> Any:
    """The face models as the validator loads them: the folder and encoder its settings name
    (HEADSHOT_FACE_ENCODER; "auto", numpy's, unless it says dlib). Both approaches use them."""
    from headshot.faces import load_models
    from headshot.settings import get_settings

    settings = get_settings()
    return load_models(settings.dlib_model_dir, settings.face_encoder)


def child(approach: str, photo: Path, runs: int) -> None:
    """Runs in a fresh process: load models, warm up, time `runs` checks, report JSON."""
    import resource

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    data = photo.read_bytes()
    started = time.perf_counter()
    models = validator_models()
    load_s = time.perf_counter() - started

    if approach == "check":
        from headshot.checks import PhotoChecker

        checker = PhotoChecker()

        def once() -> None:
            result = checker.check_bytes(data, photo.name)
            assert result.face is not None, result.to_dict()

    else:
        import io

        import dlib
        import numpy as np
        from PIL import Image, ImageOps

        def once() -> None:
            rgb = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
            rects = models.detector(rgb, 0)
            assert rects, "naive detector found no face"
            shape = models.landmarks(rgb, rects[0])
            chip = dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
            models.encoder.compute_face_descriptor(chip)

    for _ in range(2):
        once()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        times.append((time.perf_counter() - started) * 1000)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"times_ms": times, "peak_rss_mb": peak_mb, "load_s": load_s}))


def measure(approach: str, photo: Path, runs: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", approach, "--photo", str(photo), "--runs", str(runs)],
        capture_output=True,
        text=True,
        check=True,
        # The validator's own settings (its encoder included), on one BLAS thread.
        env=os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    )
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    times = sorted(raw["times_ms"])
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
        "peak_rss_mb": raw["peak_rss_mb"],
        "load_s": raw["load_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--child", choices=["check", "naive"])
    parser.add_argument("--photo", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.photo, args.runs)
        return

    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "phone-12mp.jpg"
        source = make_input(photo)
        size_mb = photo.stat().st_size / 1e6
        ours = measure("check", photo, args.runs)
        naive = measure("naive", photo, max(5, args.runs // 3))
    speedup = naive["median_ms"] / ours["median_ms"]
    cpu = platform.processor() or platform.machine()
    print(f"Input: 12 MP JPEG (4032x3024 class, {size_mb:.1f} MB) upscaled from {source}; one core ({cpu}).\n")
    print("| approach | median ms | p95 ms | peak RSS MB | model load s |")
    print("|---|---|---|---|---|")
    for name, row in (("headshot check", ours), ("naive full decode + same detector", naive)):
        cells = (f"{row['median_ms']:.0f}", f"{row['p95_ms']:.0f}", f"{row['peak_rss_mb']:.0f}", f"{row['load_s']:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nSpeed-up (naive median / ours): {speedup:.1f}x")
    verdicts = {
        f"median <= {TARGET_MEDIAN_MS:.0f} ms": ours["median_ms"] <= TARGET_MEDIAN_MS,
        f">= {TARGET_SPEEDUP:.0f}x faster than naive": speedup >= TARGET_SPEEDUP,
        f"peak RSS <= {TARGET_RSS_MB:.0f} MB": ours["peak_rss_mb"] <= TARGET_RSS_MB,
        "model load <= 1 s": ours["load_s"] <= 1.0,
    }
    print("Targets: " + ", ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in verdicts.items()))


if __name__ == "__main__":
    main()
