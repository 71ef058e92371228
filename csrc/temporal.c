/* Motion-adaptive temporal smoothing; see temporal.h for the contract.
 *
 * The weights take three passes over the (small) grid: the per-pixel sum of the three absolute channel
 * differences (uint16, <= 765), its 3-tap horizontal sum (<= 2295), then per pixel the 3-tap vertical
 * sum of those (<= 6885, exact in integers) and the weight. The guide is copied into previous last,
 * after every read of previous.
 */
#include "temporal.h"
#include "em_linalg.h"

/* Loop indices are ptrdiff_t: with -fwrapv (in Python's default CFLAGS) GCC does not vectorise int-indexed loops
 * that read 3 * x. Float compares in selects may be if-converted into vector compares and blends (GCC keeps them as
 * branches while a compare could trap): no floating-point trap is enabled here, and the results are the same bits. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <stdlib.h>
#include <string.h>

/* One thread: the grid is model-sized (0.02-0.1 MP), a pass takes ~0.05 ms, less than waking a sleeping OpenMP
 * worker can take on a busy CPU. */

/* d: 3 w bytes of scratch: the byte differences first (one vectorised loop), then their sums per pixel; the
 * horizontal 3-tap sum with the clamped borders apart, so that the interior is one vectorised loop */
EM_CLONES static void row_difference(const uint8_t *restrict g, const uint8_t *restrict p, uint16_t *restrict sum,
                                     uint16_t *restrict across, uint8_t *restrict d, int w) {
    for (ptrdiff_t i = 0; i < 3 * (ptrdiff_t)w; i++) d[i] = (uint8_t)(g[i] > p[i] ? g[i] - p[i] : p[i] - g[i]);
    for (ptrdiff_t x = 0; x < w; x++) sum[x] = (uint16_t)(d[3 * x] + d[3 * x + 1] + d[3 * x + 2]);
    if (w == 1) {
        across[0] = (uint16_t)(3 * sum[0]);
        return;
    }
    across[0] = (uint16_t)(2 * sum[0] + sum[1]);
    for (ptrdiff_t x = 1; x < w - 1; x++) across[x] = (uint16_t)(sum[x - 1] + sum[x] + sum[x + 1]);
    across[w - 1] = (uint16_t)(sum[w - 2] + 2 * sum[w - 1]);
}

/* the clamp as two selects, which GCC turns into vector compares and blends */
EM_CLONES static void row_weights(const uint16_t *restrict up, const uint16_t *restrict mid,
                                  const uint16_t *restrict down, float *restrict weights, int w, float strength,
                                  float moving, float inv_span) {
    for (ptrdiff_t x = 0; x < w; x++) {
        float d = (float)(up[x] + mid[x] + down[x]) * (1.0f / 27.0f);
        float t = (moving - d) * inv_span;
        t = t > 0.0f ? t : 0.0f;
        t = t < 1.0f ? t : 1.0f;
        weights[x] = strength * t;
    }
}

int em_temporal_weights(const uint8_t *guide, uint8_t *previous, int height, int width, float strength, float still,
                        float moving, float *weights, uint16_t *scratch) {
    if (height < 1 || width < 1 || guide == NULL || previous == NULL || weights == NULL ||
        !(strength >= 0.0f && strength < 1.0f) || !(still >= 0.0f && still < moving))
        return EM_ERR_ARG;
    size_t plane = (size_t)height * (size_t)width;
    uint16_t *work = scratch;
    uint8_t *bytes = (uint8_t *)malloc(3 * (size_t)width);
    if (bytes == NULL || (work == NULL && (work = (uint16_t *)malloc(2 * plane * sizeof(uint16_t))) == NULL)) {
        free(bytes);
        return EM_ERR_NOMEM;
    }
    uint16_t *sum = work, *across = work + plane;
    int h = height, w = width;
    float inv_span = 1.0f / (moving - still);
    for (int y = 0; y < h; y++)
        row_difference(guide + 3 * (size_t)y * w, previous + 3 * (size_t)y * w, sum + (size_t)y * w,
                       across + (size_t)y * w, bytes, w);
    for (int y = 0; y < h; y++) {
        int u = y > 0 ? y - 1 : 0, d = y + 1 < h ? y + 1 : h - 1;
        row_weights(across + (size_t)u * w, across + (size_t)y * w, across + (size_t)d * w, weights + (size_t)y * w,
                    w, strength, moving, inv_span);
    }
    memcpy(previous, guide, 3 * plane);
    free(bytes);
    if (scratch == NULL)
        free(work);
    return EM_OK;
}

/* the sum of |a - b| over n <= 2^23 bytes (fits 31 bits): GCC makes the loop psadbw */
EM_CLONES static int sum_abs_difference(const uint8_t *restrict a, const uint8_t *restrict b, int n) {
    int sum = 0;
    for (int i = 0; i < n; i++) sum += abs(a[i] - b[i]);
    return sum;
}

uint64_t em_difference_keep(const uint8_t *frame, uint8_t *previous, size_t n) {
    uint64_t total = 0;
    for (size_t i0 = 0; i0 < n; i0 += 1u << 16) {
        const int m = (int)(n - i0 < (1u << 16) ? n - i0 : (1u << 16));
        total += (uint64_t)sum_abs_difference(frame + i0, previous + i0, m);
        memcpy(previous + i0, frame + i0, (size_t)m); /* while the block is in cache */
    }
    return total;
}

EM_CLONES static void blend_row(const float *restrict wgt, const float *restrict values, float *restrict state, int w) {
    for (int x = 0; x < w; x++) state[x] = wgt[x] * state[x] + (1.0f - wgt[x]) * values[x];
}

/* the fast guided filter's coefficients (planes a0, a1, a2, 255 b, plane floats apart): the blend and the rule for
 * known cells in one branch-free pass (it vectorises): the smoothed alpha is computed for every cell and the cell
 * snaps where values is known and that alpha lies within tol of it */
EM_CLONES static void blend_known_row(const float *restrict wgt, const float *restrict values, float *restrict state,
                                      size_t plane, const uint8_t *restrict guide, float tol, int w) {
    const float *v0 = values, *v1 = values + plane, *v2 = values + 2 * plane, *v3 = values + 3 * plane;
    float *s0 = state, *s1 = state + plane, *s2 = state + 2 * plane, *s3 = state + 3 * plane;
    for (ptrdiff_t x = 0; x < w; x++) {
        float u = 1.0f - wgt[x], k = v3[x];
        float n0 = wgt[x] * s0[x] + u * v0[x], n1 = wgt[x] * s1[x] + u * v1[x];
        float n2 = wgt[x] * s2[x] + u * v2[x], n3 = wgt[x] * s3[x] + u * k;
        float off = n0 * guide[3 * x] + n1 * guide[3 * x + 1] + n2 * guide[3 * x + 2] + n3 - k;
        int snap = (v0[x] == 0.0f) & (v1[x] == 0.0f) & (v2[x] == 0.0f) & ((k == 0.0f) | (k == 255.0f)) &
                   (off < tol) & (off > -tol);
        s0[x] = snap ? 0.0f : n0;
        s1[x] = snap ? 0.0f : n1;
        s2[x] = snap ? 0.0f : n2;
        s3[x] = snap ? k : n3;
    }
}

int em_temporal_blend(const float *weights, const float *values, float *state, int channels, int height, int width,
                      const uint8_t *known_guide, float known_tol) {
    if (height < 1 || width < 1 || channels < 1 || weights == NULL || values == NULL || state == NULL ||
        (known_guide != NULL && (channels != 4 || !(known_tol >= 0.0f))))
        return EM_ERR_ARG;
    int h = height, w = width;
    size_t plane = (size_t)height * (size_t)width;
    for (int y = 0; y < h; y++) {
        size_t row = (size_t)y * w;
        if (known_guide != NULL) {
            blend_known_row(weights + row, values + row, state + row, plane, known_guide + 3 * row, known_tol, w);
            continue;
        }
        for (int c = 0; c < channels; c++)
            blend_row(weights + row, values + c * plane + row, state + c * plane + row, w);
    }
    return EM_OK;
}

/* one output row: the weight between the two horizontally upsampled weight rows, the blend, the rounding (adding and
 * subtracting 1.5 * 2^23 rounds a float in 0..2^22 half to even, as rintf does, in a loop that vectorises) */
EM_CLONES static void alpha_row(const float *restrict top, const float *restrict bottom, float fy,
                                uint8_t *restrict alpha, float *restrict state, int width) {
    const float magic = 12582912.0f;
    for (ptrdiff_t x = 0; x < width; x++) {
        float wgt = top[x] * (1.0f - fy) + bottom[x] * fy;
        float v = wgt * state[x] + (1.0f - wgt) * (float)alpha[x];
        state[x] = v;
        alpha[x] = (uint8_t)(int)((v + magic) - magic);
    }
}

/* source row y of the weights upsampled to width columns */
static void upsample_row(const float *row, const int *xa, const int *xb, const float *fx, float *out, int width) {
    for (int x = 0; x < width; x++) out[x] = row[xa[x]] * (1.0f - fx[x]) + row[xb[x]] * fx[x];
}

int em_temporal_alpha(const float *weights, int h, int w, uint8_t *alpha, float *state, int height, int width) {
    if (height < 1 || width < 1 || alpha == NULL || state == NULL || (weights != NULL && (h < 1 || w < 1)))
        return EM_ERR_ARG;
    size_t n = (size_t)height * (size_t)width;
    if (weights == NULL) {
        for (size_t i = 0; i < n; i++) state[i] = (float)alpha[i];
        return EM_OK;
    }
    int *xa = (int *)malloc(2 * (size_t)width * sizeof(int));
    float *fx = (float *)malloc(3 * (size_t)width * sizeof(float));
    if (xa == NULL || fx == NULL) {
        free(xa);
        free(fx);
        return EM_ERR_NOMEM;
    }
    int *xb = xa + width, held[2] = {-1, -1};
    float *rows[2] = {fx + width, fx + 2 * (size_t)width};
    for (int x = 0; x < width; x++) {
        double f;
        em_linear_coord(x, (double)w / width, w, xa + x, xb + x, &f);
        fx[x] = (float)f;
    }
    for (int y = 0; y < height; y++) {
        int ya, yb;
        double f;
        em_linear_coord(y, (double)h / height, h, &ya, &yb, &f);
        for (int k = 0; k < 2; k++) { /* each source row upsampled once, kept in the slot of its parity */
            int sy = k ? yb : ya;
            if (held[sy & 1] != sy) {
                upsample_row(weights + (size_t)sy * w, xa, xb, fx, rows[sy & 1], width);
                held[sy & 1] = sy;
            }
        }
        alpha_row(rows[ya & 1], rows[yb & 1], (float)f, alpha + (size_t)y * width, state + (size_t)y * width, width);
    }
    free(xa);
    free(fx);
    return EM_OK;
}
