"""The CUDA array space: CuPy arrays, edgematte's CUDA kernels, stage timings from CUDA events.

The same methods as :class:`~edgematte.pipeline.host.HostSpace`, on the GPU: a host frame is uploaded once
(``take``), the model reads its input in place and leaves its outputs on the device (TensorRT binds our
buffers by address), every stage runs as a kernel of ``edgematte/kernels/cuda`` (``stages.cu`` holds the
pipeline's own: resize, area means, conversions, the "fast" fit and pass), and ``deliver`` downloads what a
host caller gets. Only "full" solves its band on the host (``solve_band`` has no GPU version): its frame,
trimap and prior come down and its alpha and foreground go back up.

Results (``results``): "auto" delivers NumPy arrays for host frames and CuPy arrays for device frames; "host"
and "device" always one or the other; "composite" downloads only the composite. Kernels launch on CuPy's
current stream; the TensorRT backend's stream is a blocking stream, ordered after them.

The stage kernels repeat the host's roundings (OpenCV's INTER_LINEAR and INTER_AREA, guided.c's fit and
pass), so "fast" gives the host's alpha and foreground; what can differ (alpha within 2 levels, composite and
foreground within 1, checked by ``bench/gpu_check.py``): the "blur" background's Gaussian (the separable CUDA
kernel, within 1 of OpenCV's), "off"'s bilinear upsampling and a backend's own float rounding.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import BackendUnavailableError, InputError
from ..kernels.cuda import _runtime as cr
from ..refine import FAST
from ..validate import describe, is_device_array

__all__ = ["CudaSpace", "EventClock", "RESULTS"]

RESULTS = ("auto", "host", "device", "composite")


class EventClock:
    """Stage laps from CUDA events recorded on the current stream; read once, at the end."""

    def __init__(self, cupy: Any) -> None:
        self.cp, self.marks = cupy, []
        self.lap("start")

    def lap(self, stage: str) -> None:
        event = self.cp.cuda.Event()
        event.record()
        self.marks.append((stage, event))

    def finish(self) -> Dict[str, float]:
        self.marks[-1][1].synchronize()
        elapsed = self.cp.cuda.get_elapsed_time
        timings = {stage: float(elapsed(self.marks[i][1], ev)) for i, (stage, ev) in enumerate(self.marks[1:])}
        timings["total"] = float(elapsed(self.marks[0][1], self.marks[-1][1]))
        return timings


def _import_cupy() -> Any:
    try:
        import cupy
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the CUDA space needs CuPy ({exc}); install the wheel matching your CUDA: "
            "pip install cupy-cuda12x (JetPack: see the README's GPU section)"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError without a driver or device: not an ImportError
        raise BackendUnavailableError(f"CuPy could not start CUDA ({type(exc).__name__}: {exc})") from exc
    if count < 1:
        raise BackendUnavailableError("CuPy found no CUDA device; expected an NVIDIA GPU and driver")
    return cupy


class CudaSpace:
    """CuPy arrays and the CUDA kernels, on the current CuPy device and stream (see the module docstring).

    ``cupy`` and ``runtime`` (the kernel launcher, default ``edgematte.kernels.cuda._runtime.runtime``) are injectable:
    the tests run this space's code on the CPU with NumPy and the kernels compiled as C++.
    """

    name = "cuda"
    device = True

    def __init__(self, results: str = "auto", *, cupy: Any = None, runtime: Any = None) -> None:
        if results not in RESULTS:
            raise InputError(f"received results={results!r}; expected one of {RESULTS}")
        self.results = results
        self.xp = cupy if cupy is not None else _import_cupy()
        self._rt = runtime if runtime is not None else cr.runtime(prefer="cupy")
        from ..kernels import composite, make_trimap
        from ..kernels.cuda import blur, preprocess

        self._composite, self._make_trimap, self._blur, self._preprocess = composite, make_trimap, blur, preprocess

    def _launch(self, kernel: str, w: int, h: int, *args: Any) -> None:
        self._rt.launch(kernel, cr.grid_for(w, h), args, None)

    @staticmethod
    def _ptr(array: Any) -> int:
        return 0 if array is None else int(array.data.ptr)

    @staticmethod
    def _extra(b: Any, name: str, make: Any) -> Any:
        """A buffer only this space needs, made on first use and kept in ``b``."""
        if getattr(b, name, None) is None:
            setattr(b, name, make())
        return getattr(b, name)

    # -- frames in and out -------------------------------------------------------------------------
    def check(self, frame: Any, channels: str) -> Tuple[Any, Any]:
        """A caller's frame -> (uint8 HxWx3 BGR, its own alpha or None). Host frames are checked as the host
        space checks them (and uploaded by ``take``); device frames (CuPy, torch CUDA, DLPack) are used in place
        when they are BGR uint8 HxWx3 (RGB and HxWx4 make one device copy)."""
        from ..io.frames import split_alpha

        if not isinstance(frame, self.xp.ndarray) and not is_device_array(frame):
            return split_alpha(frame, channels=channels)
        array = self.asarray(frame)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4) or 0 in array.shape:
            raise InputError(f"received a frame as {describe(array)}; expected a uint8 HxWx3 (or HxWx4) array")
        alpha = self.xp.ascontiguousarray(array[..., 3]) if array.shape[2] == 4 else None
        return self.xp.ascontiguousarray(array[..., :3] if channels == "bgr" else array[..., 2::-1]), alpha

    def take(self, frame: Any, b: Any, clock: EventClock) -> Any:
        """A device frame as it is; a host frame uploaded once into ``b.upload``."""
        b.host_frame = not isinstance(frame, self.xp.ndarray)
        if not b.host_frame:
            return frame
        upload = self._extra(b, "upload", lambda: self.empty(frame.shape, np.uint8))
        upload.set(frame)
        clock.lap("upload")
        return upload

    def deliver(self, fields: Dict[str, Any], b: Any, clock: EventClock) -> Dict[str, Any]:
        """The Result's arrays where the caller gets them (see ``results``): host copies in reused buffers."""
        if self.results == "device" or (self.results == "auto" and not b.host_frame):
            return fields
        names = ("composite",) if self.results == "composite" else tuple(fields)
        host = self._extra(b, "host", dict)
        out = {}
        for name, array in fields.items():
            if array is not None and name in names:
                if name not in host or host[name].shape != array.shape:
                    host[name] = np.empty(array.shape, array.dtype)
                array = array.get(out=host[name])
            out[name] = array
        clock.lap("download")
        return out

    def clock(self) -> EventClock:
        return EventClock(self.xp)

    def empty(self, shape: Tuple[int, ...], dtype: Any) -> Any:
        return self.xp.empty(shape, dtype)

    def asarray(self, array: Any) -> Any:
        """A CuPy view of a device array (``__cuda_array_interface__`` or DLPack: no copy), or one upload."""
        dlpack_only = hasattr(array, "__dlpack__") and not hasattr(array, "__cuda_array_interface__")
        return self.xp.from_dlpack(array) if dlpack_only and not isinstance(array, np.ndarray) else self.xp.asarray(array)

    def copy(self, dst: Any, src: Any) -> None:
        self.xp.copyto(dst, src, casting="same_kind")

    def model_input(self, backend: Any, name: str, shape: Tuple[int, ...], dtype: Any) -> Any:
        """The model input on the device: TensorRT binds it by address, with no copy."""
        return self.empty(shape, dtype)

    # -- resampling and conversions ----------------------------------------------------------------
    def resize(self, src: Any, out: Any) -> Any:
        """uint8 [H,W] or [H,W,C] (rows may be a crop's) -> ``out``, OpenCV's INTER_LINEAR bit for bit."""
        (sh, sw), (dh, dw) = src.shape[:2], out.shape[:2]
        channels = 1 if src.ndim == 2 else src.shape[2]
        self._launch("em_k_resize_u8", dw, dh, self._ptr(src), src.strides[0], sw, sh, self._ptr(out), out.strides[0],
                     dw, dh, channels, 1.0 / (dw / sw), 1.0 / (dh / sh))
        return out

    def area(self, src: Any, out: Any) -> Any:
        """uint8 [H,W,C] or float32 [H,W] -> the smaller ``out``, OpenCV's INTER_AREA (its fast path for whole blocks)."""
        (sh, sw), (dh, dw) = src.shape[:2], out.shape[:2]
        scale_x, scale_y = 1.0 / (dw / sw), 1.0 / (dh / sh)
        whole = abs(scale_x - round(scale_x)) < 2.2e-16 and abs(scale_y - round(scale_y)) < 2.2e-16
        self._launch("em_k_area_f32" if src.dtype == np.float32 else "em_k_area_u8", dw, dh, self._ptr(src),
                     src.strides[0], sw, sh, self._ptr(out), out.strides[0], dw, dh, 1 if src.ndim == 2 else src.shape[2],
                     scale_x, scale_y, int(whole))
        return out

    def to_tensor(self, image: Any, src: Any) -> None:
        """uint8 HxWx3 BGR -> ``src`` [1,3,h,w] RGB float (the engine's dtype) 0..1, in the binding."""
        h, w = image.shape[:2]
        self._preprocess(image, h, w, dtype=src.dtype, out=src)

    def to_u8(self, planes: Any, out: Any) -> Any:
        """float planes [C,h,w] 0..1 -> uint8 [h,w] (C=1) or [h,w,3] BGR from RGB (C=3), rounded, NaN -> 0."""
        planes = self.xp.ascontiguousarray(planes)
        kernel = "em_k_planes_u8_f16" if planes.dtype == np.float16 else "em_k_planes_u8_f32"
        h, w = planes.shape[1:]
        self._launch(kernel, w, h, self._ptr(planes), planes.shape[0], self._ptr(out), w, h)
        return out

    # -- temporal ----------------------------------------------------------------------------------
    def difference_keep(self, a: Any, b: Any) -> float:
        mean, b[...] = float(self.xp.abs(a.astype(np.int16) - b).mean()) / 255.0, a
        return mean

    def temporal_weights(self, guide, previous, weights, strength: float, still: float, moving: float) -> None:
        h, w = weights.shape
        self._launch("em_k_temporal_weights", w, h, self._ptr(guide), self._ptr(previous), self._ptr(weights), w, h,
                     strength, still, moving)
        self._launch("em_k_temporal_keep", w, h, self._ptr(guide), self._ptr(previous), w, h)

    def temporal_blend(self, weights, values, state, known_guide, tolerance: float) -> None:
        h, w = weights.shape
        values = self.xp.ascontiguousarray(values)
        self._launch("em_k_temporal_blend", w, h, self._ptr(weights), self._ptr(values), self._ptr(state), w, h,
                     state.shape[0], self._ptr(known_guide), tolerance)

    def temporal_alpha(self, weights, alpha, state) -> None:
        (h, w), grid = alpha.shape, weights.shape if weights is not None else (0, 0)
        self._launch("em_k_temporal_alpha", w, h, self._ptr(weights), *grid, self._ptr(alpha), self._ptr(state), w, h)

    # -- refinement --------------------------------------------------------------------------------
    def fit(self, small: Any, alpha: Any, b: Any, threads: Optional[int], *, foreground: bool) -> None:
        """The "fast" fit on the device, as the host fits it: the model-size frame and alpha area-averaged to the
        fitting level, the guided filter's coefficients into ``b.coef`` and, with ``foreground``, the blur-fusion
        blurs into ``b.blurs`` (FAST settings; guided.c's roundings)."""
        fh, fw = b.fit_alpha.shape
        self.area(small, b.fit_image)
        self.area(self.xp.ascontiguousarray(alpha, dtype=np.float32), b.fit_alpha)
        ab = self._extra(b, "fit_ab", lambda: self.empty((4, fh, fw), np.float32))
        image, p = self._ptr(b.fit_image), self._ptr(b.fit_alpha)
        self._launch("em_k_fit_ab", fw, fh, image, p, self._ptr(ab), fw, fh, FAST.radius, FAST.eps)
        self._launch("em_k_fit_coef", fw, fh, self._ptr(ab), p, self._ptr(b.coef), fw, fh, FAST.mean_radius,
                     FAST.known_radius)
        if foreground:
            two = FAST.foreground_small_radius >= 0
            first = self._extra(b, "fit_blurs", lambda: self.empty((6, fh, fw), np.float32)) if two else b.blurs
            self._launch("em_k_fit_blur", fw, fh, image, p, 0, self._ptr(first), fw, fh, FAST.foreground_radius)
            if two:
                self._launch("em_k_fit_blur", fw, fh, image, p, self._ptr(first), self._ptr(b.blurs), fw, fh,
                             FAST.foreground_small_radius)

    def apply(self, frame: Any, b: Any, alpha: Any, foreground: Any, background: Any, out: Any,
              threads: Optional[int]) -> Any:
        """The "fast" pass of the fit in ``b`` at the frame's size (``em_k_guided_apply``), then the composite."""
        colours = foreground is not None or out is not None
        fg = foreground if foreground is not None else (b.foreground if colours else None)
        (h, w), (fh, fw) = frame.shape[:2], b.coef.shape[1:]
        self._launch("em_k_guided_apply", w, h, self._ptr(b.coef), self._ptr(b.blurs) if colours else 0, fw, fh,
                     self._ptr(frame), frame.strides[0], self._ptr(alpha), self._ptr(fg), w, h)
        if out is not None:
            self.composite(fg, alpha, background, out, threads)
        return alpha

    def edges(self, alpha: Any, config: Any, b: Any, threads: Optional[int]) -> Any:
        """Each separable pass: rows into a packed work buffer, columns back into ``alpha`` (the cut on the last)."""
        (h, w), pitch, shift = alpha.shape, alpha.strides[0], config.edge_shift
        passes = [(abs(shift), int(shift > 0))] * bool(shift) + [(config.feather, 2)] * bool(config.feather)
        if not passes:
            self._launch("em_k_edges_cut", w, h, self._ptr(alpha), pitch, w, h, config.level)
            return alpha
        work = self._extra(b, "edge_work", lambda: self.empty((h, w), np.uint8))
        for k, (radius, op) in enumerate(passes):
            cut = config.level if k == len(passes) - 1 else 0
            self._launch("em_k_edges_h", w, h, self._ptr(alpha), pitch, self._ptr(work), w, h, radius, op)
            self._launch("em_k_edges_v", w, h, self._ptr(work), self._ptr(alpha), pitch, w, h, radius, op, cut)
        return alpha

    def make_trimap(self, mask: Any, c: Any, out: Any, threads: Optional[int]) -> Any:
        return self._make_trimap(mask, c.kernel_size, c.iterations, c.fg_threshold, c.bg_threshold, out=out)

    def solve_band(self, frame: Any, trimap: Any, prior: Any, foreground: bool, b: Any,
                   threads: Optional[int]) -> Tuple[Any, Any]:
        """"full" on the host (the host space's): frame, trimap and prior down; alpha and foreground up."""
        from .host import HostSpace

        host = self._extra(b, "host_full", lambda: SimpleNamespace(
            frame=np.empty(frame.shape, np.uint8), trimap=np.empty(trimap.shape, np.uint8),
            prior=np.empty(prior.shape, np.uint8), alpha=np.empty(prior.shape, np.uint8)))
        alpha, fg = HostSpace().solve_band(frame.get(out=host.frame), trimap.get(out=host.trimap),
                                           prior.get(out=host.prior), foreground, host, threads)
        b.alpha.set(alpha)
        if fg is not None:
            b.foreground.set(fg)
        return b.alpha, None if fg is None else b.foreground

    # -- alpha and composite -----------------------------------------------------------------------
    def multiply(self, alpha: Any, input_alpha: Any, out: Any) -> Any:
        """round(alpha * input_alpha / 255) into ``out``: (a * i + 127) // 255, cv2.multiply's result for every pair."""
        product = alpha.astype(np.uint16) * self.asarray(input_alpha)
        product += 127
        product //= 255
        self.xp.copyto(out, product, casting="unsafe")
        return out

    def blur(self, frame: Any, b: Any) -> Any:
        """The "blur" background in b.background: the frame at 1/8 size (area), the 13-tap Gaussian of sigma 2,
        bilinear back up."""
        self.area(frame, b.blur_small)
        blurred = self._extra(b, "blur_tmp", lambda: self.empty(b.blur_small.shape, np.uint8))
        self._blur(b.blur_small, 13, 2.0, out=blurred)
        return self.resize(blurred, b.background)

    def cover(self, image: np.ndarray, b: Any) -> None:
        """A background image resized to cover the frame on the host (once per image), then uploaded."""
        from ..background import cover

        staging = self._extra(b, "cover_staging", lambda: np.empty(b.background.shape, np.uint8))
        cover(image, staging)
        b.background.set(staging)

    def composite(self, image: Any, alpha: Any, background: Any, out: Any, threads: Optional[int]) -> Any:
        return self._composite(image, alpha, background, out=out)

