"""PyTorch zoo model -> checked, simplified ONNX (optionally FP16) with proven ORT parity.

The chain, each step a plain function: ``load`` -> ``export_torchscript`` -> ``check_onnx`` ->
``slim`` -> ``check_onnx`` -> parity (ONNX Runtime vs PyTorch, max abs diff <= ``atol``) ->
optional ``make_fp16`` with its drift vs FP32 measured. Nothing is written at ``output``
unless every step passes. Models that ship as ONNX already (no PyTorch definition, e.g.
the selfie models) are copied from :func:`onnx_for` and checked.

The graph: opset 17, TorchScript exporter (``dynamo=False``: TensorRT 8.5/8.6 parse opset
<= 17 and fail on dynamo output), input ``src`` float32 [1,3,H,W] RGB 0..1, output ``alpha``
float32 [1,1,H,W] 0..1, normalisation inside. ``dynamic=True`` makes H and W symbolic.
"""

from __future__ import annotations

import inspect
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import BackendUnavailableError, ExportError, InputError
from ..files import atomic_path
from ..models import checkpoint_path, get_spec, is_torch_model, load
from ..models.selfie import SELFIE_ARCHITECTURE, fetch_tflite
from ..weights import cache_dir, matches_record, record_sha256, sha256_of
from .check_onnx import check_onnx, diff_stats, run_onnx

__all__ = ["to_onnx", "onnx_for", "ExportReport", "export_torchscript", "slim", "make_fp16", "FP32_OPS", "OPSET"]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
OPSET = 17
#: op types kept in float32 by make_fp16 (on top of onnxruntime's default block list):
#: InstanceNormalization/BatchNormalization/ReduceMean/GlobalAveragePool compute statistics
#: (sums of squares) that overflow FP16's 65504 or lose small variances; Sigmoid heads give
#: the alpha itself, and FP16 spacing near 1.0 is 2**-11.
FP32_OPS = ("InstanceNormalization", "BatchNormalization", "ReduceMean", "GlobalAveragePool", "Sigmoid")
#: for --dynamic, parity also runs at the default size plus this (H, W)
_DYNAMIC_PROBE = (64, 32)

Image = Union[PathLike, np.ndarray]


@dataclass(frozen=True)
class ExportReport:
    """What ``to_onnx`` wrote and the numbers that justified writing it."""

    path: Path
    model: str
    #: [1,3,H,W]; None for a dynamic dimension
    input_shape: Tuple[Optional[int], ...]
    fp16: bool
    #: (input label, max abs diff ONNX Runtime FP32 vs PyTorch); empty for copied graphs
    parity: Tuple[Tuple[str, float], ...] = ()
    #: (input label, max, mean abs diff ONNX Runtime FP16 vs FP32); empty without fp16
    fp16_drift: Tuple[Tuple[str, float, float], ...] = ()
    #: where the graph came from when it was copied rather than exported
    source: Optional[Path] = None

    def lines(self) -> List[str]:
        shape = "x".join("?" if d is None else str(d) for d in self.input_shape)
        size_mb = self.path.stat().st_size / 1e6 if self.path.exists() else float("nan")
        lines = [f"wrote {self.path} ({self.model}, src {shape}, {'fp16' if self.fp16 else 'fp32'}, {size_mb:.1f} MB)"]
        if self.source is not None:
            lines.append(f"copied from {self.source}")
        if self.parity:
            lines.append("ORT vs PyTorch max abs diff: " + ", ".join(f"{k} {v:.2e}" for k, v in self.parity))
        if self.fp16_drift:
            lines.append(
                "FP16 vs FP32 alpha drift (max / mean): "
                + ", ".join(f"{k} {mx:.2e} / {mean:.2e}" for k, mx, mean in self.fp16_drift)
            )
            lines.append("kept in FP32: " + ", ".join(FP32_OPS))
        return lines


def to_onnx(
    name: str,
    output: PathLike,
    *,
    checkpoint: Optional[PathLike] = None,
    height: Optional[int] = None,
    width: Optional[int] = None,
    dynamic: bool = False,
    fp16: bool = False,
    parity_images: Sequence[Image] = (),
    atol: float = 1e-4,
    seed: int = 0,
) -> ExportReport:
    """Export table model ``name`` to ``output`` (.onnx) and prove it matches PyTorch.

    Size: ``height``/``width`` (both or neither; default the row's ``input_size``; MODNet sides
    multiples of 32) or ``dynamic=True`` for symbolic H and W. Parity inputs: one seeded
    random image plus ``parity_images`` (paths or RGB uint8 HxWx3 arrays, resized to H x W).
    Raises ExportError with the numbers when ORT differs from PyTorch by more than ``atol``.
    """
    spec = get_spec(name)
    output = Path(output)
    if not is_torch_model(name):
        return _copy_prebuilt(name, output, height=height, width=width, dynamic=dynamic, fp16=fp16,
                              images=parity_images, seed=seed)
    height, width = _resolve_size(name, height, width, dynamic)
    inputs = _parity_inputs(height, width, dynamic, parity_images, seed)
    model = load(name, checkpoint)
    with tempfile.TemporaryDirectory(prefix="edgematte-export-") as tmp:
        raw, slimmed = Path(tmp, "raw.onnx"), Path(tmp, "slim.onnx")
        export_torchscript(model, raw, height=height, width=width, dynamic=dynamic)
        check_onnx(raw)
        slim(raw, slimmed)
        check_onnx(slimmed)
        parity = _parity(model, slimmed, inputs, atol)
        final, drift = _fp16_beside(slimmed, inputs) if fp16 else (slimmed, ())
        with atomic_path(output) as dst:
            shutil.copyfile(final, dst)
    shape = (1, 3, None, None) if dynamic else (1, 3, height, width)
    return ExportReport(output, spec.name, shape, fp16, parity=parity, fp16_drift=drift)


def _fp16_beside(fp32: Path, inputs) -> Tuple[Path, tuple]:
    """Write the checked FP16 twin of ``fp32`` beside it; returns its path and the alpha drift on ``inputs`` ((label, src) pairs)."""
    half = fp32.with_name("fp16.onnx")
    make_fp16(fp32, half)
    check_onnx(half)
    return half, _drift(fp32, half, inputs)


def _resolve_size(name: str, height: Optional[int], width: Optional[int], dynamic: bool) -> Tuple[int, int]:
    spec = get_spec(name)
    if dynamic and (height is not None or width is not None):
        raise InputError(f"received dynamic=True with height={height}, width={width}; expected one or the other")
    if (height is None) != (width is None):
        raise InputError(f"received height={height}, width={width}; expected both or neither")
    if height is None or width is None:
        return spec.input_size
    multiple = int(spec.extra.get("size_multiple", "1"))
    for label, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value % multiple:
            rule = f"a positive multiple of {multiple}" if multiple > 1 else "a positive integer"
            raise InputError(f"received {label} {value!r} for {name!r}; expected {rule} ({spec.size_rule})")
    return height, width


def export_torchscript(model, path: PathLike, *, height: int, width: int, dynamic: bool = False) -> Path:
    """``torch.onnx.export`` with the TorchScript exporter at opset 17: ``src`` -> ``alpha``."""
    import torch

    kwargs = dict(input_names=["src"], output_names=["alpha"], opset_version=OPSET, do_constant_folding=True)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # torch >= 2.9 defaults to the dynamo exporter
    if dynamic:
        axes = {2: "height", 3: "width"}
        kwargs["dynamic_axes"] = {"src": axes, "alpha": axes}
    dummy = torch.rand(1, 3, height, width)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # the exporter's deprecation notice and tracer notes about shape checks are expected here
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (dummy,), os.fspath(path), **kwargs)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ExportError(f"torch.onnx.export failed for a {height}x{width} input: {exc}") from exc
    return Path(path)


def slim(source: PathLike, destination: PathLike) -> Path:
    """Constant-fold and simplify with onnxslim (static Resize sizes, no dead Shape chains)."""
    try:
        import onnx
        import onnxslim
    except ImportError as exc:
        raise BackendUnavailableError(
            f"onnxslim is not installed ({exc}); expected it for export: pip install 'edgematte[export]'"
        ) from exc
    try:
        model = onnxslim.slim(os.fspath(source))
    except Exception as exc:  # onnxslim raises plain exceptions of many types; name the step
        raise ExportError(f"onnxslim could not simplify {source}: {type(exc).__name__}: {exc}") from exc
    onnx.save(model, os.fspath(destination))
    return Path(destination)


def make_fp16(source: PathLike, destination: PathLike) -> Path:
    """FP16 weights and activations with float32 ``src``/``alpha``; :data:`FP32_OPS` stay float32
    (onnxruntime's float16 converter, ``keep_io_types=True``).

    The input normalisation runs in FP16: ``src`` is cast to FP16 at the graph input anyway
    (spacing <= 2**-11 on 0..1, an eighth of an 8-bit step) and scaling by mean/std keeps
    that relative precision, so an FP32 island there would buy nothing.

    Every converter the dependencies allow gives a valid graph: each node is named uniquely first (older
    converters name their Casts after the node), and the identical Casts that some releases insert once per
    consumer (two nodes of one name making one tensor: not SSA) are merged. ExportError, naming the
    onnxruntime version, when the result still is not valid ONNX.
    """
    import onnx

    float16 = _float16_converter()
    model = onnx.load(os.fspath(source))
    _name_nodes(model.graph)
    try:
        half = float16.convert_float_to_float16(
            model,
            keep_io_types=True,
            op_block_list=list(float16.DEFAULT_OP_BLOCK_LIST) + list(FP32_OPS),
        )
    except (ValueError, RuntimeError) as exc:
        raise ExportError(f"FP16 conversion of {source} failed: {exc}") from exc
    _merge_repeated_nodes(half.graph)
    _sort_nodes(half.graph)  # the converter appends its input Casts at the end
    try:
        onnx.checker.check_model(half)
    except onnx.checker.ValidationError as exc:
        raise ExportError(
            f"the FP16 converter of onnxruntime {_ort_version()} made an invalid graph from {source} "
            f"({str(exc).splitlines()[0]}); expected a valid one: try another onnxruntime release"
        ) from exc
    onnx.save(half, os.fspath(destination))
    return Path(destination)


def _ort_version() -> str:
    try:
        from importlib.metadata import version

        return version("onnxruntime")
    except Exception:  # PackageNotFoundError, or a build without metadata
        return "(unknown version)"


def _float16_converter():
    """onnxruntime's ``transformers/float16.py``, loaded from its file: the module needs only onnx, numpy
    and packaging, while its package's ``__init__`` pulls Hugging Face ``transformers`` in some releases (1.15)."""
    import importlib.util
    import sys

    name = "edgematte._onnxruntime_float16"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("onnxruntime")
    path = Path(spec.origin).parent / "transformers" / "float16.py" if spec and spec.origin else None
    if path is not None and path.is_file():
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except ImportError:  # a release whose converter imports its siblings: the package's own import
            module = None
        if module is not None and hasattr(module, "convert_float_to_float16"):
            module.logger = logging.getLogger("onnxruntime.transformers.float16")  # its own name, quieted as before
            sys.modules[name] = module
            return module
    try:
        from onnxruntime.transformers import float16
    except ImportError as exc:
        raise ExportError(
            f"onnxruntime {_ort_version()} has no usable FP16 converter (onnxruntime.transformers.float16: {exc}); "
            "expected onnxruntime with it, or export without --fp16"
        ) from exc
    return float16


def _name_nodes(graph) -> None:
    """Give each unnamed node, and each repeat of a name, a name of its own (``<op>_<index>``)."""
    seen = set()
    for index, node in enumerate(graph.node):
        if not node.name or node.name in seen:
            base = node.name or node.op_type
            candidate = f"{base}_{index}"
            while candidate in seen:
                candidate += "_"
            node.name = candidate
        seen.add(node.name)


def _merge_repeated_nodes(graph) -> None:
    """Drop a node that repeats an earlier one exactly (op, inputs, outputs, attributes, name): some converters
    insert one Cast per consumer of a tensor, each of the same name and output."""
    seen, kept = set(), []
    for node in graph.node:
        key = node.SerializeToString(deterministic=True)
        if key not in seen:
            seen.add(key)
            kept.append(node)
    if len(kept) < len(graph.node):
        copies = [type(n)() for n in kept]
        for copy, node in zip(copies, kept):
            copy.CopyFrom(node)
        del graph.node[:]
        graph.node.extend(copies)


def _sort_nodes(graph) -> None:
    """Reorder ``graph.node`` topologically (stable), as onnx.checker requires."""
    available = {i.name for i in graph.input} | {init.name for init in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ExportError(f"the FP16 graph has a cycle or a dangling input at node {pending[0].name!r}")
        for node in ready:
            available.update(node.output)
        ready_ids = {id(n) for n in ready}
        ordered += ready
        pending = [n for n in pending if id(n) not in ready_ids]
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def _parity_inputs(height: int, width: int, dynamic: bool, images: Sequence[Image], seed: int):
    rng = np.random.default_rng(seed)
    inputs = [("random", rng.random((1, 3, height, width), dtype=np.float32))]
    if dynamic:
        h2, w2 = height + _DYNAMIC_PROBE[0], width + _DYNAMIC_PROBE[1]
        inputs.append((f"random {h2}x{w2}", rng.random((1, 3, h2, w2), dtype=np.float32)))
    for index, image in enumerate(images):
        label = Path(image).name if not isinstance(image, np.ndarray) else f"image{index}"
        inputs.append((label, _to_src(image, height, width)))
    return inputs


def _to_src(image: Image, height: int, width: int) -> np.ndarray:
    """RGB uint8 HxWx3 array or image file -> [1,3,height,width] float32 0..1 (area resize)."""
    import cv2

    if not isinstance(image, np.ndarray):
        bgr = cv2.imread(os.fspath(image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"received parity image {os.fspath(image)!r}, which OpenCV cannot read; expected an image")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"received a parity image {image.dtype} {image.shape}; expected uint8 HxWx3 RGB")
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)


def _parity(model, onnx_path: Path, inputs, atol: float) -> Tuple[Tuple[str, float], ...]:
    import torch

    results = []
    for label, src in inputs:
        with torch.no_grad():
            reference = model(torch.from_numpy(src)).numpy()
        results.append((label, diff_stats(reference, run_onnx(onnx_path, src))))
    if any(not mx <= atol for _, (mx, _mean) in results):
        numbers = "; ".join(f"{label}: max {mx:.3e}, mean {mean:.3e}" for label, (mx, mean) in results)
        raise ExportError(
            f"ONNX Runtime output differs from PyTorch: {numbers}; expected max abs diff <= {atol:g}. Nothing was written."
        )
    return tuple((label, mx) for label, (mx, _mean) in results)


def _drift(fp32_path: Path, fp16_path: Path, inputs) -> Tuple[Tuple[str, float, float], ...]:
    drift = []
    for label, src in inputs:
        mx, mean = diff_stats(run_onnx(fp32_path, src), run_onnx(fp16_path, src))
        if not np.isfinite(mx):
            raise ExportError(f"the FP16 graph gives non-finite alpha for input {label}; expected finite values in 0..1")
        drift.append((label, mx, mean))
    return tuple(drift)


def _copy_prebuilt(
    name: str,
    output: Path,
    *,
    height: Optional[int],
    width: Optional[int],
    dynamic: bool,
    fp16: bool,
    images: Sequence[Image],
    seed: int,
) -> ExportReport:
    """Models without a PyTorch definition: the ready ONNX of :func:`onnx_for`.

    There is no PyTorch reference to compare with; with ``fp16`` the drift is measured
    against the copied FP32 graph on a random input and ``images``.
    """
    spec = get_spec(name)
    if dynamic or height is not None or width is not None:
        raise InputError(
            f"received height={height}, width={width}, dynamic={dynamic} for {name!r}, which ships as a fixed "
            f"{spec.input_size[0]}x{spec.input_size[1]} graph; expected none of them"
        )
    source = Path(onnx_for(name))
    check_onnx(source)
    with tempfile.TemporaryDirectory(prefix="edgematte-export-") as tmp:
        final, drift = Path(tmp, "model.onnx"), ()
        shutil.copyfile(source, final)
        if fp16:
            final, drift = _fp16_beside(final, _parity_inputs(*spec.input_size, False, images, seed))
        with atomic_path(output) as dst:
            shutil.copyfile(final, dst)
    return ExportReport(output, spec.name, (1, 3) + tuple(spec.input_size), fp16, fp16_drift=drift, source=source)


def onnx_for(name: str, *, weights: Optional[PathLike] = None, progress: bool = True) -> Path:
    """A ready ONNX file for a table row that needs no PyTorch export.

    Selfie rows: the .tflite converted once and cached by its sha256 (input ``src`` float32
    [1,3,H,W] RGB 0..1, output ``alpha`` float32 [1,1,H,W] 0..1, (H, W) the row's
    ``input_size``). RVM rows: the upstream ONNX release file (``weights`` >
    ``$EDGEMATTE_WEIGHTS/rvm/`` > cache; see :func:`edgematte.models.checkpoint_path`).
    Other rows raise InputError (export them from PyTorch with :func:`to_onnx`).
    """
    spec = get_spec(name)
    if spec.architecture == "rvm":
        return Path(weights) if weights is not None else checkpoint_path(name, progress=progress)
    if spec.architecture != SELFIE_ARCHITECTURE:
        raise InputError(f"received model {name!r}, which ships no ready ONNX; expected a selfie or rvm row")
    from .tflite import CONVERTER_VERSION, export_selfie

    tflite_path = fetch_tflite(name, weights=weights, progress=progress)
    digest = sha256_of(tflite_path)
    target = cache_dir() / spec.weights_subdir / "onnx" / f"{name}-{digest[:16]}-c{CONVERTER_VERSION}.onnx"
    if matches_record(target):  # verified before use: a damaged or half-written conversion is made again
        return target
    if target.exists():
        log.warning("the cached conversion %s does not verify against its recorded sha256 (damaged, or made by an "
                    "older edgematte); converting %s again", target, tflite_path.name)
    export_selfie(name, target, weights=tflite_path)  # written atomically
    record_sha256(target)
    return target
