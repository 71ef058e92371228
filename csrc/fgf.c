/* RobustVideoMatting's refiner step at full resolution; see fgf.h for the contract.
 *
 * Per output row: the two source rows of a and b interpolated vertically (the 8 values of a source column side by
 * side), then per output pixel the horizontal interpolation of those 8 as one vector and the arithmetic on its
 * 4 channels as another. */
#include "fgf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Output index i's left source index (of n) and the right one's weight: half-pixel centres, edges clamped. */
static int source(int i, float scale, int n, float *weight) {
    float s = (float)(((double)i + 0.5) * (double)scale - 0.5);
    int lo;
    if (s < 0.0f) s = 0.0f;
    lo = (int)floorf(s);
    if (lo > n - 1) lo = n - 1;
    *weight = s - (float)lo;
    return lo;
}

typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

/* One output row. vert: 8 values per source column (a: R G B grey, then b: R G B grey). Per pixel the four
 * channels are one vector: y = a x + b, plus x for the foreground's three (plus 0 for alpha: the same value),
 * clipped to 0..1, * 255 + 1/2, truncated: fgf.h's arithmetic, in its order, lane by lane. */
EM_CLONES static void fgf_row(const uint8_t *restrict src, uint8_t *restrict fg, uint8_t *restrict alpha,
                              const float *restrict vert, const int *restrict xl, const float *restrict xw, int W,
                              int w) {
    const float inv255 = (float)(1.0 / 255.0), third = (float)(1.0 / 3.0);
    const v4f zero = {0.0f, 0.0f, 0.0f, 0.0f}, one = {1.0f, 1.0f, 1.0f, 1.0f}, with_x = {1.0f, 1.0f, 1.0f, 0.0f};
    int x;
    for (x = 0; x < W; x++) {
        const int x0 = xl[x], x1 = x0 + 1 < w ? x0 + 1 : w - 1;
        const uint8_t *p = src + 3 * (size_t)x;
        const float r = p[2] * inv255, g = p[1] * inv255, b = p[0] * inv255;
        const v4f xs = {r, g, b, (r + g + b) * third};
        v8f v0, v1, ab; /* horizontal: all eight values of the column at once */
        v4f a, c, y;
        v4i q, below;
        memcpy(&v0, vert + 8 * (size_t)x0, sizeof v0);
        memcpy(&v1, vert + 8 * (size_t)x1, sizeof v1);
        ab = v0 + xw[x] * (v1 - v0);
        a = __builtin_shufflevector(ab, ab, 0, 1, 2, 3);
        c = __builtin_shufflevector(ab, ab, 4, 5, 6, 7);
        y = (a * xs + c) + xs * with_x;
        y = (v4f)((y > zero) & (v4i)y); /* max(y, 0) (NaN: 0) */
        below = y < one;
        y = (v4f)((below & (v4i)y) | (~below & (v4i)one)); /* min(y, 1) */
        q = __builtin_convertvector(y * 255.0f + 0.5f, v4i);
        fg[3 * (size_t)x + 2] = (uint8_t)q[0];
        fg[3 * (size_t)x + 1] = (uint8_t)q[1];
        fg[3 * (size_t)x] = (uint8_t)q[2];
        alpha[x] = (uint8_t)q[3];
    }
}

/* One row of vert: the source rows y0 and y1 of the side-by-side coefficients (8 floats per column), interpolated
 * with the weight wy of y1, a column (8 values) at a time. */
EM_CLONES static void vertical_row(const float *restrict top, const float *restrict bottom, float wy, int w,
                                   float *restrict vert) {
    int i;
    for (i = 0; i < 8 * w; i++) vert[i] = top[i] + wy * (bottom[i] - top[i]);
}

int em_fgf_apply(const uint8_t *frame, int height, int width, const float *a, const float *b, int small_height,
                 int small_width, uint8_t *alpha, uint8_t *foreground, int threads) {
    const int H = height, W = width, h = small_height, w = small_width;
    const size_t plane = (size_t)h * (size_t)w;
    const float scale_y = (float)h / (float)H, scale_x = (float)w / (float)W;
    int *xl = NULL, bad = 0, nt = 1, y;
    float *xw = NULL, *side = NULL;
    if (!frame || !a || !b || !alpha || !foreground || H < 1 || W < 1 || h < 1 || w < 1) return EM_ERR_ARG;
    xl = (int *)malloc(sizeof(int) * ((size_t)W + H)); /* source index and weight per column, then per row */
    xw = (float *)malloc(sizeof(float) * ((size_t)W + H));
    side = (float *)malloc(sizeof(float) * 8 * plane); /* a and b side by side: [h][w][a R G B grey, b R G B grey] */
    if (!xl || !xw || !side) {
        free(xl);
        free(xw);
        free(side);
        return EM_ERR_NOMEM;
    }
    for (y = 0; y < W; y++) xl[y] = source(y, scale_x, w, xw + y);
    for (y = 0; y < H; y++) xl[W + y] = source(y, scale_y, h, xw + W + y);
#ifdef _OPENMP
    nt = threads > 0 ? threads : omp_get_max_threads();
    if (nt > H) nt = H;
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
    {
        float *vert = (float *)malloc(sizeof(float) * 8 * (size_t)w);
        size_t i;
        int row, c;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (i = 0; i < plane; i++)
            for (c = 0; c < 4; c++) {
                side[8 * i + c] = a[c * plane + i];
                side[8 * i + 4 + c] = b[c * plane + i];
            }
#ifdef _OPENMP
#pragma omp for schedule(static) /* every thread meets it (its barrier), even one without its row scratch */
#endif
        for (row = 0; row < H; row++) {
            const int y0 = xl[W + row], y1 = y0 + 1 < h ? y0 + 1 : h - 1;
            if (!vert) {
                bad = 1;
                continue;
            }
            vertical_row(side + 8 * (size_t)y0 * w, side + 8 * (size_t)y1 * w, xw[W + row], w, vert);
            fgf_row(frame + 3 * (size_t)row * W, foreground + 3 * (size_t)row * W, alpha + (size_t)row * W, vert, xl,
                    xw, W, w);
        }
        free(vert);
    }
    (void)threads;
    (void)nt;
    free(xl);
    free(xw);
    free(side);
    return bad ? EM_ERR_NOMEM : EM_OK;
}
