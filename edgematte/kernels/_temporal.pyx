# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython binding of csrc/temporal.c (motion-adaptive temporal smoothing of small-size coefficients).

Arguments are validated by the caller (:class:`edgematte.temporal.Temporal`, through the host space); this
module trusts them. The executable specification is :mod:`edgematte.kernels._temporal_reference`.
"""

from libc.stdint cimport uint8_t, uint16_t, uint64_t

from edgematte.kernels._status import raise_for_status as _check


cdef extern from "temporal.h" nogil:
    int em_temporal_weights(const uint8_t *guide, uint8_t *previous, int height, int width, float strength,
                            float still, float moving, float *weights, uint16_t *scratch) noexcept
    int em_temporal_blend(const float *weights, const float *values, float *state, int channels, int height,
                          int width, const uint8_t *known_guide, float known_tol) noexcept
    uint64_t em_difference_keep(const uint8_t *frame, uint8_t *previous, size_t n) noexcept
    int em_temporal_alpha(const float *weights, int h, int w, uint8_t *alpha, float *state, int height,
                          int width) noexcept


def difference_keep(const uint8_t[::1] frame not None, uint8_t[::1] previous not None):
    """The sum of |frame - previous| (uint8, equal lengths: the cut detector's frames, flattened); previous <- frame."""
    cdef size_t n = frame.shape[0]
    cdef uint64_t total
    if previous.shape[0] != n:
        raise ValueError("difference_keep: frame and previous differ in length")
    if n == 0:
        return 0
    with nogil:
        total = em_difference_keep(&frame[0], &previous[0], n)
    return total


def temporal_weights(const uint8_t[:, :, ::1] guide not None, uint8_t[:, :, ::1] previous not None,
                     float[:, ::1] weights not None, float strength, float still, float moving,
                     uint16_t[::1] scratch=None):
    """weights [h,w] float32 <- the past's weight per pixel; previous <- guide (see temporal.h).
    scratch: uint16 [2 * h * w] or None."""
    cdef int h = guide.shape[0], w = guide.shape[1], status
    cdef uint16_t *sp = NULL
    if guide.shape[2] != 3 or previous.shape[0] != h or previous.shape[1] != w or previous.shape[2] != 3 \
            or weights.shape[0] != h or weights.shape[1] != w:
        raise ValueError("temporal_weights: shapes of guide, previous and weights disagree")
    if scratch is not None:
        if scratch.shape[0] < 2 * h * w:
            raise ValueError("temporal_weights: scratch is smaller than 2 * h * w")
        sp = &scratch[0]
    with nogil:
        status = em_temporal_weights(&guide[0, 0, 0], &previous[0, 0, 0], h, w, strength, still, moving,
                                     &weights[0, 0], sp)
    _check(status, "em_temporal_weights")


def temporal_blend(const float[:, ::1] weights not None, const float[:, :, ::1] values not None,
                   float[:, :, ::1] state not None, known_guide=None, float known_tol=0.5):
    """state [c,h,w] float32 <- weights * state + (1 - weights) * values; with ``known_guide`` ([h,w,3] uint8,
    c = 4: the fast guided filter's coefficients) known cells of values are kept exact (see temporal.h)."""
    cdef int h = weights.shape[0], w = weights.shape[1], c = values.shape[0], status
    cdef const uint8_t[:, :, ::1] guide
    cdef const uint8_t *gp = NULL
    if values.shape[1] != h or values.shape[2] != w or state.shape[0] != c or state.shape[1] != h \
            or state.shape[2] != w:
        raise ValueError("temporal_blend: shapes of weights, values and state disagree")
    if known_guide is not None:
        guide = known_guide
        if guide.shape[0] != h or guide.shape[1] != w or guide.shape[2] != 3 or c != 4:
            raise ValueError("temporal_blend: known_guide must be [h,w,3] and values [4,h,w]")
        gp = &guide[0, 0, 0]
    with nogil:
        status = em_temporal_blend(&weights[0, 0], &values[0, 0, 0], &state[0, 0, 0], c, h, w, gp, known_tol)
    _check(status, "em_temporal_blend")


def temporal_alpha(weights, uint8_t[:, ::1] alpha not None, float[:, ::1] state not None):
    """alpha [H,W] uint8 and state [H,W] float32, in place: the full-resolution alpha smoothed with ``weights``
    ([h,w] float32, upsampled; None: the first frame, state <- alpha) (see temporal.h)."""
    cdef const float[:, ::1] wv
    cdef const float *wp = NULL
    cdef int h = 0, w = 0, status
    if state.shape[0] != alpha.shape[0] or state.shape[1] != alpha.shape[1]:
        raise ValueError("temporal_alpha: shapes of alpha and state disagree")
    if weights is not None:
        wv = weights
        if wv.shape[0] < 1 or wv.shape[1] < 1:
            raise ValueError("temporal_alpha: weights is empty")
        h, w, wp = wv.shape[0], wv.shape[1], &wv[0, 0]
    with nogil:
        status = em_temporal_alpha(wp, h, w, &alpha[0, 0], &state[0, 0], alpha.shape[0], alpha.shape[1])
    _check(status, "em_temporal_alpha")
