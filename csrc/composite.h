/* Alpha compositing of uint8 images: out = round(I * a + B * (1 - a)), a = alpha / 255.
 *
 * image: uint8 HxWx3 (any channel order, passed through). alpha: uint8 HxW (0..255) or float32 HxW
 * in [0, 1] (then read as rint(x * 255) in float32, ties to even). Background, exactly one of:
 *   background != NULL      uint8 HxWx3 image            -> out uint8 HxWx3
 *   colour != NULL          3 channel values, every pixel -> out uint8 HxWx3
 *   both NULL               no blend                      -> out uint8 HxWx4 = image + alpha as channel 4
 * Integer arithmetic with exact rounding of the sum / 255, so every value is within 1 of the float
 * formula (exact for uint8 alpha up to ties). out may be the very same buffer as image or background.
 * Strides are in bytes between rows; pixels within a row are contiguous.
 * threads <= 0 uses the OpenMP default. Returns EM_ERR_RANGE for NaN or float alpha outside [0, 1].
 */
#ifndef EM_COMPOSITE_H
#define EM_COMPOSITE_H

#include <stddef.h>
#include <stdint.h>

#include "em_common.h"

int em_composite(const uint8_t *image, ptrdiff_t image_stride, const void *alpha, int alpha_is_float,
                 ptrdiff_t alpha_stride, const uint8_t *background, ptrdiff_t background_stride,
                 const uint8_t *colour, uint8_t *out, ptrdiff_t out_stride, int height, int width, int threads);

/* One row of em_composite: w pixels; colour3 = the colour repeated 512 times (3 * 512 bytes) or NULL;
 * alias: out may be the same buffer as image or background. Returns 0 on float alpha out of range. */
int em_composite_row(const uint8_t *image, const uint8_t *alpha, int alpha_is_float, const uint8_t *background,
                     const uint8_t *colour3, uint8_t *out, int w, int alias);

#endif
