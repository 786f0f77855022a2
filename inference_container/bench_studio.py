"""Time the studio backend's generate() per 1024x1024 output, on one core.

    PYTHONPATH=inference_container python inference_container/bench_studio.py [PHOTO ...] [--repeats N]

Without photos it uses scikit-image's astronaut plus the shared test photos when present.
Only the backend is timed: photo checks happen before and fidelity scoring after it
(scoring has its own cost and is measured with the fidelity code). Two numbers per photo,
medians over repeated runs, CPU seconds of this process with every library pinned to one
thread (what one core of the endpoint gives):
- first: one output from a fresh photo, including the per-photo work (canvas,
  segmenter, GrabCut, framing, colour guard);
- further: each further output of the same photo: (4 styles x 2 variants - first) / 7.
"""

from __future__ import annotations

import os

# One core: set before numpy/OpenCV load their thread pools.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402 - after the thread pinning above
import io  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
from PIL import Image  # noqa: E402

from headshot.checks import PhotoChecker  # noqa: E402
from headshot_inference.backends.studio import StudioBackend  # noqa: E402
from headshot_inference.render import _source  # noqa: E402
from headshot_inference.styles import STYLES  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "faces"
SHARED_PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "alex-lacamoire.png")
TARGET_FIRST_S = 1.2
TARGET_FURTHER_S = 0.4


def default_photos() -> list[tuple[str, bytes]]:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")  # type: ignore[no-untyped-call]
    photos = [("astronaut", buffer.getvalue())]
    photos += [(name, (SHARED / name).read_bytes()) for name in SHARED_PHOTOS if (SHARED / name).is_file()]
    return photos


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    photos = [(p.name, p.read_bytes()) for p in args.photos] or default_photos()
    cv2.setNumThreads(1)

    checker = PhotoChecker()
    backend = StudioBackend()
    backend.load()
    firsts, furthers = [], []
    print(f"{'photo':<22} {'first cpu':>10} {'further cpu':>12} {'first wall':>11}")
    for name, data in photos:
        check = checker.check_bytes(data, name, keep_normalised=True)
        if not check.accepted or check.face is None:
            print(f"{name:<22} skipped: {[r.code.value for r in check.reasons]}")
            continue
        source = _source(check)

        def run(styles: Sequence[str], variants: int) -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            backend.generate([source], styles, variants, 0)  # noqa: B023 - used at once
            return time.process_time() - cpu, time.perf_counter() - wall

        first = [run(["studio_gray"], 1) for _ in range(args.repeats)]
        whole = [run(list(STYLES), 2) for _ in range(args.repeats)]
        first_cpu = statistics.median(c for c, _ in first)
        count = 2 * len(STYLES)
        further_cpu = (statistics.median(c for c, _ in whole) - first_cpu) / (count - 1)
        firsts.append(first_cpu)
        furthers.append(further_cpu)
        first_wall = statistics.median(w for _, w in first)
        print(f"{name:<22} {first_cpu * 1000:>8.0f}ms {further_cpu * 1000:>10.0f}ms {first_wall * 1000:>9.0f}ms")
    if firsts:
        first_median, further_median = statistics.median(firsts), statistics.median(furthers)
        print(f"{'median':<22} {first_median * 1000:>8.0f}ms {further_median * 1000:>10.0f}ms")
        print(
            f"targets: first <= {TARGET_FIRST_S * 1000:.0f} ms, further <= {TARGET_FURTHER_S * 1000:.0f} ms: "
            f"{'met' if first_median <= TARGET_FIRST_S and further_median <= TARGET_FURTHER_S else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
