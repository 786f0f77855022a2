"""Calibration of the photo policy on real photos (`make calibrate`).

Measures every policy metric on the real test photos and on controlled degradations of
them (blur, exposure, one-sided light, rotation, re-encoding), plus detector scores on
photos without faces. The printed tables are what docs/CALIBRATION.md records.
"""

from __future__ import annotations

import io
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from headshot.blazeface import load_face_detector
from headshot.checks import PhotoCheck, PhotoChecker
from headshot.faces import FaceAnalyzer, FaceMeasurement, load_models
from headshot.mesh import load_mesh_model
from headshot_inference.segmentation import load_segmenter
from tests.support.defects import close_eyes, move_irises

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "faces"


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def sources() -> list[tuple[str, Image.Image]]:
    import skimage.data

    found = [("skimage-astronaut", Image.fromarray(skimage.data.astronaut()))]
    if FACES.is_dir():
        for path in sorted(FACES.iterdir()):
            found.append((path.name, ImageOps.exif_transpose(Image.open(path)).convert("RGB")))
    else:
        print(f"note: {FACES} is absent; calibrating on the package-shipped portrait only", file=sys.stderr)
    return found


def scale_light(factor: float) -> Callable[[Image.Image, PhotoCheck], Image.Image]:
    def apply(image: Image.Image, _: PhotoCheck) -> Image.Image:
        values = np.asarray(image, dtype=np.float32) * factor
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))

    return apply


def blur(percent: float) -> Callable[[Image.Image, PhotoCheck], Image.Image]:
    def apply(image: Image.Image, base: PhotoCheck) -> Image.Image:
        return image.filter(ImageFilter.GaussianBlur(base.metrics["face_width_px"] * percent / 100))

    return apply


def side_light(darkest: float) -> Callable[[Image.Image, PhotoCheck], Image.Image]:
    """Light falling off across the face from 1.0 (right) to `darkest` (left)."""

    def apply(image: Image.Image, base: PhotoCheck) -> Image.Image:
        left, _, right, _ = base.metrics["face_box"]
        x = np.arange(image.width, dtype=np.float32)
        ramp = np.clip((x - left) / max(right - left, 1), 0, 1) * (1 - darkest) + darkest
        values = np.asarray(image, dtype=np.float32) * ramp[None, :, None]
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))

    return apply


def _face(image: Image.Image) -> FaceMeasurement:
    """The face with its mesh in the image's own pixels (the check's is on its reduced copy)."""
    analysis = FaceAnalyzer(load_models(), load_mesh_model()).analyse(np.asarray(image))
    if analysis.main is None or analysis.main.mesh is None:
        raise LookupError("no mesh")
    return analysis.main


def eyes_shut(image: Image.Image, _: PhotoCheck) -> Image.Image:
    return Image.fromarray(close_eyes(np.asarray(image), _face(image), load_segmenter()))


def irises_moved(shift: float) -> Callable[[Image.Image, PhotoCheck], Image.Image]:
    def apply(image: Image.Image, _: PhotoCheck) -> Image.Image:
        return Image.fromarray(move_irises(shift)(np.asarray(image), _face(image), load_segmenter()))

    return apply


def rotate(degrees: float) -> Callable[[Image.Image, PhotoCheck], Image.Image]:
    def apply(image: Image.Image, _: PhotoCheck) -> Image.Image:
        return image.rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=(128, 128, 128))

    return apply


DEGRADATIONS: dict[str, Callable[[Image.Image, PhotoCheck], Image.Image]] = {
    "blur 1%": blur(1),
    "blur 2%": blur(2),
    "blur 3%": blur(3),
    "light x0.25": scale_light(0.25),
    "light x0.4": scale_light(0.4),
    "light x0.6": scale_light(0.6),
    "light x1.6": scale_light(1.6),
    "light x2.2": scale_light(2.2),
    "light x3": scale_light(3.0),
    "side light 0.5": side_light(0.5),
    "side light 0.3": side_light(0.3),
    "side light 0.15": side_light(0.15),
    "roll 20°": rotate(20),
    "roll 35°": rotate(35),
    "eyes painted shut": eyes_shut,
    "irises moved 0.2 left": irises_moved(-0.2),
    "irises moved 0.2 right": irises_moved(0.2),
}
COLUMNS = (
    "face_width_px", "face_share", "sharpness", "face_luma_mean", "face_luma_p95",
    "face_dark_share", "face_bright_share", "lighting_balance", "roll_deg", "yaw_deg", "pitch_deg",
    "detection_score", "eye_openness", "iris_contrast", "gaze_off_camera_deg", "crown_room", "chin_room",
)  # fmt: skip


def row(name: str, variant: str, check: PhotoCheck) -> str:
    cells = [f"{check.metrics.get(c, '—')}" for c in COLUMNS]
    codes = ",".join(r.code.value for r in check.reasons) or "accepted"
    return f"| {name} | {variant} | " + " | ".join(cells) + f" | {codes} |"


def main() -> None:
    checker = PhotoChecker()
    print("## Metrics on real photos and controlled degradations\n")
    print("| photo | variant | " + " | ".join(COLUMNS) + " | verdict |")
    print("|" + "---|" * (len(COLUMNS) + 3))
    bases: dict[str, tuple[Image.Image, PhotoCheck]] = {}
    for name, image in sources():
        base = checker.check_bytes(png(image), name)
        print(row(name, "original", base))
        if base.face is None or base.metrics["faces_detected"] != 1:
            continue
        bases[name] = (image, base)
        for variant, degrade in DEGRADATIONS.items():
            try:
                degraded = degrade(image, base)
            except LookupError:
                continue  # an eye edit where the mesh finds no face
            print(row(name, variant, checker.check_bytes(png(degraded), name)))

    print("\n## Detector scores (HOG, threshold -1) on photos with and without faces\n")
    detector = load_models().detector
    import skimage.data

    for name in (
        "coffee",
        "chelsea",
        "rocket",
        "coins",
        "page",
        "text",
        "brick",
        "grass",
        "gravel",
        "retina",
    ):
        pixels = np.asarray(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
        _, scores, _ = detector.run(pixels, 1, -1.0)
        print(f"- no face, {name}: {sorted((round(s, 2) for s in scores), reverse=True)}")
    for name, (image, _) in bases.items():
        _, scores, _ = detector.run(np.asarray(image), 0, -1.0)
        print(f"- face, {name}: {sorted((round(s, 2) for s in scores), reverse=True)}")

    print("\n## BlazeFace sentinel (headshot.blazeface): boxes at score >= its MIN_SCORE\n")
    sentinel = load_face_detector()
    for name in ("coffee", "chelsea", "rocket", "coins", "page", "text", "brick", "grass", "gravel", "retina"):
        found = sentinel.detect(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
        print(f"- no face, {name}: {[round(box.score, 2) for box in found]}")
    for name, image in sources():
        found = sentinel.detect(image)
        print(f"- {name}: {len(found)} face(s), scores {[round(box.score, 2) for box in found]}")

    print("\n## Identity and duplicates (embedding distance / aligned-chip similarity)\n")
    variants: list[tuple[str, PhotoCheck]] = []
    for name, (image, base) in bases.items():
        variants.append((name, base))
        small = image.resize((image.width * 3 // 5, image.height * 3 // 5), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=60)
        w, h = image.size
        edits = {
            "jpeg q60": buffer.getvalue(),
            "resized 60%": png(small),
            "cropped 5%": png(image.crop((w // 20, h // 20, w - w // 20, h - h // 20))),
            "brighter 15%": png(scale_light(1.15)(image, base)),
        }
        for edit, data in edits.items():
            check = checker.check_bytes(data, f"{name} ({edit})")
            if check.face is not None:
                variants.append((check.file, check))
    print("| photo A | photo B | distance | chip similarity |")
    print("|---|---|---|---|")
    for (name_a, a), (name_b, b) in itertools.combinations(variants, 2):
        assert a.face is not None and b.face is not None
        distance = float(np.linalg.norm(a.face.embedding - b.face.embedding))
        similarity = float(a.face.chip_signature @ b.face.chip_signature)
        print(f"| {name_a} | {name_b} | {distance:.3f} | {similarity:.3f} |")


if __name__ == "__main__":
    main()
