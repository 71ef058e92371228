"""Corrupt or foreign model, manifest and cache files end in edgematte's own error naming the file
(issue 19, defect 4), and cached files are verified before use; hypothesis fuzzes each kind of file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edgematte
from edgematte.errors import EdgematteError, EngineCacheMismatch, ExportError, ModelError
from edgematte.export.tflite import tflite_to_onnx
from edgematte.runtime import engine_cache

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
TINY = Path(__file__).resolve().parent / "assets" / "tiny_seg.onnx"


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEMATTE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEMATTE_BACKEND", raising=False)


def _open(path: Path, backend: str) -> None:
    """Open a Matter on ``path`` and matte a frame: works, or raises edgematte's own error naming the file."""
    try:
        with edgematte.Matter(path, backend=backend, refine="off") as matter:
            matter.process(np.zeros((24, 32, 3), np.uint8))
    except EdgematteError as exc:
        assert path.name in str(exc), str(exc)


# -- ONNX files -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["auto", "ort-cpu"])
@pytest.mark.parametrize("model", ["tiny", "rvm"])
def test_a_truncated_onnx_is_a_model_error_naming_it(model, backend, tmp_path, request):
    source = TINY if model == "tiny" else request.getfixturevalue("rvm_onnx")
    path = tmp_path / "cut.onnx"
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(ModelError, match=r"cut\.onnx"):
        edgematte.Matter(path, backend=backend)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + bytes(64), b"TFL3" * 40, bytes(range(256)) * 8,
                                     b'{"format": 1}'], ids=["empty", "png", "tflite", "bytes", "json"])
def test_foreign_files_named_onnx_are_model_errors(content, tmp_path):
    path = tmp_path / "foreign.onnx"
    path.write_bytes(content)
    for backend in ("auto", "ort-cpu"):
        with pytest.raises(ModelError, match=r"foreign\.onnx"):
            edgematte.Matter(path, backend=backend)


@FUZZ
@given(st.data())
def test_damaged_onnx_files_open_or_are_refused_naming_the_file(tmp_path_factory, data):
    blob = bytearray(TINY.read_bytes())
    cut = data.draw(st.integers(0, len(blob)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(0, 255)), max_size=6))
    for at, value in flips:
        blob[at] = value
    path = tmp_path_factory.mktemp("onnx") / "damaged.onnx"
    path.write_bytes(bytes(blob[:cut]))
    _open(path, data.draw(st.sampled_from(["auto", "ort-cpu"])))


# -- a cached conversion ----------------------------------------------------------------------


def test_a_damaged_cached_conversion_is_made_again(shared_weights, monkeypatch, caplog):
    """The selfie ONNX converted into the cache: a changed weight there is caught by its recorded sha256."""
    from edgematte.export.to_onnx import onnx_for

    monkeypatch.setenv("EDGEMATTE_WEIGHTS", str(shared_weights))
    first = onnx_for("selfie", progress=False)
    good = first.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0x55  # inside the weights: still valid ONNX, wrong numbers
    first.write_bytes(bytes(damaged))
    with caplog.at_level(logging.WARNING, logger="edgematte"):
        second = onnx_for("selfie", progress=False)
    assert second.read_bytes() == good
    assert "does not verify against its recorded sha256" in caplog.text
    first.write_bytes(good[:100])  # truncated
    assert onnx_for("selfie", progress=False).read_bytes() == good
    second.with_name(second.name + ".sha256").unlink()  # no record (an older cache): remade too
    assert onnx_for("selfie", progress=False).read_bytes() == good


# -- TFLite -----------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0, 4, 8, 16, 64, 1000, 20000, 0.5, 0.99])
def test_a_truncated_tflite_is_an_export_error_naming_it(selfie_tflite, tmp_path, keep):
    data = selfie_tflite.read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(ExportError, match=r"cut\.tflite"):
        tflite_to_onnx(path)


@FUZZ
@given(st.data())
def test_damaged_tflite_files_convert_or_are_export_errors(selfie_tflite, tmp_path_factory, data):
    blob = bytearray(selfie_tflite.read_bytes())
    for _ in range(data.draw(st.integers(1, 12))):
        at = data.draw(st.integers(0, 4000) | st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("tflite") / "damaged.tflite"
    path.write_bytes(bytes(blob))
    try:
        tflite_to_onnx(path)
    except ExportError as exc:
        assert "damaged.tflite" in str(exc)


def test_a_truncated_tflite_given_as_weights_is_an_export_error(selfie_tflite, tmp_path):
    from edgematte.export.to_onnx import onnx_for

    path = tmp_path / "selfie_segmentation.tflite"
    path.write_bytes(selfie_tflite.read_bytes()[:5000])
    with pytest.raises(ExportError, match="selfie_segmentation.tflite"):
        onnx_for("selfie", weights=path, progress=False)


# -- engine manifests -------------------------------------------------------------------------


def test_a_manifest_that_is_a_folder_or_a_link_loop_is_a_cache_mismatch(tmp_path):
    plan = tmp_path / "engine.plan"
    plan.write_bytes(b"plan")
    engine_cache.manifest_path(plan).mkdir()
    with pytest.raises(EngineCacheMismatch, match=r"engine\.json.*engine\.plan"):
        engine_cache.read_manifest(plan)
    engine_cache.manifest_path(plan).rmdir()
    loop_a, loop_b = tmp_path / "loop.json", tmp_path / "other.json"
    os.symlink(loop_b, loop_a)
    os.symlink(loop_a, loop_b)
    with pytest.raises(EngineCacheMismatch, match=r"loop\.json"):
        engine_cache.read_manifest(tmp_path / "loop.plan")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_an_unreadable_manifest_is_a_cache_mismatch(tmp_path):
    plan = tmp_path / "engine.plan"
    manifest = engine_cache.manifest_path(plan)
    manifest.write_text("{}")
    manifest.chmod(0)
    with pytest.raises(EngineCacheMismatch, match="engine.json"):
        engine_cache.read_manifest(plan)


# -- the RVM split cache ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def split_cache(rvm_onnx, tmp_path_factory):
    """A cache holding the real RVM graph's split (made once for the module)."""
    from edgematte.models.rvm import _split_path

    cache = tmp_path_factory.mktemp("split-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEMATTE_CACHE", str(cache))
        graph, names = _split_path(rvm_onnx)
    return cache, graph, names


DAMAGED_RECORDS = {"empty": b"", "cut": b"{", "list": b"[]", "text": b'"text"', "null": b"null",
                   "missing keys": b'{"small": "a"}', "not utf-8": b"\xff\xfe", "deep": b"[" * 50_000,
                   "wrong types": b'{"small": 1, "a": "x", "b": "y", "sha256": "0"}',
                   "another digest": b'{"small": "s", "a": "x", "b": "y", "sha256": "0"}'}


@pytest.mark.parametrize("record", list(DAMAGED_RECORDS.values()), ids=list(DAMAGED_RECORDS))
def test_a_damaged_split_record_does_not_verify(split_cache, record, tmp_path):
    from edgematte.models.rvm import _verified_names

    _, graph, _ = split_cache
    names = tmp_path / "names.json"
    names.write_bytes(record)
    assert _verified_names(graph, names) is None


def test_the_split_graph_states_the_shape_of_a_and_b(split_cache):
    """onnx 1.14's shape inference leaves them without one; ONNX Runtime then reports rank 0."""
    import onnx

    _, graph, names = split_cache
    outputs = {o.name: o.type.tensor_type for o in onnx.load(str(graph)).graph.output}
    for key in ("a", "b"):
        assert outputs[names[key]].HasField("shape")
        dims = outputs[names[key]].shape.dim
        assert len(dims) == 4 and dims[1].dim_value == 4


def test_a_split_record_of_an_older_format_does_not_verify(split_cache, tmp_path):
    from edgematte.models.rvm import _verified_names

    _, graph, names = split_cache
    record = json.loads(graph.with_suffix(".json").read_text())
    assert _verified_names(graph, graph.with_suffix(".json")) == names
    del record["format"]  # a graph made before A and b had their shape
    (tmp_path / "names.json").write_text(json.dumps(record))
    assert _verified_names(graph, tmp_path / "names.json") is None


@pytest.mark.parametrize("damage", ["record", "graph"])
def test_a_damaged_split_cache_is_made_again(split_cache, rvm_onnx, tmp_path, monkeypatch, damage, caplog):
    from edgematte.models.rvm import _split_path

    cache, graph, names = split_cache
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    monkeypatch.setenv("EDGEMATTE_CACHE", str(copy))
    cached = copy / graph.relative_to(cache)
    target = cached.with_suffix(".json") if damage == "record" else cached
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="edgematte"):
        again, again_names = _split_path(rvm_onnx)
    assert again_names == names and again.read_bytes() == graph.read_bytes()
    assert "does not verify against its record" in caplog.text
    assert json.loads(again.with_suffix(".json").read_text())["small"] == names["small"]


@FUZZ
@given(st.binary(max_size=300) | st.builds(lambda v: json.dumps(v).encode(), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["small", "a", "b", "sha256", "x"]),
                                                                inner, max_size=5), max_leaves=10)))
def test_any_split_record_verifies_or_not_without_raising(split_cache, tmp_path_factory, record):
    from edgematte.models.rvm import _verified_names

    names = tmp_path_factory.mktemp("record") / "names.json"
    names.write_bytes(record)
    assert _verified_names(split_cache[1], names) is None
