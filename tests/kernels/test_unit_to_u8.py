"""Float alpha -> uint8: one rule (NaN -> 0, clamped to 0..1, round half to even of x * 255 in float32),
the same in the native kernel, its NumPy twin and the host space's to_u8 (the model steps' outputs), and
never a library's corner case (cv2.convertScaleAbs changed NaN and infinities between releases)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from alpha_rule import EXPECTED, VALUES
from edgematte.errors import InputError, InternalError
from edgematte.kernels import trusted
from edgematte.kernels.cuda import _runtime as cr
from edgematte.pipeline.host import HostSpace

HOST = ["cpu", "reference"]


@pytest.mark.parametrize("name", HOST)
def test_unit_to_u8_follows_the_promised_rule(name):
    values = VALUES.reshape(1, -1)
    out = np.full(values.shape, 7, np.uint8)
    assert trusted(name).unit_to_u8(values, out) is out
    np.testing.assert_array_equal(out[0], EXPECTED)


@pytest.mark.parametrize("name", HOST)
def test_unit_to_u8_is_round_half_even_of_alpha_times_255_in_0_1(name):
    values = np.random.default_rng(4).random((37, 53), dtype=np.float32)
    out = trusted(name).unit_to_u8(values, np.empty(values.shape, np.uint8))
    np.testing.assert_array_equal(out, np.rint(values * np.float32(255)).astype(np.uint8))


@pytest.mark.parametrize("name", HOST)
def test_unit_to_u8_reads_and_writes_row_strided_views(name):
    values = np.random.default_rng(5).random((20, 30), dtype=np.float32)
    out = np.zeros((20, 40), np.uint8)
    trusted(name).unit_to_u8(values[3:15, 5:25], out[2:14, 10:30])
    np.testing.assert_array_equal(out[2:14, 10:30], np.rint(values[3:15, 5:25] * np.float32(255)))
    assert not out[:2].any() and not out[14:].any() and not out[:, :10].any() and not out[:, 30:].any()


def test_unit_to_u8_takes_empty_arrays():
    for shape in ((0, 5), (5, 0)):
        trusted("cpu").unit_to_u8(np.empty(shape, np.float32), np.empty(shape, np.uint8))


def test_the_device_space_asks_its_array_module():
    with pytest.raises(InternalError, match="host arrays"):
        trusted("cuda").unit_to_u8(np.zeros((1, 1), np.float32), np.zeros((1, 1), np.uint8))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=9),
                  elements=st.floats(width=32, allow_nan=True, allow_infinity=True)))
def test_every_implementation_agrees_on_any_float(values):
    outs = [trusted(name).unit_to_u8(values, np.empty(values.shape, np.uint8)) for name in HOST]
    outs.append(HostSpace().to_u8(values[None], np.empty(values.shape, np.uint8)))
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_the_host_space_turns_alpha_and_foreground_planes_into_uint8_by_the_rule():
    """What the model steps hand over (RVM's pha and fgr): [1,h,w] -> [h,w]; RGB [3,h,w] -> BGR [h,w,3]."""
    space = HostSpace()
    planes = np.stack([VALUES, np.full_like(VALUES, 0.5), np.zeros_like(VALUES)])[:, None]  # R, G, B of 1 x n
    alpha = space.to_u8(planes[:1], np.empty((1, VALUES.size), np.uint8))
    np.testing.assert_array_equal(alpha[0], EXPECTED)
    bgr = space.to_u8(planes, np.empty((1, VALUES.size, 3), np.uint8))
    np.testing.assert_array_equal(bgr[0, :, 2], EXPECTED)
    assert (bgr[0, :, 1] == 128).all() and (bgr[0, :, 0] == 0).all()
    half = planes[:1].astype(np.float16)  # a float16 model's output, read by the same rule
    want = trusted("reference").unit_to_u8(half[0].astype(np.float32), np.empty((1, VALUES.size), np.uint8))
    np.testing.assert_array_equal(space.to_u8(half, np.empty((1, VALUES.size), np.uint8)), want)


# The native kernel runs blocks of 32 (AVX2) and 16 (SSE2) values on x86-64, then the plain loop: rows up to
# 100 wide reach every path and every lane of each.
WIDTHS = [1, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 100]


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 100)),
                  elements=st.floats(width=32, allow_nan=True, allow_infinity=True)
                  | st.sampled_from([float(v) for v in VALUES])))
def test_every_implementation_agrees_on_any_float_in_rows_of_any_width(values):
    outs = [trusted(name).unit_to_u8(values, np.empty(values.shape, np.uint8)) for name in HOST]
    np.testing.assert_array_equal(outs[1], outs[0])


@pytest.mark.parametrize("width", WIDTHS)
def test_each_promised_value_in_each_position_of_a_row(width):
    for shift in range(VALUES.size):
        values = np.resize(np.roll(VALUES, shift), (1, width))
        out = trusted("cpu").unit_to_u8(values, np.empty(values.shape, np.uint8))
        np.testing.assert_array_equal(out[0], np.resize(np.roll(EXPECTED, shift), width))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("bad", [np.nan, 1.0 + 2 ** -23, -(2.0 ** -149), np.inf])
def test_the_kernels_flag_a_bad_float_alpha_in_any_position(width, bad):
    """composite's float alpha goes through the same rule, which also reports NaN and out-of-range values."""
    image = np.zeros((1, width, 3), np.uint8)
    for x in sorted({0, width // 2, width - 1}):
        alpha = np.full((1, width), 0.5, np.float32)
        alpha[0, x] = bad
        with pytest.raises(InputError, match="holds"):
            trusted("cpu").composite(image, alpha, (0, 0, 0), np.empty((1, width, 3), np.uint8))
    alpha = np.full((1, width), 0.5, np.float32)
    trusted("cpu").composite(image, alpha, (0, 0, 0), np.empty((1, width, 3), np.uint8))


# Each loop of em_unit_to_u8 on its own (unit_to_u8_paths.c, built here with cc and the flags setup.py uses): on one
# machine the dispatcher sends almost every value through one of them, so each is checked here over whole rows
# against the NumPy rule and its flag. "avx2" is em_unit_to_u8 itself (AVX2, then SSE2 for a block of 16).
PATHS = {"plain": 0, "sse2": 1, "avx2": 2}
NEAR_TIES = np.array([np.nextafter(np.float32((k + 0.5) / 255), np.float32(d * np.inf))
                      for k in range(255) for d in (-1, 0, 1)], np.float32)  # (k + 0.5) / 255 and its neighbours


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler here: em_unit_to_u8's SIMD loops are checked one by one through cc")
    out = tmp_path_factory.mktemp("unit_to_u8") / "paths.so"
    subprocess.run([cc, "-O3", "-std=c99", "-shared", "-fPIC", f"-I{cr.COMMON_DIR}", "-o", str(out),
                    str(Path(__file__).with_name("unit_to_u8_paths.c"))], check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(out))
    lib.em_u8_path.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.em_u8_exhaustive.argtypes, lib.em_u8_exhaustive.restype = [ctypes.c_int], ctypes.c_longlong
    return lib


def _run(paths, path, values, start):
    """``values`` copied to ``start`` floats past a 32-byte boundary, through one loop: (uint8 out, flag)."""
    buf = np.zeros(values.size + 16, np.float32)
    base = (-buf.ctypes.data // 4) % 8 + start
    buf[base : base + values.size] = values
    out = np.full(values.size + 1, 7, np.uint8)
    ok = paths.em_u8_path(buf.ctypes.data + 4 * base, out.ctypes.data, values.size, PATHS[path])
    if ok < 0:
        pytest.skip(f"the {path} loop is not built for this CPU")
    assert out[-1] == 7, "wrote past the row"
    return out[:-1], ok


def _rule(values):
    want = np.empty((1, values.size), np.uint8)
    trusted("reference").unit_to_u8(values[None], want)
    return want[0]


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=150, deadline=None)
@given(values=hnp.arrays(np.float32, st.integers(0, 100),
                         elements=st.floats(width=32, allow_nan=True, allow_infinity=True)
                         | st.sampled_from([float(v) for v in np.concatenate([VALUES, NEAR_TIES])])),
       start=st.integers(0, 7))
def test_each_simd_loop_follows_the_numpy_rule_at_any_length_and_start(paths, path, values, start):
    out, ok = _run(paths, path, values, start)
    np.testing.assert_array_equal(out, _rule(values))
    assert ok == int(bool(((values >= 0) & (values <= 1)).all()))


@pytest.mark.parametrize("path", PATHS)
def test_each_simd_loop_rounds_the_ties_and_their_neighbours_by_the_rule(paths, path):
    values = np.concatenate([NEAR_TIES, VALUES, np.float32([1e30, -1e30, 3e38, 2.0 ** -149, -(2.0 ** -149)])])
    for start in range(8):
        out, _ = _run(paths, path, values, start)
        np.testing.assert_array_equal(out, _rule(values))


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS)
def test_each_simd_loop_follows_the_rule_for_every_float32(paths, path):
    """All 2^32 bit patterns against the rule written with rintf, in rows of whole blocks at unaligned starts."""
    wrong = paths.em_u8_exhaustive(PATHS[path])
    if wrong < 0:
        pytest.skip(f"the {path} loop is not built for this CPU")
    assert wrong == 0
