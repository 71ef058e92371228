"""Argument checks shared by every kernel implementation (one data contract, checked once)."""

from __future__ import annotations

import operator
import os
import warnings

import numpy as np

from ..errors import InputError

# Radius of the structuring element after iterations: bounds the trimap's work memory.
MAX_TRIMAP_RADIUS = 128
_MAX_SIDE = 1 << 28


def describe(arr) -> str:
    """'uint8 array of shape (2, 3)' or the type name for non-arrays."""
    if isinstance(arr, np.ndarray):
        return f"{arr.dtype} array of shape {arr.shape}"
    return f"{type(arr).__name__} {arr!r}" if isinstance(arr, (int, float, str)) else type(arr).__name__


def check_int(name: str, value, lo: int, hi: int) -> int:
    """An integer (not bool) in [lo, hi]."""
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} is {value!r}; expected an int in [{lo}, {hi}]")
    try:
        v = operator.index(value)
    except TypeError:
        raise InputError(f"{name} is {describe(value)}; expected an int in [{lo}, {hi}]") from None
    if not lo <= v <= hi:
        raise InputError(f"{name} is {v}; expected an int in [{lo}, {hi}]")
    return v


def check_trimap_params(kernel_size, iterations, fg_threshold, bg_threshold):
    """(kernel_size, iterations, fg, bg) as make_trimap documents them, else InputError."""
    kernel_size = check_int("kernel_size", kernel_size, 1, 2 * MAX_TRIMAP_RADIUS + 1)
    if kernel_size % 2 == 0:
        raise InputError(f"kernel_size is {kernel_size}; expected an odd int >= 1")
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


# GNU OpenMP's thread pool does not survive fork(): a child process that starts a parallel region
# after its parent ran one hangs. So once this process ran a kernel on several threads, its forked
# children run kernels on one thread (with a warning); "spawn"/"forkserver" children are unaffected.
_state = {"parallel_used": False, "forked_after_parallel": False}


def _after_fork_in_child() -> None:
    if _state["parallel_used"]:
        _state["forked_after_parallel"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def check_threads(threads) -> int:
    """None -> 0 (all cores, the OpenMP default) or an int >= 1; 1 in a child forked after parallel use."""
    n = 0 if threads is None else check_int("threads", threads, 1, 1 << 16)
    if n == 1:
        return 1
    if _state["forked_after_parallel"]:
        warnings.warn(
            "edgematte kernels run on one thread in a process forked after its parent ran them on several "
            "(OpenMP cannot start threads after fork); use the 'spawn' or 'forkserver' start method",
            RuntimeWarning,
            stacklevel=4,
        )
        return 1
    _state["parallel_used"] = True
    return n


def _rows_contiguous(arr: np.ndarray) -> bool:
    """Pixels contiguous within each row: every axis after the first is C-contiguous."""
    expected = arr.itemsize
    for axis in range(arr.ndim - 1, 0, -1):
        if arr.strides[axis] != expected and arr.shape[axis] > 1:
            return False
        expected *= arr.shape[axis]
    return True


def check_layout(name: str, shape, dtype, ndim: int, dtypes, layout: str, channels=None) -> None:
    """Rank, channel count, dtype and non-emptiness of a host or device array, one message each."""
    if len(shape) != ndim:
        raise InputError(f"{name} has shape {shape} ({len(shape)} dims); expected {layout}")
    if channels is not None and shape[-1] != channels:
        raise InputError(f"{name} has shape {shape} ({shape[-1]} channels); expected {layout}")
    if dtype not in dtypes:
        raise InputError(f"{name} has dtype {dtype}; expected {layout}")
    if 0 in shape:
        raise InputError(f"{name} is empty (shape {shape}); expected {layout} with H, W >= 1")


def check_array(name: str, arr, ndim: int, dtypes, layout: str, channels=None) -> np.ndarray:
    """A non-empty numpy array of rank ``ndim``, one of ``dtypes``, ``channels`` in the last axis.

    Arrays whose rows are not contiguous (channel-reversed, transposed, strided columns) are
    copied once with a RuntimeWarning; row-strided views such as crops are used in place.
    """
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{name} is {describe(arr)}; expected a numpy array {layout}")
    check_layout(name, arr.shape, arr.dtype, ndim, dtypes, layout, channels)
    if max(arr.shape[:2]) >= _MAX_SIDE:
        raise InputError(f"{name} has shape {arr.shape}; expected sides below {_MAX_SIDE}")
    if not _rows_contiguous(arr):
        warnings.warn(
            f"{name} ({describe(arr)}, strides {arr.strides}) has non-contiguous rows; copied once",
            RuntimeWarning,
            stacklevel=4,
        )
        arr = np.ascontiguousarray(arr)
    return arr


def check_unit_range(name: str, arr: np.ndarray) -> None:
    """Float arrays must hold values in [0, 1] and no NaN (the native kernels check this themselves)."""
    if arr.dtype.kind == "f":
        lo, hi = float(np.min(arr)), float(np.max(arr))
        if not (0.0 <= lo and hi <= 1.0):
            raise range_error(name, arr)


def range_error(name: str, arr: np.ndarray) -> InputError:
    """The InputError for a float array with NaN or values outside [0, 1]."""
    nans = int(np.count_nonzero(np.isnan(arr)))
    finite = arr[~np.isnan(arr)]
    got = f"{nans} NaN values" if nans else ""
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        got += (" and " if got else "") + f"values in [{finite.min():g}, {finite.max():g}]"
    return InputError(f"{name} ({describe(arr)}) holds {got}; expected float32 values in [0, 1]")


def check_out(out, shape, inputs, exact_alias_ok=()) -> np.ndarray:
    """``out``: None (allocated here) or a writeable uint8 array of ``shape`` with contiguous rows,
    not overlapping any of ``inputs`` (except being exactly one of ``exact_alias_ok``)."""
    if out is None:
        return np.empty(shape, np.uint8)
    layout = f"uint8 array of shape {shape}"
    if not isinstance(out, np.ndarray):
        raise InputError(f"out is {describe(out)}; expected a {layout}")
    if out.shape != tuple(shape) or out.dtype != np.uint8:
        raise InputError(f"out is a {describe(out)}; expected a {layout}")
    if not out.flags.writeable:
        raise InputError(f"out ({describe(out)}) is read-only; expected a writeable {layout}")
    if not _rows_contiguous(out):
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
