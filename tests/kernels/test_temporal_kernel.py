"""csrc/temporal.c (motion-adaptive temporal smoothing) against its NumPy twin, and the contract's cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgematte.kernels import _temporal_reference as ref
from edgematte.kernels import native

STRENGTH, STILL, MOVING = 0.9, 1.0, 3.0


def _native(guide, previous, values, state, strength=STRENGTH, still=STILL, moving=MOVING, restart=False,
            scratch=None, threads=1):
    native("_temporal").temporal_smooth(guide, previous, values, state, strength, still, moving, restart, scratch,
                                        threads)


def _case(rng, h, w, c, change=4):
    previous = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    guide = np.clip(previous.astype(int) + rng.integers(-change, change + 1, previous.shape), 0, 255).astype(np.uint8)
    values = rng.random((c, h, w), dtype=np.float32)
    state = rng.random((c, h, w), dtype=np.float32)
    return guide, previous, values, state


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 7, 2), (5, 1, 4), (33, 47, 4), (128, 128, 4), (61, 80, 8)])
@pytest.mark.parametrize("threads", [1, 2])
def test_native_matches_the_reference(shape, threads):
    h, w, c = shape
    rng = np.random.default_rng(h * 1000 + w)
    guide, previous, values, state = _case(rng, h, w, c)
    p1, s1 = previous.copy(), state.copy()
    _native(guide, p1, values, s1, threads=threads)
    p2, s2 = previous.copy(), state.copy()
    ref.temporal_smooth(guide, p2, values, s2, STRENGTH, STILL, MOVING, False)
    assert np.array_equal(p1, guide) and np.array_equal(p2, guide)
    np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-6)


def test_scratch_gives_the_same_result():
    rng = np.random.default_rng(1)
    guide, previous, values, state = _case(rng, 20, 30, 4)
    a, b = state.copy(), state.copy()
    _native(guide, previous.copy(), values, a)
    _native(guide, previous.copy(), values, b, scratch=np.empty(2 * 20 * 30, np.uint16))
    assert np.array_equal(a, b)


def test_still_picture_keeps_strength_of_the_past_and_moving_takes_the_present():
    guide = np.full((6, 8, 3), 100, np.uint8)
    values, state = np.ones((2, 6, 8), np.float32), np.zeros((2, 6, 8), np.float32)
    _native(guide, guide.copy(), values, state, strength=0.75)
    np.testing.assert_allclose(state, 0.25)  # w = 0.75: a quarter of the new values
    previous = guide.copy()
    previous[:] = 200  # every pixel moved by 100 levels
    state[:] = 0
    _native(guide, previous, values, state, strength=0.75)
    np.testing.assert_array_equal(state, 1.0)


def test_the_weight_ramps_between_still_and_moving():
    d = np.array([0.0, 1.0, 2.0, 3.0, 10.0], np.float32)
    np.testing.assert_allclose(ref.weight(d, 0.8, 1.0, 3.0), [0.8, 0.8, 0.4, 0.0, 0.0], atol=1e-7)


def test_motion_is_the_3x3_mean_of_the_mean_channel_difference():
    previous = np.zeros((5, 5, 3), np.uint8)
    guide = previous.copy()
    guide[2, 2] = (9, 18, 0)  # channel mean 9: 1 level over the 3x3 around it
    d = ref.motion(guide, previous)
    assert d[1:4, 1:4].tolist() == [[1.0] * 3] * 3 and d.sum() == 9.0


def test_restart_copies_the_values_and_the_guide():
    rng = np.random.default_rng(2)
    guide, previous, values, state = _case(rng, 9, 11, 3, change=100)
    _native(guide, previous, values, state, restart=True)
    assert np.array_equal(state, values) and np.array_equal(previous, guide)


@settings(max_examples=40, deadline=None)
@given(strength=st.floats(0, 0.999), still=st.floats(0, 50), span=st.floats(0.01, 50), seed=st.integers(0, 2**16))
def test_the_result_lies_between_the_past_and_the_present(strength, still, span, seed):
    rng = np.random.default_rng(seed)
    guide, previous, values, state = _case(rng, 7, 9, 2, change=20)
    before = state.copy()
    _native(guide, previous, values, state, strength=strength, still=still, moving=still + span)
    lo, hi = np.minimum(before, values), np.maximum(before, values)
    assert np.all(state >= lo - 1e-6) and np.all(state <= hi + 1e-6)


@pytest.mark.parametrize("strength, still, moving", [(1.0, 1, 3), (-0.1, 1, 3), (0.5, 3, 3), (0.5, -1, 3),
                                                      (float("nan"), 1, 3)])
def test_the_kernel_refuses_bad_parameters(strength, still, moving):
    from edgematte.errors import KernelError

    rng = np.random.default_rng(0)
    guide, previous, values, state = _case(rng, 4, 4, 1)
    with pytest.raises(KernelError, match="EM_ERR_ARG"):
        _native(guide, previous, values, state, strength=strength, still=still, moving=moving)
