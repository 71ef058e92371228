# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython binding of csrc/edges.c (edge controls on a finished alpha, in place).

Arguments are validated by the caller (:class:`edgematte.pipeline.EdgeConfig`); this module trusts
them. The executable specification is :mod:`edgematte.kernels._edges_reference`.
"""

from libc.stdint cimport uint8_t

from edgematte.kernels._status import raise_for_status as _check


cdef extern from "edges.h" nogil:
    int EM_EDGE_MAX_RADIUS
    int em_edge_controls(uint8_t *alpha, Py_ssize_t stride, int height, int width, int shift, int feather,
                         int threshold, int threads) noexcept

MAX_RADIUS = EM_EDGE_MAX_RADIUS


def edge_controls(uint8_t[:, :] alpha not None, int shift, int feather, int threshold, int threads):
    """alpha [H,W] uint8 (contiguous rows) changed in place: shift, feather, threshold (see edges.h)."""
    cdef int h = alpha.shape[0], w = alpha.shape[1], status
    if alpha.strides[1] != 1:
        raise ValueError("edge_controls: alpha must have contiguous rows")
    if h == 0 or w == 0:
        return
    with nogil:
        status = em_edge_controls(&alpha[0, 0], alpha.strides[0], h, w, shift, feather, threshold, threads)
    _check(status, "em_edge_controls")
