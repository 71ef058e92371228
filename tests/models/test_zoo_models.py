"""The PyTorch zoo: table rows, official key layout, load() and its errors."""

from __future__ import annotations

import dataclasses
import hashlib
import sys

import numpy as np
import pytest

from edgematte.errors import BackendUnavailableError, InputError, ModelError
from edgematte.models import MODELS, Checkpoint, build, checkpoint_path, get_spec, is_torch_model, load
from edgematte.weights import sha256_of

torch = pytest.importorskip("torch", reason="PyTorch is an optional dependency: pip install 'edgematte[export]'")

from zoo_checkpoints import random_checkpoint  # noqa: E402

ZOO = ("modnet", "modnet-webcam", "u2net", "u2net-human-seg", "u2netp")

# sha256 of "key (shape)\n" over the state_dict of the upstream definitions (ZHKKKe/MODNet
# src/models/modnet.py, xuebinqin/U-2-Net model/u2net.py), in their order; computed once from
# a transcription of those classes, kept here as the reference layout.
OFFICIAL_LAYOUT = {
    "u2netp": (798, 1136989, "213eb1852bb391eb5c18f2b16c08025a6b8c54f8f7497d2f73b37265896a038d"),
    "u2net": (798, 44038781, "2e548537340f42e4c892e0d8c329cddb66da490f27ceff653006ae55b62a54db"),
    "modnet": (751, 8780012, "05c11caf3be4ecc05140725afc3d8b29154b1ebbfb20903178598deea278e6df"),
}


def _layout(model):
    state = model.state_dict()
    lines = "".join(f"{k} {tuple(v.shape)}\n" for k, v in state.items())
    return len(state), sum(v.numel() for v in state.values()), hashlib.sha256(lines.encode()).hexdigest()


@pytest.mark.parametrize("name", ZOO)
def test_rows_are_data_with_honest_checksums(name):
    spec = get_spec(name)
    assert is_torch_model(name)
    assert spec.outputs == ("alpha",) and spec.color_order == "RGB"
    (ckpt,) = spec.checkpoints
    # no upstream publishes a checksum: the table must not pretend otherwise
    assert ckpt.sha256 is None
    assert spec.extra["download_page"].startswith("https://")
    assert spec.licence


def test_variants_share_architectures():
    assert get_spec("modnet-webcam").architecture == get_spec("modnet").architecture == "modnet"
    assert get_spec("u2net-human-seg").architecture == get_spec("u2net").architecture == "u2net"
    assert get_spec("modnet").input_size == (512, 512) and get_spec("u2netp").input_size == (320, 320)
    assert "CC BY-NC-SA" in get_spec("modnet").licence and "Apache-2.0" in get_spec("modnet").licence


@pytest.mark.parametrize("arch", sorted(OFFICIAL_LAYOUT))
def test_state_dict_layout_equals_official(arch):
    assert _layout(build(arch)) == OFFICIAL_LAYOUT[arch]


def test_modnet_backbone_is_one_module_under_two_names():
    model = build("modnet")
    assert model.backbone is model.lr_branch.backbone
    state = model.state_dict()
    assert "backbone.model.features.18.0.weight" in state and "lr_branch.backbone.model.features.18.0.weight" in state


@pytest.mark.parametrize("name, size", [("u2netp", (64, 96)), ("u2netp", (75, 53)), ("modnet", (64, 96))])
def test_round_trip_from_official_layout(tmp_path, name, size):
    path = random_checkpoint(name, tmp_path / "weights.pth", seed=3)
    saved = torch.load(path, weights_only=True)
    if name == "modnet":
        assert all(k.startswith("module.") for k in saved)
    model = load(name, path)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[get_spec(name).extra["key_prefix"] + key])
    src = torch.rand(2, 3, *size)
    with torch.no_grad():
        alpha = model(src)
    assert alpha.shape == (2, 1) + size and alpha.dtype == torch.float32
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0 and float(alpha.std()) > 0


def test_normalisation_is_inside_the_model(tmp_path):
    """The module takes 0..1: feeding the ImageNet-normalised input to the bare stages gives d0."""
    model = load("u2netp", random_checkpoint("u2netp", tmp_path / "w.pth"))
    src = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(src)
        model.mean.zero_()
        model.std.fill_(1.0)
        manual = model((src - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
                       / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
    assert torch.allclose(expected, manual, atol=1e-6)


def test_u2net_full_checkpoint_loads(tmp_path):
    model = load("u2net-human-seg", random_checkpoint("u2net", tmp_path / "u2net_human_seg.pth"))
    assert sum(p.numel() for p in model.parameters()) == 44009869


def test_legacy_pickle_format_and_old_batchnorm_files_load(tmp_path):
    path = random_checkpoint("u2netp", tmp_path / "u2netp.pth", legacy_format=True)
    state = torch.load(path, weights_only=True)
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # PyTorch < 0.4.1 files
    torch.save(old, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    model = load("u2netp", tmp_path / "old.pth")
    assert torch.equal(model.outconv.weight, state["outconv.weight"])


def test_module_prefix_is_stripped_for_any_model(tmp_path):
    state = torch.load(random_checkpoint("u2netp", tmp_path / "a.pth"), weights_only=True)
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "dp.pth")
    assert torch.equal(load("u2netp", tmp_path / "dp.pth").side1.weight, state["side1.weight"])


def _edited(tmp_path, name, edit):
    state = torch.load(random_checkpoint(name, tmp_path / "w.pth"), weights_only=True)
    edit(state)
    torch.save(state, tmp_path / "edited.pth")
    return tmp_path / "edited.pth"


def test_missing_key_is_named(tmp_path):
    path = _edited(tmp_path, "modnet", lambda s: s.pop("module.f_branch.conv_f.1.layers.0.bias"))
    with pytest.raises(ModelError, match=r"missing keys 'f_branch\.conv_f\.1\.layers\.0\.bias' \(1 in all\)"):
        load("modnet", path)


def test_unexpected_key_is_named(tmp_path):
    path = _edited(tmp_path, "u2netp", lambda s: s.update({"refconv.weight": torch.zeros(1)}))
    with pytest.raises(ModelError, match=r"unexpected keys 'refconv\.weight'"):
        load("u2netp", path)


def test_wrong_architecture_names_first_shape_mismatch(tmp_path):
    path = random_checkpoint("u2netp", tmp_path / "u2netp.pth")
    with pytest.raises(ModelError, match=r"shape mismatch for \d+ keys, first 'stage1\.rebnconv1\.conv_s1\.weight'"):
        load("u2net", path)
    with pytest.raises(ModelError, match=r"missing keys 'backbone\.model\.features\.0\.0\.weight'.*unexpected keys"):
        load("modnet", path)


def test_truncated_file(tmp_path):
    path = random_checkpoint("u2netp", tmp_path / "u2netp.pth")
    data = path.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="could not read .*cut.pth.* as a PyTorch checkpoint"):
        load("u2netp", tmp_path / "cut.pth")


@pytest.mark.parametrize("payload", [b"", b"\x08\x07onnx-ish protobuf bytes", b"<!DOCTYPE html><html>Google Drive"])
def test_foreign_file(tmp_path, payload):
    (tmp_path / "x.pth").write_bytes(payload)
    with pytest.raises(ModelError, match="as a PyTorch checkpoint"):
        load("u2netp", tmp_path / "x.pth")


def test_pickled_code_is_refused(tmp_path):
    torch.save({"weights": np.arange(3)}, tmp_path / "np.pth")  # needs a non-tensor global: weights_only refuses
    with pytest.raises(ModelError, match="as a PyTorch checkpoint"):
        load("u2netp", tmp_path / "np.pth")


def test_not_a_state_dict(tmp_path):
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    with pytest.raises(ModelError, match="holds a list, not a state_dict"):
        load("u2netp", tmp_path / "list.pth")


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="not a file"):
        load("u2netp", tmp_path / "nope.pth")


def test_unknown_name():
    with pytest.raises(InputError, match="expected one of"):
        load("u3net")


def test_default_checkpoint_explains_missing_checksum(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEMATTE_WEIGHTS", raising=False)
    monkeypatch.setenv("EDGEMATTE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match=r"No sha256 is published for u2netp\.pth.*drive\.google\.com"):
        load("u2netp")


def test_default_checkpoint_from_edgematte_weights(tmp_path, monkeypatch):
    (tmp_path / "u2net").mkdir()
    random_checkpoint("u2netp", tmp_path / "u2net" / "u2netp.pth")
    monkeypatch.setenv("EDGEMATTE_WEIGHTS", str(tmp_path))
    assert load("u2netp").side6.weight.shape == (1, 64, 3, 3)


def test_pinned_sha256_downloads_and_verifies(tmp_path, monkeypatch):
    """The real download path, served from a file:// URL instead of the network."""
    source = random_checkpoint("u2netp", tmp_path / "served.pth")
    spec = get_spec("u2netp")
    row = dataclasses.replace(spec, checkpoints=(Checkpoint("u2netp.pth", url=source.as_uri(), sha256=None),))
    monkeypatch.setitem(MODELS, "u2netp", row)
    monkeypatch.delenv("EDGEMATTE_WEIGHTS", raising=False)
    monkeypatch.setenv("EDGEMATTE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match="sha256"):
        checkpoint_path("u2netp", sha256="0" * 64, progress=False)
    assert not (tmp_path / "cache" / "u2net" / "u2netp.pth").exists()
    path = checkpoint_path("u2netp", sha256=sha256_of(source), progress=False)
    assert path == tmp_path / "cache" / "u2net" / "u2netp.pth" and sha256_of(path) == sha256_of(source)


def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(BackendUnavailableError, match=r"edgematte\[export\]"):
        build("u2netp")
