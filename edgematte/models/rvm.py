"""RobustVideoMatting (RVM): recognising its graph, choosing ``downsample_ratio``, running it in frame order.

RVM's ONNX signature (the official ``rvm_mobilenetv3_fp32.onnx`` / ``rvm_resnet50_fp32.onnx``):

- inputs ``src`` [B,3,H,W] float32 RGB 0..1; ``r1i`` .. ``r4i`` [B,C,h,w] float32 recurrent
  states (zeros [1,1,1,1] on the first frame); ``downsample_ratio`` [1] float32;
- outputs ``fgr`` [B,3,H,W] float32 0..1 (foreground colour), ``pha`` [B,1,H,W] float32 0..1
  (alpha), ``r1o`` .. ``r4o`` (the states to feed back as ``r1i`` .. ``r4i`` next frame).

Any ONNX with that signature is RVM (:func:`is_rvm`), and so is the static graph of ``edgematte export
rvm`` (its ratio folded in, :func:`is_static`). The model is recurrent: frames must be served in order,
one stream per pipeline; the pipeline's model step (:class:`edgematte.pipeline.steps.RvmStep`) restarts
the states from zeros on ``reset()``, a scene cut, or a change of frame size or ratio.

Where the time goes, and what the step does about it: the graph downsamples ``src``,
runs the network at the small size, then applies its fast guided filter at full resolution
(bilinear upsampling of the filter's 4-channel ``A`` and ``b``, ``A * x + b``, clip) in float32
NCHW, which with the full-size float conversions on either side costs about as much as the
network itself at 1280x720 / 0.25. So when the graph's structure allows (:func:`split_refiner`),
the graph is cut after the small-size ``A`` and ``b``; the frame is downsampled in uint8 by
OpenCV (same bilinear sampling), and the full-resolution step runs as one fused native pass
(``edgematte.kernels._fgf``, twin :func:`fgf_apply_reference`) straight from the uint8 frame
to uint8 alpha and foreground. Otherwise the whole graph runs as is.

Automatic ratio (:func:`auto_downsample_ratio`): the internal frame's longer side is
:data:`AUTO_LONG_SIDE` = 320 px, chosen by measurement (``python bench/quality.py --temporal --rvm-ratios``,
README "RVM's automatic ratio, measured"): the largest input that keeps the CPU path real time at 720p, while
384 px is where detail (SAD) stops paying for its time; 640x480 -> 0.5, 1280x720 -> 0.25, 1920x1080 -> 1/6,
3840x2160 -> 1/12; frames whose longer side is <= 320 px run at 1. No ratio, automatic or given, may shrink a
frame's shorter side below :data:`MIN_INTERNAL_SIDE` = 64 px (the network's minimum, measured:
``bench/rvm_minimum.py``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError, ModelError
from ..files import atomic_path
from ..kernels import native
from ..types import TensorSpec
from ..weights import cache_dir, read_onnx, sha256_of

__all__ = [
    "STATES",
    "RVM_INPUTS",
    "RVM_OUTPUTS",
    "AUTO_LONG_SIDE",
    "MIN_INTERNAL_SIDE",
    "is_rvm",
    "is_rvm_file",
    "auto_downsample_ratio",
    "check_downsample_ratio",
    "check_internal_size",
    "internal_size",
    "is_static",
    "open_split",
    "split_refiner",
    "fgf_apply_reference",
]

log = logging.getLogger(__name__)

#: recurrent input -> the output fed back into it on the next frame
STATES: Dict[str, str] = {"r1i": "r1o", "r2i": "r2o", "r3i": "r3o", "r4i": "r4o"}
RVM_INPUTS = ("src", "r1i", "r2i", "r3i", "r4i", "downsample_ratio")
RVM_OUTPUTS = ("fgr", "pha", "r1o", "r2o", "r3o", "r4o")
#: longer side (px) of the downsampled frame the automatic ratio aims at
AUTO_LONG_SIDE = 320
#: the shorter side (px) below which a ratio may not shrink the network's frame. Measured with the real
#: MobileNetV3 graph (``python bench/rvm_minimum.py``: 14 clips and 11 photos of people, the matte at each
#: internal size against the graph's own matte at the automatic ratio): 64 px is the smallest size at which
#: no input's matte is lost (lowest IoU 0.47, median 0.92, three quarters at 0.8 or more); up to 56 px some
#: mattes are empty, at 32 px the median IoU is 0 and at 16 px or less every matte is lost.
MIN_INTERNAL_SIDE = 64
#: expected rank of each tensor of the signature
_RANKS = {"src": 4, "downsample_ratio": 1, "fgr": 4, "pha": 4, **{n: 4 for n in list(STATES) + list(STATES.values())}}


def is_rvm(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> bool:
    """True for RVM's signature, False for a graph with none of its names.

    The static graphs of ``edgematte export rvm`` have no ``downsample_ratio`` input (it is folded in;
    :func:`is_static`). Tensors are float32, or float16 where an engine's I/O is (one dtype for ``src``, the
    states and the outputs). A graph with some of RVM's names but not all of them, or with the wrong dtype or
    rank for one of them, raises ModelError naming what is wrong (never a silent non-RVM run).
    """
    got_in = {spec.name: spec for spec in inputs}
    got_out = {spec.name: spec for spec in outputs}
    marks = (set(got_in) & (set(RVM_INPUTS) - {"src"})) | (set(got_out) & (set(RVM_OUTPUTS) - {"alpha"}))
    if not marks:
        return False
    problems = []
    missing_in = [n for n in RVM_INPUTS[:5] if n not in got_in]
    missing_out = [n for n in RVM_OUTPUTS if n not in got_out]
    if missing_in:
        problems.append(f"missing inputs {missing_in}")
    if missing_out:
        problems.append(f"missing outputs {missing_out}")
    dtype = got_in["src"].dtype if "src" in got_in else "float32"
    for spec in [got_in[n] for n in RVM_INPUTS if n in got_in] + [got_out[n] for n in RVM_OUTPUTS if n in got_out]:
        want = "float32" if spec.name == "downsample_ratio" else dtype
        if spec.dtype != want or want not in ("float32", "float16"):
            problems.append(f"{spec.name} is {spec.dtype}" + (f" while src is {dtype}" if spec.name != "src" else ""))
        if len(spec.shape) != _RANKS[spec.name]:
            problems.append(f"{spec.name} has rank {len(spec.shape)}")
    if "src" in got_in and len(got_in["src"].shape) == 4 and got_in["src"].shape[1] not in (3, None):
        problems.append(f"src has {got_in['src'].shape[1]} channels")
    if problems:
        raise ModelError(
            f"received a graph with RobustVideoMatting names ({sorted(marks)}) but {'; '.join(problems)}; expected "
            f"float32 inputs {list(RVM_INPUTS)} (src, states rank 4, downsample_ratio [1]; no downsample_ratio in a "
            f"static export) and float32 outputs {list(RVM_OUTPUTS)}, as in the official rvm_*_fp32.onnx (float16 "
            "I/O is for TensorRT engines)"
        )
    return True


def is_static(inputs: Sequence[TensorSpec]) -> bool:
    """True for an RVM graph with its ratio folded in (``edgematte export rvm``): no ``downsample_ratio`` input."""
    return "downsample_ratio" not in {spec.name for spec in inputs}


def is_rvm_file(path: Any) -> bool:
    """:func:`is_rvm` for an ``.onnx`` file, reading only its graph (no weights decoded into arrays).

    A file that is no readable ONNX (truncated, another format) raises ModelError naming it.
    """
    from onnx import helper

    graph = read_onnx(path).graph
    weights = {init.name for init in graph.initializer}

    def spec(value) -> TensorSpec:
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        try:
            dtype = str(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
        except (KeyError, ValueError, TypeError):  # an element type NumPy has no dtype for
            dtype = f"onnx-type-{tensor.elem_type}"
        return TensorSpec(value.name, dims, dtype)

    inputs = [spec(v) for v in graph.input if v.name not in weights]
    return is_rvm(inputs, [spec(v) for v in graph.output])


def auto_downsample_ratio(height: int, width: int) -> float:
    """The ratio that brings the longer side of a ``height`` x ``width`` frame to ~AUTO_LONG_SIDE px (<= 1),
    keeping the shorter side at :data:`MIN_INTERNAL_SIDE` px (or all of it, when smaller) for frames longer
    than 5:1."""
    short, long = sorted((int(height), int(width)))
    return min(1.0, max(AUTO_LONG_SIDE / long, (min(MIN_INTERNAL_SIDE, short) + 0.5) / short))


def internal_size(height: int, width: int, ratio: float) -> Tuple[int, int]:
    """(h, w) of the frame the network runs at: the graph's Resize makes floor(side * ratio), at least 1."""
    return max(1, int(math.floor(height * ratio))), max(1, int(math.floor(width * ratio)))


def check_internal_size(height: int, width: int, ratio: float) -> None:
    """InputError when ``ratio`` shrinks a frame whose shorter side has :data:`MIN_INTERNAL_SIDE` px or more
    below that minimum (a frame already smaller is the caller's to judge)."""
    short = min(int(height), int(width))
    small = internal_size(height, width, ratio)
    if short >= MIN_INTERNAL_SIDE and min(small) < MIN_INTERNAL_SIDE:
        lowest = math.ceil(MIN_INTERNAL_SIDE / short * 1000) / 1000
        raise InputError(
            f"received downsample_ratio={ratio!r}, which shrinks a {width}x{height} frame to {small[1]}x{small[0]} "
            f"inside RobustVideoMatting; expected at least {MIN_INTERNAL_SIDE} px on its shorter side, the "
            f"network's minimum: a ratio of {lowest:g} or more for this frame, or None (automatic)"
        )


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


def split_refiner(model) -> Optional[Tuple[Any, str, str, str]]:
    """RVM graph (onnx.ModelProto) cut before its full-resolution refiner step, or None.

    Returns (graph, small-src input, A output, b output): the graph takes the downsampled
    ``src`` [1,3,h,w] and r1i..r4i and returns the guided filter's ``A`` and ``b`` [1,4,h,w]
    plus r1o..r4o. Found by structure (the Resize of ``src``; the ``Mul`` of an upsampled
    tensor by ``concat(src, mean(src))`` and the ``Add`` of another upsampled tensor), so
    None when a graph is built differently.
    """
    import onnx.shape_inference
    import onnx.utils

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers: Dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    down = [n for n in consumers.get("src", []) if n.op_type == "Resize"]
    fine = [n for n in consumers.get("src", []) if n.op_type == "Concat"]
    if len(down) != 1 or len(fine) != 1:
        return None
    muls = [n for n in consumers.get(fine[0].output[0], []) if n.op_type == "Mul"]
    if len(muls) != 1:
        return None
    mul = muls[0]
    up_a = producer.get(next((i for i in mul.input if i != fine[0].output[0]), ""))
    adds = [n for n in consumers.get(mul.output[0], []) if n.op_type == "Add"]
    if up_a is None or up_a.op_type != "Resize" or len(adds) != 1:
        return None
    up_b = producer.get(next((i for i in adds[0].input if i != mul.output[0]), ""))
    if up_b is None or up_b.op_type != "Resize":
        return None
    small, a_name, b_name = down[0].output[0], up_a.input[0], up_b.input[0]
    try:
        cut = onnx.utils.Extractor(onnx.shape_inference.infer_shapes(model)).extract_model([small] + list(STATES), [a_name, b_name] + list(STATES.values()))
    except Exception as exc:  # the extractor raises plain errors when a tensor is unreachable
        log.debug("RVM graph not split (%s); the whole graph runs", exc)
        return None
    for output in cut.graph.output:  # onnx before 1.15 infers no shape for A and b: say [N,4,h,w]
        if output.name in (a_name, b_name) and not output.type.tensor_type.HasField("shape"):
            dims = output.type.tensor_type.shape.dim
            for dim in ("batch", 4, "small_height", "small_width"):
                if isinstance(dim, int):
                    dims.add().dim_value = dim
                else:
                    dims.add().dim_param = dim
    return cut, small, a_name, b_name


def _split_path(path: Path) -> Optional[Tuple[Path, Dict[str, str]]]:
    """The cached split graph of the RVM file at ``path`` (made once) and its tensor names, or None.

    The names file beside the graph records the graph's sha256; an entry that does not verify
    (damaged, truncated, half written, foreign) is made again, with a warning.
    """
    import json

    import onnx

    folder = cache_dir() / "rvm" / "split"
    stem = folder / sha256_of(path)[:24]
    graph_path, names_path = stem.with_suffix(".onnx"), stem.with_suffix(".json")
    names = _verified_names(graph_path, names_path)
    if names is not None:
        return graph_path, names
    if graph_path.exists() or names_path.exists():
        log.warning("the cached RVM split graph %s does not verify against its record %s (damaged, or made by an "
                    "older edgematte); making it again", graph_path, names_path.name)
    split = split_refiner(read_onnx(path, load_external_data=True))
    if split is None:
        return None
    cut, small, a_name, b_name = split
    names = {"small": small, "a": a_name, "b": b_name}
    with atomic_path(graph_path) as tmp:
        onnx.save(cut, str(tmp))
    with atomic_path(names_path) as tmp:
        tmp.write_text(json.dumps({**names, "sha256": sha256_of(graph_path), "format": _SPLIT_FORMAT}))
    return graph_path, names


def _verified_names(graph_path: Path, names_path: Path) -> Optional[Dict[str, str]]:
    """The tensor names recorded for a cached split graph, when the record reads and the graph's sha256 is its."""
    import json

    try:
        record = json.loads(names_path.read_bytes())
        if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in _SPLIT_RECORD):
            return None
        if record.get("format") != _SPLIT_FORMAT or sha256_of(graph_path) != record["sha256"]:
            return None
    except (OSError, ValueError, RecursionError):  # absent or unreadable; not UTF-8 or not JSON (ValueErrors)
        return None
    return {key: record[key] for key in ("small", "a", "b")}


_SPLIT_RECORD = ("small", "a", "b", "sha256")
#: 2: A and b carry their shape [N,4,h,w] (format 1 graphs made with onnx 1.14 had none)
_SPLIT_FORMAT = 2


def open_split(backend: Any) -> Tuple[Any, Optional[Dict[str, str]]]:
    """(a backend of ``backend``'s class on the split graph, its tensor names) when ``backend`` is ONNX Runtime on an
    RVM file that splits and the native refiner is built; else (``backend``, None): the whole graph runs."""
    if not all(hasattr(backend, name) for name in ("path", "threads", "inter_op_threads", "spin")):
        return backend, None  # not OrtCpuBackend (duck-typed: the models package does not import the runtime)
    try:
        native("_fgf")
    except ImportError as exc:  # BackendUnavailableError (unbuilt source tree): the whole graph still runs
        log.warning("RVM refiner kernel unavailable (%s); running the whole graph", exc)
        return backend, None
    split = _split_path(backend.path)
    if split is None:
        return backend, None
    path, names = split
    return type(backend)(path, threads=backend.threads, inter_op_threads=backend.inter_op_threads,
                         spin=backend.spin).open(), names


def fgf_apply_reference(frame: np.ndarray, a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The refiner's full-resolution step in NumPy: frame uint8 HxWx3 BGR, a/b float32 [4,h,w] (R, G, B, grey).

    ``A`` and ``b`` are upsampled bilinearly (half-pixel centres, edge-clamped, as ONNX Resize
    "linear" / "pytorch_half_pixel"); with x = (R, G, B, mean(R, G, B)) / 255 and y = A * x + b:
    foreground = clip(y[:3] + x[:3], 0, 1), alpha = clip(y[3], 0, 1), both as uint8
    (round half up). Returns (alpha HxW, foreground HxWx3 BGR).
    """
    height, width = frame.shape[:2]
    h, w = a.shape[1:]

    def taps(out: int, size: int):
        pos = np.maximum((np.arange(out) + 0.5) * size / out - 0.5, 0.0)
        lo = np.minimum(np.floor(pos).astype(int), size - 1)
        return lo, np.minimum(lo + 1, size - 1), pos - lo

    y0, y1, wy = taps(height, h)
    x0, x1, wx = taps(width, w)

    def up(t: np.ndarray) -> np.ndarray:
        t = t.astype(np.float64)
        rows = t[:, y0] + wy[None, :, None] * (t[:, y1] - t[:, y0])
        return rows[:, :, x0] + wx[None, None, :] * (rows[:, :, x1] - rows[:, :, x0])

    rgb = frame[:, :, ::-1].transpose(2, 0, 1).astype(np.float64) / 255.0
    x = np.concatenate([rgb, rgb.mean(axis=0, keepdims=True)])
    y = up(a) * x + up(b)
    fgr = np.clip(y[:3] + x[:3], 0.0, 1.0)
    pha = np.clip(y[3], 0.0, 1.0)
    to_u8 = lambda v: np.floor(v * 255.0 + 0.5).astype(np.uint8)  # noqa: E731
    return to_u8(pha), np.ascontiguousarray(to_u8(fgr)[::-1].transpose(1, 2, 0))
