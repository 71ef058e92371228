# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython binding of csrc/fgf.c: RobustVideoMatting's fast-guided-filter output step at full resolution, fused
(trusted inputs). The NumPy twin and the contract: :func:`edgematte.models.rvm.fgf_apply_reference`.
"""

from libc.stdint cimport uint8_t

from edgematte.kernels._status import raise_for_status as _check


cdef extern from "fgf.h" nogil:
    int em_fgf_apply(const uint8_t *frame, int height, int width, const float *a, const float *b, int small_height,
                     int small_width, uint8_t *alpha, uint8_t *foreground, int threads) noexcept


def fgf_apply(const uint8_t[:, :, ::1] frame not None, const float[:, :, ::1] a not None,
              const float[:, :, ::1] b not None, uint8_t[:, ::1] alpha not None,
              uint8_t[:, :, ::1] foreground not None, int threads):
    """frame [H,W,3] uint8 BGR; a, b [4,h,w] float32 (channels R, G, B, grey) -> alpha, foreground (BGR).

    Bilinear (half-pixel, edge-clamped) upsampling of a and b, then per pixel with x = (R, G, B,
    mean(R, G, B)) / 255: y = a * x + b; foreground = clip(y[:3] + x[:3]), alpha = clip(y[3]).
    """
    cdef int H = frame.shape[0], W = frame.shape[1], h = a.shape[1], w = a.shape[2], status
    if frame.shape[2] != 3 or a.shape[0] != 4 or b.shape[0] != 4 or b.shape[1] != h or b.shape[2] != w \
            or alpha.shape[0] != H or alpha.shape[1] != W or foreground.shape[0] != H or foreground.shape[1] != W \
            or foreground.shape[2] != 3:
        raise ValueError("fgf_apply: shapes of frame, a, b, alpha and foreground disagree")
    with nogil:
        status = em_fgf_apply(&frame[0, 0, 0], H, W, &a[0, 0, 0], &b[0, 0, 0], h, w, &alpha[0, 0],
                              &foreground[0, 0, 0], threads)
    _check(status, "em_fgf_apply")
