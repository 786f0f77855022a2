"""Encoding outputs with AI-disclosure metadata (IPTC Digital Source Type in XMP) only.

Outputs are encoded from bare pixel arrays, so no EXIF (and no GPS) can come along from
the uploads; the only metadata written is the XMP packet below:
- PNG: an uncompressed iTXt chunk with the keyword "XML:com.adobe.xmp" (XMP spec part 3);
- JPEG: an APP1 segment "http://ns.adobe.com/xap/1.0/\\0" + packet, right after JFIF's APP0.
"""

from __future__ import annotations

import io
from typing import Final
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from headshot_inference import __version__

XMP_PNG_KEYWORD: Final = "XML:com.adobe.xmp"
XMP_JPEG_HEADER: Final = b"http://ns.adobe.com/xap/1.0/\x00"
CONTENT_TYPES: Final = {"jpeg": "image/jpeg", "png": "image/png"}
EXTENSIONS: Final = {"jpeg": "jpg", "png": "png"}
JPEG_QUALITY: Final = 92


def xmp_packet(digital_source_type: str, *, backend: str) -> bytes:
    """A minimal XMP packet declaring how the image was made (IPTC Photo Metadata 2023.1+)."""
    tool = quoteattr(f"headshot-inference {__version__} ({backend} backend)")
    dst = quoteattr(digital_source_type)
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        f"    Iptc4xmpExt:DigitalSourceType={dst}\n"
        f"    xmp:CreatorTool={tool}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    )
    return packet.encode("utf-8")


def encode(rgb: np.ndarray, fmt: str, xmp: bytes) -> bytes:
    """PNG or JPEG bytes of an RGB uint8 array, carrying `xmp` and no other metadata."""
    image = Image.fromarray(rgb, "RGB")
    buffer = io.BytesIO()
    if fmt == "png":
        info = PngInfo()
        info.add_itxt(XMP_PNG_KEYWORD, xmp.decode("utf-8"), zip=False)
        # compress_level 3: a third of the time of the default for ~5% more bytes.
        image.save(buffer, "PNG", pnginfo=info, compress_level=3)
        return buffer.getvalue()
    if fmt == "jpeg":
        # 4:4:4 chroma: skin tones and hair edges stay clean at a modest size cost.
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=True)
        return _insert_jpeg_xmp(buffer.getvalue(), xmp)
    raise ValueError(f"unknown output format {fmt!r}")


def _insert_jpeg_xmp(data: bytes, xmp: bytes) -> bytes:
    payload = XMP_JPEG_HEADER + xmp
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("XMP packet too large for one APP1 segment")
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    position = 2  # after SOI
    if data[2:4] == b"\xff\xe0":  # JFIF APP0 must stay first
        position = 4 + int.from_bytes(data[4:6], "big")
    return data[:position] + segment + data[position:]


def read_xmp(data: bytes) -> bytes | None:
    """The XMP packet of a PNG or JPEG we wrote (for tests and the CLI), or None."""
    image = Image.open(io.BytesIO(data))
    if image.format == "PNG":
        text = image.text.get(XMP_PNG_KEYWORD) if hasattr(image, "text") else None
        return text.encode("utf-8") if isinstance(text, str) else None
    for marker, content in getattr(image, "applist", []):
        if marker == "APP1" and content.startswith(XMP_JPEG_HEADER):
            packet: bytes = content[len(XMP_JPEG_HEADER) :]
            return packet
    return None
