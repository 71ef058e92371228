# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython binding of csrc/temporal.c (motion-adaptive temporal smoothing of small-size coefficients).

Arguments are validated by the caller (the pipeline's temporal stage); this module trusts them. The
executable specification is :mod:`edgematte.kernels._temporal_reference`.
"""

from libc.stdint cimport uint8_t, uint16_t

from edgematte.kernels._status import raise_for_status as _check


cdef extern from "temporal.h" nogil:
    int em_temporal_smooth(const uint8_t *guide, uint8_t *previous, const float *values, float *state, int channels,
                           int height, int width, float strength, float still, float moving, int restart,
                           uint16_t *scratch, int threads) noexcept


def temporal_smooth(const uint8_t[:, :, ::1] guide not None, uint8_t[:, :, ::1] previous not None,
                    const float[:, :, ::1] values not None, float[:, :, ::1] state not None, float strength,
                    float still, float moving, bint restart, uint16_t[::1] scratch, int threads):
    """state [c,h,w] float32 <- the motion-adaptive blend of itself and values; previous <- guide (see temporal.h).
    scratch: uint16 [2 * h * w] or None."""
    cdef int h = guide.shape[0], w = guide.shape[1], c = values.shape[0], status
    cdef uint16_t *sp = NULL
    if guide.shape[2] != 3 or previous.shape[0] != h or previous.shape[1] != w or previous.shape[2] != 3 \
            or values.shape[1] != h or values.shape[2] != w or state.shape[0] != c or state.shape[1] != h \
            or state.shape[2] != w:
        raise ValueError("temporal_smooth: shapes of guide, previous, values and state disagree")
    if scratch is not None:
        if scratch.shape[0] < 2 * h * w:
            raise ValueError("temporal_smooth: scratch is smaller than 2 * h * w")
        sp = &scratch[0]
    with nogil:
        status = em_temporal_smooth(&guide[0, 0, 0], &previous[0, 0, 0], &values[0, 0, 0], &state[0, 0, 0], c, h, w,
                                    strength, still, moving, restart, sp, threads)
    _check(status, "em_temporal_smooth")
