"""Cost of the output fidelity gate per 1024 x 1024 output, on one core (budget: 150 ms median).

    .venv/bin/python tests/benchmarks/bench_gate.py [--repeats N] [--strict]

Renders studio outputs of scikit-image's astronaut (plus the shared photos when present),
then times `fidelity.score` on each (face detection, identity embedding, mesh and irises,
segmentation, skin, hair and sharpness), pinned to one CPU core. The reference photo's own
features are measured once per job, outside the per-output cost, and shown separately.
The embedding network runs as in the inference container: on numpy (headshot.embedding);
HEADSHOT_FACE_ENCODER=dlib times dlib's own build instead.
Prints medians; --strict exits 1 when the median is over budget.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from headshot.checks import PhotoChecker
from headshot_inference import fidelity
from headshot_inference.backends.studio import StudioBackend
from headshot_inference.render import render

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "faces"
BUDGET_MS = 150.0
STYLES = ("studio_gray", "office_blur")


def photos() -> list[tuple[str, bytes]]:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")
    found = [("astronaut", buffer.getvalue())]
    for name in ("obama.jpg", "biden.jpg", "alex-lacamoire.png"):
        if (FACES / name).is_file():
            found.append((name, (FACES / name).read_bytes()))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the median is over budget")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the budget says
    checker = PhotoChecker()
    studio = StudioBackend()
    studio.load()
    segmenter = fidelity.default_segmenter()
    limits = fidelity.limits_for("studio")
    per_output: list[float] = []
    per_reference: list[float] = []
    for name, data in photos():
        check = checker.check_bytes(data, name, keep_normalised=True)
        assert check.face is not None and check.photo is not None and check.photo.normalised is not None
        image = np.asarray(check.photo.normalised.convert("RGB"))
        scale = image.shape[1] / check.photo.analysis.shape[1]
        started = time.perf_counter()
        reference = fidelity.Reference.from_photos([(image, check.face, scale)], segmenter=segmenter)
        per_reference.append((time.perf_counter() - started) * 1000)
        outputs = render([data], STYLES, 1, 0, studio, image_format="jpeg", checker=checker).images
        for output in outputs:
            rgb = np.asarray(Image.open(io.BytesIO(output.data)).convert("RGB"))
            fidelity.score(rgb, reference, checker.analyzer, limits, source=0, segmenter=segmenter)  # warm
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                fidelity.score(rgb, reference, checker.analyzer, limits, source=0, segmenter=segmenter)
                times.append((time.perf_counter() - started) * 1000)
            per_output.append(statistics.median(times))
            print(
                f"{name:<20} {output.image_id:<16} score {statistics.median(times):6.1f} ms (median of {args.repeats})"
            )
    # The share no gate can avoid: the identity embedding of one 150 px face chip.
    chip = np.asarray(Image.fromarray(rgb).resize((150, 150)))
    encoder = checker.analyzer.models.encoder
    embedding_ms = []
    for _ in range(args.repeats * 3):
        started = time.perf_counter()
        encoder.compute_face_descriptor(chip)
        embedding_ms.append((time.perf_counter() - started) * 1000)
    median = statistics.median(per_output)
    verdict = "within" if median <= BUDGET_MS else "OVER"
    print(
        f"\ngate per 1024² output, one core: median {median:.0f} ms, max {max(per_output):.0f} ms "
        f"({verdict} the {BUDGET_MS:.0f} ms budget); per reference photo, once per job: "
        f"median {statistics.median(per_reference):.0f} ms; of each output's, the embedding alone "
        f"({type(encoder).__name__}): median {statistics.median(embedding_ms):.0f} ms"
    )
    return 1 if args.strict and median > BUDGET_MS else 0


if __name__ == "__main__":
    sys.exit(main())
