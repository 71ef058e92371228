"""Model steps: what a network takes from the frame and gives back, for :class:`~edgematte.pipeline.core.Pipeline`.

A step says which buffers it needs (:meth:`buffers`, made by the pipeline in its space), makes the model-size
frame (:meth:`prepare`), runs the network on it (:meth:`infer`: a tuple of model-size outputs, which the
temporal stage may smooth), and, when the network makes its own full-resolution pass, runs it (:meth:`refine`;
``refines``). A recurrent step (``recurrent``: RVM, whose backend carries the state) restarts it on :meth:`reset`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import InputError, ModelError
from ..kernels import threads_now
from ..models.rvm import (STATES, auto_downsample_ratio, check_downsample_ratio, check_internal_size, internal_size,
                          is_rvm, is_static, open_split)

__all__ = ["SegmentStep", "RvmStep", "make_step"]

U8 = np.uint8


def make_step(backend: Any, space: Any, *, input_size: Optional[Tuple[int, int]] = None,
              downsample_ratio: Optional[float] = None, threads: int = 0) -> Any:
    """The step for ``backend``'s model: RvmStep for a RobustVideoMatting graph, else SegmentStep (which refuses
    a ``downsample_ratio``)."""
    ratio = check_downsample_ratio(downsample_ratio)
    if is_rvm(backend.inputs, backend.outputs):
        return RvmStep(backend, space, downsample_ratio=ratio, threads=threads)
    if ratio is not None:
        raise InputError(
            f"received downsample_ratio={downsample_ratio!r} for a model with inputs "
            f"{[s.name for s in backend.inputs]}; expected it only for RobustVideoMatting models"
        )
    return SegmentStep(backend, space, input_size)


def _tensor_dtype(spec: Any) -> np.dtype:
    dtype = np.dtype(spec.dtype or np.float32)
    if dtype not in (np.float16, np.float32):
        raise InputError(f"received a model input {spec.name!r} of dtype {dtype}; expected float32 or float16")
    return dtype


class SegmentStep:
    """One input (``src`` [1,3,h,w] RGB float 0..1), one alpha output ([1,1,h,w] 0..1, named ``alpha`` or first)."""

    recurrent = False
    refines = False

    def __init__(self, backend: Any, space: Any, input_size: Optional[Tuple[int, int]] = None) -> None:
        inputs, outputs = backend.inputs, backend.outputs
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] not in (3, None):
            raise InputError(f"received a model with inputs {inputs}; expected one src [1,3,H,W] RGB float32 input")
        names = [o.name for o in outputs]
        self.input_name, self.output_name = inputs[0].name, "alpha" if "alpha" in names else names[0]
        shape_hw = inputs[0].shape[2:]
        if input_size is not None:
            hw = (int(input_size[0]), int(input_size[1]))
            if any(s is not None and s != v for s, v in zip(shape_hw, hw)):
                raise InputError(f"received input_size {hw}; the model's input is fixed at {shape_hw}")
        elif None in shape_hw:
            raise InputError(f"received a model with dynamic input {inputs[0].shape}; expected input_size=(h, w)")
        else:
            hw = (int(shape_hw[0]), int(shape_hw[1]))
        self.backend, self.model_hw = backend, hw
        self.src = space.model_input(backend, self.input_name, (1, 3) + hw, _tensor_dtype(inputs[0]))

    def plan(self, frame_hw: Tuple[int, int]) -> Tuple[int, int]:
        """The model-size frame of a frame of ``frame_hw``."""
        return self.model_hw

    def buffers(self, frame_hw: Tuple[int, int]) -> Dict[str, Any]:
        """The halving chain: exact 2x box filters while both sides stay >= 2x the model's (or, when that never
        holds, on the one side that does), then ``small``, the model-size frame."""
        (h, w), (mh, mw) = frame_hw, self.model_hw
        halves = []
        while h // 2 >= mh and w // 2 >= mw:
            h, w = h // 2, w // 2
            halves.append(((h, w, 3), U8))
        one_side = not halves
        while one_side and (h // 2 >= mh or w // 2 >= mw):
            h, w = (h // 2 if h // 2 >= mh else h), (w // 2 if w // 2 >= mw else w)
            halves.append(((h, w, 3), U8))
        return {"halves": halves, "small": ((mh, mw, 3), U8)}

    def prepare(self, s: Any, frame: Any, b: Any) -> Any:
        """``frame`` -> ``b.small``. At exactly 2x, bilinear samples midway between pixel pairs, which is the box
        filter, and runs ~2x faster than an area resize; a direct area resize by a non-integer factor costs many
        times more (1280x720 -> 256x256: ~9 ms direct, ~0.3 ms this way), and a direct bilinear one aliases."""
        src = frame
        for half in b.halves:
            hh, hw = half.shape[:2]
            sh, sw = (2 * hh if 2 * hh <= src.shape[0] else hh), (2 * hw if 2 * hw <= src.shape[1] else hw)
            src = s.resize(src[:sh, :sw], half)
        return s.resize(src, b.small)

    def infer(self, s: Any, frame: Any, b: Any) -> Tuple[Any]:
        """(alpha [mh, mw] float 0..1,): the network on ``b.small``; the backend's buffer, valid until its next call."""
        s.to_tensor(b.small, self.src)
        alpha = self.backend.infer({self.input_name: self.src}, validate=False)[self.output_name]
        return (s.asarray(alpha).reshape(self.model_hw),)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class RvmStep:
    """RobustVideoMatting: the frame's alpha and foreground, in stream order.

    ``downsample_ratio``: None picks :func:`~edgematte.models.rvm.auto_downsample_ratio` per frame size, a float in (0,
    1] fixes it; a static graph (``edgematte export rvm``, its engines) has its ratio folded in and takes frames of its
    own size. The model-size frame is the frame at the ratio, as the graph's bilinear Resize makes it. Where the graph's
    structure allows and the backend is ONNX Runtime (:func:`~edgematte.models.rvm.split_refiner`), the graph runs cut
    after its small-size guided-filter coefficients ``A``, ``b``, which are the step's outputs, and the full-resolution
    step runs natively from the uint8 frame; otherwise the whole graph runs and its ``pha``, ``fgr`` are the outputs.
    """

    recurrent = True
    refines = True
    model_hw = None  # follows the frame

    def __init__(self, backend: Any, space: Any, *, downsample_ratio: Optional[float] = None, threads: int = 0,
                 split: bool = True) -> None:
        if getattr(backend, "carry_state", None) is None:
            raise ModelError(
                f"received a {type(backend).__name__}, which cannot carry recurrent state; expected the ort-cpu or "
                "tensorrt backend for RobustVideoMatting"
            )
        self.static = is_static(backend.inputs)
        src = {spec.name: spec for spec in backend.inputs}["src"]
        if self.static and downsample_ratio is not None:
            raise InputError(f"received downsample_ratio={downsample_ratio!r} for a static RobustVideoMatting graph; "
                             "expected None: its ratio was folded in by `edgematte export rvm`")
        self.downsample_ratio, self.threads = downsample_ratio, threads
        self.frame_hw = tuple(src.shape[2:]) if self.static and None not in src.shape[2:] else None
        self._dtype = _tensor_dtype(src)
        self._names: Optional[Dict[str, str]] = None  # the split graph's tensor names
        if split and not self.static:
            backend, self._names = open_split(backend)
        backend.carry_state(STATES)
        self.backend = backend
        self._ratio = np.empty(1, np.float32)

    @property
    def native_refiner(self) -> bool:
        """True when the full-resolution refiner step runs in edgematte's kernel (the split graph)."""
        return self._names is not None

    def ratio_for(self, height: int, width: int) -> float:
        """The ratio used for frames of this size; InputError when it shrinks them below the network's minimum."""
        ratio = self.downsample_ratio if self.downsample_ratio is not None else auto_downsample_ratio(height, width)
        if not self.static:  # a static graph's ratio was checked when it was made
            check_internal_size(height, width, ratio)
        return ratio

    def plan(self, frame_hw: Tuple[int, int]) -> Tuple[int, int]:
        """The frame at the ratio: the graph's Resize makes floor(side * ratio) (ONNX Resize with scales)."""
        if self.frame_hw is not None and tuple(frame_hw) != self.frame_hw:
            raise InputError(
                f"received a {frame_hw[1]}x{frame_hw[0]} frame for a static RobustVideoMatting graph of "
                f"{self.frame_hw[1]}x{self.frame_hw[0]}; expected frames of that size (export one per size with "
                "`edgematte export rvm --height H --width W`, or use the dynamic graph)"
            )
        return internal_size(*frame_hw, self.ratio_for(*frame_hw))

    def buffers(self, frame_hw: Tuple[int, int]) -> Dict[str, Any]:
        (h, w), (sh, sw) = frame_hw, self.plan(frame_hw)
        src_hw = (sh, sw) if self._names else (h, w)
        return {"small": ((sh, sw, 3), U8), "src": ((1, 3) + src_hw, self._dtype), "alpha": ((h, w), U8),
                "foreground": ((h, w, 3), U8)}

    def prepare(self, s: Any, frame: Any, b: Any) -> Any:
        """``frame`` -> ``b.small`` by bilinear sampling (the model input of the split graph; the cut detector's)."""
        return s.resize(frame, b.small)

    def infer(self, s: Any, frame: Any, b: Any) -> Tuple[Any, Any]:
        """(A, b) [1,4,h,w] of the split graph, or (pha [1,1,H,W], fgr [1,3,H,W]) of the whole graph (0..1)."""
        if self._names is not None:
            s.to_tensor(b.small, b.src)
            out = self.backend.infer({self._names["small"]: b.src}, validate=False)
            return s.asarray(out[self._names["a"]]), s.asarray(out[self._names["b"]])
        s.to_tensor(frame, b.src)
        feed = {"src": b.src}
        if not self.static:
            self._ratio[0] = self.ratio_for(*frame.shape[:2])
            feed["downsample_ratio"] = self._ratio
        out = self.backend.infer(feed, validate=False)
        return s.asarray(out["pha"]), s.asarray(out["fgr"])

    def refine(self, s: Any, frame: Any, outputs: Tuple[Any, Any], b: Any) -> Tuple[Any, Any]:
        """(alpha uint8 HxW, foreground uint8 HxWx3 BGR) at the frame's size: the refiner's full-resolution step
        from the coefficients (split), or the graph's own pha and fgr rounded (pha is clipped in the graph)."""
        if self._names is not None:
            threads = threads_now(self.threads or getattr(self.backend, "threads", 1))
            s.fgf(frame, outputs[0][0], outputs[1][0], b.alpha, b.foreground, threads)
        else:
            s.to_u8(outputs[0][0], b.alpha)
            s.to_u8(outputs[1][0], b.foreground)
        return b.alpha, b.foreground

    def reset(self) -> None:
        """Restart the recurrent states from zeros."""
        self.backend.reset_state()

    def close(self) -> None:
        """Close the split graph's backend if this step opened one (the caller's backend is the caller's)."""
        if self._names is not None:
            self.backend.close()
