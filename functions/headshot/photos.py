"""Safe photo intake: sniff, bound, decode small, orient, normalise.

Untrusted bytes go through here before anything else looks at them:

1. the byte size is bounded (streams are never read past the limit);
2. the real format is sniffed from the magic bytes, never from a name or a Content-Type;
3. the pixel count is read from the header and checked *before* any pixel is decoded,
   so a decompression bomb costs microseconds and no memory;
4. JPEGs are decoded with DCT scaling (draft mode) straight to about the size we need,
   so a 12 MP phone photo is never materialised at full resolution;
5. EXIF orientation is applied, colour is converted to 8-bit sRGB, and the copy that later
   stages keep is re-encoded without EXIF, GPS, XMP or ICC data.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Final

import numpy as np
import pillow_heif
from PIL import Image, ImageCms

from headshot.reasons import Reason
from headshot.settings import PhotoLimits

# Registering once per process lets Image.open read HEIC/HEIF (iPhone photos).
pillow_heif.register_heif_opener()

ACCEPTED_FORMATS: Final = ("jpeg", "png", "webp", "heif")
_PIL_FORMAT: Final = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heif": "HEIF"}
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
# Recognisable files we refuse on purpose (as opposed to bytes that are no image at all).
_OTHER_SIGNATURES: Final = (
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"%PDF-", "pdf"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\x00\x00\x01\x00", "ico"),
    (b"8BPS", "psd"),
    (b"\x00\x00\x00\x0cjP  ", "jpeg2000"),
    (b"\xff\x0a", "jpegxl"),
    (b"\x00\x00\x00\x0cJXL ", "jpegxl"),
)
# Transparent pixels are composited on a neutral mid grey: no colour cast, no halo.
NEUTRAL_BACKGROUND: Final = (128, 128, 128)
_SRGB: Final = ImageCms.createProfile("sRGB")
# Start-of-frame markers (baseline, progressive, lossless...), not DHT/JPG/DAC.
_JPEG_SOF_MARKERS: Final = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
SNIFF_BYTES: Final = 64


class PhotoError(Exception):
    """The photo cannot be used; `reason` is the stable code shown to the user."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DecodedPhoto:
    """A photo decoded safely: upright, 8-bit sRGB, reduced to the sizes we work at."""

    format: str
    # Upright size of the original, in pixels (after EXIF orientation).
    width: int
    height: int
    # RGB uint8 array (H, W, 3), long side <= PhotoLimits.analysis_side.
    analysis: np.ndarray
    # analysis pixels per original pixel (<= 1).
    analysis_scale: float
    # The copy later stages keep (long side <= PhotoLimits.keep_side), when asked for.
    normalised: Image.Image | None
    # Size the decoder actually produced (upright): JPEG DCT scaling makes it far below the original.
    decoded_size: tuple[int, int]
    decode_ms: float


def sniff_format(head: bytes) -> str:
    """Return one of ACCEPTED_FORMATS from the first bytes, or raise PhotoError."""
    if not head:
        raise PhotoError(Reason.CORRUPT_IMAGE, "empty file")
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        box_end = min(int.from_bytes(head[:4], "big"), len(head))
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
        if brands & _HEIF_BRANDS and head[8:12] not in _AVIF_BRANDS:
            return "heif"
        raise PhotoError(Reason.UNSUPPORTED_FORMAT, "ISO media file that is not HEIC/HEIF (video or AVIF)")
    for signature, name in _OTHER_SIGNATURES:
        if head.startswith(signature):
            raise PhotoError(Reason.UNSUPPORTED_FORMAT, f"{name} files are not accepted")
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<?xml", b"<svg", b"<!doctype svg")):
        raise PhotoError(Reason.UNSUPPORTED_FORMAT, "svg files are not accepted")
    raise PhotoError(Reason.CORRUPT_IMAGE, "not a recognisable image file")


def read_limited(stream: BinaryIO, max_bytes: int, chunk_size: int = 1 << 20) -> bytes:
    """Read a stream but never more than max_bytes + 1 bytes of it."""
    buffer = bytearray()
    while len(buffer) <= max_bytes:
        chunk = stream.read(min(chunk_size, max_bytes + 1 - len(buffer)))
        if not chunk:
            return bytes(buffer)
        buffer += chunk
    raise PhotoError(Reason.FILE_TOO_LARGE, f"more than {max_bytes} bytes")


def check_byte_size(size: int, limits: PhotoLimits) -> None:
    """Refuse from a known size (file stat, S3 ContentLength) before reading anything."""
    if size > limits.max_bytes:
        raise PhotoError(Reason.FILE_TOO_LARGE, f"{size} bytes > {limits.max_bytes}")
    if size == 0:
        raise PhotoError(Reason.CORRUPT_IMAGE, "empty file")


def decode_photo(data: bytes, limits: PhotoLimits, *, keep_normalised: bool = False) -> DecodedPhoto:
    """Decode untrusted bytes into a DecodedPhoto, or raise PhotoError with a reason code."""
    started = time.perf_counter()
    check_byte_size(len(data), limits)
    fmt = sniff_format(data[:SNIFF_BYTES])
    image = _open_header_only(data, fmt, limits)
    width, height = image.size
    # libheif already applies HEIF's own rotation properties, which the spec says win over EXIF.
    orientation = 1 if fmt == "heif" else _exif_orientation(image)
    if orientation in (5, 6, 7, 8):
        width, height = height, width

    target_side = limits.keep_side if keep_normalised else limits.analysis_side
    try:
        if fmt == "jpeg":
            _draft_for(image, target_side)
        icc_profile = image.info.get("icc_profile")
        image.load()
        rgb = _to_rgb8(image, icc_profile)
    except PhotoError:
        raise
    except Exception as exc:  # any decoder failure on untrusted bytes is a corrupt image
        raise PhotoError(Reason.CORRUPT_IMAGE, f"decoding failed ({type(exc).__name__})") from None
    rgb = _apply_orientation(rgb, orientation)
    decoded_size = rgb.size

    normalised = None
    if keep_normalised:
        normalised = _fit(rgb, limits.keep_side)
        rgb = normalised
    analysis = _fit(rgb, limits.analysis_side)
    return DecodedPhoto(
        format=fmt,
        width=width,
        height=height,
        analysis=np.asarray(analysis),
        analysis_scale=analysis.width / width,
        normalised=normalised,
        decoded_size=decoded_size,
        decode_ms=(time.perf_counter() - started) * 1000,
    )


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """Encode for keeping: plain JPEG with no EXIF, GPS, XMP, ICC or comment segments."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def header_dimensions(data: bytes, fmt: str) -> tuple[int, int] | None:
    """Width and height read straight from the container header, or None if not found.

    Checked before any decoder library sees the bytes: libwebp, for one, allocates the
    whole canvas when a file is merely opened.
    """
    if fmt == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if fmt == "webp":
        kind = data[12:16]
        if kind == b"VP8X" and len(data) >= 30:
            return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
        if kind == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if kind == b"VP8 " and len(data) >= 30:
            return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if fmt == "jpeg":
        return _jpeg_dimensions(data)
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG marker segments to the first start-of-frame header."""
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in _JPEG_SOF_MARKERS:
            return int.from_bytes(data[position + 7 : position + 9], "big"), int.from_bytes(
                data[position + 5 : position + 7], "big"
            )
        position += 2 + length
    return None


def _open_header_only(data: bytes, fmt: str, limits: PhotoLimits) -> Image.Image:
    """Open lazily (header only), enforcing the pixel limit before anything is decoded."""
    claimed = header_dimensions(data, fmt)
    if claimed is not None and claimed[0] * claimed[1] > limits.max_pixels:
        raise PhotoError(Reason.IMAGE_TOO_LARGE, f"{claimed[0]}x{claimed[1]} pixels > {limits.max_pixels}")
    try:
        with warnings.catch_warnings():
            # Our own limit below is the one that counts; Pillow's is only a second net.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[fmt]])
    except Image.DecompressionBombError:
        raise PhotoError(Reason.IMAGE_TOO_LARGE, "pixel count far above the limit") from None
    except Exception as exc:
        raise PhotoError(Reason.CORRUPT_IMAGE, f"unreadable {fmt} header ({type(exc).__name__})") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise PhotoError(Reason.CORRUPT_IMAGE, "zero-sized image")
    if width * height > limits.max_pixels:
        raise PhotoError(Reason.IMAGE_TOO_LARGE, f"{width}x{height} pixels > {limits.max_pixels}")
    # HEIF containers may hold several stills (bursts, depth); we use the primary image.
    if fmt != "heif" and getattr(image, "is_animated", False):
        raise PhotoError(Reason.UNSUPPORTED_FORMAT, f"animated {fmt} files are not accepted")
    if fmt == "png":
        # Pillow decodes damaged PNG pixel data to silent black; the chunk CRCs catch it
        # without inflating anything. verify() consumes the file, so it is opened again.
        try:
            image.verify()
            image = Image.open(io.BytesIO(data), formats=["PNG"])
        except Exception as exc:
            raise PhotoError(Reason.CORRUPT_IMAGE, f"damaged png ({type(exc).__name__})") from None
    return image


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a malformed EXIF block must not reject an otherwise good photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _draft_for(image: Image.Image, target_side: int) -> None:
    """Ask libjpeg to scale by 1/2, 1/4 or 1/8 while decoding, staying >= 3/4 of the target."""
    long_side = max(image.size)
    ratio = 0.75 * target_side / long_side
    if ratio < 1:
        request = (math.ceil(image.width * ratio), math.ceil(image.height * ratio))
        image.draft(image.mode, request)


def _to_rgb8(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Any mode (CMYK, 16-bit, palette, grey, alpha) to 8-bit sRGB without surprises."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit sources span 0..65535; 'I'/'F' may already be in 0..255.
        peak = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*NEUTRAL_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if icc_profile and mode in ("RGB", "CMYK"):
        converted = _icc_to_srgb(image, icc_profile)
        if converted is not None:
            return converted
    return image if mode == "RGB" else image.convert("RGB")


def _icc_to_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image | None:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if _is_srgb(source):
            return None
        return ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
    except Exception:  # a broken or exotic profile: fall back to treating the data as sRGB
        return None


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    description = ImageCms.getProfileDescription(profile) or ""
    return "srgb" in description.lower()


def _apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    return image.transpose(method) if method is not None else image


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


__all__ = [
    "ACCEPTED_FORMATS",
    "DecodedPhoto",
    "PhotoError",
    "check_byte_size",
    "decode_photo",
    "encode_jpeg",
    "header_dimensions",
    "read_limited",
    "sniff_format",
]
