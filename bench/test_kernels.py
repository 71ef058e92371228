"""make_trimap and composite at 1920x1080 beside their OpenCV/NumPy baselines, same thread count.

    pytest bench/test_kernels.py --benchmark-json bench/results/kernels.json
    python bench/ratios.py bench/results/kernels.json

Groups (``t1`` = one thread on both sides, ``tN`` = all cores on both sides):
- ``trimap-*``: the seed's OpenCV code (erode + dilate + thresholds, 7x7 ellipse, 3 iterations)
  vs ``edgematte.make_trimap``.
- ``composite-*``: ``cv2.multiply``/``cv2.add`` in float32 (the seed's code; baseline) and in
  uint8 with ``scale=1/255`` vs ``edgematte.composite`` with an image background.
- ``*-f32``: the same with float32 input (mask or alpha in [0, 1]); the baselines convert or
  broadcast the float input the way OpenCV code would.
- ``unit-to-u8-*``: float32 0..1 -> uint8 at 720x3840 (RVM's 720p pha and fgr planes side by side), one thread:
  ``cv2.convertScaleAbs(x, scale=255)`` (baseline; it rounds alike in 0..1 but leaves NaN and infinities to the
  OpenCV release) vs ``Trusted.unit_to_u8``, edgematte's rule (NaN -> 0, clamped, round half to even).
- ``copy-*``: ``np.copyto`` of as many bytes as composite reads (image + background + alpha,
  7 bytes per pixel; the copy writes as many) vs ``edgematte.composite``. Ratio >= 0.5 means
  within 2x of a plain memory copy.
- ``trimap-after-model-*``: the same trimap calls as in the pipeline, each right after one run of the
  selfie network on ONNX Runtime (all cores, spinning only during the run, as ``OrtCpuBackend``), the
  run untimed: whether the kernel's threads wake as fast there as standalone. ``extra_info
  ["sleeps_per_call"]``: voluntary context switches of the calling thread per call (the master put to
  sleep at the region's closing barrier; 0 when its bounded spin sees the work done).
- ``previous-*``: the same public calls of an earlier build (the baseline) beside this one, when
  ``EDGEMATTE_BENCH_PREVIOUS`` names a checkout of that commit with its kernels built in place::

    git worktree add /tmp/prev <commit> && (cd /tmp/prev && python setup.py build_ext --inplace)
    EDGEMATTE_BENCH_PREVIOUS=/tmp/prev pytest bench/test_kernels.py -k previous --benchmark-json ...

  ``previous-rvm-refiner-720p-*``: RobustVideoMatting's refiner step (``kernels._fgf.fgf_apply``) at 1280x720 from
  320x180 coefficients shaped like a matte's (a soft silhouette in alpha, most of the frame saturated), likewise.
  ``previous-temporal-*``: the temporal stage's two kernels (``kernels._temporal``) on the selfie ``fast`` pass's
  128x128 coefficient grid: the motion weights, and the blend with the rule for known cells.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np
import pytest

import edgematte
from edgematte.kernels._reference import seed_trimap

H, W = 1080, 1920
ALL = os.cpu_count() or 1
THREADS = sorted({1, ALL})


def _mask(rng):
    """A soft person-like silhouette: head and torso ellipses, blurred edge, a few holes."""
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (W // 2, H // 3), (170, 210), 0, 0, 360, 255, -1)
    cv2.ellipse(mask, (W // 2, H), (480, 520), 0, 0, 360, 255, -1)
    ys, xs = rng.integers(0, H, 40), rng.integers(0, W, 40)
    mask[ys, xs] = 0
    return cv2.GaussianBlur(mask, (21, 21), 0)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    background = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    mask = _mask(rng)
    return image, mask, background


@pytest.fixture(params=THREADS, ids=lambda n: f"t{n}")
def threads(request):
    previous = cv2.getNumThreads()
    cv2.setNumThreads(request.param)
    yield request.param
    cv2.setNumThreads(previous)


def _group(benchmark, name, threads, role=None):
    benchmark.group = f"{name}-1080p-t{threads}"
    benchmark.extra_info.update(threads=threads, size=f"{W}x{H}")
    if role:
        benchmark.extra_info["role"] = role


def test_trimap_opencv_seed(benchmark, frame, threads):
    _group(benchmark, "trimap", threads, "baseline")
    benchmark(seed_trimap, frame[1], 7, 3, 254, 1)


def test_trimap_edgematte(benchmark, frame, threads):
    _group(benchmark, "trimap", threads)
    out = np.empty((H, W), np.uint8)
    call = lambda: edgematte.make_trimap(frame[1], 7, 3, 254, 1, out=out, threads=threads)  # noqa: E731
    benchmark.extra_info["sleeps_per_call"] = round(_sleeps_per_call(call), 3)
    benchmark(call)
    assert np.array_equal(out, seed_trimap(frame[1]))


def _voluntary_switches() -> int:
    """Voluntary context switches of the calling thread so far (Linux), or 0."""
    import threading

    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches"))
    except (OSError, StopIteration):
        return 0


def _sleeps_per_call(call, rounds: int = 200) -> float:
    start = _voluntary_switches()
    for _ in range(rounds):
        call()
    return (_voluntary_switches() - start) / rounds


@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    """One run of the selfie network as the pipeline runs it (OrtCpuBackend, all cores), or skip."""
    from test_pipeline import _model_path

    from edgematte.runtime.ort_cpu import OrtCpuBackend

    backend = OrtCpuBackend(_model_path("selfie", tmp_path_factory)).open()
    feed = {spec.name: np.zeros(spec.shape, np.float32) for spec in backend.inputs}
    yield lambda: backend.infer(feed, validate=False)
    backend.close()


@pytest.mark.parametrize("impl", ["opencv-seed", "edgematte"])
def test_trimap_after_model(benchmark, frame, model_run, impl):
    """1080p trimap on all cores, each call right after an (untimed) ONNX Runtime run of the selfie model."""
    benchmark.group = f"trimap-after-model-1080p-t{ALL}"
    out = np.empty((H, W), np.uint8)
    if impl == "opencv-seed":
        benchmark.extra_info["role"] = "baseline"
        call = lambda: seed_trimap(frame[1], 7, 3, 254, 1)  # noqa: E731
    else:
        call = lambda: edgematte.make_trimap(frame[1], 7, 3, 254, 1, out=out, threads=ALL)  # noqa: E731
        benchmark.extra_info["sleeps_per_call"] = round(_sleeps_per_call(lambda: (model_run(), call())), 3)
    benchmark.pedantic(call, setup=lambda: model_run() and None, rounds=200, warmup_rounds=10)


def test_trimap_f32_opencv_seed(benchmark, frame, threads):
    _group(benchmark, "trimap-f32", threads, "baseline")
    mask = frame[1].astype(np.float32) / 255
    benchmark(lambda: seed_trimap(np.rint(mask * np.float32(255)).astype(np.uint8)))


def test_trimap_f32_edgematte(benchmark, frame, threads):
    _group(benchmark, "trimap-f32", threads)
    mask = frame[1].astype(np.float32) / 255
    out = np.empty(mask.shape, np.uint8)
    benchmark(edgematte.make_trimap, mask, 7, 3, 254, 1, out=out, threads=threads)


def cv2_composite_float(image, alpha, background):
    a = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR).astype(np.float32) * np.float32(1 / 255)
    fg = cv2.multiply(image.astype(np.float32), a)
    bg = cv2.multiply(background.astype(np.float32), 1.0 - a)
    return cv2.add(fg, bg).astype(np.uint8)


def cv2_composite_u8(image, alpha, background):
    a = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR)
    fg = cv2.multiply(image, a, scale=1 / 255)
    bg = cv2.multiply(background, cv2.bitwise_not(a), scale=1 / 255)
    return cv2.add(fg, bg)


def test_composite_cv2_float(benchmark, frame, threads):
    _group(benchmark, "composite", threads, "baseline")
    image, mask, background = frame
    benchmark(cv2_composite_float, image, mask, background)


def test_composite_cv2_uint8(benchmark, frame, threads):
    _group(benchmark, "composite", threads)
    image, mask, background = frame
    benchmark(cv2_composite_u8, image, mask, background)


def test_composite_edgematte(benchmark, frame, threads):
    _group(benchmark, "composite", threads)
    image, mask, background = frame
    out = np.empty_like(image)
    benchmark(edgematte.composite, image, mask, background, out=out, threads=threads)


def cv2_composite_f32_alpha(image, alpha, background):
    a = cv2.merge([alpha, alpha, alpha])
    fg = cv2.multiply(image.astype(np.float32), a)
    bg = cv2.multiply(background.astype(np.float32), 1.0 - a)
    return cv2.add(fg, bg).astype(np.uint8)


def test_composite_f32_cv2(benchmark, frame, threads):
    _group(benchmark, "composite-f32", threads, "baseline")
    image, mask, background = frame
    benchmark(cv2_composite_f32_alpha, image, mask.astype(np.float32) / 255, background)


def test_composite_f32_edgematte(benchmark, frame, threads):
    _group(benchmark, "composite-f32", threads)
    image, mask, background = frame
    out = np.empty_like(image)
    benchmark(edgematte.composite, image, mask.astype(np.float32) / 255, background, out=out, threads=threads)


@pytest.fixture(scope="module")
def unit_planes():
    values = np.random.default_rng(1).random((720, 3840), dtype=np.float32)
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield values, np.empty(values.shape, np.uint8)
    cv2.setNumThreads(previous)


def test_unit_to_u8_convert_scale_abs(benchmark, unit_planes):
    benchmark.group = "unit-to-u8-720x3840-t1"
    benchmark.extra_info.update(threads=1, size="3840x720", role="baseline")
    values, out = unit_planes
    benchmark(cv2.convertScaleAbs, values, out, 255.0)


def test_unit_to_u8_edgematte(benchmark, unit_planes):
    from edgematte.kernels import trusted

    benchmark.group = "unit-to-u8-720x3840-t1"
    benchmark.extra_info.update(threads=1, size="3840x720")
    values, out = unit_planes
    kernel = trusted("cpu")
    np.testing.assert_array_equal(kernel.unit_to_u8(values, out), np.rint(values * np.float32(255)))
    benchmark(kernel.unit_to_u8, values, out)


def test_copy_same_bytes(benchmark, threads):
    _group(benchmark, "copy", threads, "baseline")
    src = np.ones(H * W * 7, np.uint8)
    dst = np.empty_like(src)
    benchmark(np.copyto, dst, src)


def test_copy_vs_composite_edgematte(benchmark, frame, threads):
    _group(benchmark, "copy", threads)
    image, mask, background = frame
    out = np.empty_like(image)
    benchmark(edgematte.composite, image, mask, background, out=out, threads=threads)


PREVIOUS = os.environ.get("EDGEMATTE_BENCH_PREVIOUS")


def _import_previous(root):
    """The edgematte package of the checkout ``root``, imported beside this one: its modules are
    swapped into sys.modules only while it imports and loads its native kernels (first calls)."""
    ours = {k: m for k, m in sys.modules.items() if k == "edgematte" or k.startswith("edgematte.")}
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, root)
    try:
        import edgematte as previous

        mask = np.zeros((8, 8), np.uint8)
        previous.make_trimap(mask)
        previous.composite(np.zeros((8, 8, 3), np.uint8), mask, (0, 0, 0))
        refiner = previous.kernels.native("_fgf")  # then previous.kernels._fgf
        smoothing = previous.kernels.native("_temporal")  # then previous.kernels._temporal
        for module in (previous, refiner, smoothing):
            assert module.__file__.startswith(os.path.abspath(root)), module.__file__
        return previous
    finally:
        sys.path.remove(root)
        for name in [k for k in sys.modules if k == "edgematte" or k.startswith("edgematte.")]:
            del sys.modules[name]
        sys.modules.update(ours)


@pytest.fixture(scope="module")
def previous():
    if not PREVIOUS:
        pytest.skip("EDGEMATTE_BENCH_PREVIOUS is not set (a built checkout of the commit to compare with)")
    return _import_previous(PREVIOUS)


def _calls(lib, frame):
    image, mask, background = frame
    mask_f32 = mask.astype(np.float32) / 255
    trimap_out, out = np.empty((H, W), np.uint8), np.empty_like(image)
    return {
        "trimap": lambda t: lib.make_trimap(mask, 7, 3, 254, 1, out=trimap_out, threads=t),
        "trimap-f32": lambda t: lib.make_trimap(mask_f32, 7, 3, 254, 1, out=trimap_out, threads=t),
        "composite": lambda t: lib.composite(image, mask, background, out=out, threads=t),
        "composite-f32": lambda t: lib.composite(image, mask_f32, background, out=out, threads=t),
        "composite-colour": lambda t: lib.composite(image, mask, (0, 177, 64), out=out, threads=t),
    }


@pytest.mark.parametrize("op", ["trimap", "trimap-f32", "composite", "composite-f32", "composite-colour"])
@pytest.mark.parametrize("build", ["previous", "this"])
def test_versus_previous(benchmark, frame, threads, previous, op, build):
    _group(benchmark, f"previous-{op}", threads, "baseline" if build == "previous" else None)
    call = _calls(previous if build == "previous" else edgematte, frame)[op]
    benchmark(call, threads)


def _refiner_case():
    """A 1280x720 frame and RVM-like [4,180,320] coefficients: alpha's b a soft silhouette, small a, colour terms
    near 0 (so most outputs saturate or pass the frame's colour through, as a real matte's do)."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    silhouette = cv2.resize(_mask(rng), (320, 180), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    a = (rng.standard_normal((4, 180, 320)) * 0.05).astype(np.float32)
    b = (rng.standard_normal((4, 180, 320)) * 0.02).astype(np.float32)
    b[3] = silhouette * 1.2 - 0.1
    return frame, a, b


def _kernels_of(build, previous, benchmark, group, module):
    """The native ``module`` of the build compared, its benchmark in ``group`` (the earlier build the baseline)."""
    benchmark.group = group
    if build == "previous":
        benchmark.extra_info["role"] = "baseline"
        return getattr(previous.kernels, module)
    return edgematte.kernels.native(module)


@pytest.mark.parametrize("build", ["previous", "this"])
def test_rvm_refiner_versus_previous(benchmark, threads, previous, build):
    fgf = _kernels_of(build, previous, benchmark, f"previous-rvm-refiner-720p-t{threads}", "_fgf")
    frame, a, b = _refiner_case()
    alpha, foreground = np.empty((720, 1280), np.uint8), np.empty_like(frame)
    benchmark(fgf.fgf_apply, frame, a, b, alpha, foreground, threads)


def _temporal_case():
    """A 128x128 guide and the last one (most pixels still, some moving), and guided-filter coefficients shaped like a
    matte's: known cells (a = 0, 255 b in {0, 255}) but for an edge band, the state a hair off them."""
    rng = np.random.default_rng(5)
    previous = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    guide = previous.copy()
    guide[40:80] = np.clip(guide[40:80].astype(int) + rng.integers(-6, 7, guide[40:80].shape), 0, 255)
    values = np.zeros((4, 128, 128), np.float32)
    values[3, :, 64:] = 255
    values[:, :, 56:72] = rng.random((4, 128, 16), dtype=np.float32)
    state = values + rng.normal(0, 1e-3, values.shape).astype(np.float32)
    return guide, previous, values, state


@pytest.mark.parametrize("op", ["weights", "blend-known"])
@pytest.mark.parametrize("build", ["previous", "this"])
def test_temporal_versus_previous(benchmark, previous, op, build):
    kernels = _kernels_of(build, previous, benchmark, f"previous-temporal-{op}-128x128", "_temporal")
    guide, last, values, state = _temporal_case()
    weights = np.empty((128, 128), np.float32)
    kernels.temporal_weights(guide, last.copy(), weights, 0.95, 1.0, 3.0)
    if op == "weights":  # the last frame afresh each round (the kernel overwrites it with the guide)
        benchmark.pedantic(kernels.temporal_weights, setup=lambda: ((guide, last.copy(), weights, 0.95, 1.0, 3.0), {}),
                           rounds=2000, warmup_rounds=10)
    else:
        benchmark(kernels.temporal_blend, weights, values, state, guide, 0.5)
