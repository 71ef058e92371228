/* RobustVideoMatting's fast-guided-filter output step at full resolution (the refiner's last step).
 *
 * frame: [H,W,3] uint8 BGR; a, b: [4,h,w] float32 coefficients (channels R, G, B, grey). a and b are upsampled
 * bilinearly (half-pixel centres, edges clamped: ONNX Resize "linear" / "pytorch_half_pixel"), then per pixel,
 * with x = (R, G, B, mean(R, G, B)) / 255 and y = a x + b: foreground = clip(y[:3] + x[:3], 0, 1) and
 * alpha = clip(y[3], 0, 1), as uint8 rounded half up. All arithmetic in float32, in the order the executable
 * specification (edgematte.models.rvm.fgf_apply_reference, in float64) states, so every build gives the same
 * bytes. Rows are split among ``threads`` OpenMP threads (0: all).
 * alpha: [H,W] uint8 out; foreground: [H,W,3] uint8 BGR out. Returns EM_OK, EM_ERR_ARG or EM_ERR_NOMEM.
 */
#ifndef EM_FGF_H
#define EM_FGF_H

#include <stdint.h>

#include "em_common.h"

int em_fgf_apply(const uint8_t *frame, int height, int width, const float *a, const float *b, int small_height,
                 int small_width, uint8_t *alpha, uint8_t *foreground, int threads);

#endif
