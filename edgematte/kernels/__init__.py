"""Trimap and compositing kernels: the one front door (public API, validation, dispatch).

One contract (checked here, once, through :mod:`edgematte.validate`) and one algorithm, several
implementations registered in :data:`IMPLEMENTATIONS`:

- ``reference``: :mod:`._reference`, NumPy + OpenCV, the executable specification;
- ``cpu``: :mod:`._cpu`, C + OpenMP (``csrc/``) through Cython, for NumPy arrays;
- ``cuda``: :mod:`.cuda._launch`, CUDA C (``cuda/*.cu``) for device arrays (``__cuda_array_interface__``:
  CuPy, pycuda, torch).

:func:`make_trimap` and :func:`composite` dispatch by array type (device arrays to ``cuda``, the rest
to ``cpu``); :func:`kernels` gives any implementation by name (tests, benches); :func:`trusted` gives
the native functions without checks, for inner stages that validated their inputs once.

**Float alpha -> uint8**, wherever edgematte turns a float alpha (a model's, a solve's) into uint8, follows one
rule: NaN -> 0, clamped to [0, 1], then round-half-even(x * 255) computed in float32 (so -inf -> 0, +inf ->
255). :meth:`Trusted.unit_to_u8` applies it on the host (``em_unit_to_u8`` in ``em_common.h``, which the
float-alpha kernels read by; ``_reference.unit_to_u8`` is its NumPy twin); it never depends on another
library's handling of those values.

Host arrays must be C-contiguous within each row (row-strided views such as crops are used in
place); other layouts (``img[..., ::-1]``, transposes) are copied once with a RuntimeWarning.

**Loading.** The native modules load on first use, with ``OMP_WAIT_POLICY=PASSIVE`` unless the
environment sets it: OpenMP threads that busy-wait between parallel regions (libgomp's default)
steal the cores ONNX Runtime needs next and slow a whole frame several-fold on small CPUs. The
variable is read when the OpenMP runtime loads, so it takes effect only if nothing loaded OpenMP
earlier in the process.
"""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import validate as v
from ..errors import BackendUnavailableError, InputError, InternalError
from ..validate import is_cuda_array

__all__ = ["IMPLEMENTATIONS", "Kernels", "Trusted", "composite", "kernels", "make_trimap", "native", "trusted"]

#: Implementation name -> module implementing ``make_trimap`` and ``composite`` on validated arguments.
IMPLEMENTATIONS = {
    "reference": "edgematte.kernels._reference",
    "cpu": "edgematte.kernels._cpu",
    "cuda": "edgematte.kernels.cuda._launch",
}
#: implementations that take device arrays
DEVICE = ("cuda",)

_U8 = (np.dtype(np.uint8),)
_U8_F32 = (np.dtype(np.uint8), np.dtype(np.float32))
_MASK = "HxW uint8 (0..255) or float32 (0..1)"
_IMAGE = "HxWx3 uint8"


def native(name: str):
    """The compiled module ``edgematte.kernels.<name>`` (``_cpu``, ``_refine``), loaded with
    ``OMP_WAIT_POLICY=PASSIVE`` by default (see the module docstring); BackendUnavailableError
    naming the cause when it cannot load."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ImportError as exc:
        raise BackendUnavailableError(_why_unavailable(name, exc)) from exc


def _why_unavailable(name: str, exc: ImportError) -> str:
    """Why a compiled kernel module does not load, and the command that fixes it."""
    package = Path(__file__).resolve().parent
    root = package.parent.parent
    if not isinstance(exc, ModuleNotFoundError) or exc.name != f"{__name__}.{name}":
        return (f"the native kernel module {__name__}.{name} in {package} does not load ({exc}); rebuild it for "
                "this Python and platform: pip install --force-reinstall edgematte (from a clone: pip install -e .)")
    if (root / "setup.py").is_file() and (root / "csrc").is_dir():
        why = f"edgematte is imported from the source tree {root}, which has no built kernels"
        installed = _installed_elsewhere(root)
        if installed:
            why += f" (it shadows the edgematte installed in {installed}: Python puts the current directory first)"
        return (f"{why}; build them in place with `pip install -e .` (or `python setup.py build_ext --inplace`) "
                f"in {root}, or run from another directory")
    return (f"edgematte in {package.parent} was installed without its native kernels ({exc}); reinstall it "
            "where a C compiler is available: pip install --force-reinstall --no-binary edgematte edgematte")


def _installed_elsewhere(root: Path) -> str:
    """The site directory of an installed edgematte distribution that is not ``root``, else ''."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution("edgematte")
    except (ImportError, PackageNotFoundError):
        return ""
    site = Path(dist.locate_file("")).resolve()
    return "" if site == root or not (site / "edgematte" / "kernels").is_dir() else str(site)


# GNU OpenMP's thread pool does not survive fork(): a child process that starts a parallel region
# after its parent ran one hangs. So once this process ran a kernel on several threads, its forked
# children run kernels on one thread (with a warning); "spawn"/"forkserver" children are unaffected.
_fork = {"parallel_used": False, "forked_after_parallel": False}


def _after_fork_in_child() -> None:
    if _fork["parallel_used"]:
        _fork["forked_after_parallel"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def threads_now(threads: int) -> int:
    """A checked thread count (0 = all cores) as the native code may use it in this process: 1 in a
    child forked after its parent ran kernels on several threads (OpenMP hangs there otherwise)."""
    if threads == 1:
        return 1
    if _fork["forked_after_parallel"]:
        warnings.warn(
            "edgematte kernels run on one thread in a process forked after its parent ran them on several "
            "(OpenMP cannot start threads after fork); use the 'spawn' or 'forkserver' start method",
            RuntimeWarning,
            stacklevel=4,
        )
        return 1
    _fork["parallel_used"] = True
    return threads


class Kernels:
    """The public kernels bound to one implementation (``kernels("cpu")``)."""

    def __init__(self, name: str):
        if name not in IMPLEMENTATIONS:
            raise InputError(f"kernel implementation is {name!r}; expected one of {sorted(IMPLEMENTATIONS)}")
        self.name = name
        self.device = name in DEVICE
        self._module = None

    def __repr__(self) -> str:
        return f"Kernels({self.name!r})"

    @property
    def module(self):
        """The implementing module, imported on first use."""
        if self._module is None:
            module = IMPLEMENTATIONS[self.name]
            self._module = native(module.rsplit(".", 1)[1]) if self.name == "cpu" else importlib.import_module(module)
        return self._module

    def make_trimap(self, mask, kernel_size=7, iterations=3, fg_threshold=254, bg_threshold=1, *, out=None,
                    threads=None, stream=None):
        """Trimap of a mask: 255 known foreground, 0 known background, 128 unknown.

        mask: uint8 HxW 0..255, or float32 HxW in [0, 1] read as round-half-even(x * 255) in float32.
        Exactly the OpenCV seed code: with k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
        (kernel_size, kernel_size)), 255 where cv2.erode(mask, k, iterations=iterations) >= fg_threshold,
        0 where cv2.dilate(mask, k, iterations=iterations) <= bg_threshold, 128 elsewhere (default borders).
        kernel_size: odd, >= 1; iterations >= 1; (kernel_size // 2) * iterations <= 128.
        Thresholds: ints with 0 <= bg_threshold < fg_threshold <= 255 (so the two regions never meet).
        out: optional uint8 HxW with contiguous rows, not overlapping mask. threads: None = all cores.
        Device arrays (CuPy, pycuda, torch CUDA) run the CUDA kernels on ``stream`` (None: the array's
        own stream) and return a device array; float masks then synchronise to check their values.
        Returns out (uint8 HxW, values {0, 128, 255}).
        """
        mask = self._input("mask", mask, 2, _U8_F32, _MASK)
        k, it, fg, bg = v.check_trimap_params(kernel_size, iterations, fg_threshold, bg_threshold)
        threads = v.check_threads(threads)
        out = self._output(out, mask.shape[:2], [mask], stream=stream)
        if self.device:
            return self.module.make_trimap(mask, k, it, fg, bg, out, stream)
        if self.name == "reference":
            v.check_unit_range("mask", mask)
        self.module.make_trimap(mask, k, it, fg, bg, out, threads_now(threads))
        return out

    def composite(self, image, alpha, background=None, *, out=None, threads=None, stream=None):
        """Blend image over background: round(I * a + B * (1 - a)), every value within 1 of the float formula.

        image: uint8 HxWx3 (channel order passed through). alpha: uint8 HxW (a = alpha / 255) or
        float32 HxW in [0, 1]. background: uint8 HxWx3, a colour of 3 ints 0..255 (same channel order),
        or None: then the result is HxWx4, the image with round(alpha * 255) as fourth channel.
        out: optional uint8 HxWx3 (HxWx4) with contiguous rows; it may be exactly ``image`` or
        ``background`` (in-place) but must not otherwise overlap an input. threads: None = all cores.
        Device arrays run the CUDA kernels as in :meth:`make_trimap`. Returns out.
        """
        image = self._input("image", image, 3, _U8, _IMAGE, channels=3)
        alpha = self._input("alpha", alpha, 2, _U8_F32, _MASK)
        v.check_same_hw("alpha", alpha.shape, "image", image.shape)
        colour = None
        if _is_image(background):
            background = self._input("background", background, 3, _U8, _IMAGE, channels=3)
            if background.shape != image.shape:
                raise InputError(f"background has shape {background.shape} but image {image.shape}; expected "
                                 f"the image's shape")
        elif background is not None:
            colour, background = v.check_colour(background), None
        threads = v.check_threads(threads)
        shape = image.shape[:2] + (3 if background is not None or colour is not None else 4,)
        blended = [image] + ([background] if background is not None else [])
        out = self._output(out, shape, blended + [alpha], blended, stream)
        if self.device:
            return self.module.composite(image, alpha, background, colour, out, stream)
        if self.name == "reference":
            v.check_unit_range("alpha", alpha)
        self.module.composite(image, alpha, background, colour, out, threads_now(threads))
        return out

    def _input(self, name, arr, ndim, dtypes, layout, channels=None):
        """A checked host array, or for a device implementation the view of a checked device array."""
        if self.device:
            return v.check_device_array(name, arr, ndim, dtypes, layout, channels)
        return v.check_array(name, arr, ndim, dtypes, layout, channels)

    def _output(self, out, shape, inputs, exact_alias_ok=(), stream=None):
        if self.device:
            return v.check_device_out(out, tuple(shape), np.uint8, inputs, exact_alias_ok)
        if stream is not None:
            raise InputError(f"stream is {v.describe(stream)} with NumPy arrays; expected None (streams order "
                             "device work)")
        return v.check_out(out, shape, inputs, exact_alias_ok)


def _is_image(background: Any) -> bool:
    """A background image (host or device array) rather than a colour or None."""
    if isinstance(background, np.ndarray):
        return background.ndim != 1
    return is_cuda_array(background)


_KERNELS: dict = {}


def kernels(name: str = "cpu") -> Kernels:
    """The kernels of one implementation: ``"reference"``, ``"cpu"`` or ``"cuda"``."""
    if name not in _KERNELS:
        _KERNELS[name] = Kernels(name)
    return _KERNELS[name]


def _for(arr: Any) -> Kernels:
    """Dispatch by array type: device arrays run the CUDA kernels, everything else the CPU kernels."""
    return kernels("cuda") if is_cuda_array(arr) else kernels("cpu")


def make_trimap(mask, kernel_size=7, iterations=3, fg_threshold=254, bg_threshold=1, *, out=None, threads=None,
                stream=None):
    return _for(mask).make_trimap(mask, kernel_size, iterations, fg_threshold, bg_threshold, out=out,
                                  threads=threads, stream=stream)


def composite(image, alpha, background=None, *, out=None, threads=None, stream=None):
    return _for(image).composite(image, alpha, background, out=out, threads=threads, stream=stream)


make_trimap.__doc__ = Kernels.make_trimap.__doc__
composite.__doc__ = Kernels.composite.__doc__


class Trusted:
    """One implementation's kernels without argument checks: for inner stages (the pipeline) that
    validated their arguments once at their boundary.

    Arguments must meet the public functions' contract exactly (nothing is checked: a wrong
    dtype or shape is undefined behaviour); ``out`` is required; ``threads`` is a checked count
    (:func:`edgematte.validate.check_threads`, 0 = all cores). ``cuda`` takes device arrays and a
    ``stream`` (their interface is only read, not checked). The refinement's trusted entry is
    ``edgematte.refine.solve_band``.
    """

    def __init__(self, name: str = "cpu"):
        if name not in IMPLEMENTATIONS:
            raise InputError(f"trusted kernel implementation is {name!r}; expected one of {sorted(IMPLEMENTATIONS)}")
        self.name = name
        self.device = name in DEVICE
        self._module = kernels(name).module  # loads it now: BackendUnavailableError at construction

    def make_trimap(self, mask, kernel_size: int, iterations: int, fg_threshold: int, bg_threshold: int, out,
                    threads: int = 0, stream: Any = None):
        """``make_trimap`` into ``out`` (uint8 HxW) for a uint8 or float32 HxW mask; returns ``out``."""
        if self.device:
            return self._module.make_trimap(v.cuda_view(mask, "mask"), kernel_size, iterations, fg_threshold,
                                            bg_threshold, v.cuda_view(out, "out"), stream)
        self._module.make_trimap(mask, kernel_size, iterations, fg_threshold, bg_threshold, out, threads_now(threads))
        return out

    def composite(self, image, alpha, background: Any, out, threads: int = 0, stream: Any = None):
        """``composite`` into ``out``; background: uint8 HxWx3 array, a tuple of 3 ints 0..255, or None."""
        colour = background if isinstance(background, tuple) else None
        background = None if colour is not None else background
        if self.device:
            bg = None if background is None else v.cuda_view(background, "background")
            return self._module.composite(v.cuda_view(image, "image"), v.cuda_view(alpha, "alpha"), bg, colour,
                                          v.cuda_view(out, "out"), stream)
        self._module.composite(image, alpha, background, colour, out, threads_now(threads))
        return out


    def unit_to_u8(self, values, out):
        """float32 HxW -> ``out`` uint8 HxW (rows contiguous, no overlap) by the float-alpha rule (see the
        module docstring: NaN -> 0, clamped to 0..1, round-half-even(x * 255)); returns ``out``. Host
        implementations only: a device space quantizes with its own array module."""
        if self.device:
            raise InternalError("unit_to_u8 takes host arrays; a device space quantizes with its own array module")
        self._module.unit_to_u8(values, out)
        return out


def trusted(name: str = "cpu") -> Trusted:
    """The unchecked kernels of one implementation (see :class:`Trusted`)."""
    return Trusted(name)
