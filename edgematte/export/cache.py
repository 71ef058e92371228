"""Engine cache: where engines live, the manifest beside each one, and when one is stale.

An engine (``.plan``) is valid only for the ONNX file, TensorRT version and GPU it was built
with, so each engine carries a JSON manifest and is filed under a key derived from them::

    engines/<model>/<key>.plan      serialized TensorRT engine
    engines/<model>/<key>.json      EngineManifest (this module)
    engines/timing/<target>.cache   TensorRT timing cache, shared by models on one GPU + TensorRT

``key`` reads ``<precision>-sm<major><minor>-trt<version>-<digest>``; ``digest`` is the first 16 hex
digits of the sha256 of the ONNX sha256, TensorRT version, GPU name, compute capability,
precision and profile shapes. Nothing here imports TensorRT.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .._version import __version__
from ..errors import EngineCacheMismatch, InternalError
from ..types import TensorSpec
from ..files import write_atomic
from ..weights import sha256_of
from .profiles import ShapeRange

__all__ = [
    "MANIFEST_FORMAT",
    "Target",
    "EngineManifest",
    "cache_key",
    "engine_path",
    "manifest_path",
    "timing_cache_path",
    "write_atomic",
    "write_engine",
    "read_manifest",
    "find_engine",
    "mismatches",
    "check_manifest",
    "onnx_for_rebuild",
]

MANIFEST_FORMAT = 1
PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Target:
    """The machine an engine runs on: TensorRT version, GPU name, compute capability (major, minor)."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: Tuple[int, int]

    @property
    def sm(self) -> str:
        return f"sm_{self.compute_capability[0]}{self.compute_capability[1]}"

    def describe(self) -> str:
        return f"TensorRT {self.tensorrt_version} on {self.gpu_name!r} ({self.sm})"


@dataclass(frozen=True)
class EngineManifest:
    """What an engine was built from and for. Stored as JSON beside the ``.plan``."""

    key: str
    model: str
    onnx_sha256: str
    target: Target
    #: "fp16" or "fp32"
    precision: str
    #: "weak" (TensorRT <= 10: builder flag + FP32 pins) or "strong" (types come from the ONNX)
    typing: str
    profiles: Dict[str, ShapeRange]
    inputs: Tuple[TensorSpec, ...]
    outputs: Tuple[TensorSpec, ...]
    plan_sha256: str
    #: where the ONNX was when the engine was built; used to rebuild a stale engine
    onnx_path: Optional[str] = None
    workspace_mb: Optional[int] = None
    edgematte_version: str = __version__
    format: int = MANIFEST_FORMAT
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["target"]["compute_capability"] = list(self.target.compute_capability)
        data["profiles"] = {k: [list(s) for s in v] for k, v in self.profiles.items()}
        data["inputs"] = [_spec_to_dict(s) for s in self.inputs]
        data["outputs"] = [_spec_to_dict(s) for s in self.outputs]
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str = "manifest") -> "EngineManifest":
        try:
            data = json.loads(text)
            if data.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {MANIFEST_FORMAT}")
            target = data["target"]
            return cls(
                key=str(data["key"]),
                model=str(data["model"]),
                onnx_sha256=str(data["onnx_sha256"]),
                target=Target(
                    str(target["tensorrt_version"]),
                    str(target["gpu_name"]),
                    tuple(int(x) for x in target["compute_capability"]),  # type: ignore[arg-type]
                ),
                precision=str(data["precision"]),
                typing=str(data["typing"]),
                profiles={
                    str(k): tuple(tuple(int(d) for d in s) for s in v)  # type: ignore[misc]
                    for k, v in data["profiles"].items()
                },
                inputs=tuple(_spec_from_dict(s) for s in data["inputs"]),
                outputs=tuple(_spec_from_dict(s) for s in data["outputs"]),
                plan_sha256=str(data["plan_sha256"]),
                onnx_path=data.get("onnx_path"),
                workspace_mb=data.get("workspace_mb"),
                edgematte_version=str(data["edgematte_version"]),
                format=int(data["format"]),
                extra=dict(data.get("extra") or {}),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EngineCacheMismatch(
                f"received an unreadable engine manifest {source} ({type(exc).__name__}: {exc}); "
                f"expected edgematte manifest format {MANIFEST_FORMAT}. Rebuild the engine with `edgematte build`."
            ) from None


def _spec_to_dict(spec: TensorSpec) -> Dict[str, Any]:
    return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype}


def _spec_from_dict(data: Mapping[str, Any]) -> TensorSpec:
    shape = tuple(None if d is None else int(d) for d in data["shape"])
    return TensorSpec(str(data["name"]), shape, str(data["dtype"]))


def cache_key(onnx_sha256: str, target: Target, precision: str, profiles: Mapping[str, ShapeRange]) -> str:
    """Deterministic engine key: ``<precision>-sm<XY>-trt<version>-<16 hex>``."""
    payload = json.dumps(
        {
            "onnx_sha256": onnx_sha256,
            "tensorrt_version": target.tensorrt_version,
            "gpu_name": target.gpu_name,
            "compute_capability": list(target.compute_capability),
            "precision": precision,
            "profiles": {k: [list(s) for s in v] for k, v in sorted(profiles.items())},
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
    version = "".join(c if c.isalnum() or c == "." else "_" for c in target.tensorrt_version)
    major, minor = target.compute_capability
    return f"{precision}-sm{major}{minor}-trt{version}-{digest}"


def engine_path(root: PathLike, model: str, key: str) -> Path:
    return Path(root) / model / f"{key}.plan"


def manifest_path(plan: PathLike) -> Path:
    return Path(plan).with_suffix(".json")


def timing_cache_path(root: PathLike, target: Target) -> Path:
    """Default timing cache for one GPU + TensorRT version, shared by every model under ``root``."""
    version = "".join(c if c.isalnum() or c == "." else "_" for c in target.tensorrt_version)
    return Path(root) / "timing" / f"{target.sm}-trt{version}.cache"


def write_engine(root: PathLike, manifest: EngineManifest, plan: Union[bytes, bytearray, memoryview]) -> Path:
    """Store ``plan`` and its manifest under ``root``; the manifest is written last. Returns the plan path."""
    digest = hashlib.sha256(plan).hexdigest()
    if digest != manifest.plan_sha256:
        raise InternalError(f"manifest plan_sha256 {manifest.plan_sha256} does not match the plan ({digest})")
    plan_file = write_atomic(engine_path(root, manifest.model, manifest.key), plan)
    write_atomic(manifest_path(plan_file), manifest.to_json().encode())
    return plan_file


def read_manifest(plan: PathLike) -> EngineManifest:
    """The manifest beside ``plan``; EngineCacheMismatch if it is missing or unreadable."""
    path = manifest_path(plan)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EngineCacheMismatch(
            f"received engine {str(plan)!r} without its manifest {path.name}; expected an engine built by "
            "`edgematte build` (engines from other tools carry no record of their GPU and TensorRT version)"
        ) from None
    return EngineManifest.from_json(text, source=str(path))


def find_engine(root: PathLike, model: str, key: str) -> Optional[Path]:
    """The plan for ``key`` when both it and its manifest exist, else None."""
    plan = engine_path(root, model, key)
    return plan if plan.is_file() and manifest_path(plan).is_file() else None


def mismatches(
    manifest: EngineManifest,
    target: Target,
    *,
    onnx_sha256: Optional[str] = None,
    plan: Optional[PathLike] = None,
) -> List[str]:
    """Reasons why the engine of ``manifest`` cannot run on ``target`` (empty list: it can).

    ``onnx_sha256``: the ONNX the caller wants; ``plan``: the plan file to check against the
    manifest's plan_sha256.
    """
    built = manifest.target
    problems = []
    if built.tensorrt_version != target.tensorrt_version:
        problems.append(
            f"TensorRT {built.tensorrt_version} built it; this machine runs TensorRT {target.tensorrt_version}"
        )
    if built.compute_capability != target.compute_capability:
        problems.append(f"it was built for {built.sm}; this GPU is {target.sm}")
    if built.gpu_name != target.gpu_name:
        problems.append(f"it was built on {built.gpu_name!r}; this GPU is {target.gpu_name!r}")
    if onnx_sha256 is not None and onnx_sha256 != manifest.onnx_sha256:
        problems.append(
            f"it was built from ONNX sha256 {manifest.onnx_sha256[:12]}…; the ONNX given is {onnx_sha256[:12]}…"
        )
    if plan is not None and sha256_of(plan) != manifest.plan_sha256:
        problems.append("the plan file does not match its manifest's plan_sha256 (replaced or truncated)")
    return problems


def check_manifest(
    manifest: EngineManifest, target: Target, plan: PathLike, *, onnx_sha256: Optional[str] = None
) -> None:
    """Raise EngineCacheMismatch with every reason the engine at ``plan`` cannot run on ``target``."""
    problems = mismatches(manifest, target, onnx_sha256=onnx_sha256, plan=plan)
    if problems:
        raise EngineCacheMismatch(_mismatch_message(plan, manifest, target, problems))


def _mismatch_message(plan: PathLike, manifest: EngineManifest, target: Target, problems: List[str]) -> str:
    source = manifest.onnx_path or "MODEL.onnx"
    return (
        f"engine {str(plan)!r} cannot run here: " + "; ".join(problems) + ". "
        f"Expected an engine built for {target.describe()}. Engines are tied to one GPU and TensorRT version: "
        f"rebuild it on this machine with `edgematte build {source} -o {Path(plan).parent.parent}`, "
        "or pass the ONNX file so it is rebuilt automatically."
    )


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
    raise EngineCacheMismatch(_mismatch_message(plan, manifest, target, problems))
