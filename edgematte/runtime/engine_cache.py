"""Engine cache facts shared by the builder (export) and the runtime: where engines live, the
manifest beside each one, its key, and whether an engine fits this machine.

An engine (``.plan``) is valid only for the ONNX file, TensorRT version and GPU it was built
with, so each engine carries a JSON manifest and is filed under a key derived from them::

    engines/<model>/<key>.plan      serialized TensorRT engine
    engines/<model>/<key>.json      EngineManifest (this module)
    engines/timing/<target>.cache   TensorRT timing cache, shared by models on one GPU + TensorRT

``key`` reads ``<precision>-sm<major><minor>-trt<version>-<digest>``; ``digest`` is the first 16 hex
digits of the sha256 of the ONNX sha256, TensorRT version, GPU name, compute capability,
precision and profile shapes. Nothing here imports TensorRT. Building and deciding to rebuild
live in ``edgematte.export.to_trt``; the runtime only reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .._version import __version__
from ..errors import EngineCacheMismatch, InputError, InternalError
from ..files import write_atomic
from ..types import TensorSpec
from ..weights import sha256_of

__all__ = [
    "MANIFEST_FORMAT",
    "Shape",
    "ShapeRange",
    "Target",
    "EngineManifest",
    "cache_key",
    "engine_path",
    "manifest_path",
    "timing_cache_path",
    "write_engine",
    "read_manifest",
    "find_engine",
    "mismatches",
    "mismatch_message",
    "check_manifest",
    "check_in_range",
]

MANIFEST_FORMAT = 1
PathLike = Union[str, "os.PathLike[str]"]
Shape = Tuple[int, ...]
#: (min, opt, max) shapes of one dynamic input: a TensorRT optimisation profile
ShapeRange = Tuple[Shape, Shape, Shape]
#: dimensions above this come from a corrupt manifest, not from a real engine
_MAX_DIM = (1 << 31) - 1


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
    def from_json(cls, text: Union[str, bytes], *, source: str = "manifest") -> "EngineManifest":
        """Parse a manifest; any malformed one (bad UTF-8 or JSON, wrong types, missing keys,
        absurd numbers, deep nesting) raises EngineCacheMismatch naming ``source``."""
        try:
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            return cls._from_data(json.loads(text))
        except (ValueError, KeyError, TypeError, IndexError, OverflowError, RecursionError) as exc:
            # UnicodeDecodeError and JSONDecodeError are ValueErrors
            detail = str(exc)[:200]
            raise EngineCacheMismatch(
                f"received an unreadable engine manifest {source} ({type(exc).__name__}: {detail}); "
                f"expected edgematte manifest format {MANIFEST_FORMAT}. Rebuild the engine with `edgematte build`."
            ) from None

    @classmethod
    def _from_data(cls, data: Any) -> "EngineManifest":
        data = _dict(data, "the manifest")
        if data.get("format") != MANIFEST_FORMAT or type(data.get("format")) is not int:
            raise ValueError(f"format {str(data.get('format'))[:20]}, expected {MANIFEST_FORMAT}")
        target = _dict(data["target"], "target")
        capability = _list(target["compute_capability"], "compute_capability", 2)
        profiles = {
            _str(name, "profile name"): _shape_range(rng, name) for name, rng in _dict(data["profiles"], "profiles").items()
        }
        onnx_path, workspace = data.get("onnx_path"), data.get("workspace_mb")
        return cls(
            key=_str(data["key"], "key"),
            model=_str(data["model"], "model"),
            onnx_sha256=_str(data["onnx_sha256"], "onnx_sha256"),
            target=Target(
                _str(target["tensorrt_version"], "tensorrt_version"),
                _str(target["gpu_name"], "gpu_name"),
                (_int(capability[0], "compute_capability", 0, 1000), _int(capability[1], "compute_capability", 0, 1000)),
            ),
            precision=_str(data["precision"], "precision"),
            typing=_str(data["typing"], "typing"),
            profiles=profiles,
            inputs=tuple(_spec_from_dict(s) for s in _list(data["inputs"], "inputs")),
            outputs=tuple(_spec_from_dict(s) for s in _list(data["outputs"], "outputs")),
            plan_sha256=_str(data["plan_sha256"], "plan_sha256"),
            onnx_path=None if onnx_path is None else _str(onnx_path, "onnx_path"),
            workspace_mb=None if workspace is None else _int(workspace, "workspace_mb", 1, 1 << 30),
            edgematte_version=_str(data["edgematte_version"], "edgematte_version"),
            format=MANIFEST_FORMAT,
            extra=dict(_dict(data.get("extra") or {}, "extra")),
        )


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} is a {type(value).__name__}, expected a string")
    return value


def _int(value: Any, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{what} is {str(value)[:20]!r}, expected an integer in [{low}, {high}]")
    return value


def _list(value: Any, what: str, length: Optional[int] = None) -> list:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise TypeError(f"{what} is {str(value)[:40]!r}, expected a list" + (f" of {length}" if length else ""))
    return value


def _dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"{what} is a {type(value).__name__}, expected an object")
    return value


def _shape_range(value: Any, name: str) -> ShapeRange:
    shapes = [tuple(_int(d, f"profile {name!r}", 1, _MAX_DIM) for d in _list(s, f"profile {name!r}")) for s in
              _list(value, f"profile {name!r}", 3)]
    if len({len(s) for s in shapes}) != 1:
        raise ValueError(f"profile {name!r} mixes ranks")
    return shapes[0], shapes[1], shapes[2]


def _spec_to_dict(spec: TensorSpec) -> Dict[str, Any]:
    return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype}


def _spec_from_dict(data: Any) -> TensorSpec:
    data = _dict(data, "tensor")
    shape = tuple(None if d is None else _int(d, "tensor shape", 0, _MAX_DIM) for d in _list(data["shape"], "shape"))
    return TensorSpec(_str(data["name"], "tensor name"), shape, _str(data["dtype"], "tensor dtype"))


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
        text = path.read_bytes()
    except FileNotFoundError:
        raise EngineCacheMismatch(
            f"received engine {str(plan)!r} without its manifest {path.name}; expected an engine built by "
            "`edgematte build` (engines from other tools carry no record of their GPU and TensorRT version)"
        ) from None
    except (OSError, ValueError) as exc:  # a folder, a symlink loop, no permission; a NUL in the name
        cause = getattr(exc, "strerror", None) or str(exc)
        raise EngineCacheMismatch(
            f"could not read the manifest {str(path)!r} of engine {str(plan)!r} ({cause}); expected a readable "
            "JSON file written by `edgematte build`. Rebuild the engine with `edgematte build`."
        ) from None
    return EngineManifest.from_json(text, source=repr(str(path)))


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
        raise EngineCacheMismatch(mismatch_message(plan, manifest, target, problems))


def mismatch_message(plan: PathLike, manifest: EngineManifest, target: Target, problems: List[str]) -> str:
    """The EngineCacheMismatch text: every reason, and how to rebuild."""
    source = manifest.onnx_path or "MODEL.onnx"
    return (
        f"engine {str(plan)!r} cannot run here: " + "; ".join(problems) + ". "
        f"Expected an engine built for {target.describe()}. Engines are tied to one GPU and TensorRT version: "
        f"rebuild it on this machine with `edgematte build {source} -o {Path(plan).parent.parent}`, "
        "or pass the ONNX file so it is rebuilt automatically."
    )


def check_in_range(name: str, shape: Sequence[int], rng: ShapeRange) -> None:
    """Raise InputError unless ``min <= shape <= max`` on every axis of the profile of ``name``."""
    lo, _, hi = rng
    if len(shape) != len(lo) or not all(a <= s <= b for a, s, b in zip(lo, shape, hi)):
        raise InputError(
            f"input {name!r}: received shape {tuple(shape)}; expected between {tuple(lo)} and {tuple(hi)} "
            "(the engine's optimisation profile; rebuild with wider --shapes to change it)"
        )
