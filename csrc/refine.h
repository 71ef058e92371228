/* Closed-form matting (Levin et al. 2008) solved in the unknown band of a trimap.
 *
 * Matrix-free: the matting Laplacian is never stored. Each product L*v costs two passes
 * (per-window affine coefficients, then a gather per unknown pixel; He et al. 2010), and only
 * windows that touch an unknown pixel are visited, so the cost follows the band, not the image.
 * Plain C99, no Python.h. OpenMP is used when compiled with it.
 */
#ifndef EM_REFINE_H
#define EM_REFINE_H

#include "em_common.h" /* status codes: EM_OK, EM_ERR_ARG (bad size, radius, eps or count), EM_ERR_NOMEM */

#ifdef __cplusplus
extern "C" {
#endif

/* Solve (L_UU + w Id) x_U = -L_UK x_K + w prior_U by conjugate gradients (w = prior_weight; w = 0:
 * plain closed-form matting with the trimap's known pixels as hard constraints).
 *
 * image:   [H,W,3] uint8, C-contiguous (channel order does not matter).
 * trimap:  [H,W] uint8; 0 = background, 255 = foreground, any other value = unknown.
 * alpha:   [H,W] float32, in/out. In: the initial guess at unknown pixels (known pixels are ignored).
 *          Out: the solution clipped to [0,1] at unknown pixels, exactly 0 or 1 at known pixels.
 * radius:  window radius (1 = 3x3 windows, as in Levin et al.).
 * eps:     regularisation of each window's colour covariance (colours scaled to 0..1).
 * iterations: maximum CG iterations (0 only writes the known pixels and clips).
 * tol:     stop when ||r|| <= tol * ||r0|| (0 = run every iteration). CG always stops once
 *          ||r|| <= 1e-12 * ||r0||: past round-off, steps in a singular band (no known pixel in
 *          reach) only drift along the null space.
 * prior:   [H,W] float32 soft prior (read at unknown pixels), or NULL when prior_weight = 0.
 * prior_weight: w >= 0, the prior's weight against the Laplacian.
 * threads: most OpenMP threads (<= 0: the OpenMP default); fewer are used for small bands.
 * iterations_done: out, may be NULL.
 */
int em_refine_cf(const unsigned char *image, const unsigned char *trimap, float *alpha, int height, int width,
                 int radius, double eps, int iterations, double tol, const float *prior, double prior_weight,
                 int threads, int *iterations_done);

/* Guided-filter upsampling (He et al. 2013) of a low-resolution alpha to the unknown band.
 *
 * Fits alpha ~= a . I + b in every (2r+1)^2 window of the small level (covariance + eps U, colours
 * in 0..1, windows clipped at the border), averages a and b over the windows containing each pixel,
 * samples them bilinearly at full resolution (pixel centres aligned, edges clamped: the convention
 * of cv2.resize INTER_LINEAR) and evaluates a . I + b there.
 *
 * small_image: [h,w,3] uint8.  small_alpha: [h,w] float32.
 * image: [H,W,3] uint8.  trimap: [H,W] uint8 (0 bg, 255 fg, else unknown).
 * alpha: [H,W] float32 out: a . I + b clipped to [0,1] at unknown pixels, exactly 0/1 at known ones.
 */
int em_guided_upsample(const unsigned char *small_image, const float *small_alpha, int small_height, int small_width,
                       const unsigned char *image, const unsigned char *trimap, float *alpha, int height, int width,
                       int radius, double eps, int threads);

#ifdef __cplusplus
}
#endif

#endif
