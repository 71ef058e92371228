"""The host array space: NumPy arrays, OpenCV and edgematte's CPU kernels, timed with the host clock.

Each method is one stage operation of :class:`~edgematte.pipeline.core.Pipeline` on host arrays; the
:class:`~edgematte.pipeline.cuda.CudaSpace` has the same methods on the GPU. Arguments are the pipeline's own
buffers, checked once at the boundary (:meth:`HostSpace.check`), so the CPU kernels are called through their
trusted entries.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import InputError
from ..kernels import native, threads_now, trusted
from ..refine import FAST, FULL
from ..validate import describe, is_device_array

__all__ = ["HostSpace", "HostClock"]


class HostClock:
    """Stage laps (ms) from the host clock."""

    def __init__(self) -> None:
        self.t0 = self.tick = time.perf_counter()
        self.timings: Dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = (now - self.tick) * 1e3
        self.tick = now

    def finish(self) -> Dict[str, float]:
        self.timings["total"] = (self.tick - self.t0) * 1e3
        return self.timings


class HostSpace:
    """NumPy, OpenCV and the CPU kernels: the pipeline's stages on the CPU."""

    name = "host"
    device = False

    def __init__(self) -> None:
        self._kernels = trusted("cpu")  # arguments are checked once, at the boundary
        self._guided = native("_guided")
        self._temporal = native("_temporal")
        self._float32: Dict[Tuple[int, ...], np.ndarray] = {}  # a float16 model input's float32 twin

    # -- frames in and out -------------------------------------------------------------------------
    def check(self, frame: Any, channels: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """A caller's frame -> (uint8 HxWx3 BGR, its own alpha or None); device arrays are refused: the
        caller chose the GPU for the frame, and a silent download would hide that the stages run on the CPU."""
        from ..io.frames import split_alpha

        if is_device_array(frame):
            raise InputError(f"received a device frame ({describe(frame)}) but this pipeline runs its stages on the "
                             "CPU; expected a NumPy uint8 HxWx3 frame, or a TensorRT backend with CuPy installed for "
                             "device frames")
        return split_alpha(frame, channels=channels)

    def take(self, frame: np.ndarray, b: Any, clock: HostClock) -> np.ndarray:
        return frame

    def deliver(self, fields: Dict[str, Any], b: Any, clock: HostClock) -> Dict[str, Any]:
        return fields

    def clock(self) -> HostClock:
        return HostClock()

    def empty(self, shape: Tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.empty(shape, dtype)

    def asarray(self, array: Any) -> np.ndarray:
        """A model output as NumPy, float16 widened to float32 (OpenCV's and the kernels' type)."""
        array = np.asarray(array)
        return array.astype(np.float32) if array.dtype == np.float16 else array

    def copy(self, dst: np.ndarray, src: np.ndarray) -> None:
        np.copyto(dst, src)

    def model_input(self, backend: Any, name: str, shape: Tuple[int, ...], dtype: Any) -> np.ndarray:
        """The model input [1,3,h,w] of the model's dtype: the backend's own (e.g. page-locked) buffer when it offers one."""
        offer = getattr(backend, "input_buffer", None)
        return offer(name, shape) if offer is not None else np.empty(shape, dtype)

    # -- resampling and conversions ----------------------------------------------------------------
    def resize(self, src: np.ndarray, out: np.ndarray, interpolation: Optional[int] = None) -> np.ndarray:
        """``src`` resampled into ``out`` (bilinear by default, OpenCV's INTER_LINEAR)."""
        import cv2

        h, w = out.shape[:2]
        return cv2.resize(src, (w, h), dst=out, interpolation=cv2.INTER_LINEAR if interpolation is None else
                          interpolation)

    def to_tensor(self, image: np.ndarray, src: np.ndarray) -> None:
        """uint8 HxWx3 BGR -> ``src`` [1,3,h,w] RGB float 0..1, one pass (float16: through a float32 twin)."""
        if src.dtype == np.float32:
            self._guided.model_input(image, src[0])
            return
        twin = self._float32.get(src.shape)
        if twin is None:
            twin = self._float32[src.shape] = np.empty(src.shape, np.float32)
        self._guided.model_input(image, twin[0])
        np.copyto(src, twin, casting="same_kind")

    def to_u8(self, planes: np.ndarray, out: np.ndarray) -> np.ndarray:
        """float planes [C,h,w] -> uint8 ``out`` ([h,w]; BGR [h,w,3] from RGB C=3) by the float-alpha rule (kernels)."""
        import cv2

        p = planes.astype(np.float32, copy=False)  # a float16 model's outputs too
        image = p[0] if p.shape[0] == 1 else cv2.merge((p[2], p[1], p[0]))
        self._kernels.unit_to_u8(image.reshape(out.shape[0], -1), out.reshape(out.shape[0], -1))
        return out

    # -- temporal ----------------------------------------------------------------------------------
    def difference_keep(self, a: np.ndarray, b: np.ndarray) -> float:
        """mean |a - b| / 255 of two uint8 HxWx3 images, in one pass that then copies a into b."""
        return self._temporal.difference_keep(a.reshape(-1), b.reshape(-1)) / (a.size * 255.0)

    def temporal_weights(self, guide, previous, weights, strength: float, still: float, moving: float) -> None:
        """The temporal filter's weights from the motion between ``previous`` and ``guide``; previous <- guide."""
        self._temporal.temporal_weights(guide, previous, weights, strength, still, moving)

    def temporal_blend(self, weights, values, state, known_guide, tolerance: float) -> None:
        """state = weights * state + (1 - weights) * values, with the rule for known cells (``csrc/temporal.h``)."""
        self._temporal.temporal_blend(weights, values, state, known_guide, tolerance)

    def temporal_alpha(self, weights, alpha, state) -> None:  # RVM's full-resolution alpha, in place (temporal.h)
        self._temporal.temporal_alpha(weights, alpha, state)

    # -- refinement --------------------------------------------------------------------------------
    def fit(self, small: np.ndarray, alpha: np.ndarray, b: Any, threads: Optional[int], *, foreground: bool) -> None:
        """The "fast" fit: ``small`` (uint8 mh x mw x 3) and the model ``alpha`` (float32 mh x mw) area-averaged
        to the fitting level, then the coefficients into ``b.coef`` and, with ``foreground``, the blur-fusion
        blurs into ``b.blurs``, side by side (``FAST`` settings)."""
        import cv2

        fh, fw = b.fit_alpha.shape
        cv2.resize(small, (fw, fh), dst=b.fit_image, interpolation=cv2.INTER_AREA)
        cv2.resize(alpha, (fw, fh), dst=b.fit_alpha, interpolation=cv2.INTER_AREA)
        if getattr(b, "fit_scratch", None) is None:  # for both fits at once
            radius = max(FAST.radius, FAST.mean_radius, FAST.foreground_radius, FAST.foreground_small_radius)
            b.fit_scratch = np.empty(2 * self._guided.scratch_size(fh, fw, radius), np.float32)
        self._guided.guided_fit(b.fit_image, b.fit_alpha, b.coef, FAST.radius, FAST.mean_radius, FAST.eps,
                                FAST.known_radius, b.blurs if foreground else None, FAST.foreground_radius,
                                FAST.foreground_small_radius, threads_now(threads), b.fit_scratch)

    def apply(self, frame: np.ndarray, b: Any, alpha: np.ndarray, foreground: Optional[np.ndarray], background: Any,
              out: Optional[np.ndarray], threads: Optional[int]) -> np.ndarray:
        """The "fast" full-resolution pass of the fit in ``b``: ``alpha`` (known regions exactly 0/255), and with
        ``foreground`` or ``out`` the blur-fusion foreground, composited into ``out`` over ``background`` (an
        image, a colour or None for BGRA) in the same pass. Returns ``alpha``."""
        blurs = b.blurs if foreground is not None or out is not None else None
        image = background if isinstance(background, np.ndarray) else None
        colour = background if isinstance(background, tuple) else None
        self._guided.guided_apply(b.coef, blurs, frame, alpha, foreground, image, colour, out, threads_now(threads))
        return alpha

    def make_trimap(self, mask: np.ndarray, c: Any, out: np.ndarray, threads: Optional[int]) -> np.ndarray:
        return self._kernels.make_trimap(mask, c.kernel_size, c.iterations, c.fg_threshold, c.bg_threshold, out,
                                         threads)

    def solve_band(self, frame: np.ndarray, trimap: np.ndarray, prior: np.ndarray, foreground: bool, b: Any,
                   threads: Optional[int]) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """"full": the trimap's band solved by closed-form matting with ``prior`` (uint8, the "fast" alpha) as soft
        prior, at 1/2 resolution then guided-upsampled (``FULL``), into ``b.alpha``; with ``foreground``, the
        blur-fusion foreground. (Both return new frame-sized arrays: this mode's only per-frame allocations.)"""

        from ..refine import estimate_foreground, solve_band

        solved = solve_band(frame, trimap, prior=prior, prior_weight=FULL.prior_weight, iterations=FULL.iterations,
                            final_iterations=FULL.final_iterations, threads=threads)
        self._kernels.unit_to_u8(solved, b.alpha)
        return b.alpha, estimate_foreground(frame, b.alpha) if foreground else None

    def fgf(self, frame: np.ndarray, a: np.ndarray, bias: np.ndarray, alpha: np.ndarray, foreground: np.ndarray,
            threads: int) -> None:
        """RVM's refiner at full resolution from its small-size coefficients (``edgematte.kernels._fgf``)."""
        native("_fgf").fgf_apply(frame, a, bias, alpha, foreground, threads)

    # -- alpha and composite -----------------------------------------------------------------------
    def edges(self, alpha: np.ndarray, config: Any, b: Any, threads: Optional[int]) -> np.ndarray:
        """``config``'s edge controls on ``alpha`` in place (``csrc/edges.c``: no frame-sized buffer)."""
        native("_edges").edge_controls(alpha, config.edge_shift, config.feather, config.level, threads_now(threads))
        return alpha

    def multiply(self, alpha: np.ndarray, input_alpha: np.ndarray, out: np.ndarray) -> np.ndarray:
        """round(alpha * input_alpha / 255) into ``out``."""
        import cv2

        return cv2.multiply(alpha, input_alpha, dst=out, scale=1.0 / 255.0)

    def blur(self, frame: np.ndarray, b: Any) -> np.ndarray:
        """The "blur" background: the frame at 1/8 size (area), Gaussian sigma 2, bilinear back up, in b.background."""
        import cv2

        self.resize(frame, b.blur_small, cv2.INTER_AREA)
        cv2.GaussianBlur(b.blur_small, (0, 0), 2.0, dst=b.blur_small)
        return self.resize(b.blur_small, b.background)

    def cover(self, image: np.ndarray, b: Any) -> None:
        """A background image resized to cover the frame (centre-cropped), into b.background."""
        from ..background import cover

        cover(image, b.background)

    def composite(self, image: np.ndarray, alpha: np.ndarray, background: Any, out: np.ndarray,
                  threads: Optional[int]) -> np.ndarray:
        return self._kernels.composite(image, alpha, background, out, threads)
