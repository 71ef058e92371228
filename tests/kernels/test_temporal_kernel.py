"""csrc/temporal.c (motion-adaptive temporal smoothing) against its NumPy twin, and the contract's cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgematte.errors import KernelError
from edgematte.kernels import _temporal_reference as ref
from edgematte.kernels import native

STRENGTH, STILL, MOVING = 0.9, 1.0, 3.0


def _weights(guide, previous, strength=STRENGTH, still=STILL, moving=MOVING, scratch=None):
    out = np.empty(guide.shape[:2], np.float32)
    native("_temporal").temporal_weights(guide, previous, out, strength, still, moving, scratch)
    return out


def _blend(weights, values, state):
    native("_temporal").temporal_blend(weights, values, state)


def _case(rng, h, w, c, change=4):
    previous = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    guide = np.clip(previous.astype(int) + rng.integers(-change, change + 1, previous.shape), 0, 255).astype(np.uint8)
    values = rng.random((c, h, w), dtype=np.float32)
    state = rng.random((c, h, w), dtype=np.float32)
    return guide, previous, values, state


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 7, 2), (5, 1, 4), (33, 47, 4), (128, 128, 4), (61, 80, 8)])
def test_native_matches_the_reference(shape):
    h, w, c = shape
    rng = np.random.default_rng(h * 1000 + w)
    guide, previous, values, state = _case(rng, h, w, c)
    p1, p2 = previous.copy(), previous.copy()
    w1 = _weights(guide, p1)
    w2 = ref.temporal_weights(guide, p2, STRENGTH, STILL, MOVING)
    assert np.array_equal(p1, guide) and np.array_equal(p2, guide)
    np.testing.assert_allclose(w1, w2, rtol=0, atol=1e-6)
    s1, s2 = state.copy(), state.copy()
    _blend(w1, values, s1)
    ref.temporal_blend(w1, values, s2)
    np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 70), change=st.integers(0, 255), seed=st.integers(0, 2**16))
def test_weights_and_blend_equal_the_twin_bit_for_bit(h, w, change, seed):
    """The border columns (apart from the vectorised interior) and every width the vector loops split."""
    rng = np.random.default_rng(seed)
    guide, previous, values, state = _case(rng, h, w, 4, change)
    p1, p2 = previous.copy(), previous.copy()
    w1, w2 = _weights(guide, p1), ref.temporal_weights(guide, p2, STRENGTH, STILL, MOVING)
    np.testing.assert_array_equal(w1, w2)
    s1, s2 = state.copy(), state.copy()
    _blend(w1, values, s1)
    ref.temporal_blend(w1, values, s2)
    np.testing.assert_array_equal(s1, s2)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), height=st.integers(1, 40), width=st.integers(1, 70),
       seed=st.integers(0, 2**16))
def test_full_resolution_alpha_equals_the_twin_bit_for_bit(h, w, height, width, seed):
    rng = np.random.default_rng(seed)
    weights = (rng.random((h, w), dtype=np.float32) * np.float32(0.95)).astype(np.float32)
    alpha = rng.integers(0, 256, (height, width), dtype=np.uint8)
    state = (rng.random((height, width), dtype=np.float32) * 255).astype(np.float32)
    a1, s1, a2, s2 = alpha.copy(), state.copy(), alpha.copy(), state.copy()
    native("_temporal").temporal_alpha(weights, a1, s1)
    ref.temporal_alpha(weights, a2, s2)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(a1, a2)
    assert np.array_equal(a1, np.rint(s1))  # the alpha is the state rounded half to even


def test_full_resolution_alpha_first_frame_still_and_moving():
    t = native("_temporal")
    alpha, state = np.full((6, 8), 200, np.uint8), np.zeros((6, 8), np.float32)
    t.temporal_alpha(None, alpha, state)  # the first frame: state <- alpha, alpha unchanged
    assert (state == 200).all() and (alpha == 200).all()
    weights = np.zeros((3, 4), np.float32)
    weights[:, :2] = 0.9  # the left half held still, the right half moved
    new = np.full((6, 8), 100, np.uint8)
    t.temporal_alpha(weights, new, state)
    assert (new[:, :3] == 190).all() and (new[:, 5:] == 100).all()  # 0.9 * 200 + 0.1 * 100; this frame's
    with pytest.raises(ValueError, match="shapes of alpha and state"):
        t.temporal_alpha(weights, new, np.zeros((6, 7), np.float32))
    with pytest.raises(ValueError, match="weights is empty"):
        t.temporal_alpha(np.zeros((0, 4), np.float32), new, state)


def test_scratch_gives_the_same_weights():
    rng = np.random.default_rng(1)
    guide, previous, _, _ = _case(rng, 20, 30, 1)
    a = _weights(guide, previous.copy())
    b = _weights(guide, previous.copy(), scratch=np.empty(2 * 20 * 30, np.uint16))
    assert np.array_equal(a, b)


def test_still_keeps_strength_of_the_past_and_moving_takes_the_present():
    guide = np.full((6, 8, 3), 100, np.uint8)
    values, state = np.ones((2, 6, 8), np.float32), np.zeros((2, 6, 8), np.float32)
    weights = _weights(guide, guide.copy(), strength=0.75)
    np.testing.assert_array_equal(weights, 0.75)
    _blend(weights, values, state)
    np.testing.assert_allclose(state, 0.25)  # a quarter of the new values
    weights = _weights(guide, np.full_like(guide, 200), strength=0.75)  # every pixel moved by 100 levels
    np.testing.assert_array_equal(weights, 0.0)
    state[:] = 0
    _blend(weights, values, state)
    np.testing.assert_array_equal(state, 1.0)


def test_the_weight_ramps_between_still_and_moving():
    previous = np.zeros((1, 5, 3), np.uint8)
    guide = np.zeros_like(previous)
    guide[0, :, 0] = [0, 3, 6, 9, 30]  # channel sums; the 3x3 mean with clamped rows sees each column 3 times
    d = ref.motion(guide, previous)
    np.testing.assert_allclose(d[0], [1 / 3, 1.0, 2.0, 5.0, 23 / 3], rtol=1e-6)
    weights = _weights(guide, previous.copy(), strength=0.8)
    np.testing.assert_allclose(weights[0], [0.8, 0.8, 0.4, 0.0, 0.0], atol=1e-6)


def test_motion_is_the_3x3_mean_of_the_mean_channel_difference():
    previous = np.zeros((5, 5, 3), np.uint8)
    guide = previous.copy()
    guide[2, 2] = (9, 18, 0)  # channel mean 9: 1 level over the 3x3 around it
    d = ref.motion(guide, previous)
    assert d[1:4, 1:4].tolist() == [[1.0] * 3] * 3 and d.sum() == 9.0


@settings(max_examples=40, deadline=None)
@given(strength=st.floats(0, 0.999), still=st.floats(0, 50), span=st.floats(0.01, 50), seed=st.integers(0, 2**16))
def test_the_result_lies_between_the_past_and_the_present(strength, still, span, seed):
    rng = np.random.default_rng(seed)
    guide, previous, values, state = _case(rng, 7, 9, 2, change=20)
    weights = _weights(guide, previous, strength=strength, still=still, moving=still + span)
    assert np.all((weights >= 0) & (weights <= strength))
    before = state.copy()
    _blend(weights, values, state)
    lo, hi = np.minimum(before, values), np.maximum(before, values)
    assert np.all(state >= lo - 1e-6) and np.all(state <= hi + 1e-6)


@pytest.mark.parametrize("strength, still, moving", [(1.0, 1, 3), (-0.1, 1, 3), (0.5, 3, 3), (0.5, -1, 3),
                                                      (float("nan"), 1, 3), (0.5, 1, float("nan"))])
def test_the_kernel_refuses_bad_parameters(strength, still, moving):
    rng = np.random.default_rng(0)
    guide, previous, _, _ = _case(rng, 4, 4, 1)
    with pytest.raises(KernelError, match="EM_ERR_ARG"):
        _weights(guide, previous, strength=strength, still=still, moving=moving)


def _coefficients(rng, h, w, known_share=0.5):
    """[4,h,w] like the fast guided filter's: a share of cells exactly known (a = 0, 255 b in {0, 255})."""
    coef = np.concatenate([rng.normal(0, 0.01, (3, h, w)), rng.uniform(-50, 300, (1, h, w))]).astype(np.float32)
    known = rng.random((h, w)) < known_share
    coef[:3, known] = 0
    coef[3, known] = np.where(rng.random(known.sum()) < 0.5, 0, 255)
    return coef


def test_known_cells_native_matches_the_reference():
    rng = np.random.default_rng(7)
    h, w = 200, 300
    guide = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    values = _coefficients(rng, h, w)
    state = values + rng.normal(0, 1e-4, values.shape).astype(np.float32) * (rng.random((1, h, w)) < 0.7)
    weights = rng.uniform(0, 0.95, (h, w)).astype(np.float32)
    s1, s2 = state.copy(), state.copy()
    native("_temporal").temporal_blend(weights, values, s1, guide, 0.5)
    ref.temporal_blend(weights, values, s2, guide, 0.5)
    np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-5)
    exact = lambda s: (s[:3] == 0).all(axis=0) & ((s[3] == 0) | (s[3] == 255))  # noqa: E731
    assert (exact(s1) != exact(s2)).mean() < 1e-4  # the decision agrees but for float ties at the tolerance


def test_a_known_cell_close_enough_is_made_exact_and_others_are_not():
    guide = np.full((1, 3, 3), 100, np.uint8)
    values = np.zeros((4, 1, 3), np.float32)
    values[3] = 255  # every cell known (opaque)
    values[:, 0, 2] = (0.01, 0, 0, 254)  # the last one is not
    state = values.copy()
    state[3, 0, 0] = 254.8  # a blend 0.2 levels off: within 0.5 -> exact
    state[3, 0, 1] = 250.0  # 5 levels off: stays smoothed
    weights = np.full((1, 3), 0.5, np.float32)
    native("_temporal").temporal_blend(weights, values, state, guide, 0.5)
    assert state[3, 0, 0] == 255 and (state[:3, 0, 0] == 0).all()
    assert state[3, 0, 1] == 0.5 * 250 + 0.5 * 255
    np.testing.assert_array_equal(state[:, 0, 2], values[:, 0, 2])  # equal inputs, blended: unchanged
    with pytest.raises(ValueError, match="values \\[4,h,w\\]"):  # the rule is for the four guided-filter planes
        native("_temporal").temporal_blend(weights, values[:3], state[:3].copy(), guide, 0.5)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.one_of(st.integers(0, 300), st.sampled_from([65535, 65536, 65537,
                                                                                          3 * 65536 + 11])),
       extreme=st.booleans())
def test_the_cut_detectors_pass_matches_its_twin(seed, n, extreme):
    """The sum of |frame - previous| and the copy, exactly, across the 64 KiB blocks and with 0/255 extremes."""
    rng = np.random.default_rng(seed)
    if extreme:  # every byte differs by 255: the largest sums a block can hold
        frame = rng.choice(np.array([0, 255], np.uint8), n)
        previous = 255 - frame
    else:
        frame, previous = rng.integers(0, 256, (2, n), dtype=np.uint8)
    twin_previous = previous.copy()
    expected = ref.difference_keep(frame, twin_previous)
    got = native("_temporal").difference_keep(frame, previous)
    assert got == expected and (not extreme or got == 255 * n)
    np.testing.assert_array_equal(previous, frame)


def test_the_cut_detectors_pass_refuses_unequal_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        native("_temporal").difference_keep(np.zeros(4, np.uint8), np.zeros(5, np.uint8))
