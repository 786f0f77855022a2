"""Safe photo intake: sniffing, limits, orientation, colour modes, reduced decoding, stripping."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from headshot.photos import (
    PhotoError,
    decode_photo,
    encode_jpeg,
    header_dimensions,
    read_limited,
    sniff_format,
)
from headshot.reasons import Reason
from headshot.settings import PhotoLimits
from tests.support import images

LIMITS = PhotoLimits()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (images.encode(Image.new("RGB", (8, 8)), "JPEG"), "jpeg"),
        (images.encode(Image.new("RGB", (8, 8)), "PNG"), "png"),
        (images.encode(Image.new("RGB", (8, 8)), "WEBP"), "webp"),
        (images.heic(Image.new("RGB", (64, 64), "white")), "heif"),
    ],
)
def test_format_is_sniffed_from_the_bytes(data: bytes, expected: str) -> None:
    assert sniff_format(data[:64]) == expected


def test_a_misnamed_file_is_judged_by_its_bytes() -> None:
    # Given GIF bytes (whatever the file is called) / When sniffed / Then unsupported_format
    with pytest.raises(PhotoError) as error:
        sniff_format(images.animated("GIF")[:64])
    assert error.value.reason is Reason.UNSUPPORTED_FORMAT


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", Reason.UNSUPPORTED_FORMAT),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", Reason.UNSUPPORTED_FORMAT),
        (b"  \n<svg xmlns='http://www.w3.org/2000/svg'>", Reason.UNSUPPORTED_FORMAT),
        (b"hello, this is text", Reason.CORRUPT_IMAGE),
    ],
)
def test_other_containers_are_refused(head: bytes, reason: Reason) -> None:
    with pytest.raises(PhotoError) as error:
        sniff_format(head)
    assert error.value.reason is reason


def test_read_limited_never_reads_past_the_limit() -> None:
    # Given a 10 MB stream that counts what is read from it
    class CountingStream(io.BytesIO):
        consumed = 0

        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            CountingStream.consumed += len(chunk)
            return chunk

    stream = CountingStream(b"\xff" * 10_000_000)
    # When read with a 1 MB limit / Then file_too_large after at most limit + 1 bytes
    with pytest.raises(PhotoError) as error:
        read_limited(stream, 1_000_000)
    assert error.value.reason is Reason.FILE_TOO_LARGE
    assert CountingStream.consumed == 1_000_001


def test_read_limited_returns_small_streams_whole() -> None:
    assert read_limited(io.BytesIO(b"abc"), 10) == b"abc"


def test_png_bomb_is_refused_from_its_header_with_flat_memory() -> None:
    # Given a real 40000x40000 PNG (1.6 GB of pixels, ~1.5 MB on disk), decoded in a fresh
    # process so its peak resident memory can be read
    script = textwrap.dedent(
        """
        import json, resource, sys
        from tests.support.images import png_bomb
        from headshot.photos import PhotoError, decode_photo
        from headshot.settings import PhotoLimits
        data = png_bomb()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            decode_photo(data, PhotoLimits())
        except PhotoError as error:
            reason = error.reason.value
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"size": len(data), "reason": reason, "grew_kb": after - before}))
        """
    )
    # When it is decoded
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    outcome = json.loads(done.stdout)
    # Then it is image_too_large and peak memory did not grow by even 10 MB
    assert outcome["size"] < 2_000_000
    assert outcome["reason"] == "image_too_large"
    assert outcome["grew_kb"] < 10_000


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (images.jpeg_claiming(60000, 50000), (60000, 50000)),
        (images.webp_claiming(16000, 9000), (16000, 9000)),
        (images.encode(Image.new("RGB", (37, 21)), "WEBP", lossless=True), (37, 21)),
        (images.encode(Image.new("RGB", (37, 21)), "WEBP", quality=80), (37, 21)),
        (images.encode(Image.new("RGB", (37, 21)), "JPEG", progressive=True), (37, 21)),
    ],
)
def test_header_dimensions_are_read_without_a_decoder(data: bytes, size: tuple[int, int]) -> None:
    assert header_dimensions(data, sniff_format(data[:64])) == size


def test_phone_photo_is_decoded_reduced_not_at_full_size() -> None:
    # Given a 12 MP JPEG
    data = images.upscaled_phone_photo(images.astronaut())
    # When decoded for analysis
    photo = decode_photo(data, LIMITS)
    # Then the decoder itself produced at most ~1.5x the analysis size (DCT scaling), and the
    # analysis image fits the analysis side, while the original size is still reported
    assert max(photo.decoded_size) <= 1.5 * LIMITS.analysis_side
    assert max(photo.analysis.shape[:2]) <= LIMITS.analysis_side
    assert (photo.width, photo.height) == (4032, 3024)


def test_normalised_copy_fits_the_keep_size() -> None:
    photo = decode_photo(images.upscaled_phone_photo(images.astronaut()), LIMITS, keep_normalised=True)
    assert photo.normalised is not None
    assert max(photo.normalised.size) <= LIMITS.keep_side
    assert photo.normalised.mode == "RGB"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_before_anything_else(orientation: int) -> None:
    # Given an upright image with a red marker top-left, stored rotated with an EXIF tag
    upright = Image.new("RGB", (300, 200), (0, 0, 255))
    upright.paste((255, 0, 0), (0, 0, 60, 60))
    # When decoded
    photo = decode_photo(images.stored_for_orientation(upright, orientation), LIMITS)
    # Then it is upright again: same size, marker top-left
    assert (photo.width, photo.height) == (300, 200)
    assert photo.analysis.shape[:2] == (200, 300)
    red, _, blue = photo.analysis[20, 20]
    assert red > 200 and blue < 60


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.new("L", (32, 32), 200), (200, 200, 200)),
        (Image.new("1", (32, 32), 1), (255, 255, 255)),
        (Image.new("CMYK", (32, 32), (0, 0, 0, 0)), (255, 255, 255)),
        (Image.new("RGBA", (32, 32), (255, 0, 0, 0)), (128, 128, 128)),  # fully transparent → neutral grey
        (Image.new("LA", (32, 32), (0, 255)), (0, 0, 0)),
        (Image.new("I;16", (32, 32), 65535), (255, 255, 255)),
        (Image.new("I;16", (32, 32), 32896), (128, 128, 128)),
    ],
)
def test_colour_modes_become_8_bit_rgb(image: Image.Image, expected: tuple[int, int, int]) -> None:
    fmt = "JPEG" if image.mode == "CMYK" else "PNG"
    photo = decode_photo(images.encode(image, fmt), LIMITS)
    assert photo.analysis.dtype == np.uint8 and photo.analysis.shape[2] == 3
    assert np.abs(photo.analysis[16, 16].astype(int) - expected).max() <= 2


def test_palette_transparency_is_composited_on_neutral_grey() -> None:
    palette_image = Image.new("P", (16, 16), 0)
    palette_image.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    palette_image.info["transparency"] = 0
    photo = decode_photo(images.encode(palette_image), LIMITS)
    assert tuple(photo.analysis[8, 8]) == (128, 128, 128)


def test_normalised_copy_carries_no_exif_or_gps() -> None:
    # Given a JPEG with EXIF GPS and camera data
    data = images.with_gps(images.astronaut())
    assert b"Exif" in data and b"TestCam" in data
    # When normalised and re-encoded for keeping
    photo = decode_photo(data, LIMITS, keep_normalised=True)
    assert photo.normalised is not None
    kept = encode_jpeg(photo.normalised)
    # Then no EXIF, GPS, XMP or ICC survives
    reopened = Image.open(io.BytesIO(kept))
    assert not reopened.getexif()
    assert b"Exif" not in kept and b"TestCam" not in kept and b"http://ns.adobe.com/xap" not in kept
    assert "icc_profile" not in reopened.info


def test_srgb_tagged_photo_keeps_its_values() -> None:
    # Given a green image tagged with an sRGB ICC profile
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    tagged = images.encode(Image.new("RGB", (16, 16), (0, 200, 0)), "PNG", icc_profile=profile.tobytes())
    # When decoded / Then no needless colour conversion changes the pixels
    photo = decode_photo(tagged, LIMITS)
    assert np.abs(photo.analysis[8, 8].astype(int) - (0, 200, 0)).max() <= 1


def test_decoder_errors_on_untrusted_bytes_become_corrupt_image() -> None:
    # Given a PNG whose pixel data was overwritten with garbage after the header
    data = bytearray(images.encode(images.astronaut()))
    data[100:4000] = images.random_bytes(3900)
    # When decoded / Then corrupt_image, not an exception escaping
    with pytest.raises(PhotoError) as error:
        decode_photo(bytes(data), LIMITS)
    assert error.value.reason is Reason.CORRUPT_IMAGE
