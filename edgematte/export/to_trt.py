"""ONNX -> TensorRT engine, cached under ``engines/<model>/<key>.plan`` with a JSON manifest, and
the decision to rebuild a stale engine when its ONNX is at hand (:func:`engine_for`).

TensorRT 8.5 is the floor. The builder path (the TensorRT API reference, §1-2):

- Weak typing, TensorRT 8.5-10.11 (``BuilderFlag.FP16`` present and not deprecated): FP16 comes from
  the builder flag; normalisation/reduction layers (and the InstanceNorm plugin on 8.5/8.6) are
  pinned to FP32 with ``OBEY_PRECISION_CONSTRAINTS``.
- Strong typing, TensorRT 10.12 and newer (weak typing deprecated in 10.12, removed in 11): no
  precision flag or layer precision is touched; precision comes from the ONNX, so an FP16 engine
  needs the FP16 ONNX that ``edgematte export --fp16`` writes. 10.12-10.x opt in with
  ``STRONGLY_TYPED``; 11.x is always strongly typed.
- ``EXPLICIT_BATCH`` only on 8.x; ``NATIVE_INSTANCENORM`` wherever the parser has it (8.6 opt-in,
  default later); the workspace through ``set_memory_pool_limit``.

The step functions take the ``trt`` module as an argument; only :func:`build_engine` and
:func:`engine_for` import it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import EngineBuildError, EngineCacheMismatch, InputError, ModelError
from ..files import write_atomic
from ..runtime.engine_cache import (
    EngineManifest,
    ShapeRange,
    Target,
    cache_key,
    find_engine,
    mismatch_message,
    mismatches,
    read_manifest,
    timing_cache_path,
    write_engine,
)
from ..runtime.trt_env import (
    checked,
    create,
    current_target,
    import_pycuda,
    import_tensorrt,
    make_logger,
    primary_context,
    pushed,
    trt_version,
)
from ..types import TensorSpec
from ..weights import cache_dir, sha256_of
from .onnx_prereq import OnnxReport, check_onnx_for_trt, graph_io, load_graph, strongly_typed

__all__ = [
    "EngineConfig",
    "build_engine",
    "build_engines",
    "engine_for",
    "onnx_for_rebuild",
    "typing_mode",
    "network_flags",
    "set_workspace",
    "enable_fp16",
    "parse_onnx",
    "add_profile",
]

log = logging.getLogger("edgematte.tensorrt")
PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class EngineConfig:
    """How to build one engine.

    ``shapes``: ``{input: (min, opt, max)}`` for every dynamic input. ``workspace_mb``: None keeps
    TensorRT's default. ``timing_cache``: None uses ``<out_dir>/timing/<sm>-trt<version>.cache``.
    ``fp32_layers``: extra TensorRT layer names to keep in FP32 (weak typing only).
    """

    fp16: bool = False
    workspace_mb: Optional[int] = None
    shapes: Mapping[str, ShapeRange] = field(default_factory=dict)
    timing_cache: Optional[str] = None
    fp32_layers: Tuple[str, ...] = ()

    @classmethod
    def from_manifest(cls, manifest: EngineManifest) -> "EngineConfig":
        """The config that rebuilds the engine of ``manifest`` (for a new GPU or TensorRT)."""
        return cls(
            fp16=manifest.precision == "fp16", workspace_mb=manifest.workspace_mb, shapes=dict(manifest.profiles)
        )


# --- feature detection: each takes the tensorrt module ------------------------------------------


def typing_mode(trt: Any) -> str:
    """ "weak" on TensorRT 8.5-10.11; "strong" from 10.12 (weak typing deprecated) and where the
    FP16 builder flag is gone (11.x)."""
    if not hasattr(trt.BuilderFlag, "FP16") or strongly_typed(trt_version(trt)):
        return "strong"
    return "weak"


def network_flags(trt: Any) -> int:
    """Creation flags: EXPLICIT_BATCH on 8.x only (10.x ignores it, 11.x removed it); STRONGLY_TYPED
    on 10.12-10.x, where strong typing is opt-in (11.x is always strongly typed)."""
    flag = trt.NetworkDefinitionCreationFlag
    major = trt_version(trt)[0]
    if major < 10:
        return 1 << int(flag.EXPLICIT_BATCH)
    if typing_mode(trt) == "strong" and major < 11:
        return 1 << int(flag.STRONGLY_TYPED)
    return 0


def set_workspace(trt: Any, config: Any, workspace_mb: Optional[int]) -> None:
    """Cap the builder workspace; None keeps TensorRT's default (the whole device)."""
    if workspace_mb is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)


#: ONNX ops whose variance overflows in FP16 (reference §6); on 8.5/8.6 InstanceNorm is a plugin layer
NORM_OPS = ("InstanceNormalization", "LayerNormalization", "GroupNormalization")


def _is_norm_layer(trt: Any, layer: Any, norm_nodes: Sequence[str]) -> bool:
    kinds = [getattr(trt.LayerType, name, None) for name in ("NORMALIZATION", "REDUCE")]
    if layer.type in [k for k in kinds if k is not None]:
        return True
    plugin = getattr(trt.LayerType, "PLUGIN_V2", None)
    # the parser names a node's layer after the ONNX node (reasoned from onnx-tensorrt; unverified on a GPU)
    return (
        plugin is not None
        and layer.type == plugin
        and (layer.name in norm_nodes or "instancenorm" in layer.name.lower())
    )


def enable_fp16(
    trt: Any, config: Any, network: Any, fp32_layers: Sequence[str] = (), norm_nodes: Sequence[str] = ()
) -> List[str]:
    """Weak typing (TensorRT < 10.12 only): set the FP16 flag and pin norm/reduce layers (and
    ``fp32_layers``) to FP32.

    ``norm_nodes``: ONNX names of normalisation nodes, to recognise plugin layers made from them.
    Returns the names of the pinned layers. Layers whose outputs are not float (shape, int,
    bool tensors) are never pinned: pinning them fails the build.
    """
    config.set_flag(trt.BuilderFlag.FP16)
    floats = (trt.float32, trt.float16)
    pinned = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if not (_is_norm_layer(trt, layer, norm_nodes) or layer.name in fp32_layers):
            continue
        outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
        if any(out.dtype not in floats for out in outputs):
            continue
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)
        pinned.append(layer.name)
    if pinned:
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    missing = sorted(set(fp32_layers) - set(pinned))
    if missing:
        raise EngineBuildError(
            f"received fp32_layers {missing}, which are not float layers of the network; expected TensorRT layer names"
        )
    return pinned


def _parser_error_text(error: Any, node_names: Sequence[str]) -> str:
    if hasattr(error, "node_name"):  # 10.0+
        where = f"node {error.node_name()!r} ({error.node_operator()})"
    else:  # 8.x reports the node index
        index = int(error.node())
        name = node_names[index] if 0 <= index < len(node_names) else "?"
        where = f"node #{index} {name!r}"
    return f"{where}: {error.desc()} [{error.code()}]"


def parse_onnx(trt: Any, network: Any, logger: Any, onnx_path: PathLike, node_names: Sequence[str]) -> Any:
    """Parse ``onnx_path`` into ``network``; EngineBuildError names each failing node and the file.

    Returns the parser, which must stay alive until the build ends (it owns the weights).
    """
    parser = create(trt.OnnxParser, "ONNX parser", logger, network, logger)
    flags = getattr(trt, "OnnxParserFlag", None)
    if flags is not None and hasattr(flags, "NATIVE_INSTANCENORM"):
        parser.set_flag(flags.NATIVE_INSTANCENORM)
    if not parser.parse_from_file(str(onnx_path)):
        lines = [_parser_error_text(parser.get_error(i), node_names) for i in range(parser.num_errors)]
        raise EngineBuildError(
            f"TensorRT {trt.__version__} could not parse {str(onnx_path)!r}:\n  "
            + "\n  ".join(lines or ["(no parser errors reported)"])
        )
    return parser


def add_profile(
    trt: Any, builder: Any, config: Any, network: Any, profiles: Mapping[str, ShapeRange]
) -> Dict[str, ShapeRange]:
    """Add one optimisation profile covering every dynamic network input; returns what it set."""
    dynamic = [network.get_input(i) for i in range(network.num_inputs)]
    dynamic = [t for t in dynamic if any(int(d) < 0 for d in t.shape)]
    if not dynamic:
        return {}
    profile = checked(builder.create_optimization_profile(), "optimisation profile", None, EngineBuildError)
    used = {}
    for tensor in dynamic:
        if tensor.name not in profiles:
            raise EngineBuildError(
                f"dynamic input {tensor.name!r} {tuple(tensor.shape)} has no shape range; "
                f"pass --shapes {tensor.name}:MIN/OPT/MAX"
            )
        lo, opt, hi = profiles[tensor.name]
        try:  # the binding raises RuntimeError when TensorRT rejects a shape
            profile.set_shape(tensor.name, lo, opt, hi)
        except RuntimeError as exc:
            raise EngineBuildError(
                f"TensorRT rejected the shape range {lo}/{opt}/{hi} for {tensor.name!r}: {exc}"
            ) from exc
        used[tensor.name] = (lo, opt, hi)
    if config.add_optimization_profile(profile) < 0:
        raise EngineBuildError(f"TensorRT rejected the optimisation profile {used}")
    return used


def _use_timing_cache(config: Any, path: Path) -> Any:
    blob = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(blob)
    if cache is None or not config.set_timing_cache(cache, False):
        log.warning("timing cache %s does not fit this GPU/TensorRT; starting an empty one", path)
        cache = config.create_timing_cache(b"")
        if cache is None or not config.set_timing_cache(cache, False):
            raise EngineBuildError("TensorRT could not create an empty timing cache")
    return cache


def _network_io(trt: Any, network: Any) -> Tuple[Tuple[TensorSpec, ...], Tuple[TensorSpec, ...]]:
    def spec(tensor: Any) -> TensorSpec:
        shape = tuple(None if int(d) < 0 else int(d) for d in tensor.shape)
        return TensorSpec(tensor.name, shape, np.dtype(trt.nptype(tensor.dtype)).name)

    inputs = tuple(spec(network.get_input(i)) for i in range(network.num_inputs))
    return inputs, tuple(spec(network.get_output(i)) for i in range(network.num_outputs))


# --- the build -----------------------------------------------------------------------------------


def _build_plan(
    trt: Any, onnx_path: Path, config: EngineConfig, report: OnnxReport, cache_file: Path
) -> Tuple[bytes, Any, Any]:
    logger = make_logger(trt)
    if not trt.init_libnvinfer_plugins(logger, ""):
        log.warning("TensorRT plugins could not be initialised; plugin layers (InstanceNorm on 8.5) will fail")
    builder = create(trt.Builder, "builder", logger, logger)
    network = checked(builder.create_network(network_flags(trt)), "network definition", logger, EngineBuildError)
    nodes = load_graph(onnx_path).graph.node
    node_names = [node.name for node in nodes]
    norm_nodes = [node.name for node in nodes if node.op_type in NORM_OPS]
    parser = parse_onnx(trt, network, logger, onnx_path, node_names)  # noqa: F841 (kept alive)
    build_config = checked(builder.create_builder_config(), "builder config", logger, EngineBuildError)
    set_workspace(trt, build_config, config.workspace_mb)
    if config.fp16 and typing_mode(trt) == "weak":
        if getattr(builder, "platform_has_fast_fp16", True) is False:
            log.warning("this GPU has no fast FP16; the FP16 engine may be slower than FP32")
        pinned = enable_fp16(trt, build_config, network, config.fp32_layers, norm_nodes)
        log.info("FP16 build, %d layers pinned to FP32", len(pinned))
    add_profile(trt, builder, build_config, network, report.profiles)
    _use_timing_cache(build_config, cache_file)
    plan = builder.build_serialized_network(network, build_config)
    if plan is None:
        detail = "\n  ".join(logger.errors[-10:]) or "no error was logged"
        raise EngineBuildError(
            f"TensorRT {trt.__version__} could not build an engine from {str(onnx_path)!r}:\n  {detail}"
        )
    write_atomic(cache_file, bytes(build_config.get_timing_cache().serialize()))
    inputs, outputs = _network_io(trt, network)
    return bytes(plan), inputs, outputs


def _still_valid(plan: Path, target: Any, onnx_sha: str) -> bool:
    try:
        return not mismatches(read_manifest(plan), target, onnx_sha256=onnx_sha, plan=plan)
    except EngineCacheMismatch as exc:  # an unreadable manifest: rebuild over it
        log.warning("%s", exc)
        return False


def build_engine(
    onnx_path: PathLike,
    out_dir: PathLike = "engines",
    config: Optional[EngineConfig] = None,
    *,
    model: Optional[str] = None,
    device: int = 0,
    force: bool = False,
    extra: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Build (or reuse) the engine for ``onnx_path`` on this GPU; returns the ``.plan`` path.

    An engine already in ``out_dir`` under the same key is reused unless ``force``. ``extra`` goes into the
    manifest (what the engine is for, e.g. the RVM graph and frame size of a static export). Raises
    ExportError when the ONNX fails the prerequisites, EngineBuildError when TensorRT fails,
    BackendUnavailableError without tensorrt/pycuda.
    """
    config = config or EngineConfig()
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ModelError(f"received ONNX path {str(onnx_path)!r}, which is not a file; expected an existing .onnx file")
    model = model or onnx_path.stem
    trt = import_tensorrt()
    cuda = import_pycuda()
    mode = typing_mode(trt)
    report = check_onnx_for_trt(
        onnx_path, trt_version=trt.__version__, shapes=config.shapes, fp16=config.fp16, strongly_typed=mode == "strong"
    )
    for warning in report.warnings:
        log.warning("%s: %s", onnx_path, warning)
    precision = "fp16" if config.fp16 or report.fp16_graph else "fp32"
    onnx_sha = sha256_of(onnx_path)
    with pushed(cuda, primary_context(cuda, device)):
        target = current_target(trt, cuda, device)
        key = cache_key(onnx_sha, target, precision, report.profiles)
        existing = find_engine(out_dir, model, key)
        if existing is not None and not force and _still_valid(existing, target, onnx_sha):
            log.info("reusing %s", existing)
            return existing
        cache_file = Path(config.timing_cache) if config.timing_cache else timing_cache_path(out_dir, target)
        log.info("building %s engine for %s from %s (minutes on Jetson)", precision, target.describe(), onnx_path)
        plan, inputs, outputs = _build_plan(trt, onnx_path, config, report, cache_file)
    manifest = EngineManifest(
        key=key,
        model=model,
        onnx_sha256=onnx_sha,
        target=target,
        precision=precision,
        typing=mode,
        profiles=report.profiles,
        inputs=inputs,
        outputs=outputs,
        plan_sha256=hashlib.sha256(plan).hexdigest(),
        onnx_path=str(onnx_path.resolve()),
        workspace_mb=config.workspace_mb,
        extra=dict(extra or {}),
    )
    return write_engine(out_dir, manifest, plan)


def build_engines(
    onnx_path: PathLike,
    out_dir: Optional[PathLike] = None,
    config: Optional[EngineConfig] = None,
    *,
    sizes: Sequence[Tuple[int, int]] = (),
    downsample_ratio: Optional[float] = None,
    model: Optional[str] = None,
    device: int = 0,
    force: bool = False,
) -> List[Path]:
    """``edgematte build``: the engine of ``onnx_path`` (:func:`build_engine`, into ``out_dir`` or ``engines``), or for
    a model whose engines are made per frame size (RobustVideoMatting's own graph) one per (height, width) of
    ``sizes`` (:func:`edgematte.export.rvm.build_rvm_engines`, into ``out_dir`` or the user cache's engines). RVM's
    engines are FP16, its static export's too (strong typing: from the export's FP16 twin)."""
    import dataclasses

    from ..models.rvm import is_rvm, is_static
    from .rvm import build_rvm_engines

    config = config or EngineConfig()
    inputs, outputs = graph_io(load_graph(onnx_path))
    rvm = is_rvm(inputs, outputs)
    if rvm and not is_static(inputs):
        if not sizes:
            raise InputError(f"received RobustVideoMatting's graph {str(onnx_path)!r} without sizes; expected the frame "
                             "sizes to build engines for (--size 1280x720 --size 1920x1080)")
        return build_rvm_engines(onnx_path, sizes, out_dir=out_dir, downsample_ratio=downsample_ratio,
                                 workspace_mb=config.workspace_mb, force=force, device=device)
    if sizes or downsample_ratio is not None:
        raise InputError(f"received frame sizes or a downsample ratio for {str(onnx_path)!r}; expected them only for "
                         "RobustVideoMatting's own graph (any other model's engine takes the shapes its ONNX has)")
    config = dataclasses.replace(config, fp16=True) if rvm else config
    return [build_engine(onnx_path, out_dir if out_dir is not None else "engines", config, model=model, device=device,
                         force=force)]


# --- rebuilding: decided here, called by Matter and the CLI ------------------------------------


def onnx_for_rebuild(
    manifest: EngineManifest,
    target: Target,
    plan: PathLike,
    *,
    onnx: Optional[PathLike] = None,
) -> Optional[Path]:
    """Decide what to do with the engine at ``plan`` on ``target``.

    Returns None when the engine is valid. When it is stale, returns the ONNX file to rebuild
    from: ``onnx`` if given, else the manifest's ``onnx_path`` if that file still has the
    recorded sha256. With no usable ONNX, raises EngineCacheMismatch.
    """
    onnx_sha = sha256_of(onnx) if onnx is not None else None
    problems = mismatches(manifest, target, onnx_sha256=onnx_sha, plan=plan)
    if not problems:
        return None
    if onnx is not None:
        return Path(onnx)
    recorded = Path(manifest.onnx_path) if manifest.onnx_path else None
    if recorded is not None and recorded.is_file() and sha256_of(recorded) == manifest.onnx_sha256:
        return recorded
    raise EngineCacheMismatch(mismatch_message(plan, manifest, target, problems))


def engine_for(
    model: PathLike,
    *,
    onnx: Optional[PathLike] = None,
    out_dir: Optional[PathLike] = None,
    config: Optional[EngineConfig] = None,
    device: int = 0,
) -> Union[Path, List[Path]]:
    """The engine to open for ``model`` on this GPU: build it from an ``.onnx`` (reused when cached),
    or check a ``.plan`` and rebuild it when stale and its ONNX is at hand (``onnx``, else the
    path its manifest records). RobustVideoMatting's own graph (its ratio a runtime input, which TensorRT
    cannot parse) gives the list of engines ``edgematte build`` made for it, one per frame size
    (:func:`edgematte.export.rvm.rvm_engines`).

    ``out_dir``: where engines built from an ONNX go (default: the user cache's ``engines``).
    ``config``: default FP16 where the builder is weakly typed, else the ONNX's own precision.
    Raises BackendUnavailableError without a working TensorRT/CUDA, EngineCacheMismatch for a
    stale engine with no ONNX, ExportError/EngineBuildError from the build.
    """
    model = Path(model)
    if model.suffix.lower() == ".onnx":
        from .rvm import is_dynamic_rvm, rvm_engines

        trt = import_tensorrt()
        import_pycuda()  # both start before the ONNX checks, so a machine without them reports that first
        if is_dynamic_rvm(model):
            return rvm_engines(model, Path(out_dir) if out_dir else cache_dir() / "engines", device=device)
        config = config or EngineConfig(fp16=typing_mode(trt) == "weak")
        return build_engine(model, Path(out_dir) if out_dir else cache_dir() / "engines", config, device=device)
    manifest = read_manifest(model)
    trt, cuda = import_tensorrt(), import_pycuda()
    with pushed(cuda, primary_context(cuda, device)):
        target = current_target(trt, cuda, device)
    source = onnx_for_rebuild(manifest, target, model, onnx=onnx)
    if source is None:
        return model
    log.warning("engine %s does not fit %s; rebuilding it from %s", model, target.describe(), source)
    config = config or EngineConfig.from_manifest(manifest)
    return build_engine(source, model.parent.parent, config, model=manifest.model, device=device)
