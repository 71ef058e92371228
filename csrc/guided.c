/* Fast guided-filter upsampling, known-region clamp, foreground and composite; see guided.h.
 *
 * Coefficients: 13 planes (I, p, I I^T, I p) box-averaged over clipped windows by separable running
 * sums, a 3x3 solve per pixel, then a second box average of a and b. Cost is that of a few passes
 * over the model-sized image.
 * Apply: each thread keeps the two coefficient rows its output rows interpolate between, expanded
 * to full width, so the per-pixel loop is a vertical lerp, a dot product and a blend over
 * contiguous floats, which compilers vectorise.
 */
#if defined(__GNUC__) && !defined(__clang__)
/* as em_unit_to_u8: lets the clamps vectorise; rounding is unaffected. Before the includes: GCC
 * does not inline a helper compiled with other optimisation flags (em_inverse_sym3, imin_). */
#pragma GCC optimize("no-trapping-math")
#endif

#include "guided.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "composite.h"
#include "em_linalg.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define ROUND_MAGIC 12582912.0f /* 1.5 * 2^23: (t + M) - M rounds 0 <= t < 2^22 to nearest even */

static int nthreads(int threads, long work, long per_thread) {
#ifdef _OPENMP
    int n = threads > 0 ? threads : omp_get_max_threads();
    long most = 1 + work / per_thread;
    return n > most ? (int)most : (n < 1 ? 1 : n);
#else
    (void)threads;
    (void)work;
    (void)per_thread;
    return 1;
#endif
}

EM_CLONES static void model_input_(const uint8_t *restrict bgr, size_t n, float *restrict r, float *restrict g,
                                   float *restrict b) {
    size_t i;
    for (i = 0; i < n; i++) {
        b[i] = (float)bgr[3 * i] * (1.0f / 255);
        g[i] = (float)bgr[3 * i + 1] * (1.0f / 255);
        r[i] = (float)bgr[3 * i + 2] * (1.0f / 255);
    }
}

void em_model_input(const uint8_t *bgr, size_t n, float *r, float *g, float *b) { model_input_(bgr, n, r, g, b); }

/* dst = src w, elementwise (restrict parameters: these loops vectorise). */
EM_CLONES static void multiply_plane(const float *restrict src, const float *restrict wgt, float *restrict dst, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) dst[i] = src[i] * wgt[i];
}

/* Floats of work box_mean_planes needs for count planes of h x w. */
/* Planes that many loops touch at once are PAD floats apart beyond their size: at a power-of-two
 * stride (128x128 floats = 64 KiB) a dozen streams map to the same L1 cache set and evict each other. */
#define PAD 48

static size_t box_plane_work(int h, int w, int r) {
    return 2 * (size_t)h * w + 2 * (size_t)(h > w ? h : w) + 2 * (size_t)r * (h + 1) + PAD;
}

static size_t box_work_size(int count, int h, int w, int r) {
    return (size_t)count * box_plane_work(h, w, r);
}

/* dst[y][x] = the sum of src[y - r .. y + r][x] (rows clipped) by a running column sum in double (cs: w
 * doubles): float values add and subtract exactly there, so a window of zeros sums to exactly 0. */
EM_CLONES static void vertical_sums(const float *restrict src, float *restrict dst, int h, int w, int r, double *restrict cs) {
    int y, x;
    memset(cs, 0, sizeof(double) * (size_t)w);
    for (y = 0; y <= r && y < h; y++)
        for (x = 0; x < w; x++) cs[x] += src[(size_t)y * w + x];
    for (y = 0; y < h; y++) {
        float *d = dst + (size_t)y * w;
        for (x = 0; x < w; x++) d[x] = (float)cs[x];
        if (y + r + 1 < h)
            for (x = 0; x < w; x++) cs[x] += src[(size_t)(y + r + 1) * w + x];
        if (y - r >= 0)
            for (x = 0; x < w; x++) cs[x] -= src[(size_t)(y - r) * w + x];
    }
}

/* dst [w][h] = src [h][w] transposed, in 8x8 blocks (whole blocks with fixed bounds: unrolled). */
EM_CLONES static void transpose(const float *restrict src, float *restrict dst, int h, int w) {
    int y0, x0, y, x;
    for (y0 = 0; y0 < h; y0 += 8)
        for (x0 = 0; x0 < w; x0 += 8) {
            const int ye = imin_(y0 + 8, h), xe = imin_(x0 + 8, w);
            if (ye - y0 == 8 && xe - x0 == 8) {
                for (x = 0; x < 8; x++)
                    for (y = 0; y < 8; y++)
                        dst[(size_t)(x0 + x) * h + y0 + y] = src[(size_t)(y0 + y) * w + x0 + x];
                continue;
            }
            for (y = y0; y < ye; y++)
                for (x = x0; x < xe; x++) dst[(size_t)x * h + y] = src[(size_t)y * w + x];
        }
}

/* out[x] = (pad[x] + ... + pad[x + 2r]) inv_y inv_x[x], summed in that order. A function of its
 * own so that restrict holds: inline, the sums compiled to a scalar store-reload chain. */
EM_CLONES static void row_box(const float *restrict pad, float *restrict sum, const float *restrict inv_x, float inv_y,
                              int w, int r, float *restrict out) {
    int x, d;
    if (r == 0) {
        memcpy(sum, pad, sizeof(float) * (size_t)w);
    } else {
        const float *restrict next = pad + 1;
        for (x = 0; x < w; x++) sum[x] = pad[x] + next[x];
    }
    for (d = 2; d <= 2 * r; d++) {
        const float *restrict src = pad + d; /* not pad[x + d]: GCC made that a gather */
        for (x = 0; x < w; x++) sum[x] += src[x];
    }
    for (x = 0; x < w; x++) out[x] = sum[x] * inv_y * inv_x[x];
}

/* dst[x] = rows y0..y1 of src (row length w) summed at x, in that order (restrict: vectorised). */
EM_CLONES static void column_sums(const float *restrict src, int w, int y0, int y1, float *restrict dst) {
    const float *restrict a = src + (size_t)y0 * w;
    int x, d;
    if (y1 == y0) {
        memcpy(dst, a, sizeof(float) * (size_t)w);
        return;
    }
    {
        const float *restrict b = a + w;
        for (x = 0; x < w; x++) dst[x] = a[x] + b[x];
    }
    for (d = y0 + 2; d <= y1; d++) {
        const float *restrict s = src + (size_t)d * w;
        for (x = 0; x < w; x++) dst[x] += s[x];
    }
}

/* In place: each plane of h*w values becomes its mean over the clipped (2r+1)^2 window. Direct
 * sums of 2r+1 rows, then of 2r+1 columns (a zero-padded row), each vectorised over the row: no
 * running sums, so no drift, and every loop is contiguous. */
EM_CLONES static void box_mean_planes(float *planes, size_t stride, int count, int h, int w, int r, float *work,
                                      int threads) {
    int c;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
    for (c = 0; c < count; c++) {
        float *pl = planes + (size_t)c * stride;
        float *v = work + (size_t)c * box_plane_work(h, w, r); /* vertical sums */
        int y, x;
        if (r > 3) { /* wide windows: running sums down the columns, then down the transposed rows */
            float *t = v + (size_t)h * w;
            float *acc = t + w + 2 * r; /* after the transposes: 1 / the clipped window width per column */
            double *cs = (double *)(t + (size_t)h * w); /* 2 max(h, w) floats: max(h, w) doubles */
            vertical_sums(pl, v, h, w, r, cs);
            transpose(v, t, h, w);
            vertical_sums(t, v, w, h, r, cs);
            transpose(v, pl, w, h);
            for (x = 0; x < w; x++) acc[x] = 1.0f / (float)(imin_(x + r, w - 1) - imax_(x - r, 0) + 1);
            for (y = 0; y < h; y++) {
                const float inv_y = 1.0f / (float)(imin_(y + r, h - 1) - imax_(y - r, 0) + 1);
                float *out = pl + (size_t)y * w;
                for (x = 0; x < w; x++) out[x] *= inv_y * acc[x];
            }
            continue;
        }
        {
            const size_t vw = (size_t)w + 2 * r; /* vertical sums in rows of w, r zeros either side */
            float *inv_x = v + (size_t)h * vw; /* 1 / the clipped window width per column */
            float *sum = inv_x + w;
            for (x = 0; x < w; x++) inv_x[x] = 1.0f / (float)(imin_(x + r, w - 1) - imax_(x - r, 0) + 1);
            for (y = 0; y < h; y++) {
                float *row = v + (size_t)y * vw;
                memset(row, 0, sizeof(float) * (size_t)r);
                memset(row + r + w, 0, sizeof(float) * (size_t)r);
                column_sums(pl, w, imax_(y - r, 0), imin_(y + r, h - 1), row + r);
            }
            for (y = 0; y < h; y++) {
                const float inv_y = 1.0f / (float)(imin_(y + r, h - 1) - imax_(y - r, 0) + 1);
                row_box(v + (size_t)y * vw, sum, inv_x, inv_y, w, r, pl + (size_t)y * w);
            }
        }
    }
}

/* mn, mx = the elementwise min and max of themselves and a, b over w values. */
EM_CLONES static void min_max_into(const float *restrict a, const float *restrict b, float *restrict mn,
                                   float *restrict mx, int w) {
    int x;
    for (x = 0; x < w; x++) {
        mn[x] = a[x] < mn[x] ? a[x] : mn[x];
        mx[x] = b[x] > mx[x] ? b[x] : mx[x];
    }
}

/* known[i]: 2 where the clipped (2k+1)^2 window of p is all >= 254/255, 1 where all <= 1/255, else 0.
 * lo, hi, lo2, hi2: h x w floats of scratch. Min and max are taken as shifted whole rows (vectorised). */
static void known_regions(const float *p, int h, int w, int k, unsigned char *known, float *lo, float *hi, float *lo2,
                          float *hi2) {
    const size_t n = (size_t)h * w;
    size_t i;
    int y, yy, d;
    memcpy(lo, p, sizeof(float) * n);
    memcpy(hi, p, sizeof(float) * n);
    for (y = 0; y < h; y++) /* horizontal: the row shifted by -k..k, clipped */
        for (d = 1; d <= k && d < w; d++) {
            const float *row = p + (size_t)y * w;
            float *mn = lo + (size_t)y * w, *mx = hi + (size_t)y * w;
            min_max_into(row + d, row + d, mn, mx, w - d);
            min_max_into(row, row, mn + d, mx + d, w - d);
        }
    memcpy(lo2, lo, sizeof(float) * n);
    memcpy(hi2, hi, sizeof(float) * n);
    for (y = 0; y < h; y++) /* vertical */
        for (yy = imax_(y - k, 0); yy <= imin_(y + k, h - 1); yy++)
            if (yy != y)
                min_max_into(lo + (size_t)yy * w, hi + (size_t)yy * w, lo2 + (size_t)y * w, hi2 + (size_t)y * w, w);
    for (i = 0; i < n; i++)
        known[i] = (double)lo2[i] >= 254.0 / 255.0 ? 2 : ((double)hi2[i] <= 1.0 / 255.0 ? 1 : 0);
}

size_t em_guided_scratch_size(int height, int width, int radius) {
    const size_t n = (size_t)height * width;
    const size_t coef = 13 * (n + PAD + 1) + box_work_size(13, height, width, radius) + n / sizeof(float) + 1;
    const size_t blurs = 14 * (n + PAD + 1) + box_work_size(8, height, width, radius);
    return coef > blurs ? coef : blurs;
}

/* a = (Sigma + eps U)^-1 cov(I, p), b = mean(p) - a . mean(I) from the 13 box-averaged planes. */
EM_CLONES static void solve_coefficients(const float *restrict pl, size_t ps, size_t n, double eps,
                                         float *restrict coef) {
    size_t i;
    for (i = 0; i < n; i++) {
        const double m0 = pl[i], m1 = pl[ps + i], m2 = pl[2 * ps + i], mp = pl[3 * ps + i];
        const double q0 = pl[10 * ps + i] - m0 * mp, q1 = pl[11 * ps + i] - m1 * mp, q2 = pl[12 * ps + i] - m2 * mp;
        double ci[6], a0, a1, a2;
        em_inverse_sym3(pl[4 * ps + i] - m0 * m0 + eps, pl[5 * ps + i] - m0 * m1, pl[6 * ps + i] - m0 * m2,
                        pl[7 * ps + i] - m1 * m1 + eps, pl[8 * ps + i] - m1 * m2, pl[9 * ps + i] - m2 * m2 + eps, ci);
        a0 = ci[0] * q0 + ci[1] * q1 + ci[2] * q2;
        a1 = ci[1] * q0 + ci[3] * q1 + ci[4] * q2;
        a2 = ci[2] * q0 + ci[4] * q1 + ci[5] * q2;
        coef[i] = (float)a0;
        coef[n + i] = (float)a1;
        coef[2 * n + i] = (float)a2;
        coef[3 * n + i] = (float)(mp - a0 * m0 - a1 * m1 - a2 * m2);
    }
}

int em_guided_coefficients(const uint8_t *small_image, const float *small_alpha, int height, int width, int radius,
                           int mean_radius, double eps, int known_radius, float *coef, float *scratch, int threads) {
    const int h = height, w = width;
    const size_t n = (size_t)h * w;
    const int rmax = radius > mean_radius ? radius : mean_radius;
    const size_t ps = n + PAD + (n & 1); /* plane stride, even: the box work holds doubles */
    float *pl = NULL, *owned = NULL;
    float *work = NULL;
    unsigned char *known = NULL;
    size_t i;
    int status = EM_OK;
    if (!small_image || !small_alpha || !coef || h < 1 || w < 1 || radius < 0 || mean_radius < 0 || !(eps > 0) ||
        known_radius < -1)
        return EM_ERR_ARG;
    threads = nthreads(threads, (long)n * 13, 1L << 18);
    if (!scratch) scratch = owned = (float *)malloc(sizeof(float) * em_guided_scratch_size(h, w, rmax));
    if (!scratch) return EM_ERR_NOMEM;
    pl = scratch;
    work = pl + 13 * ps;
    known = (unsigned char *)(work + box_work_size(13, h, w, rmax));
    /* planes: I0 I1 I2 p, I0I0 I0I1 I0I2 I1I1 I1I2 I2I2, I0p I1p I2p (colours 0..1), a plane at a time */
    model_input_(small_image, n, pl + 2 * ps, pl + ps, pl);
    memcpy(pl + 3 * ps, small_alpha, sizeof(float) * n);
    {
        static const int pairs[9][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 2}, {2, 2}, {0, 3}, {1, 3}, {2, 3}};
        int k;
        for (k = 0; k < 9; k++) multiply_plane(pl + pairs[k][0] * ps, pl + pairs[k][1] * ps, pl + (4 + k) * ps, n);
    }
    box_mean_planes(pl, ps, 13, h, w, radius, work, threads);
    solve_coefficients(pl, ps, n, eps, coef);
    if (mean_radius > 0) box_mean_planes(coef, n, 4, h, w, mean_radius, work, threads);
    if (known_radius >= 0) known_regions(small_alpha, h, w, known_radius, known, pl, pl + ps, pl + 2 * ps, pl + 3 * ps);
    for (i = 0; i < n; i++) {
        coef[3 * n + i] *= 255.0f; /* a . I/255 + b in 0..1 -> a . I + 255 b in 0..255 */
        if (known_radius >= 0 && known[i]) {
            coef[i] = coef[n + i] = coef[2 * n + i] = 0.0f;
            coef[3 * n + i] = known[i] == 2 ? 255.0f : 0.0f;
        }
    }
    free(owned);
    return status;
}

/* dst = num / (den + 1e-5), elementwise. */
EM_CLONES static void divide_plane(const float *restrict num, const float *restrict den, float *restrict dst, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) dst[i] = num[i] / (den[i] + 1e-5f);
}

/* One blur-fusion pass at the model's resolution: from F, B (planar 3 x n, 0..255) to Fb, Bb in blurs. */
static void fusion_pass(const float *alpha, const float *F, const float *B, size_t n, size_t ps, int h, int w, int r,
                        float *pl, float *work, float *blurs, int threads) {
    size_t i;
    int c;
    /* planes (stride ps): a, F a (3), 1 - a, B (1 - a) (3); F and B planar at stride ps */
    memcpy(pl, alpha, sizeof(float) * n);
    for (i = 0; i < n; i++) pl[4 * ps + i] = 1.0f - alpha[i];
    for (c = 0; c < 3; c++) {
        multiply_plane(F + c * ps, pl, pl + (1 + c) * ps, n);
        multiply_plane(B + c * ps, pl + 4 * ps, pl + (5 + c) * ps, n);
    }
    box_mean_planes(pl, ps, 8, h, w, r, work, threads);
    for (c = 0; c < 3; c++) {
        divide_plane(pl + (1 + c) * ps, pl, blurs + c * n, n);
        divide_plane(pl + (5 + c) * ps, pl + 4 * ps, blurs + (3 + c) * n, n);
    }
}

/* One channel of blur-fusion's foreground update: f = clip(fb + a (i - a fb - (1 - a) bb), 0, 255). */
EM_CLONES static void refit_foreground(const float *restrict alpha, const float *restrict fb, const float *restrict bb,
                                       const float *restrict image, float *restrict f, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        const float a = alpha[i], v = fb[i] + a * (image[i] - a * fb[i] - (1.0f - a) * bb[i]);
        f[i] = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
    }
}

int em_foreground_blurs(const uint8_t *small_image, const float *small_alpha, int height, int width, int radius,
                        int small_radius, float *blurs, float *scratch, int threads) {
    const size_t n = (size_t)height * width;
    const int rmax = radius > small_radius ? radius : small_radius;
    const size_t ps = n + PAD + (n & 1); /* plane stride, even: the box work holds doubles */
    float *pl = NULL, *img = NULL, *owned = NULL;
    float *work = NULL;
    size_t i;
    int c;
    if (!small_image || !small_alpha || !blurs || height < 1 || width < 1 || radius < 0 || small_radius < -1)
        return EM_ERR_ARG;
    threads = nthreads(threads, (long)n * 8, 1L << 18);
    if (!scratch) scratch = owned = (float *)malloc(sizeof(float) * em_guided_scratch_size(height, width, rmax));
    if (!scratch) return EM_ERR_NOMEM;
    pl = scratch;
    img = pl + 8 * ps; /* I, then the first pass's F: planar at stride ps */
    work = img + 6 * ps;
    for (i = 0; i < n; i++)
        for (c = 0; c < 3; c++) img[c * ps + i] = small_image[3 * i + c];
    fusion_pass(small_alpha, img, img, n, ps, height, width, radius, pl, work, blurs, threads);
    if (small_radius >= 0) {
        /* second pass (Germer et al.): F from the first estimates, B = the first background blur */
        for (c = 0; c < 3; c++) {
            refit_foreground(small_alpha, blurs + c * n, blurs + (3 + c) * n, img + c * ps, img + (3 + c) * ps, n);
            memcpy(img + c * ps, blurs + (3 + c) * n, sizeof(float) * n); /* B1 */
        }
        fusion_pass(small_alpha, img + 3 * ps, img, n, ps, height, width, small_radius, pl, work, blurs, threads);
    }
    free(owned);
    return EM_OK;
}

int em_guided_fit(const uint8_t *small_image, const float *small_alpha, int height, int width, int radius,
                  int mean_radius, double eps, int known_radius, float *coef, int foreground_radius,
                  int foreground_small_radius, float *blurs, float *scratch, int threads) {
    const int r = imax_(imax_(radius, mean_radius), imax_(foreground_radius, foreground_small_radius));
    const size_t half = em_guided_scratch_size(height, width, r);
    float *owned = NULL;
    int status = EM_OK, status2 = EM_OK;
    if (height < 1 || width < 1 || r < 0) return EM_ERR_ARG;
    if (!blurs || nthreads(threads, 2, 1) < 2) { /* one after the other, each with the threads it wants */
        status = em_guided_coefficients(small_image, small_alpha, height, width, radius, mean_radius, eps,
                                        known_radius, coef, scratch, threads);
        if (status == EM_OK && blurs)
            status = em_foreground_blurs(small_image, small_alpha, height, width, foreground_radius,
                                         foreground_small_radius, blurs, scratch ? scratch + half : NULL, threads);
        return status;
    }
    if (!scratch) scratch = owned = (float *)malloc(sizeof(float) * 2 * half);
    if (!scratch) return EM_ERR_NOMEM;
#ifdef _OPENMP
#pragma omp parallel sections num_threads(2)
#endif
    {
#ifdef _OPENMP
#pragma omp section
#endif
        status = em_guided_coefficients(small_image, small_alpha, height, width, radius, mean_radius, eps,
                                        known_radius, coef, scratch, 1);
#ifdef _OPENMP
#pragma omp section
#endif
        status2 = em_foreground_blurs(small_image, small_alpha, height, width, foreground_radius,
                                      foreground_small_radius, blurs, scratch + half, 1);
    }
    free(owned);
    return status != EM_OK ? status : status2;
}

/* em_linear_coord with a float weight. */
static void lerp_coord(int i, double scale, int n_in, int *lo, int *hi, float *frac) {
    double f;
    em_linear_coord(i, scale, n_in, lo, hi, &f);
    *frac = (float)f;
}

/* The coefficient planes (4) and blurs (6, or NULL) of the small row sy, expanded to W values
 * (dst[c * W + x], blurs from c = 4) over the output columns of the source columns j0..j1.
 * xs[j]..xs[j+1] are the output columns whose left source column is j (the right one is
 * min(j + 1, w - 1)). held[j]: the small row dst holds at source column j, updated. */
EM_CLONES static void expand_row(const float *coef, const float *blurs, size_t plane_size, int w, int sy,
                                 const int *xs, const float *wx, int W, int j0, int j1, int *held, float *dst) {
    const int count = blurs ? 10 : 4;
    int c, j, x;
    for (j = j0; j <= j1; j++) {
        if (held[j] == sy) continue;
        held[j] = sy;
        for (c = 0; c < count; c++) {
            const float *src = (c < 4 ? coef + (size_t)c * plane_size : blurs + (size_t)(c - 4) * plane_size) +
                               (size_t)sy * w;
            const float lo = src[j], step = src[j + 1 < w ? j + 1 : j] - lo;
            float *d = dst + (size_t)c * W;
            for (x = xs[j]; x < xs[j + 1]; x++) d[x] = lo + wx[x] * step;
        }
    }
}

/* n pixels of one output row: alpha, and the foreground colours into fg (when top/bot carry the blur
 * planes). Plane c of the expanded rows starts at top + c * stride. */
#define RUN_CHUNK 256

EM_CLONES static void apply_run(const float *restrict top, const float *restrict bot, int stride, float wy,
                                int with_blurs, const uint8_t *restrict I, int n, uint8_t *restrict a8,
                                uint8_t *restrict fg) {
    const float *restrict t0 = top, *restrict t1 = top + stride, *restrict t2 = top + 2 * stride;
    const float *restrict t3 = top + 3 * stride;
    const float *restrict b0 = bot, *restrict b1 = bot + stride, *restrict b2 = bot + 2 * stride;
    const float *restrict b3 = bot + 3 * stride;
    float ip[3][RUN_CHUNK], fp[3][RUN_CHUNK], av[RUN_CHUNK], gain[RUN_CHUNK];
    int x0, x, c;
    for (x0 = 0; x0 < n; x0 += RUN_CHUNK) {
        const int m = n - x0 < RUN_CHUNK ? n - x0 : RUN_CHUNK;
        const uint8_t *restrict Ic = I + 3 * (size_t)x0;
        for (x = 0; x < m; x++) { /* deinterleave the frame's colours once */
            ip[0][x] = (float)Ic[3 * x];
            ip[1][x] = (float)Ic[3 * x + 1];
            ip[2][x] = (float)Ic[3 * x + 2];
        }
        for (x = 0; x < m; x++) { /* floats only, so that it vectorises; then narrowed below */
            const int i = x0 + x;
            float v = (t0[i] + wy * (b0[i] - t0[i])) * ip[0][x] + (t1[i] + wy * (b1[i] - t1[i])) * ip[1][x] +
                      (t2[i] + wy * (b2[i] - t2[i])) * ip[2][x] + (t3[i] + wy * (b3[i] - t3[i]));
            v = v > 0.0f ? v : 0.0f;
            v = v < 255.0f ? v : 255.0f;
            av[x] = (v + ROUND_MAGIC) - ROUND_MAGIC;
        }
        for (x = 0; x < m; x++) a8[x0 + x] = (uint8_t)(int)av[x];
        if (!with_blurs) continue;
        for (x = 0; x < m; x++) { /* the share of the residual that goes to F: a / (a^2 + k (1 - a)^2) */
            const float a = av[x] * (1.0f / 255), b = 1.0f - a;
            gain[x] = a / (a * a + EM_BACKGROUND_VARIANCE_RATIO * (b * b));
        }
        for (c = 0; c < 3; c++) {
            const float *restrict tf = top + (4 + c) * stride + x0, *restrict bf = bot + (4 + c) * stride + x0;
            const float *restrict tb = top + (7 + c) * stride + x0, *restrict bb = bot + (7 + c) * stride + x0;
            for (x = 0; x < m; x++) {
                const float a = av[x] * (1.0f / 255), i = ip[c][x];
                const float fb = tf[x] + wy * (bf[x] - tf[x]), bgb = tb[x] + wy * (bb[x] - tb[x]);
                float f = fb + gain[x] * (i - a * fb - (1.0f - a) * bgb);
                f = f > 0.0f ? f : 0.0f;
                f = f < 255.0f ? f : 255.0f;
                f = (f + ROUND_MAGIC) - ROUND_MAGIC;
                fp[c][x] = (av[x] == 0.0f || av[x] == 255.0f) ? i : f; /* known: the frame's colour */
            }
        }
        {
            uint8_t *restrict fc = fg + 3 * (size_t)x0;
            for (x = 0; x < m; x++) {
                fc[3 * x] = (uint8_t)(int)fp[0][x];
                fc[3 * x + 1] = (uint8_t)(int)fp[1][x];
                fc[3 * x + 2] = (uint8_t)(int)fp[2][x];
            }
        }
    }
}

/* o [n,4] = the colours src [n,3] with alpha a [n] appended (restrict: vectorised). */
EM_CLONES static void bgra_row(const uint8_t *restrict src, const uint8_t *restrict a, uint8_t *restrict o, int n) {
    size_t x;
    for (x = 0; x < (size_t)n; x++) {
        o[4 * x] = src[3 * x];
        o[4 * x + 1] = src[3 * x + 1];
        o[4 * x + 2] = src[3 * x + 2];
        o[4 * x + 3] = a[x];
    }
}

/* 2 where a small cell's coefficients are exactly (0, 0, 0, 255), 1 where (0, 0, 0, 0), else 0. */
static void constant_cells(const float *coef, size_t n, unsigned char *flags) {
    size_t i;
    for (i = 0; i < n; i++) {
        const int flat = coef[i] == 0.0f && coef[n + i] == 0.0f && coef[2 * n + i] == 0.0f;
        const float b = coef[3 * n + i];
        flags[i] = flat ? (b == 255.0f ? 2 : (b == 0.0f ? 1 : 0)) : 0;
    }
}

int em_guided_apply(const float *coef, const float *blurs, int height, int width, const uint8_t *image,
                    ptrdiff_t image_stride, int out_height, int out_width, uint8_t *alpha, uint8_t *foreground,
                    const uint8_t *background, const uint8_t *colour, uint8_t *composite, int threads) {
    const int h = height, w = width, H = out_height, W = out_width;
    const size_t n = (size_t)h * w;
    const int count = blurs ? 10 : 4;
    int *xa = NULL, *xb = NULL, *xs = NULL, bad = 0, x, nt;
    float *wx = NULL;
    unsigned char *flags = NULL;
    if (!coef || !image || !alpha || h < 1 || w < 1 || H < 1 || W < 1 || image_stride < 3 * (ptrdiff_t)W ||
        (foreground && !blurs))
        return EM_ERR_ARG;
    xa = (int *)malloc(sizeof(int) * (size_t)W);
    xb = (int *)malloc(sizeof(int) * (size_t)W);
    wx = (float *)malloc(sizeof(float) * (size_t)W);
    flags = (unsigned char *)malloc(n);
    xs = (int *)calloc((size_t)w + 1, sizeof(int));
    if (!xa || !xb || !wx || !flags || !xs) {
        free(xa);
        free(xb);
        free(wx);
        free(flags);
        free(xs);
        return EM_ERR_NOMEM;
    }
    for (x = 0; x < W; x++) lerp_coord(x, (double)w / W, w, xa + x, xb + x, wx + x);
    { /* xs[j] = the first output column whose left source column is >= j (xa never decreases) */
        int j = 0;
        for (x = 0; x < W; x++)
            while (j <= xa[x]) xs[j++] = x;
        while (j <= w) xs[j++] = W;
    }
    constant_cells(coef, n, flags);
    nt = nthreads(threads, (long)H * W, 1L << 16);
    if (nt > H) nt = H;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
    {
        /* per thread: two expanded rows (planes: coef then blurs), small row sy in slot sy & 1, filled
         * lazily over the unknown runs only (held: the small row each slot holds per source column);
         * a foreground row; the colour repeated */
        float *rows = (float *)malloc(sizeof(float) * 2 * (size_t)count * W);
        int *held = (int *)malloc(sizeof(int) * 2 * (size_t)w);
        uint8_t *fg_row = (uint8_t *)malloc(3 * (size_t)W);
        uint8_t colour3[3 * 512];
        int y, i;
        if (colour)
            for (i = 0; i < 3 * 512; i++) colour3[i] = colour[i % 3];
        if (held)
            for (i = 0; i < 2 * w; i++) held[i] = -1;
        if (!rows || !held || !fg_row) {
            bad = 1;
        } else {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 8) /* the edge band is uneven: static halves left one thread idle */
#endif
            for (y = 0; y < H; y++) {
                int ya, yb, x0 = 0;
                float wy;
                const uint8_t *I = image + (ptrdiff_t)y * image_stride;
                const uint8_t *B = background ? background + 3 * (size_t)y * W : NULL;
                uint8_t *a8 = alpha + (size_t)y * W;
                uint8_t *fg = foreground ? foreground + 3 * (size_t)y * W : fg_row;
                const uint8_t *F = blurs ? fg : I;
                const unsigned char *fa, *fb;
                lerp_coord(y, (double)h / H, h, &ya, &yb, &wy);
                fa = flags + (size_t)ya * w;
                fb = flags + (size_t)yb * w;
                /* runs of pixels whose four coefficient cells are one constant (known region) or not,
                 * decided per source column j (the output columns xs[j]..xs[j+1]) */
                while (x0 < W) {
                    int jj = xa[x0], k, x1, len, j; /* x1 > x0: output column x0 lies in xs[xa[x0]].. */
#define EM_CELL(j_) (fa[j_] == fa[imin_((j_) + 1, w - 1)] && fa[j_] == fb[j_] && fa[j_] == fb[imin_((j_) + 1, w - 1)] \
                         ? fa[j_] : 0)
                    k = EM_CELL(jj);
                    while (jj + 1 < w && EM_CELL(jj + 1) == k) jj++;
#undef EM_CELL
                    x1 = xs[jj + 1];
                    len = x1 - x0;

                    if (k) { /* known: alpha 0 or 255, the foreground is the frame */
                        memset(a8 + x0, k == 2 ? 255 : 0, (size_t)len);
                        if (foreground) memcpy(fg + 3 * (size_t)x0, I + 3 * (size_t)x0, 3 * (size_t)len);
                        if (composite && (background || colour)) {
                            uint8_t *o = composite + 3 * ((size_t)y * W + x0);
                            if (k == 2)
                                memcpy(o, I + 3 * (size_t)x0, 3 * (size_t)len);
                            else if (B)
                                memcpy(o, B + 3 * (size_t)x0, 3 * (size_t)len);
                            else
                                for (j = 0; j < len; j += 512) /* the colour, 512 pixels at a time */
                                    memcpy(o + 3 * (size_t)j, colour3, 3 * (size_t)(len - j < 512 ? len - j : 512));
                        }
                        if (composite && !background && !colour)
                            bgra_row(I + 3 * (size_t)x0, a8 + x0, composite + 4 * ((size_t)y * W + x0), len);
                    } else {
                        float *top = rows + (size_t)(ya & 1) * count * W, *bot = rows + (size_t)(yb & 1) * count * W;
                        expand_row(coef, blurs, n, w, ya, xs, wx, W, xa[x0], jj, held + (ya & 1) * w, top);
                        expand_row(coef, blurs, n, w, yb, xs, wx, W, xa[x0], jj, held + (yb & 1) * w, bot);
                        apply_run(top + x0, bot + x0, W, wy, blurs != NULL, I + 3 * (size_t)x0, len, a8 + x0,
                                  fg + 3 * (size_t)x0);
                        if (composite && (background || colour)) {
                            em_composite_row(F + 3 * (size_t)x0, a8 + x0, 0, B ? B + 3 * (size_t)x0 : NULL,
                                             B ? NULL : colour3, composite + 3 * ((size_t)y * W + x0), len, 0);
                        } else if (composite) {
                            bgra_row(F + 3 * (size_t)x0, a8 + x0, composite + 4 * ((size_t)y * W + x0), len);
                        }
                    }
                    x0 = x1;
                }
            }
        }
        free(rows);
        free(held);
        free(fg_row);
    }
    free(xa);
    free(xb);
    free(wx);
    free(flags);
    free(xs);
    return bad ? EM_ERR_NOMEM : EM_OK;
}
