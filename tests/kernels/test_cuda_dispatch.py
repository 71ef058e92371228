"""Dispatch and validation of the CUDA path, on the CPU.

``FakeDeviceArray`` only exposes ``__cuda_array_interface__`` metadata (it points at host memory
nothing dereferences): it checks how we read the interface, validate and route, and that the
error is clear when pycuda/CuPy or a GPU is missing. No kernel runs here.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from edgematte.errors import BackendUnavailableError, InputError
import edgematte
from edgematte.kernels import cuda
from edgematte import validate
from edgematte.kernels.cuda import _runtime as cr


class FakeDeviceArray:
    def __init__(self, shape, dtype="uint8", strides=None, readonly=False, stream=None, mask=None, ptr=0x1000):
        self.__cuda_array_interface__ = {
            "shape": tuple(shape),
            "typestr": np.dtype(dtype).str,
            "data": (ptr, readonly),
            "strides": strides,
            "version": 3,
            "stream": stream,
            "mask": mask,
        }


class CpuTensorLike:
    """torch CPU tensors raise AttributeError from the property."""

    @property
    def __cuda_array_interface__(self):
        raise AttributeError("Can't get __cuda_array_interface__ on non-CUDA tensor")


@pytest.fixture
def no_cuda(monkeypatch):
    """Neither pycuda nor CuPy importable, whatever this machine has."""
    monkeypatch.setattr(cr, "_importable", lambda name: False)
    monkeypatch.setattr(cr, "_RUNTIMES", {})


def test_is_cuda_array():
    assert cuda.is_cuda_array(FakeDeviceArray((2, 2)))
    assert not cuda.is_cuda_array(np.zeros((2, 2), np.uint8))
    assert not cuda.is_cuda_array(CpuTensorLike())
    assert not cuda.is_cuda_array([1, 2])


def test_view_fills_packed_strides_and_pitch():
    d = validate.cuda_view(FakeDeviceArray((4, 5, 3)), "image")
    assert d.strides == (15, 3, 1) and d.pitch(3) == 15 and d.nbytes_span == 60
    f = validate.cuda_view(FakeDeviceArray((4, 5), "float32"), "alpha")
    assert f.strides == (20, 4) and f.pitch(4) == 20


def test_row_pitch_of_a_view_is_accepted():
    # a 4x5 crop of a 4x8 frame: rows 24 bytes apart
    d = validate.cuda_view(FakeDeviceArray((4, 5, 3), strides=(24, 3, 1)), "image")
    assert d.pitch(3) == 24


@pytest.mark.parametrize(
    "shape,strides",
    [((4, 5, 3), (15, 1, 5)), ((4, 5), (5, 2)), ((4, 5), (-5, 1)), ((4, 5, 3), (8, 3, 1))],
    ids=["planar", "column-step", "negative-row", "overlapping-rows"],
)
def test_unpacked_layouts_are_refused(shape, strides):
    d = validate.cuda_view(FakeDeviceArray(shape, strides=strides), "image")
    with pytest.raises(InputError, match="has strides"):
        d.pitch(shape[-1] if len(shape) == 3 else 1)


def test_layout_errors_surface_before_any_runtime(no_cuda):
    planar = FakeDeviceArray((4, 5, 3), strides=(15, 1, 5))
    with pytest.raises(InputError, match="has strides"):
        edgematte.composite(planar, FakeDeviceArray((4, 5), ptr=0x9000), (0, 0, 0))
    with pytest.raises(InputError, match="has strides"):
        cuda.preprocess(planar, 2, 2)
    with pytest.raises(InputError, match="has strides"):
        cuda.blur(planar, 3)
    with pytest.raises(InputError, match="has strides"):
        cuda.upsample_alpha(FakeDeviceArray((4, 5), "float32", strides=(20, 8)), 8, 8)
    with pytest.raises(InputError, match="has strides"):
        edgematte.make_trimap(FakeDeviceArray((4, 5)), out=FakeDeviceArray((4, 5), strides=(5, 2), ptr=0x9000))


def test_host_arrays_are_not_device_arrays():
    with pytest.raises(InputError, match=r"mask is uint8 array of shape \(2, 2\); expected a device array"):
        validate.cuda_view(np.zeros((2, 2), np.uint8), "mask")
    with pytest.raises(InputError, match=r"image is list; expected a device array"):
        cuda.blur([[1]], 3)


def test_public_stream_reaches_the_device_path(no_cuda):
    with pytest.raises(BackendUnavailableError):  # validated, then no runtime here
        edgematte.make_trimap(FakeDeviceArray((8, 8)), stream=Handle(ptr=0xAB))


def test_masked_array_is_refused():
    with pytest.raises(InputError, match="masked"):
        validate.cuda_view(FakeDeviceArray((2, 2), mask=(0x2000, False)), "mask")


@pytest.mark.parametrize(
    "mask,kwargs,match",
    [
        (FakeDeviceArray((4, 4, 1)), {}, r"mask has shape \(4, 4, 1\) \(3 dims\); expected HxW"),
        (FakeDeviceArray((4, 4), "int16"), {}, "mask has dtype int16; expected HxW uint8"),
        (FakeDeviceArray((0, 4)), {}, "empty"),
        (FakeDeviceArray((4, 4)), {"kernel_size": 4}, "kernel_size is 4; expected an odd int"),
        (FakeDeviceArray((4, 4)), {"kernel_size": -1}, "kernel_size"),
        (FakeDeviceArray((4, 4)), {"kernel_size": 3.0}, "kernel_size"),
        (FakeDeviceArray((4, 4)), {"kernel_size": 259}, "kernel_size"),
        (FakeDeviceArray((4, 4)), {"iterations": 0}, "iterations"),
        (FakeDeviceArray((4, 4)), {"kernel_size": 65, "iterations": 5}, "radius of 160"),
        (FakeDeviceArray((4, 4)), {"fg_threshold": 256}, "fg_threshold is 256"),
        (FakeDeviceArray((4, 4)), {"bg_threshold": True}, "bg_threshold"),
        (FakeDeviceArray((4, 4)), {"fg_threshold": 10, "bg_threshold": 10}, "bg_threshold=10 >= fg_threshold=10"),
        (FakeDeviceArray((4, 4)), {"out": np.zeros((4, 4), np.uint8)}, "expected a device array"),
        (FakeDeviceArray((4, 4)), {"out": FakeDeviceArray((4, 5), ptr=0x9000)}, r"expected uint8 of shape \(4, 4\)"),
        (FakeDeviceArray((4, 4)), {"out": FakeDeviceArray((4, 4), readonly=True, ptr=0x9000)}, "read-only"),
        (FakeDeviceArray((4, 4)), {"out": FakeDeviceArray((4, 4), ptr=0x1008)}, "overlaps mask"),
        (FakeDeviceArray((4, 4)), {"out": FakeDeviceArray((4, 4))}, "overlaps mask"),
    ],
)
def test_make_trimap_input_errors(no_cuda, mask, kwargs, match):
    with pytest.raises(InputError, match=match):
        edgematte.make_trimap(mask, **kwargs)


@pytest.mark.parametrize(
    "image,alpha,background,match",
    [
        (FakeDeviceArray((4, 4, 4)), FakeDeviceArray((4, 4)), None, r"image has shape \(4, 4, 4\) \(4 channels\)"),
        (FakeDeviceArray((4, 4, 3), "float32"), FakeDeviceArray((4, 4)), None, "image has dtype float32"),
        (FakeDeviceArray((4, 4, 3)), FakeDeviceArray((4, 5)), None, "alpha has shape .* but image"),
        (FakeDeviceArray((4, 4, 3)), FakeDeviceArray((4, 4), "float64"), None, "alpha has dtype float64"),
        (FakeDeviceArray((4, 4, 3)), FakeDeviceArray((4, 4)), (0, 300, 0), "background colour value is 300"),
        (FakeDeviceArray((4, 4, 3)), FakeDeviceArray((4, 4)), (0, 0), "colour has 2 values"),
        (FakeDeviceArray((4, 4, 3)), FakeDeviceArray((4, 4)), 7, "background is int"),
        (FakeDeviceArray((4, 4, 3)), FakeDeviceArray((4, 4)), FakeDeviceArray((4, 5, 3)), "background has shape"),
        (FakeDeviceArray((4, 4, 3)), FakeDeviceArray((4, 4)), np.zeros((4, 4, 3), np.uint8),
         "background is uint8 array .* expected a device array"),
    ],
)
def test_composite_input_errors(no_cuda, image, alpha, background, match):
    with pytest.raises(InputError, match=match):
        edgematte.composite(image, alpha, background)


def test_composite_out_may_be_exactly_image_or_background(no_cuda):
    image, alpha, bg = (
        FakeDeviceArray((4, 4, 3)),
        FakeDeviceArray((4, 4), ptr=0x5000),
        FakeDeviceArray((4, 4, 3), ptr=0x7000),
    )
    for out in (FakeDeviceArray((4, 4, 3)), FakeDeviceArray((4, 4, 3), ptr=0x7000)):
        with pytest.raises(BackendUnavailableError):  # validation passed; no runtime here
            edgematte.composite(image, alpha, bg, out=out)
    with pytest.raises(InputError, match="overlaps alpha"):
        edgematte.composite(image, alpha, bg, out=FakeDeviceArray((4, 4, 3), ptr=0x5000))
    with pytest.raises(InputError, match="overlaps image"):  # shifted by one pixel: not in place
        edgematte.composite(image, alpha, bg, out=FakeDeviceArray((4, 4, 3), ptr=0x1003))


def test_valid_input_without_pycuda_or_cupy_says_what_to_install(no_cuda):
    with pytest.raises(BackendUnavailableError, match="pycuda is not installed; cupy is not installed") as info:
        edgematte.make_trimap(FakeDeviceArray((8, 8)))
    assert "edgematte[trt]" in str(info.value)
    with pytest.raises(BackendUnavailableError):
        edgematte.composite(FakeDeviceArray((8, 8, 3)), FakeDeviceArray((8, 8)), (1, 2, 3))
    with pytest.raises(BackendUnavailableError):
        cuda.preprocess(FakeDeviceArray((8, 8, 3)), 4, 4)
    with pytest.raises(BackendUnavailableError):
        cuda.upsample_alpha(FakeDeviceArray((1, 1, 4, 4), "float16"), 8, 8)


def test_installed_cupy_without_a_gpu_is_reported(monkeypatch):
    """Real CuPy on a machine without a driver (skips where CuPy is absent or a GPU is present)."""
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() > 0:
            pytest.skip("a GPU is present")
    except cupy.cuda.runtime.CUDARuntimeError:
        pass
    monkeypatch.setattr(cr, "_RUNTIMES", {})
    monkeypatch.setattr(cr, "_importable", lambda name: name == "cupy")
    with pytest.raises(BackendUnavailableError, match="cupy could not start CUDA"):
        edgematte.make_trimap(FakeDeviceArray((8, 8)))


def test_driver_failure_is_reported_not_raised_raw(monkeypatch):
    """pycuda installed but no GPU/driver: cuInit fails inside the runtime constructor."""

    class NoDriver:
        def __init__(self):
            raise RuntimeError("cuInit failed: no CUDA-capable device is detected")

    monkeypatch.setattr(cr, "_RUNTIMES", {})
    monkeypatch.setattr(cr, "_importable", lambda name: name == "pycuda")
    monkeypatch.setattr(cr, "PycudaRuntime", NoDriver)
    with pytest.raises(BackendUnavailableError, match="pycuda could not start CUDA .*no CUDA-capable device"):
        edgematte.make_trimap(FakeDeviceArray((8, 8)))


class FakeRuntime:
    def __init__(self, name):
        self.name = name


class Handle:
    def __init__(self, **attrs):
        self.__dict__.update(attrs)


@pytest.mark.parametrize(
    "stream,cai_stream,expected",
    [
        (None, None, None),
        (None, 1, None),  # legacy default stream
        (0, None, None),
        (Handle(ptr=0xAB), None, 0xAB),  # CuPy
        (Handle(cuda_stream=0xCD), None, 0xCD),  # torch
        (None, 0xEF, 0xEF),  # producer's stream from the array interface
        (np.int64(0x12), None, 0x12),
    ],
)
def test_cupy_runtime_launches_on_any_stream(stream, cai_stream, expected):
    assert cr.resolve_stream(FakeRuntime("cupy"), stream, cai_stream) == (expected, False)


def test_pycuda_runtime_fences_producer_streams_and_refuses_explicit_foreign_ones():
    assert cr.resolve_stream(FakeRuntime("pycuda"), None, None) == (None, False)
    assert cr.resolve_stream(FakeRuntime("pycuda"), None, 1) == (None, False)
    assert cr.resolve_stream(FakeRuntime("pycuda"), None, 0xEF) == (None, True)
    with pytest.raises(InputError, match="pycuda.driver.Stream"):
        cr.resolve_stream(FakeRuntime("pycuda"), Handle(ptr=0xAB), None)
    with pytest.raises(InputError, match="received stream of type str"):
        cr.resolve_stream(FakeRuntime("cupy"), "fast", None)


def test_session_synchronises_around_a_fenced_launch():
    calls = []

    class Recording(FakeRuntime):
        def context(self):
            return contextlib.nullcontext()

        def synchronize(self, stream):
            calls.append(("sync", stream))

    with cr.session(Recording("pycuda"), None, 0xEF) as s:
        calls.append(("launch", s))
    assert calls == [("sync", None), ("launch", None), ("sync", None)]
    calls.clear()
    with cr.session(Recording("cupy"), None, 0xEF) as s:
        calls.append(("launch", s))
    assert calls == [("launch", 0xEF)]


def test_pack_args_uses_the_c_types():
    args = cr.pack_args("em_k_blur_h", (0x1000, 24, None, 8, 4, 0x2000, 2))
    assert [a.dtype for a in args] == [np.uintp, np.int64, np.uintp, np.int32, np.int32, np.uintp, np.int32]
    assert int(args[2]) == 0


def test_grid_covers_the_image():
    assert cr.grid_for(1, 1) == (1, 1, 1)
    assert cr.grid_for(33, 9) == (2, 2, 1)
    assert cr.grid_for(1920, 1080) == (60, 135, 1)


def test_blur_taps():
    assert np.allclose(cuda.blur_taps(5), 0.2) and cuda.blur_taps(5).dtype == np.float32
    g = cuda.blur_taps(7, 1.5)
    assert g.shape == (7,) and abs(g.sum() - 1) < 1e-6 and g[3] == g.max()
    with pytest.raises(InputError):
        cuda.blur_taps(4)


def test_sources_ship_in_the_package():
    assert (cr.CUDA_DIR / "trimap.cu").is_file() and (cr.COMMON_DIR / "em_common.h").is_file()


def test_public_functions_route_device_arrays_to_cuda(no_cuda):
    with pytest.raises(BackendUnavailableError, match="received CUDA arrays"):
        edgematte.make_trimap(FakeDeviceArray((8, 8)))
    with pytest.raises(BackendUnavailableError, match="received CUDA arrays"):
        edgematte.composite(FakeDeviceArray((8, 8, 3)), FakeDeviceArray((8, 8)), (0, 0, 0))
    assert edgematte.make_trimap(np.zeros((8, 8), np.uint8)).tolist() == np.zeros((8, 8), np.uint8).tolist()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 4},
        {"kernel_size": 3.0},
        {"iterations": 0},
        {"kernel_size": 65, "iterations": 5},
        {"fg_threshold": 256},
        {"bg_threshold": True},
        {"fg_threshold": 10, "bg_threshold": 10},
        {"threads": 0},
    ],
)
def test_trimap_errors_match_the_cpu_path(no_cuda, kwargs):
    with pytest.raises(InputError) as cpu:
        edgematte.make_trimap(np.zeros((4, 4), np.uint8), **kwargs)
    with pytest.raises(InputError) as gpu:
        edgematte.make_trimap(FakeDeviceArray((4, 4)), **kwargs)
    assert str(gpu.value) == str(cpu.value)


@pytest.mark.parametrize(
    "shape,dtype,alpha_shape,background",
    [
        ((4, 4, 4), "uint8", (4, 4), None),
        ((4, 4, 3), "float32", (4, 4), None),
        ((4, 4, 3), "uint8", (4, 5), None),
        ((4, 4, 3), "uint8", (4, 4), (0, 300, 0)),
        ((4, 4, 3), "uint8", (4, 4), (0, 0)),
        ((4, 4, 3), "uint8", (4, 4), 7),
    ],
)
def test_composite_errors_match_the_cpu_path(no_cuda, shape, dtype, alpha_shape, background):
    with pytest.raises(InputError) as cpu:
        edgematte.composite(np.zeros(shape, dtype), np.zeros(alpha_shape, np.uint8), background)
    with pytest.raises(InputError) as gpu:
        edgematte.composite(FakeDeviceArray(shape, dtype), FakeDeviceArray(alpha_shape, ptr=0x8000), background)
    assert str(gpu.value) == str(cpu.value)
