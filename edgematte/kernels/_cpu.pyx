# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Native CPU kernels (C in csrc/, OpenMP). Called by ``edgematte.kernels`` after validation.

Inputs arrive validated: dtypes and shapes checked, pixels contiguous within each row (any row
stride), ``out`` allocated, thresholds in range. ``threads`` <= 0 means all cores.
"""

from libc.stdint cimport uint8_t

import numpy as np

from edgematte.kernels._status import raise_for_status as _check


cdef extern from "em_common.h":
    int em_unit_to_u8(const float *f, uint8_t *out, int n) noexcept nogil


def ellipse_halfwidths(int ksize):
    """Half-width of each row of cv2.getStructuringElement(MORPH_ELLIPSE, (ksize, ksize)), as a list."""
    cdef int[::1] hw = np.zeros(max(ksize, 1), dtype=np.intc)
    _check(em_ellipse_halfwidths(ksize, &hw[0]), "ellipse_halfwidths")
    return list(hw)


def make_trimap(mask, int kernel_size, int iterations, int fg, int bg, uint8_t[:, :] out not None, int threads):
    """mask uint8 HxW 0..255 or float32 HxW 0..1 -> out uint8 HxW {0, 128, 255}."""
    cdef const uint8_t[:, :] m8
    cdef const float[:, :] mf
    cdef const void *mp
    cdef Py_ssize_t mstride
    cdef int is_float = mask.dtype.kind == "f"
    cdef int st
    if is_float:
        mf = mask
        mp = &mf[0, 0]
        mstride = mf.strides[0]
    else:
        m8 = mask
        mp = &m8[0, 0]
        mstride = m8.strides[0]
    with nogil:
        st = em_make_trimap(mp, is_float, mstride, <int>out.shape[0], <int>out.shape[1], kernel_size, iterations,
                            fg, bg, &out[0, 0], out.strides[0], threads)
    _check(st, "mask", mask)


def composite(const uint8_t[:, :, :] image not None, alpha, background, colour,
              uint8_t[:, :, :] out not None, int threads):
    """image uint8 HxWx3, alpha uint8/float32 HxW, background uint8 HxWx3 or None,
    colour 3 ints or None -> out uint8 HxWx3 (HxWx4 when both are None)."""
    cdef const uint8_t[:, :] a8
    cdef const float[:, :] af
    cdef const uint8_t[:, :, :] bg
    cdef const void *ap
    cdef Py_ssize_t astride
    cdef int is_float = 0
    cdef const uint8_t *bp = NULL
    cdef Py_ssize_t bstride = 0
    cdef uint8_t col[3]
    cdef const uint8_t *cp = NULL
    cdef int st
    if alpha.dtype.kind == "f":
        af = alpha
        ap = &af[0, 0]
        astride = af.strides[0]
        is_float = 1
    else:
        a8 = alpha
        ap = &a8[0, 0]
        astride = a8.strides[0]
    if background is not None:
        bg = background
        bp = &bg[0, 0, 0]
        bstride = bg.strides[0]
    elif colour is not None:
        col[0], col[1], col[2] = colour
        cp = col
    with nogil:
        st = em_composite(&image[0, 0, 0], image.strides[0], ap, is_float, astride, bp, bstride, cp,
                          &out[0, 0, 0], out.strides[0], <int>image.shape[0], <int>image.shape[1], threads)
    _check(st, "alpha", alpha)


def unit_to_u8(const float[:, :] values not None, uint8_t[:, :] out not None):
    """values float32 HxW -> out uint8 HxW (rows contiguous): NaN -> 0, clamped to 0..1, then
    round-half-even(x * 255) in float32 (em_unit_to_u8, the rule the float-alpha kernels read by)."""
    cdef Py_ssize_t y
    cdef int n = <int>values.shape[1]
    if n == 0:
        return
    with nogil:
        for y in range(values.shape[0]):
            em_unit_to_u8(&values[y, 0], &out[y, 0], n)  # its out-of-range flag: values outside 0..1 are clamped
