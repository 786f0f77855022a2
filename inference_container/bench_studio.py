"""Time the studio backend per 1024x1024 output: generate + fidelity scoring + JPEG encoding.

    PYTHONPATH=inference_container python inference_container/bench_studio.py [PHOTO ...] [--outputs N]

Without photos it uses scikit-image's astronaut plus the shared test photos when present.
Two numbers per photo, as medians over repeated runs:
- cold: one output alone, including the per-photo work (framing, GrabCut, colour guard);
- warm: the per-output share of a request for 4 styles x 2 variants from the same photo.
CPU time is the process's (all threads); wall time is what a request waits.
"""

from __future__ import annotations

import argparse
import io
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
from headshot_inference.metadata import encode, xmp_packet
from headshot_inference.render import _source
from headshot_inference.styles import STYLES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "faces"


def default_photos() -> list[tuple[str, bytes]]:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")  # type: ignore[no-untyped-call]
    photos = [("astronaut", buffer.getvalue())]
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "alex-lacamoire.png"):
        if (SHARED / name).is_file():
            photos.append((name, (SHARED / name).read_bytes()))
    return photos


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    photos = [(p.name, p.read_bytes()) for p in args.photos] or default_photos()

    checker = PhotoChecker()
    backend = StudioBackend()
    backend.load()
    limits = fidelity.limits_for("studio")
    cold_wall, cold_cpu, warm_wall, warm_cpu = [], [], [], []
    print(f"{'photo':<22} {'cold wall':>10} {'cold cpu':>10} {'warm wall':>10} {'warm cpu':>10}")
    for name, data in photos:
        check = checker.check_bytes(data, name, keep_normalised=True)
        if not check.accepted or check.face is None:
            print(f"{name:<22} skipped: {[r.code.value for r in check.reasons]}")
            continue
        source = _source(check)
        reference = fidelity.Reference.from_faces([source.face])

        def run(styles: Sequence[str], variants: int) -> tuple[float, float, int]:
            wall, cpu = time.perf_counter(), time.process_time()
            images = backend.generate([source], styles, variants, 0)  # noqa: B023 - used at once
            for item in images:
                fidelity.score(item.image, reference, checker.analyzer, limits, source=0)  # noqa: B023
                encode(item.image, "jpeg", xmp_packet(item.digital_source_type, backend="studio"))
            return time.perf_counter() - wall, time.process_time() - cpu, len(images)

        cold = [run(["studio_gray"], 1) for _ in range(args.repeats)]
        warm = [run(list(STYLES), 2) for _ in range(max(1, args.repeats // 2))]
        row = [
            statistics.median(w for w, _, _ in cold),
            statistics.median(c for _, c, _ in cold),
            statistics.median(w / n for w, _, n in warm),
            statistics.median(c / n for _, c, n in warm),
        ]
        cold_wall.append(row[0])
        cold_cpu.append(row[1])
        warm_wall.append(row[2])
        warm_cpu.append(row[3])
        print(f"{name:<22} " + " ".join(f"{v * 1000:>8.0f}ms" for v in row))
    if cold_wall:
        medians = [float(np.median(v)) for v in (cold_wall, cold_cpu, warm_wall, warm_cpu)]
        print(f"{'median':<22} " + " ".join(f"{v * 1000:>8.0f}ms" for v in medians))
    return 0


if __name__ == "__main__":
    sys.exit(main())
