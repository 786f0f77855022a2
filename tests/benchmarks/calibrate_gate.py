"""Calibration of the output fidelity gate (docs/CALIBRATION.md, "Output gate").

    .venv/bin/python tests/benchmarks/calibrate_gate.py > docs/calibration/gate.md

Renders every single-person photo of the shared set (and scikit-image's astronaut) with the
studio backend in 4 styles x 2 variants, scores every output against its photo (as
`headshot render` does), then scores synthetic defects made from the good outputs
(tests/support/defects.py: paler skin, undertone removed, blue irises, eyes shut,
eyes looking away, hair cut or recoloured, face blurred) and other people's outputs.
Prints markdown: every metric's range on good outputs and on each defect, what was
caught, and false rejects and misses per ITA° skin-tone group. Deterministic: the studio
backend is seeded (seed 0) and the defects have no randomness.
"""

from __future__ import annotations

import io
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from headshot.checks import PhotoChecker
from headshot.color import ita_degrees
from headshot_inference import fidelity
from headshot_inference.backends.studio import StudioBackend
from headshot_inference.errors import UnprocessableError
from headshot_inference.render import render
from headshot_inference.styles import STYLES
from tests.support.defects import DEFECTS, ITA_GROUPS, ita_group

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "faces"
VARIANTS = 2
SEED = 0
# Defects are made from variant 1 of every style (4 per photo): every backdrop, fewer runs.
DEFECT_VARIANT = 0
# The metrics shown per check, in table order.
METRICS = (
    "identity_distance",
    "skin_tone_delta_e",
    "skin_lightness_shift",
    "skin_b_shift",
    "skin_hue_shift_deg",
    "ita_shift_deg",
    "eye_colour_delta_e",
    "eye_openness_ratio",
    "iris_contrast_ratio",
    "gaze_shift_x",
    "gaze_shift_y",
    "hair_area_ratio",
    "hair_iou",
    "hair_kept",
    "hair_delta_e",
    "sharpness_ratio",
    "roll_deg",
)

# What a missed defect's line shows.
MISS_DETAIL = {
    "eye_openness_ratio",
    "iris_contrast_ratio",
    "gaze_shift_x",
    "hair_area_ratio",
    "hair_iou",
    "hair_kept",
    "hair_delta_e",
    "sharpness_ratio",
    "skin_tone_delta_e",
}


@dataclass
class Person:
    name: str  # the photo's file name
    who: str  # the person (obama, obama2, obama3 are one)
    reference: fidelity.Reference
    ita: float
    outputs: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (style-variant, rgb)


@dataclass
class Row:
    photo: str
    group: str
    case: str  # "good", a defect's name, or "another person"
    expected: str | None
    visible: bool
    result: fidelity.Fidelity


def photos() -> list[tuple[str, bytes]]:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")
    found = [("skimage-astronaut", buffer.getvalue())]
    if FACES.is_dir():
        found += [(p.name, p.read_bytes()) for p in sorted(FACES.iterdir()) if p.name != "astronaut.png"]
    else:
        print(f"note: {FACES} is absent; calibrating on the package-shipped portrait only", file=sys.stderr)
    return found


def person_of(name: str) -> str:
    return "obama" if name.startswith("obama") else name.split(".")[0]


def prepare(checker: PhotoChecker, studio: StudioBackend) -> tuple[list[Person], list[str]]:
    people, skipped = [], []
    segmenter = fidelity.default_segmenter()
    for name, data in photos():
        check = checker.check_bytes(data, name, keep_normalised=True)
        if not check.accepted or check.face is None or check.photo is None or check.photo.normalised is None:
            skipped.append(f"{name}: {', '.join(r.code.value for r in check.reasons)}")
            continue
        image = np.asarray(check.photo.normalised.convert("RGB"))
        scale = image.shape[1] / check.photo.analysis.shape[1]
        reference = fidelity.Reference.from_photos([(image, check.face, scale)], segmenter=segmenter)
        features = reference.photos[0].features
        skin = features.skin_lab if features is not None and features.skin_lab is not None else check.face.skin_lab
        assert skin is not None
        person = Person(name, person_of(name), reference, ita_degrees(skin))
        try:
            result = render([data], STYLES, VARIANTS, SEED, studio, image_format="jpeg", checker=checker)
        except UnprocessableError as error:
            skipped.append(f"{name}: {error.message}")
            continue
        for image_out in sorted(result.images, key=lambda i: i.image_id):
            rgb = np.asarray(Image.open(io.BytesIO(image_out.data)).convert("RGB"))
            person.outputs.append((image_out.image_id, rgb))
        people.append(person)
    return people, skipped


def main() -> int:
    checker = PhotoChecker()
    studio = StudioBackend()
    studio.load()
    segmenter = fidelity.default_segmenter()
    limits = fidelity.limits_for("studio")
    people, skipped = prepare(checker, studio)
    rows: list[Row] = []
    sources: list[dict[str, Any]] = []
    for person in people:
        group = ita_group(person.ita)
        base = person.reference.photos[0]
        mesh = base.face.mesh
        sources.append(
            {
                "photo": person.name,
                "ita": person.ita,
                "group": group,
                "eye_px": base.features.frame.eye_distance_px if base.features else float("nan"),
                "gaze": mesh.gaze if mesh else (float("nan"), float("nan")),
                "yaw": base.face.yaw_deg,
                "openness": mesh.openness if mesh else float("nan"),
            }
        )
        for image_id, rgb in person.outputs:
            good = fidelity.score(rgb, person.reference, checker.analyzer, limits, source=0, segmenter=segmenter)
            rows.append(Row(person.name, group, "good", None, True, good))
            if int(image_id.rsplit("-", 1)[1]) - 1 != DEFECT_VARIANT:
                continue
            face = checker.analyzer.analyse(rgb).main
            assert face is not None and face.mesh is not None
            for defect in DEFECTS:
                edited = defect.apply(rgb, face, segmenter)
                result = fidelity.score(
                    edited, person.reference, checker.analyzer, limits, source=0, segmenter=segmenter
                )
                rows.append(Row(person.name, group, defect.name, defect.expected, defect.visible, result))
        # Another person's headshot offered as this person's: every other person's first output.
        for other in people:
            if other.who != person.who:
                _, rgb = other.outputs[0]
                result = fidelity.score(rgb, person.reference, checker.analyzer, limits, segmenter=segmenter)
                rows.append(Row(person.name, group, "another person", fidelity.IDENTITY_MISMATCH, True, result))
    baseline = baseline_choice(people, checker, segmenter, limits)
    report(rows, sources, skipped, baseline, limits)
    return 0


def baseline_choice(people: list[Person], checker: PhotoChecker, segmenter: Any, limits: Any) -> tuple[int, int]:
    """`headshot score` is not told an output's source: how often is the closest photo in identity the source?"""
    group = [p for p in people if p.who == "obama"]
    if len(group) < 2:
        return 0, 0
    combined = fidelity.Reference(
        np.mean([p.reference.photos[0].face.embedding for p in group], axis=0),
        tuple(p.reference.photos[0] for p in group),
    )
    right = total = 0
    for index, person in enumerate(group):
        for _, rgb in person.outputs:
            result = fidelity.score(rgb, combined, checker.analyzer, limits, segmenter=segmenter)
            right += result.metrics.get("baseline_photo") == index
            total += 1
    return right, total


def _range(values: list[float]) -> str:
    if not values:
        return "—"
    low, high = min(values), max(values)
    return f"{low:.2f}" if abs(high - low) < 0.005 else f"{low:.2f} … {high:.2f}"


def report(
    rows: list[Row],
    sources: list[dict[str, Any]],
    skipped: list[str],
    baseline: tuple[int, int],
    limits: fidelity.FidelityLimits,
) -> None:
    out = sys.stdout.write
    out("# Output gate calibration\n\n")
    out("Generated by `tests/benchmarks/calibrate_gate.py` (studio backend, seed 0, 4 styles x 2 variants per photo; ")
    out("defects from variant 1 of each style). Do not edit by hand.\n\n")
    out("## Photos\n\n| photo | skin ITA° | group | eye distance px | gaze x, y (eye widths) | yaw° | openness |\n")
    out("|---|---|---|---|---|---|---|\n")
    for s in sources:
        out(
            f"| {s['photo']} | {s['ita']:.1f} | {s['group']} | {s['eye_px']:.0f} | "
            f"{s['gaze'][0]:+.3f}, {s['gaze'][1]:+.3f} | {s['yaw']:+.0f} | {s['openness']:.2f} |\n"
        )
    frontal = [s["gaze"] for s in sources if abs(s["yaw"]) < 10]
    if frontal:
        out(
            f"\nGaze of the frontal photos (|yaw| < 10°, looking at the camera): x median "
            f"{statistics.median(g[0] for g in frontal):+.3f}, "
            f"y median {statistics.median(g[1] for g in frontal):+.3f} "
            "eye widths — the mesh's bias; the gate compares with the source, so it cancels.\n"
        )
    if skipped:
        out("\nNot rendered (the photo checks refuse them): " + "; ".join(skipped) + ".\n")

    out("\n## Good studio outputs (must all be kept)\n\n")
    out("| photo | kept | rejected as | " + " | ".join(METRICS) + " |\n")
    out("|---|---|---|" + "---|" * len(METRICS) + "\n")
    for photo in dict.fromkeys(r.photo for r in rows):
        good = [r for r in rows if r.photo == photo and r.case == "good"]
        codes = sorted({c for r in good for c in r.result.codes})
        cells = [_range([r.result.metrics[m] for r in good if m in r.result.metrics]) for m in METRICS]
        out(
            f"| {photo} | {sum(r.result.kept for r in good)}/{len(good)} | {', '.join(codes) or '—'} | "
            + " | ".join(cells)
            + " |\n"
        )
    all_good = [r for r in rows if r.case == "good"]
    out(
        f"| **all** | {sum(r.result.kept for r in all_good)}/{len(all_good)} | | "
        + " | ".join(_range([r.result.metrics[m] for r in all_good if m in r.result.metrics]) for m in METRICS)
        + " |\n"
    )

    out("\n## Defects (must be rejected with the expected code; probes are reported only)\n\n")
    out("| defect | expected | caught | also | " + " | ".join(METRICS) + " |\n")
    out("|---|---|---|---|" + "---|" * len(METRICS) + "\n")
    for case in dict.fromkeys(r.case for r in rows if r.case != "good"):
        hit = [r for r in rows if r.case == case]
        caught = sum(r.expected in r.result.codes for r in hit)
        also = sorted({c for r in hit for c in r.result.codes if c != r.expected})
        cells = [_range([r.result.metrics[m] for r in hit if m in r.result.metrics]) for m in METRICS]
        out(
            f"| {case} | `{hit[0].expected}` | {caught}/{len(hit)} | {', '.join(also) or '—'} | "
            + " | ".join(cells)
            + " |\n"
        )
    misses = [r for r in rows if r.case != "good" and r.visible and r.expected not in r.result.codes]
    if misses:
        out("\nMissed visible defects:\n\n")
        for r in misses:
            numbers = ", ".join(
                f"{m} {r.result.metrics[m]}" for m in METRICS if m in r.result.metrics and m in MISS_DETAIL
            )
            out(f"- {r.photo} / {r.case}: {', '.join(r.result.codes) or 'kept'} ({numbers})\n")
    false_rejects = [r for r in rows if r.case == "good" and not r.result.kept]
    if false_rejects:
        out(
            "\nRejected good outputs: "
            + "; ".join(f"{r.photo} ({', '.join(r.result.codes)})" for r in false_rejects)
            + ".\n"
        )

    out(
        f"\n## Baseline choice without a source (`headshot score`)\n\nobama's outputs scored against all three "
        f"obama photos: the photo closest in identity was the output's own source for {baseline[0]}/{baseline[1]}.\n"
    )

    out("\n## Per skin-tone group (ITA° of the source photo's face skin)\n\n")
    out(
        "| ITA° group | photos | good outputs | false rejects | visible defects | misses |\n|---|---|---|---|---|---|\n"
    )
    for group in ITA_GROUPS:
        in_group = [r for r in rows if r.group == group]
        names = sorted({s["photo"] for s in sources if s["group"] == group})
        if not in_group:
            out(f"| {group} | none in the data | — | unknown | — | unknown |\n")
            continue
        good = [r for r in in_group if r.case == "good"]
        defects = [r for r in in_group if r.case != "good" and r.visible]
        out(
            f"| {group} | {', '.join(names)} | {len(good)} | {sum(not r.result.kept for r in good)} | {len(defects)} | "
            f"{sum(r.expected not in r.result.codes for r in defects)} |\n"
        )

    out("\n## Limits in force (studio)\n\n| limit | value |\n|---|---|\n")
    for name in limits.__dataclass_fields__:
        out(f"| `{name}` | {getattr(limits, name)} |\n")


if __name__ == "__main__":
    raise SystemExit(main())
