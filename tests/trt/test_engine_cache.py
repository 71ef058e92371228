"""Engine cache and manifest: real file round trips, keys and mismatch decisions (no TensorRT needed)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import pytest
from trt_samples import ORIN, RTX

from edgematte.errors import EngineCacheMismatch, InternalError
from edgematte.export.to_trt import onnx_for_rebuild
from edgematte.runtime import engine_cache as cache
from edgematte.runtime.engine_cache import EngineManifest, Target
from edgematte.weights import sha256_of

PLAN = b"not a real plan, but bytes with a sha256"


def _stored(tmp_path, manifest, plan=PLAN):
    manifest = dataclasses.replace(manifest, plan_sha256=hashlib.sha256(plan).hexdigest())
    return cache.write_engine(tmp_path / "engines", manifest, plan), manifest


def test_manifest_json_round_trip(manifest):
    text = manifest.to_json()
    assert EngineManifest.from_json(text) == manifest
    data = json.loads(text)
    for field in ("onnx_sha256", "precision", "inputs", "outputs", "edgematte_version", "profiles", "plan_sha256"):
        assert field in data
    assert data["target"] == {"tensorrt_version": "8.6.2", "gpu_name": "Orin", "compute_capability": [8, 7]}
    assert data["inputs"] == [{"name": "src", "shape": [1, 3, None, None], "dtype": "float32"}]


@pytest.mark.parametrize(
    "text, needle",
    [("{not json", "JSONDecodeError"), ('{"format": 99}', "format 99"), ('{"format": 1, "key": "k"}', "KeyError")],
)
def test_unreadable_manifest_is_a_cache_mismatch(text, needle):
    with pytest.raises(EngineCacheMismatch, match=needle):
        EngineManifest.from_json(text)


def test_cache_key_is_deterministic_and_readable():
    profiles = {"src": ((1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 32, 32))}
    key = cache.cache_key("a" * 64, ORIN, "fp16", profiles)
    assert key == cache.cache_key("a" * 64, ORIN, "fp16", dict(profiles))
    assert re.fullmatch(r"fp16-sm87-trt8\.6\.2-[0-9a-f]{16}", key)


@pytest.mark.parametrize(
    "change",
    [
        {"onnx_sha256": "c" * 64},
        {"target": Target("8.6.1", "Orin", (8, 7))},
        {"target": Target("8.6.2", "Xavier", (8, 7))},
        {"target": Target("8.6.2", "Orin", (7, 2))},
        {"precision": "fp32"},
        {"profiles": {"src": ((1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 64, 64))}},
    ],
)
def test_cache_key_changes_with_every_field(change):
    base = {
        "onnx_sha256": "a" * 64,
        "target": ORIN,
        "precision": "fp16",
        "profiles": {"src": ((1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 32, 32))},
    }
    assert cache.cache_key(**{**base, **change}) != cache.cache_key(**base)


def test_engine_layout_and_lookup(tmp_path, manifest):
    plan, manifest = _stored(tmp_path, manifest)
    assert plan == tmp_path / "engines" / "tiny" / f"{manifest.key}.plan"
    assert plan.read_bytes() == PLAN
    assert cache.read_manifest(plan) == manifest
    assert cache.find_engine(tmp_path / "engines", "tiny", manifest.key) == plan
    assert cache.find_engine(tmp_path / "engines", "tiny", "other-key") is None
    cache.manifest_path(plan).unlink()
    assert cache.find_engine(tmp_path / "engines", "tiny", manifest.key) is None
    with pytest.raises(EngineCacheMismatch, match="without its manifest"):
        cache.read_manifest(plan)


def test_write_engine_refuses_a_manifest_of_another_plan(tmp_path, manifest):
    with pytest.raises(InternalError):
        cache.write_engine(tmp_path, manifest, PLAN)
    assert not list(tmp_path.rglob("*.plan"))


def test_timing_cache_path_is_per_gpu_and_version(tmp_path):
    assert cache.timing_cache_path(tmp_path, ORIN) == tmp_path / "timing" / "sm_87-trt8.6.2.cache"
    assert cache.timing_cache_path(tmp_path, ORIN) != cache.timing_cache_path(tmp_path, RTX)


def test_no_mismatch_on_the_building_machine(tmp_path, manifest):
    plan, manifest = _stored(tmp_path, manifest)
    assert cache.mismatches(manifest, ORIN, onnx_sha256=manifest.onnx_sha256, plan=plan) == []
    cache.check_manifest(manifest, ORIN, plan)


def test_mismatch_names_versions_gpus_and_the_fix(tmp_path, manifest):
    plan, manifest = _stored(tmp_path, manifest)
    with pytest.raises(EngineCacheMismatch) as info:
        cache.check_manifest(manifest, RTX, plan)
    message = str(info.value)
    for needle in (
        "TensorRT 8.6.2 built it",
        "TensorRT 10.3.0",
        "sm_87",
        "sm_86",
        "'Orin'",
        "RTX 3090",
        "edgematte build",
    ):
        assert needle in message


def test_mismatch_detects_another_onnx_and_a_replaced_plan(tmp_path, manifest):
    plan, manifest = _stored(tmp_path, manifest)
    assert any("ONNX" in p for p in cache.mismatches(manifest, ORIN, onnx_sha256="d" * 64))
    plan.write_bytes(b"another plan")
    assert any("plan_sha256" in p for p in cache.mismatches(manifest, ORIN, plan=plan))


def test_valid_engine_needs_no_rebuild(tmp_path, manifest, make_onnx):
    onnx = make_onnx()
    plan, manifest = _stored(tmp_path, dataclasses.replace(manifest, onnx_sha256=sha256_of(onnx)))
    assert onnx_for_rebuild(manifest, ORIN, plan) is None
    assert onnx_for_rebuild(manifest, ORIN, plan, onnx=onnx) is None


def test_stale_engine_rebuilds_from_the_given_onnx(tmp_path, manifest, make_onnx):
    onnx = make_onnx()
    plan, manifest = _stored(tmp_path, manifest)
    assert onnx_for_rebuild(manifest, RTX, plan, onnx=onnx) == onnx
    # same machine, but the caller's ONNX is not the one the engine came from
    assert onnx_for_rebuild(manifest, ORIN, plan, onnx=onnx) == onnx


def test_stale_engine_rebuilds_from_the_recorded_onnx_only_if_unchanged(tmp_path, manifest, make_onnx):
    onnx = make_onnx()
    recorded = dataclasses.replace(manifest, onnx_sha256=sha256_of(onnx), onnx_path=str(onnx))
    plan, recorded = _stored(tmp_path, recorded)
    assert onnx_for_rebuild(recorded, RTX, plan) == onnx
    make_onnx(opset=13)  # same path, other content
    with pytest.raises(EngineCacheMismatch, match="cannot run here"):
        onnx_for_rebuild(recorded, RTX, plan)


def test_stale_engine_without_onnx_is_a_clear_error(tmp_path, manifest):
    plan, manifest = _stored(tmp_path, manifest)
    with pytest.raises(EngineCacheMismatch, match=r"rebuild it on this machine with `edgematte build MODEL\.onnx"):
        onnx_for_rebuild(manifest, RTX, plan)


# --- malformed manifests: always EngineCacheMismatch naming the file -----------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _paths(data):
    """Every (container, key) inside the manifest's JSON data."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield data, key
            yield from _paths(value)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield data, i
            yield from _paths(value)


def _read(tmp_dir, blob: bytes):
    plan = tmp_dir / "m.plan"
    cache.manifest_path(plan).write_bytes(blob)
    try:
        return cache.read_manifest(plan)
    except EngineCacheMismatch as exc:
        assert "m.json" in str(exc), str(exc)
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mutated_manifest_reads_or_is_a_cache_mismatch_naming_the_file(tmp_path, manifest, data):
    tree = json.loads(manifest.to_json())
    spots = list(_paths(tree))
    for _ in range(data.draw(st.integers(1, 3))):
        container, key = data.draw(st.sampled_from(spots))
        if data.draw(st.booleans()) and isinstance(container, dict):
            container.pop(key, None)
        elif isinstance(container, dict) or key < len(container):
            container[key] = data.draw(_json)
        spots = list(_paths(tree)) or [(tree, "key")]
    result = _read(tmp_path, json.dumps(tree).encode())
    if result is not None:  # what did parse is well-formed
        assert len(result.target.compute_capability) == 2 and all(len(r) == 3 for r in result.profiles.values())


@pytest.mark.parametrize(
    "blob",
    [
        b"\xff\xfe{not utf-8",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"format": 1e999}',
        b'{"format": 1, "target": {"compute_capability": [1e999, 7]}}',
        b"9" * 5000,
        b"[]",
        b'"text"',
        b"",
    ],
    ids=["bad-utf8", "deep-nesting", "inf-format", "inf-capability", "huge-int", "list", "string", "empty"],
)
def test_malformed_manifest_bytes_are_a_cache_mismatch(tmp_path, blob):
    assert _read(tmp_path, blob) is None


@pytest.mark.parametrize(
    "path, value",
    [
        (("target", "compute_capability"), [8]),
        (("target", "compute_capability"), [8, 7.0]),
        (("target", "compute_capability"), [True, 7]),
        (("target", "gpu_name"), 3),
        (("profiles", "src"), [[1, 3, 16, 16], [1, 3, 32, 32]]),
        (("profiles", "src"), [[1, 3, 16, 16], [1, 3, 32, 32], [1, 3, 10**40, 64]]),
        (("profiles", "src"), [[1, 3, 16], [1, 3, 32, 32], [1, 3, 64, 64]]),
        (("inputs",), [{"name": "src", "shape": "1x3", "dtype": "float32"}]),
        (("inputs",), {"name": "src"}),
        (("workspace_mb",), -1),
        (("format",), True),
    ],
)
def test_wrong_types_and_values_are_a_cache_mismatch(tmp_path, manifest, path, value):
    tree = json.loads(manifest.to_json())
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _read(tmp_path, json.dumps(tree).encode()) is None
