"""The pipeline's CUDA stage kernels (edgematte/kernels/cuda/stages.cu), their source compiled as C++ and run on
the CPU, against their twins: OpenCV (resize, area), the native passes (the "fast" pass, bit for bit) and the
NumPy specification of the fit (_guided_reference). The GPU runs them in bench/gpu_check.py; nvcc and NVRTC
compile them in test_cuda_build.py."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from cuda_on_cpu import ptr, stage_kernels
from hypothesis import given, settings
from hypothesis import strategies as st

from edgematte.kernels import _guided_reference as ref
from edgematte.kernels import native
from edgematte.refine import FAST

cv2 = pytest.importorskip("cv2")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def k(tmp_path_factory):
    return stage_kernels(tmp_path_factory.mktemp("stages"))


def resize(k, src, dh, dw):
    out = np.zeros((dh, dw) + src.shape[2:], np.uint8)
    sh, sw = src.shape[:2]
    k.em_k_resize_u8(ptr(src), src.strides[0], sw, sh, ptr(out), out.strides[0], dw, dh,
                     1 if src.ndim == 2 else src.shape[2], 1.0 / (dw / sw), 1.0 / (dh / sh))
    return out


@settings(max_examples=60, deadline=None)
@given(src=st.tuples(st.integers(1, 90), st.integers(1, 90)), dst=st.tuples(st.integers(1, 200), st.integers(1, 200)),
       channels=st.sampled_from([1, 3]), seed=st.integers(0, 2**32 - 1))
def test_resize_is_opencvs_inter_linear(k, src, dst, channels, seed):
    image = np.random.default_rng(seed).integers(0, 256, src + ((3,) if channels == 3 else ()), dtype=np.uint8)
    np.testing.assert_array_equal(resize(k, image, *dst), cv2.resize(image, dst[::-1], interpolation=cv2.INTER_LINEAR))


@pytest.mark.parametrize("shape", [(720, 1280), (1081, 1919), (270, 480)])
def test_halving_reads_a_crop_by_its_row_pitch(k, shape):
    frame = np.random.default_rng(1).integers(0, 256, shape + (3,), dtype=np.uint8)
    hh, hw = shape[0] // 2, shape[1] // 2
    crop = frame[: 2 * hh, : 2 * hw]  # a view: the kernel steps rows by the frame's pitch
    want = cv2.resize(np.ascontiguousarray(crop), (hw, hh), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(resize(k, crop, hh, hw), want)
    box = crop.astype(np.int32).reshape(hh, 2, hw, 2, 3).sum((1, 3))
    np.testing.assert_array_equal(want, (box + 2) >> 2)  # the rounded 2x2 mean


def area(k, src, dh, dw):
    out = np.zeros((dh, dw) + src.shape[2:], src.dtype)
    (sh, sw), channels = src.shape[:2], 1 if src.ndim == 2 else src.shape[2]
    scale_x, scale_y = 1.0 / (dw / sw), 1.0 / (dh / sh)
    whole = int(scale_x == round(scale_x) and scale_y == round(scale_y))
    kernel = k.em_k_area_f32 if src.dtype == np.float32 else k.em_k_area_u8
    kernel(ptr(src), src.strides[0], sw, sh, ptr(out), out.strides[0], dw, dh, channels, scale_x, scale_y, whole)
    return out


@settings(max_examples=80, deadline=None)
@given(dst=st.tuples(st.integers(1, 40), st.integers(1, 40)), extra=st.tuples(st.integers(0, 90), st.integers(0, 90)),
       kind=st.sampled_from(["u8x3", "u8x1", "f32"]), seed=st.integers(0, 2**32 - 1))
def test_area_is_opencvs_inter_area(k, dst, extra, kind, seed):
    """Whole blocks (1/8 of 720p, 1/2 of a model's size) and fractional cells (odd sides) alike."""
    rng = np.random.default_rng(seed)
    shape = (dst[0] + extra[0], dst[1] + extra[1])
    if kind == "f32":
        src = rng.random(shape, dtype=np.float32)
    else:
        src = rng.integers(0, 256, shape + ((3,) if kind == "u8x3" else ()), dtype=np.uint8)
    want = cv2.resize(src, dst[::-1], interpolation=cv2.INTER_AREA)
    got = area(k, src, *dst)
    if kind == "f32":
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)  # float sums: a few ulps where the cells are long
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape, dst", [((720, 1280, 3), (90, 160)), ((256, 256, 3), (128, 128)), ((256, 256), (128, 128)),
                                        ((479, 639, 3), (59, 79)), ((255, 397), (127, 198))])
def test_area_on_the_pipelines_sizes(k, shape, dst):
    src = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    src = src if len(shape) == 3 else (src / 255.0).astype(np.float32)
    want = cv2.resize(src, dst[::-1], interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(area(k, src, *dst), want)


#: float alpha -> uint8: edgematte's own rule (NaN -> 0, clamp to 0..1, round half to even), not a library's
QUANTIZED = [
    (np.nan, 0), (-np.inf, 0), (np.inf, 255), (1e30, 255), (-1e30, 0), (-0.01, 0), (-2.0, 0), (1.2, 255),
    (0.0, 0), (1.0, 255), (0.5 / 255, 0), (1.5 / 255, 2), (2.5 / 255, 2), (3.5 / 255, 4), (0.5, 128),
    (253.5 / 255, 254), (254.5 / 255, 254),
]


def test_planes_to_uint8_follows_the_promised_rule(k):
    values = np.array([v for v, _ in QUANTIZED], np.float32)[None, None]
    out = np.zeros(values.shape[1:], np.uint8)
    k.em_k_planes_u8_f32(ptr(values), 1, ptr(out), values.shape[2], 1)
    np.testing.assert_array_equal(out[0], [q for _, q in QUANTIZED])


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_planes_to_uint8_rounds_clamps_and_reverses_rgb(k, dtype):
    rng = np.random.default_rng(4)
    planes = rng.random((3, 7, 9)).astype(dtype)
    planes[0, 0, :6] = [np.nan, -0.2, 1.7, 0.5 / 255, 1.5 / 255, np.inf]
    out = np.zeros((7, 9, 3), np.uint8)
    getattr(k, "em_k_planes_u8_f16" if dtype == np.float16 else "em_k_planes_u8_f32")(ptr(planes), 3, ptr(out), 9, 7)
    values = np.nan_to_num(planes.astype(np.float32), nan=0.0)
    want = np.rint(np.clip(values, 0, 1) * np.float32(255)).astype(np.uint8)
    np.testing.assert_array_equal(out, want[::-1].transpose(1, 2, 0))
    assert tuple(out[0, 0]) == (want[2, 0, 0], want[1, 0, 0], 0)  # NaN -> 0, in the red channel (last in BGR)
    unit = np.clip(values[:1], 0, 1).astype(np.float32)
    alpha = np.zeros((7, 9), np.uint8)
    k.em_k_planes_u8_f32(ptr(unit), 1, ptr(alpha), 9, 7)
    np.testing.assert_array_equal(alpha, cv2.convertScaleAbs(unit[0], alpha=255.0))  # the host's rule within 0..1


def fit_case(seed, hw):
    rng = np.random.default_rng(seed)
    small = cv2.GaussianBlur(rng.integers(0, 256, hw + (3,), dtype=np.uint8), (0, 0), 1.5)
    alpha = np.clip(cv2.GaussianBlur(rng.random(hw, dtype=np.float32), (0, 0), 3) * 3 - 1, 0, 1).astype(np.float32)
    return small, alpha


def fit_on_cpu(k, small, alpha):
    h, w = alpha.shape
    ab, coef = np.zeros((4, h, w), np.float32), np.zeros((4, h, w), np.float32)
    first, blurs = np.zeros((6, h, w), np.float32), np.zeros((6, h, w), np.float32)
    k.em_k_fit_ab(ptr(small), ptr(alpha), ptr(ab), w, h, FAST.radius, FAST.eps)
    k.em_k_fit_coef(ptr(ab), ptr(alpha), ptr(coef), w, h, FAST.mean_radius, FAST.known_radius)
    k.em_k_fit_blur(ptr(small), ptr(alpha), None, ptr(first), w, h, FAST.foreground_radius)
    k.em_k_fit_blur(ptr(small), ptr(alpha), ptr(first), ptr(blurs), w, h, FAST.foreground_small_radius)
    return coef, blurs


@pytest.mark.parametrize("hw", [(128, 128), (72, 128), (9, 5), (1, 1)])
def test_fit_is_bit_exact_to_the_native_fit(k, hw):
    """Coefficients and blurs: csrc/guided.c's roundings per pixel (its float box sums, its double solve), so the
    GPU's "fast" alpha is the CPU's (which follows the float64 specification: tests/refine/test_guided.py)."""
    small, alpha = fit_case(sum(hw), hw)
    coef, blurs = fit_on_cpu(k, small, alpha)
    want_coef, want_blurs = np.empty_like(coef), np.empty_like(blurs)
    native("_guided").guided_fit(small, alpha, want_coef, FAST.radius, FAST.mean_radius, FAST.eps, FAST.known_radius,
                                 want_blurs, FAST.foreground_radius, FAST.foreground_small_radius, 1, None)
    np.testing.assert_array_equal(coef, want_coef)
    np.testing.assert_array_equal(blurs, want_blurs)


@pytest.mark.parametrize("fit, frame_hw", [((128, 128), (720, 1280)), ((64, 96), (361, 643)), ((5, 7), (40, 30))])
def test_fast_pass_is_bit_exact_to_the_native_pass(k, fit, frame_hw):
    """em_k_guided_apply against the native em_guided_apply on the same coefficients: alpha and foreground identical."""
    guided = native("_guided")
    small, alpha = fit_case(sum(fit), fit)
    (h, w), (height, width) = fit, frame_hw
    coef, blurs = np.empty((4, h, w), np.float32), np.empty((6, h, w), np.float32)
    guided.guided_coefficients(small, alpha, coef, 4, 2, 1e-4, 1, 1, None)
    guided.foreground_blurs(small, alpha, blurs, 8, 1, 1, None)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    want_a, want_f = np.empty((height, width), np.uint8), np.empty((height, width, 3), np.uint8)
    guided.guided_apply(coef, blurs, image, want_a, want_f, None, None, None, 1)
    got_a, got_f = np.zeros_like(want_a), np.zeros_like(want_f)
    k.em_k_guided_apply(ptr(coef), ptr(blurs), w, h, ptr(image), image.strides[0], ptr(got_a), ptr(got_f), width, height)
    np.testing.assert_array_equal(got_a, want_a)
    np.testing.assert_array_equal(got_f, want_f)
    assert np.count_nonzero((want_a > 0) & (want_a < 255)) > height * width // 50
    only_alpha = np.zeros_like(want_a)
    k.em_k_guided_apply(ptr(coef), None, w, h, ptr(image), image.strides[0], ptr(only_alpha), None, width, height)
    np.testing.assert_array_equal(only_alpha, want_a)


def test_the_background_variance_ratio_is_guided_hs():
    source = (REPO / "edgematte" / "kernels" / "cuda" / "stages.cu").read_text()
    header = (REPO / "csrc" / "guided.h").read_text()
    pattern = r"#define EM_BACKGROUND_VARIANCE_RATIO ([0-9.]+)f"
    assert float(re.search(pattern, source).group(1)) == float(re.search(pattern, header).group(1)) \
        == ref.BACKGROUND_VARIANCE_RATIO


# -- temporal smoothing and edge controls: against csrc/temporal.c's and csrc/edges.c's NumPy twins -----------
@pytest.mark.parametrize("h, w, c", [(1, 1, 1), (5, 7, 4), (128, 128, 4), (61, 80, 8)])
def test_temporal_weights_and_blend_match_the_twin(k, h, w, c):
    from edgematte.kernels import _temporal_reference as tref

    rng = np.random.default_rng(h * w)
    previous = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    guide = np.clip(previous.astype(int) + rng.integers(-5, 6, previous.shape), 0, 255).astype(np.uint8)
    weights, kept = np.zeros((h, w), np.float32), previous.copy()
    k.em_k_temporal_weights(ptr(guide), ptr(kept), ptr(weights), w, h, 0.95, 1.0, 3.0)
    k.em_k_temporal_keep(ptr(guide), ptr(kept), w, h)
    expected = tref.temporal_weights(guide, previous.copy(), 0.95, 1.0, 3.0)
    assert np.array_equal(weights, expected) and np.array_equal(kept, guide)
    values, state = rng.random((c, h, w), dtype=np.float32), rng.random((c, h, w), dtype=np.float32)
    if c == 4:  # half the cells known, their state a hair off
        values[:3, ::2], values[3, ::2] = 0, 255
        state[:, ::2] = values[:, ::2] + np.float32(1e-4)
    for known in ([None, guide] if c == 4 else [None]):
        got, want = state.copy(), state.copy()
        k.em_k_temporal_blend(ptr(weights), ptr(values), ptr(got), w, h, c, 0 if known is None else ptr(known), 0.5)
        tref.temporal_blend(expected, values, want, known, 0.5)
        assert np.array_equal(got, want)


@pytest.mark.parametrize("h, w, H, W", [(1, 1, 1, 1), (3, 2, 5, 7), (45, 80, 180, 320), (60, 40, 37, 53)])
def test_temporal_alpha_matches_the_twin(k, h, w, H, W):
    from edgematte.kernels import _temporal_reference as tref

    rng = np.random.default_rng(H * W)
    weights = (rng.random((h, w), dtype=np.float32) * np.float32(0.95)).astype(np.float32)
    alpha, state = rng.integers(0, 256, (H, W), dtype=np.uint8), rng.random((H, W), dtype=np.float32) * 255
    got_alpha, got_state, want_alpha, want_state = alpha.copy(), state.copy(), alpha.copy(), state.copy()
    k.em_k_temporal_alpha(ptr(weights), h, w, ptr(got_alpha), ptr(got_state), W, H)
    tref.temporal_alpha(weights, want_alpha, want_state)
    assert np.array_equal(got_state, want_state) and np.array_equal(got_alpha, want_alpha)
    k.em_k_temporal_alpha(0, 0, 0, ptr(got_alpha), ptr(got_state), W, H)  # the first frame: state <- alpha
    assert np.array_equal(got_state, got_alpha.astype(np.float32))


@pytest.mark.parametrize("shape", [(1, 1), (37, 70), (120, 161)])
@pytest.mark.parametrize("shift, feather, threshold", [(0, 0, 128), (3, 0, 0), (-5, 0, 0), (0, 4, 0), (-2, 3, 100),
                                                       (40, 0, 0)])
def test_edge_controls_match_the_twin(k, shape, shift, feather, threshold):
    """The CUDA space's passes (rows into a work buffer, columns back, the cut on the last), on a row-pitched view."""
    from edgematte.kernels import _edges_reference as eref

    h, w = shape
    big = np.random.default_rng(h + w).integers(0, 256, (h, w + 5), dtype=np.uint8)
    alpha, work = big[:, :w], np.zeros((h, w), np.uint8)
    expected = eref.edge_controls(alpha.copy(), shift, feather, threshold)
    passes = ([(abs(shift), int(shift > 0))] if shift else []) + ([(feather, 2)] if feather else [])
    if not passes:
        k.em_k_edges_cut(ptr(alpha), alpha.strides[0], w, h, threshold)
    for i, (radius, op) in enumerate(passes):
        k.em_k_edges_h(ptr(alpha), alpha.strides[0], ptr(work), w, h, radius, op)
        cut = threshold if i == len(passes) - 1 else 0
        k.em_k_edges_v(ptr(work), ptr(alpha), alpha.strides[0], w, h, radius, op, cut)
    assert np.array_equal(alpha, expected)
