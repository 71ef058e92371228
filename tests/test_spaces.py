"""The array spaces: which one a pipeline gets, where a frame lives, and the CUDA space's own code run on the CPU
(NumPy standing in for CuPy, stages.cu compiled as C++; see tests/cuda_on_cpu.py) against the host space.

No GPU runs here: what this cannot check (CUDA compilation for a GPU, launches, streams, TensorRT) is checked by
the nvcc tests, the trt_api tests and bench/gpu_check.py on a GPU.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clips import read_frames
from cuda_on_cpu import DeviceArray, cpu_cuda_space, fake_cupy
from rvm_graphs import counting_rvm

import edgematte
from edgematte.edges import EdgeConfig
from edgematte.errors import BackendUnavailableError, InputError
from edgematte.pipeline import NO_COMPOSITE, Pipeline, TemporalConfig, space_for
from edgematte.pipeline.host import HostSpace
from edgematte.runtime.ort_cpu import OrtCpuBackend
from edgematte.types import TensorSpec
from edgematte.validate import is_device_array

cv2 = pytest.importorskip("cv2")
REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gpu_check", REPO / "bench" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)
StandIn = gpu_check.StandInBackend
TOLERANCE = gpu_check.TOLERANCE


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("cuda-on-cpu")


def clip_frames(shared_data, hw=None, count=4, name="asl_book.mkv"):
    return read_frames(shared_data / "videos" / name, count, None if hw is None else hw[::-1])


def assert_close(folder, frames, background=NO_COMPOSITE, backend=None, device_frames=False, input_alpha=None,
                 **setting):
    """The pipeline in the host space and in the CUDA space (on the CPU) over ``frames``: every Result field within
    gpu_check's tolerances (the trimap's pixels in at most 0.5% of them); returns the last CUDA-space Result."""
    make = backend or (lambda: StandIn(np))
    host = Pipeline(make(), space=HostSpace(), **setting)
    device = Pipeline(make(), space=cpu_cuda_space(folder), **setting)
    for frame in frames:
        want = host.process(frame, background, input_alpha=input_alpha)
        given = fake_cupy.asarray(frame) if device_frames else frame
        got = device.process(given, background, input_alpha=input_alpha)
        for name, tolerance in TOLERANCE.items():
            w, g = getattr(want, name), getattr(got, name)
            assert (w is None) == (g is None), name
            if w is None:
                continue
            assert isinstance(g, DeviceArray) == device_frames, name  # results stay where the frame came from
            diff = np.abs(g.astype(int) - w)
            if name == "trimap":
                assert np.count_nonzero(diff) <= diff.size // 200, name
            else:
                assert diff.max() <= tolerance, (name, diff.max())
        assert got.cut == want.cut
        assert [k for k in got.timings if k not in ("upload", "download")] == list(want.timings)
    return got


SETTINGS = {
    "fast": dict(refine="fast"),
    "off": dict(refine="off"),
    "full": dict(refine="full"),
    "matting": dict(task="matting"),
    "temporal": dict(refine="fast", temporal=TemporalConfig(strength=0.3, cut_threshold=0.05)),
    "temporal-off": dict(refine="off", temporal=TemporalConfig(strength=0.9, cut_threshold=0.05)),
    "edges": dict(refine="fast", edges=EdgeConfig(edge_shift=-2, feather=1)),
    "edges-cut": dict(refine="off", edges=EdgeConfig(edge_shift=3, threshold=0.5)),
}
BACKGROUNDS = {"none": NO_COMPOSITE, "colour": (0, 177, 64), "bgra": None, "blur": "blur", "image": "image"}


@pytest.mark.parametrize("background", sorted(BACKGROUNDS))
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_cuda_space_on_the_cpu_matches_the_host_space(shared_data, folder, setting, background):
    frames = clip_frames(shared_data, count=2)  # 640x480: one halving, then bilinear to 256x256
    if setting.startswith("temporal"):  # a scene cut: another clip follows
        frames += clip_frames(shared_data, count=2, name="asl_milk.mkv")
    bg = BACKGROUNDS[background]
    if bg == "image":
        bg = clip_frames(shared_data, count=1, name="asl_eat.mkv")[0][100:400, 50:600]
    result = assert_close(folder, frames, bg, **SETTINGS[setting])
    if setting != "edges-cut":  # a hard cut has no soft edge
        assert np.count_nonzero((result.alpha > 0) & (result.alpha < 255)) > 1000  # a soft edge to compare


def test_device_frames_with_their_own_alpha_and_odd_sizes(folder):
    frames = gpu_check.synthetic_frames((121, 161), 2, seed=11)
    own = np.random.default_rng(4).integers(0, 256, (121, 161), dtype=np.uint8)
    for refine in ("fast", "off"):
        assert_close(folder, frames, (0, 255, 0), device_frames=True, input_alpha=own, refine=refine)
    for hw in [(479, 639), (60, 80), (9, 7)]:
        assert_close(folder, gpu_check.synthetic_frames(hw, 2, seed=sum(hw)), "blur", refine="fast")


def test_rvm_in_the_cuda_space(folder, tmp_path):
    """RVM's whole graph (the counting graph: no split) with its state carried by ONNX Runtime; the outputs come
    back to the CUDA space, which converts them on the device and composites its foreground there."""
    path = counting_rvm(tmp_path / "rvm.onnx")
    backend = lambda: OrtCpuBackend(path).open()  # noqa: E731
    frames = [np.full((24, 32, 3), v, np.uint8) for v in (90, 92, 94, 200, 202)]
    got = assert_close(folder, frames, (0, 255, 0), backend=backend, device_frames=True, downsample_ratio=0.5,
                       temporal=TemporalConfig(0.5))
    assert got.foreground is not None and int(got.alpha[0, 0]) == 2  # states restarted at the cut (200)


def test_results_policy_downloads_what_is_asked(folder):
    frame = gpu_check.synthetic_frames((90, 120), 1)[0]
    device = Pipeline(StandIn(np), space=cpu_cuda_space(folder, results="composite"), refine="fast")
    result = device.process(frame, (0, 0, 0))
    assert type(result.composite) is np.ndarray and isinstance(result.alpha, DeviceArray)
    assert list(result.timings)[:2] == ["upload", "preprocess"] and "download" in result.timings
    b = device._local.buffers
    assert b.upload.shape == frame.shape and b.host["composite"] is result.composite  # reused buffers
    device_frame = Pipeline(StandIn(np), space=cpu_cuda_space(folder, results="device"), refine="fast")
    assert isinstance(device_frame.process(frame, (0, 0, 0)).composite, DeviceArray)
    with pytest.raises(InputError, match="results='gpu'"):
        cpu_cuda_space(folder, results="gpu")


def test_the_cuda_space_launches_only_its_own_kernels_for_fast(folder):
    """'fast' runs on the device from end to end: halvings, fit, pass (the composite is the registry's)."""
    space = cpu_cuda_space(folder)
    Pipeline(StandIn(np), space=space, refine="fast").process(gpu_check.synthetic_frames((720, 1280), 1)[0], "blur")
    assert space._rt.launched == [
        "em_k_resize_u8", "em_k_resize_u8",  # 1280x720 -> 640x360 (a halving) -> 256x256
        "em_k_area_u8", "em_k_resize_u8",  # the "blur" background: 1/8 area, (the Gaussian's kernels,) bilinear up
        "em_k_area_u8", "em_k_area_f32", "em_k_fit_ab", "em_k_fit_coef", "em_k_fit_blur", "em_k_fit_blur",  # the fit
        "em_k_guided_apply",
    ]


# -- where a frame lives, which space a pipeline gets -----------------------------------------------
class CudaArrayLike:
    """What a CuPy/torch CUDA array shows of itself: the interface dict (no memory behind it)."""

    shape, dtype = (4, 6, 3), np.dtype(np.uint8)
    __cuda_array_interface__ = {"shape": (4, 6, 3), "typestr": "|u1", "data": (0, False), "version": 3}


class DlpackCuda:
    shape, dtype = (4, 6, 3), np.dtype(np.uint8)

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):
        raise AssertionError("a device frame must not be read on the CPU path")


def test_device_frames_are_recognised():
    torch = pytest.importorskip("torch")
    assert is_device_array(CudaArrayLike()) and is_device_array(DlpackCuda())
    assert not is_device_array(np.zeros((2, 2, 3), np.uint8))
    assert not is_device_array(torch.zeros(2, 2, 3, dtype=torch.uint8))  # a CPU tensor
    assert not is_device_array([1, 2, 3])


def test_space_by_backend(tiny_onnx, caplog):
    with OrtCpuBackend(tiny_onnx) as ort:
        assert type(space_for(ort)) is HostSpace
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here: the no-CuPy fallback is not reachable")
    gpu_backend = StandIn(np)
    gpu_backend.device_inputs = True
    with caplog.at_level(logging.WARNING, logger="edgematte"):
        assert type(space_for(gpu_backend)) is HostSpace
    assert "stages around the model run on the CPU" in caplog.text and "CuPy" in caplog.text


def test_matter_uses_the_cuda_space_when_it_starts(tiny_onnx, monkeypatch, folder):
    """CuPy cannot run here: the CUDA space on the CPU stands in, so this checks Matter's path through it."""
    import edgematte.pipeline.cuda as cuda

    class DeviceOrt(OrtCpuBackend):
        device_inputs = True

    space = cpu_cuda_space(folder)
    monkeypatch.setattr(cuda, "CudaSpace", lambda: space)
    frame = gpu_check.synthetic_frames((90, 120), 1)[0]
    with edgematte.Matter(tiny_onnx, backend=DeviceOrt(tiny_onnx), refine="fast") as m, \
            edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as cpu:
        assert m.pipeline.space.name == "cuda" and cpu.pipeline.space.name == "host"
        got, want = m.process(frame, (0, 255, 0)), cpu.process(frame, (0, 255, 0))
        assert np.abs(got.composite.astype(int) - want.composite).max() <= 1
        assert np.abs(got.alpha.astype(int) - want.alpha).max() <= 2
        m.reset()
        expected = m.process(frame, (0, 255, 0)).composite.copy()
        m.reset()
        out = np.zeros_like(frame)
        into = m.process(frame, (0, 255, 0), out=out)  # made on the device, copied into the host array
        assert into.composite is out and into.foreground is not None
        np.testing.assert_array_equal(out, expected)
        with pytest.raises(InputError, match="out= with a device frame"):
            m.process(CudaArrayLike(), (0, 255, 0), out=out)


def test_the_host_space_refuses_device_frames(tiny_onnx):
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as m:
        for frame in (CudaArrayLike(), DlpackCuda()):
            with pytest.raises(InputError, match=r"received a device frame .* runs its stages on the CPU; "
                                                 r"expected a NumPy"):
                m.process(frame)


def test_a_frame_is_checked_once(tiny_onnx, monkeypatch):
    import edgematte.validate as validate

    calls = []
    real = validate.check_frame
    monkeypatch.setattr(validate, "check_frame", lambda frame: calls.append(1) or real(frame))
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as m:
        m.process(np.zeros((20, 30, 3), np.uint8))
        m.process(np.zeros((20, 30, 4), np.uint8))
    assert len(calls) == 2


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cuda_space_without_cupy_names_the_install():
    from edgematte.pipeline.cuda import CudaSpace

    with pytest.raises(BackendUnavailableError, match="needs CuPy .* pip install cupy-cuda12x"):
        CudaSpace()


@pytest.mark.parametrize("kwargs, match", [(dict(task="depth"), "task 'depth'"), (dict(refine="medium"), "refine='medium'")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        Pipeline(StandIn(np), space=HostSpace(), **kwargs)


def test_integer_model_inputs_are_refused():
    backend = StandIn(np)
    backend.inputs = (TensorSpec("src", (1, 3, 8, 8), "uint8"),)
    with pytest.raises(InputError, match="dtype uint8; expected float32 or float16"):
        Pipeline(backend, space=HostSpace())


# -- the GPU check script ---------------------------------------------------------------------------
def test_stand_in_model_is_its_formula():
    backend = StandIn(np, (4, 5))
    src = np.random.default_rng(0).random((1, 3, 4, 5), dtype=np.float32)
    logit = 9 * src[0, 0] + src[0, 1] - 9 * src[0, 2] - 0.5
    np.testing.assert_allclose(backend.infer({"src": src})["alpha"][0, 0], 1 / (1 + np.exp(-logit)), rtol=1e-6)


def test_gpu_check_steps_run_in_a_cpu_dry_run(tmp_path):
    """The script's own steps (checks, tables, JSON) with the CUDA space on the CPU: no GPU involved."""
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--cpu-dry-run", "--runs", "2",
                           "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no GPU is checked" in done.stdout and "all checks passed" in done.stdout
    assert done.stdout.count("wall clock per frame") == 4  # two sizes, two models
    import json

    report = json.loads(out.read_text())
    assert report["stage_kernels"]["status"] == report["kernels_direct"]["status"] == "passed"
    rows = [r for size in report["pipeline"].values() for r in size["rows"]]
    assert all(r["passed"] for r in rows) and any("rvm" in r["setting"] for r in rows)
    assert set(report["timings"]["240p selfie"]) == {"cuda", "cuda, device frames", "host"}


def test_gpu_check_stand_in_as_onnx_is_the_same_model(tmp_path):
    """The ONNX that gpu_check builds an FP32 engine from computes the stand-in's function (ONNX Runtime)."""
    onnx_path = gpu_check.stand_in_onnx(tmp_path / "stand_in.onnx", (16, 24))
    src = np.random.default_rng(0).random((1, 3, 16, 24), dtype=np.float32)
    with OrtCpuBackend(onnx_path) as ort:
        got = ort.infer({"src": src})["alpha"]
    np.testing.assert_allclose(got, StandIn(np, (16, 24)).infer({"src": src})["alpha"], atol=1e-6)
    if importlib.util.find_spec("tensorrt") is None:
        assert gpu_check.check_tensorrt(np, [])["status"] == "skipped"


def test_gpu_check_recurrent_stand_in_carries_its_state():
    rvm = gpu_check.RecurrentStandIn(np)
    rvm.carry_state({"r1i": "r1o", "r2i": "r2o", "r3i": "r3o", "r4i": "r4o"})
    src = np.full((1, 3, 6, 8), 0.5, np.float32)
    src[0, 0] = 0.6  # redder than grey: alpha above 1/2, which the state then raises
    feed = {"src": src, "downsample_ratio": np.array([0.5], np.float32)}
    first = rvm.infer(feed)["pha"].copy()
    second = rvm.infer(feed)["pha"].copy()
    assert not np.array_equal(first, second)  # the state moved it
    rvm.reset_state()
    np.testing.assert_array_equal(rvm.infer(feed)["pha"], first)


@pytest.mark.parametrize("with_tensorrt", [False, True])
def test_gpu_check_pytest_command_collects_gpu_tests(with_tensorrt):
    """The command gpu_check runs selects the gpu (and trt) tests: here they skip for want of a GPU."""
    cmd = gpu_check.gpu_test_command(with_tensorrt)
    assert cmd.count("-m") == 2 and cmd[cmd.index("-m", 2) + 1] == ("gpu or trt" if with_tensorrt else "gpu")
    done = subprocess.run(cmd + ["--co", "-q"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 5), done.stdout + done.stderr  # 5: nothing collected (the GPU module skips)
    assert "test_cuda_gpu.py" in done.stdout and ("test_trt_engine.py" in done.stdout) == with_tensorrt
