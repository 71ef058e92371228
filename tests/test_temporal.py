"""edgematte.temporal.TemporalSmoother: restarts, the running-mean start, and smoothing several outputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgematte.kernels import _temporal_reference as ref
from edgematte.temporal import MOVING_LEVELS, STILL_LEVELS, TemporalSmoother


def _frames(n, h=12, w=16, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 200, (h, w, 3), dtype=np.uint8)
    return [base.copy() for _ in range(n)], [rng.random((2, h, w), dtype=np.float32) for _ in range(n)]


def test_a_still_picture_gives_the_running_mean_then_the_strength():
    guides, values = _frames(6)
    s = TemporalSmoother(strength=0.6)
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


def test_restart_reset_and_a_new_size_start_over():
    guides, values = _frames(3)
    s = TemporalSmoother()
    for g, v in zip(guides[:2], values[:2]):
        s.weigh(g)
        s.smooth("a", v)
    s.weigh(guides[2], restart=True)
    np.testing.assert_array_equal(s.smooth("a", values[2]), values[2])
    s.reset()
    s.weigh(guides[0])
    np.testing.assert_array_equal(s.smooth("a", values[0]), values[0])
    small_guides, small_values = _frames(1, 6, 8)
    s.weigh(small_guides[0])
    np.testing.assert_array_equal(s.smooth("a", small_values[0]), small_values[0])


def test_outputs_share_the_weights_and_keep_their_own_state():
    guides, values = _frames(2)
    guides[1] = guides[1].copy()
    guides[1][:, :8] += 40  # the left half moved
    s = TemporalSmoother(strength=0.9)
    s.weigh(guides[0])
    a0, b0 = s.smooth("a", values[0]).copy(), s.smooth("b", 2 * values[0]).copy()
    s.weigh(guides[1])
    weights = ref.temporal_weights(guides[1], guides[0].copy(), 0.5, STILL_LEVELS, MOVING_LEVELS)
    np.testing.assert_allclose(s.smooth("a", values[1]), weights * a0 + (1 - weights) * values[1], rtol=1e-6)
    np.testing.assert_allclose(s.smooth("b", 2 * values[1]), weights * b0 + (1 - weights) * 2 * values[1], rtol=1e-6)
    assert np.all(weights[:, :6] == 0) and np.all(weights[:, 9:] == 0.5)


@pytest.mark.parametrize("strength", [0.0, 0.5, 0.95])
def test_a_moving_picture_is_followed_at_once(strength):
    rng = np.random.default_rng(4)
    s = TemporalSmoother(strength)
    for t in range(5):
        guide = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)  # everything changes every frame
        values = rng.random((4, 10, 10), dtype=np.float32)
        s.weigh(guide)
        np.testing.assert_array_equal(s.smooth("coef", values), values)
