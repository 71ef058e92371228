"""The temporal stage (edgematte.temporal.Temporal): restarts, the running-mean start, several outputs, and
what it does in the pipeline."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import edgematte
from edgematte.edges import EdgeConfig
from edgematte.errors import InputError
from edgematte.kernels import _temporal_reference as ref
from edgematte.pipeline import Pipeline, TemporalConfig
from edgematte.pipeline.host import HostSpace
from edgematte.temporal import MOVING_LEVELS, STILL_LEVELS, Temporal
from edgematte.types import TensorSpec


class Stage:
    """A Temporal in the host space with its own thread buffers."""

    def __init__(self, strength=0.95):
        self.t, self.s, self.b = Temporal(TemporalConfig(strength)), HostSpace(), SimpleNamespace(temporal=None)

    def weigh(self, guide, restart=False):
        self.t.weigh(self.s, guide, self.b, restart)

    def smooth(self, name, values, known=False):
        return self.t.smooth(self.s, name, values, self.b, known)


def _frames(n, h=12, w=16, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 200, (h, w, 3), dtype=np.uint8)
    return [base.copy() for _ in range(n)], [rng.random((2, h, w), dtype=np.float32) for _ in range(n)]


def test_a_still_picture_gives_the_running_mean_then_the_strength():
    guides, values = _frames(6)
    s = Stage(strength=0.6)
    out = []
    for g, v in zip(guides, values):
        s.weigh(g)
        out.append(s.smooth("coef", v).copy())
    np.testing.assert_array_equal(out[0], values[0])  # the first frame as it is
    np.testing.assert_allclose(out[1], (values[0] + values[1]) / 2, rtol=1e-6)  # weight 1/2
    expected = out[1]
    for n in range(2, 6):
        w = min(0.6, n / (n + 1))  # 0.6 from the third frame on (2/3 > 0.6)
        expected = w * expected + (1 - w) * values[n]
        np.testing.assert_allclose(out[n], expected, rtol=1e-5)


def test_restart_and_a_new_size_start_over():
    guides, values = _frames(3)
    s = Stage()
    for g, v in zip(guides[:2], values[:2]):
        s.weigh(g)
        s.smooth("a", v)
    s.weigh(guides[2], restart=True)
    np.testing.assert_array_equal(s.smooth("a", values[2]), values[2])
    small_guides, small_values = _frames(1, 6, 8)
    s.weigh(small_guides[0])
    np.testing.assert_array_equal(s.smooth("a", small_values[0]), small_values[0])


def test_outputs_share_the_weights_and_keep_their_own_state():
    guides, values = _frames(2)
    guides[1] = guides[1].copy()
    guides[1][:, :8] += 40  # the left half moved
    s = Stage(strength=0.9)
    s.weigh(guides[0])
    a0, b0 = s.smooth("a", values[0]).copy(), s.smooth("b", 2 * values[0]).copy()
    s.weigh(guides[1])
    weights = ref.temporal_weights(guides[1], guides[0].copy(), 0.5, STILL_LEVELS, MOVING_LEVELS)
    np.testing.assert_allclose(s.smooth("a", values[1]), weights * a0 + (1 - weights) * values[1], rtol=1e-6)
    np.testing.assert_allclose(s.smooth("b", 2 * values[1]), weights * b0 + (1 - weights) * 2 * values[1], rtol=1e-6)
    assert np.all(weights[:, :6] == 0) and np.all(weights[:, 9:] == 0.5)


def test_outputs_keep_their_shape_and_float16_is_widened():
    guides, _ = _frames(2, 5, 7)
    s = Stage()
    rvm_like = np.random.default_rng(1).random((1, 4, 5, 7)).astype(np.float16)
    for g in guides:
        s.weigh(g)
        out = s.smooth("a", rvm_like)
    assert out.shape == (1, 4, 5, 7) and out.dtype == np.float32
    np.testing.assert_allclose(out, rvm_like.astype(np.float32), rtol=1e-3)  # equal inputs stay equal


@pytest.mark.parametrize("strength", [0.0, 0.5, 0.95])
def test_a_moving_picture_is_followed_at_once(strength):
    rng = np.random.default_rng(4)
    s = Stage(strength)
    for t in range(5):
        guide = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)  # everything changes every frame
        values = rng.random((4, 10, 10), dtype=np.float32)
        s.weigh(guide)
        np.testing.assert_array_equal(s.smooth("coef", values), values)


# -- in the pipeline ---------------------------------------------------------------------------------


class Flickering:
    """A segmentation Backend stand-in: a soft disc whose radius jitters from call to call, whatever
    the frame (a model that flickers on a still picture)."""

    def __init__(self, size=64, seed=0):
        self.rng = np.random.default_rng(seed)
        self.size = size
        self.inputs = (TensorSpec("src", (1, 3, size, size), "float32"),)
        self.outputs = (TensorSpec("alpha", (1, 1, size, size), "float32"),)
        y, x = np.mgrid[:size, :size]
        self.r = np.hypot(y - size / 2, x - size / 2)

    def open(self):
        return self

    def infer(self, feed, *, validate=True):
        radius = self.size / 4 + self.rng.normal(0, 1.0)
        alpha = np.clip(radius - self.r + 0.5, 0, 1).astype(np.float32)
        return {"alpha": alpha.reshape(1, 1, self.size, self.size)}

    def close(self):
        pass


def _still_frame():
    frame = np.full((96, 128, 3), (200, 40, 30), np.uint8)
    frame[24:72, 40:88] = (30, 60, 220)
    return frame


@pytest.mark.parametrize("refine", ["fast", "off"])
def test_a_still_picture_flickers_less_and_0_turns_it_off(refine):
    frame = _still_frame()
    changes = {}
    for strength in (0.0, 0.9):
        p = Pipeline(Flickering(), refine=refine, temporal=TemporalConfig(strength))
        alphas = [p.process(frame).alpha.astype(int) for _ in range(12)]
        changes[strength] = np.mean([np.abs(a - b).mean() for a, b in zip(alphas[4:], alphas[5:])])
    plain = Pipeline(Flickering(), refine=refine)
    off = [plain.process(frame).alpha.astype(int) for _ in range(12)]
    assert changes[0.0] == np.mean([np.abs(a - b).mean() for a, b in zip(off[4:], off[5:])])  # 0 is off
    assert changes[0.9] < changes[0.0] / 3


def test_the_matter_default_is_on_for_the_real_time_paths_and_off_for_photos(tiny_onnx):
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as m:
        assert m.pipeline.temporal.config == TemporalConfig()
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="off") as m:
        assert m.pipeline.temporal.config == TemporalConfig()
    with edgematte.Matter(tiny_onnx, backend="ort-cpu") as m:  # refine "full": photos
        assert m.pipeline.temporal.config is None
    for off in (0, 0.0, None, False):
        with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast", temporal=off) as m:
            assert m.pipeline.temporal.config is None
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast", temporal=0.5) as m:
        assert m.pipeline.temporal.config == TemporalConfig(0.5)


@pytest.mark.parametrize("temporal", [1.0, -0.5, "on", [0.5]])
def test_bad_temporal_values_are_refused_before_the_model_loads(temporal):
    with pytest.raises(InputError, match="temporal"):
        edgematte.Matter("no-such-model.onnx", temporal=temporal)


def test_photos_are_unchanged_by_the_default(tiny_onnx):
    """refine="full" (the photo mode) gives the same mattes with the default temporal setting as with it off,
    frame after frame."""
    frames = [_still_frame(), np.roll(_still_frame(), 3, axis=1), _still_frame()]
    with edgematte.Matter(tiny_onnx, backend="ort-cpu") as default, edgematte.Matter(
        tiny_onnx, backend="ort-cpu", temporal=0
    ) as off:
        for frame in frames:
            np.testing.assert_array_equal(default.process(frame).alpha, off.process(frame).alpha)


@pytest.mark.parametrize("refine", ["fast", "off", "full"])
@pytest.mark.parametrize("background", [(0, 255, 0), None])
def test_edge_controls_shape_the_alpha_the_composite_uses(refine, background):
    frame = _still_frame()
    edges = EdgeConfig(edge_shift=-2, feather=1, threshold=None)
    plain = Pipeline(Flickering(seed=3), refine=refine, temporal=None).process(frame, background)
    expected_alpha = HostSpace().edges(plain.alpha.copy(), edges, None, 1)
    shaped = Pipeline(Flickering(seed=3), refine=refine, temporal=None, edges=edges).process(frame, background)
    np.testing.assert_array_equal(shaped.alpha, expected_alpha)
    source = plain.foreground if plain.foreground is not None else frame
    np.testing.assert_array_equal(shaped.composite, edgematte.composite(source, expected_alpha, background))


def test_rvm_full_resolution_alpha_is_smoothed_where_still(rvm_onnx, asl_book, monkeypatch):
    """RVM's split graph: its small-size coefficients are smoothed, and its full-resolution alpha A * I + b too (the
    frame's own noise passes into it through A). A real frame held still with +-2 levels of noise per pixel: the
    alpha changes less from frame to frame than with the full-resolution stage taken out, and temporal=0 is
    unsmoothed."""
    import av

    with av.open(str(asl_book)) as container:
        base = next(container.decode(video=0)).to_ndarray(format="bgr24")[::2, ::2].copy()  # 320x240
    rng = np.random.default_rng(0)
    frames = [np.clip(base.astype(int) + rng.integers(-2, 3, base.shape), 0, 255).astype(np.uint8) for _ in range(10)]

    def flicker(**kwargs):
        with edgematte.Matter(rvm_onnx, backend="ort-cpu", **kwargs) as matter:
            assert matter.pipeline.step.native_refiner  # split: the outputs are small-size coefficients
            alphas = [matter.process(f).alpha.astype(int) for f in frames]
        return np.mean([np.abs(a - b).mean() for a, b in zip(alphas[5:], alphas[6:])])

    default, off = flicker(), flicker(temporal=0)
    monkeypatch.setattr(Temporal, "smooth_alpha", lambda self, s, alpha, b: alpha)
    coefficients_only = flicker()
    assert default < coefficients_only < off
