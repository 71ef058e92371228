"""Trimap and compositing kernels: public API, validation and dispatch.

Implementations share one contract (validated here, once) and one algorithm:
``reference`` (:mod:`._reference`, NumPy + OpenCV, the executable specification) and ``cpu``
(:mod:`._cpu`, C + OpenMP via Cython). :func:`make_trimap` and :func:`composite` use ``cpu``
for NumPy arrays; :func:`kernels` gives any implementation by name (used by tests and benches).

Arrays must be C-contiguous within each row (row-strided views such as crops are used in
place); other layouts (``img[..., ::-1]``, transposes) are copied once with a RuntimeWarning.
"""

from __future__ import annotations

import importlib

import numpy as np

from ..errors import BackendUnavailableError, InputError
from . import _validate as v

__all__ = ["IMPLEMENTATIONS", "Kernels", "composite", "kernels", "make_trimap"]

#: Implementation name -> module implementing ``make_trimap`` and ``composite`` on validated arguments.
IMPLEMENTATIONS = {
    "reference": "edgematte.kernels._reference",
    "cpu": "edgematte.kernels._cpu",
}

_U8 = (np.dtype(np.uint8),)
_U8_F32 = (np.dtype(np.uint8), np.dtype(np.float32))


class Kernels:
    """The public kernels bound to one implementation (``kernels("cpu")``)."""

    def __init__(self, name: str):
        if name not in IMPLEMENTATIONS:
            raise InputError(f"kernel implementation {name!r} is unknown; expected one of {sorted(IMPLEMENTATIONS)}")
        self.name = name
        self._module = None

    def __repr__(self) -> str:
        return f"Kernels({self.name!r})"

    @property
    def module(self):
        """The implementing module, imported on first use."""
        if self._module is None:
            try:
                self._module = importlib.import_module(IMPLEMENTATIONS[self.name])
            except ImportError as exc:
                hint = "reinstall edgematte with a C compiler" if self.name == "cpu" else "pip install edgematte"
                raise BackendUnavailableError(f"kernel implementation {self.name!r} is unavailable ({exc}); {hint}") from exc
        return self._module

    def make_trimap(self, mask, kernel_size=7, iterations=3, fg_threshold=254, bg_threshold=1, *, out=None,
                    threads=None) -> np.ndarray:
        """Trimap of a mask: 255 known foreground, 0 known background, 128 unknown.

        mask: uint8 HxW 0..255, or float32 HxW in [0, 1] read as round-half-even(x * 255) in float32.
        Exactly the OpenCV seed code: with k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
        (kernel_size, kernel_size)), 255 where cv2.erode(mask, k, iterations=iterations) >= fg_threshold,
        0 where cv2.dilate(mask, k, iterations=iterations) <= bg_threshold, 128 elsewhere (default borders).
        kernel_size: odd, >= 1; iterations >= 1; (kernel_size // 2) * iterations <= 128.
        Thresholds: ints with 0 <= bg_threshold < fg_threshold <= 255 (so the two regions never meet).
        out: optional uint8 HxW with contiguous rows, not overlapping mask. threads: None = all cores.
        Returns out (uint8 HxW, values {0, 128, 255}).
        """
        mask = v.check_array("mask", mask, 2, _U8_F32, "HxW uint8 (0..255) or float32 (0..1)")
        kernel_size = v.check_int("kernel_size", kernel_size, 1, 2 * v.MAX_TRIMAP_RADIUS + 1)
        if kernel_size % 2 == 0:
            raise InputError(f"kernel_size is {kernel_size}; expected an odd int >= 1")
        iterations = v.check_int("iterations", iterations, 1, v.MAX_TRIMAP_RADIUS)
        if (kernel_size // 2) * iterations > v.MAX_TRIMAP_RADIUS:
            raise InputError(
                f"kernel_size={kernel_size}, iterations={iterations} reach a radius of "
                f"{(kernel_size // 2) * iterations}; expected (kernel_size // 2) * iterations <= {v.MAX_TRIMAP_RADIUS}"
            )
        fg = v.check_int("fg_threshold", fg_threshold, 1, 255)
        bg = v.check_int("bg_threshold", bg_threshold, 0, 254)
        if bg >= fg:
            raise InputError(f"bg_threshold={bg} >= fg_threshold={fg}; expected bg_threshold < fg_threshold")
        threads = v.check_threads(threads)
        out = v.check_out(out, mask.shape, [mask])
        if self.name == "reference":
            v.check_unit_range("mask", mask)
        self.module.make_trimap(mask, kernel_size, iterations, fg, bg, out, threads)
        return out

    def composite(self, image, alpha, background=None, *, out=None, threads=None) -> np.ndarray:
        """Blend image over background: round(I * a + B * (1 - a)), every value within 1 of the float formula.

        image: uint8 HxWx3 (channel order passed through). alpha: uint8 HxW (a = alpha / 255) or
        float32 HxW in [0, 1]. background: uint8 HxWx3, a colour of 3 ints 0..255 (same channel order),
        or None: then the result is HxWx4, the image with round(alpha * 255) as fourth channel.
        out: optional uint8 HxWx3 (HxWx4) with contiguous rows; it may be exactly ``image`` or
        ``background`` (in-place) but must not otherwise overlap an input. threads: None = all cores.
        Returns out.
        """
        image = v.check_array("image", image, 3, _U8, "HxWx3 uint8", channels=3)
        alpha = v.check_array("alpha", alpha, 2, _U8_F32, "HxW uint8 (0..255) or float32 (0..1)")
        if alpha.shape != image.shape[:2]:
            raise InputError(f"alpha has shape {alpha.shape} but image {image.shape}; expected alpha of shape "
                             f"{image.shape[:2]}")
        colour = None
        if isinstance(background, np.ndarray) and background.ndim != 1:
            background = v.check_array("background", background, 3, _U8, "HxWx3 uint8", channels=3)
            if background.shape != image.shape:
                raise InputError(f"background has shape {background.shape} but image {image.shape}; expected "
                                 f"the image's shape")
        elif background is not None:
            colour = _check_colour(background)
            background = None
        threads = v.check_threads(threads)
        shape = image.shape[:2] + (3 if background is not None or colour is not None else 4,)
        out = v.check_out(out, shape, [image, alpha, background], exact_alias_ok=[image, background])
        if self.name == "reference":
            v.check_unit_range("alpha", alpha)
        self.module.composite(image, alpha, background, colour, out, threads)
        return out


def _check_colour(colour):
    """A background colour: 3 ints in 0..255."""
    try:
        items = list(colour)
    except TypeError:
        raise InputError(f"background is {v.describe(colour)}; expected an HxWx3 uint8 array, 3 ints or None") from None
    if len(items) != 3:
        raise InputError(f"background colour has {len(items)} values; expected 3 ints in 0..255")
    return tuple(v.check_int("background colour value", c, 0, 255) for c in items)


_KERNELS: dict = {}


def kernels(name: str = "cpu") -> Kernels:
    """The kernels of one implementation: ``"reference"`` or ``"cpu"``."""
    if name not in _KERNELS:
        _KERNELS[name] = Kernels(name)
    return _KERNELS[name]


def _for(arr) -> Kernels:
    """Dispatch point: NumPy arrays run on the native CPU kernels (a GPU implementation hooks in here)."""
    return kernels("cpu")


def make_trimap(mask, kernel_size=7, iterations=3, fg_threshold=254, bg_threshold=1, *, out=None, threads=None):
    return _for(mask).make_trimap(mask, kernel_size, iterations, fg_threshold, bg_threshold, out=out, threads=threads)


def composite(image, alpha, background=None, *, out=None, threads=None):
    return _for(image).composite(image, alpha, background, out=out, threads=threads)


make_trimap.__doc__ = Kernels.make_trimap.__doc__
composite.__doc__ = Kernels.composite.__doc__
