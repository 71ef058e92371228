/* Edge controls on a finished alpha matte, in place: grow or shrink, feather, hard cut.
 *
 * In this order, each optional:
 *   shift > 0: grey dilation by the (2 shift + 1)^2 square: the matte grows by shift pixels;
 *   shift < 0: grey erosion by the (2 |shift| + 1)^2 square: it shrinks by |shift| pixels;
 *   feather > 0: the mean over the (2 feather + 1)^2 square, as a row mean rounded half up, then a
 *     column mean of those, rounded half up: a hard edge becomes a ramp 2 feather + 1 pixels wide;
 *   threshold 1..255: 255 where alpha >= threshold, else 0 (threshold 0: the soft matte is kept).
 * Windows take indices clamped at the border. Separable passes, each row or strip of columns filtered
 * through a small per-thread buffer (van Herk / Gil-Werman for min and max, running sums for the mean),
 * so no frame-sized work buffer is made. The executable specification is
 * edgematte/kernels/_edges_reference.py. Plain C99, no Python.h; OpenMP when compiled with it.
 */
#ifndef EM_EDGES_H
#define EM_EDGES_H

#include <stddef.h>
#include <stdint.h>

#include "em_common.h"

/* Largest |shift| and feather (pixels) the kernel takes. */
#define EM_EDGE_MAX_RADIUS 256

/* alpha: [h,w] uint8, rows stride bytes apart (stride >= w), changed in place. 0 <= |shift|, feather <=
 * EM_EDGE_MAX_RADIUS; 0 <= threshold <= 255. Returns EM_OK, EM_ERR_ARG or EM_ERR_NOMEM. */
int em_edge_controls(uint8_t *alpha, ptrdiff_t stride, int height, int width, int shift, int feather, int threshold,
                     int threads);

#endif
