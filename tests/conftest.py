"""Shared fixtures: paths to the project's shared assets, skipped with a reason when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def _shared(sub: str) -> Path:
    path = SHARED / sub
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared weights/data folder sits beside the repo only for the core team")
    return path


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """``../shared/weights`` (MediaPipe selfie, SINet, PP-HumanSeg), or skip."""
    return _shared("weights")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (alphamatting_lowres, portraits), or skip."""
    return _shared("data")


def _weights_file(shared_weights: Path, *parts: str) -> Path:
    path = shared_weights.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def asl_book(shared_data) -> Path:
    """``../shared/data/videos/asl_book.mkv``: a real static-camera clip of a person (CC BY 4.0), or skip."""
    path = shared_data / "videos" / "asl_book.mkv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def rvm_onnx(shared_weights) -> Path:
    """The real RobustVideoMatting MobileNetV3 graph (official signature, TF.js weights), or skip."""
    return _weights_file(shared_weights, "rvm_mobilenetv3", "rvm_mobilenetv3_from_tfjs_uint8_fp32.onnx")


@pytest.fixture(scope="session")
def selfie_tflite(shared_weights) -> Path:
    """MediaPipe's selfie segmentation .tflite (256x256), or skip."""
    return _weights_file(shared_weights, "mediapipe_selfie", "selfie_segmentation.tflite")


@pytest.fixture(scope="session")
def tiny_onnx() -> Path:
    """``tests/assets/tiny_seg.onnx``: src [1,3,32,32] -> alpha = sigmoid(20 (R - B)) (see make_assets.py)."""
    return Path(__file__).resolve().parent / "assets" / "tiny_seg.onnx"


@pytest.fixture
def matter(tiny_onnx):
    """A Matter on the tiny model (ONNX Runtime, refine "fast")."""
    import edgematte

    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as m:
        yield m


@pytest.fixture(scope="session")
def pp_humanseg_onnx(shared_weights, tmp_path_factory) -> Path:
    """The real PP-HumanSeg-Lite portrait model wrapped to the src -> alpha contract, or skip."""
    from pp_humanseg import build_onnx

    source = shared_weights / "pp_humanseg" / "ppseg_lite_portrait_398x224_with_softmax_fixed.onnx"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    return build_onnx(source, tmp_path_factory.mktemp("models") / "pp_humanseg.onnx")


@pytest.fixture(scope="session")
def _selfie_cache(shared_weights, tmp_path_factory) -> Path:
    """A session cache holding the converted selfie ONNX (converted once from ../shared/weights)."""
    cache = tmp_path_factory.mktemp("edgematte-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEMATTE_WEIGHTS", str(shared_weights))
        mp.setenv("EDGEMATTE_CACHE", str(cache))
        from edgematte.export.to_onnx import onnx_for

        onnx_for("selfie", progress=False)
    return cache


@pytest.fixture
def selfie_env(monkeypatch, shared_weights, _selfie_cache) -> None:
    """EDGEMATTE_WEIGHTS and EDGEMATTE_CACHE set so the default "selfie" model resolves offline."""
    monkeypatch.setenv("EDGEMATTE_WEIGHTS", str(shared_weights))
    monkeypatch.setenv("EDGEMATTE_CACHE", str(_selfie_cache))

