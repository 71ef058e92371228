/* Real-time joint upsampling of a low-resolution alpha, guided by the full-resolution frame.
 *
 * Fast guided filter (He & Sun 2015): the local linear model alpha = a . I + b is fitted at the
 * model's resolution, and only evaluated at full resolution, in one pass that also clamps known
 * regions, removes the old background colour from the edge (blur-fusion, Germer et al. 2021, with
 * its blurs at the model's resolution) and composites. The executable specification is
 * edgematte/kernels/_guided_reference.py. Plain C99, no Python.h; OpenMP when compiled with it.
 */
#ifndef EM_GUIDED_H
#define EM_GUIDED_H

#include <stddef.h>
#include <stdint.h>

#include "em_common.h"

/* The model's input from the model-size frame: bgr [n,3] uint8 -> r, g, b [n] float32, value * (1/255)f. */
void em_model_input(const uint8_t *bgr, size_t n, float *r, float *g, float *b);

/* Coefficients of the local linear model at the model's resolution.
 *
 * small_image: [h,w,3] uint8 (any channel order; the frame's). small_alpha: [h,w] float32 0..1.
 * radius: fitting window (2r+1)^2; mean_radius: window over which a and b are averaged (0 = none);
 * both windows are clipped at the border. eps: regularisation of the colour covariance (colours 0..1).
 * known_radius: a pixel whose (2k+1)^2 neighbourhood has alpha >= 254/255 everywhere gets a = 0,
 * b = 255 (<= 1/255 everywhere: a = 0, b = 0), so known regions come out exactly 255 and 0;
 * -1 disables this. coef: [4,h,w] float32 out, planar: a0, a1, a2 and 255 b, so that alpha in
 * 0..255 = a . I + 255 b with I in 0..255 (the fit's alpha = a . I / 255 + b).
 * Returns EM_OK, EM_ERR_ARG or EM_ERR_NOMEM.
 */
int em_guided_coefficients(const uint8_t *small_image, const float *small_alpha, int height, int width, int radius,
                           int mean_radius, double eps, int known_radius, float *coef, float *scratch, int threads);

/* Floats of scratch em_guided_coefficients and em_foreground_blurs need at h x w with radii <= radius
 * (scratch = NULL makes them allocate it per call). */
size_t em_guided_scratch_size(int height, int width, int radius);

/* Blur-fusion's colour estimates at the model's resolution (Germer et al. 2021), for the one-pass
 * foreground. A pass maps (F, B) to Fb = mean(F a) / (mean(a) + 1e-5), Bb = mean(B (1 - a)) /
 * (mean(1 - a) + 1e-5), means over the clipped (2r+1)^2 window. The first pass (radius) starts from
 * F = B = I; the second (small_radius; -1: none) from F = clip(Fb + a (I - a Fb - (1 - a) Bb), 0, 255)
 * and B = Bb of the first. small_image [h,w,3] uint8, small_alpha [h,w] float32 0..1, blurs [6,h,w]
 * float32 out (0..255, planar: Fb then Bb of the last pass, channels in the image's order).
 */
int em_foreground_blurs(const uint8_t *small_image, const float *small_alpha, int height, int width, int radius,
                        int small_radius, float *blurs, float *scratch, int threads);

/* em_guided_coefficients and, unless blurs is NULL, em_foreground_blurs, side by side: with threads
 * != 1 they run concurrently (one OpenMP thread each; both are small and mostly serial). scratch: NULL or
 * 2 * em_guided_scratch_size(h, w, max of the radii) floats. Results are those of the two calls.
 */
int em_guided_fit(const uint8_t *small_image, const float *small_alpha, int height, int width, int radius,
                  int mean_radius, double eps, int known_radius, float *coef, int foreground_radius,
                  int foreground_small_radius, float *blurs, float *scratch, int threads);

/* How much less certain the low-resolution background estimate Bb is than Fb (variance ratio), in the
 * per-pixel foreground step of em_guided_apply. Chosen on bench/quality.py's foreground table: 3, 4
 * and 5 are within 0.01 of each other, on either half of the images; blur-fusion's step scores 8% worse. */
#define EM_BACKGROUND_VARIANCE_RATIO 4.0f

/* One full-resolution pass: alpha, then optionally the foreground and the composite.
 *
 * coef: [4,h,w] from em_guided_coefficients; sampled bilinearly (pixel centres aligned, edges clamped:
 *   cv2.resize INTER_LINEAR's convention). image: [H,W,3] uint8, row stride image_stride bytes.
 * alpha: [H,W] uint8 out: rint(clip(a . I + b, 0, 255)).
 * blurs: NULL, or [6,h,w] float32: blur-fusion's foreground and background colour estimates Fb, Bb
 *   (0..255, planar, channels in the image's order). Then the foreground colour is
 *   F = Fb + g (I - a Fb - (1 - a) Bb), g = a / (a^2 + k (1 - a)^2), a = alpha / 255,
 *   k = EM_BACKGROUND_VARIANCE_RATIO, clipped to 0..255 and rounded; F = I where alpha is 0 or 255.
 *   That is the most probable F per pixel given I = a F + (1 - a) B and Gaussian priors F ~ (Fb, s^2),
 *   B ~ (Bb, k s^2) (blur-fusion's own final step, F = Fb + a (...), is one gradient step of it).
 *   F is evaluated in fixed point (int16: Fb, Bb in 1/64 level, interpolated along x in float and
 *   along y in int16; a in 1/32768, g in 1/16384), within 1 level of the float formula; the bit-exact
 *   specification is fixed_foreground in edgematte/kernels/_guided_reference.py.
 *   Pixels whose four coefficient cells are all exactly (0, 0, 0, 0) or (0, 0, 0, 255) (known
 *   regions) take the shortcut: alpha 0 or 255, F = I, composite copied, no arithmetic.
 * foreground: NULL or [H,W,3] uint8 out (needs blurs).
 * composite: NULL or [H,W,3] uint8 out: round(F a + B (1 - a)) (F = I without blurs), B = background
 *   ([H,W,3] uint8) or, when background is NULL, colour (3 values; NULL: composite is [H,W,4] BGRA,
 *   F plus alpha); a [H,W,3] composite may be the image itself (each pixel is read before it is written).
 *   Returns EM_OK, EM_ERR_ARG or EM_ERR_NOMEM.
 */
int em_guided_apply(const float *coef, const float *blurs, int height, int width, const uint8_t *image,
                    ptrdiff_t image_stride, int out_height, int out_width, uint8_t *alpha, uint8_t *foreground,
                    const uint8_t *background, const uint8_t *colour, uint8_t *composite, int threads);

#endif
