"""RobustVideoMatting ONNX -> a static graph TensorRT can parse, checked against the original.

TensorRT cannot parse RVM's Resize driven by the runtime ``downsample_ratio`` tensor
(RobustVideoMatting#219: "network input that is shape tensor must have type Int32"). The
chain, each step a plain function:

1. :func:`make_static`: ``downsample_ratio`` becomes a constant, ``src`` [1,3,H,W] and the four
   states get the static shapes they have at that size (measured by running the original once);
2. :func:`~edgematte.export.to_onnx.slim` (onnxslim) folds the now-constant shape arithmetic;
3. ``onnx.checker`` and shape inference;
4. :func:`clip_parity`: the original (dynamic, ratio fed, states from [1,1,1,1] zeros) and the
   static graph (states from zeros of their full shape, which RVM broadcasts to anyway) run
   side by side over a clip with each one's states carried; max |pha difference| <= ``atol``;
5. optionally the FP16 twin (the zoo's :func:`~edgematte.export.to_onnx.make_fp16`, float32 I/O,
   statistics ops in FP32) with its drift against the static FP32 graph over the same clip. Its
   mean drift is small (~1e-4 on real video) but a few edge pixels move by up to ~0.5: keeping
   the guided filter's statistics in FP32 through the converter's node block list made it
   worse (onnxruntime's float16 converter), so the FP32 graph stays the reference.

Nothing is written at ``output`` unless every step passes.

For TensorRT, :func:`build_rvm_engines` (``edgematte build RVM.onnx --size WxH``) makes the static graph per
frame size (cached) and an FP16 engine of it, filed in the engine cache with the graph and size it is for;
:func:`rvm_engines` finds them again for ``Matter(rvm, backend="tensorrt")``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import BackendUnavailableError, EngineCacheMismatch, ExportError, InputError
from ..files import atomic_path
from ..models.rvm import (STATES, auto_downsample_ratio, check_downsample_ratio, check_internal_size, is_rvm,
                          is_static)
from ..weights import cache_dir, sha256_of

__all__ = ["export_rvm", "RvmExportReport", "make_static", "clip_parity", "clip_frames", "is_dynamic_rvm",
           "build_rvm_engines", "rvm_engines"]

PathLike = Union[str, "os.PathLike[str]"]
#: frames of the parity clip used when none is given: seeded smooth noise drifting over time
_SYNTHETIC_FRAMES = 12


@dataclass(frozen=True)
class RvmExportReport:
    """What ``export_rvm`` wrote and the numbers that justified writing it."""

    path: Path
    height: int
    width: int
    downsample_ratio: float
    #: name -> static shape of every input
    shapes: Tuple[Tuple[str, Tuple[int, ...]], ...]
    frames: int
    #: (max |pha diff|, max |fgr diff|) static FP32 vs the original, states carried
    parity: Tuple[float, float]
    #: (max, mean |pha diff|) FP16 vs static FP32 over the same frames; None without fp16
    fp16_drift: Optional[Tuple[float, float]] = None
    fp16_path: Optional[Path] = None

    def lines(self) -> List[str]:
        out = [
            f"wrote {self.path} ({self.height}x{self.width}, downsample_ratio {self.downsample_ratio:g} folded in)",
            "static inputs: " + ", ".join(f"{n} {list(s)}" for n, s in self.shapes),
            f"parity vs the original over {self.frames} frames, states carried: max |d pha| {self.parity[0]:.2e}, "
            f"max |d fgr| {self.parity[1]:.2e}",
        ]
        if self.fp16_drift is not None:
            out.append(
                f"wrote {self.fp16_path} (FP16, float32 I/O): pha drift vs FP32 max {self.fp16_drift[0]:.2e}, "
                f"mean {self.fp16_drift[1]:.2e}"
            )
        return out


def _io_specs(model) -> Tuple[list, list]:
    from .onnx_prereq import graph_io

    return graph_io(model)


def _session(model_bytes: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _feed_original(src: np.ndarray, states: Dict[str, np.ndarray], ratio: float) -> Dict[str, np.ndarray]:
    return {"src": src, "downsample_ratio": np.array([ratio], np.float32), **states}


def make_static(model, height: int, width: int, ratio: float):
    """A copy of the RVM ``model`` (onnx.ModelProto) with the ratio folded and every input/output static.

    Returns (model, {input name: static shape}).
    """
    import onnx
    from onnx import numpy_helper

    zeros = {name: np.zeros((1, 1, 1, 1), np.float32) for name in STATES}
    src = np.zeros((1, 3, height, width), np.float32)
    session = _session(model.SerializeToString())
    names = [o.name for o in session.get_outputs()]
    values = dict(zip(names, session.run(None, _feed_original(src, zeros, ratio))))
    shapes = {"src": (1, 3, height, width), **{i: tuple(values[o].shape) for i, o in STATES.items()}}
    out_shapes = {name: tuple(values[name].shape) for name in names}

    static = onnx.ModelProto()
    static.CopyFrom(model)
    graph = static.graph
    kept = [v for v in graph.input if v.name != "downsample_ratio"]
    del graph.input[:]
    graph.input.extend(kept)
    graph.initializer.append(numpy_helper.from_array(np.array([ratio], np.float32), "downsample_ratio"))
    for value in list(graph.input) + list(graph.output):
        shape = shapes.get(value.name) or out_shapes[value.name]
        dims = value.type.tensor_type.shape.dim
        for dim, size in zip(dims, shape):
            dim.Clear()
            dim.dim_value = int(size)
    del graph.value_info[:]  # stale dynamic shapes; onnxslim re-infers them
    return static, shapes


def clip_frames(clip: Optional[PathLike], height: int, width: int, frames: int) -> List[np.ndarray]:
    """Up to ``frames`` frames of ``clip`` resized to ``width`` x ``height``, as [1,3,H,W] float32 RGB 0..1.

    Without a clip: seeded smooth noise that drifts from frame to frame (weaker than real video).
    """
    import cv2

    images = []
    if clip is not None:
        capture = cv2.VideoCapture(os.fspath(clip))
        if not capture.isOpened():
            raise InputError(f"received parity clip {os.fspath(clip)!r}, which OpenCV cannot open; expected a video")
        while len(images) < frames:
            ok, frame = capture.read()
            if not ok:
                break
            images.append(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))
        capture.release()
        if not images:
            raise InputError(f"received parity clip {os.fspath(clip)!r} with no readable frame; expected a video")
    else:
        rng = np.random.default_rng(0)
        base = cv2.resize(rng.integers(0, 256, (9, 16, 3), dtype=np.uint8), (width, height))
        for index in range(min(frames, _SYNTHETIC_FRAMES)):
            images.append(np.roll(base, 4 * index, axis=1))
    return [np.ascontiguousarray(im[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0 for im in images]


def _run_clip(session, frames: Sequence[np.ndarray], states: Dict[str, np.ndarray], extra: Dict[str, np.ndarray]):
    """[(fgr, pha)] per frame, each state output fed back as the next frame's input."""
    names = [o.name for o in session.get_outputs()]
    results = []
    for src in frames:
        values = dict(zip(names, session.run(None, {"src": src, **states, **extra})))
        states = {i: values[o] for i, o in STATES.items()}
        results.append((values["fgr"], values["pha"]))
    return results


def clip_parity(original: bytes, static: bytes, frames: Sequence[np.ndarray], ratio: float, shapes) -> Tuple:
    """((max |d pha|, max |d fgr|), static session results) of the two graphs over ``frames``."""
    ones = {name: np.zeros((1, 1, 1, 1), np.float32) for name in STATES}
    full = {name: np.zeros(shapes[name], np.float32) for name in STATES}
    reference = _run_clip(_session(original), frames, ones, {"downsample_ratio": np.array([ratio], np.float32)})
    candidate = _run_clip(_session(static), frames, full, {})
    pha = max(float(np.abs(a[1] - b[1]).max()) for a, b in zip(reference, candidate))
    fgr = max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(reference, candidate))
    return (pha, fgr), candidate


def export_rvm(
    onnx_in: PathLike,
    output: PathLike,
    *,
    height: int,
    width: int,
    downsample_ratio: Optional[float] = None,
    fp16: bool = False,
    clip: Optional[PathLike] = None,
    frames: int = 30,
    atol: float = 1e-4,
) -> RvmExportReport:
    """Static RVM graph for ``height`` x ``width`` at ``downsample_ratio`` (None: automatic) -> ``output``.

    With ``fp16`` the FP16 twin goes beside it as ``<output stem>_fp16.onnx``. Raises
    InputError for bad arguments or a non-RVM graph, ExportError when a check fails.
    """
    import onnx

    from .to_onnx import make_fp16, slim

    for label, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InputError(f"received {label}={value!r}; expected a positive integer")
    ratio = check_downsample_ratio(downsample_ratio)
    ratio = auto_downsample_ratio(height, width) if ratio is None else ratio
    check_internal_size(height, width, ratio)
    source = Path(onnx_in)
    if not source.is_file():
        raise InputError(f"received --onnx {str(source)!r}, which is not a file; expected an RVM .onnx file")
    model = onnx.load(os.fspath(source))
    if not is_rvm(*_io_specs(model)):
        raise InputError(f"received {str(source)!r}, which is not a RobustVideoMatting graph; expected its signature")
    output = Path(output)
    fp16_path = output.with_name(output.stem + "_fp16.onnx")
    static, shapes = make_static(model, height, width, ratio)
    images = clip_frames(clip, height, width, frames)
    with tempfile.TemporaryDirectory(prefix="edgematte-rvm-") as tmp:
        raw, slimmed = Path(tmp, "static.onnx"), Path(tmp, "slim.onnx")
        onnx.save(static, os.fspath(raw))
        slim(raw, slimmed)
        try:
            onnx.checker.check_model(os.fspath(slimmed), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"the static RVM graph is not valid ONNX: {exc}") from exc
        static_bytes = slimmed.read_bytes()
        parity, results = clip_parity(model.SerializeToString(), static_bytes, images, ratio, shapes)
        if not parity[0] <= atol:
            raise ExportError(
                f"the static RVM graph differs from the original by max |d pha| {parity[0]:.3g} over {len(images)} "
                f"frames; expected <= {atol:g}"
            )
        drift = None
        if fp16:
            half = Path(tmp, "fp16.onnx")
            make_fp16(slimmed, half)
            full = {name: np.zeros(shapes[name], np.float32) for name in STATES}
            halves = _run_clip(_session(half.read_bytes()), images, full, {})
            diffs = [np.abs(a[1] - b[1]) for a, b in zip(results, halves)]
            drift = (float(max(d.max() for d in diffs)), float(np.mean([d.mean() for d in diffs])))
            with atomic_path(fp16_path) as dst:
                dst.write_bytes(half.read_bytes())
        with atomic_path(output) as dst:
            dst.write_bytes(static_bytes)
    return RvmExportReport(
        output, height, width, ratio, tuple(shapes.items()), len(images), parity, drift, fp16_path if fp16 else None
    )


def is_dynamic_rvm(path: PathLike) -> bool:
    """True for RobustVideoMatting's own graph (its ratio a runtime input, which TensorRT cannot parse); False for
    any other ONNX, the static export included."""
    from .onnx_prereq import graph_io, load_graph

    inputs, outputs = graph_io(load_graph(path))
    return is_rvm(inputs, outputs) and not is_static(inputs)


def build_rvm_engines(onnx_in: PathLike, sizes: Sequence[Tuple[int, int]], *, out_dir: Optional[PathLike] = None,
                      downsample_ratio: Optional[float] = None, workspace_mb: Optional[int] = None, force: bool = False,
                      device: int = 0, clip: Optional[PathLike] = None) -> List[Path]:
    """FP16 engines of the RVM graph at ``onnx_in``, one per (height, width) of ``sizes``: its static export (cached
    beside the split graph, checked against the original by :func:`export_rvm`; with strong typing its FP16 twin)
    built by ``build_engine`` into ``out_dir`` (default: the user cache's engines, where Matter looks), the graph,
    size and ratio recorded in each manifest. TensorRT and CUDA are started first, so a machine where the build
    cannot run says so at once (BackendUnavailableError), before minutes of export."""
    from ..runtime.trt_env import import_pycuda, import_tensorrt
    from .to_trt import EngineConfig, build_engine, typing_mode

    strong = typing_mode(import_tensorrt()) == "strong"
    import_pycuda()
    if not is_dynamic_rvm(onnx_in):
        raise InputError(f"received {str(onnx_in)!r} with --size; expected RobustVideoMatting's own graph (a static "
                         "export is built as it is, without --size)")
    source, plans = sha256_of(onnx_in), []
    out_dir = Path(out_dir) if out_dir is not None else cache_dir() / "engines"
    for height, width in sizes:
        ratio = check_downsample_ratio(downsample_ratio) or auto_downsample_ratio(height, width)
        static = cache_dir() / "rvm" / "static" / f"{source[:24]}-{width}x{height}-r{ratio:.6g}.onnx"
        half = static.with_name(static.stem + "_fp16.onnx")
        if not static.is_file() or (strong and not half.is_file()):
            export_rvm(onnx_in, static, height=height, width=width, downsample_ratio=ratio, fp16=strong, clip=clip)
        record = {"rvm": {"source_sha256": source, "height": height, "width": width, "downsample_ratio": ratio}}
        plans.append(build_engine(half if strong else static, out_dir, EngineConfig(fp16=True, workspace_mb=workspace_mb),
                                  model=Path(onnx_in).stem, device=device, force=force, extra=record))
    return plans


def rvm_engines(onnx_in: PathLike, out_dir: PathLike, *, device: int = 0) -> List[Path]:
    """The engines :func:`build_rvm_engines` made for the RVM graph at ``onnx_in`` that run on this GPU and
    TensorRT, one per frame size (the newest where several were), or BackendUnavailableError saying how to build
    them (``auto`` then falls back to ONNX Runtime, logging that)."""
    from ..runtime.engine_cache import mismatches, read_manifest
    from ..runtime.trt_env import current_target, import_pycuda, import_tensorrt, primary_context, pushed

    trt, cuda = import_tensorrt(), import_pycuda()
    with pushed(cuda, primary_context(cuda, device)):
        target = current_target(trt, cuda, device)
    source, found = sha256_of(onnx_in), {}
    for record in sorted(Path(out_dir).glob(f"{Path(onnx_in).stem}/*.json"), key=lambda f: f.stat().st_mtime):
        plan = record.with_suffix(".plan")
        try:
            manifest = read_manifest(plan)
        except EngineCacheMismatch:
            continue
        rvm = manifest.extra.get("rvm") or {}
        if rvm.get("source_sha256") == source and plan.is_file() and not mismatches(manifest, target):
            found[(rvm["height"], rvm["width"])] = plan
    if not found:
        raise BackendUnavailableError(
            f"no TensorRT engine was built for the RobustVideoMatting graph {str(onnx_in)!r} on {target.describe()} "
            f"(in {str(out_dir)!r}); expected one per frame size: run `edgematte build {onnx_in} --size 1280x720`"
        )
    return [found[size] for size in sorted(found)]
