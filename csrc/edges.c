/* Edge controls on a finished alpha, in place; see edges.h for the contract.
 *
 * Every pass filters "lines" (rows, or columns) LANES at a time: the lines are gathered side by side
 * into a small buffer, with the border replicated r elements either side, so that the inner loops run
 * over the lanes and vectorise; the results are written back into the alpha. Min and max over a
 * window of k = 2r + 1 take three comparisons per element whatever k (van Herk 1992, Gil & Werman
 * 1993): prefix extremes g within blocks of k elements, suffix extremes s within the same blocks,
 * then out[y] = op(s[y], g[y + k - 1]) (a window of k elements spans at most two blocks). The mean
 * takes running sums.
 */
#include "edges.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define LANES 32
enum { OP_MIN, OP_MAX, OP_MEAN };

static int nthreads_(int threads, int groups) {
#ifdef _OPENMP
    int n = threads > 0 ? threads : omp_get_max_threads();
    return n > groups ? (groups < 1 ? 1 : groups) : (n < 1 ? 1 : n);
#else
    (void)threads;
    (void)groups;
    return 1;
#endif
}

static inline uint8_t op8(int op, uint8_t a, uint8_t b) { return op == OP_MAX ? (a > b ? a : b) : (a < b ? a : b); }

/* lanes x (n + 2r) gathered values in buf (element i of lane l at buf[i * LANES + l]) -> lanes x n results in out */
EM_CLONES static void extreme_lanes(const uint8_t *restrict buf, uint8_t *restrict g, uint8_t *restrict s,
                                    uint8_t *restrict out, int n, int r, int op) {
    int k = 2 * r + 1, total = n + 2 * r;
    for (int i = 0; i < total; i++) {
        const uint8_t *b = buf + (size_t)i * LANES;
        uint8_t *gi = g + (size_t)i * LANES;
        if (i % k == 0)
            memcpy(gi, b, LANES);
        else
            for (int l = 0; l < LANES; l++) gi[l] = op8(op, gi[l - LANES], b[l]);
    }
    for (int i = total - 1; i >= 0; i--) {
        const uint8_t *b = buf + (size_t)i * LANES;
        uint8_t *si = s + (size_t)i * LANES;
        if (i % k == k - 1 || i == total - 1)
            memcpy(si, b, LANES);
        else
            for (int l = 0; l < LANES; l++) si[l] = op8(op, si[l + LANES], b[l]);
    }
    for (int y = 0; y < n; y++) {
        const uint8_t *sy = s + (size_t)y * LANES, *gy = g + (size_t)(y + k - 1) * LANES;
        uint8_t *o = out + (size_t)y * LANES;
        for (int l = 0; l < LANES; l++) o[l] = op8(op, sy[l], gy[l]);
    }
}

/* the mean of each window, rounded half up: (sum + r) / k is exact for odd k (a sum never ends in k/2) */
EM_CLONES static void mean_lanes(const uint8_t *restrict buf, uint32_t *restrict sum, uint8_t *restrict out, int n,
                                 int r) {
    int k = 2 * r + 1, total = n + 2 * r;
    for (int l = 0; l < LANES; l++) sum[l] = 0;
    for (int i = 0; i < total; i++)
        for (int l = 0; l < LANES; l++) sum[(size_t)(i + 1) * LANES + l] = sum[(size_t)i * LANES + l] + buf[(size_t)i * LANES + l];
    for (int y = 0; y < n; y++) {
        const uint32_t *lo = sum + (size_t)y * LANES, *hi = sum + (size_t)(y + k) * LANES;
        uint8_t *o = out + (size_t)y * LANES;
        for (int l = 0; l < LANES; l++) o[l] = (uint8_t)((hi[l] - lo[l] + (uint32_t)r) / (uint32_t)k);
    }
}

/* Filter `lines` lines of n elements in place: element i of line j is base[j * lane_step + i * step]. */
static int filter_lines(uint8_t *base, ptrdiff_t lane_step, ptrdiff_t step, int lines, int n, int r, int op,
                        int threads) {
    int total = n + 2 * r, groups = (lines + LANES - 1) / LANES, failed = 0;
    size_t cells = (size_t)total * LANES;
#pragma omp parallel num_threads(nthreads_(threads, groups)) reduction(| : failed)
    {
        uint8_t *buf = (uint8_t *)malloc(3 * cells + (size_t)n * LANES);
        uint32_t *sum = op == OP_MEAN ? (uint32_t *)malloc((cells + LANES) * sizeof(uint32_t)) : NULL;
        int ok = buf != NULL && (op != OP_MEAN || sum != NULL);
        failed |= !ok;
#pragma omp for schedule(static)
        for (int group = 0; group < groups; group++) {
            if (!ok)
                continue;
            int j0 = group * LANES, lanes = lines - j0 < LANES ? lines - j0 : LANES;
            uint8_t *first = base + (ptrdiff_t)j0 * lane_step, *out = buf + 3 * cells;
            if (lanes < LANES) /* the lanes past the last line are computed, never written back */
                memset(buf, 0, cells);
            for (int i = 0; i < total; i++) {
                int src = i < r ? 0 : (i - r >= n ? n - 1 : i - r);
                const uint8_t *p = first + (ptrdiff_t)src * step;
                uint8_t *b = buf + (size_t)i * LANES;
                for (int l = 0; l < lanes; l++) b[l] = p[(ptrdiff_t)l * lane_step];
            }
            if (op == OP_MEAN)
                mean_lanes(buf, sum, out, n, r);
            else
                extreme_lanes(buf, buf + cells, buf + 2 * cells, out, n, r, op);
            for (int y = 0; y < n; y++) {
                uint8_t *p = first + (ptrdiff_t)y * step;
                const uint8_t *o = out + (size_t)y * LANES;
                for (int l = 0; l < lanes; l++) p[(ptrdiff_t)l * lane_step] = o[l];
            }
        }
        free(buf);
        free(sum);
    }
    return failed ? EM_ERR_NOMEM : EM_OK;
}

/* rows, then columns */
static int separable(uint8_t *alpha, ptrdiff_t stride, int h, int w, int r, int op, int threads) {
    int status = filter_lines(alpha, stride, 1, h, w, r, op, threads);
    return status != EM_OK ? status : filter_lines(alpha, 1, stride, w, h, r, op, threads);
}

int em_edge_controls(uint8_t *alpha, ptrdiff_t stride, int height, int width, int shift, int feather, int threshold,
                     int threads) {
    if (alpha == NULL || height < 1 || width < 1 || stride < width || shift < -EM_EDGE_MAX_RADIUS ||
        shift > EM_EDGE_MAX_RADIUS || feather < 0 || feather > EM_EDGE_MAX_RADIUS || threshold < 0 || threshold > 255)
        return EM_ERR_ARG;
    int status = EM_OK;
    if (shift != 0)
        status = separable(alpha, stride, height, width, shift > 0 ? shift : -shift, shift > 0 ? OP_MAX : OP_MIN,
                           threads);
    if (status == EM_OK && feather > 0)
        status = separable(alpha, stride, height, width, feather, OP_MEAN, threads);
    if (status == EM_OK && threshold > 0) {
        int h = height, w = width, t = threshold;
#pragma omp parallel for schedule(static) num_threads(nthreads_(threads, height / 64))
        for (int y = 0; y < h; y++) {
            uint8_t *row = alpha + (ptrdiff_t)y * stride;
            for (int x = 0; x < w; x++) row[x] = row[x] >= t ? 255 : 0;
        }
    }
    return status;
}
