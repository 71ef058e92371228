/* Motion-adaptive temporal smoothing of a model step's small-size output (its coefficients).
 *
 * Where the picture holds still the output is averaged over time; where it moves, this frame's output
 * is taken as it is, so moving edges follow at once. Two steps per frame, at the coefficients' grid:
 *
 *   em_temporal_weights: per pixel, d = the mean absolute channel difference |guide - previous|
 *       (0..255) averaged over the 3x3 neighbourhood (indices clamped at the border: always 9 pixels,
 *       27 differences, summed in integers), and the weight
 *       w = strength * clamp((moving - d) / (moving - still), 0, 1)   (strength at d <= still, 0 at d >= moving);
 *   em_temporal_blend: state = w * state + (1 - w) * values, for every channel of one or more outputs.
 *
 * The executable specification is edgematte/kernels/_temporal_reference.py. Plain C99, no Python.h; one
 * thread (the grid is model-sized).
 */
#ifndef EM_TEMPORAL_H
#define EM_TEMPORAL_H

#include <stddef.h>
#include <stdint.h>

#include "em_common.h"

/* guide: [h,w,3] uint8, this frame at the coefficients' grid (any channel order, the same each frame).
 * previous: [h,w,3] uint8, in: the last frame's guide; out: a copy of guide.
 * weights: [h,w] float32 out. 0 <= strength < 1, 0 <= still < moving (levels of 255).
 * scratch: NULL or 2 * h * w uint16_t. Returns EM_OK, EM_ERR_ARG or EM_ERR_NOMEM. */
int em_temporal_weights(const uint8_t *guide, uint8_t *previous, int height, int width, float strength, float still,
                        float moving, float *weights, uint16_t *scratch);

/* weights: [h,w] float32 from em_temporal_weights; values: [channels,h,w] float32, this frame's output;
 * state: [channels,h,w] float32, in: the last smoothed output, out: this one.
 * known_guide: NULL, or for the fast guided filter's coefficients (channels 4: a0, a1, a2, 255 b, see guided.h)
 *   the frame at their grid ([h,w,3] uint8, the guide em_temporal_weights took): a cell that is known in values
 *   (a = 0, 255 b exactly 0 or 255) and whose smoothed alpha at the guide's colour, a . I + 255 b, lies within
 *   known_tol levels of it, is set to values exactly, so that the full-resolution pass keeps its shortcut for
 *   known regions (a smoothed cell would otherwise stay a hair off exact for good).
 * Returns EM_OK or EM_ERR_ARG. */
/* The full-resolution alpha of a model whose alpha is A * I + b at that resolution (RVM): where the picture held
 * still, the frame's own per-pixel noise passes into it through A, which no smoothing of A and b removes.
 * weights: [h,w] float32 from em_temporal_weights, upsampled bilinearly (pixel centres aligned, edges clamped: each
 * row first, then between rows); alpha: [height,width] uint8, in: this frame's, out: round-half-even(state);
 * state: [height,width] float32, in: the last smoothed alpha, out: w * state + (1 - w) * alpha. weights NULL (the
 * first frame since a restart): state <- alpha. Returns EM_OK, EM_ERR_ARG or EM_ERR_NOMEM. */
int em_temporal_alpha(const float *weights, int h, int w, uint8_t *alpha, float *state, int height, int width);
/* The scene-cut detector's pass: returns the sum of |frame - previous| over n bytes, then previous <- frame. */
uint64_t em_difference_keep(const uint8_t *frame, uint8_t *previous, size_t n);

int em_temporal_blend(const float *weights, const float *values, float *state, int channels, int height, int width,
                      const uint8_t *known_guide, float known_tol);

#endif
