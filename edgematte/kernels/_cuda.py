"""CUDA implementations for device arrays (``__cuda_array_interface__``: CuPy, pycuda GPUArray, torch).

Same signatures, semantics and errors as the CPU kernels; results come back as a device array
of the input's library (CuPy -> CuPy, torch -> torch on the same device, else pycuda GPUArray).
Arrays must have packed pixels within a row (any row pitch works: views of a larger frame are
fine); other layouts are refused with InputError, since there is no library-neutral copy.

Launches are asynchronous on ``stream`` (see ``_cuda_runtime.resolve_stream``), except where a
float input must be checked for NaN: those calls synchronise to read the kernel's status word.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from . import _cuda_runtime as cr
from . import _validate as v

EM_STATUS_NAN, EM_STATUS_RANGE = 1, 2  # em_cuda.h
EM_TRIMAP_THRESHOLD, EM_TRIMAP_FINAL = 1, 2
EM_TRIMAP_TILE_MAX_RADIUS = 64
EM_BG_IMAGE, EM_BG_COLOR, EM_BG_NONE = 0, 1, 2


def is_cuda_array(x: Any) -> bool:
    """True for objects exporting ``__cuda_array_interface__`` (torch CPU tensors raise, hence False)."""
    try:
        return getattr(x, "__cuda_array_interface__", None) is not None
    except (AttributeError, RuntimeError):
        return False


@dataclass(frozen=True)
class DeviceArray:
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
            for n, s, want in zip(self.shape[1:], self.strides[1:], _packed_strides(self.shape[1:], item))
        )
        pitch = self.strides[0] if h > 1 else w * pixel_bytes
        if not inner_ok or pitch < w * pixel_bytes or pitch % item:
            raise InputError(
                f"{self.name}: received strides {self.strides} for shape {self.shape}; expected packed pixels "
                "within each row and a positive row pitch (make it contiguous on the device first)"
            )
        return pitch


def _packed_strides(shape: Sequence[int], item: int) -> Tuple[int, ...]:
    strides, acc = [], item
    for n in reversed(shape):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides))


def describe(x: Any, name: str) -> DeviceArray:
    """Parse ``x.__cuda_array_interface__`` (versions 0..3), refusing masked arrays."""
    cai = x.__cuda_array_interface__
    shape = tuple(int(d) for d in cai["shape"])
    dtype = np.dtype(cai["typestr"])
    if cai.get("mask") is not None:
        raise InputError(f"{name}: received a masked CUDA array; expected an unmasked one")
    ptr, readonly = cai["data"]
    strides = cai.get("strides")
    strides = _packed_strides(shape, dtype.itemsize) if strides is None else tuple(int(s) for s in strides)
    return DeviceArray(x, name, int(ptr or 0), shape, dtype, strides, bool(readonly), cai.get("stream"))


def _check(arr: DeviceArray, ndim: int, dtypes: Tuple[str, ...], layout: str, channels: Optional[int] = None) -> None:
    """Rank, channels, dtype and non-emptiness, with the CPU kernels' messages."""
    v.check_layout(arr.name, arr.shape, arr.dtype, ndim, dtypes, layout, channels)


def _check_odd(name: str, value: Any, hi: int) -> int:
    value = v.check_int(name, value, 1, hi)
    if value % 2 == 0:
        raise InputError(f"{name} is {value}; expected an odd int >= 1")
    return value


def _check_out(
    out: Any,
    shape: Tuple[int, ...],
    dtype: Any,
    inputs: Sequence[DeviceArray],
    exact_alias_ok: Sequence[DeviceArray] = (),
) -> Optional[DeviceArray]:
    """Description of a caller's ``out`` (None when absent): a writable device array of ``shape``
    and ``dtype`` not overlapping an input, except by being exactly one of ``exact_alias_ok``."""
    if out is None:
        return None
    dtype = np.dtype(dtype)
    if not is_cuda_array(out):
        raise InputError(f"out: received a {type(out).__name__}; expected a device array like the inputs")
    desc = describe(out, "out")
    if desc.shape != shape or desc.dtype != dtype:
        raise InputError(f"out: received {desc.dtype} {desc.shape}; expected {dtype} {shape}")
    if desc.readonly:
        raise InputError("out: received a read-only device array; expected a writable one")
    if desc.has_rows:
        desc.pitch(int(np.prod(shape[2:], dtype=np.int64)) * dtype.itemsize)  # rows of packed pixels
    for src in inputs:
        same = (desc.ptr, desc.shape, desc.strides) == (src.ptr, src.shape, src.strides)
        if same and any(src is a for a in exact_alias_ok):
            continue
        if desc.ptr < src.ptr + src.nbytes_span and src.ptr < desc.ptr + desc.nbytes_span:
            raise InputError(f"out: received memory that overlaps {src.name}; expected a separate buffer")
    return desc


@contextlib.contextmanager
def _device_call(
    like: DeviceArray, stream: Any, out: Any, given: Optional[DeviceArray], shape: Tuple[int, ...], dtype: Any
) -> Iterator[Tuple[cr.Runtime, Any, Any, DeviceArray]]:
    """(runtime, launch stream, out, out's description) for one call on ``like``'s device.

    ``out`` is the caller's checked array, else a new one in the input's library."""
    rt = _runtime_for(like)
    with cr.session(rt, stream, like.stream) as s:
        if given is None:
            out = _empty(like, shape, np.dtype(dtype), rt)
            given = describe(out, "out")
        yield rt, s, out, given


def _empty(like: DeviceArray, shape: Tuple[int, ...], dtype: np.dtype, rt: cr.Runtime) -> Any:
    lib = type(like.obj).__module__.split(".")[0]
    if lib == "cupy":
        import cupy

        return cupy.empty(shape, dtype)
    if lib == "torch":
        import torch

        return torch.empty(shape, dtype=getattr(torch, dtype.name), device=like.obj.device)
    if rt.name == "pycuda":
        from pycuda import gpuarray

        return gpuarray.empty(shape, dtype)
    import cupy

    return cupy.empty(shape, dtype)


def _runtime_for(arr: DeviceArray) -> cr.Runtime:
    return cr.runtime(prefer="cupy" if type(arr.obj).__module__.startswith("cupy") else None)


def _raise_on_status(status: int, arr: DeviceArray) -> None:
    if status:
        got = " and ".join(
            what
            for bit, what in ((EM_STATUS_NAN, "NaN values"), (EM_STATUS_RANGE, "values outside [0, 1]"))
            if status & bit
        )
        raise InputError(
            f"{arr.name} (float32 device array of shape {arr.shape}) holds {got}; expected float32 values in [0, 1]"
        )


def make_trimap_cuda(
    mask: Any,
    kernel_size: int = 7,
    iterations: int = 3,
    fg_threshold: int = 254,
    bg_threshold: int = 1,
    *,
    out: Any = None,
    threads: Optional[int] = None,
    stream: Any = None,
) -> Any:
    """Trimap [H,W] uint8 {0,128,255} of a device mask (uint8 0..255 or float32 0..1, read as round(x*255)).

    Bit-identical to the CPU ``make_trimap``, with its limits: odd kernel_size, iterations >= 1,
    (kernel_size // 2) * iterations <= 128, 0 <= bg_threshold < fg_threshold <= 255. ``threads``
    is accepted for the shared signature and ignored. Float masks synchronise ``stream`` to check
    for NaN and values outside [0, 1].
    """
    m = describe(mask, "mask")
    _check(m, 2, ("uint8", "float32"), "HxW uint8 (0..255) or float32 (0..1)")
    k, it, fg, bg = v.check_trimap_params(kernel_size, iterations, fg_threshold, bg_threshold)
    _check_threads(threads)
    f32 = m.dtype == np.float32
    h, w = m.shape
    mask_pitch = m.pitch(m.dtype.itemsize)
    given = _check_out(out, (h, w), np.uint8, [m])
    with _device_call(m, stream, out, given, (h, w), np.uint8) as (rt, s, out, o):
        out_pitch = o.pitch(1)
        r, passes = k // 2, it
        tiled = r <= EM_TRIMAP_TILE_MAX_RADIUS
        shared = (2 * r + 1) * 4 + ((cr.BLOCK[0] + 2 * r) * (cr.BLOCK[1] + 2 * r) if tiled else 0)
        work_ptr = rt.scratch("trimap", w * h, s) if passes > 1 else 0
        status_ptr = rt.scratch("status", 4, s) if f32 else 0
        if f32:
            rt.zero_int(status_ptr, s)
        src, src_pitch = m.ptr, mask_pitch
        for p in range(1, passes + 1):
            to_out = (passes - p) % 2 == 0  # the last pass writes `out`
            dst, dst_pitch = (o.ptr, out_pitch) if to_out else (work_ptr, w)
            flags = (EM_TRIMAP_THRESHOLD if p == 1 else 0) | (EM_TRIMAP_FINAL if p == passes else 0)
            kernel = "em_k_trimap_pass_f32" if (p == 1 and f32) else "em_k_trimap_pass_u8"
            args = (src, src_pitch, dst, dst_pitch, w, h, r, flags, fg, bg, int(tiled), status_ptr)
            rt.launch(kernel, cr.grid_for(w, h), args, s, shared)
            src, src_pitch = dst, dst_pitch
        if f32:
            _raise_on_status(rt.read_int(status_ptr, s), m)
    return out


def _check_threads(threads: Any) -> None:
    """The CPU kernels' check of ``threads`` (unused on the GPU, refused alike when invalid)."""
    if threads is not None:
        v.check_int("threads", threads, 1, 1 << 16)


def composite_cuda(
    image: Any,
    alpha: Any,
    background: Any = None,
    *,
    out: Any = None,
    threads: Optional[int] = None,
    stream: Any = None,
) -> Any:
    """round(image*a + background*(1-a)) on the device, a = alpha/255 (uint8) or alpha (float32 0..1).

    image uint8 [H,W,3] (channel order passed through); background a device uint8 [H,W,3], a colour
    3-tuple, or None for an [H,W,4] result = image + alpha channel. Bit-identical to the CPU kernel.
    ``out`` may be exactly ``image`` or ``background``. Float alpha synchronises to check for NaN
    and values outside [0, 1].
    """
    im = describe(image, "image")
    _check(im, 3, ("uint8",), "HxWx3 uint8", 3)
    al = describe(alpha, "alpha")
    _check(al, 2, ("uint8", "float32"), "HxW uint8 (0..255) or float32 (0..1)")
    h, w = im.shape[:2]
    if al.shape != (h, w):
        raise InputError(f"alpha has shape {al.shape} but image {im.shape}; expected alpha of shape {(h, w)}")
    bg, colour, mode = None, (0, 0, 0), EM_BG_NONE
    if background is not None:
        if is_cuda_array(background):
            bg = describe(background, "background")
            _check(bg, 3, ("uint8",), "HxWx3 uint8", 3)
            if bg.shape != im.shape:
                raise InputError(f"background has shape {bg.shape} but image {im.shape}; expected the image's shape")
            mode = EM_BG_IMAGE
        elif isinstance(background, np.ndarray) and background.ndim != 1:
            raise InputError(
                f"background is a host {background.dtype} array of shape {background.shape} with device inputs; "
                "expected a device HxWx3 uint8 array, 3 ints or None"
            )
        else:
            from . import _check_colour  # the package's own check (imported late: the package imports us)

            colour, mode = _check_colour(background), EM_BG_COLOR
    _check_threads(threads)
    f32 = al.dtype == np.float32
    channels = 4 if mode == EM_BG_NONE else 3
    pitches = (im.pitch(3), al.pitch(al.dtype.itemsize), bg.pitch(3) if bg is not None else 0)
    blended = [im] + ([bg] if bg is not None else [])
    given = _check_out(out, (h, w, channels), np.uint8, blended + [al], exact_alias_ok=blended)
    with _device_call(im, stream, out, given, (h, w, channels), np.uint8) as (rt, s, out, o):
        status_ptr = rt.scratch("status", 4, s) if f32 else 0
        if f32:
            rt.zero_int(status_ptr, s)
        args = (
            im.ptr, pitches[0], al.ptr, pitches[1], bg.ptr if bg is not None else 0, pitches[2],
            colour[0], colour[1], colour[2], mode, o.ptr, o.pitch(channels), w, h, status_ptr,
        )  # fmt: skip
        rt.launch("em_k_composite_f32" if f32 else "em_k_composite_u8", cr.grid_for(w, h), args, s)
        if f32:
            _raise_on_status(rt.read_int(status_ptr, s), al)
    return out


def blur_taps(kernel_size: int, sigma: Optional[float] = None) -> np.ndarray:
    """1-D float32 taps: a box (cv2.blur) when sigma is None, else cv2.getGaussianKernel(kernel_size, sigma)."""
    k = _check_odd("kernel_size", kernel_size, 1 << 16)
    if sigma is None:
        return np.full(k, 1.0 / k, np.float32)
    import cv2

    return cv2.getGaussianKernel(k, float(sigma)).astype(np.float32).ravel()


def blur_cuda(image: Any, kernel_size: int, sigma: Optional[float] = None, *, out: Any = None, stream: Any = None):
    """Separable blur of a device uint8 [H,W,3] image (background for compositing), reflect-101 borders.

    Box filter like cv2.blur when ``sigma`` is None, else Gaussian like cv2.GaussianBlur; within 1 of
    OpenCV.
    """
    im = describe(image, "image")
    _check(im, 3, ("uint8",), "HxWx3 uint8", 3)
    taps = blur_taps(kernel_size, sigma)
    h, w = im.shape[:2]
    pitch = im.pitch(3)
    given = _check_out(out, (h, w, 3), np.uint8, [im])
    with _device_call(im, stream, out, given, (h, w, 3), np.uint8) as (rt, s, out, o):
        taps_ptr = rt.constant(("blur taps", len(taps), sigma), taps)
        tmp_ptr = rt.scratch("blur", h * w * 3 * 4, s)
        radius = len(taps) // 2
        rt.launch("em_k_blur_h", cr.grid_for(w, h), (im.ptr, pitch, tmp_ptr, w, h, taps_ptr, radius), s)
        rt.launch("em_k_blur_v", cr.grid_for(w, h), (tmp_ptr, o.ptr, o.pitch(3), w, h, taps_ptr, radius), s)
    return out


def preprocess_cuda(
    image: Any,
    height: int,
    width: int,
    *,
    dtype: Any = np.float16,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    bgr: bool = True,
    out: Any = None,
    stream: Any = None,
) -> Any:
    """Device uint8 [H,W,3] frame -> [1,3,height,width] float16/float32 RGB, (pixel/255 - mean) / std.

    Bilinear resize with OpenCV's INTER_LINEAR sampling, colour swap and normalisation in one
    kernel. ``bgr`` says the frame is BGR (OpenCV order); mean/std are in RGB order.
    """
    im = describe(image, "image")
    _check(im, 3, ("uint8",), "HxWx3 uint8", 3)
    oh = v.check_int("height", height, 1, 1 << 16)
    ow = v.check_int("width", width, 1, 1 << 16)
    dt = np.dtype(dtype)
    if dt not in (np.float16, np.float32):
        raise InputError(f"dtype: received {dt}; expected float16 or float32")
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    if mean.shape != (3,) or std.shape != (3,) or not np.all(std > 0):
        raise InputError(f"mean/std: received {mean.tolist()} / {std.tolist()}; expected 3 values each, std > 0")
    scale = (1.0 / (255.0 * std)).tolist()
    bias = (-mean / std).tolist()
    h, w = im.shape[:2]
    pitch = im.pitch(3)
    given = _check_out(out, (1, 3, oh, ow), dt, [im])
    if given is not None and given.strides != _packed_strides(given.shape, dt.itemsize):
        raise InputError(f"out: received strides {given.strides}; expected a C-contiguous [1,3,H,W] tensor")
    with _device_call(im, stream, out, given, (1, 3, oh, ow), dt) as (rt, s, out, o):
        kernel = "em_k_preprocess_f16" if dt == np.float16 else "em_k_preprocess_f32"
        args = (im.ptr, w, h, pitch, int(bool(bgr)), o.ptr, ow, oh, w / ow, h / oh, *scale, *bias)
        rt.launch(kernel, cr.grid_for(ow, oh), args, s)
    return out


def upsample_alpha_cuda(alpha: Any, height: int, width: int, *, out: Any = None, stream: Any = None) -> Any:
    """Model alpha float16/float32 0..1 ([h,w], [1,h,w] or [1,1,h,w]) -> uint8 [height,width].

    Bilinear (OpenCV INTER_LINEAR sampling), then round(clamp(a, 0, 1) * 255); NaN gives 0.
    """
    al = describe(alpha, "alpha")
    if len(al.shape) in (3, 4) and all(d == 1 for d in al.shape[:-2]):
        al = DeviceArray(al.obj, al.name, al.ptr, al.shape[-2:], al.dtype, al.strides[-2:], al.readonly, al.stream)
    _check(al, 2, ("float16", "float32"), "HxW float16 or float32 (0..1)")
    oh = v.check_int("height", height, 1, 1 << 16)
    ow = v.check_int("width", width, 1, 1 << 16)
    h, w = al.shape
    pitch = al.pitch(al.dtype.itemsize)
    given = _check_out(out, (oh, ow), np.uint8, [al])
    with _device_call(al, stream, out, given, (oh, ow), np.uint8) as (rt, s, out, o):
        kernel = "em_k_upsample_alpha_f16" if al.dtype == np.float16 else "em_k_upsample_alpha_f32"
        args = (al.ptr, w, h, pitch, o.ptr, ow, oh, o.pitch(1), w / ow, h / oh)
        rt.launch(kernel, cr.grid_for(ow, oh), args, s)
    return out
