"""The one place arguments are checked: every public entry (kernels, refinement, the pipeline's
frame) validates through these functions, once, and inner code trusts what they return.

Every message has one shape, naming what was received and then what was expected:
``"<name> is <received>; expected <expected>"`` or ``"<name> has <property>; expected <expected>"``.
Errors are :class:`~edgematte.errors.InputError` (a ``ValueError``). Imports only NumPy.

Host arrays are NumPy arrays; device arrays are anything with ``__cuda_array_interface__`` (CuPy,
pycuda, torch CUDA), read into a :class:`CudaArrayView` without touching the GPU.
"""

from __future__ import annotations

import math
import operator
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Tuple

import numpy as np

from .errors import InputError

__all__ = [
    "INT32_MAX",
    "MAX_TRIMAP_RADIUS",
    "check_array",
    "CudaArrayView",
    "check_colour",
    "check_device_array",
    "check_device_out",
    "check_finite",
    "check_frame",
    "check_int",
    "check_ints",
    "check_layout",
    "check_odd",
    "check_out",
    "check_positive",
    "check_same_hw",
    "check_threads",
    "check_trimap_params",
    "check_unit_range",
    "cuda_view",
    "describe",
    "is_cuda_array",
    "is_device_array",
    "range_error",
    "rows_contiguous",
]

#: the largest value a C ``int`` parameter of the native kernels takes
INT32_MAX = 2**31 - 1
#: radius of the trimap's structuring element after its iterations: bounds the kernels' work memory
MAX_TRIMAP_RADIUS = 128
_MAX_SIDE = 1 << 28


def describe(value: Any) -> str:
    """What a message calls a received value: 'uint8 array of shape (2, 3)', 'float 0.5', 'list'."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return f"{type(value).__name__} {value!r}"
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None:  # CuPy, torch, pycuda arrays
        return f"{type(value).__module__.split('.')[0]}.{type(value).__name__} {dtype} of shape {tuple(shape)}"
    return type(value).__name__


# -- numbers --------------------------------------------------------------------------------
def check_int(name: str, value: Any, lo: int, hi: int) -> int:
    """An integer (Python or NumPy, not bool) in [lo, hi]."""
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} is {value!r}; expected an int in [{lo}, {hi}]")
    try:
        v = operator.index(value)
    except TypeError:
        raise InputError(f"{name} is {describe(value)}; expected an int in [{lo}, {hi}]") from None
    if not lo <= v <= hi:
        raise InputError(f"{name} is {v}; expected an int in [{lo}, {hi}]")
    return v


def check_ints(name: str, values: Any, lo: int, hi: int) -> Tuple[int, ...]:
    """A sequence (not a string) of ints in [lo, hi], as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InputError(f"{name} is {describe(values)}; expected a sequence of ints in [{lo}, {hi}]")
    return tuple(check_int(name, v, lo, hi) for v in values)


def check_odd(name: str, value: Any, hi: int) -> int:
    """An odd int in [1, hi]."""
    v = check_int(name, value, 1, hi)
    if v % 2 == 0:
        raise InputError(f"{name} is {v}; expected an odd int >= 1")
    return v


def check_positive(name: str, value: Any) -> float:
    """A finite real number > 0, as a float."""
    return check_number(name, value, 0, math.inf, expected="a finite number > 0")


def check_number(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = True,
                 expected: Optional[str] = None) -> float:
    """A finite real number (not bool) in (lo, hi] (or [lo, hi] with lo_open=False), as a float."""
    expected = "expected " + (expected or f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}]")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} is {describe(value)}; {expected}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float range
        raise InputError(f"{name} is {value!r}; {expected}") from None
    if not (math.isfinite(v) and ((lo < v) if lo_open else (lo <= v)) and v <= hi):
        raise InputError(f"{name} is {v!r}; {expected}")
    return v


def check_threads(threads: Any) -> int:
    """None -> 0 (all cores, the OpenMP default) or an int >= 1."""
    return 0 if threads is None else check_int("threads", threads, 1, 1 << 16)


def check_colour(colour: Any, name: str = "background") -> Tuple[int, int, int]:
    """A colour: exactly 3 ints (not bools) in 0..255, from a tuple, list or 1-D array."""
    try:
        items = list(colour)
    except TypeError:
        raise InputError(f"{name} is {describe(colour)}; expected an HxWx3 uint8 array, 3 ints or None") from None
    if len(items) != 3:
        raise InputError(f"{name} colour has {len(items)} values; expected 3 ints in 0..255")
    b, g, r = (check_int(f"{name} colour value", c, 0, 255) for c in items)
    return (b, g, r)


def check_trimap_params(kernel_size: Any, iterations: Any, fg_threshold: Any, bg_threshold: Any):
    """(kernel_size, iterations, fg, bg) as ``make_trimap`` documents them, else InputError."""
    kernel_size = check_odd("kernel_size", kernel_size, 2 * MAX_TRIMAP_RADIUS + 1)
    iterations = check_int("iterations", iterations, 1, MAX_TRIMAP_RADIUS)
    if (kernel_size // 2) * iterations > MAX_TRIMAP_RADIUS:
        raise InputError(
            f"kernel_size={kernel_size}, iterations={iterations} reach a radius of "
            f"{(kernel_size // 2) * iterations}; expected (kernel_size // 2) * iterations <= {MAX_TRIMAP_RADIUS}"
        )
    fg = check_int("fg_threshold", fg_threshold, 1, 255)
    bg = check_int("bg_threshold", bg_threshold, 0, 254)
    if bg >= fg:
        raise InputError(f"bg_threshold={bg} >= fg_threshold={fg}; expected bg_threshold < fg_threshold")
    return kernel_size, iterations, fg, bg


# -- arrays ---------------------------------------------------------------------------------
def rows_contiguous(arr: np.ndarray) -> bool:
    """Pixels contiguous within each row: every axis after the first is C-contiguous."""
    expected = arr.itemsize
    for axis in range(arr.ndim - 1, 0, -1):
        if arr.strides[axis] != expected and arr.shape[axis] > 1:
            return False
        expected *= arr.shape[axis]
    return True


def check_layout(name: str, shape, dtype, ndim: int, dtypes, layout: str, channels: Optional[int] = None,
                 empty_ok: bool = False) -> None:
    """Rank, channel count, dtype and non-emptiness of a host or device array, one message each."""
    if len(shape) != ndim:
        raise InputError(f"{name} has shape {shape} ({len(shape)} dims); expected {layout}")
    if channels is not None and shape[-1] != channels:
        raise InputError(f"{name} has shape {shape} ({shape[-1]} channels); expected {layout}")
    if dtype not in dtypes:
        raise InputError(f"{name} has dtype {dtype}; expected {layout}")
    if 0 in shape and not empty_ok:
        raise InputError(f"{name} is empty (shape {shape}); expected {layout} with H, W >= 1")


def check_array(name: str, arr: Any, ndim: int, dtypes, layout: str, channels: Optional[int] = None, *,
                c_contiguous: bool = False, empty_ok: bool = False) -> np.ndarray:
    """A NumPy array of rank ``ndim``, one of ``dtypes``, ``channels`` in the last axis, non-empty
    unless ``empty_ok``.

    Layouts the native code cannot read in place are copied once with a RuntimeWarning: arrays
    whose rows are not contiguous (channel-reversed, transposed, strided columns), and with
    ``c_contiguous`` any array that is not C-contiguous (crops included).
    """
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{name} is {describe(arr)}; expected a numpy array {layout}")
    check_layout(name, arr.shape, arr.dtype, ndim, dtypes, layout, channels, empty_ok)
    if max(arr.shape[:2]) >= _MAX_SIDE:
        raise InputError(f"{name} has shape {arr.shape}; expected sides below {_MAX_SIDE}")
    if not (arr.flags.c_contiguous if c_contiguous else rows_contiguous(arr)):
        what = "is not C-contiguous" if c_contiguous else "has non-contiguous rows"
        warnings.warn(f"{name} ({describe(arr)}, strides {arr.strides}) {what}; copied once", RuntimeWarning,
                      stacklevel=4)
        arr = np.ascontiguousarray(arr)
    return arr


def check_frame(frame: Any) -> np.ndarray:
    """A video frame: uint8 HxWx3 BGR, H, W >= 1; a non-C-contiguous frame is copied once with a warning."""
    return check_array("frame", frame, 3, (np.dtype(np.uint8),), "HxWx3 uint8 BGR", channels=3, c_contiguous=True)


def check_composite_out(out: Any, frame_shape: Tuple[int, ...], channels: int) -> np.ndarray:
    """The caller's composite array: uint8 HxWx``channels`` of the frame's size, C-contiguous and writable."""
    layout = f"a writable C-contiguous uint8 array of shape {tuple(frame_shape[:2]) + (channels,)}"
    if not isinstance(out, np.ndarray):
        raise InputError(f"out is {describe(out)}; expected {layout}")
    if out.dtype != np.uint8 or out.shape != tuple(frame_shape[:2]) + (channels,):
        raise InputError(f"out has dtype {out.dtype} and shape {out.shape}; expected {layout}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise InputError(f"out ({describe(out)}, strides {out.strides}) is not writable and C-contiguous; "
                         f"expected {layout}")
    return out


def check_same_hw(name: str, shape: Tuple[int, ...], other: str, other_shape: Tuple[int, ...]) -> None:
    """``shape`` starts with the height and width of ``other_shape``."""
    if tuple(shape[:2]) != tuple(other_shape[:2]):
        expected = tuple(other_shape[:2]) + tuple(shape[2:])
        raise InputError(f"{name} has shape {tuple(shape)} but {other} {tuple(other_shape)}; expected {name} of "
                         f"shape {expected}")


def check_unit_range(name: str, arr: np.ndarray) -> None:
    """A float array holds values in [0, 1] and no NaN (the native kernels check this themselves)."""
    if arr.dtype.kind == "f" and arr.size:
        lo, hi = float(np.min(arr)), float(np.max(arr))
        if not (0.0 <= lo and hi <= 1.0):
            raise range_error(name, arr)


def check_finite(name: str, arr: np.ndarray) -> None:
    """A float array holds no NaN or infinity."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InputError(f"{name} ({describe(arr)}) holds {bad} NaN or infinite values; expected finite values")


def range_error(name: str, arr: np.ndarray) -> InputError:
    """The InputError for a float array with NaN or values outside [0, 1]."""
    nans = int(np.count_nonzero(np.isnan(arr)))
    finite = arr[~np.isnan(arr)]
    got = f"{nans} NaN values" if nans else ""
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        got += (" and " if got else "") + f"values in [{finite.min():g}, {finite.max():g}]"
    return InputError(f"{name} ({describe(arr)}) holds {got}; expected float32 values in [0, 1]")


def check_out(out: Any, shape, inputs: Iterable[Optional[np.ndarray]], exact_alias_ok=()) -> np.ndarray:
    """``out``: None (allocated here) or a writeable uint8 array of ``shape`` with contiguous rows,
    not overlapping any of ``inputs`` (except being exactly one of ``exact_alias_ok``)."""
    if out is None:
        return np.empty(shape, np.uint8)
    layout = f"uint8 array of shape {tuple(shape)}"
    if not isinstance(out, np.ndarray):
        raise InputError(f"out is {describe(out)}; expected a {layout}")
    if out.shape != tuple(shape) or out.dtype != np.uint8:
        raise InputError(f"out is a {describe(out)}; expected a {layout}")
    if not out.flags.writeable:
        raise InputError(f"out ({describe(out)}) is read-only; expected a writeable {layout}")
    if not rows_contiguous(out):
        raise InputError(f"out has strides {out.strides}; expected a {layout} with contiguous rows")
    for arr in inputs:
        if arr is None or not np.may_share_memory(out, arr):
            continue
        if any(arr is a for a in exact_alias_ok) and _same_view(arr, out):
            continue
        raise InputError(f"out ({describe(out)}) overlaps an input ({describe(arr)}); expected a separate buffer")
    return out


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        and a.strides == b.strides
        and a.shape == b.shape
    )


# -- device arrays (__cuda_array_interface__: CuPy, pycuda, torch CUDA) ------------------------
def is_cuda_array(x: Any) -> bool:
    """True for objects exporting ``__cuda_array_interface__`` (torch CPU tensors raise, hence False)."""
    try:
        return getattr(x, "__cuda_array_interface__", None) is not None
    except (AttributeError, RuntimeError):
        return False


_DLPACK_CUDA = (2, 13)  # kDLCUDA, kDLCUDAManaged


def is_device_array(x: Any) -> bool:
    """True for GPU arrays: ``__cuda_array_interface__`` (CuPy, pycuda, torch CUDA) or a DLPack CUDA device."""
    if is_cuda_array(x):
        return True
    dlpack_device = getattr(x, "__dlpack_device__", None)
    if dlpack_device is None or isinstance(x, np.ndarray):
        return False
    try:
        return int(dlpack_device()[0]) in _DLPACK_CUDA
    except (TypeError, ValueError, RuntimeError, IndexError):
        return False


@dataclass(frozen=True)
class CudaArrayView:
    """What the CUDA array interface says about one argument. ``strides`` in bytes, always filled."""

    obj: Any
    name: str
    ptr: int
    shape: Tuple[int, ...]
    dtype: np.dtype
    strides: Tuple[int, ...]
    readonly: bool
    stream: Optional[int]

    @property
    def has_rows(self) -> bool:
        """[H,W] or [H,W,C]: the layouts that have a row pitch."""
        return len(self.shape) in (2, 3)

    @property
    def nbytes_span(self) -> int:
        """Bytes from the first to one past the last element."""
        if 0 in self.shape:
            return 0
        return sum((n - 1) * s for n, s in zip(self.shape, self.strides)) + self.dtype.itemsize

    def pitch(self, pixel_bytes: int) -> int:
        """Row pitch in bytes; pixels within a row must be packed (the kernels' layout)."""
        h, w = self.shape[0], self.shape[1]
        item = self.dtype.itemsize
        inner_ok = all(
            n == 1 or s == want
            for n, s, want in zip(self.shape[1:], self.strides[1:], packed_strides(self.shape[1:], item))
        )
        pitch = self.strides[0] if h > 1 else w * pixel_bytes
        if not inner_ok or pitch < w * pixel_bytes or pitch % item:
            raise InputError(
                f"{self.name} has strides {self.strides} for shape {self.shape}; expected packed pixels "
                "within each row and a positive row pitch (make it contiguous on the device first)"
            )
        return pitch


def packed_strides(shape: Sequence[int], item: int) -> Tuple[int, ...]:
    strides, acc = [], item
    for n in reversed(shape):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides))


def cuda_view(x: Any, name: str) -> CudaArrayView:
    """Parse ``x.__cuda_array_interface__`` (versions 0..3), refusing host and masked arrays."""
    if not is_cuda_array(x):
        raise InputError(f"{name} is {describe(x)}; expected a device array (__cuda_array_interface__) like "
                         "the other inputs")
    cai = x.__cuda_array_interface__
    shape = tuple(int(d) for d in cai["shape"])
    dtype = np.dtype(cai["typestr"])
    if cai.get("mask") is not None:
        raise InputError(f"{name} is a masked CUDA array; expected an unmasked one")
    ptr, readonly = cai["data"]
    strides = cai.get("strides")
    strides = packed_strides(shape, dtype.itemsize) if strides is None else tuple(int(s) for s in strides)
    return CudaArrayView(x, name, int(ptr or 0), shape, dtype, strides, bool(readonly), cai.get("stream"))


def check_device_array(name: str, x: Any, ndim: int, dtypes, layout: str, channels: Optional[int] = None
                       ) -> CudaArrayView:
    """The view of a device array of rank ``ndim``, one of ``dtypes``, with packed pixels in each row;
    the host arrays' messages."""
    arr = cuda_view(x, name)
    check_layout(name, arr.shape, arr.dtype, ndim, dtypes, layout, channels)
    arr.pitch(int(np.prod(arr.shape[2:], dtype=np.int64)) * arr.dtype.itemsize)
    return arr


def check_device_out(
    out: Any,
    shape: Tuple[int, ...],
    dtype: Any,
    inputs: Sequence[CudaArrayView],
    exact_alias_ok: Sequence[CudaArrayView] = (),
) -> Optional[CudaArrayView]:
    """View of a caller's ``out`` (None when absent): a writable device array of ``shape`` and
    ``dtype`` not overlapping an input, except by being exactly one of ``exact_alias_ok``."""
    if out is None:
        return None
    dtype = np.dtype(dtype)
    if not is_cuda_array(out):
        raise InputError(f"out is {describe(out)}; expected a device array like the inputs")
    o = cuda_view(out, "out")
    if o.shape != shape or o.dtype != dtype:
        raise InputError(f"out is a {o.dtype} device array of shape {o.shape}; expected {dtype} of shape {shape}")
    if o.readonly:
        raise InputError("out is a read-only device array; expected a writable one")
    if o.has_rows:
        o.pitch(int(np.prod(shape[2:], dtype=np.int64)) * dtype.itemsize)  # rows of packed pixels
    for src in inputs:
        same = (o.ptr, o.shape, o.strides) == (src.ptr, src.shape, src.strides)
        if same and any(src is a for a in exact_alias_ok):
            continue
        if o.ptr < src.ptr + src.nbytes_span and src.ptr < o.ptr + o.nbytes_span:
            raise InputError(f"out overlaps {src.name}; expected a separate buffer")
    return o
