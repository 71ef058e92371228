# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython bindings of csrc/refine.c. Inputs are validated by ``edgematte.refine``; this module trusts them."""

from edgematte.kernels._status import raise_for_status as _check

cdef extern from "refine.h" nogil:
    int em_refine_cf(const unsigned char *image, const unsigned char *trimap, float *alpha, int height, int width,
                     int radius, double eps, int iterations, double tol, const float *prior, double prior_weight,
                     int threads, int *iterations_done) noexcept
    int em_guided_upsample(const unsigned char *small_image, const float *small_alpha, int small_height,
                           int small_width, const unsigned char *image, const unsigned char *trimap, float *alpha,
                           int height, int width, int radius, double eps, int threads) noexcept


def refine_cf(const unsigned char[:, :, ::1] image not None, const unsigned char[:, ::1] trimap not None,
              float[:, ::1] alpha not None, int radius, double eps, int iterations, double tol, int threads,
              prior=None, double prior_weight=0.0):
    """Closed-form matting by CG in the unknown band, in place on ``alpha`` ([H,W] float32).

    image [H,W,3] uint8, trimap [H,W] uint8 (0 bg, 255 fg, else unknown), prior [H,W] float32 or
    None (soft prior of weight ``prior_weight`` in the band). Returns the iterations run.
    """
    cdef int h = image.shape[0], w = image.shape[1], done = 0, status
    cdef const float[:, ::1] pr
    cdef const float *prp = NULL
    if image.shape[2] != 3 or trimap.shape[0] != h or trimap.shape[1] != w or alpha.shape[0] != h \
            or alpha.shape[1] != w:
        raise ValueError("refine_cf: shapes of image, trimap and alpha disagree")
    if h == 0 or w == 0:
        return 0
    if prior is not None:
        pr = prior
        if pr.shape[0] != h or pr.shape[1] != w:
            raise ValueError("refine_cf: shapes of prior and alpha disagree")
        prp = &pr[0, 0]
    with nogil:
        status = em_refine_cf(&image[0, 0, 0], &trimap[0, 0], &alpha[0, 0], h, w, radius, eps, iterations, tol,
                              prp, prior_weight, threads, &done)
    _check(status, "em_refine_cf")
    return done


def guided_upsample(const unsigned char[:, :, ::1] small_image not None, const float[:, ::1] small_alpha not None,
                    const unsigned char[:, :, ::1] image not None, const unsigned char[:, ::1] trimap not None,
                    float[:, ::1] alpha not None, int radius, double eps, int threads):
    """Guided-filter upsampling of ``small_alpha`` into ``alpha`` ([H,W] float32), in place."""
    cdef int hs = small_image.shape[0], ws = small_image.shape[1], h = image.shape[0], w = image.shape[1], status
    if small_image.shape[2] != 3 or image.shape[2] != 3 or small_alpha.shape[0] != hs \
            or small_alpha.shape[1] != ws or trimap.shape[0] != h or trimap.shape[1] != w \
            or alpha.shape[0] != h or alpha.shape[1] != w:
        raise ValueError("guided_upsample: shapes of the inputs disagree")
    if h == 0 or w == 0:
        return
    if hs == 0 or ws == 0:
        raise ValueError("guided_upsample: the small level is empty")
    with nogil:
        status = em_guided_upsample(&small_image[0, 0, 0], &small_alpha[0, 0], hs, ws, &image[0, 0, 0],
                                    &trimap[0, 0], &alpha[0, 0], h, w, radius, eps, threads)
    _check(status, "em_guided_upsample")

