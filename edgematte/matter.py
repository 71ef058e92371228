"""``edgematte.Matter``: a model name or file in, mattes and composites out.

    m = edgematte.Matter()                       # default selfie model, TensorRT if present else ONNX Runtime
    res = m.process(frame)                       # frame uint8 HxWx3 BGR -> res.alpha uint8 HxW, res.timings
    out = m.replace_background(frame, (0, 255, 0))
    res = m.process(frame, background="blur")    # the whole Result, res.composite included

A Matter serves one thread at a time: calls from several threads are served one after the
other (a lock), and each thread's results stay valid until that thread's next call. Temporal
smoothing assumes one stream of frames: give each video stream its own Matter.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from .background import Backgrounds
from .errors import InputError, ModelError
from .edges import EdgeConfig
from .io.frames import CHANNEL_ORDERS
from .pipeline import NO_COMPOSITE, Pipeline, Result, TemporalConfig, TrimapConfig
from .temporal import STRENGTH
from .validate import check_composite_out, describe

__all__ = ["Matter", "DEFAULT_MODEL", "LIVE_DEFAULTS"]

log = logging.getLogger("edgematte")

DEFAULT_MODEL = "selfie"
#: the defaults of live streams (edgematte.live, ``edgematte webcam`` and the GStreamer element's properties):
#: Matter keywords, and the background
LIVE_DEFAULTS: Dict[str, Any] = {"refine": "fast", "temporal": STRENGTH, "background": "blur"}
_ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
_BACKENDS = ("auto", "ort-cpu", "tensorrt")


class Matter:
    """Matte frames with one model.

    ``model``: a model-table name (``"selfie"``), an ``.onnx`` file, or a TensorRT engine file
    (``.engine``/``.plan``). ``backend``: ``"auto"`` (TensorRT when it can start, else ONNX
    Runtime on the CPU, the reason logged once per process; ``EDGEMATTE_BACKEND`` sets what
    "auto" means), ``"ort-cpu"``, ``"tensorrt"``, or an opened
    Backend object. ``refine`` (segmentation models): "fast" upsamples the model alpha
    with a guided filter steered by the frame, makes known regions exactly 0/255 and removes the
    old background's colour from the edge, in one native pass (real time); True or "full" then
    solves a thin band around that edge by closed-form matting (best edges, for photos); False or
    "off" returns the bilinearly upsampled model alpha without a trimap. ``temporal``: smoothing over
    time that holds still edges and follows moving ones at once (:mod:`edgematte.temporal`):
    ``"auto"`` (the default) is on for the real-time paths (refine "fast" or "off", matting models
    such as RVM) and off for "full", which is for photos; a float in [0, 1) sets its strength, the
    past's weight where the picture holds still (0.95 by default; 0, None or False: off); True is
    the default strength; a TemporalConfig also sets the scene-cut threshold. ``edge_shift``
    (pixels, > 0 grows the matte, < 0 shrinks it), ``feather`` (pixels of soft ramp) and
    ``threshold`` (None: soft matte; a float in (0, 1]: hard cut) shape the finished edge
    (:mod:`edgematte.edges`).
    ``task`` ("segmentation"/"matting") and ``input_size`` (h, w) matter only for model files
    outside the table. ``threads`` caps ONNX Runtime and kernel threads (default: CPU affinity).
    ``downsample_ratio`` (RobustVideoMatting only): None picks it from the frame size, a float in
    (0, 1] fixes it. RVM is recurrent: feed one stream's frames in order, one stream per Matter;
    ``reset()`` between clips (scene cuts and frame-size changes reset it by themselves).
    ``channels``: the order of colour arrays passed in, "bgr" (OpenCV, the default) or "rgb"
    (PIL, imageio, torchvision); it is never guessed. Outputs are BGR(A) either way. ``every``: run
    the model on every Nth frame only; the frames between reuse its last output (with ``refine="fast"``
    its guided-filter fit, evaluated on the new frame; segmentation models; a live stream at a fraction of
    the model's cost).

    Frames: uint8 HxWx3; HxWx4 (BGRA/RGBA) whose alpha multiplies into the matte (a transparent
    input pixel stays transparent); HxW grey (expanded); uint16 (scaled to 8 bits with a
    warning); PIL images (any mode, whatever ``channels`` says).

    Arrays returned by :meth:`process` and :meth:`replace_background` are reused buffers,
    overwritten by the next call from the same thread. One call runs at a time; other threads
    wait for it.
    """

    def __init__(
        self,
        model: Union[str, "os.PathLike[str]"] = DEFAULT_MODEL,
        backend: Any = "auto",
        refine: Union[bool, str] = True,
        temporal: Union[None, str, bool, float, TemporalConfig] = "auto",
        *,
        task: Optional[str] = None,
        input_size: Optional[Tuple[int, int]] = None,
        trimap: Optional[TrimapConfig] = None,
        threads: Optional[int] = None,
        downsample_ratio: Optional[float] = None,
        channels: str = "bgr",
        every: int = 1,
        edge_shift: int = 0,
        feather: int = 0,
        threshold: Optional[float] = None,
    ) -> None:
        if channels not in CHANNEL_ORDERS:
            raise InputError(f"received channels={channels!r}; expected one of {CHANNEL_ORDERS}")
        self.channels = channels
        edges = EdgeConfig(edge_shift, feather, threshold)
        temporal = _temporal_config(temporal)  # checked before the model loads
        path, spec_task, spec_size = _resolve_model(model)
        self.model_path = path
        self.backend = _open_backend(backend, path, threads)
        if temporal == "auto":  # photos ("full" refinement of a segmentation model) never use it
            from .models.rvm import is_rvm

            photos = (task or spec_task) == "segmentation" and refine in (True, "full") and not is_rvm(
                self.backend.inputs, self.backend.outputs)
            temporal = None if photos else TemporalConfig()
        self.pipeline = Pipeline(  # in the CUDA space for backends on the GPU (TensorRT) when CuPy starts
            self.backend,
            task=task or spec_task,
            refine=refine,
            trimap=trimap,
            temporal=temporal,
            input_size=input_size or spec_size,
            threads=threads,
            downsample_ratio=downsample_ratio,
            every=every,
            edges=edges,
        )
        self._backgrounds = Backgrounds()  # the last background value and its parse (a video advances per call)

    def process(self, frame: np.ndarray, background: Any = NO_COMPOSITE, *, keep_foreground: bool = True,
                out: Optional[np.ndarray] = None) -> Result:
        """``frame`` uint8 HxWx3 BGR -> Result(alpha uint8 HxW, trimap, foreground, composite, timings ms).

        With ``background`` (anything :func:`edgematte.background.parse_background` takes: a
        colour name, "#RRGGBB", a (B, G, R) tuple, an image or its path, "blur", or None for
        BGRA) the Result holds the composite too; without it, no composite is made.
        ``keep_foreground=False``: only the composite (and its timings) are wanted, as in
        :meth:`replace_background`, so the foreground need not be written (it may be None).
        ``out``: a writable C-contiguous uint8 HxWx3 array (HxWx4 for BGRA) that receives the composite, which
        is then ``Result.composite``: no copy for a caller that has its own output buffer (``frame`` itself may
        be given: it is overwritten by its composite).
        """
        return self._process(frame, background, keep_foreground=keep_foreground, out=out)

    def replace_background(self, frame: np.ndarray, background: Any) -> np.ndarray:
        """``frame`` over ``background`` -> uint8 HxWx3 BGR, or HxWx4 BGRA when background is None."""
        return self._process(frame, background, keep_foreground=False).composite

    def _process(self, frame: np.ndarray, background: Any, *, keep_foreground: bool, out: Any = None) -> Result:
        if out is not None and not isinstance(frame, np.ndarray) and self.pipeline.space.device:
            raise InputError(f"received out= with a device frame ({describe(frame)}), whose composite stays on the "
                             "device; expected a host frame, or no out")
        shape = getattr(frame, "shape", ())
        frame, input_alpha = self.pipeline.check_frame(frame, channels=self.channels)  # the one check, in its space
        if background is not NO_COMPOSITE:
            background = self._backgrounds(background)
        if out is not None:
            if background is NO_COMPOSITE:
                raise InputError("received out= without a background; expected a background to composite into out")
            check_composite_out(out, shape, 4 if background is None else 3)
            if self.pipeline.space.device:  # the composite is made on the device: copied into out once delivered
                result = self.pipeline.process(frame, background, input_alpha=input_alpha,
                                               keep_foreground=keep_foreground)
                np.copyto(out, result.composite)
                return dataclasses.replace(result, composite=out)
        return self.pipeline.process(frame, background, input_alpha=input_alpha, keep_foreground=keep_foreground,
                                     out=out)

    def reset(self) -> None:
        """Restart temporal smoothing and recurrent model state (between unrelated clips)."""
        self.pipeline.reset()

    def close(self) -> None:
        self.pipeline.close()
        self._backgrounds.close()
        self.backend.close()

    def __enter__(self) -> "Matter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resolve_model(model: Any) -> Tuple[Path, str, Optional[Tuple[int, int]]]:
    """(model file, task, input size) for a table name or a file path."""
    if isinstance(model, (str, os.PathLike)) and (
        Path(model).suffix.lower() in (".onnx",) + _ENGINE_SUFFIXES or os.sep in str(model) or Path(model).is_file()
    ):
        path = Path(model).expanduser()
        if not path.is_file():
            raise ModelError(f"received model path {str(path)!r}, which is not a file; expected an .onnx or engine file")
        return path, "segmentation", None
    if not isinstance(model, str):
        raise InputError(f"received model {model!r}; expected a model-table name or a path to an .onnx/engine file")
    from .models import get_spec

    spec = get_spec(model)
    from .export.to_onnx import onnx_for

    try:
        path = onnx_for(model)
    except InputError:  # a row that needs exporting from PyTorch first
        raise ModelError(
            f"received model {model!r}, which has no ready ONNX file; expected an exported one: run "
            f"`edgematte export {model} -o {model}.onnx`, then pass that path (with task={spec.task!r})"
        ) from None
    return Path(path), spec.task, tuple(spec.input_size) if spec.input_size else None


def _open_backend(backend: Any, path: Path, threads: Optional[int]):
    """Open the backend. TensorRT gets an engine from export's ``engine_for``: built from an ONNX
    (cached), a stale ``.plan`` rebuilt when its ONNX is at hand, or for RobustVideoMatting's graph
    the engines ``edgematte build`` made for it, one per frame size. ``"auto"`` (or what
    ``EDGEMATTE_BACKEND`` names) falls back to ONNX Runtime on any TensorRT/CUDA start-up failure,
    logging why once per process."""
    from .runtime import auto_backend, log_fallback, open_backend

    if not isinstance(backend, str):
        if not hasattr(backend, "infer"):
            raise InputError(f"received backend {backend!r}; expected one of {_BACKENDS} or a Backend object")
        return backend.open()
    if backend not in _BACKENDS:
        raise InputError(f"received backend {backend!r}; expected one of {_BACKENDS} or a Backend object")
    is_engine = path.suffix.lower() in _ENGINE_SUFFIXES
    if backend == "auto":
        backend = "tensorrt" if is_engine else auto_backend()
    if is_engine and backend == "ort-cpu":
        raise InputError(f"received the engine file {str(path)!r} with backend 'ort-cpu'; expected an .onnx file")
    if backend in ("auto", "tensorrt"):
        from .errors import BackendUnavailableError

        try:
            from .export.to_trt import engine_for

            return open_backend("tensorrt", engine_for(path))
        except BackendUnavailableError as exc:  # no tensorrt/pycuda, no GPU, driver too old
            if backend == "tensorrt":
                raise
            log_fallback(exc)
    return open_backend("ort-cpu", path, threads=threads)


def _temporal_config(temporal: Any) -> Union[None, str, TemporalConfig]:
    """"auto", a TemporalConfig, or None (off)."""
    if temporal is None or temporal is False or (isinstance(temporal, (int, float)) and temporal == 0):
        return None
    if temporal == "auto" or isinstance(temporal, TemporalConfig):
        return temporal
    if temporal is True:
        return TemporalConfig()
    if isinstance(temporal, (int, float)) and not isinstance(temporal, bool):
        return TemporalConfig(strength=float(temporal))
    raise InputError(
        f"received temporal={temporal!r}; expected 'auto', a float in [0, 1) (0: off), a bool, None or a TemporalConfig"
    )
