import importlib.util
import logging
import threading
import tracemalloc

import numpy as np
import pytest

import edgematte
from edgematte.errors import InputError, ModelError
from edgematte.pipeline import Pipeline, TemporalConfig, TrimapConfig
from edgematte.runtime.ort_cpu import OrtCpuBackend

RED, BLUE = (0, 0, 255), (255, 0, 0)  # BGR


def red_disc_frame(height=120, width=160, centre=None, radius=40):
    """A red disc (foreground for the tiny model) on blue: uint8 HxWx3 BGR."""
    import cv2

    frame = np.empty((height, width, 3), np.uint8)
    frame[...] = BLUE
    centre = centre or (width // 2, height // 2)
    cv2.circle(frame, centre, radius, RED, -1)
    return frame


@pytest.fixture
def matter(tiny_onnx):
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as m:
        yield m


def test_matter_is_exported_lazily():
    assert "Matter" in edgematte.__all__
    from edgematte.matter import Matter

    assert edgematte.Matter is Matter


def test_alpha_and_timings(matter):
    frame = red_disc_frame()
    res = matter.process(frame)
    assert res.alpha.shape == frame.shape[:2] and res.alpha.dtype == np.uint8
    assert res.trimap is None and res.foreground is None and res.composite is None
    yy, xx = np.mgrid[:120, :160]
    dist = np.hypot(xx - 80, yy - 60)
    # known regions are exact: the clamp at the model's resolution
    assert (res.alpha[dist < 20] == 255).all() and (res.alpha[dist > 50] == 0).all()
    assert set(res.timings) == {"preprocess", "model", "refine", "total"}
    assert all(v >= 0 for v in res.timings.values())
    assert res.timings["total"] >= res.timings["model"]


def test_refine_off_returns_the_upsampled_model_alpha(tiny_onnx, matter):
    import cv2

    frame = red_disc_frame()
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine=False) as m:
        res = m.process(frame)
        assert res.trimap is None and "refine" not in res.timings and "trimap" not in res.timings
    refined = matter.process(frame)
    # the guided filter moves the edge by a pixel at most on this sharp disc
    assert (np.abs(res.alpha.astype(int) - refined.alpha) > 128).mean() < 0.01
    small = cv2.resize(frame, (32, 32), interpolation=cv2.INTER_AREA)[..., ::-1] / 255.0
    expected = np.rint(255 / (1 + np.exp(-20 * (small[..., 0] - small[..., 2]))))
    got = cv2.resize(res.alpha, (32, 32), interpolation=cv2.INTER_AREA) > 127
    assert (got != (expected > 127)).mean() < 0.01  # resampling may flip a pixel on the edge


def test_refine_modes(tiny_onnx):
    frame = red_disc_frame()
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as fast:
        assert fast.pipeline.refine == "fast"
        alpha = fast.process(frame).alpha.copy()
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine=True) as full:
        assert full.pipeline.refine == "full"
        res = full.process(frame)
        assert set(np.unique(res.trimap)) == {0, 128, 255}
        # the trimap is the band around the "fast" alpha; the band is solved with it as soft prior
        from edgematte.pipeline import TrimapConfig
        from edgematte.refine import FULL

        c = TrimapConfig()
        np.testing.assert_array_equal(res.trimap, edgematte.make_trimap(alpha, c.kernel_size, c.iterations))
        solved = edgematte.refine_alpha(frame, res.trimap, prior=alpha, prior_weight=FULL.prior_weight,
                                        iterations=FULL.iterations, final_iterations=FULL.final_iterations)
        np.testing.assert_array_equal(res.alpha, np.rint(solved * 255).astype(np.uint8))
        band = res.trimap == 128
        # known regions as "fast" (whose 1s and 254s the trimap's thresholds read as known)
        assert np.abs(res.alpha[~band].astype(int) - alpha[~band]).max() <= 1
    with pytest.raises(InputError, match="refine"):
        edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="max")


def test_matting_task_skips_trimap(tiny_onnx):
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", task="matting") as m:
        res = m.process(red_disc_frame())
        assert res.trimap is None and "trimap" not in res.timings


def test_buffers_are_reused_across_frames(matter):
    first = matter.process(red_disc_frame(), (0, 255, 0))
    alpha, foreground = first.alpha, first.foreground
    second = matter.process(red_disc_frame(centre=(60, 50)), (0, 255, 0))
    assert second.alpha is alpha and second.foreground is foreground
    out = matter.replace_background(red_disc_frame(), (0, 255, 0))
    assert matter.replace_background(red_disc_frame(centre=(90, 70)), (0, 255, 0)) is out


def test_new_frame_size_gets_new_buffers(matter):
    small = matter.process(red_disc_frame(120, 160)).alpha
    large = matter.process(red_disc_frame(240, 320, radius=80)).alpha
    assert large.shape == (240, 320) and large is not small


def steady_state_peak(call, frames):
    """Bytes traced (NumPy and OpenCV arrays included) while ``call`` runs on frames[2:]."""
    for frame in frames[:2]:  # the first frames allocate the buffers
        call(frame)
    tracemalloc.start()
    try:
        for frame in frames[2:]:
            call(frame)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def moving_discs(height=360, width=640):
    return [red_disc_frame(height, width, centre=(320 + 7 * i, 180), radius=100) for i in range(4)]


@pytest.mark.parametrize("temporal", [None, 0.5])
def test_model_and_resampling_stages_allocate_nothing_frame_sized(tiny_onnx, temporal):
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", task="matting", temporal=temporal) as m:
        peak = steady_state_peak(m.process, moving_discs())
    assert peak < 360 * 640 // 4, f"{peak} bytes traced in steady state; a full uint8 plane is {360 * 640}"


@pytest.mark.parametrize("refine", ["fast", "off"])
@pytest.mark.parametrize("background", [(0, 255, 0), "blur", None, "image"])
def test_steady_state_allocates_nothing_frame_sized(tiny_onnx, background, refine):
    if background == "image":
        background = np.full((100, 200, 3), 77, np.uint8)
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine=refine) as m:
        peak = steady_state_peak(lambda frame: m.replace_background(frame, background), moving_discs())
    assert peak < 360 * 640 // 4, f"{peak} bytes traced in steady state; a full uint8 plane is {360 * 640}"


@pytest.mark.parametrize("background", [(0, 255, 0), "blur", "image", None])
def test_replace_background_skips_only_the_foreground(matter, background):
    """replace_background (keep_foreground=False) makes exactly process()'s composite, without Result.foreground."""
    import cv2

    frame = cv2.GaussianBlur(red_disc_frame(), (0, 0), 3)  # a soft edge: a band the foreground is estimated in
    frame[::7, ::5] = (0, 200, 255)  # and colours the old background did not have
    if background == "image":
        background = np.random.default_rng(4).integers(0, 256, (90, 210, 3), dtype=np.uint8)
    full = matter.process(frame, background)
    want_alpha, want_composite = full.alpha.copy(), full.composite.copy()
    assert ((want_alpha > 0) & (want_alpha < 255)).any() and (full.foreground != frame).any()  # not the raw colours
    lean = matter.pipeline.process(frame, matter._backgrounds(background), keep_foreground=False)
    assert lean.foreground is None
    np.testing.assert_array_equal(lean.alpha, want_alpha)
    np.testing.assert_array_equal(lean.composite, want_composite)
    np.testing.assert_array_equal(matter.replace_background(frame, background), want_composite)


@pytest.mark.parametrize("background", [(0, 255, 0), "blur", "image"])
def test_replace_background_blends(matter, background):
    frame = red_disc_frame()
    if background == "image":
        background = np.zeros((50, 300, 3), np.uint8)
        background[:, :150] = (0, 255, 0)  # covering crops the middle: left half green, right half black
    result = matter.process(frame, background)
    out, alpha = result.composite, result.alpha
    np.testing.assert_array_equal(matter.replace_background(frame, background), out)
    assert out.shape == frame.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[alpha == 255], frame[alpha == 255])
    if isinstance(background, tuple):
        assert (out[alpha == 0] == (0, 255, 0)).all()
    elif isinstance(background, np.ndarray):
        assert (out[:, :70][alpha[:, :70] == 0] == (0, 255, 0)).all()
        assert (out[:, 90:][alpha[:, 90:] == 0] == 0).all()
    # "fast" composites inside its one refine pass; without a background nothing is composited
    assert result.composite is not None and matter.process(frame).composite is None


def test_replace_background_none_is_bgra(matter):
    frame = red_disc_frame()
    result = matter.process(frame, None)
    out = result.composite
    assert out.shape == (120, 160, 4)
    # the colour under the alpha is the estimated foreground: the frame where opaque
    np.testing.assert_array_equal(out[..., :3], result.foreground)
    np.testing.assert_array_equal(out[..., :3][result.alpha == 255], frame[result.alpha == 255])
    np.testing.assert_array_equal(out[..., 3], result.alpha)


@pytest.mark.parametrize("background", ["stars", (1, 2), (0, 0, 300), np.zeros((4, 4), np.uint8)])
def test_bad_background_raises(matter, background):
    with pytest.raises(InputError, match="background"):
        matter.replace_background(red_disc_frame(), background)


@pytest.mark.parametrize(
    "frame",
    [np.zeros((10, 10, 2), np.uint8), np.zeros((10, 10, 5), np.uint8), np.zeros((10, 10, 3), np.float32), [[0]]],
)
def test_bad_frames_raise_input_error(matter, frame):
    with pytest.raises(InputError, match="frame .*expected.* HxWx3 uint8"):
        matter.process(frame)


def test_non_contiguous_frame_warns_and_works(matter):
    frame = red_disc_frame(120, 320)[:, ::2]
    with pytest.warns(RuntimeWarning, match="contiguous"):
        res = matter.process(frame)
    assert res.alpha.shape == (120, 160)


def test_temporal_follows_motion_at_once_and_restarts_on_a_cut(tiny_onnx):
    still = red_disc_frame()
    moved = red_disc_frame(centre=(100, 60))  # small change: no cut
    cut = np.full_like(still, 255)  # white frame: a scene cut
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine=False, temporal=0.8) as smooth, edgematte.Matter(
        tiny_onnx, backend="ort-cpu", refine=False, temporal=0
    ) as plain:
        assert not smooth.process(still).cut
        following = smooth.process(moved)
        assert not following.cut
        # the disc moved: no trailing ghost where it was, the edge is where it is now
        np.testing.assert_array_equal(following.alpha, plain.process(moved).alpha)
        after_cut = smooth.process(cut)
        assert after_cut.cut
        np.testing.assert_array_equal(after_cut.alpha, plain.process(cut).alpha)
        smooth.reset()
        restarted = smooth.process(moved)
        assert not restarted.cut
        np.testing.assert_array_equal(restarted.alpha, plain.process(moved).alpha)


def test_temporal_config_validation():
    with pytest.raises(InputError, match="strength"):
        TemporalConfig(strength=1.0)
    with pytest.raises(InputError, match="cut_threshold"):
        TemporalConfig(cut_threshold=0.0)


def test_auto_backend_falls_back_to_ort_quietly_without_tensorrt(tiny_onnx, caplog, monkeypatch):
    from edgematte.runtime import tensorrt_installed

    if tensorrt_installed():
        pytest.skip("TensorRT is installed here (or this is a Jetson), so its fallback warns")
    monkeypatch.delenv("EDGEMATTE_BACKEND", raising=False)
    monkeypatch.setattr("edgematte.runtime._fallback_logged", threading.Event())  # the warning comes once per process
    with caplog.at_level(logging.DEBUG, logger="edgematte"):
        with edgematte.Matter(tiny_onnx) as m:
            assert isinstance(m.backend, OrtCpuBackend)
    fallback = [r for r in caplog.records if "ONNX Runtime" in r.getMessage()]
    assert fallback and all(r.levelno == logging.DEBUG for r in fallback)  # nothing was tried: a debug line


def test_backend_object_and_dynamic_model_input_size(tiny_onnx):
    backend = OrtCpuBackend(tiny_onnx.parent / "tiny_seg_dynamic.onnx")
    with pytest.raises(InputError, match="input_size"):
        edgematte.Matter(tiny_onnx.parent / "tiny_seg_dynamic.onnx", backend=backend)
    with edgematte.Matter(tiny_onnx.parent / "tiny_seg_dynamic.onnx", backend=backend, input_size=(48, 64)) as m:
        assert m.pipeline.model_hw == (48, 64)
        assert m.process(red_disc_frame()).alpha.shape == (120, 160)


def test_model_errors(tmp_path, tiny_onnx):
    with pytest.raises(ModelError, match="not a file"):
        edgematte.Matter(tmp_path / "absent.onnx")
    with pytest.raises(InputError, match="expected one of"):
        edgematte.Matter("no-such-model", backend="ort-cpu")
    with pytest.raises(ModelError, match="edgematte export modnet"):
        edgematte.Matter("modnet", backend="ort-cpu")  # a PyTorch row: exported first, then passed as a file
    with pytest.raises(InputError, match="backend"):
        edgematte.Matter(tiny_onnx, backend="gpu-please")
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"")
    with pytest.raises(InputError, match="engine"):
        edgematte.Matter(engine, backend="ort-cpu")


def test_pipeline_rejects_bad_task(tiny_onnx):
    with OrtCpuBackend(tiny_onnx) as backend:
        with pytest.raises(InputError, match="task"):
            Pipeline(backend, task="detection")
        pipe = Pipeline(backend, trimap=TrimapConfig(kernel_size=3, iterations=1))
        assert pipe.process(red_disc_frame()).trimap.shape == (120, 160)


def test_real_model_mattes_the_astronaut(shared_data, pp_humanseg_onnx):
    from edgematte.io import read_image

    image = read_image(shared_data / "portraits" / "astronaut.png")
    with edgematte.Matter(pp_humanseg_onnx, backend="ort-cpu", refine="fast") as m:
        alpha = m.process(image).alpha
    h, w = alpha.shape
    assert alpha[int(0.25 * h), w // 2] == 255  # her face
    assert alpha[int(0.45 * h) : int(0.7 * h), int(0.2 * w) : int(0.6 * w)].mean() > 180  # her suit
    assert alpha[:, int(0.9 * w) :].mean() < 60  # the right edge is background
    assert alpha[int(0.05 * h), int(0.95 * w)] == 0  # top-right corner: background
    assert 0.25 < (alpha > 127).mean() < 0.8


def test_default_model_is_selfie_and_mattes_the_astronaut(selfie_env, shared_data):
    from edgematte.io import read_image

    image = read_image(shared_data / "portraits" / "astronaut.png")
    with edgematte.Matter() as m:
        assert m.pipeline.model_hw == (256, 256) and m.pipeline.task == "segmentation"
        res = m.process(image)
        alpha = res.alpha
        h, w = alpha.shape
        assert alpha[int(0.25 * h), w // 2] == 255  # her face
        assert alpha[int(0.45 * h) : int(0.7 * h), int(0.2 * w) : int(0.6 * w)].mean() > 240  # her suit
        assert alpha[: int(0.4 * h), int(0.85 * w) :].mean() < 10  # the rocket behind her is background
        assert set(np.unique(res.trimap)) == {0, 128, 255}
        green = m.replace_background(image, (64, 177, 0))
        assert tuple(green[10, w - 10]) == (64, 177, 0)


def test_pipeline_fills_the_backends_own_input_buffer(tiny_onnx):
    class PinnedInput(OrtCpuBackend):
        """ONNX Runtime plus the input_buffer() hook TensorRT offers for page-locked inputs."""

        def input_buffer(self, name, shape):
            self.buffer = np.zeros(shape, np.float32)
            return self.buffer

    with edgematte.Matter(tiny_onnx, backend=PinnedInput(tiny_onnx)) as m:
        frame = red_disc_frame()
        res = m.process(frame)
        assert m.backend.buffer[0, 0].max() == 1.0  # the red channel of the resized frame, 0..1
    with edgematte.Matter(tiny_onnx, backend="ort-cpu") as plain:
        np.testing.assert_array_equal(plain.process(frame).alpha, res.alpha)


def test_fast_refinement_equals_its_numpy_definition(tiny_onnx):
    """The fused "fast" pass against its NumPy twin, on the pipeline's own buffers (alpha, foreground, composite)."""
    import cv2

    from edgematte.kernels import _guided_reference as ref
    from edgematte.refine import FAST

    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as m:
        b = m.pipeline._buffers_for(frame.shape[:2])
        model_alpha = np.clip(rng.random(b.small.shape[:2], dtype=np.float32) * 1.4 - 0.2, 0, 1)
        b.small[...] = rng.integers(0, 256, b.small.shape)
        alpha, fg, comp = m.pipeline._fast(frame, model_alpha, b, (10, 200, 30))
    fh, fw = b.fit_alpha.shape
    assert (fh, fw) == (b.small.shape[0] // FAST.scale, b.small.shape[1] // FAST.scale)
    fit_image = cv2.resize(b.small, (fw, fh), interpolation=cv2.INTER_AREA)
    fit_alpha = cv2.resize(model_alpha, (fw, fh), interpolation=cv2.INTER_AREA)
    coef = ref.guided_coefficients(fit_image, fit_alpha, FAST.radius, FAST.mean_radius, FAST.eps, FAST.known_radius)
    blurs = ref.foreground_blurs(fit_image, fit_alpha, FAST.foreground_radius, FAST.foreground_small_radius)
    want_alpha, want_fg, want_comp = ref.guided_apply(coef, blurs, frame, None, (10, 200, 30))
    assert np.abs(alpha.astype(int) - want_alpha).max() <= 1
    assert np.abs(fg.astype(int) - want_fg).max() <= 2
    assert np.abs(comp.astype(int) - want_comp).max() <= 2


@pytest.mark.parametrize("bad", [dict(kernel_size=4), dict(iterations=0), dict(fg_threshold=1, bg_threshold=1)])
def test_trimap_config_is_checked_once_at_construction(bad):
    with pytest.raises(InputError):
        TrimapConfig(**bad)


def test_bench_baseline_still_runs_in_the_pipeline(monkeypatch):
    """bench/test_pipeline.py's PreviousFast (the speed baseline) still fits Pipeline's stages, so the
    benchmarks, which the suite does not run, keep measuring."""
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "bench"
    monkeypatch.syspath_prepend(str(bench))  # its own imports: quality, conftest-free
    spec = importlib.util.spec_from_file_location("bench_test_pipeline", bench / "test_pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from quality import LowResSegmenter

    frame = module._frame(160, 120)
    for cls in (Pipeline, module.PreviousFast):
        result = cls(LowResSegmenter(module._soft_disc(64)), refine="fast").process(frame, (0, 255, 0))
        assert result.composite.shape == frame.shape and result.alpha.shape == frame.shape[:2]


def test_refine_off_turns_the_model_alpha_into_uint8_by_the_float_alpha_rule(tiny_onnx):
    """NaN, infinities and values outside 0..1 from a model follow edgematte's rule, not OpenCV's."""
    from alpha_rule import EXPECTED, VALUES

    class Special(OrtCpuBackend):
        def infer(self, feed, *, validate=True):
            out = dict(super().infer(feed, validate=validate))
            alpha = out["alpha"].copy()
            alpha.reshape(-1)[: VALUES.size] = VALUES
            out["alpha"] = alpha
            return out

    with edgematte.Matter(tiny_onnx, backend=Special(tiny_onnx), refine=False) as m:
        alpha = m.process(np.zeros((32, 32, 3), np.uint8)).alpha  # the model's size: the upsampling is a copy
    np.testing.assert_array_equal(alpha.reshape(-1)[: VALUES.size], EXPECTED)
