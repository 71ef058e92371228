# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython bindings of csrc/refine.c. Inputs are validated by ``edgematte.refine``; this module trusts them."""

from edgematte.errors import KernelError

cdef extern from "refine.h" nogil:
    int EM_REFINE_OK
    int EM_REFINE_EINVAL
    int EM_REFINE_ENOMEM
    int em_refine_cf(const unsigned char *image, const unsigned char *trimap, float *alpha, int height, int width,
                     int radius, double eps, int iterations, double tol, int threads, int *iterations_done) noexcept


def refine_cf(const unsigned char[:, :, ::1] image not None, const unsigned char[:, ::1] trimap not None,
              float[:, ::1] alpha not None, int radius, double eps, int iterations, double tol, int threads):
    """Closed-form matting by CG in the unknown band, in place on ``alpha`` ([H,W] float32).

    image [H,W,3] uint8, trimap [H,W] uint8 (0 bg, 255 fg, else unknown). Returns the iterations run.
    """
    cdef int h = image.shape[0], w = image.shape[1], done = 0, status
    if image.shape[2] != 3 or trimap.shape[0] != h or trimap.shape[1] != w or alpha.shape[0] != h \
            or alpha.shape[1] != w:
        raise ValueError("refine_cf: shapes of image, trimap and alpha disagree")
    if h == 0 or w == 0:
        return 0
    with nogil:
        status = em_refine_cf(&image[0, 0, 0], &trimap[0, 0], &alpha[0, 0], h, w, radius, eps, iterations, tol,
                              threads, &done)
    if status == EM_REFINE_ENOMEM:
        raise MemoryError("em_refine_cf: out of memory")
    if status != EM_REFINE_OK:
        raise KernelError(f"em_refine_cf: invalid arguments (status {status})")
    return done
