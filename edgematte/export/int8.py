"""INT8 variants of the CPU networks: ``edgematte export selfie --int8`` and ``edgematte export rvm --int8``.

Static quantization with ``onnxruntime.quantization.quantize_static``: QDQ format, int8 weights per
output channel, uint8 activations (ONNX Runtime's u8s8 kernels, the path that uses x86 VNNI and ARM
dot-product instructions), MinMax ranges calibrated on real video frames. The graph is first raised
to opset 17 (per-channel QDQ needs 13) and prepared by ``quant_pre_process``.

- **selfie**: the whole graph (``src`` [1,3,H,W] RGB 0..1 -> ``alpha``), calibrated on frames of the
  clips scaled to the model's size.
- **RobustVideoMatting**: only the convolutions of its recurrent decoder and output head are quantized,
  where most of its time goes at the small size's full resolution, less two (:func:`rvm_network_nodes`).
  The encoder, which sees only the frame, stays float: quantized, it cost most of the accuracy (alpha p99
  one step 14 -> 3 levels on the shared clips for the same 1.5x). So do the decoder's element-wise nodes
  (GRU gates, concatenations: quantized, they cost accuracy and no time), the fast guided filter's
  statistics at the small size (its box-filter convolutions, ``A`` and ``b``) and the full-resolution
  refiner, so :class:`~edgematte.models.rvm.RvmModel` still cuts the graph
  (:func:`~edgematte.models.rvm.split_refiner`) and runs the refiner natively. Calibrated at the clips' own
  size and automatic ratio, the states carried through each clip from zeros, as in use; the ranges are the
  mean of the frames' minima and maxima (ONNX Runtime's ``CalibMovingAverage``), not the extremes.

Every second frame calibrates; the others check the INT8 graph against the FP32 one (alpha difference
in levels of 255: 99th percentile and maximum). Both graphs are also timed side by side on this CPU,
so the report says whether INT8 pays here: it needs int8 dot-product instructions (x86 VNNI: AVX-512
VNNI or AVX-VNNI; ARM: the dot-product extension), and even then small depthwise networks may not gain.
Nothing is written at ``output`` unless quantization succeeds.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Union

import numpy as np

from ..errors import ExportError, InputError
from ..files import atomic_path

__all__ = ["Int8Report", "quantize_selfie", "quantize_rvm", "int8_dot_product", "rvm_network_nodes", "rvm_parity"]

PathLike = Union[str, "os.PathLike[str]"]
VIDEO_SUFFIXES = (".mkv", ".mp4", ".mov", ".avi", ".webm", ".gif")
#: the oldest onnxruntime whose quantizer these exports are checked with (1.15's fails on the selfie graph: its
#: quantize_bias_static cannot reshape a per-channel bias into a broadcast (1,) bias)
CHECKED_ONNXRUNTIME = "1.32"


@dataclass(frozen=True)
class Int8Report:
    """What a quantization wrote and the numbers that describe it."""

    path: Path
    model: str
    #: frames that calibrated the ranges / frames the parity was measured on
    calibration_frames: int
    check_frames: int
    #: alpha |INT8 - FP32| in levels of 255 over the check frames: (99th percentile, maximum); for RVM the
    #: graphs run one step from the same inputs and states (see ``carried_levels`` for the clips run through)
    alpha_levels: tuple
    #: median ms per run on one intra-op thread: (FP32, INT8)
    ms: tuple
    #: the CPU's int8 dot-product instructions ("VNNI", "dot product") or None
    dot_product: Optional[str]
    #: RVM: the same, each graph carrying its own states through the clips (a recurrent network also
    #: drifts apart from FP32 on a one-level change of its input: that is the floor of this figure)
    carried_levels: Optional[tuple] = None

    def lines(self) -> List[str]:
        speed = self.ms[0] / self.ms[1] if self.ms[1] > 0 else float("nan")
        cpu = f"this CPU has int8 {self.dot_product}" if self.dot_product else "this CPU has no int8 dot-product"
        step = " (one step from the same states)" if self.carried_levels else ""
        lines = [
            f"wrote {self.path} ({self.model} INT8, QDQ, calibrated on {self.calibration_frames} frames)",
            f"alpha vs FP32 over {self.check_frames} other frames{step}: p99 {self.alpha_levels[0]:.1f} levels, "
            f"max {self.alpha_levels[1]:.0f}",
        ]
        if self.carried_levels:
            lines.append(f"alpha vs FP32, each carrying its own states through the clips: p99 "
                         f"{self.carried_levels[0]:.1f} levels, max {self.carried_levels[1]:.0f}")
        return lines + [f"one thread here: FP32 {self.ms[0]:.2f} ms, INT8 {self.ms[1]:.2f} ms ({speed:.2f}x; {cpu})"]


def int8_dot_product(cpuinfo: Optional[str] = None) -> Optional[str]:
    """The CPU's int8 dot-product instructions ONNX Runtime's u8s8 kernels use ("VNNI": AVX-512 VNNI or
    AVX-VNNI; "dot product": ARMv8.2 SDOT/UDOT), or None; from ``cpuinfo`` (default: Linux /proc/cpuinfo)."""
    text = cpuinfo
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    if {"avx512_vnni", "avx_vnni"} & flags:
        return "VNNI"
    if "asimddp" in flags:
        return "dot product"
    return None


def _clips(calibration: Sequence[PathLike]) -> List[Path]:
    """Video files named, or found in the folders named, sorted; InputError when there are none."""
    found: List[Path] = []
    for item in calibration:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"received calibration path {os.fspath(item)!r}, which does not exist; expected videos "
                             "or a folder of videos")
    if not found:
        raise InputError(f"received calibration paths {[os.fspath(c) for c in calibration]} with no video; expected "
                         f"files ending in {', '.join(VIDEO_SUFFIXES)}")
    return found


def _frames(clip: Path, limit: int) -> List[np.ndarray]:
    """The first ``limit`` frames of ``clip``, BGR uint8 HxWx3."""
    import av

    out: List[np.ndarray] = []
    with av.open(os.fspath(clip)) as container:
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="bgr24"))
            if len(out) >= limit:
                break
    return out


def _rgb(frame: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """BGR HxWx3 uint8 -> [1,3,H,W] float32 RGB 0..1 (the pipeline's model input)."""
    from ..kernels import native

    h, w = frame.shape[:2]
    out = np.empty((1, 3, h, w), np.float32) if out is None else out
    native("_guided").model_input(np.ascontiguousarray(frame), out[0])
    return out


def _session(model: Union[bytes, str], threads: int = 0):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _prepare(onnx_in: PathLike, folder: str) -> str:
    """``onnx_in`` at opset >= 17, shape-inferred and optimized for quantization; the path of the copy."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(os.fspath(onnx_in))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 17:
        model = version_converter.convert_version(model, 17)
    raised, prepared = os.path.join(folder, "opset17.onnx"), os.path.join(folder, "prepared.onnx")
    onnx.save(model, raised)
    quant_pre_process(raised, prepared, skip_symbolic_shape=True)
    return prepared


def _quantize_static(prepared: str, output: PathLike, feeds: Iterator[Dict[str, np.ndarray]],
                     nodes: Optional[Set[str]], moving_average: bool = False) -> None:
    import onnxruntime
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    try:
        quantize_static(prepared, os.fspath(output), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_quantize=sorted(nodes) if nodes is not None else None,
                        extra_options={"CalibMovingAverage": moving_average})
    except Exception as exc:  # onnxruntime.quantization raises plain errors on graphs it cannot handle
        raise ExportError(f"onnxruntime {onnxruntime.__version__} could not quantize the graph ({type(exc).__name__}: "
                          f"{exc}); expected onnxruntime >= {CHECKED_ONNXRUNTIME}, the oldest this export is checked "
                          "with") from exc


def _timed(run: Callable[[], object], rounds: int = 15) -> float:
    """Median CPU ms of ``run`` on this thread, after one warm-up call."""
    run()
    times = []
    for _ in range(rounds):
        start = time.thread_time()
        run()
        times.append(time.thread_time() - start)
    return float(np.median(times)) * 1e3


def _alpha_levels(pairs: Sequence[tuple]) -> tuple:
    """(p99, max) of |a - b| * 255 over all (fp32 alpha, int8 alpha) pairs."""
    diffs = np.concatenate([np.abs(a.astype(np.float64) - b).ravel() * 255 for a, b in pairs])
    return float(np.percentile(diffs, 99)), float(diffs.max())


def quantize_selfie(onnx_in: PathLike, output: PathLike, calibration: Sequence[PathLike], *,
                    frames_per_clip: int = 12) -> Int8Report:
    """The selfie graph at ``onnx_in`` (``src`` [1,3,H,W] -> ``alpha``) in INT8 -> ``output``."""
    import cv2

    clips = _clips(calibration)
    probe = _session(os.fspath(onnx_in), 1)
    shape = probe.get_inputs()[0].shape
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
        raise InputError(f"received a graph with input shape {shape}; expected a static [1,3,H,W] selfie graph")
    h, w = shape[2:]
    inputs = [_rgb(cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA))
              for clip in clips for f in _frames(clip, 8 * frames_per_clip)[:: 8]]
    calibrate, check = inputs[::2], inputs[1::2]
    with tempfile.TemporaryDirectory(prefix="edgematte-int8-") as tmp:
        prepared = _prepare(onnx_in, tmp)
        quantized = os.path.join(tmp, "int8.onnx")
        _quantize_static(prepared, quantized, iter({"src": x} for x in calibrate), None)
        fp32, int8 = _session(os.fspath(onnx_in), 1), _session(quantized, 1)
        name = fp32.get_inputs()[0].name
        pairs = [(fp32.run(None, {name: x})[0], int8.run(None, {name: x})[0]) for x in check]
        ms = (_timed(lambda: fp32.run(None, {name: check[0]})), _timed(lambda: int8.run(None, {name: check[0]})))
        with atomic_path(output) as dst:
            dst.write_bytes(Path(quantized).read_bytes())
    return Int8Report(Path(output), "selfie", len(calibrate), len(check), _alpha_levels(pairs), ms,
                      int8_dot_product())


def rvm_network_nodes(model) -> Set[str]:
    """Names of the nodes INT8 quantizes in RVM's graph ``model`` (onnx.ModelProto): the convolutions of its
    recurrent decoder and output head (nodes that depend on a recurrent state input, ``r1i`` .. ``r4i``, and
    feed the recurrent outputs or the decoder's small-size output, the ``Split`` into foreground and alpha that
    the fast guided filter starts from), less two that stay float. Measured one at a time on the shared clips,
    the first convolution of the highest-resolution block (the one whose state is ``r1``) cost 2.1 levels of
    alpha p99 one step alone, as much as the other thirteen together; the 1x1 projection onto foreground and
    alpha costs the most of the rest (0.7) for next to no time. ExportError when the graph does not have RVM's
    refiner structure.
    """
    from ..models.rvm import STATES, split_refiner

    split = split_refiner(model)
    if split is None:
        raise ExportError("the RVM graph's refiner was not found (split_refiner); expected the official graph")
    _, _, a_name, b_name = split
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}

    def ancestors(names: Sequence[str]) -> Set[str]:
        seen: Set[str] = set()
        stack = list(names)
        while stack:
            node = producer.get(stack.pop())
            if node is not None and node.name not in seen:
                seen.add(node.name)
                stack.extend(node.input)
        return seen

    recurrent = ancestors(list(STATES.values()))
    refiner = ancestors([a_name, b_name]) - recurrent
    starts = [n for n in graph.node if n.name in refiner and n.op_type == "Split"]
    if len(starts) != 1:
        raise ExportError(f"found {len(starts)} Split nodes where RVM's decoder output meets its guided filter; "
                          "expected 1")
    network = recurrent | ancestors(list(starts[0].input))
    stateful, fed = set(), set(STATES)
    for node in graph.node:  # topological order
        if fed & set(node.input):
            fed.update(node.output)
            stateful.add(node.name)
    convs = [n for n in graph.node if n.name in network & stateful and n.op_type == "Conv"]  # topological order
    r1, r2 = ancestors([STATES["r1i"]]), ancestors([STATES["r2i"]])
    first_block = [n.name for n in convs if n.name in r1 - r2]  # its input convolution first, then its GRU's
    projection = producer.get(starts[0].input[0])
    if not first_block or projection is None or projection.op_type != "Conv":
        raise ExportError("RVM's highest-resolution decoder block or output projection was not found; expected "
                          "the official graph")
    return {n.name for n in convs} - {first_block[0], projection.name}


def _rvm_clip(session, frames: Sequence[np.ndarray]) -> List[tuple]:
    """(feed, pha) per frame of one clip: ``session`` runs it in order from zero states, so each feed carries
    the states it has in use (and ``pha`` is that graph's alpha)."""
    from ..models.rvm import STATES, auto_downsample_ratio

    names = [o.name for o in session.get_outputs()]
    states = {name: np.zeros((1, 1, 1, 1), np.float32) for name in STATES}
    out = []
    for frame in frames:
        h, w = frame.shape[:2]
        feed = {"src": _rgb(frame), "downsample_ratio": np.array([auto_downsample_ratio(h, w)], np.float32), **states}
        values = dict(zip(names, session.run(None, feed)))
        out.append((feed, values["pha"]))
        states = {i: values[o] for i, o in STATES.items()}
    return out


def rvm_parity(reference, candidate, clips: Sequence[Sequence[np.ndarray]], runs: Optional[list] = None) -> tuple:
    """((p99, max) one step, (p99, max) carried): alpha |candidate - reference| in levels over the odd frames
    of each clip (BGR uint8). One step: the candidate from the reference's inputs and states of that frame;
    carried: each session with its own states through the clip. Sessions run RVM's whole graph; ``runs``:
    the reference's :func:`_rvm_clip` of each clip, when already made."""
    runs = runs if runs is not None else [_rvm_clip(reference, frames) for frames in clips]
    names = [o.name for o in candidate.get_outputs()]
    steps = [(pha, dict(zip(names, candidate.run(None, feed)))["pha"]) for run in runs for feed, pha in run[1::2]]
    carried = [(pha, new) for run, frames in zip(runs, clips)
               for (_, pha), (_, new) in zip(run[1::2], _rvm_clip(candidate, frames)[1::2])]
    return _alpha_levels(steps), _alpha_levels(carried)


def quantize_rvm(onnx_in: PathLike, output: PathLike, calibration: Sequence[PathLike], *,
                 frames_per_clip: int = 16) -> Int8Report:
    """The RVM graph at ``onnx_in`` with its network in INT8 (refiner float) -> ``output``; same signature."""
    import onnx

    from ..models.rvm import is_rvm_file

    if not is_rvm_file(onnx_in):
        raise InputError(f"received {os.fspath(onnx_in)!r}, which is not a RobustVideoMatting graph; expected its "
                         "signature")
    clips = [_frames(clip, frames_per_clip) for clip in _clips(calibration)]
    with tempfile.TemporaryDirectory(prefix="edgematte-int8-") as tmp:
        prepared = _prepare(onnx_in, tmp)
        nodes = rvm_network_nodes(onnx.load(prepared))
        fp32 = _session(prepared, 1)
        runs = [_rvm_clip(fp32, frames) for frames in clips]  # even frames calibrate, odd ones check
        quantized = os.path.join(tmp, "int8.onnx")
        _quantize_static(prepared, quantized, iter(feed for run in runs for feed, _ in run[::2]), nodes,
                         moving_average=True)
        int8 = _session(quantized, 1)
        steps, carried = rvm_parity(fp32, int8, clips, runs)
        check = runs[0][1][0]
        ms = (_timed(lambda: fp32.run(None, check), 5), _timed(lambda: int8.run(None, check), 5))
        with atomic_path(output) as dst:
            dst.write_bytes(Path(quantized).read_bytes())
    calibrated = sum(len(run[::2]) for run in runs)
    checked = sum(len(run[1::2]) for run in runs)
    return Int8Report(Path(output), "RobustVideoMatting", calibrated, checked, steps, ms, int8_dot_product(), carried)
