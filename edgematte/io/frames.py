"""Input conversions at the matter's boundary: any supported image -> uint8 HxWx3 BGR plus its own alpha.

Accepted, and what happens to them:

- uint8 HxWx3 in ``channels`` order ("bgr", OpenCV's, by default; "rgb" for arrays from PIL,
  imageio or torchvision): used as is / channels reversed. The order is never guessed.
- HxWx4 (BGRA, or RGBA with ``channels="rgb"``): the colour as above; the 4th channel is
  returned as the input alpha, which the matter multiplies into its matte (a transparent pixel
  stays transparent).
- HxW or HxWx1 grey: expanded to three equal channels.
- uint16 (16-bit PNG/TIFF): scaled to uint8 (value / 257, rounded) with a warning.
- PIL images: converted from their mode (RGB, RGBA, L, LA, I;16, P, ...), whatever ``channels`` says.
  Modes I (32-bit integers) and F (32-bit floats) are scaled to 8 bits by the range their values span,
  with a warning: 0..1 (F only), 0..255 or 0..65535 when the values fit one of them, else their own
  minimum..maximum; NaN becomes 0 (PIL's own conversion would clip them: a 16-bit ramp in mode I
  came out almost all white, an F image in 0..1 black).
"""

from __future__ import annotations

import warnings
from typing import Any, Optional, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["CHANNEL_ORDERS", "to_bgr", "split_alpha"]

CHANNEL_ORDERS = ("bgr", "rgb")


def split_alpha(image: Any, *, channels: str = "bgr", name: str = "frame") -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """``image`` (see the module docstring) -> (uint8 HxWx3 BGR, uint8 HxW alpha or None).

    The colour array goes through :func:`edgematte.validate.check_frame` once, converted or not: the one
    frame check, which refuses anything not convertible with the one frame message.
    """
    from ..validate import check_frame

    if channels not in CHANNEL_ORDERS:
        raise InputError(f"received channels={channels!r}; expected one of {CHANNEL_ORDERS}")
    if _is_pil(image):
        image, channels = _from_pil(image, name), "rgb"
    if not _convertible(image, channels):
        return check_frame(image), None
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.dtype == np.uint16:
        warnings.warn(f"{name} is 16-bit; converting it to 8-bit (value / 257)", stacklevel=3)
        image = _to_uint8(image)
    if image.ndim == 2:
        return check_frame(np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2))), None
    colour = image[..., :3] if channels == "bgr" else image[..., 2::-1]
    alpha = np.ascontiguousarray(image[..., 3]) if image.shape[2] == 4 else None
    return check_frame(np.ascontiguousarray(colour)), alpha


def _convertible(image: Any, channels: str) -> bool:
    """An array this module converts: grey, 4 channels, RGB order or 16 bit (not plain uint8 BGR)."""
    if not isinstance(image, np.ndarray) or image.dtype not in (np.uint8, np.uint16) or 0 in image.shape:
        return False
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 4)):
        return True
    return image.ndim == 3 and image.shape[2] == 3 and (channels == "rgb" or image.dtype == np.uint16)


def to_bgr(image: Any, *, channels: str = "bgr", name: str = "image") -> np.ndarray:
    """``image`` -> uint8 HxWx3 BGR, its alpha dropped (for backgrounds and colour-only uses)."""
    return split_alpha(image, channels=channels, name=name)[0]


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """uint16 0..65535 -> uint8 0..255, rounded: (v + 128) // 257."""
    return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _is_pil(image: Any) -> bool:
    return hasattr(image, "mode") and hasattr(image, "convert") and hasattr(image, "getbands")


def _from_pil(image: Any, name: str = "image") -> np.ndarray:
    """A PIL image -> uint8/uint16 HxW, HxWx3 RGB or HxWx4 RGBA array."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image).astype(np.uint16)
    if mode in ("I", "F"):
        return _scaled_to_uint8(np.asarray(image), f"{name} (a PIL image in mode {mode!r})")
    if mode == "L":
        return np.asarray(image)
    has_alpha = "A" in image.getbands() or (mode == "P" and "transparency" in image.info)
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))


def _scaled_to_uint8(values: np.ndarray, name: str) -> np.ndarray:
    """32-bit integers or floats -> uint8 by the range they span (see the module docstring), with a warning."""
    data = values.astype(np.float64)
    finite = data[np.isfinite(data)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    tops = ((1.0,) if values.dtype.kind == "f" else ()) + (255.0, 65535.0)
    top = next((t for t in tops if lo >= 0 and hi <= t), None)
    low, span = (0.0, top) if top is not None else (lo, hi - lo)
    warnings.warn(f"{name} has values {lo:g}..{hi:g}; converting {low:g}..{low + span:g} to 8 bits", stacklevel=5)
    scaled = (np.nan_to_num(data, nan=low) - low) * (255.0 / span if span > 0 else 0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
