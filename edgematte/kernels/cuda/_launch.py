"""CUDA launchers for device arrays (``__cuda_array_interface__``: CuPy, pycuda GPUArray, torch).

:func:`make_trimap` and :func:`composite` are the ``cuda`` implementation of ``edgematte.kernels``
(arguments validated there, through :mod:`edgematte.validate`); :func:`preprocess`,
:func:`upsample_alpha` and :func:`blur` are CUDA-only stages, public as ``edgematte.kernels.cuda``.
This module is the one launcher of every kernel in this folder: it sizes the grid and launches on
the caller's stream.

Results come back as a device array of the input's library (CuPy -> CuPy, torch -> torch on the
same device, else pycuda GPUArray). Arrays must have packed pixels within a row (any row pitch
works: views of a larger frame are fine); other layouts are refused with InputError, since there
is no library-neutral copy. Launches are asynchronous on ``stream`` (see
``_runtime.resolve_stream``), except where a float input must be checked for NaN: those calls
synchronise to read the kernel's status word.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional, Sequence, Tuple

import numpy as np

from ...errors import InputError
from ... import validate as v
from ...validate import CudaArrayView, packed_strides
from ...validate import cuda_view as view
from .._status import raise_for_status
from . import _runtime as cr

EM_TRIMAP_THRESHOLD, EM_TRIMAP_FINAL = 1, 2  # em_cuda.h
EM_TRIMAP_TILE_MAX_RADIUS = 64
EM_BG_IMAGE, EM_BG_COLOR, EM_BG_NONE = 0, 1, 2


@contextlib.contextmanager
def _device_call(
    like: CudaArrayView, stream: Any, o: Optional[CudaArrayView], shape: Optional[Tuple[int, ...]] = None,
    dtype: Any = np.uint8,
) -> Iterator[Tuple[cr.Runtime, Any, Any, CudaArrayView]]:
    """(runtime, launch stream, out array, its view) for one call on ``like``'s device.

    ``o`` is the view of the caller's checked ``out``; without one, a new array of ``shape`` (default:
    ``like``'s) and ``dtype`` is made in the input's library."""
    rt = _runtime_for(like)
    with cr.session(rt, stream, like.stream) as s:
        if o is None:
            o = view(_empty(like, like.shape if shape is None else shape, np.dtype(dtype), rt), "out")
        yield rt, s, o.obj, o


def _empty(like: CudaArrayView, shape: Tuple[int, ...], dtype: np.dtype, rt: cr.Runtime) -> Any:
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


def _runtime_for(arr: CudaArrayView) -> cr.Runtime:
    return cr.runtime(prefer="cupy" if type(arr.obj).__module__.startswith("cupy") else None)


# -- the cuda implementation of edgematte.kernels (arguments validated by Kernels) --------------
def make_trimap(m: CudaArrayView, k: int, iterations: int, fg: int, bg: int, o: Optional[CudaArrayView],
                stream: Any) -> Any:
    """Trimap [H,W] uint8 {0,128,255} of a device mask; returns ``o``'s array or a new one.

    One pass per iteration over the ellipse (tiled in shared memory up to radius 64), the first
    thresholding the mask, the last writing the trimap. Float masks synchronise to check NaN/range.
    """
    f32 = m.dtype == np.float32
    h, w = m.shape
    with _device_call(m, stream, o) as (rt, s, out, o):
        out_pitch = o.pitch(1)
        r = k // 2
        tiled = r <= EM_TRIMAP_TILE_MAX_RADIUS
        shared = (2 * r + 1) * 4 + ((cr.BLOCK[0] + 2 * r) * (cr.BLOCK[1] + 2 * r) if tiled else 0)
        work_ptr = rt.scratch("trimap", w * h, s) if iterations > 1 else 0
        status_ptr = rt.scratch("status", 4, s) if f32 else 0
        if f32:
            rt.zero_int(status_ptr, s)
        src, src_pitch = m.ptr, m.pitch(m.dtype.itemsize)
        for p in range(1, iterations + 1):
            to_out = (iterations - p) % 2 == 0  # the last pass writes `out`
            dst, dst_pitch = (o.ptr, out_pitch) if to_out else (work_ptr, w)
            flags = (EM_TRIMAP_THRESHOLD if p == 1 else 0) | (EM_TRIMAP_FINAL if p == iterations else 0)
            kernel = "em_k_trimap_pass_f32" if (p == 1 and f32) else "em_k_trimap_pass_u8"
            args = (src, src_pitch, dst, dst_pitch, w, h, r, flags, fg, bg, int(tiled), status_ptr)
            rt.launch(kernel, cr.grid_for(w, h), args, s, shared)
            src, src_pitch = dst, dst_pitch
        if f32:
            raise_for_status(rt.read_int(status_ptr, s), m.name, device_shape=m.shape)
    return out


def composite(im: CudaArrayView, al: CudaArrayView, bg: Optional[CudaArrayView], colour: Optional[Tuple[int, int, int]],
              o: Optional[CudaArrayView], stream: Any) -> Any:
    """round(image*a + background*(1-a)) on the device with the CPU kernel's integer rounding; a
    background image ``bg``, a ``colour``, or neither ([H,W,4] = image + alpha). Returns ``o``'s array
    or a new one. Float alpha synchronises to check NaN/range."""
    h, w = im.shape[:2]
    mode = EM_BG_IMAGE if bg is not None else EM_BG_COLOR if colour is not None else EM_BG_NONE
    c0, c1, c2 = colour if colour is not None else (0, 0, 0)
    f32 = al.dtype == np.float32
    with _device_call(im, stream, o, (h, w, 4 if mode == EM_BG_NONE else 3)) as (rt, s, out, o):
        status_ptr = rt.scratch("status", 4, s) if f32 else 0
        if f32:
            rt.zero_int(status_ptr, s)
        args = (
            im.ptr, im.pitch(3), al.ptr, al.pitch(al.dtype.itemsize), bg.ptr if bg is not None else 0,
            bg.pitch(3) if bg is not None else 0, c0, c1, c2, mode, o.ptr, o.pitch(o.shape[2]), w, h, status_ptr,
        )  # fmt: skip
        rt.launch("em_k_composite_f32" if f32 else "em_k_composite_u8", cr.grid_for(w, h), args, s)
        if f32:
            raise_for_status(rt.read_int(status_ptr, s), al.name, device_shape=al.shape)
    return out


# -- CUDA-only stages (public as edgematte.kernels.cuda) ----------------------------------------
_IMAGE = "HxWx3 uint8"
_U8 = (np.dtype(np.uint8),)
_F16_F32 = (np.dtype(np.float16), np.dtype(np.float32))


def blur_taps(kernel_size: int, sigma: Optional[float] = None) -> np.ndarray:
    """1-D float32 taps: a box (cv2.blur) when sigma is None, else cv2.getGaussianKernel(kernel_size, sigma)."""
    k = v.check_odd("kernel_size", kernel_size, 1 << 16)
    if sigma is None:
        return np.full(k, 1.0 / k, np.float32)
    import cv2

    return cv2.getGaussianKernel(k, float(sigma)).astype(np.float32).ravel()


def blur(image: Any, kernel_size: int, sigma: Optional[float] = None, *, out: Any = None, stream: Any = None):
    """Separable blur of a device uint8 [H,W,3] image (background for compositing), reflect-101 borders.

    Box filter like cv2.blur when ``sigma`` is None, else Gaussian like cv2.GaussianBlur; within 1 of
    OpenCV.
    """
    im = v.check_device_array("image", image, 3, _U8, _IMAGE, 3)
    taps = blur_taps(kernel_size, sigma)
    h, w = im.shape[:2]
    pitch = im.pitch(3)
    given = v.check_device_out(out, (h, w, 3), np.uint8, [im])
    with _device_call(im, stream, given) as (rt, s, out, o):
        taps_ptr = rt.constant(("blur taps", len(taps), sigma), taps)
        tmp_ptr = rt.scratch("blur", h * w * 3 * 4, s)
        radius = len(taps) // 2
        rt.launch("em_k_blur_h", cr.grid_for(w, h), (im.ptr, pitch, tmp_ptr, w, h, taps_ptr, radius), s)
        rt.launch("em_k_blur_v", cr.grid_for(w, h), (tmp_ptr, o.ptr, o.pitch(3), w, h, taps_ptr, radius), s)
    return out


def preprocess(
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
    im = v.check_device_array("image", image, 3, _U8, _IMAGE, 3)
    oh = v.check_int("height", height, 1, 1 << 16)
    ow = v.check_int("width", width, 1, 1 << 16)
    dt = np.dtype(dtype)
    if dt not in (np.float16, np.float32):
        raise InputError(f"dtype is {dt}; expected float16 or float32")
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    if mean.shape != (3,) or std.shape != (3,) or not np.all(std > 0):
        raise InputError(f"mean/std are {mean.tolist()} / {std.tolist()}; expected 3 values each, std > 0")
    scale = (1.0 / (255.0 * std)).tolist()
    bias = (-mean / std).tolist()
    h, w = im.shape[:2]
    pitch = im.pitch(3)
    given = v.check_device_out(out, (1, 3, oh, ow), dt, [im])
    if given is not None and given.strides != packed_strides(given.shape, dt.itemsize):
        raise InputError(f"out has strides {given.strides}; expected a C-contiguous [1,3,H,W] tensor")
    with _device_call(im, stream, given, (1, 3, oh, ow), dt) as (rt, s, out, o):
        kernel = "em_k_preprocess_f16" if dt == np.float16 else "em_k_preprocess_f32"
        args = (im.ptr, w, h, pitch, int(bool(bgr)), o.ptr, ow, oh, w / ow, h / oh, *scale, *bias)
        rt.launch(kernel, cr.grid_for(ow, oh), args, s)
    return out


def upsample_alpha(alpha: Any, height: int, width: int, *, out: Any = None, stream: Any = None) -> Any:
    """Model alpha float16/float32 0..1 ([h,w], [1,h,w] or [1,1,h,w]) -> uint8 [height,width].

    Bilinear (OpenCV INTER_LINEAR sampling), then round(clamp(a, 0, 1) * 255); NaN gives 0.
    """
    al = view(alpha, "alpha")
    if len(al.shape) in (3, 4) and all(d == 1 for d in al.shape[:-2]):
        al = CudaArrayView(al.obj, al.name, al.ptr, al.shape[-2:], al.dtype, al.strides[-2:], al.readonly, al.stream)
    v.check_layout("alpha", al.shape, al.dtype, 2, _F16_F32, "HxW float16 or float32 (0..1)")
    oh = v.check_int("height", height, 1, 1 << 16)
    ow = v.check_int("width", width, 1, 1 << 16)
    h, w = al.shape
    pitch = al.pitch(al.dtype.itemsize)
    given = v.check_device_out(out, (oh, ow), np.uint8, [al])
    with _device_call(al, stream, given, (oh, ow)) as (rt, s, out, o):
        kernel = "em_k_upsample_alpha_f16" if al.dtype == np.float16 else "em_k_upsample_alpha_f32"
        args = (al.ptr, w, h, pitch, o.ptr, ow, oh, o.pitch(1), w / ow, h / oh)
        rt.launch(kernel, cr.grid_for(ow, oh), args, s)
    return out
