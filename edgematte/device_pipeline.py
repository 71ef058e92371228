"""The device-resident pipeline: the frame is uploaded once and every stage runs on the GPU.

:class:`DevicePipeline` keeps :class:`~edgematte.pipeline.Pipeline`'s contract
(``process(frame, background=...)`` -> a finished :class:`~edgematte.pipeline.Result`) and its stage
definitions, written once against an *array space*: an array namespace ``xp`` plus the kernels that
take its arrays.

- :class:`CudaSpace`: CuPy arrays and the CUDA kernels. The preprocessing kernel writes straight into
  the engine's input binding, the model output is read in place, and timings come from CUDA events.
- :class:`HostSpace`: NumPy arrays and the CPU kernels, timed with the host clock. It runs the same
  stage code on the CPU. The tests use it to check this module's logic, buffer plan, stage order and
  dispatch against ``Pipeline`` on machines without a GPU. It does not check CUDA: ``bench/gpu_check.py``
  does that on a GPU.

Stages, each the CPU pipeline's definition:

1. upload: a host frame is copied once into a reused device buffer; device frames
   (``__cuda_array_interface__`` or DLPack: CuPy, torch, pycuda) are used as they are;
2. preprocess: exact 2x box halvings (both sides, or the one side that stays >= 2x the model's),
   then one bilinear resize to the model size (both with OpenCV's fixed-point INTER_LINEAR rule,
   :func:`resize_linear_u8`), the scene-cut test, then BGR uint8 HWC -> RGB float 0..1 CHW in the
   engine's input binding;
3. model: the backend runs on the binding; recurrent states (``recurrent=``) stay on the device;
4. temporal EMA at the model size;
5. refine: "fast" is Pipeline's guided filter, fitted on the host at the fitting level (the small
   model-size frame and alpha come down once) and evaluated at full resolution in the space, with
   the known-region clamp and blur-fusion foreground (on the GPU one elementwise kernel, the twin of
   the native pass); "off" rounds and upsamples the model alpha; "full" adds the trimap of the
   "fast" alpha and solves its band on the host (``solve_band``, then ``estimate_foreground``); a
   frame's own alpha (``input_alpha``, BGRA input) multiplies in;
6. composite of the foreground (or the frame) over a colour, an image (resized to cover once,
   uploaded once), "blur" or None (BGRA);
7. download (host results only).

Results stay where the frame came from (``results="auto"``): host frames get NumPy arrays (each
downloaded once), device frames get CuPy arrays. ``results="composite"`` downloads only the composite.
Arrays in a Result are reused buffers, overwritten by the same thread's next call.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from .errors import BackendUnavailableError, InputError
from .pipeline import (
    NO_COMPOSITE,
    Pipeline,
    Result,
    TemporalConfig,
    TrimapConfig,
    _check_task,
    _cover,
    _recurrent_step,
    _refine_mode,
    check_every,
    fit_fast,
    keep_model_alpha,
    model_due,
    solve_full,
)
from .validate import check_threads, is_cuda_array

__all__ = ["DevicePipeline", "HostSpace", "CudaSpace", "select_pipeline", "is_device_frame", "check_device_frame",
           "takes_device_arrays", "linear_plan", "resize_linear_u8"]

log = logging.getLogger(__name__)

_RESULTS = ("auto", "host", "device", "composite")
_DLPACK_CUDA = (2, 13)  # kDLCUDA, kDLCUDAManaged


# -- where a frame lives ---------------------------------------------------------------------------
def is_device_frame(frame: Any) -> bool:
    """True for GPU arrays: ``__cuda_array_interface__`` (CuPy, pycuda, torch CUDA) or a DLPack CUDA device."""
    if is_cuda_array(frame):
        return True
    dlpack_device = getattr(frame, "__dlpack_device__", None)
    if dlpack_device is None or isinstance(frame, np.ndarray):
        return False
    try:
        return int(dlpack_device()[0]) in _DLPACK_CUDA
    except (TypeError, ValueError, RuntimeError, IndexError):
        return False


def _describe(frame: Any) -> str:
    shape = getattr(frame, "shape", None)
    dtype = getattr(frame, "dtype", None)
    kind = f"{type(frame).__module__.split('.')[0]}.{type(frame).__name__}"
    return f"{kind} of shape {tuple(shape)} and dtype {dtype}" if shape is not None else kind


def check_device_frame(frame: Any, pipeline: Any, *, channels: str = "bgr") -> Any:
    """A device frame checked for ``pipeline``: its space's array (uint8 HxWx3 BGR; ``channels="rgb"``
    frames are reversed into a new device array), else InputError.

    Pipelines whose stages run on the CPU refuse device frames: the caller chose the GPU for the
    frame, and a silent download would hide that the GPU pipeline is not in use.
    """
    space = getattr(pipeline, "space", None)
    if space is None or not space.device:
        backend = type(getattr(pipeline, "backend", None)).__name__
        raise InputError(
            f"received a device frame ({_describe(frame)}) but this pipeline runs its stages on the CPU "
            f"(backend {backend}); expected a NumPy uint8 HxWx3 frame, or a TensorRT backend with CuPy installed "
            "for device frames"
        )
    array = pipeline.check_frame(frame)
    return pipeline.space.xp.ascontiguousarray(array[..., ::-1]) if channels == "rgb" else array


def takes_device_arrays(backend: Any) -> bool:
    """Whether ``backend.infer`` reads device arrays in place: ``device_inputs = True``, or the TensorRT backend."""
    flag = getattr(backend, "device_inputs", None)
    if flag is not None:
        return bool(flag)
    return type(backend).__module__ == "edgematte.runtime.trt" and type(backend).__name__ == "TrtBackend"


# -- the fixed-point bilinear resize, written once for NumPy and CuPy ------------------------------
@dataclass(frozen=True)
class LinearPlan:
    """Source indices and 11-bit weights of one uint8 bilinear resize (OpenCV INTER_LINEAR).

    Columns are flattened with the channels: ``x0``/``x1``/``ax0``/``ax1`` have ``dst_w * channels``
    entries; ``by0``/``by1`` are ``[dst_h, 1]`` columns.
    """

    src_hw: Tuple[int, int]
    dst_hw: Tuple[int, int]
    channels: int
    x0: Any
    x1: Any
    ax0: Any
    ax1: Any
    y0: Any
    y1: Any
    by0: Any
    by1: Any


def _coords(dst: int, src: int, clamp_weight: bool):
    """OpenCV's source index and float32 weight per output coordinate: (x + 0.5) * src/dst - 0.5."""
    scale = 1.0 / (dst / src)
    f = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = (f - s).astype(np.float32)
    if clamp_weight:  # columns: outside the image the weight goes to 0 (rows keep it, on clamped rows)
        f[s < 0] = 0
        s[s < 0] = 0
        f[s >= src - 1] = 0
        s[s >= src - 1] = src - 1
    return np.clip(s, 0, src - 1), np.clip(s + 1, 0, src - 1), f


def _fixed(f: np.ndarray):
    """(1 - f, f) as saturate_cast<short>(w * 2048) (OpenCV's INTER_RESIZE_COEF_SCALE)."""
    one = np.float32(2048)
    return np.rint((np.float32(1) - f) * one).astype(np.int32), np.rint(f * one).astype(np.int32)


def linear_plan(xp: Any, src_hw: Tuple[int, int], dst_hw: Tuple[int, int], channels: int) -> LinearPlan:
    """The tables of :func:`resize_linear_u8` for one size pair, as ``xp`` arrays."""
    (sh, sw), (dh, dw) = src_hw, dst_hw
    x0, x1, fx = _coords(dw, sw, True)
    y0, y1, fy = _coords(dh, sh, False)
    ax0, ax1 = _fixed(fx)
    by0, by1 = _fixed(fy)
    c = np.arange(channels)
    flat = lambda x: (x[:, None] * channels + c).ravel()  # noqa: E731  (column index in a flattened row)
    rep = lambda a: np.repeat(a, channels)  # noqa: E731
    put = xp.asarray
    return LinearPlan(
        (sh, sw), (dh, dw), channels, put(flat(x0)), put(flat(x1)), put(rep(ax0)), put(rep(ax1)),
        put(y0), put(y1), put(by0[:, None]), put(by1[:, None]),
    )  # fmt: skip


#: :func:`resize_linear_u8` for one output byte ``i`` of a [dst_h, cols_out] view (CuPy ElementwiseKernel body)
_RESIZE_BODY = r"""
const long long r = i / cols_out;
const long long c = i - r * cols_out;
const long long a = y0[r] * cols_in, b = y1[r] * cols_in;
const long long xa = x0[c], xb = x1[c];
const int wa = ax0[c], wb = ax1[c];
const int h0 = ((int)src[a + xa] * wa + (int)src[a + xb] * wb) >> 4;
const int h1 = ((int)src[b + xa] * wa + (int)src[b + xb] * wb) >> 4;
const int t = (((h0 * by0[r]) >> 16) + ((h1 * by1[r]) >> 16) + 2) >> 2;
dst = (unsigned char)(t < 0 ? 0 : (t > 255 ? 255 : t));
"""


#: CudaSpace's "fast" pass for output pixel ``i``: the twin of csrc/guided.c's em_guided_apply
#: (expand_row, apply_row, lerp_coord), checked bit-exact against it by the tests (compiled as C)
_APPLY_BODY = r"""
const long long y = i / out_w, x = i - y * out_w;
const long long ra = (long long)ya[y] * w, rb = (long long)yb[y] * w;
const long long xa0 = xa[x], xb0 = xb[x];
const float fx = wx[x], fy = wy[y];
float v = 0.0f, e[10];
for (int c = 0; c < (with_blurs ? 10 : 4); ++c) {
    float ta, tb, ba, bb;
    if (c < 4) {
        const long long p = (long long)c * plane;
        ta = coef[p + ra + xa0]; tb = coef[p + ra + xb0]; ba = coef[p + rb + xa0]; bb = coef[p + rb + xb0];
    } else {
        const long long p = (long long)(c - 4) * plane;
        ta = blurs[p + ra + xa0]; tb = blurs[p + ra + xb0]; ba = blurs[p + rb + xa0]; bb = blurs[p + rb + xb0];
    }
    const float top = ADD(ta, MUL(fx, SUB(tb, ta)));
    const float bot = ADD(ba, MUL(fx, SUB(bb, ba)));
    e[c] = ADD(top, MUL(fy, SUB(bot, top)));
}
for (int c = 0; c < 3; ++c) v = ADD(v, MUL(e[c], (float)image[3 * i + c]));
v = ADD(v, e[3]);
v = v > 0.0f ? v : 0.0f;
v = v < 255.0f ? v : 255.0f;
const int a8 = RINT(v);
alpha = (unsigned char)a8;
if (with_blurs) {
    const float a = MUL((float)a8, 1.0f / 255), b = SUB(1.0f, a);
    const float gain = DIV(a, ADD(MUL(a, a), MUL(EM_BACKGROUND_VARIANCE_RATIO, MUL(b, b))));
    for (int c = 0; c < 3; ++c) {
        const float fb = e[4 + c], bgb = e[7 + c];
        const float u = SUB(SUB((float)image[3 * i + c], MUL(a, fb)), MUL(b, bgb));
        float f = ADD(fb, MUL(gain, u));
        f = f > 0.0f ? f : 0.0f;
        f = f < 255.0f ? f : 255.0f;
        fg[3 * i + c] = (a8 == 0 || a8 == 255) ? image[3 * i + c] : (unsigned char)RINT(f);
    }
}
"""
_APPLY_PREAMBLE = """
#define MUL(a, b) __fmul_rn((a), (b))
#define ADD(a, b) __fadd_rn((a), (b))
#define SUB(a, b) __fsub_rn((a), (b))
#define DIV(a, b) __fdiv_rn((a), (b))
#define RINT(v) __float2int_rn(v)
"""


def variance_ratio_define() -> str:
    """guided.h's EM_BACKGROUND_VARIANCE_RATIO for a body compiled outside the C sources (from the NumPy twin)."""
    from .kernels._guided_reference import BACKGROUND_VARIANCE_RATIO

    return f"#define EM_BACKGROUND_VARIANCE_RATIO {float(BACKGROUND_VARIANCE_RATIO)!r}f\n"


def lerp_tables(dst: int, src: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo int32, hi int32, frac float32) per destination index: guided.c's lerp_coord (float64)."""
    f = np.maximum((np.arange(dst) + 0.5) * (src / dst) - 0.5, 0.0)
    lo = np.minimum(f.astype(np.int64), src - 1)
    hi = np.minimum(lo + 1, src - 1)
    return lo.astype(np.int32), hi.astype(np.int32), np.minimum(f - lo, 1.0).astype(np.float32)


class _ApplyTables:
    """Device buffers of the "fast" pass for one (fitting level, frame) size pair."""

    def __init__(self, space: Any, fit_hw: Tuple[int, int], frame_hw: Tuple[int, int]) -> None:
        (fh, fw), (h, w) = fit_hw, frame_hw
        put = space.xp.asarray
        self.xa, self.xb, self.wx = map(put, lerp_tables(w, fw))
        self.ya, self.yb, self.wy = map(put, lerp_tables(h, fh))
        self.coef = space.empty((4, fh, fw), np.float32)
        self.blurs = space.empty((6, fh, fw), np.float32)
        self.no_foreground = space.empty((1, 1, 3), np.uint8)


class _LinearWork:
    """One :func:`resize_linear_u8` size pair: its plan, and int32 scratch rows at the source and target
    heights, made on first use (a fused kernel needs none)."""

    def __init__(self, xp: Any, plan: LinearPlan) -> None:
        self.xp, self.plan = xp, plan
        self._scratch: Optional[Tuple[Any, ...]] = None

    def scratch(self) -> Tuple[Any, ...]:
        """(gather uint8, h0, h1 int32 [src_h, n]; v0, v1 int32 [dst_h, n]), n = dst_w * channels."""
        if self._scratch is None:
            xp, p = self.xp, self.plan
            sh, dh, n = p.src_hw[0], p.dst_hw[0], p.dst_hw[1] * p.channels
            self._scratch = (xp.empty((sh, n), np.uint8),) + tuple(xp.empty((rows, n), np.int32)
                                                                  for rows in (sh, sh, dh, dh))
        return self._scratch


def resize_linear_u8(xp: Any, src: Any, out: Any, work: _LinearWork) -> Any:
    """uint8 [H,W] or [H,W,C] -> ``out`` (uint8, the plan's target size), bit-identical to
    ``cv2.resize(src[:sh, :sw], (dw, dh), interpolation=cv2.INTER_LINEAR)`` (OpenCV 5 on x86-64,
    checked by the tests): horizontal taps ``p0*a0 + p1*a1`` with 11-bit weights, then the vertical
    step of OpenCV's vector path, ``((h0 >> 4) * b0 >> 16) + ((h1 >> 4) * b1 >> 16)``, rounded by
    ``(t + 2) >> 2``. Exact 2x halvings come out as the rounded 2x2 box mean. ``src`` may be larger
    than the plan's source size (its top-left corner is read).
    """
    p = work.plan
    gather, h0, h1, v0, v1 = work.scratch()
    sh = p.src_hw[0]
    rows = src[:sh].reshape(sh, -1)
    take = _take(xp)
    take(rows, p.x0, axis=1, out=gather)
    xp.multiply(gather, p.ax0, out=h0)
    take(rows, p.x1, axis=1, out=gather)
    xp.multiply(gather, p.ax1, out=h1)
    xp.add(h0, h1, out=h0)
    xp.right_shift(h0, 4, out=h0)
    for v, y, b in ((v0, p.y0, p.by0), (v1, p.y1, p.by1)):
        take(h0, y, axis=0, out=v)
        xp.multiply(v, b, out=v)
        xp.right_shift(v, 16, out=v)
    xp.add(v0, v1, out=v0)
    xp.add(v0, 2, out=v0)
    xp.right_shift(v0, 2, out=v0)
    xp.clip(v0, 0, 255, out=v0)
    xp.copyto(out.reshape(p.dst_hw[0], -1), v0, casting="unsafe")
    return out


def _take(xp: Any):
    """``xp.take`` writing straight into ``out``: NumPy buffers ``out`` unless mode is not "raise"
    (the indices are in range by construction); CuPy's take has no mode."""
    if xp is np:
        return lambda a, indices, axis, out: np.take(a, indices, axis=axis, out=out, mode="clip")
    return xp.take


def _quantize(xp: Any, alpha: Any, scratch: Any, out: Any) -> Any:
    """float alpha -> uint8 by edgematte's rule: NaN -> 0, clamped to 0..1, then
    round-half-even(alpha * 255) computed in float32 (so -inf -> 0, +inf -> 255)."""
    xp.multiply(alpha, np.float32(255), out=scratch, dtype=np.float32)  # dtype: float16 alpha, any scalar rule
    xp.fmax(scratch, np.float32(0), out=scratch)  # fmax: NaN -> 0
    xp.fmin(scratch, np.float32(255), out=scratch)
    xp.rint(scratch, out=scratch)
    xp.copyto(out, scratch, casting="unsafe")
    return out


# -- array spaces ----------------------------------------------------------------------------------
class _HostClock:
    """Stage laps from the host clock (ms)."""

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


class _EventClock:
    """Stage laps from CUDA events recorded on the current stream; read once, at the end."""

    def __init__(self, cupy: Any) -> None:
        self.cp = cupy
        self.marks: List[Tuple[str, Any]] = [("start", self._record())]

    def _record(self) -> Any:
        event = self.cp.cuda.Event()
        event.record()
        return event

    def lap(self, stage: str) -> None:
        self.marks.append((stage, self._record()))

    def finish(self) -> Dict[str, float]:
        self.marks[-1][1].synchronize()
        elapsed = self.cp.cuda.get_elapsed_time
        timings = {stage: float(elapsed(self.marks[i][1], ev)) for i, (stage, ev) in enumerate(self.marks[1:])}
        timings["total"] = float(elapsed(self.marks[0][1], self.marks[-1][1]))
        return timings


class HostSpace:
    """NumPy arrays and the CPU kernels: the device pipeline's stage code, run on the CPU."""

    name = "host"
    device = False
    xp = np

    def __init__(self) -> None:
        from .kernels import trusted

        self._kernels = trusted("cpu")  # Pipeline's own entries: arguments are checked once, at construction

    def empty(self, shape: Tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.empty(shape, dtype)

    def asarray(self, array: Any) -> np.ndarray:
        if is_device_frame(array):
            raise InputError(f"received a device array ({_describe(array)}) in the host space; expected a NumPy array")
        return np.asarray(array)

    def take(self, frame: Any) -> np.ndarray:
        return self.asarray(frame)

    def upload(self, host: np.ndarray, buffer: np.ndarray) -> np.ndarray:
        np.copyto(buffer, host)
        return buffer

    def download(self, array: np.ndarray, buffer: np.ndarray) -> np.ndarray:
        return array

    def make_trimap(self, mask: np.ndarray, c: TrimapConfig, out: np.ndarray, threads: int) -> np.ndarray:
        return self._kernels.make_trimap(mask, c.kernel_size, c.iterations, c.fg_threshold, c.bg_threshold, out,
                                         threads)

    def composite(self, image: np.ndarray, alpha: np.ndarray, background: Any, out: np.ndarray,
                  threads: int) -> np.ndarray:
        return self._kernels.composite(image, alpha, background, out, threads)

    def resize(self, src: np.ndarray, out: np.ndarray, work: _LinearWork) -> np.ndarray:
        return resize_linear_u8(np, src, out, work)

    def guided_apply(self, coef: np.ndarray, blurs: Optional[np.ndarray], frame: np.ndarray, alpha: np.ndarray,
                     foreground: Optional[np.ndarray], b: Any, threads: int) -> None:
        """The native full-resolution pass of "fast" (alpha, and the foreground with blurs): Pipeline's own."""
        from .kernels import native

        native("_guided").guided_apply(coef, blurs, frame, alpha, foreground, None, None, None, threads)

    def to_tensor(self, small: np.ndarray, src: np.ndarray) -> None:
        """BGR uint8 HxWx3 -> ``src`` [1,3,h,w] RGB float 0..1 (Pipeline's own kernel)."""
        from .kernels import native

        native("_guided").model_input(small, src[0])

    def clock(self) -> _HostClock:
        return _HostClock()


class CudaSpace:
    """CuPy arrays and the CUDA kernels, on the current CuPy device and stream.

    The stages launch on CuPy's current stream (the legacy default stream unless the caller made
    another current). The TensorRT backend's stream is a blocking stream, so it is ordered after
    them without a host synchronisation.

    ``fused=True`` runs the resize as one CuPy elementwise kernel (one pass over memory);
    ``fused=False`` runs its NumPy-compatible twin (:func:`resize_linear_u8`: a dozen CuPy array
    operations, the code the tests run on the CPU). The "fast" pass is always one elementwise kernel
    (:data:`_APPLY_BODY`, the twin of the native ``em_guided_apply``). ``bench/gpu_check.py`` checks
    them against OpenCV and the CPU pipeline.
    """

    name = "cuda"
    device = True

    def __init__(self, fused: bool = True) -> None:
        try:
            import cupy
        except ImportError as exc:
            raise BackendUnavailableError(
                f"the device pipeline needs CuPy ({exc}); install the wheel matching your CUDA: "
                "pip install cupy-cuda12x (JetPack: see the README's GPU section)"
            ) from exc
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError without a driver or device: not an ImportError
            raise BackendUnavailableError(f"CuPy could not start CUDA ({type(exc).__name__}: {exc})") from exc
        if count < 1:
            raise BackendUnavailableError("CuPy found no CUDA device; expected an NVIDIA GPU and driver")
        self.xp = cupy
        from .kernels.cuda import preprocess

        self._preprocess = preprocess
        self.fused = bool(fused)
        self._apply_kernel = cupy.ElementwiseKernel(
            "raw float32 coef, raw float32 blurs, raw uint8 image, raw int32 xa, raw int32 xb, raw float32 wx, "
            "raw int32 ya, raw int32 yb, raw float32 wy, int32 w, int64 plane, int32 out_w, int32 with_blurs",
            "uint8 alpha, raw uint8 fg", _APPLY_BODY, "edgematte_guided_apply",
            preamble=_APPLY_PREAMBLE + variance_ratio_define())
        if self.fused:
            self._resize_kernel = cupy.ElementwiseKernel(
                "raw uint8 src, raw int64 x0, raw int64 x1, raw int32 ax0, raw int32 ax1, raw int64 y0, raw int64 y1, "
                "raw int32 by0, raw int32 by1, int64 cols_in, int64 cols_out",
                "uint8 dst", _RESIZE_BODY, "edgematte_resize_linear_u8")

    def empty(self, shape: Tuple[int, ...], dtype: Any) -> Any:
        return self.xp.empty(shape, dtype)

    def asarray(self, array: Any) -> Any:
        """A CuPy view of a device array (no copy), or one upload of a host array."""
        cp = self.xp
        if isinstance(array, cp.ndarray):
            return array
        if not is_cuda_array(array) and hasattr(array, "__dlpack__") and not isinstance(array, np.ndarray):
            return cp.from_dlpack(array)
        return cp.asarray(array)

    def take(self, frame: Any) -> Any:
        return self.asarray(frame)

    def upload(self, host: np.ndarray, buffer: Any) -> Any:
        buffer.set(host)
        return buffer

    def download(self, array: Any, buffer: np.ndarray) -> np.ndarray:
        return array.get(out=buffer)

    def make_trimap(self, mask: Any, c: TrimapConfig, out: Any, threads: int) -> Any:
        """The CUDA trimap kernel through the kernels' front door (``threads`` does not apply)."""
        from .kernels import make_trimap

        return make_trimap(mask, c.kernel_size, c.iterations, c.fg_threshold, c.bg_threshold, out=out)

    def composite(self, image: Any, alpha: Any, background: Any, out: Any, threads: int) -> Any:
        from .kernels import composite

        return composite(image, alpha, background, out=out)

    def resize(self, src: Any, out: Any, work: _LinearWork) -> Any:
        """:func:`resize_linear_u8` in one pass: one thread per output byte."""
        if not self.fused:
            return resize_linear_u8(self.xp, src, out, work)
        p = work.plan
        rows = self.xp.ascontiguousarray(src[: p.src_hw[0]].reshape(p.src_hw[0], -1))
        # every array flat (1-D views): the body indexes them by flat C-order offsets
        self._resize_kernel(rows.reshape(-1), p.x0, p.x1, p.ax0, p.ax1, p.y0, p.y1, p.by0.reshape(-1),
                            p.by1.reshape(-1), rows.shape[1], p.dst_hw[1] * p.channels, out.reshape(-1))
        return out

    def guided_apply(self, coef: np.ndarray, blurs: Optional[np.ndarray], frame: Any, alpha: Any,
                     foreground: Any, b: Any, threads: int) -> None:
        """The twin of the native "fast" pass on the device: one thread per pixel samples the
        coefficients (and blurs) bilinearly in the C code's operation order, with single-rounding
        float operations (what the native pass computes without FMA contraction)."""
        t = b.apply
        t.coef.set(coef)
        with_blurs = blurs is not None
        if with_blurs:
            t.blurs.set(blurs)
        image = self.xp.ascontiguousarray(frame)
        fh, fw = coef.shape[1:]
        self._apply_kernel(t.coef, t.blurs, image.reshape(-1), t.xa, t.xb, t.wx, t.ya, t.yb, t.wy, fw, fh * fw,
                           image.shape[1], int(with_blurs), alpha.reshape(-1),
                           (foreground if foreground is not None else t.no_foreground).reshape(-1))

    def to_tensor(self, small: Any, src: Any) -> None:
        """The CUDA preprocessing kernel at the model size: BGR -> RGB, /255, CHW, into the binding."""
        h, w = small.shape[:2]
        self._preprocess(small, h, w, dtype=src.dtype, out=src)

    def clock(self) -> _EventClock:
        return _EventClock(self.xp)


# -- buffers ---------------------------------------------------------------------------------------
class _Buffers:
    """Every array the device pipeline writes for one frame size, in its space (host twins where
    results are downloaded)."""

    def __init__(self, space: Any, frame_hw: Tuple[int, int], model_hw: Tuple[int, int]) -> None:
        xp, empty = space.xp, space.empty
        h, w = frame_hw
        mh, mw = model_hw
        self.frame_hw = frame_hw
        self.frame = empty((h, w, 3), np.uint8) if space.device else None  # upload target of host frames
        self.halves, self.half_work = [], []
        hh, hw = h, w
        while hh // 2 >= mh and hw // 2 >= mw:  # Pipeline's _downscale plan: both sides, else the one side
            hh, hw = self._halve(xp, empty, (hh, hw), (hh // 2, hw // 2))
        one_side = not self.halves
        while one_side and (hh // 2 >= mh or hw // 2 >= mw):
            hh, hw = self._halve(xp, empty, (hh, hw), (hh // 2 if hh // 2 >= mh else hh,
                                                       hw // 2 if hw // 2 >= mw else hw))
        self.small = empty((mh, mw, 3), np.uint8)
        self.small_work = _LinearWork(xp, linear_plan(xp, (hh, hw), (mh, mw), 3))
        self.previous = empty((mh, mw, 3), np.uint8)
        self.diff = empty((mh, mw, 3), np.int16)
        self.ema = empty((mh, mw), np.float32)
        self.ema64 = empty((mh, mw), np.float64)
        self.scaled = empty((mh, mw), np.float32)
        self.small_alpha = empty((mh, mw), np.uint8)
        self.up_work = _LinearWork(xp, linear_plan(xp, (mh, mw), (h, w), 1))
        # "fast": the fitting level on the host (small), its coefficients and blurs; the apply tables
        from .refine import FAST

        fh, fw = max(1, mh // FAST.scale), max(1, mw // FAST.scale)
        self.fit_image = np.empty((fh, fw, 3), np.uint8)
        self.fit_alpha = np.empty((fh, fw), np.float32)
        self.coef = np.empty((4, fh, fw), np.float32)
        self.blurs = np.empty((6, fh, fw), np.float32)
        self.fit_scratch: Optional[np.ndarray] = None
        self.apply = _ApplyTables(space, (fh, fw), (h, w)) if space.device else None
        self.foreground = empty((h, w, 3), np.uint8)
        self.raw_alpha = empty((h, w), np.uint8)
        self.trimap = empty((h, w), np.uint8)
        self.alpha = empty((h, w), np.uint8)
        self.out3 = empty((h, w, 3), np.uint8)
        self.out4 = empty((h, w, 4), np.uint8)
        self.background = empty((h, w, 3), np.uint8)
        self.background_key: Any = None
        self.background_source: Any = None
        bh, bw = max(1, h // 8), max(1, w // 8)
        self.blur_small = empty((bh, bw, 3), np.uint8)
        self.blur_sum = empty((bh, bw, 3), np.int32)
        self.blur_mean = empty((bh, bw, 3), np.float32)
        self.blur_work = _LinearWork(xp, linear_plan(xp, (bh, bw), (h, w), 3))
        self.has_previous = False
        self.last_alpha: Any = None  # every > 1: the model-size alpha the frames between reuse
        self.since_model = 0
        self.product: Any = None  # uint16, and the uploaded input alpha: made when a frame has its own alpha
        self.input_alpha: Any = None
        self.host: Dict[str, np.ndarray] = {}  # download targets, made on first use

    def _halve(self, xp: Any, empty: Any, src_hw: Tuple[int, int], dst_hw: Tuple[int, int]) -> Tuple[int, int]:
        """One level of the halving chain: a side that halves reads 2x its size, the other all of it."""
        (sh, sw), (hh, hw) = src_hw, dst_hw
        read = (2 * hh if 2 * hh <= sh else hh, 2 * hw if 2 * hw <= sw else hw)
        self.halves.append(empty((hh, hw, 3), np.uint8))
        self.half_work.append(_LinearWork(xp, linear_plan(xp, read, (hh, hw), 3)))
        return hh, hw

    def host_buffer(self, name: str, like: Any) -> np.ndarray:
        buf = self.host.get(name)
        if buf is None or buf.shape != like.shape:
            buf = self.host[name] = np.empty(like.shape, np.uint8)
        return buf


# -- the pipeline ----------------------------------------------------------------------------------
class DevicePipeline:
    """Pipeline's stages on a GPU (or, with :class:`HostSpace`, the same code on the CPU).

    Arguments as :class:`~edgematte.pipeline.Pipeline`, plus ``space`` (default :class:`CudaSpace`),
    ``results`` ("auto": where the frame came from; "host"; "device"; "composite": only the composite
    downloaded) and ``recurrent``: input name -> output name of recurrent states, fed back on the
    device each frame, zeros at the start and after :meth:`reset` (shapes from the model's input
    specs, dynamic axes 1). This is the hook for a recurrent model on the device; RobustVideoMatting
    itself (its ``r1i`` -> ``r1o`` states, ``downsample_ratio`` and foreground output) runs in the CPU
    :class:`~edgematte.pipeline.Pipeline`'s own model step for now, and is refused here.
    """

    rvm = None  # Pipeline's RobustVideoMatting step, which this pipeline never has (Matter reads it)

    def __init__(
        self,
        backend: Any,
        *,
        space: Any = None,
        task: str = "segmentation",
        refine: Union[bool, str] = True,
        trimap: Optional[TrimapConfig] = None,
        temporal: Optional[TemporalConfig] = None,
        input_size: Optional[Tuple[int, int]] = None,
        threads: Optional[int] = None,
        results: str = "auto",
        recurrent: Optional[Mapping[str, str]] = None,
        downsample_ratio: Optional[float] = None,
        every: int = 1,
    ) -> None:
        from .models.rvm import is_rvm

        if is_rvm(backend.inputs, backend.outputs):
            raise InputError(
                "received a RobustVideoMatting model; expected another model: RVM runs its own model step in "
                "the CPU Pipeline (select_pipeline picks it)"
            )
        _recurrent_step(backend, downsample_ratio, temporal, threads)  # None here; refuses a stray ratio
        _check_task(task)
        if results not in _RESULTS:
            raise InputError(f"received results={results!r}; expected one of {_RESULTS}")
        self.space = space if space is not None else CudaSpace()
        if self.space.device and not takes_device_arrays(backend):
            raise InputError(
                f"received backend {type(backend).__name__}, which reads host arrays only, for the CUDA space; "
                "expected a backend that reads device arrays (TensorRT, or device_inputs = True), or HostSpace()"
            )
        self.backend = backend
        self.task, self.refine, self.results = task, _refine_mode(refine), results
        self.trimap_config = trimap if trimap is not None else TrimapConfig()
        self.temporal, self.threads, self.every = temporal, check_threads(threads), check_every(every)
        self.recurrent = dict(recurrent or {})
        self.input_name, self.output_name, self.model_hw, dtype = _model_io(backend, input_size, self.recurrent)
        self._src = self._binding((1, 3) + self.model_hw, dtype)
        self._states: Dict[str, Any] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def _binding(self, shape: Tuple[int, ...], dtype: np.dtype) -> Any:
        """The model input [1,3,h,w]. On the device it is our buffer, which TensorRT binds in place
        (``set_tensor_address``: no copy); on the host, the backend's own buffer when it offers one
        (``input_buffer``: TensorRT's page-locked staging), as in Pipeline."""
        offer = None if self.space.device else getattr(self.backend, "input_buffer", None)
        return offer(self.input_name, shape) if offer is not None else self.space.empty(shape, dtype)

    def check_frame(self, frame: Any) -> Any:
        """A device frame as this space's array, checked: uint8 HxWx3, H, W >= 1."""
        array = self.space.take(frame)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
            raise InputError(f"received a frame as {_describe(array)}; expected a uint8 HxWx3 BGR array")
        return array

    def reset(self) -> None:
        """Forget the calling thread's temporal state and every recurrent state."""
        b = getattr(self._local, "buffers", None)
        if b is not None:
            b.has_previous = False
            b.last_alpha = None
        self._states = {}

    def process(self, frame: Any, background: Any = NO_COMPOSITE, *, input_alpha: Optional[np.ndarray] = None,
                keep_foreground: bool = True) -> Result:
        """Every stage for one checked uint8 HxWx3 BGR frame (host or device) -> a finished Result.

        ``input_alpha`` (uint8 HxW, the frame's own transparency, host or device) multiplies into
        the alpha, as in Pipeline. ``keep_foreground`` is accepted for Pipeline's signature; the
        foreground is kept either way here.
        """
        with self._lock:
            return self._process(frame, background, input_alpha)

    # -- the hot path ----------------------------------------------------------------------------
    def _process(self, frame: Any, background: Any, input_alpha: Any) -> Result:
        s, xp = self.space, self.space.xp
        clock = s.clock()
        host_frame = frame if isinstance(frame, np.ndarray) else None
        if host_frame is None:
            frame = s.take(frame)  # a device frame, used in place
        b = self._buffers_for(tuple(frame.shape[:2]))
        if host_frame is not None and s.device:
            frame = s.upload(host_frame, b.frame)  # the one upload
        clock.lap("upload")

        self._downscale(frame, host_frame, b)
        cut = self._detect_cut(b)
        if model_due(b, self.every, cut):
            s.to_tensor(b.small, self._src)
            clock.lap("preprocess")

            feed = {self.input_name: self._src}
            feed.update(self._recurrent_inputs())
            outputs = self.backend.infer(feed, validate=False)
            alpha = s.asarray(outputs[self.output_name]).reshape(self.model_hw)
            self._keep_states(outputs)
            clock.lap("model")

            if self.temporal is not None:
                alpha = self._smooth(alpha, cut, b)
            keep_model_alpha(b, alpha, self.every, xp)
        else:
            alpha = b.last_alpha
            clock.lap("preprocess")
        trimap = foreground = composite = None
        if self.task == "segmentation" and self.refine == "fast" and input_alpha is None:
            # Pipeline's one full-resolution pass: guided upsampling, known-region clamp, foreground, composite
            bg = NO_COMPOSITE if background is NO_COMPOSITE else self._background(frame, host_frame, background, b)
            final, foreground = self._fast(frame, alpha, bg is not NO_COMPOSITE, b)
            if bg is not NO_COMPOSITE:
                composite = s.composite(foreground, final, bg, b.out4 if bg is None else b.out3, self.threads)
            clock.lap("refine")
        else:
            if self.task == "segmentation" and self.refine != "off":
                # "fast" with the frame's own alpha to apply, or "full"'s prior: the guided filter
                final, foreground = self._fast(frame, alpha, self.refine == "fast" and background is not NO_COMPOSITE, b)
            else:
                _quantize(xp, alpha, b.scaled, b.small_alpha)
                final = s.resize(b.small_alpha, b.raw_alpha, b.up_work)
            clock.lap("upsample")
            if self.task == "segmentation" and self.refine == "full":
                trimap = s.make_trimap(final, self.trimap_config, b.trimap, self.threads)
                clock.lap("trimap")
                final, foreground = self._refine_full(frame, host_frame, background is not NO_COMPOSITE, b)
                clock.lap("refine")
            if input_alpha is not None:
                final = self._multiply(final, input_alpha, b)
            if background is not NO_COMPOSITE:
                bg = self._background(frame, host_frame, background, b)
                out = b.out4 if bg is None else b.out3
                composite = s.composite(frame if foreground is None else foreground, final, bg, out, self.threads)
                clock.lap("composite")

        fields = self._deliver(host_frame is not None, b, alpha=final, trimap=trimap, foreground=foreground,
                               composite=composite)
        if fields is not None:
            clock.lap("download")
        else:
            fields = dict(alpha=final, trimap=trimap, foreground=foreground, composite=composite)
        return Result(timings=clock.finish(), cut=cut, **fields)

    # -- stages ----------------------------------------------------------------------------------
    def _downscale(self, frame: Any, host_frame: Optional[np.ndarray], b: _Buffers) -> None:
        """frame -> b.small: Pipeline's exact 2x box halvings (both sides, or the one side that stays
        >= 2x the model's), then bilinear to the model size."""
        src = frame
        for half, work in zip(b.halves, b.half_work):
            self.space.resize(src, half, work)
            src = half
        self.space.resize(src, b.small, b.small_work)

    def _multiply(self, alpha: Any, input_alpha: Any, b: _Buffers) -> Any:
        """b.alpha = round(alpha * input_alpha / 255), cv2.multiply(..., scale=1/255)'s result for every
        uint8 pair: (a * i + 127) // 255, in uint16."""
        xp = self.space.xp
        if b.product is None:
            b.product = self.space.empty(b.frame_hw, np.uint16)
            b.input_alpha = self.space.empty(b.frame_hw, np.uint8)
        given = input_alpha if not isinstance(input_alpha, np.ndarray) else self.space.upload(input_alpha, b.input_alpha)
        xp.multiply(alpha, self.space.asarray(given), out=b.product, dtype=np.uint16)
        xp.add(b.product, 127, out=b.product)
        xp.floor_divide(b.product, 255, out=b.product)
        xp.copyto(b.alpha, b.product, casting="unsafe")
        return b.alpha

    def _detect_cut(self, b: _Buffers) -> bool:
        """Scene cut: mean |small_t - small_{t-1}| / 255 above the threshold (only with temporal)."""
        if self.temporal is None:
            return False
        xp = self.space.xp
        cut = False
        if b.has_previous:
            xp.subtract(b.small, b.previous, out=b.diff, dtype=np.int16)
            xp.abs(b.diff, out=b.diff)
            mean = float(xp.sum(b.diff, dtype=np.int64)) / b.diff.size
            cut = mean / 255.0 > self.temporal.cut_threshold
        xp.copyto(b.previous, b.small)
        return cut

    def _smooth(self, alpha: Any, cut: bool, b: _Buffers) -> Any:
        """EMA at the model size as cv2.addWeighted computes it, fma(ema, s, alpha * (1 - s)) in float32:
        the product is exact in float64 and the sum rounds twice (float64, float32), which agrees
        with one fused rounding except in rare double-rounding ties."""
        xp = self.space.xp
        if cut or not b.has_previous:
            xp.copyto(b.ema, alpha, casting="same_kind")
        else:
            s = np.float32(self.temporal.strength)
            xp.multiply(alpha, np.float32(1.0 - self.temporal.strength), out=b.scaled, dtype=np.float32)
            xp.multiply(b.ema, s, out=b.ema64, dtype=np.float64)
            xp.add(b.ema64, b.scaled, out=b.ema64)
            xp.copyto(b.ema, b.ema64, casting="same_kind")
        b.has_previous = True
        return b.ema

    def _fast(self, frame: Any, alpha: Any, foreground: bool, b: _Buffers) -> Tuple[Any, Any]:
        """Pipeline's "fast": (alpha, foreground or None) at the frame's size from the model-size alpha.

        The guided filter is fitted on the host at the fitting level exactly as Pipeline fits it
        (the model-size frame and alpha are small: one download of each); its coefficients (and
        blur-fusion's colour estimates, for a foreground) are evaluated at full resolution in the
        space (:meth:`CudaSpace.guided_apply`, the twin of the native pass).
        """
        from .kernels import threads_now

        s = self.space
        small = s.download(b.small, b.host_buffer("small", b.small))
        model_alpha = s.download(alpha, np.empty(alpha.shape, alpha.dtype)) if s.device else alpha
        threads = threads_now(self.threads)
        fit_fast(small, model_alpha, b, threads, foreground=foreground)
        fg = b.foreground if foreground else None
        s.guided_apply(b.coef, b.blurs if foreground else None, frame, b.alpha, fg, b, threads)
        return b.alpha, fg

    def _refine_full(self, frame: Any, host_frame: Optional[np.ndarray], foreground: bool, b: _Buffers):
        """Pipeline's "full" on the host: the trimap's band solved with the "fast" alpha as prior,
        then (with a background) the foreground; frame, trimap and prior downloaded, results uploaded."""
        from .refine import estimate_foreground

        s = self.space
        host = host_frame if host_frame is not None else s.download(frame, b.host_buffer("frame", frame))
        trimap = s.download(b.trimap, b.host_buffer("trimap", b.trimap))
        prior = s.download(b.alpha, b.host_buffer("prior", b.alpha))
        solved = solve_full(host, trimap, prior, self.threads)
        refined = _quantize(np, solved, np.empty(solved.shape, np.float32), b.host_buffer("refined", b.alpha))
        alpha = s.upload(refined, b.alpha)
        if not foreground:
            return alpha, None
        return alpha, s.upload(estimate_foreground(host, refined), b.foreground)

    def _background(self, frame: Any, host_frame: Optional[np.ndarray], background: Any, b: _Buffers) -> Any:
        """None, a colour, or b.background: an image resized to cover once per image and uploaded
        once, or "blur" (the frame at 1/8 size, Gaussian sigma 2, bilinear back up)."""
        if background is None or isinstance(background, tuple):
            return background
        s = self.space
        if isinstance(background, str):
            self._blur_small(frame, host_frame, b)
            s.resize(b.blur_small, b.background, b.blur_work)
            b.background_key = None
            return b.background
        key = (id(background), background.shape)
        if b.background_key != key:
            staging = b.host_buffer("background", b.background)
            _cover(background, staging)
            s.upload(staging, b.background)
            b.background_key, b.background_source = key, background  # keep it alive so its id stays unique
        return b.background

    def _blur_small(self, frame: Any, host_frame: Optional[np.ndarray], b: _Buffers) -> None:
        """b.blur_small = GaussianBlur(INTER_AREA 1/8 of the frame, sigma 2), as Pipeline makes it.

        The area step runs in the space when the frame divides by 8 (an exact rounded 8x8 mean),
        else on the host; the blur of the small image runs on the host (1/64 of the frame).
        """
        import cv2

        xp, s = self.space.xp, self.space
        h, w = b.frame_hw
        bh, bw = b.blur_small.shape[:2]
        if h == 8 * bh and w == 8 * bw:
            frame.reshape(bh, 8, bw, 8, 3).sum(axis=(1, 3), dtype=np.int32, out=b.blur_sum)
            xp.multiply(b.blur_sum, np.float32(1.0 / 64.0), out=b.blur_mean, dtype=np.float32)
            xp.rint(b.blur_mean, out=b.blur_mean)
            xp.copyto(b.blur_small, b.blur_mean, casting="unsafe")
            small = s.download(b.blur_small, b.host_buffer("blur", b.blur_small))
        else:
            host = host_frame if host_frame is not None else s.download(frame, b.host_buffer("frame", frame))
            small = b.host_buffer("blur", b.blur_small)
            cv2.resize(host, (bw, bh), dst=small, interpolation=cv2.INTER_AREA)
        cv2.GaussianBlur(small, (0, 0), 2.0, dst=small)
        s.upload(small, b.blur_small)

    def _deliver(self, host_frame: bool, b: _Buffers, **fields: Any) -> Optional[Dict[str, Any]]:
        """Downloaded fields for host results (None when the results stay in the space)."""
        if not self.space.device or self.results == "device" or (self.results == "auto" and not host_frame):
            return None
        names = ("composite",) if self.results == "composite" else tuple(fields)
        return {
            name: (self.space.download(a, b.host_buffer(name, a)) if a is not None and name in names else a)
            for name, a in fields.items()
        }

    # -- recurrent state -------------------------------------------------------------------------
    def _recurrent_inputs(self) -> Dict[str, Any]:
        if self.recurrent and not self._states:
            specs = {spec.name: spec for spec in self.backend.inputs}
            for name in self.recurrent:
                shape = tuple(1 if d is None else int(d) for d in specs[name].shape)
                state = self.space.empty(shape, np.dtype(specs[name].dtype))
                state[...] = 0
                self._states[name] = state
        return dict(self._states)

    def _keep_states(self, outputs: Mapping[str, Any]) -> None:
        """Copy each recurrent output into its state (the backend reuses its output buffers)."""
        xp = self.space.xp
        for name, output in self.recurrent.items():
            value = self.space.asarray(outputs[output])
            held = self._states.get(name)
            if held is None or held.shape != value.shape or held.dtype != value.dtype:
                self._states[name] = value.copy()
            else:
                xp.copyto(held, value)

    def _buffers_for(self, frame_hw: Tuple[int, int]) -> _Buffers:
        b = getattr(self._local, "buffers", None)
        if b is None or b.frame_hw != frame_hw:
            log.debug("allocating %s pipeline buffers for %dx%d", self.space.name, frame_hw[1], frame_hw[0])
            b = self._local.buffers = _Buffers(self.space, frame_hw, self.model_hw)
        return b


def _model_io(backend: Any, input_size: Optional[Tuple[int, int]], recurrent: Mapping[str, str]):
    """(src input name, alpha output name, model (h, w), src dtype); recurrent names must exist."""
    from .pipeline import _model_io as single_input_io

    inputs = tuple(spec for spec in backend.inputs if spec.name not in recurrent)
    missing = sorted(set(recurrent) - {s.name for s in backend.inputs}) + sorted(
        set(recurrent.values()) - {s.name for s in backend.outputs}
    )
    if missing:
        raise InputError(f"received recurrent names {missing} that the model does not have; expected names from "
                         f"its inputs {[s.name for s in backend.inputs]} and outputs {[s.name for s in backend.outputs]}")

    class _View:  # the backend's specs without the recurrent tensors
        pass

    view = _View()
    view.inputs = inputs
    view.outputs = tuple(spec for spec in backend.outputs if spec.name not in set(recurrent.values()))
    name, output, hw = single_input_io(view, input_size)
    dtype = np.dtype(inputs[0].dtype or np.float32)
    if dtype not in (np.float16, np.float32):
        raise InputError(f"received a model input of dtype {dtype}; expected float32 or float16")
    return name, output, hw, dtype


# -- selection -------------------------------------------------------------------------------------
def select_pipeline(backend: Any, **config: Any) -> Union[Pipeline, DevicePipeline]:
    """The pipeline for ``backend``: the device pipeline (CUDA space) for backends that read device
    arrays (TensorRT), else the CPU :class:`~edgematte.pipeline.Pipeline`.

    Without CuPy or a GPU the TensorRT backend still runs, behind the CPU pipeline; the reason is
    logged as a warning. So does RobustVideoMatting, whose model step the CPU pipeline owns.
    """
    if not takes_device_arrays(backend):
        return Pipeline(backend, **config)
    from .models.rvm import is_rvm

    if is_rvm(backend.inputs, backend.outputs):
        log.warning("RobustVideoMatting runs its own model step on the host; the stages around it run on the CPU")
        return Pipeline(backend, **config)
    try:
        space = CudaSpace()
    except BackendUnavailableError as exc:
        log.warning("the stages around the model run on the CPU: %s", exc)
        return Pipeline(backend, **config)
    return DevicePipeline(backend, space=space, **config)
