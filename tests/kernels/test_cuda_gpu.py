"""GPU parity: CUDA kernels against the NumPy/OpenCV references (and the CPU kernels when built).

Runs where CuPy or pycuda sees an NVIDIA GPU; skips with the reason elsewhere. Tolerances:
trimap exact, uint8 composite/upsample/blur within 1, float tensors within float rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

import edgematte
from edgematte.kernels import _reference, cuda

cv2 = pytest.importorskip("cv2")
pytestmark = pytest.mark.gpu


class CupyDevice:
    def __init__(self, cupy):
        self.cp = cupy

    def put(self, a):
        return self.cp.asarray(a)

    def get(self, a):
        return self.cp.asnumpy(a)


class PycudaDevice:
    def __init__(self):
        import pycuda.autoprimaryctx  # noqa: F401  (primary context, shared with the kernels)
        from pycuda import gpuarray

        self.gpuarray = gpuarray

    def put(self, a):
        return self.gpuarray.to_gpu(np.ascontiguousarray(a))

    def get(self, a):
        return a.get()


def _device():
    """A CuPy or pycuda harness, or (None, reason)."""
    reasons = []
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return CupyDevice(cupy), ""
    except ImportError:
        reasons.append("CuPy is not installed")
    except Exception as exc:  # CUDARuntimeError without a driver
        reasons.append(f"CuPy sees no GPU ({exc})")
    try:
        import pycuda.driver as cuda

        cuda.init()
        if cuda.Device.count() > 0:
            return PycudaDevice(), ""
    except ImportError:
        reasons.append("pycuda is not installed")
    except Exception as exc:  # pycuda._driver.Error without a driver
        reasons.append(f"pycuda sees no GPU ({exc})")
    return None, "needs an NVIDIA GPU with CuPy or pycuda: " + "; ".join(reasons)


DEVICE, WHY = _device()
if DEVICE is None:
    pytest.skip(WHY, allow_module_level=True)


@pytest.fixture(scope="module")
def dev():
    return DEVICE


def trimap_reference(mask, k, it, fg, bg):
    """The specification: the seed's OpenCV erode/dilate code."""
    return _reference.seed_trimap(_reference.mask_to_u8(mask), k, it, fg, bg)


def composite_reference(image, alpha, background):
    """round(I*a + B*(1-a)) in float64; None -> image + round(alpha*255) as a 4th channel."""
    colour = None if background is None or isinstance(background, np.ndarray) else background
    bg = background if isinstance(background, np.ndarray) else None
    out = np.empty(image.shape[:2] + (4 if background is None else 3,), np.uint8)
    _reference.composite(image, alpha, bg, colour, out, None)
    return out


def random_mask(rng, h, w, soft):
    """Blobs with hard 0/255 interiors and, when soft, ramps at the edges."""
    base = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), max(1.0, min(h, w) / 8))
    base = (base - base.min()) / max(float(np.ptp(base)), 1e-6)
    mask = np.clip((base - 0.5) * (8 if soft else 1000) + 0.5, 0, 1)
    return np.rint(mask * 255).astype(np.uint8)


SHAPES = [(1, 1), (1, 17), (23, 1), (37, 53), (64, 64), (241, 319)]
KERNELS = [(1, 1), (3, 1), (7, 3), (9, 1), (15, 2), (31, 5), (161, 1)]  # 161: the untiled path (r > 64)
CASES = [(s, k, it) for s in SHAPES for k, it in KERNELS] + [((1080, 1920), 7, 3), ((1080, 1920), 15, 2)]


@pytest.mark.parametrize("shape,k,it", CASES)
@pytest.mark.parametrize("soft", [False, True])
def test_trimap_is_bit_exact(dev, shape, k, it, soft):
    rng = np.random.default_rng(hash((shape, k, it, soft)) % 2**32)
    mask = random_mask(rng, *shape, soft)
    got = dev.get(edgematte.make_trimap(dev.put(mask), k, it))
    np.testing.assert_array_equal(got, trimap_reference(mask, k, it, 254, 1))
    cpu = getattr(edgematte, "make_trimap", None)
    if cpu is not None:
        np.testing.assert_array_equal(got, cpu(mask, k, it))


@pytest.mark.parametrize("fg,bg", [(128, 127), (200, 50), (255, 0), (2, 1)])
def test_trimap_thresholds_and_float_masks(dev, fg, bg):
    rng = np.random.default_rng(fg)
    soft = random_mask(rng, 97, 131, True).astype(np.float32) / 255
    want = trimap_reference(soft, 5, 2, fg, bg)
    np.testing.assert_array_equal(dev.get(edgematte.make_trimap(dev.put(soft), 5, 2, fg, bg)), want)


@pytest.mark.parametrize("bad,match", [(np.nan, "NaN values"), (1.5, "values outside"), (-0.1, "values outside")])
def test_trimap_bad_float_mask_raises(dev, bad, match):
    mask = np.zeros((8, 8), np.float32)
    mask[3, 4] = bad
    with pytest.raises(edgematte.InputError, match=match):
        edgematte.make_trimap(dev.put(mask))


def test_trimap_on_real_alpha(dev, shared_data):
    alpha = cv2.imread(str(shared_data / "portraits" / "lemur_alpha.png"), cv2.IMREAD_GRAYSCALE)
    got = dev.get(edgematte.make_trimap(dev.put(alpha), 7, 3))
    np.testing.assert_array_equal(got, trimap_reference(alpha, 7, 3, 254, 1))


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (61, 97), (1080, 1920)])
@pytest.mark.parametrize("alpha_dtype", ["uint8", "float32"])
@pytest.mark.parametrize("bg_kind", ["image", "colour", "none"])
def test_composite_within_one(dev, shape, alpha_dtype, bg_kind):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, shape, dtype=np.uint8)
    alpha[0, 0] = 255
    if alpha_dtype == "float32":
        alpha = (alpha / np.float32(255)).astype(np.float32)
    bg = {"image": rng.integers(0, 256, (*shape, 3), dtype=np.uint8), "colour": (10, 200, 30), "none": None}[bg_kind]
    dev_bg = dev.put(bg) if bg_kind == "image" else bg
    got = dev.get(edgematte.composite(dev.put(image), dev.put(alpha), dev_bg))
    want = composite_reference(image, alpha, bg)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want).max() <= 1
    cpu = getattr(edgematte, "composite", None)
    if cpu is not None:  # the CPU kernel's rounding exactly
        np.testing.assert_array_equal(got, cpu(image, alpha, bg))


def test_composite_endpoints_are_exact(dev):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for a, want in ((255, image), (0, bg)):
        alpha = np.full((16, 16), a, np.uint8)
        np.testing.assert_array_equal(dev.get(edgematte.composite(dev.put(image), dev.put(alpha), dev.put(bg))), want)


def test_composite_on_real_image(dev, shared_data):
    image = cv2.imread(str(shared_data / "portraits" / "lemur.png"), cv2.IMREAD_COLOR)
    alpha = cv2.imread(str(shared_data / "portraits" / "lemur_alpha.png"), cv2.IMREAD_GRAYSCALE)
    got = dev.get(edgematte.composite(dev.put(image), dev.put(alpha), (0, 255, 0)))
    assert np.abs(got.astype(int) - composite_reference(image, alpha, (0, 255, 0))).max() <= 1


@pytest.mark.parametrize("bad,match", [(np.nan, "NaN values"), (2.0, "values outside")])
def test_composite_bad_float_alpha_raises(dev, bad, match):
    alpha = np.zeros((4, 4), np.float32)
    alpha[1, 1] = bad
    with pytest.raises(edgematte.InputError, match=match):
        edgematte.composite(dev.put(np.zeros((4, 4, 3), np.uint8)), dev.put(alpha), (1, 2, 3))


def test_composite_in_place(dev):
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (9, 13), dtype=np.uint8)
    want = composite_reference(image, alpha, bg)
    d_image = dev.put(image)
    edgematte.composite(d_image, dev.put(alpha), dev.put(bg), out=d_image)
    assert np.abs(dev.get(d_image).astype(int) - want).max() <= 1


def preprocess_reference(image, h, w, mean, std, bgr=True):
    resized = cv2.resize(image.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    rgb = resized[..., ::-1] if bgr else resized
    return ((rgb / 255 - np.asarray(mean)) / np.asarray(std)).transpose(2, 0, 1)[None]


@pytest.mark.parametrize("src,dst", [((720, 1280), (256, 256)), ((480, 640), (480, 640)), ((33, 47), (144, 256))])
@pytest.mark.parametrize("dtype,atol", [(np.float32, 2e-5), (np.float16, 2e-3)])
def test_preprocess_matches_opencv_resize(dev, src, dst, dtype, atol):
    image = np.random.default_rng(5).integers(0, 256, (*src, 3), dtype=np.uint8)
    got = dev.get(cuda.preprocess(dev.put(image), *dst, dtype=dtype))
    assert got.dtype == dtype and got.shape == (1, 3, *dst)
    np.testing.assert_allclose(
        got.astype(np.float32), preprocess_reference(image, *dst, (0, 0, 0), (1, 1, 1)), atol=atol
    )


def test_preprocess_normalises_per_channel(dev):
    image = np.random.default_rng(6).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    got = dev.get(cuda.preprocess(dev.put(image), 64, 80, dtype=np.float32, mean=mean, std=std, bgr=False))
    np.testing.assert_allclose(got, preprocess_reference(image, 64, 80, mean, std, bgr=False), atol=1e-4)


@pytest.mark.parametrize("src,dst", [((256, 256), (720, 1280)), ((144, 256), (1080, 1920)), ((5, 3), (5, 3))])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_upsample_alpha_within_one(dev, src, dst, dtype):
    alpha = np.random.default_rng(8).random(src).astype(dtype)
    alpha[0, 0] = 1.5  # clamped
    got = dev.get(cuda.upsample_alpha(dev.put(alpha[None, None]), *dst))
    ref = cv2.resize(alpha.astype(np.float32), dst[::-1], interpolation=cv2.INTER_LINEAR)
    want = np.rint(np.clip(ref, 0, 1) * 255)
    assert got.dtype == np.uint8 and got.shape == dst
    assert np.abs(got.astype(int) - want).max() <= 1


@pytest.mark.parametrize("k,sigma", [(1, None), (5, None), (31, None), (7, 0.0), (21, 5.0)])
def test_blur_matches_opencv(dev, k, sigma):
    image = np.random.default_rng(9).integers(0, 256, (67, 91, 3), dtype=np.uint8)
    got = dev.get(cuda.blur(dev.put(image), k, sigma))
    want = cv2.blur(image, (k, k)) if sigma is None else cv2.GaussianBlur(image, (k, k), sigma)
    assert np.abs(got.astype(int) - want).max() <= 1


def test_views_with_row_pitch(dev):
    """A crop of a larger frame (row pitch > width) is read in place."""
    rng = np.random.default_rng(10)
    frame = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    mask = random_mask(rng, 64, 96, True)
    d_frame, d_mask = dev.put(frame), dev.put(mask)
    crop = (slice(8, 40), slice(16, 80))
    got = dev.get(edgematte.make_trimap(d_mask[crop], 5, 2))
    np.testing.assert_array_equal(got, trimap_reference(np.ascontiguousarray(mask[crop]), 5, 2, 254, 1))
    alpha = np.ascontiguousarray(mask[crop])
    got = dev.get(edgematte.composite(d_frame[crop], dev.put(alpha), (0, 0, 0)))
    assert np.abs(got.astype(int) - composite_reference(frame[crop], alpha, (0, 0, 0))).max() <= 1


def test_public_api_dispatches_device_arrays(dev):
    """edgematte.make_trimap / composite on device arrays run the CUDA kernels and return device arrays."""
    if not hasattr(edgematte, "make_trimap"):
        pytest.skip("the public kernels are not in this build")
    rng = np.random.default_rng(11)
    mask = random_mask(rng, 90, 160, True)
    image = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    trimap = edgematte.make_trimap(dev.put(mask))
    assert not isinstance(trimap, np.ndarray)
    np.testing.assert_array_equal(dev.get(trimap), edgematte.make_trimap(mask))
    np.testing.assert_array_equal(
        dev.get(edgematte.composite(dev.put(image), dev.put(mask), (0, 0, 255))),
        edgematte.composite(image, mask, (0, 0, 255)),
    )
