# Declarations of the plain C kernels in csrc/ (see trimap.h and composite.h for the contracts).
# They return an em_status (em_common.h), turned into exceptions by edgematte.kernels._status.
from libc.stdint cimport uint8_t


cdef extern from "trimap.h":
    int em_ellipse_halfwidths(int ksize, int *hw) noexcept nogil
    int em_make_trimap(const void *mask, int mask_is_float, Py_ssize_t mask_stride, int height, int width,
                       int ksize, int iterations, int fg, int bg,
                       uint8_t *out, Py_ssize_t out_stride, int threads) noexcept nogil


cdef extern from "composite.h":
    int em_composite(const uint8_t *image, Py_ssize_t image_stride, const void *alpha, int alpha_is_float,
                     Py_ssize_t alpha_stride, const uint8_t *background, Py_ssize_t background_stride,
                     const uint8_t *colour, uint8_t *out, Py_ssize_t out_stride,
                     int height, int width, int threads) noexcept nogil
