"""The one background parser, shared by the Python API and the CLI.

:func:`parse_background` turns what a user passes as a background into what the composite
stage takes: ``None`` (keep the alpha: BGRA output), ``"blur"`` (the frame blurred), a
``(B, G, R)`` tuple of ints 0..255, a uint8 HxWx3 BGR image (resized to cover the frame), or a
:class:`VideoBackground` (a video file played in a loop, one frame per matted frame).
:class:`Backgrounds` keeps the parsed value between calls, so that an API caller passing the same
``"green"``, image path or video path each frame parses it once (and a video advances).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Tuple, Union

import numpy as np

from .errors import InputError
from .files import user_path
from .validate import check_colour, describe

__all__ = ["Background", "Backgrounds", "COLOURS", "VideoBackground", "cover", "parse_background", "parse_colour"]

#: what the composite stage takes after parsing
Background = Union[np.ndarray, Tuple[int, int, int], str, "VideoBackground", None]

#: colour names, as (R, G, B)
COLOURS = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "red": (255, 0, 0),
    "green": (0, 177, 64),
    "blue": (0, 71, 187),
}

_EXPECTED = (
    f"expected None, 'blur', a colour name ({', '.join(sorted(COLOURS))}), '#RRGGBB', 'R,G,B', "
    "a (B, G, R) tuple of 3 ints 0..255, an image or video file, a PIL image or a uint8 HxWx3 BGR image"
)
#: the same for a command-line option (``name`` starting with "-"): only what can be typed there
_EXPECTED_CLI = (
    f"expected 'blur', a colour name ({', '.join(sorted(COLOURS))}), #rrggbb (6 hex digits), "
    "R,G,B (3 whole numbers 0..255, e.g. 0,177,64) or an image or video file"
)


def parse_background(value: Any, *, name: str = "background") -> Background:
    """``value`` -> None, "blur", a (B, G, R) tuple of ints or a uint8 HxWx3 BGR image; else InputError.

    Text: "blur", a colour name, "#RRGGBB" or "R,G,B" (RGB order, as people write colours), or an
    image path. Tuples, lists and 1-D arrays are (B, G, R) ints 0..255 (OpenCV order, as
    :func:`edgematte.composite` takes them): bools, floats and strings are refused. ``name`` is
    what error messages call the value; a command-line option (the CLI passes ``--background``)
    gets messages that speak the command line (colour names, #rrggbb, R,G,B, files).
    """
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        try:
            path = Path(value)
        except TypeError:  # an os.PathLike whose __fspath__ gives no str
            raise InputError(
                f"received {name} {type(value).__name__}, which names no path; {_expected(name)}"
            ) from None
        return _open_file(path)
    if _is_pil(value):
        from .io import to_bgr

        return to_bgr(value, name=name)
    if isinstance(value, str):
        return _parse_text(value, name)
    if isinstance(value, (bytes, bytearray)):
        raise InputError(f"received {name} {describe(value)}; {_expected(name)}")
    if isinstance(value, np.ndarray) and value.ndim != 1:
        if value.dtype != np.uint8 or value.ndim != 3 or value.shape[2] != 3 or 0 in value.shape:
            raise InputError(f"received a {name} of {value.dtype} {value.shape}; {_expected(name)}")
        return value
    try:
        return check_colour(value, name)  # the composite kernel's own rule
    except InputError as exc:  # the API says what the CLI says: every kind of background it takes
        raise InputError(f"received {name} colour {_show(value)}; {_expected(name)}") from exc


def _parse_text(value: str, name: str) -> Background:
    """A background given as text: "blur", a colour, or an existing file."""
    text = value.strip()
    if text.lower() == "blur":
        return "blur"
    rgb = parse_colour(text)
    if rgb is not None:
        return (rgb[2], rgb[1], rgb[0])
    path = user_path(text) if text else None
    if path is not None and _is_file(path):
        return _open_file(path)
    parts = [p.strip().lstrip("+-") for p in text.split(",")]
    if len(parts) == 3 and all(p.isascii() and p.isdigit() for p in parts):
        raise InputError(f"received {name} {_show(value)}, whose values are not all in 0..255; expected R,G,B "
                         "with each value a whole number 0..255, e.g. 0,177,64")
    raise InputError(f"received {name} {_show(value)}, which is no colour and no existing file; {_expected(name)}")


def _expected(name: str) -> str:
    """What a message says is expected: the command line's forms for an option, else the API's."""
    return _EXPECTED_CLI if name.startswith("-") else _EXPECTED


def _show(value: Any) -> str:
    """A received value for a message: its repr on one line (an array's dtype and shape), shortened when long."""
    text = describe(value) if isinstance(value, np.ndarray) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for names the OS refuses (too long, NUL bytes, unencodable)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def parse_colour(text: str) -> Optional[Tuple[int, int, int]]:
    """A colour name, "#RRGGBB" or "R,G,B" -> (R, G, B); None when ``text`` is none of these."""
    text = text.strip()
    if text.lower() in COLOURS:
        return COLOURS[text.lower()]
    if text.startswith("#") and len(text) == 7 and all(c in "0123456789abcdefABCDEF" for c in text[1:]):
        return (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 3 and all(p.isascii() and p.isdigit() and int(p) <= 255 for p in parts):
        return (int(parts[0]), int(parts[1]), int(parts[2]))
    return None


def _is_pil(value: Any) -> bool:
    return hasattr(value, "mode") and hasattr(value, "convert") and hasattr(value, "getbands")


def _open_file(path: Path) -> Union[np.ndarray, "VideoBackground"]:
    """An image file as uint8 HxWx3 BGR, or a video file as a looping VideoBackground."""
    from .io import IMAGE_SUFFIXES, read_image

    if path.suffix.lower() in IMAGE_SUFFIXES:
        return read_image(path)
    return VideoBackground(path)


class VideoBackground:
    """A video file played in a loop: :meth:`next_frame` gives its next uint8 HxWx3 BGR frame."""

    def __init__(self, path: "os.PathLike[str]") -> None:
        from .io import VideoFile

        self.path = Path(path)
        self._video = VideoFile(path)
        self._frames = iter(self._video)

    def next_frame(self) -> np.ndarray:
        frame = next(self._frames, None)
        if frame is None:  # the end: start again
            self._video.close()
            self.__init__(self.path)
            frame = next(self._frames, None)
            if frame is None:
                raise InputError(f"received background video {str(self.path)!r}, which has no frame; expected frames")
        return frame[..., :3].copy() if frame.shape[2] == 4 else frame  # a background's own alpha is not used

    def close(self) -> None:
        self._video.close()


class Backgrounds:
    """Parse backgrounds once and hand out the frame to composite on each call.

    ``backgrounds(value)`` parses ``value`` with :func:`parse_background` unless it is the value
    of the previous call (the same object, or equal text, or an equal path), and returns what the
    composite stage takes for this frame: a video background gives its next frame. Values are
    compared by identity, or as text or paths when both are; never with ``==`` on other objects
    (an array's ``==`` is an array).
    """

    def __init__(self, name: str = "background") -> None:
        self._name = name
        self._value: Any = None
        self._key: Optional[Tuple[str, str]] = None
        self._parsed: Background = None

    def __call__(self, value: Any) -> Union[np.ndarray, Tuple[int, int, int], str, None]:
        parsed = self.parse(value)
        return parsed.next_frame() if isinstance(parsed, VideoBackground) else parsed

    def parse(self, value: Any) -> Background:
        """``value`` parsed (kept from the previous call when it is the same value); a video does not advance."""
        key = _text_key(value)
        if not (value is self._value or (key is not None and key == self._key)):
            self.close()
            self._parsed = parse_background(value, name=self._name)
            self._value, self._key = value, key
        return self._parsed

    def close(self) -> None:
        if isinstance(self._parsed, VideoBackground):
            self._parsed.close()
        self._value = self._parsed = self._key = None


def _text_key(value: Any) -> Optional[Tuple[str, str]]:
    """("text", value) for a str, ("path", its text) for a path, None for anything else (compared by identity)."""
    if isinstance(value, str):
        return ("text", str(value))
    if isinstance(value, os.PathLike):
        try:
            path = os.fspath(value)
        except TypeError:  # __fspath__ gave neither str nor bytes: parse_background refuses it
            return None
        return ("path", path) if isinstance(path, str) else None
    return None


def cover(image: np.ndarray, out: np.ndarray) -> None:
    """Resize ``image`` (uint8 HxWx3) to cover ``out`` keeping its aspect, centre-cropped, into ``out``.

    Memory stays O(frame). When the resized image would hold more than 4 frames' pixels (a long
    strip: a 1x2000 background behind 1280x720 would be resized to 1,440,000x720), only the source
    pixels that cover the frame, and 2 more on each side for the interpolation, are resized, at the
    same scale, into a crop placed to the nearest resized pixel: within half an output pixel of the
    whole resize. Backgrounds whose aspect is within 4x of the frame's are resized whole, as before.
    """
    import cv2

    h, w = out.shape[:2]
    ih, iw = image.shape[:2]
    scale = max(h / ih, w / iw)
    rh, rw = max(h, round(ih * scale)), max(w, round(iw * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    y, x = (rh - h) // 2, (rw - w) // 2
    if rh * rw <= 4 * h * w:
        resized = cv2.resize(image, (rw, rh), interpolation=interpolation)
        np.copyto(out, resized[y : y + h, x : x + w])
        return

    def span(n: int, resized: int, offset: int, size: int) -> Tuple[slice, int, int]:
        """Source pixels covering resized [offset, offset + size) with 2 to spare, and their resized start and end."""
        step = resized / n  # resized pixels per source pixel
        first, end = max(0, int(offset / step) - 2), min(n, int(np.ceil((offset + size) / step)) + 2)
        return slice(first, end), round(first * step), round(end * step)

    (rows, top, bottom), (cols, left, right) = span(ih, rh, y, h), span(iw, rw, x, w)
    part = cv2.resize(image[rows, cols], (right - left, bottom - top), interpolation=interpolation)
    np.copyto(out, part[y - top : y - top + h, x - left : x - left + w])
