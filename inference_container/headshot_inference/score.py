"""`headshot score`: the output fidelity gate as a command (wired into the headshot console script).

    headshot score --reference me1.jpg [--reference me2.jpg ...] out1.jpg [out2.jpg ...] [--json]

Each candidate is scored exactly as `render` scores an output before delivery
(headshot_inference.fidelity): identity against the mean embedding of the references, and
everything else (skin, eyes, gaze, hair, sharpness) against one reference photo, its
baseline. A command is not told which photo a candidate was made from, so the baseline is
the reference closest to the candidate in identity (dlib embedding distance): a faithful
output of a photo is far closer to that photo (<= 0.2 on the shared set) than photos of one
person are to each other (0.24-0.43), so this finds the source whenever there is one
(docs/calibration/gate.md, "Baseline choice"), and otherwise the photo most like the output.

Exit 0 when every candidate is kept, 1 when any is rejected, 2 on usage errors (bad
arguments, a reference or candidate file that does not exist, a reference without a face).
A candidate that is not a readable image is a rejected candidate (its photo-intake code,
e.g. `corrupt_image`), never a crash.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from headshot.settings import ConfigurationError

if TYPE_CHECKING:
    from headshot.checks import PhotoChecker
    from headshot_inference.fidelity import Reference

EXIT_KEPT: Final = 0
EXIT_REJECTED: Final = 1
EXIT_USAGE: Final = 2
BACKENDS: Final = ("studio", "diffusion")


class UsageError(Exception):
    """A reference the gate cannot compare with: the command is used wrongly, exit 2."""


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("candidates", nargs="+", type=Path, metavar="CANDIDATE", help="generated headshots to judge")
    parser.add_argument(
        "--reference",
        action="append",
        required=True,
        type=Path,
        dest="references",
        metavar="REF",
        help="an accepted photo of the person, repeatable",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="studio",
        help="whose limits apply: studio (tight, default) or diffusion (re-drawn outputs, wider)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headshot score",
        description="Judge generated headshots against the person's photos with the delivery gate. "
        "Exit 0 when every candidate is kept, 1 when any is rejected, 2 on usage errors.",
    )
    return configure_parser(parser)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args, out=sys.stdout)


def run(args: argparse.Namespace, *, out: TextIO) -> int:
    missing = [str(p) for p in [*args.references, *args.candidates] if not p.is_file()]
    if missing:
        print(f"headshot score: not a file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    from headshot.checks import PhotoChecker
    from headshot_inference import fidelity

    try:
        checker = PhotoChecker()
        reference = load_reference(checker, args.references)
    except (ConfigurationError, UsageError) as error:
        print(f"headshot score: {error}", file=sys.stderr)
        return EXIT_USAGE
    limits = fidelity.limits_for(args.backend)
    report = {"candidates": [score_file(checker, reference, limits, path) for path in args.candidates]}
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        print_table(report["candidates"], out)
    return EXIT_KEPT if all(c["kept"] for c in report["candidates"]) else EXIT_REJECTED


def load_reference(checker: PhotoChecker, paths: Sequence[Path]) -> Reference:
    """The person's reference from photo files; UsageError when one cannot serve as a reference."""
    import numpy as np

    from headshot_inference import fidelity

    photos = []
    for path in paths:
        check = checker.check_bytes(path.read_bytes(), str(path), keep_normalised=True)
        if check.photo is None or check.photo.normalised is None:
            codes = ", ".join(r.code.value for r in check.reasons)
            raise UsageError(f"reference {path} cannot be read ({codes})")
        if check.face is None:
            raise UsageError(f"reference {path} has no face")
        image = np.asarray(check.photo.normalised.convert("RGB"))
        photos.append((image, check.face, image.shape[1] / check.photo.analysis.shape[1]))
    return fidelity.Reference.from_photos(photos)


def score_file(checker: PhotoChecker, reference: Reference, limits: Any, path: Path) -> dict[str, Any]:
    """One candidate's verdict; an unreadable file is rejected with its intake code."""
    from headshot.photos import PhotoError, decode_photo
    from headshot_inference import fidelity

    try:
        photo = decode_photo(path.read_bytes(), checker.limits)
    except PhotoError as error:
        failure = {"code": error.reason.value, "message": f"The image could not be read ({error.detail})."}
        return {"file": str(path), "kept": False, "reasons": [failure], "fidelity": {"face_found": False}}
    result = fidelity.score(photo.analysis, reference, checker.analyzer, limits)
    return {
        "file": str(path),
        "kept": result.kept,
        "reasons": [failure.to_dict() for failure in result.reasons],
        "fidelity": result.metrics,
    }


# What the table shows per candidate: (metric, label, format).
_TABLE_METRICS: Final = (
    ("identity_distance", "identity", "{:.2f}"),
    ("skin_tone_delta_e", "skin ΔE", "{:.1f}"),
    ("eye_colour_delta_e", "iris ΔE", "{:.1f}"),
    ("eye_openness_ratio", "eyes open", "{:.2f}"),
    ("gaze_shift_x", "gaze", "{:+.2f}"),
    ("hair_area_ratio", "hair area", "{:.2f}"),
    ("hair_iou", "hair IoU", "{:.2f}"),
    ("hair_kept", "hair kept", "{:.2f}"),
    ("sharpness_ratio", "sharp", "{:.2f}"),
)


def print_table(candidates: list[dict[str, Any]], out: TextIO) -> None:
    width = max([len("candidate"), *(len(Path(c["file"]).name) for c in candidates)])
    out.write(f"{'candidate':<{width}}  {'result':<8}  details\n")
    for candidate in candidates:
        name = Path(candidate["file"]).name
        verdict = "kept" if candidate["kept"] else "REJECTED"
        metrics = candidate["fidelity"]
        numbers = ", ".join(
            f"{label} {fmt.format(metrics[key])}" for key, label, fmt in _TABLE_METRICS if metrics.get(key) is not None
        )
        lines = [f"{r['code']}: {r['message']}" for r in candidate["reasons"]] + ([numbers] if numbers else [])
        lines = lines or ["ok"]
        out.write(f"{name:<{width}}  {verdict:<8}  {lines[0]}\n")
        for line in lines[1:]:
            out.write(f"{'':<{width}}  {'':<8}  {line}\n")
    kept = sum(c["kept"] for c in candidates)
    out.write(f"\n{kept} kept, {len(candidates) - kept} rejected\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
