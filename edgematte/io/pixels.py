"""The decoded-pixel limit: images and videos larger than it are refused before they are decoded.

A 2.6 MB PNG can announce 30000x30000 pixels (2.7 GB decoded); a service matting uploaded files
must not decode it. The limit (width x height of one image or video frame) is :data:`MAX_PIXELS`,
100 MP, unless ``EDGEMATTE_MAX_PIXELS`` (a whole number of pixels, 0 for none) or the CLI's
``--max-pixels`` says otherwise. Images are checked from their header (:func:`image_size`: PNG,
JPEG, GIF, BMP, WebP, TIFF, PNM/PFM) before decoding; the rarer formats OpenCV also reads (EXR,
HDR, JPEG 2000, ...) are checked after decoding, OpenCV itself refusing more than 2**30 pixels.
Videos are checked from their container's stream header when they are opened.
"""

from __future__ import annotations

import os
import re
import struct
from typing import Callable, Dict, Optional, Tuple

from ..errors import InputError

__all__ = ["MAX_PIXELS", "MAX_PIXELS_ENV", "max_pixels", "parse_max_pixels", "check_pixels", "image_size"]

#: the default decoded-pixel limit (width x height of one image or video frame): 100 MP
MAX_PIXELS = 100_000_000
#: the environment variable that changes it (a whole number of pixels; 0: no limit); the CLI's --max-pixels sets it
MAX_PIXELS_ENV = "EDGEMATTE_MAX_PIXELS"


def parse_max_pixels(text: str, name: str = MAX_PIXELS_ENV) -> int:
    """``text`` (a whole number of pixels, 0 for no limit) -> int; InputError naming ``name`` otherwise."""
    try:
        value = int(str(text).strip())
    except ValueError:
        value = -1
    if value < 0:
        raise InputError(f"received {name}={text!r}; expected a whole number of pixels such as 250000000 (0: no limit)")
    return value


def max_pixels() -> int:
    """The decoded-pixel limit in force: ``$EDGEMATTE_MAX_PIXELS`` when set, else :data:`MAX_PIXELS`; 0 is none."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    return parse_max_pixels(text) if text else MAX_PIXELS


def check_pixels(width: int, height: int, name: str) -> None:
    """InputError when a ``width`` x ``height`` image or frame (``name``) exceeds :func:`max_pixels`."""
    limit = max_pixels()
    if limit and width * height > limit:
        raise InputError(
            f"received {name}, {width}x{height} pixels ({width * height / 1e6:.0f} MP); expected at most "
            f"{limit / 1e6:g} MP, the decoded-pixel limit (raise it with {MAX_PIXELS_ENV}=N or --max-pixels N; "
            "0 for none)"
        )


def image_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) read from the header of PNG, JPEG, GIF, BMP, WebP, TIFF and PNM/PFM image bytes, without
    decoding; None for other formats and for headers that do not parse (never raises)."""
    try:
        for magic, reader in _HEADER_READERS:
            if data.startswith(magic):
                size = reader(data)
                return size if size and size[0] > 0 and size[1] > 0 else None
    except (struct.error, ValueError, IndexError, KeyError):
        pass
    return None


def _png_size(data: bytes) -> Tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def _gif_size(data: bytes) -> Tuple[int, int]:
    return struct.unpack("<HH", data[6:10])


def _bmp_size(data: bytes) -> Tuple[int, int]:
    if struct.unpack("<I", data[14:18])[0] == 12:  # BITMAPCOREHEADER
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height is a top-down bitmap


def _webp_size(data: bytes) -> Optional[Tuple[int, int]]:
    if data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = struct.unpack("<I", data[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            at += 2
            continue
        length = struct.unpack(">H", data[at + 2 : at + 4])[0]
        if marker in _JPEG_FRAMES:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        if marker in (0xD9, 0xDA) or length < 2:  # end, or scan data before any frame header
            return None
        at += 2 + length
    return None


_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _tiff_size(data: bytes) -> Optional[Tuple[int, int]]:
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack(order + "H", data[2:4])[0] == 43  # BigTIFF
    if big:
        offset = struct.unpack(order + "Q", data[8:16])[0]
        count, entry, head = struct.unpack(order + "Q", data[offset : offset + 8])[0], 20, 8
    else:
        offset = struct.unpack(order + "I", data[4:8])[0]
        count, entry, head = struct.unpack(order + "H", data[offset : offset + 2])[0], 12, 2
    found: Dict[int, int] = {}
    for i in range(min(count, 4096)):
        at = offset + head + i * entry
        tag, kind = struct.unpack(order + "HH", data[at : at + 4])
        if tag in (256, 257):
            value = data[at + (12 if big else 8) : at + entry]
            found[tag] = struct.unpack(order + {3: "H", 4: "I", 16: "Q"}[kind], value[: {3: 2, 4: 4, 16: 8}[kind]])[0]
    return (found[256], found[257]) if len(found) == 2 else None


def _pnm_size(data: bytes) -> Tuple[int, int]:
    """P1..P6 and PF/Pf: the first two numbers after the magic, skipping comments."""
    words = re.sub(rb"#[^\n]*", b" ", data[2:512]).split()
    return int(words[0]), int(words[1])


_HEADER_READERS: Tuple[Tuple[bytes, Callable[[bytes], Optional[Tuple[int, int]]]], ...] = (
    (b"\x89PNG\r\n\x1a\n", _png_size),
    (b"\xff\xd8", _jpeg_size),
    (b"GIF87a", _gif_size),
    (b"GIF89a", _gif_size),
    (b"BM", _bmp_size),
    (b"RIFF", _webp_size),
    (b"II*\x00", _tiff_size),
    (b"MM\x00*", _tiff_size),
    (b"II+\x00", _tiff_size),
    (b"MM\x00+", _tiff_size),
) + tuple((b"P" + c, _pnm_size) for c in (b"1", b"2", b"3", b"4", b"5", b"6", b"F", b"f"))
