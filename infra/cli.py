"""`headshot` command line. Subcommands are contracts other tools depend on; see README.

It composes the domain (`headshot`), the inference container (`headshot_inference`) and the
local stack from the top, so nothing in functions/ imports upward.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

EXIT_ACCEPTED = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headshot", description="AI headshot pipeline tools")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check",
        help="check photos the way the validator does",
        description="Check photos. Without --each they are one job's set (identity and duplicate "
        "checks apply). Exit 0 when all are accepted, 1 when any is rejected, 2 on usage errors.",
    )
    check.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.add_argument("--each", action="store_true", help="check every photo on its own")
    render = commands.add_parser(
        "render",
        help="render headshots from photos of one person (no S3, no server)",
        description="Run the inference backend and fidelity scoring locally; writes images and manifest.json. "
        "Exit 0 when at least one image is kept, 1 when none is, 2 on usage errors.",
    )
    from headshot_inference.render import configure_parser  # light: loads no models or OpenCV

    configure_parser(render)
    score = commands.add_parser(
        "score",
        help="judge generated headshots against the person's photos (the delivery gate)",
        description="Score candidates with the output fidelity gate against reference photos. "
        "Exit 0 when every candidate is kept, 1 when any is rejected, 2 on usage errors.",
    )
    from headshot_inference.score import configure_parser as configure_score  # light, like render's

    configure_score(score)
    from infra.local.cli import add_parsers  # `headshot local …` and `headshot demo`

    add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":
        return run_check(args.photos, as_json=args.json, each=args.each, out=sys.stdout)
    if args.command == "render":
        from headshot_inference.render import run

        return int(run(args, out=sys.stdout))
    if args.command == "score":
        from headshot_inference.score import run as run_score

        return int(run_score(args, out=sys.stdout))
    if args.command in ("local", "demo"):
        from infra.local.cli import run as run_local

        return run_local(args)
    return EXIT_USAGE  # pragma: no cover - argparse enforces a known command


def run_check(photos: Sequence[Path], *, as_json: bool, each: bool, out: TextIO) -> int:
    missing = [str(p) for p in photos if not p.is_file()]
    if missing:
        print(f"headshot check: not a file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    from headshot.checks import PhotoChecker  # deferred: loading models is not needed for --help

    checker = PhotoChecker()
    checks = [checker.check_path(path) for path in photos]
    if not each:
        checker.check_set(checks)
    accepted = sum(check.accepted for check in checks)
    report: dict[str, Any] = {
        "photos": [check.to_dict() for check in checks],
        "summary": {"accepted": accepted, "rejected": len(checks) - accepted},
    }
    if as_json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        _print_table(report, out)
    return EXIT_ACCEPTED if accepted == len(checks) else EXIT_REJECTED


def _print_table(report: dict[str, Any], out: TextIO) -> None:
    photos = report["photos"]
    assert isinstance(photos, list)
    width = max([len("photo"), *(len(Path(p["file"]).name) for p in photos)])
    out.write(f"{'photo':<{width}}  {'result':<8}  details\n")
    for photo in photos:
        name = Path(photo["file"]).name
        verdict = "accepted" if photo["accepted"] else "REJECTED"
        details = [f"{r['code']}: {r['message']}" for r in photo["reasons"]]
        details += [f"warning {w['code']}: {w['message']}" for w in photo["warnings"]]
        metrics = photo["metrics"]
        if "face_width_px" in metrics:
            details.append(
                f"face {metrics['face_width_px']:.0f}px, sharpness {metrics['sharpness']:.2f}, "
                f"yaw {metrics['yaw_deg']:+.0f}°, face luma {metrics['face_luma_mean']:.0f}"
            )
        lines = details or ["ok"]
        out.write(f"{name:<{width}}  {verdict:<8}  {lines[0]}\n")
        for line in lines[1:]:
            out.write(f"{'':<{width}}  {'':<8}  {line}\n")
    summary = report["summary"]
    assert isinstance(summary, dict)
    out.write(f"\n{summary['accepted']} accepted, {summary['rejected']} rejected\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
