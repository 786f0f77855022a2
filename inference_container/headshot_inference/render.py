"""Photos in, scored headshots out: the one pipeline the server and `headshot render` share.

render() decodes and checks the photos with headshot.checks (as the validator did), asks
the backend for images, scores every image for fidelity, ranks the kept ones and encodes
them with their AI-disclosure metadata. It does no I/O: the server reads and writes S3
around it, the CLI reads and writes files.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from headshot.settings import ConfigurationError
from headshot_inference.content_credentials import Claim, ContentCredentials, recipe_version
from headshot_inference.errors import BadRequestError, InferenceError, UnprocessableError
from headshot_inference.metadata import CONTENT_TYPES, EXTENSIONS, encode, xmp_packet
from headshot_inference.regenerate import Budget, regenerate_failures
from headshot_inference.request import Reference, parse_styles
from headshot_inference.settings import OUTPUT_FORMATS, get_settings
from headshot_inference.styles import DEFAULT_STYLE, MAX_VARIANTS

if TYPE_CHECKING:
    # Deferred at run time: they load dlib, which `headshot --help` should not have to.
    from headshot.checks import PhotoCheck, PhotoChecker
    from headshot_inference.backends import Backend, GeneratedImage, SourcePhoto
    from headshot_inference.fidelity import Fidelity

EXIT_KEPT = 0
EXIT_NONE_KEPT = 1
EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class RenderedImage:
    image_id: str
    style: str
    variant: int
    seed: int
    source_photo: int | None  # index into the photos given to render(); None: all of them
    data: bytes
    content_type: str
    extension: str
    fidelity: dict[str, Any]
    kept: bool
    reason: str | None  # the first of `reasons` (kept for older readers of the manifest)
    rank: int | None  # 1 = best among the kept ones
    reasons: tuple[dict[str, str], ...] = ()  # every failed check: {"code", "message"}
    notes: tuple[str, ...] = ()  # what the backend compromised on (a wider frame, an upscale)
    attempts: int = 1  # generations it took: more than 1 when earlier ones failed the gate

    def entry(self, key: str | None) -> dict[str, Any]:
        """This image's entry in the result manifest (docs/INFERENCE.md)."""
        entry: dict[str, Any] = {
            "image_id": self.image_id,
            "key": key,
            "style": self.style,
            "seed": self.seed,
            "variant": self.variant,
            "source_photo": self.source_photo,
            "content_type": self.content_type,
            "fidelity": self.fidelity,
            "kept": self.kept,
            "attempts": self.attempts,
        }
        if self.notes:
            entry["notes"] = list(self.notes)
        if self.kept:
            entry["rank"] = self.rank
        else:
            entry["reason"] = self.reason
            entry["reasons"] = list(self.reasons)
        return entry


@dataclass(slots=True)
class RenderResult:
    backend: str
    images: list[RenderedImage]  # kept ones first, best first; then the rejected ones
    photos: list[dict[str, Any]]  # per input photo: used or not, and why not
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def kept(self) -> list[RenderedImage]:
        return [image for image in self.images if image.kept]

    def manifest(self, keys: dict[str, str | None], **head: Any) -> dict[str, Any]:
        """The result manifest; `head` holds job_id and round when there are some."""
        return {
            **head,
            "backend": self.backend,
            "images": [image.entry(keys.get(image.image_id)) for image in self.images],
            "photos": self.photos,
            "timings": self.timings,
        }


def render(
    photos: Sequence[bytes],
    styles: Sequence[str],
    variants: int,
    seed: int,
    backend: Backend,
    *,
    names: Sequence[str] | None = None,
    reference: Reference | None = None,
    image_format: str = "jpeg",
    id_prefix: str = "",
    checker: PhotoChecker | None = None,
    credentials: ContentCredentials | None = None,
    regenerations: Budget | None = None,
) -> RenderResult:
    """Generate, score and encode headshots of the person in `photos` (raw file bytes).

    With `credentials`, every image also carries a signed C2PA manifest (content_credentials.py).
    Outputs that fail the fidelity gate are generated again with new seeds within
    `regenerations` (None: the container settings), when the backend's images depend on the
    seed (regenerate.py).

    Raises BadRequestError for unusable arguments and UnprocessableError("no_usable_photos") when
    no photo passes the checks.
    """
    from headshot.checks import PhotoChecker
    from headshot_inference import fidelity

    started = time.perf_counter()
    styles = parse_styles(list(styles))
    if not 1 <= variants <= MAX_VARIANTS:
        raise BadRequestError("invalid_request", f"variants must be from 1 to {MAX_VARIANTS}")
    if image_format not in OUTPUT_FORMATS:
        raise BadRequestError("invalid_request", f"image format must be one of {', '.join(OUTPUT_FORMATS)}")
    names = list(names) if names is not None else [f"photo-{i}" for i in range(len(photos))]
    checker = checker or PhotoChecker()

    checks = [checker.check_bytes(data, name, keep_normalised=True) for data, name in zip(photos, names, strict=True)]
    checker.check_set(checks)
    usable = [i for i, check in enumerate(checks) if check.accepted and check.face is not None]
    if not usable:
        summary = {"photos": _photo_summary(checks, [])}
        raise UnprocessableError("no_usable_photos", "none of the photos passes the photo checks", details=summary)
    # Best photo first: the backend uses the first ones most.
    usable.sort(key=lambda i: _photo_quality(checks[i]))
    sources = [_source(checks[i]) for i in usable]
    checked = time.perf_counter()

    generated = backend.generate(sources, styles, variants, seed)
    produced = time.perf_counter()

    ref = fidelity.Reference.from_photos(
        [(source.image, source.face, source.face_scale) for source in sources],
        embedding=reference.embedding if reference is not None else None,
        fallback_skin_lab=reference.skin_lab if reference is not None else None,
    )
    limits = fidelity.limits_for(backend.name)
    analyzer = checker.analyzer

    def judge(item: GeneratedImage) -> Fidelity:
        return fidelity.score(item.image, ref, analyzer, limits, source=item.source)

    scores = [judge(item) for item in generated]
    scored = time.perf_counter()
    budget = regenerations if regenerations is not None else Budget.from_settings(get_settings())
    generated, scores, attempts = regenerate_failures(backend, sources, generated, scores, seed, judge, budget)
    regenerated = time.perf_counter()

    order = sorted(range(len(generated)), key=lambda i: (not scores[i].kept, scores[i].identity_distance, i))
    images = []
    rank = 0
    recipe = recipe_version(backend) if credentials is not None else ""
    for position in order:
        item, result = generated[position], scores[position]
        rank += result.kept
        xmp = xmp_packet(item.digital_source_type, backend=backend.name)
        data = encode(item.image, image_format, xmp)
        if credentials is not None:
            # Signed last: the manifest's hash binds the finished bytes, XMP included.
            claim = Claim(item.digital_source_type, backend.name, recipe)
            data = credentials.sign(data, CONTENT_TYPES[image_format], claim)
        images.append(
            RenderedImage(
                image_id=f"{id_prefix}{item.style}-{item.variant + 1:02d}",
                style=item.style,
                variant=item.variant,
                seed=item.seed,
                source_photo=usable[item.source] if item.source is not None else None,
                data=data,
                content_type=CONTENT_TYPES[image_format],
                extension=EXTENSIONS[image_format],
                fidelity=result.metrics,
                kept=result.kept,
                reason=result.reason,
                reasons=tuple(failure.to_dict() for failure in result.reasons),
                rank=rank if result.kept else None,
                notes=item.notes,
                attempts=attempts[position],
            )
        )
    finished = time.perf_counter()
    timings = {
        "check_ms": (checked - started) * 1000,
        "generate_ms": (produced - checked) * 1000,
        "fidelity_ms": (scored - produced) * 1000,
        "regenerate_ms": (regenerated - scored) * 1000,
        "encode_ms": (finished - regenerated) * 1000,
        "render_ms": (finished - started) * 1000,
        "per_image_ms": (finished - checked) * 1000 / max(1, len(generated)),
    }
    return RenderResult(
        backend.name, images, _photo_summary(checks, usable), {k: round(v, 1) for k, v in timings.items()}
    )


# Photo ranking: every term is in "degrees of head turn" so they add up. Calibrated on the
# shared photos: obama.jpg (frontal, smiling, sharp) ~11 ranks before obama3.jpg (turned and
# chin up) ~28 and obama2.jpg (turned, looking away, speaking) ~39.
SOFT_SHARPNESS = 0.75  # headshot.faces sharpness of a crisp face (obama 0.77, astronaut 0.84)
GAZE_TOLERANCE = (0.05, 0.08)  # iris offset (eye widths) still reading as "at the camera"
EYES_OPEN = 0.15  # FaceMesh.openness: ~0.2-0.4 open (obama smiling 0.20), < 0.1 closed
MOUTH_TALKING = 0.3  # inner-lip gap over mouth width: smiles 0.17-0.23, obama2 speaking 0.48
# MediaPipe mesh indices: inner lips (upper, lower) and the mouth corners.
_LIPS, _MOUTH_CORNERS = (13, 14), (61, 291)


def _photo_quality(check: PhotoCheck) -> float:
    """Lower is better: frontal, sharp, eyes open and at the camera, mouth closed or smiling, big."""
    face = check.face
    assert face is not None and check.photo is not None
    score = abs(face.yaw_deg) + 0.5 * abs(face.pitch_deg)
    # Face width in original pixels; an output head ~380 px wide needs this much upscale.
    upscale = 380 / max(1.0, face.detection.width / check.photo.analysis_scale)
    score += 10 * max(0.0, math.log2(upscale)) + 20 * max(0.0, SOFT_SHARPNESS - face.sharpness)
    mesh = face.mesh
    if mesh is not None:
        gaze_x, gaze_y = mesh.gaze
        score += 100 * (max(0.0, abs(gaze_x) - GAZE_TOLERANCE[0]) + max(0.0, abs(gaze_y) - GAZE_TOLERANCE[1]))
        score += 100 * max(0.0, EYES_OPEN - mesh.openness)
        points = mesh.points[:, :2]
        gap = float(np.hypot(*(points[_LIPS[1]] - points[_LIPS[0]])))
        width = float(np.hypot(*(points[_MOUTH_CORNERS[1]] - points[_MOUTH_CORNERS[0]]))) or 1.0
        score += 50 * max(0.0, gap / width - MOUTH_TALKING)
    return score


def _source(check: PhotoCheck) -> SourcePhoto:
    from headshot_inference.backends import SourcePhoto

    photo, face = check.photo, check.face
    assert photo is not None and face is not None and photo.normalised is not None
    image = np.asarray(photo.normalised.convert("RGB"))
    return SourcePhoto(check.file, image, face, image.shape[1] / photo.analysis.shape[1])


def _photo_summary(checks: Sequence[PhotoCheck], usable: Sequence[int]) -> list[dict[str, Any]]:
    return [
        {"photo": i, "used": i in usable, "reasons": [r.code.value for r in check.reasons]}
        for i, check in enumerate(checks)
    ]


# ---------------------------------------------------------------------------------------
# `headshot render` (wired into the headshot console script)


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="photos of one person")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for images and manifest.json")
    parser.add_argument(
        "--style",
        action="append",
        dest="styles",
        metavar="STYLE",
        help=f"style id, repeatable (default {DEFAULT_STYLE})",
    )
    parser.add_argument("--variants", type=int, default=2, metavar="N", help="images per style (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the variants (default 0)")
    parser.add_argument("--backend", choices=("studio", "diffusion"), help="default: HEADSHOT_BACKEND or studio")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="jpeg", dest="image_format")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headshot render",
        description="Render headshots from photos of one person. Writes the images and manifest.json "
        "(keys are file names in DIR). Exit 0 when at least one image is kept, 1 when none is, 2 on usage errors.",
    )
    return configure_parser(parser)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args, out=sys.stdout)


def run(args: argparse.Namespace, *, out: TextIO) -> int:
    missing = [str(p) for p in args.photos if not p.is_file()]
    if missing:
        print(f"headshot render: not a file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    from headshot_inference.backends import create_backend
    from headshot_inference.signing_secret import load_content_credentials

    try:
        # Signed when HEADSHOT_C2PA_SECRET_ARN names the signing secret; otherwise a warning says not.
        credentials = load_content_credentials(get_settings().c2pa_secret_arn)
        backend = create_backend(args.backend or get_settings().backend, model_dir=get_settings().model_dir)
        backend.load()
        result = render(
            [p.read_bytes() for p in args.photos],
            args.styles or [DEFAULT_STYLE],
            args.variants,
            args.seed,
            backend,
            names=[str(p) for p in args.photos],
            image_format=args.image_format,
            credentials=credentials,
        )
    except ConfigurationError as error:
        print(f"headshot render: {error}", file=sys.stderr)
        return EXIT_USAGE
    except UnprocessableError as error:
        print(f"headshot render: {error.message}", file=sys.stderr)
        if args.json:
            json.dump(error.body(), out, indent=2)
            out.write("\n")
        return EXIT_NONE_KEPT
    except InferenceError as error:
        print(f"headshot render: {error.message}", file=sys.stderr)
        return EXIT_USAGE

    args.out.mkdir(parents=True, exist_ok=True)
    keys: dict[str, str | None] = {}
    for image in result.images:
        # Rejected images are written too (prefixed), so one can see why they were refused.
        name = f"{'' if image.kept else 'rejected-'}{image.image_id}.{image.extension}"
        (args.out / name).write_bytes(image.data)
        keys[image.image_id] = name
    manifest = result.manifest(keys, photos_in=[str(p) for p in args.photos])
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if args.json:
        json.dump(manifest, out, indent=2)
        out.write("\n")
    else:
        _print_table(result, keys, out)
    return EXIT_KEPT if result.kept else EXIT_NONE_KEPT


def _print_table(result: RenderResult, keys: dict[str, str | None], out: TextIO) -> None:
    for image in result.images:
        f = image.fidelity
        codes = ", ".join(reason["code"] for reason in image.reasons)
        verdict = f"kept #{image.rank}" if image.kept else f"REJECTED ({codes})"
        details = f"identity {f.get('identity_distance', float('nan')):.3f}"
        if "skin_tone_delta_e" in f:
            details += f", skin ΔE {f['skin_tone_delta_e']:.1f}, ITA {f['ita_shift_deg']:+.1f}°"
        if "eye_colour_delta_e" in f:
            details += f", iris ΔE {f['eye_colour_delta_e']:.1f}"
        if "hair_area_ratio" in f:
            details += f", hair {f['hair_area_ratio']:.2f}"
        out.write(f"{keys[image.image_id]}  {verdict}  {details}\n")
    out.write(f"\n{len(result.kept)} kept of {len(result.images)} ({result.backend} backend)\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
