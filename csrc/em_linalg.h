/* Small shared helpers of the refinement kernels (refine.c, guided.c). Plain C99. */
#ifndef EM_LINALG_H
#define EM_LINALG_H

static inline int imin_(int a, int b) { return a < b ? a : b; }
static inline int imax_(int a, int b) { return a > b ? a : b; }

/* Inverse of the symmetric 3x3 matrix [[c00 c01 c02] [c01 c11 c12] [c02 c12 c22]] by cofactors:
 * out = (i00, i01, i02, i11, i12, i22). */
static inline void em_inverse_sym3(double c00, double c01, double c02, double c11, double c12, double c22,
                                   double *out) {
    const double d00 = c11 * c22 - c12 * c12, d01 = c02 * c12 - c01 * c22, d02 = c01 * c12 - c02 * c11;
    const double det = c00 * d00 + c01 * d01 + c02 * d02, inv = 1.0 / det;
    out[0] = d00 * inv;
    out[1] = d01 * inv;
    out[2] = d02 * inv;
    out[3] = (c00 * c22 - c02 * c02) * inv;
    out[4] = (c01 * c02 - c00 * c12) * inv;
    out[5] = (c00 * c11 - c01 * c01) * inv;
}

/* Bilinear source coordinates of destination index i (cv2 INTER_LINEAR convention: pixel centres
 * aligned, edges clamped): out = in[lo] (1 - frac) + in[hi] frac. */
static inline void em_linear_coord(int i, double scale, int n_in, int *lo, int *hi, double *frac) {
    double f = ((double)i + 0.5) * scale - 0.5;
    if (f < 0) f = 0;
    *lo = (int)f;
    if (*lo > n_in - 1) *lo = n_in - 1;
    *hi = imin_(*lo + 1, n_in - 1);
    *frac = f - *lo;
    if (*frac > 1) *frac = 1;
}

#endif
