"""Test inputs generated in code: good portraits, bad files, bombs and degraded photos.

The real portrait that always exists is scikit-image's astronaut (shipped inside the
PyPI package); the shared real-photo set is used where present (see tests/conftest.py).
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

import numpy as np
import pillow_heif
from PIL import Image, ImageFilter

# The astronaut's face box in its own 512x512 pixels (HOG detection) and nose x.
ASTRONAUT_FACE = (179, 83, 267, 171)
ASTRONAUT_NOSE_X = 224


@cache
def _astronaut() -> Image.Image:
    import skimage.data

    return Image.fromarray(skimage.data.astronaut())


def astronaut() -> Image.Image:
    return _astronaut().copy()


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def heic(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=90)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int = 40000, height: int = 40000) -> bytes:
    """A real, valid greyscale PNG of width x height zero pixels (~1.5 MB for 40000²).

    Built from one deflate block repeated after full flushes (each block then compresses
    identically), with the true Adler-32 of the whole 1.6 GB stream: seconds faster than
    compressing it, and byte-for-byte what a decoder would inflate.
    """
    row = b"\x00" * (width + 1)  # filter byte + pixels
    rows_per_block = 1000
    blocks, tail_rows = divmod(height, rows_per_block)
    block = row * rows_per_block
    compressor = zlib.compressobj(9)
    head = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail_raw = compressor.compress(row * tail_rows) + compressor.flush(zlib.Z_FINISH)
    # Replace the compressor's trailer (Adler-32 of what it saw) with that of the whole stream.
    tail = tail_raw[:-4]
    adler = 1
    for _ in range(blocks):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(row * tail_rows, adler)
    stream = head + repeated * (blocks - 2) + tail + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", stream) + _png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims width x height (a JPEG 'bomb')."""
    data = bytearray(encode(Image.new("RGB", (16, 16), "grey"), "JPEG"))
    marker = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, marker + 5, height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP whose canvas claims width x height around a tiny image."""
    small = encode(Image.new("RGB", (16, 16), (10, 20, 30)), "WEBP", lossless=True)
    image_chunk = small[12:]  # the VP8L chunk after 'RIFF' size 'WEBP'
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + canvas
    body = b"WEBP" + vp8x + image_chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ("red", "green", "blue")]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def pdf() -> bytes:
    return encode(astronaut(), "PDF")


def svg() -> bytes:
    return b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'


def random_bytes(size: int = 4096, seed: int = 7) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def stored_for_orientation(image: Image.Image, orientation: int) -> bytes:
    """A JPEG whose stored pixels need EXIF `orientation` applied to look like `image`."""
    inverse = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
    stored = image.transpose(inverse[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=92, exif=exif.tobytes())


def with_gps(image: Image.Image) -> bytes:
    """A JPEG carrying EXIF with a GPS position and a camera make."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 0.0)
    gps[3], gps[4] = "W", (0.0, 7.0, 0.0)
    return encode(image, "JPEG", quality=92, exif=exif.tobytes())


def blurred(image: Image.Image, face_width: float, percent: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(face_width * percent / 100))


def light(image: Image.Image, factor: float) -> Image.Image:
    values = np.asarray(image, dtype=np.float32) * factor
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))


def half_shadow(image: Image.Image, split_x: int, factor: float = 0.3) -> Image.Image:
    """Everything left of split_x darkened: one side of the face in shadow."""
    values = np.asarray(image, dtype=np.float32).copy()
    values[:, :split_x] *= factor
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))


def pasted_small(image: Image.Image, scale: float, canvas: int) -> Image.Image:
    """The photo scaled by `scale` and pasted in the middle of a canvas x canvas grey frame."""
    small = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    frame = Image.new("RGB", (canvas, canvas), (120, 120, 120))
    frame.paste(small, ((canvas - small.width) // 2, (canvas - small.height) // 2))
    return frame


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    frame = Image.new("RGB", (left.width + right.width, max(left.height, right.height)), (120, 120, 120))
    frame.paste(left, (0, 0))
    frame.paste(right, (left.width, 0))
    return frame


def upscaled_phone_photo(image: Image.Image, size: tuple[int, int] = (4032, 3024)) -> bytes:
    """A 12 MP phone-size JPEG made by upscaling a portrait onto a 4:3 frame."""
    scale = size[1] / image.height
    big = image.resize((round(image.width * scale), size[1]), Image.Resampling.BICUBIC)
    frame = Image.new("RGB", size, (90, 100, 110))
    frame.paste(big, ((size[0] - big.width) // 2, 0))
    return encode(frame, "JPEG", quality=90)
