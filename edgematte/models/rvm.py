"""RobustVideoMatting (RVM): recognising its graph, choosing ``downsample_ratio``, running it in frame order.

RVM's ONNX signature (the official ``rvm_mobilenetv3_fp32.onnx`` / ``rvm_resnet50_fp32.onnx``):

- inputs ``src`` [B,3,H,W] float32 RGB 0..1; ``r1i`` .. ``r4i`` [B,C,h,w] float32 recurrent
  states (zeros [1,1,1,1] on the first frame); ``downsample_ratio`` [1] float32;
- outputs ``fgr`` [B,3,H,W] float32 0..1 (foreground colour), ``pha`` [B,1,H,W] float32 0..1
  (alpha), ``r1o`` .. ``r4o`` (the states to feed back as ``r1i`` .. ``r4i`` next frame).

Any ONNX with that signature is RVM (:func:`is_rvm`). The model is recurrent: frames must be
served in order, one stream per :class:`RvmModel`; :meth:`RvmModel.reset` (and a scene cut, or a
change of frame size or ratio) restarts the states from zeros.

Automatic ratio (:func:`auto_downsample_ratio`): the internal frame's longer side is
:data:`AUTO_LONG_SIDE` = 320 px, within upstream's 256-512 px guidance and at its CPU-friendly
end: 640x480 -> 0.5, 1280x720 -> 0.25, 1920x1080 -> 1/6, 3840x2160 -> 1/12; frames whose
longer side is <= 320 px run at 1.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError, ModelError
from ..types import TensorSpec

__all__ = [
    "STATES",
    "RVM_INPUTS",
    "RVM_OUTPUTS",
    "AUTO_LONG_SIDE",
    "is_rvm",
    "auto_downsample_ratio",
    "check_downsample_ratio",
    "RvmModel",
]

#: recurrent input -> the output fed back into it on the next frame
STATES: Dict[str, str] = {"r1i": "r1o", "r2i": "r2o", "r3i": "r3o", "r4i": "r4o"}
RVM_INPUTS = ("src", "r1i", "r2i", "r3i", "r4i", "downsample_ratio")
RVM_OUTPUTS = ("fgr", "pha", "r1o", "r2o", "r3o", "r4o")
#: longer side (px) of the downsampled frame the automatic ratio aims at
AUTO_LONG_SIDE = 320
#: expected rank of each tensor of the signature
_RANKS = {"src": 4, "downsample_ratio": 1, "fgr": 4, "pha": 4, **{n: 4 for n in list(STATES) + list(STATES.values())}}


def is_rvm(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> bool:
    """True for RVM's signature, False for a graph with none of its names.

    A graph with some of RVM's names but not all of them, or with the wrong dtype or rank
    for one of them, raises ModelError naming what is wrong (never a silent non-RVM run).
    """
    got_in = {spec.name: spec for spec in inputs}
    got_out = {spec.name: spec for spec in outputs}
    marks = (set(got_in) & (set(RVM_INPUTS) - {"src"})) | (set(got_out) & (set(RVM_OUTPUTS) - {"alpha"}))
    if not marks:
        return False
    problems = []
    missing_in = [n for n in RVM_INPUTS if n not in got_in]
    missing_out = [n for n in RVM_OUTPUTS if n not in got_out]
    if missing_in:
        problems.append(f"missing inputs {missing_in}")
    if missing_out:
        problems.append(f"missing outputs {missing_out}")
    for spec in [got_in[n] for n in RVM_INPUTS if n in got_in] + [got_out[n] for n in RVM_OUTPUTS if n in got_out]:
        if spec.dtype != "float32":
            problems.append(f"{spec.name} is {spec.dtype}")
        if len(spec.shape) != _RANKS[spec.name]:
            problems.append(f"{spec.name} has rank {len(spec.shape)}")
    if "src" in got_in and len(got_in["src"].shape) == 4 and got_in["src"].shape[1] not in (3, None):
        problems.append(f"src has {got_in['src'].shape[1]} channels")
    if problems:
        raise ModelError(
            f"received a graph with RobustVideoMatting names ({sorted(marks)}) but {'; '.join(problems)}; expected "
            f"float32 inputs {list(RVM_INPUTS)} (src, states rank 4, downsample_ratio [1]) and float32 outputs "
            f"{list(RVM_OUTPUTS)}, as in the official rvm_*_fp32.onnx (the fp16 release files are for GPUs)"
        )
    return True


def auto_downsample_ratio(height: int, width: int) -> float:
    """The ratio that brings the longer side of a ``height`` x ``width`` frame to ~AUTO_LONG_SIDE px (<= 1)."""
    return min(1.0, AUTO_LONG_SIDE / max(int(height), int(width)))


def check_downsample_ratio(value: Any) -> Optional[float]:
    """``None`` (automatic) or a float in (0, 1]; InputError otherwise."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise InputError(f"received downsample_ratio={value!r}; expected None (automatic) or a float in (0, 1]")
    ratio = float(value)
    if not (math.isfinite(ratio) and 0.0 < ratio <= 1.0):
        raise InputError(f"received downsample_ratio={value!r}; expected None (automatic) or a float in (0, 1]")
    return ratio


class RvmModel:
    """The model step for RVM: one uint8 BGR frame (in stream order) -> alpha and foreground.

    ``backend``: an opened backend running an RVM graph that can carry recurrent state
    (``OrtCpuBackend``: the states stay OrtValues between calls, never copied to the host).
    ``downsample_ratio``: None picks :func:`auto_downsample_ratio` per frame size; a float in
    (0, 1] fixes it. ``cut_threshold``: mean absolute difference (0..1) between consecutive
    frames at the model's internal size above which the states restart (a scene cut).

    Not thread-safe and order-dependent: one stream, one thread. The returned arrays are
    reused buffers, overwritten by the next call.
    """

    def __init__(self, backend: Any, *, downsample_ratio: Optional[float] = None, cut_threshold: float = 0.12) -> None:
        if not is_rvm(backend.inputs, backend.outputs):
            raise ModelError(
                f"received a model with inputs {[s.name for s in backend.inputs]}; expected RobustVideoMatting's "
                f"{list(RVM_INPUTS)}"
            )
        carry = getattr(backend, "carry_state", None)
        if carry is None:
            raise ModelError(
                f"received a {type(backend).__name__}, which cannot carry recurrent state; expected the "
                "ort-cpu backend for RobustVideoMatting"
            )
        carry(STATES)
        self.backend = backend
        self.downsample_ratio = check_downsample_ratio(downsample_ratio)
        self.cut_threshold = float(cut_threshold)
        self._key: Optional[Tuple[int, int, float]] = None  # (h, w, ratio) the states were made for
        self._src = np.empty((1, 3, 0, 0), np.float32)
        self._ratio = np.empty(1, np.float32)
        self._alpha = np.empty((0, 0), np.uint8)
        self._foreground = np.empty((0, 0, 3), np.uint8)
        self._thumb: Optional[np.ndarray] = None  # previous frame, small, for the cut detector

    def ratio_for(self, height: int, width: int) -> float:
        """The ratio used for frames of this size."""
        return self.downsample_ratio if self.downsample_ratio is not None else auto_downsample_ratio(height, width)

    def reset(self) -> None:
        """Restart the recurrent states from zeros (between unrelated clips)."""
        self.backend.reset_state()
        self._thumb = None

    def run(self, frame: np.ndarray) -> Tuple[np.ndarray, np.ndarray, bool]:
        """``frame`` uint8 HxWx3 BGR -> (alpha uint8 HxW, foreground uint8 HxWx3 BGR, cut).

        ``cut`` is True when the states restarted on this frame (scene cut, new size or ratio).
        """
        import cv2

        h, w = frame.shape[:2]
        ratio = self.ratio_for(h, w)
        cut = self._restart_if_needed(frame, (h, w, ratio))
        np.multiply(frame.transpose(2, 0, 1)[::-1], np.float32(1.0 / 255.0), out=self._src[0], casting="unsafe")
        out = self.backend.infer({"src": self._src, "downsample_ratio": self._ratio}, validate=False)
        cv2.convertScaleAbs(out["pha"][0, 0], dst=self._alpha, alpha=255.0)  # pha is clipped to 0..1 in the graph
        fgr = out["fgr"][0]
        cv2.convertScaleAbs(cv2.merge((fgr[2], fgr[1], fgr[0])), dst=self._foreground, alpha=255.0)
        return self._alpha, self._foreground, cut

    def _restart_if_needed(self, frame: np.ndarray, key: Tuple[int, int, float]) -> bool:
        """Reset the states on a new size/ratio (buffers re-made) or a scene cut; True when reset."""
        import cv2

        h, w, ratio = key
        if key != self._key:
            first, self._key = self._key is None, key
            self._src = np.empty((1, 3, h, w), np.float32)
            self._ratio = np.array([ratio], np.float32)
            self._alpha = np.empty((h, w), np.uint8)
            self._foreground = np.empty((h, w, 3), np.uint8)
            self.reset()
            self._thumb = cv2.resize(frame, (32, 32), interpolation=cv2.INTER_AREA)
            return not first
        thumb = cv2.resize(frame, (32, 32), interpolation=cv2.INTER_AREA)
        cut = self._thumb is not None and cv2.norm(thumb, self._thumb, cv2.NORM_L1) / (thumb.size * 255.0) > (
            self.cut_threshold
        )
        if cut:
            self.backend.reset_state()
        self._thumb = thumb
        return cut
