"""The classical CPU backend: a real photo of the person, levelled, framed and re-lit.

Per job: the best accepted photo that can be framed (photos come best first; one that
cannot be framed without inventing a body or blurring the face is skipped) is used for
every style, so the person looks the same across the job's images.

Per photo (once, shared by its outputs; `prepare`):
1. a levelled work canvas around the eyes (framing.Canvas);
2. the person mask on it: selfie-segmenter prior + GrabCut + the face mesh (matte);
3. the feasible frames (framing): no missing body, whole hair, bounded upscale;
4. colour: white balance and levels under the skin guard; a rim light along the
   face outline healed first (rim).

Per output (`render_output`): the variant's frame (crop), the photo warped into it, the
matte refined on the photo's edges, foreground colours re-estimated (no halo), mild skin
smoothing, and the style's backdrop with the variant's light direction and falloff.
Nothing here is a trained generative model; see inference_container/README.md for the
IPTC digital source type this implies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from headshot.faces import eye_centres
from headshot_inference.backends import (
    DST_ALGORITHMICALLY_ENHANCED,
    DST_COMPOSITE_SYNTHETIC,
    OUTPUT_SIZE,
    GeneratedImage,
    SourcePhoto,
    plan,
)
from headshot_inference.backends.studio import compose, matte, person_mask, rim
from headshot_inference.backends.studio.framing import (
    EYE_DISTANCE,
    EYE_LINE,
    PREFERRED_MAX_UPSCALE,
    VARIANT_ZOOMS,
    Candidates,
    Canvas,
    Framing,
    candidates,
    missing_body,
)
from headshot_inference.errors import UnprocessableError
from headshot_inference.segmentation import load_segmenter
from headshot_inference.styles import OFFICE_BLUR

# Work canvas side (pixels). 512 px gives ~53 px per eye distance: enough for GrabCut to
# follow curls; the guided filter restores the fine edges at output size.
WORK_SIDE: Final = 512
# Above this upscale the warp's softness shows; an unsharp mask of this strength per
# extra 1x of upscale (calibrated on alex 2.8x and astronaut 2.9x) restores edge contrast.
SHARPEN_FROM: Final = 1.3
SHARPEN_PER_UPSCALE: Final = 0.35
REFUSAL_CODE: Final = "photo_cannot_be_framed"
# The composite runs this many rows at a time: its float temporaries stay in the CPU cache (whole
# ones are 25 MB of fresh pages each). The noise, drawn block by block in order, is the same.
COMPOSITE_BLOCK_ROWS: Final = 64


@dataclass(frozen=True, slots=True)
class Prepared:
    """What every output of one photo shares."""

    image: np.ndarray  # the photo (healed), reduced so that no output needs to downscale it
    scale: float  # `image` pixels per SourcePhoto.image pixel
    canvas: Canvas  # in `image` pixels
    alpha: np.ndarray  # float32 (WORK_SIDE, WORK_SIDE): person matte on the canvas
    ears: np.ndarray  # float32 (WORK_SIDE, WORK_SIDE): the ears GrabCut kept (1), soft-edged
    background: np.ndarray  # float32 RGB canvas: the photo's own background, filled
    lut: np.ndarray  # uint8 (256, 1, 3): colour correction
    frames: Candidates
    base: Framing | None  # None when the photo cannot be framed (frames.refusal says why)

    def framing(self, variant: int) -> Framing:
        if self.base is None:
            raise UnprocessableError(REFUSAL_CODE, f"the photo cannot be framed: {self.frames.refusal}")
        if variant == 0:
            return self.base
        return self.frames.best(VARIANT_ZOOMS[variant % len(VARIANT_ZOOMS)], around=self.base)


class StudioBackend:
    name = "studio"
    seed_sensitive = False  # the seed moves the backdrop's light, not the person the gate judges

    def load(self) -> None:
        # The face models load with the photo checker; the segmenter and OpenCV's GrabCut
        # are pulled in now instead of during the first request.
        load_segmenter()
        image = np.zeros((16, 16, 3), np.uint8)
        mask = np.full((16, 16), cv2.GC_PR_BGD, np.uint8)
        mask[4:12, 4:12] = cv2.GC_FGD
        mask[0, :] = cv2.GC_BGD
        cv2.grabCut(image, mask, (0, 0, 0, 0), np.zeros((1, 65)), np.zeros((1, 65)), 1, cv2.GC_INIT_WITH_MASK)

    def generate(
        self, photos: Sequence[SourcePhoto], styles: Sequence[str], variants: int, seed: int
    ) -> list[GeneratedImage]:
        items = plan(len(photos), styles, variants, seed)
        if not items:
            return []
        source, prepared = _first_framable(photos)
        notes = _notes(prepared, variants)
        outputs = []
        per_variant: dict[int, Layers] = {}  # the person is the same in every style
        for item in items:
            if item.variant not in per_variant:
                per_variant[item.variant] = layers(prepared, item.variant)
            rng = np.random.default_rng(item.seed)
            image = render_output(prepared, item.style, rng, variant=item.variant, shared=per_variant[item.variant])
            dst = DST_ALGORITHMICALLY_ENHANCED if item.style == OFFICE_BLUR else DST_COMPOSITE_SYNTHETIC
            outputs.append(GeneratedImage(item.style, item.variant, item.seed, image, source, dst, notes[item.variant]))
        return outputs


def _first_framable(photos: Sequence[SourcePhoto]) -> tuple[int, Prepared]:
    """The first (best) photo that can be framed; UnprocessableError naming each one's reason."""
    refusals = []
    for index, photo in enumerate(photos):
        prepared = prepare(photo)
        if prepared.base is not None:
            return index, prepared
        refusals.append({"photo": photo.name, "reason": prepared.frames.refusal})
    reasons = "; ".join(f"{r['photo']}: {r['reason']}" for r in refusals)
    raise UnprocessableError(
        REFUSAL_CODE,
        f"no photo can be framed as a headshot without inventing what it does not show ({reasons})",
        details={"photos": refusals},
    )


def _notes(prepared: Prepared, variants: int) -> list[tuple[str, ...]]:
    notes = []
    for variant in range(variants):
        framing = prepared.framing(variant)
        found = []
        if framing.upscale > PREFERRED_MAX_UPSCALE * 1.01:
            found.append(f"upscaled {framing.upscale:.1f}x: the photo's face is small")
        if framing.eye_distance < EYE_DISTANCE * 0.95 and variant == 0:
            found.append(f"framed wider (head {framing.eye_distance / EYE_DISTANCE:.0%} of the usual size)")
        notes.append(tuple(found))
    return notes


# ---------------------------------------------------------------------------------------
# per photo


def prepare(photo: SourcePhoto) -> Prepared:
    left_eye, right_eye = eye_centres(photo.landmarks)
    axis = right_eye - left_eye
    eye_distance = float(np.hypot(*axis))
    roll = math.atan2(float(axis[1]), float(axis[0]))
    mesh = photo.face.mesh
    image = photo.image
    if mesh is not None:
        image = rim.heal_rim_light(image, mesh, photo.face_scale, eye_distance)

    canvas = Canvas.around((left_eye + right_eye) / 2, eye_distance, roll, WORK_SIDE)
    pixels = _warp(image, canvas.from_photo, WORK_SIDE)
    inside, photo_xy = _coverage(canvas.from_photo, image.shape[1], image.shape[0])
    if mesh is not None:
        to_canvas = canvas.from_photo @ np.diag([photo.face_scale, photo.face_scale, 1.0])
        face = person_mask.face_region_from_mesh(mesh, to_canvas, WORK_SIDE)
        ears = person_mask.ear_regions_from_mesh(mesh, to_canvas, WORK_SIDE, canvas.per_d)
    else:
        face = person_mask.face_region_from_eyes(canvas.eye, canvas.per_d, WORK_SIDE)
        ears = None
    face &= inside
    person = person_mask.person_mask(pixels, inside, face, canvas.per_d, canvas.eye[1], ears)
    ear_skin = np.zeros_like(person)
    if ears is not None:
        person, ear_skin = person_mask.ear_skin(pixels, person, ears & inside & ~face, canvas.per_d)
    missing = missing_body(person, inside, photo_xy, (image.shape[1], image.shape[0]))
    frames = candidates(canvas, person, missing, eye_distance)
    base = frames.best() if frames.refusal is None else None

    alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 0.8)
    # The ears' skin: the output matte keeps it (the guided filter alone cuts an ear rim
    # whose colour is the backdrop's) and cuts its outline like the other skin edges.
    ears_alpha = cv2.GaussianBlur(ear_skin.astype(np.float32), (0, 0), 0.8)
    background = compose.fill_background(pixels, alpha, inside)
    lut = compose.colour_correction(photo.landmarks, image, pixels[person])

    # Reduce large photos once (area averaging) to the smallest output scale, so the
    # per-output warps only magnify (a minifying warp samples, and aliases).
    scale = 1.0
    if base is not None:
        smallest = min(frames.best(zoom, around=base).upscale for zoom in VARIANT_ZOOMS)
        smallest = min(smallest, base.upscale)
        if smallest < 0.9:
            scale = smallest / 0.9
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            scale = size[0] / photo.image.shape[1]
    canvas = Canvas(canvas.from_photo @ np.diag([1 / scale, 1 / scale, 1.0]), canvas.side, canvas.per_d, canvas.eye)
    return Prepared(image, scale, canvas, alpha, ears_alpha, background, lut, frames, base)


def _warp(image: np.ndarray, matrix: np.ndarray, side: int) -> np.ndarray:
    """warpAffine that area-averages first when it would minify (a warp only samples)."""
    scale = math.sqrt(abs(float(np.linalg.det(matrix[:2, :2]))))
    if scale < 0.75:
        height, width = image.shape[:2]
        size = (max(1, round(width * scale / 0.75)), max(1, round(height * scale / 0.75)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        fx, fy = size[0] / width, size[1] / height
        # cv2.resize maps pixel centres: x' = (x + 0.5) * f - 0.5.
        reduce = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]])
        matrix = matrix @ np.linalg.inv(reduce)
    # Replicated borders only feed the segmenter a plausible context; every pixel outside
    # the photo is backdrop (or refused as missing body) afterwards.
    warped: np.ndarray = cv2.warpAffine(
        image, matrix[:2], (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return warped


def _coverage(matrix: np.ndarray, width: int, height: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Canvas pixels inside the photo, and every canvas pixel's photo coordinates."""
    inverse = np.linalg.inv(matrix)
    ys, xs = np.mgrid[0:WORK_SIDE, 0:WORK_SIDE].astype(np.float32)
    src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    inside = (src_x >= -0.5) & (src_x <= width - 0.5) & (src_y >= -0.5) & (src_y <= height - 0.5)
    return inside, (src_x, src_y)


# ---------------------------------------------------------------------------------------
# per output


@dataclass(frozen=True, slots=True)
class Layers:
    """One variant's person, shared by all its styles (only the backdrop differs)."""

    alpha: np.ndarray  # float32 (OUTPUT_SIZE, OUTPUT_SIZE)
    person: np.ndarray  # float32 RGB: the person's own colours (edges decontaminated)
    old_background: np.ndarray  # float32 RGB: the photo's background, filled behind the person
    eye_line: float


def layers(prepared: Prepared, variant: int) -> Layers:
    """The variant's frame: photo warped in, colour-corrected, retouched, matted."""
    framing = prepared.framing(variant)
    size = (OUTPUT_SIZE, OUTPUT_SIZE)
    to_output = framing.from_photo(prepared.canvas)
    magnify = framing.upscale / prepared.scale
    interpolation = cv2.INTER_LANCZOS4 if magnify > SHARPEN_FROM else cv2.INTER_CUBIC
    photo = cv2.warpAffine(prepared.image, to_output[:2], size, flags=interpolation, borderMode=cv2.BORDER_REPLICATE)
    if magnify > SHARPEN_FROM:
        amount = SHARPEN_PER_UPSCALE * (magnify - 1)
        soft = cv2.GaussianBlur(photo, (0, 0), 0.6 * magnify)
        photo = cv2.addWeighted(photo, 1 + amount, soft, -amount, 0)
    photo = cv2.LUT(photo, prepared.lut)
    from_canvas = framing.from_canvas(prepared.canvas)[:2]
    alpha = cv2.warpAffine(prepared.alpha, from_canvas, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    ears = cv2.warpAffine(prepared.ears, from_canvas, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    d = framing.eye_distance * OUTPUT_SIZE
    photo = compose.retouch(photo, framing.eye_x * OUTPUT_SIZE, framing.eye_line * OUTPUT_SIZE, d)
    eyes = (framing.eye_x * OUTPUT_SIZE, framing.eye_line * OUTPUT_SIZE)
    alpha, person = matte.matte(alpha, photo, d, eyes, ears)
    old_background = cv2.warpAffine(
        prepared.background, from_canvas, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return Layers(alpha, person, old_background, framing.eye_line)


def render_output(
    prepared: Prepared, style: str, rng: np.random.Generator, *, variant: int = 0, shared: Layers | None = None
) -> np.ndarray:
    """One output; `shared` are the variant's layers when another style already made them."""
    parts = shared if shared is not None else layers(prepared, variant)
    backdrop = compose.backdrop(style, variant, parts.old_background, parts.eye_line, rng)
    result = np.empty(parts.person.shape, np.uint8)
    for start in range(0, len(result), COMPOSITE_BLOCK_ROWS):
        rows = slice(start, start + COMPOSITE_BLOCK_ROWS)
        a = parts.alpha[rows, :, None]
        composite = parts.person[rows] * a
        composite += backdrop[rows] * (1 - a)
        # 1/2-LSB noise dithers the smooth gradients so they do not band after 8-bit encoding.
        composite += rng.uniform(-0.5, 0.5, size=composite.shape).astype(np.float32)
        composite += 0.5
        result[rows] = np.clip(composite, 0, 255, out=composite).astype(np.uint8)
    return result


__all__ = ["EYE_DISTANCE", "EYE_LINE", "Layers", "Prepared", "StudioBackend", "layers", "prepare", "render_output"]
