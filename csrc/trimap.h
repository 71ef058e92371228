/* Trimap from a segmentation mask by elliptic erosion and dilation.
 *
 * Exactly the result of
 *     k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ksize, ksize))
 *     e = cv2.erode(mask, k, iterations=it); d = cv2.dilate(mask, k, iterations=it)
 *     trimap = 128; trimap[e >= fg] = 255; trimap[d <= bg] = 0
 * with OpenCV's default border (pixels outside the image never win), for 0 <= bg < fg <= 255.
 * It is computed as binary morphology on bit-packed rows: e >= fg is the erosion of (mask >= fg)
 * and d <= bg the erosion of (mask <= bg), both by the Minkowski power k^it of the ellipse.
 *
 * Strides are in bytes between rows; pixels within a row are contiguous.
 * threads <= 0 uses the OpenMP default (all cores unless OMP_NUM_THREADS says otherwise).
 */
#ifndef EM_TRIMAP_H
#define EM_TRIMAP_H

#include <stddef.h>
#include <stdint.h>

#include "em_common.h"

/* Half-width of each of the ksize rows of cv2.getStructuringElement(MORPH_ELLIPSE, (ksize, ksize)).
 * Row i covers columns [c - hw[i], c + hw[i]] with c = ksize / 2. ksize must be odd and >= 1. */
int em_ellipse_halfwidths(int ksize, int *hw);

/* mask: uint8 HxW 0..255 (mask_is_float = 0), or float32 HxW in [0, 1] read as
 * round-half-even(x * 255) in float32 (like np.rint). out: uint8 HxW, receives 0 / 128 / 255.
 * Returns EM_ERR_RANGE (out then holds garbage) when a float value is NaN or outside [0, 1]. */
int em_make_trimap(const void *mask, int mask_is_float, ptrdiff_t mask_stride, int height, int width, int ksize,
                   int iterations, int fg, int bg, uint8_t *out, ptrdiff_t out_stride, int threads);

#endif
