"""The device pipeline's CPU-side logic, and how Matter picks a pipeline.

No GPU runs here. The device pipeline's stage code runs in the NumPy space with the CPU kernels
(:class:`HostSpace`) and must give exactly the CPU ``Pipeline``'s results. This checks its logic,
buffer plan, stage order, dispatch and resize rules. It does not check the CUDA kernels or CuPy:
``bench/gpu_check.py`` does that on a GPU.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgematte
from edgematte.device_pipeline import (
    DevicePipeline,
    HostSpace,
    _LinearWork,
    _quantize,
    check_device_frame,
    is_device_frame,
    linear_plan,
    resize_linear_u8,
    select_pipeline,
    takes_device_arrays,
)
from edgematte.errors import BackendUnavailableError, InputError
from edgematte.pipeline import NO_COMPOSITE, Pipeline, TemporalConfig
from edgematte.runtime.ort_cpu import OrtCpuBackend
from edgematte.types import TensorSpec

cv2 = pytest.importorskip("cv2")
REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gpu_check", REPO / "bench" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)
StandIn = gpu_check.StandInBackend


# -- the resize and rounding rules the CUDA path shares ---------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    src=st.tuples(st.integers(1, 90), st.integers(1, 90)),
    dst=st.tuples(st.integers(1, 200), st.integers(1, 200)),
    channels=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_resize_rule_is_opencvs_inter_linear(src, dst, channels, seed):
    shape = src + ((3,) if channels == 3 else ())
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    out = np.empty(dst + shape[2:], np.uint8)
    resize_linear_u8(np, image, out, _LinearWork(np, linear_plan(np, src, dst, channels)))
    np.testing.assert_array_equal(out, cv2.resize(image, dst[::-1], interpolation=cv2.INTER_LINEAR))


@pytest.mark.parametrize("shape", [(720, 1280), (1081, 1919), (270, 480)])
def test_halving_reads_the_top_left_even_crop(shape):
    frame = np.random.default_rng(1).integers(0, 256, shape + (3,), dtype=np.uint8)
    hh, hw = shape[0] // 2, shape[1] // 2
    out = np.empty((hh, hw, 3), np.uint8)
    resize_linear_u8(np, frame, out, _LinearWork(np, linear_plan(np, (2 * hh, 2 * hw), (hh, hw), 3)))
    box = frame[: 2 * hh, : 2 * hw].astype(np.int32).reshape(hh, 2, hw, 2, 3).sum((1, 3))
    np.testing.assert_array_equal(out, (box + 2) >> 2)  # the rounded 2x2 mean
    np.testing.assert_array_equal(out, cv2.resize(frame[: 2 * hh, : 2 * hw], (hw, hh), interpolation=cv2.INTER_LINEAR))


#: float alpha -> uint8: edgematte's own rule (NaN -> 0, clamp to 0..1, round half to even), not a library's
QUANTIZED = [
    (np.nan, 0), (-np.inf, 0), (np.inf, 255), (1e30, 255), (-1e30, 0), (-0.01, 0), (-2.0, 0), (1.2, 255),
    (0.0, 0), (1.0, 255), (0.5 / 255, 0), (1.5 / 255, 2), (2.5 / 255, 2), (3.5 / 255, 4), (0.5, 128),
    (253.5 / 255, 254), (254.5 / 255, 254),
]


def test_quantize_follows_the_promised_rule():
    values = np.array([v for v, _ in QUANTIZED], np.float32)
    got = _quantize(np, values, np.empty_like(values), np.empty(values.shape, np.uint8))
    np.testing.assert_array_equal(got, [q for _, q in QUANTIZED])


def test_quantize_is_round_half_even_of_alpha_times_255_in_0_1():
    values = np.random.default_rng(2).random((64, 64), dtype=np.float32)
    values[0, :4] = [0.0, 1.0, np.float32(0.5 / 255), np.float32(2.5 / 255)]
    got = _quantize(np, values, np.empty_like(values), np.empty(values.shape, np.uint8))
    np.testing.assert_array_equal(got, np.rint(values * np.float32(255)).astype(np.uint8))


# -- results identical to Pipeline ------------------------------------------------------------------
def clip_frames(shared_data, hw=None, count=4, name="asl_book.mkv"):
    capture = cv2.VideoCapture(str(shared_data / "videos" / name))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame if hw is None else cv2.resize(frame, hw[::-1], interpolation=cv2.INTER_CUBIC))
    capture.release()
    if not frames:
        pytest.skip(f"{name} does not decode here")
    return frames


def assert_same_results(frames, background=NO_COMPOSITE, backend=None, **setting):
    """Both pipelines over ``frames``; every Result field equal; returns the last device Result."""
    make = backend or (lambda: StandIn(np))
    host = Pipeline(make(), **setting)
    device = DevicePipeline(make(), space=HostSpace(), **setting)
    for frame in frames:
        want = host.process(frame, background)
        got = device.process(frame, background)
        for name in ("alpha", "trimap", "foreground", "composite"):
            w, g = getattr(want, name), getattr(got, name)
            assert (w is None) == (g is None), name
            if w is not None:
                np.testing.assert_array_equal(g, w, err_msg=name)
        assert got.cut == want.cut
        assert list(got.timings)[1:] == list(want.timings)  # same stages, in order, after "upload"
    return got


SETTINGS = {
    "fast": dict(refine="fast"),
    "off": dict(refine="off"),
    "matting": dict(task="matting"),
    "temporal": dict(refine="fast", temporal=TemporalConfig(strength=0.3, cut_threshold=0.05)),
}
BACKGROUNDS = {"none": NO_COMPOSITE, "colour": (0, 177, 64), "bgra": None, "blur": "blur", "image": "image"}


@pytest.mark.parametrize("background", sorted(BACKGROUNDS))
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_real_frames_match_the_cpu_pipeline(shared_data, setting, background):
    frames = clip_frames(shared_data, count=3)  # 640x480: one halving, then bilinear to 256x256
    if setting == "temporal":  # a scene cut: another clip follows
        frames += clip_frames(shared_data, count=2, name="asl_milk.mkv")
    bg = BACKGROUNDS[background]
    if bg == "image":
        bg = clip_frames(shared_data, count=1, name="asl_eat.mkv")[0][100:400, 50:600]
    result = assert_same_results(frames, bg, **SETTINGS[setting])
    soft = np.count_nonzero((result.alpha > 0) & (result.alpha < 255))
    assert soft > 1000, "the stand-in model should leave a soft edge to compare"
    if result.trimap is not None:
        assert np.count_nonzero(result.trimap == 128) > 1000


def test_real_720p_frames_with_a_wide_model(shared_data):
    frames = clip_frames(shared_data, hw=(720, 1280), count=2)  # halving to 360x640, then to 144x256
    assert_same_results(frames, (0, 255, 0), backend=lambda: StandIn(np, (144, 256)), refine="fast")
    assert_same_results(frames, "blur", backend=lambda: StandIn(np, (144, 256)), refine="off")


@pytest.mark.parametrize("refine", ["fast", "off"])
def test_frames_with_their_own_alpha(refine):
    """Pipeline multiplies the frame's alpha (BGRA input) into the matte; so does the device pipeline."""
    frames = gpu_check.synthetic_frames((120, 160), 2, seed=11)
    own = np.random.default_rng(4).integers(0, 256, (120, 160), dtype=np.uint8)
    host = Pipeline(StandIn(np), refine=refine)
    device = DevicePipeline(StandIn(np), space=HostSpace(), refine=refine)
    for frame in frames:
        want = host.process(frame, (0, 255, 0), input_alpha=own)
        got = device.process(frame, (0, 255, 0), input_alpha=own)
        np.testing.assert_array_equal(got.alpha, want.alpha)
        np.testing.assert_array_equal(got.composite, want.composite)
    assert np.count_nonzero((got.alpha > 0) & (got.alpha < 255)) > 1000


def test_uint8_product_rule_is_cv2_multiply_for_every_pair():
    a = np.repeat(np.arange(256, dtype=np.uint8), 256).reshape(256, 256)
    b = np.ascontiguousarray(a.T)
    product = (a.astype(np.uint16) * b + 127) // 255
    np.testing.assert_array_equal(product.astype(np.uint8), cv2.multiply(a, b, scale=1.0 / 255.0))


def test_temporal_cut_is_detected_alike(shared_data):
    frames = clip_frames(shared_data, count=2) + clip_frames(shared_data, count=2, name="asl_milk.mkv")
    device = DevicePipeline(StandIn(np), space=HostSpace(), temporal=TemporalConfig(cut_threshold=0.05))
    cuts = [device.process(f).cut for f in frames]
    assert cuts == [False, False, True, False]


@pytest.mark.parametrize("hw", [(121, 161), (479, 639), (300, 200), (60, 80), (9, 7)])
def test_synthetic_frames_of_odd_sizes(hw):
    """Odd sides (crop before halving), frames under twice the model size (INTER_AREA) and under it."""
    frames = gpu_check.synthetic_frames(hw, 2, seed=sum(hw))
    image = gpu_check.synthetic_frames((50, 70), 1, seed=4)[0]
    for background in [(255, 0, 0), None, "blur", image]:
        assert_same_results(frames, background, refine="fast")


def test_onnx_backend_and_full_refinement(tiny_onnx):
    frames = gpu_check.synthetic_frames((90, 120), 2, seed=3)
    backend = lambda: OrtCpuBackend(tiny_onnx).open()  # noqa: E731
    for refine in ("full", "fast", "off"):
        assert_same_results(frames, (0, 255, 0), backend=backend, refine=refine)


def test_dynamic_model_input_size(tiny_onnx):
    dynamic = tiny_onnx.with_name("tiny_seg_dynamic.onnx")
    frames = gpu_check.synthetic_frames((200, 300), 2, seed=5)
    assert_same_results(frames, None, backend=lambda: OrtCpuBackend(dynamic).open(), input_size=(48, 80))


# -- buffer plan and stage order --------------------------------------------------------------------
def test_buffers_are_planned_once_per_size_and_results_are_the_buffers():
    device = DevicePipeline(StandIn(np), space=HostSpace(), refine="fast")
    frames = gpu_check.synthetic_frames((240, 320), 3)
    first = device.process(frames[0], (0, 0, 0))
    b = device._local.buffers
    assert b.frame is None  # the NumPy space reads host frames in place: no upload buffer
    assert len(b.halves) == 0 and b.small_work.plan.src_hw == (240, 320)  # under twice 256x256: one bilinear step
    second = device.process(frames[1], (0, 0, 0))
    assert device._local.buffers is b
    assert second.alpha is first.alpha is b.alpha and second.composite is b.out3
    assert second.trimap is None and second.foreground is b.foreground  # "fast": no trimap, a foreground
    bgra = device.process(frames[2], None)
    assert bgra.composite is b.out4 and bgra.composite.shape == (240, 320, 4)
    device.process(gpu_check.synthetic_frames((1080, 1920), 1)[0][:600, :1100])  # a new size
    assert device._local.buffers is not b
    assert [h.shape for h in device._local.buffers.halves] == [(300, 550, 3)]


@pytest.mark.parametrize("refine", ["fast", "off"])
@pytest.mark.parametrize("background", [(0, 255, 0), "blur", None, "image"])
def test_steady_state_allocates_nothing_frame_sized(background, refine):
    import tracemalloc

    if background == "image":
        background = np.full((100, 200, 3), 77, np.uint8)
    device = DevicePipeline(StandIn(np, (32, 32)), space=HostSpace(), refine=refine, temporal=TemporalConfig())
    frames = gpu_check.synthetic_frames((720, 1280), 3)
    for frame in frames[:2]:  # the first frames make the buffers
        device.process(frame, background)
    tracemalloc.start()
    try:
        for frame in frames[2:]:
            device.process(frame, background)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # what remains is NumPy's fixed-size casting buffers (8192 elements per operand) and model-size arrays
    assert peak < 720 * 1280 // 8, f"{peak} bytes traced in steady state; a full uint8 plane is {720 * 1280}"


def test_refine_off_gives_the_upsampled_alpha_and_no_trimap():
    device = DevicePipeline(StandIn(np), space=HostSpace(), refine=False)
    res = device.process(gpu_check.synthetic_frames((120, 160), 1)[0])
    assert res.trimap is None and res.alpha is device._local.buffers.raw_alpha
    assert list(res.timings) == ["upload", "preprocess", "model", "upsample", "total"]


def test_the_binding_is_the_backends_input_buffer_when_offered():
    class OwnInput(StandIn):
        def input_buffer(self, name, shape):
            self.buffer = np.zeros(shape, np.float32)
            return self.buffer

    backend = OwnInput(np)
    device = DevicePipeline(backend, space=HostSpace())
    device.process(gpu_check.synthetic_frames((120, 160), 1)[0])
    assert device._src is backend.buffer and backend.buffer.max() > 0.5


# -- recurrent state (RVM's r*i -> r*o) -------------------------------------------------------------
class Recurrent(StandIn):
    """alpha = (sigmoid(w . src + b) + h) / 2 and h_next = alpha: the state visibly carries over."""

    def __init__(self, xp, input_hw=(32, 32)):
        super().__init__(xp, input_hw)
        h, w = input_hw
        self.inputs += (TensorSpec("h", (1, 1, None, None), "float32"),)
        self.outputs += (TensorSpec("h_next", (1, 1, h, w), "float32"),)
        self.fed = []

    def infer(self, feed, *, validate=True):
        state = np.asarray(feed["h"])
        self.fed.append(state.copy())
        alpha = super().infer(feed)["alpha"]
        alpha += state  # broadcasts the [1,1,1,1] start state
        alpha *= np.float32(0.5)
        return {"alpha": alpha, "h_next": alpha}


def test_recurrent_states_are_fed_back_and_reset():
    backend = Recurrent(np)
    device = DevicePipeline(backend, space=HostSpace(), refine="off", recurrent={"h": "h_next"})
    frame = gpu_check.synthetic_frames((64, 64), 1)[0]
    first = device.process(frame).alpha.copy()
    second = device.process(frame).alpha.copy()
    assert backend.fed[0].shape == (1, 1, 1, 1) and not backend.fed[0].any()  # zeros, dynamic axes 1
    assert backend.fed[1].shape == (1, 1, 32, 32) and backend.fed[1].any()  # the last output, fed back
    assert device._states["h"] is not backend._out  # a copy: the backend reuses its output buffer
    assert not np.array_equal(first, second)
    device.reset()
    np.testing.assert_array_equal(device.process(frame).alpha, first)


def test_unknown_recurrent_names_are_refused():
    with pytest.raises(InputError, match=r"recurrent names \['h9'\]"):
        DevicePipeline(Recurrent(np), space=HostSpace(), recurrent={"h9": "h_next"})


def test_robust_video_matting_stays_on_the_cpu_pipeline(tmp_path, caplog):
    sys.path.insert(0, str(REPO / "tests"))
    from rvm_graphs import counting_rvm

    class DeviceOrt(OrtCpuBackend):
        device_inputs = True  # what TensorRT declares; CuPy is what is missing here

    with DeviceOrt(counting_rvm(tmp_path / "rvm.onnx")) as rvm:
        with pytest.raises(InputError, match="RobustVideoMatting model; expected another model"):
            DevicePipeline(rvm, space=HostSpace())
        with caplog.at_level(logging.WARNING, logger="edgematte"):
            pipeline = select_pipeline(rvm, downsample_ratio=0.5)
        assert type(pipeline) is Pipeline and pipeline.rvm is not None
        assert "RobustVideoMatting runs its own model step on the host" in caplog.text
    with pytest.raises(InputError, match="downsample_ratio=0.5 .* only for RobustVideoMatting"):
        DevicePipeline(StandIn(np), space=HostSpace(), downsample_ratio=0.5)


# -- selection and error paths ----------------------------------------------------------------------
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
    assert is_device_frame(CudaArrayLike()) and is_device_frame(DlpackCuda())
    assert not is_device_frame(np.zeros((2, 2, 3), np.uint8))
    assert not is_device_frame(torch.zeros(2, 2, 3, dtype=torch.uint8))  # a CPU tensor
    assert not is_device_frame([1, 2, 3])


def test_selection_by_backend(tiny_onnx, caplog):
    with OrtCpuBackend(tiny_onnx) as ort:
        assert not takes_device_arrays(ort) and type(select_pipeline(ort)) is Pipeline
    from edgematte.runtime.trt import TrtBackend

    assert takes_device_arrays(TrtBackend("model.plan"))  # construction is cheap: no TensorRT needed
    assert takes_device_arrays(type("Flagged", (), {"device_inputs": True})())
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here: the no-CuPy fallback is not reachable")
    gpu_backend = StandIn(np)
    gpu_backend.device_inputs = True
    with caplog.at_level(logging.WARNING, logger="edgematte"):
        pipeline = select_pipeline(gpu_backend, refine="fast")
    assert type(pipeline) is Pipeline
    assert "stages around the model run on the CPU" in caplog.text and "CuPy" in caplog.text


def test_matter_picks_the_device_pipeline_when_the_cuda_space_starts(tiny_onnx, monkeypatch):
    """CuPy cannot run here: a NumPy space flagged as a device stands in for CudaSpace, so this checks
    Matter's choice and its host-frame path through the device pipeline (upload and download buffers)."""
    import edgematte.device_pipeline as dp

    class DeviceSpace(HostSpace):
        device = True

    class DeviceOrt(OrtCpuBackend):
        device_inputs = True

    monkeypatch.setattr(dp, "CudaSpace", DeviceSpace)
    frame = gpu_check.synthetic_frames((90, 120), 1)[0]
    with edgematte.Matter(tiny_onnx, backend=DeviceOrt(tiny_onnx), refine="fast") as m, \
            edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as cpu:
        assert type(m.pipeline) is DevicePipeline and isinstance(m.pipeline.space, DeviceSpace)
        got, want = m.process(frame, (0, 255, 0)), cpu.process(frame, (0, 255, 0))
        assert m.pipeline._local.buffers.frame is not None  # the host frame went through the upload buffer
        np.testing.assert_array_equal(got.composite, want.composite)
        np.testing.assert_array_equal(got.alpha, want.alpha)
        assert list(got.timings)[:2] == ["upload", "preprocess"]


def test_matter_picks_the_cpu_pipeline_and_refuses_device_frames(tiny_onnx):
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as m:
        assert type(m.pipeline) is Pipeline
        for frame in (CudaArrayLike(), DlpackCuda()):
            with pytest.raises(InputError, match=r"received a device frame .* runs its stages on the CPU \(backend "
                                                 r"OrtCpuBackend\); expected a NumPy"):
                m.process(frame)


def test_device_frames_are_refused_by_the_host_space():
    pipeline = DevicePipeline(StandIn(np), space=HostSpace())
    with pytest.raises(InputError, match="runs its stages on the CPU"):
        check_device_frame(CudaArrayLike(), pipeline)
    with pytest.raises(InputError, match="in the host space; expected a NumPy array"):
        pipeline.process(CudaArrayLike())


def test_a_host_only_backend_is_refused_for_a_device_space(tiny_onnx):
    class DeviceSpace(HostSpace):  # only the flag: the check runs before any array is made
        device = True

    with OrtCpuBackend(tiny_onnx) as ort, pytest.raises(InputError, match="OrtCpuBackend, which reads host arrays"):
        DevicePipeline(ort, space=DeviceSpace())


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cuda_space_without_cupy_names_the_install():
    with pytest.raises(BackendUnavailableError, match="needs CuPy .* pip install cupy-cuda12x"):
        DevicePipeline(StandIn(np))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(results="gpu"), "results='gpu'"),
        (dict(task="depth"), "task 'depth'"),
        (dict(refine="medium"), "refine='medium'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        DevicePipeline(StandIn(np), space=HostSpace(), **kwargs)


def test_device_pipeline_refuses_integer_model_inputs():
    backend = StandIn(np)
    backend.inputs = (TensorSpec("src", (1, 3, 8, 8), "uint8"),)
    with pytest.raises(InputError, match="dtype uint8; expected float32 or float16"):
        DevicePipeline(backend, space=HostSpace())


# -- the GPU check script ---------------------------------------------------------------------------
def test_stand_in_model_is_its_formula():
    backend = StandIn(np, (4, 5))
    src = np.random.default_rng(0).random((1, 3, 4, 5), dtype=np.float32)
    logit = 9 * src[0, 0] + src[0, 1] - 9 * src[0, 2] - 0.5
    np.testing.assert_allclose(backend.infer({"src": src})["alpha"][0, 0], 1 / (1 + np.exp(-logit)), rtol=1e-6)


def test_gpu_check_steps_run_in_a_cpu_dry_run(tmp_path):
    """The script's own plumbing (checks, table, JSON) with NumPy standing in for CuPy: no GPU involved."""
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--cpu-dry-run", "--runs", "2",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no GPU is checked" in done.stdout and "all checks passed" in done.stdout
    assert done.stdout.count("wall clock per frame") == 2
    import json

    report = json.loads(out.read_text())
    assert report["resize_rule"]["status"] == report["kernels_direct"]["status"] == "passed"
    assert all(r["passed"] for size in report["pipeline"].values() for r in size["rows"])
    assert set(report["timings"]["240p"]) == {"host", "host, device frames", "cpu"}


# -- the fused CUDA kernels' bodies, compiled as plain C ---------------------------------------------
_HARNESS = r"""
void run(const unsigned char *src, const long long *x0, const long long *x1, const int *ax0, const int *ax1,
         const long long *y0, const long long *y1, const int *by0, const int *by1, long long cols_in,
         long long cols_out, unsigned char *out, long long n)
{
    for (long long i = 0; i < n; ++i) {
        unsigned char dst;
        BODY
        out[i] = dst;
    }
}
"""


@pytest.fixture(scope="module")
def resize_body_in_c(tmp_path_factory):
    """CudaSpace's elementwise resize body (edgematte.device_pipeline._RESIZE_BODY) in a C loop, via gcc.

    This checks the body's arithmetic and indexing on the CPU; CuPy's compilation of it runs only
    on a GPU (bench/gpu_check.py)."""
    import ctypes
    import shutil

    from edgematte.device_pipeline import _RESIZE_BODY

    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler here")
    folder = tmp_path_factory.mktemp("body")
    (folder / "body.c").write_text(_HARNESS.replace("BODY", _RESIZE_BODY))
    subprocess.run([gcc, "-O1", "-shared", "-fPIC", "-o", str(folder / "body.so"), str(folder / "body.c")], check=True)
    return ctypes.CDLL(str(folder / "body.so")).run


@pytest.mark.parametrize("src, dst, channels", [((256, 256), (720, 1280), 1), ((360, 640), (256, 256), 3),
                                                 ((97, 131), (301, 77), 3), ((1, 1), (3, 5), 1)])
def test_fused_resize_body_computes_the_twin(resize_body_in_c, src, dst, channels):
    import ctypes

    image = np.random.default_rng(7).integers(0, 256, src + ((3,) if channels == 3 else ()), dtype=np.uint8)
    plan = linear_plan(np, src, dst, channels)
    want = np.empty(dst + image.shape[2:], np.uint8)
    resize_linear_u8(np, image, want, _LinearWork(np, plan))
    rows = np.ascontiguousarray(image.reshape(src[0], -1))
    got = np.zeros_like(want)
    ptr = lambda a: ctypes.c_void_p(a.ctypes.data)  # noqa: E731
    arrays = [rows, plan.x0, plan.x1, plan.ax0, plan.ax1, plan.y0, plan.y1, plan.by0, plan.by1]
    assert [a.dtype for a in arrays[1:]] == [np.int64, np.int64, np.int32, np.int32, np.int64, np.int64, np.int32, np.int32]
    cols_out = dst[1] * channels
    resize_body_in_c(*map(ptr, arrays), ctypes.c_longlong(rows.shape[1]), ctypes.c_longlong(cols_out), ptr(got),
                     ctypes.c_longlong(got.size))
    np.testing.assert_array_equal(got, want)


def test_gpu_check_stand_in_as_onnx_is_the_same_model(tmp_path):
    """The ONNX that gpu_check builds an FP32 engine from computes the stand-in's function (ONNX Runtime)."""
    onnx_path = gpu_check.stand_in_onnx(tmp_path / "stand_in.onnx", (16, 24))
    src = np.random.default_rng(0).random((1, 3, 16, 24), dtype=np.float32)
    with OrtCpuBackend(onnx_path) as ort:
        got = ort.infer({"src": src})["alpha"]
    np.testing.assert_allclose(got, StandIn(np, (16, 24)).infer({"src": src})["alpha"], atol=1e-6)
    if importlib.util.find_spec("tensorrt") is None:
        assert gpu_check.check_tensorrt(np, [])["status"] == "skipped"


@pytest.mark.parametrize("with_tensorrt", [False, True])
def test_gpu_check_pytest_command_collects_gpu_tests(with_tensorrt):
    """The command gpu_check runs selects the gpu (and trt) tests: here they skip for want of a GPU."""
    cmd = gpu_check.gpu_test_command(with_tensorrt)
    assert cmd.count("-m") == 2 and cmd[cmd.index("-m", 2) + 1] == ("gpu or trt" if with_tensorrt else "gpu")
    done = subprocess.run(cmd + ["--co", "-q"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 5), done.stdout + done.stderr  # 5: nothing collected (the GPU module skips)
    assert "test_cuda_gpu.py" in done.stdout and ("test_trt_engine.py" in done.stdout) == with_tensorrt


_APPLY_HARNESS = r"""
#include <math.h>
#define MUL(a, b) ((a) * (b))
#define ADD(a, b) ((a) + (b))
#define SUB(a, b) ((a) - (b))
#define DIV(a, b) ((a) / (b))
#define RINT(v) ((int)rintf(v))
void run(const float *coef, const float *blurs, const unsigned char *image, const int *xa, const int *xb,
         const float *wx, const int *ya, const int *yb, const float *wy, int w, long long plane, int out_w,
         int with_blurs, unsigned char *alpha_out, unsigned char *fg, long long n)
{
    for (long long i = 0; i < n; ++i) {
        unsigned char alpha;
        BODY
        alpha_out[i] = alpha;
    }
}
"""


@pytest.mark.parametrize("fit, frame_hw", [((128, 128), (720, 1280)), ((64, 96), (361, 643)), ((5, 7), (40, 30))])
def test_fused_fast_pass_body_is_bit_exact_to_the_native_pass(tmp_path, fit, frame_hw):
    """CudaSpace's "fast" body (_APPLY_BODY) compiled as C without FMA contraction, against the native
    em_guided_apply: alpha and foreground identical. CuPy's compilation of it runs only on a GPU."""
    import ctypes
    import shutil

    from edgematte.device_pipeline import _APPLY_BODY, lerp_tables, variance_ratio_define
    from edgematte.kernels import native

    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler here")
    (tmp_path / "apply.c").write_text(variance_ratio_define() + _APPLY_HARNESS.replace("BODY", _APPLY_BODY))
    subprocess.run([gcc, "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(tmp_path / "apply.so"),
                    str(tmp_path / "apply.c"), "-lm"], check=True)
    run = ctypes.CDLL(str(tmp_path / "apply.so")).run
    guided = native("_guided")
    rng = np.random.default_rng(sum(fit))
    (h, w), (H, W) = fit, frame_hw
    small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    small_alpha = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), 3)
    coef, blurs = np.empty((4, h, w), np.float32), np.empty((6, h, w), np.float32)
    guided.guided_coefficients(small, small_alpha, coef, 4, 2, 1e-4, 1, 1, None)
    guided.foreground_blurs(small, small_alpha, blurs, 8, 1, 1, None)
    image = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)
    want_a, want_f = np.empty((H, W), np.uint8), np.empty((H, W, 3), np.uint8)
    guided.guided_apply(coef, blurs, image, want_a, want_f, None, None, None, 1)
    (xa, xb, wx), (ya, yb, wy) = lerp_tables(W, w), lerp_tables(H, h)
    got_a, got_f = np.zeros_like(want_a), np.zeros_like(want_f)
    ptr = lambda a: ctypes.c_void_p(a.ctypes.data)  # noqa: E731
    run(*map(ptr, (coef, blurs, image, xa, xb, wx, ya, yb, wy)), ctypes.c_int(w), ctypes.c_longlong(h * w),
        ctypes.c_int(W), ctypes.c_int(1), ptr(got_a), ptr(got_f), ctypes.c_longlong(H * W))
    np.testing.assert_array_equal(got_a, want_a)
    np.testing.assert_array_equal(got_f, want_f)
    assert np.count_nonzero((want_a > 0) & (want_a < 255)) > H * W // 20
