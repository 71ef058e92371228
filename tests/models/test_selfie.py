"""Selfie rows: weights acquisition (explicit, EDGEMATTE_WEIGHTS, cache, wheel download) and onnx_for.

Nothing here touches the network: archives are served from tmp_path through file:// URLs,
and the offline case uses a local port nobody listens on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import zipfile

import numpy as np
import pytest

from edgematte.errors import InputError, ModelError
from edgematte.export.to_onnx import onnx_for
from edgematte.models import MODELS, get_spec
from edgematte.models.selfie import fetch_tflite
from edgematte.weights import Checkpoint, extract_member, fetch_from_archive, sha256_of

UNREACHABLE = "http://127.0.0.1:9/mediapipe-0.10.14-none-any.whl"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Private cache, no EDGEMATTE_WEIGHTS unless a test sets it."""
    monkeypatch.setenv("EDGEMATTE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEMATTE_WEIGHTS", raising=False)


@pytest.fixture
def with_shared_weights(monkeypatch, shared_weights):
    monkeypatch.setenv("EDGEMATTE_WEIGHTS", str(shared_weights))
    return shared_weights


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel(tmp_path, members):
    """A zip like the mediapipe wheel; returns (file:// URL, sha256)."""
    path = tmp_path / "served" / "fake-0.1-py3-none-any.whl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("fake/__init__.py", "")
        for name, data in members.items():
            zf.writestr(name, data)
    return path.as_uri(), sha256_of(path)


def test_rows_registered():
    for name, size in (("selfie", (256, 256)), ("selfie-landscape", (144, 256))):
        spec = get_spec(name)
        assert MODELS[name] is spec
        assert spec.input_size == size and spec.task == "segmentation" and spec.licence.startswith("Apache-2.0")
        (ckpt,) = spec.checkpoints
        assert ckpt.url.startswith("https://files.pythonhosted.org/") and ckpt.url.endswith(".whl")
        assert ckpt.member == "mediapipe/modules/selfie_segmentation/" + ckpt.filename
        assert len(ckpt.sha256) == len(ckpt.member_sha256) == 64


@pytest.mark.parametrize("name", ["selfie", "selfie-landscape"])
def test_pinned_member_hashes_match_the_real_files(with_shared_weights, name):
    path = fetch_tflite(name)
    assert path == with_shared_weights / "mediapipe_selfie" / get_spec(name).checkpoints[0].filename
    assert sha256_of(path) == get_spec(name).checkpoints[0].member_sha256


def test_explicit_path_wins(with_shared_weights, tmp_path):
    mine = tmp_path / "mine.tflite"
    mine.write_bytes(b"TFL3")
    assert fetch_tflite("selfie", weights=mine) == mine
    with pytest.raises(ModelError, match="not a file"):
        fetch_tflite("selfie", weights=tmp_path / "absent.tflite")


def test_weights_folder_without_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEMATTE_WEIGHTS", str(tmp_path))
    with pytest.raises(ModelError, match="mediapipe_selfie/selfie_segmentation.tflite"):
        fetch_tflite("selfie")


def test_unknown_or_foreign_name():
    with pytest.raises(InputError, match="received model name 'nope'"):
        fetch_tflite("nope")
    with pytest.raises(InputError):
        onnx_for("nope")


def test_extract_member_checks_sha(tmp_path):
    url, _ = _wheel(tmp_path, {"a/model.tflite": b"weights"})
    archive = url[len("file://"):]
    out = extract_member(archive, "a/model.tflite", _sha(b"weights"), tmp_path / "x" / "model.tflite")
    assert out.read_bytes() == b"weights"
    with pytest.raises(ModelError, match="sha256"):
        extract_member(archive, "a/model.tflite", "0" * 64, tmp_path / "y.tflite")
    with pytest.raises(ModelError, match="no member"):
        extract_member(archive, "a/other.tflite", _sha(b"weights"), tmp_path / "z.tflite")
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="could not read archive"):
        extract_member(broken, "a/model.tflite", _sha(b"weights"), tmp_path / "w.tflite")
    assert not (tmp_path / "y.tflite").exists() and not (tmp_path / "z.tflite").exists()
    assert not (tmp_path / "w.tflite").exists()


def test_fetch_from_archive_downloads_verifies_extracts_and_caches(tmp_path):
    url, sha = _wheel(tmp_path, {"pkg/model.tflite": b"weights-1"})
    ckpt = Checkpoint("model.tflite", url=url, sha256=sha, member="pkg/model.tflite", member_sha256=_sha(b"weights-1"))
    out = fetch_from_archive(ckpt, subdir="fake", progress=False)
    assert out.read_bytes() == b"weights-1"
    assert out.parent == tmp_path / "cache" / "fake"
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.tflite"]  # the archive is gone


def test_fetch_from_archive_rejects_a_changed_archive(tmp_path):
    url, _ = _wheel(tmp_path, {"pkg/model.tflite": b"weights-1"})
    ckpt = Checkpoint("model.tflite", url=url, sha256="0" * 64, member="pkg/model.tflite",
                      member_sha256=_sha(b"weights-1"))
    with pytest.raises(ModelError, match="sha256"):
        fetch_from_archive(ckpt, subdir="fake", progress=False)
    assert not any((tmp_path / "cache" / "fake").iterdir())


def test_fetch_from_archive_rejects_a_changed_member(tmp_path):
    url, sha = _wheel(tmp_path, {"pkg/model.tflite": b"tampered"})
    ckpt = Checkpoint("model.tflite", url=url, sha256=sha, member="pkg/model.tflite", member_sha256=_sha(b"weights-1"))
    with pytest.raises(ModelError, match="sha256"):
        fetch_from_archive(ckpt, subdir="fake", progress=False)
    assert not any((tmp_path / "cache" / "fake").iterdir())


def _point_rows_at(monkeypatch, url, sha, members):
    for name in ("selfie", "selfie-landscape"):
        spec = get_spec(name)
        (ckpt,) = spec.checkpoints
        ckpt = dataclasses.replace(ckpt, url=url, sha256=sha, member_sha256=_sha(members[ckpt.member]))
        monkeypatch.setitem(MODELS, name, dataclasses.replace(spec, checkpoints=(ckpt,)))


def test_fetch_tflite_one_download_serves_both_rows_then_cache(monkeypatch, tmp_path):
    members = {get_spec(n).checkpoints[0].member: n.encode() * 10 for n in ("selfie", "selfie-landscape")}
    url, sha = _wheel(tmp_path, members)
    _point_rows_at(monkeypatch, url, sha, members)
    general = fetch_tflite("selfie", progress=False)
    landscape_cached = general.parent / get_spec("selfie-landscape").checkpoints[0].filename
    assert landscape_cached.is_file()
    os.unlink(url[len("file://"):])  # no second download possible
    assert fetch_tflite("selfie-landscape", progress=False) == landscape_cached
    assert fetch_tflite("selfie", progress=False).read_bytes() == b"selfie" * 10


def test_offline_without_cache_says_how_to_supply_the_file(monkeypatch):
    spec = get_spec("selfie")
    ckpt = dataclasses.replace(spec.checkpoints[0], url=UNREACHABLE)
    monkeypatch.setitem(MODELS, "selfie", dataclasses.replace(spec, checkpoints=(ckpt,)))
    with pytest.raises(ModelError) as info:
        fetch_tflite("selfie", progress=False)
    message = str(info.value)
    assert UNREACHABLE in message
    assert "EDGEMATTE_WEIGHTS/mediapipe_selfie/selfie_segmentation.tflite" in message
    assert "weights=" in message


def test_onnx_for_converts_once_and_caches(with_shared_weights, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = onnx_for("selfie-landscape", progress=False)
    digest = get_spec("selfie-landscape").checkpoints[0].member_sha256
    assert path.parent == tmp_path / "cache" / "mediapipe_selfie" / "onnx"
    assert digest[:16] in path.name
    stamp = path.stat().st_mtime_ns
    assert onnx_for("selfie-landscape", progress=False) == path and path.stat().st_mtime_ns == stamp
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (alpha,) = session.run(["alpha"], {"src": np.full((1, 3, 144, 256), 0.5, np.float32)})
    assert alpha.shape == (1, 1, 144, 256) and 0.0 <= alpha.min() <= alpha.max() <= 1.0
    assert not [p for p in path.parent.iterdir() if p.suffix == ".part"]


def test_export_selfie_writes_model_with_provenance(with_shared_weights, tmp_path):
    onnx = pytest.importorskip("onnx")
    from edgematte.export.tflite import export_selfie

    out = export_selfie("selfie", tmp_path / "out" / "selfie.onnx")
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["edgematte.model"] == "selfie"
    assert props["edgematte.source_sha256"] == get_spec("selfie").checkpoints[0].member_sha256


def test_models_and_export_packages_import_no_heavy_module(tmp_path):
    from fresh_python import heavy_modules_after

    assert heavy_modules_after("import edgematte.models, edgematte.export", tmp_path) == []
