# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython bindings of csrc/guided.c (fast guided-filter upsampling, foreground, composite, one pass).

Arguments are validated by the caller (``edgematte.refine`` / the pipeline); this module trusts them.
The executable specification is :mod:`edgematte.kernels._guided_reference`.
"""

from libc.stdint cimport uint8_t
from libc.stddef cimport size_t

from edgematte.kernels._status import raise_for_status as _check


cdef extern from "guided.h" nogil:
    int em_guided_coefficients(const uint8_t *small_image, const float *small_alpha, int height, int width,
                               int radius, int mean_radius, double eps, int known_radius, float *coef,
                               float *scratch, int threads) noexcept
    size_t em_guided_scratch_size(int height, int width, int radius) noexcept
    void em_model_input(const uint8_t *bgr, size_t n, float *r, float *g, float *b) noexcept
    int em_foreground_blurs(const uint8_t *small_image, const float *small_alpha, int height, int width, int radius,
                            int small_radius, float *blurs, float *scratch, int threads) noexcept
    int em_guided_fit(const uint8_t *small_image, const float *small_alpha, int height, int width, int radius,
                      int mean_radius, double eps, int known_radius, float *coef, int foreground_radius,
                      int foreground_small_radius, float *blurs, float *scratch, int threads) noexcept
    int em_guided_apply(const float *coef, const float *blurs, int height, int width, const uint8_t *image,
                        Py_ssize_t image_stride, int out_height, int out_width, uint8_t *alpha,
                        uint8_t *foreground, const uint8_t *background, const uint8_t *colour,
                        uint8_t *composite, int threads) noexcept


def model_input(const uint8_t[:, :, ::1] small not None, float[:, :, ::1] out not None):
    """small uint8 [h,w,3] BGR -> out float32 [3,h,w] RGB, value * float32(1/255): the model's input, one pass."""
    cdef Py_ssize_t h = small.shape[0], w = small.shape[1]
    if small.shape[2] != 3 or out.shape[0] != 3 or out.shape[1] != h or out.shape[2] != w:
        raise ValueError(f"model_input: small [h,w,3] and out [3,h,w] disagree: "
                         f"{(small.shape[0], small.shape[1], small.shape[2])} and "
                         f"{(out.shape[0], out.shape[1], out.shape[2])}")
    if h * w == 0:
        return
    with nogil:
        em_model_input(&small[0, 0, 0], h * w, &out[0, 0, 0], &out[1, 0, 0], &out[2, 0, 0])


def scratch_size(int height, int width, int radius):
    """float32 elements of the scratch buffer guided_coefficients and foreground_blurs take (radii <= radius)."""
    return em_guided_scratch_size(height, width, radius)


cdef float *_scratch(scratch, int h, int w, int radius, int times=1) except? NULL:
    cdef float[::1] buf
    if scratch is None:
        return NULL
    buf = scratch
    if <size_t>buf.shape[0] < times * em_guided_scratch_size(h, w, radius):
        raise ValueError(f"scratch is smaller than {times} x scratch_size()")
    return &buf[0]


def guided_coefficients(const uint8_t[:, :, ::1] small_image not None, const float[:, ::1] small_alpha not None,
                        float[:, :, ::1] coef not None, int radius, int mean_radius, double eps, int known_radius,
                        int threads, scratch=None):
    """coef [4,h,w] float32 out: a0, a1, a2 and 255 b (see guided.h); scratch: float32 [scratch_size()] or None."""
    cdef int h = small_image.shape[0], w = small_image.shape[1], status
    cdef float *sp = _scratch(scratch, h, w, max(radius, mean_radius))
    _check_level(small_image, small_alpha, coef, 4, "guided_coefficients")
    with nogil:
        status = em_guided_coefficients(&small_image[0, 0, 0], &small_alpha[0, 0], h, w, radius, mean_radius, eps,
                                        known_radius, &coef[0, 0, 0], sp, threads)
    _check(status, "em_guided_coefficients")


def foreground_blurs(const uint8_t[:, :, ::1] small_image not None, const float[:, ::1] small_alpha not None,
                     float[:, :, ::1] blurs not None, int radius, int small_radius, int threads, scratch=None):
    """blurs [6,h,w] float32 out: blur-fusion's Fb and Bb at the model's resolution (see guided.h)."""
    cdef int h = small_image.shape[0], w = small_image.shape[1], status
    cdef float *sp = _scratch(scratch, h, w, max(radius, small_radius))
    _check_level(small_image, small_alpha, blurs, 6, "foreground_blurs")
    with nogil:
        status = em_foreground_blurs(&small_image[0, 0, 0], &small_alpha[0, 0], h, w, radius, small_radius,
                                     &blurs[0, 0, 0], sp, threads)
    _check(status, "em_foreground_blurs")


def guided_fit(const uint8_t[:, :, ::1] small_image not None, const float[:, ::1] small_alpha not None,
               float[:, :, ::1] coef not None, int radius, int mean_radius, double eps, int known_radius,
               blurs, int foreground_radius, int foreground_small_radius, int threads, scratch=None):
    """guided_coefficients and (blurs not None) foreground_blurs, concurrently when threads != 1 (see guided.h);
    scratch: float32 [2 * scratch_size()] (radius: the largest of the four) or None."""
    cdef int h = small_image.shape[0], w = small_image.shape[1], status
    cdef float[:, :, ::1] bl
    cdef float *blp = NULL
    cdef float *sp = _scratch(scratch, h, w, max(radius, mean_radius, foreground_radius, foreground_small_radius), 2)
    _check_level(small_image, small_alpha, coef, 4, "guided_fit")
    if blurs is not None:
        bl = blurs
        _check_level(small_image, small_alpha, bl, 6, "guided_fit")
        blp = &bl[0, 0, 0]
    with nogil:
        status = em_guided_fit(&small_image[0, 0, 0], &small_alpha[0, 0], h, w, radius, mean_radius, eps,
                               known_radius, &coef[0, 0, 0], foreground_radius, foreground_small_radius, blp, sp,
                               threads)
    _check(status, "em_guided_fit")


def guided_apply(const float[:, :, ::1] coef not None, blurs, const uint8_t[:, :, :] image not None,
                 uint8_t[:, ::1] alpha not None, foreground, background, colour, composite, int threads):
    """One full-resolution pass (see guided.h). blurs [6,h,w] float32 or None; foreground [H,W,3] uint8 or
    None; background [H,W,3] uint8 or None; colour 3 ints or None; composite [H,W,3|4] uint8 or None."""
    cdef int h = coef.shape[1], w = coef.shape[2], H = image.shape[0], W = image.shape[1], status
    cdef const float[:, :, ::1] bl
    cdef uint8_t[:, :, ::1] fg, comp
    cdef const uint8_t[:, :, ::1] bg
    cdef uint8_t col[3]
    cdef const float *blp = NULL
    cdef uint8_t *fgp = NULL
    cdef uint8_t *compp = NULL
    cdef const uint8_t *bgp = NULL
    cdef const uint8_t *colp = NULL
    if coef.shape[0] != 4 or image.shape[2] != 3 or image.strides[1] != 3 or image.strides[2] != 1 \
            or alpha.shape[0] != H or alpha.shape[1] != W:
        raise ValueError("guided_apply: shapes of coef, image and alpha disagree")
    if blurs is not None:
        bl = blurs
        if bl.shape[0] != 6 or bl.shape[1] != h or bl.shape[2] != w:
            raise ValueError("guided_apply: blurs must be [6,h,w] like coef")
        blp = &bl[0, 0, 0]
    if foreground is not None:
        fg = foreground
        if fg.shape[0] != H or fg.shape[1] != W or fg.shape[2] != 3 or blurs is None:
            raise ValueError("guided_apply: foreground must be [H,W,3] and needs blurs")
        fgp = &fg[0, 0, 0]
    if background is not None:
        bg = background
        if bg.shape[0] != H or bg.shape[1] != W or bg.shape[2] != 3:
            raise ValueError("guided_apply: background must be [H,W,3]")
        bgp = &bg[0, 0, 0]
    elif colour is not None:
        col[0], col[1], col[2] = colour[0], colour[1], colour[2]
        colp = col
    if composite is not None:
        comp = composite
        if comp.shape[0] != H or comp.shape[1] != W or comp.shape[2] != (3 if bgp != NULL or colp != NULL else 4):
            raise ValueError("guided_apply: composite must be [H,W,3] with a background, else [H,W,4]")
        compp = &comp[0, 0, 0]
    with nogil:
        status = em_guided_apply(&coef[0, 0, 0], blp, h, w, &image[0, 0, 0], image.strides[0], H, W, &alpha[0, 0],
                                 fgp, bgp, colp, compp, threads)
    _check(status, "em_guided_apply")


cdef _check_level(const uint8_t[:, :, ::1] image, const float[:, ::1] alpha, float[:, :, ::1] planes, int count,
                  str name):
    cdef int h = image.shape[0], w = image.shape[1]
    if image.shape[2] != 3 or alpha.shape[0] != h or alpha.shape[1] != w or planes.shape[0] != count \
            or planes.shape[1] != h or planes.shape[2] != w:
        raise ValueError(f"{name}: shapes of the image, the alpha and the [{count},h,w] output disagree")
