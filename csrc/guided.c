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

/* GCC (12+) and Clang vector extensions: eight floats as one value, compiled for each target clone
 * (two SSE registers by default, one AVX register in the avx2 clone, NEON pairs on aarch64). */
#if !defined(EM_NO_VECTORS) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
#define EM_VECTORS 1
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi" /* v8f returned by inline helpers: no ABI crosses a library boundary */
#endif
#define EM_INLINE __attribute__((always_inline))
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint8_t v16b __attribute__((vector_size(16)));
typedef uint8_t v32b __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));
typedef uint16_t v16h __attribute__((vector_size(32)));
#define V8(s) ((v8f){(s), (s), (s), (s), (s), (s), (s), (s)})
static inline EM_INLINE v8f ld8f(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline EM_INLINE void st8f(float *p, v8f v) { memcpy(p, &v, sizeof v); }
/* m ? a : b, lane by lane (m: all ones or zeros) */
static inline EM_INLINE v8f sel8(v8i m, v8f a, v8f b) { return (v8f)((m & (v8i)a) | (~m & (v8i)b)); }
#endif

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

/* ---- the full-resolution pass --------------------------------------------------------------------
 *
 * Per output row, runs of pixels whose four coefficient cells are one known constant (a memset and
 * copies) or not. For the others, each thread keeps the two small rows its output row lies between
 * with their planes expanded to full width, filled over the unknown runs of each new pair of small
 * rows: the coefficients as floats, the blurs in fixed point (int16, 1/64 level). Per pixel that leaves
 * a vertical lerp per plane, the alpha in float (the dot product), the foreground step in int16 and the
 * composite.
 *
 * On x86-64 with AVX2 (picked at run time) the unknown runs go sixteen pixels at a time in intrinsics.
 * Elsewhere, with GCC or Clang, they go in blocks of BLOCK pixels: the alphas eight at a time in vector
 * extensions, then the foreground channel by channel in plain loops the compiler vectorises, then the
 * composite eight at a time; other compilers take one pixel at a time (one_pixel). All do the same
 * operations (one_pixel is the specification; em_k_guided_apply in edgematte/kernels/cuda/stages.cu its
 * CUDA twin), so every build gives the same bytes (tests/refine/test_guided.py compiles them all).
 */

#define ROW_PAD 16 /* floats after each expanded coefficient plane (and after wx): a 16-wide load stays inside */
#define BLOCK 64  /* pixels per block of an unknown run; int16 planes are padded by as much */

/* Fixed point of the foreground step (see guided.h): blurs in 1/FG_ONE level, alpha in 1/32768, the gain
 * in 1/16384 (it reaches ~1.06). */
#define FG_SHIFT 6
#define FG_ONE (1 << FG_SHIFT)
#define GAIN_ONE 16384.0f

/* round(a b / 2^15) for int16 a, b (x86 pmulhrsw, NEON vqrdmulh without its saturation; compilers find it) */
static inline int16_t mulhrs16(int16_t a, int16_t b) { return (int16_t)(((((int32_t)a * b) >> 14) + 1) >> 1); }

/* v rounded to a whole number (ties to even), |v| < 2^22 */
static inline float round_half_even(float v) { return (v + ROUND_MAGIC) - ROUND_MAGIC; }

/* One channel of the foreground at one pixel, in fixed point: tf, bf (tb, bb) the foreground (background)
 * blur of the top and bottom small rows at this column, in 1/64 level; wyq the vertical weight in 1/32768;
 * i the frame's colour; a8 the alpha; gq the gain in 1/16384. F = Fb + g (I - Bb - a (Fb - Bb)), clamped,
 * rounded half up; the frame's colour where the alpha is 0 or 255. */
static inline uint8_t foreground_step(int16_t tf, int16_t bf, int16_t tb, int16_t bb, int16_t wyq, int16_t i,
                                      uint8_t a8, int16_t gq) {
    const int16_t fb = (int16_t)(tf + mulhrs16((int16_t)(bf - tf), wyq));
    const int16_t bg = (int16_t)(tb + mulhrs16((int16_t)(bb - tb), wyq));
    const int16_t aq = (int16_t)((a8 << 7) + (a8 >> 1)); /* a in 1/32768, within 1; 255 -> 32767 */
    const int16_t u = (int16_t)((i << FG_SHIFT) - bg - mulhrs16((int16_t)(fb - bg), aq));
    int16_t f = (int16_t)(fb + mulhrs16((int16_t)(u << 1), gq));
    f = (int16_t)((f + FG_ONE / 2) >> FG_SHIFT);
    f = f > 0 ? f : 0;
    f = f < 255 ? f : 255;
    return (a8 == 0 || a8 == 255) ? (uint8_t)i : (uint8_t)f;
}

/* The gain a / (a^2 + k (1 - a)^2), a = v / 255 (v: the alpha, a whole number 0..255), in 1/16384. */
static inline int16_t gain_q(float v) {
    const float a = v * (1.0f / 255), b = 1.0f - a;
    return (int16_t)(int)round_half_even(a / (a * a + EM_BACKGROUND_VARIANCE_RATIO * (b * b)) * GAIN_ONE);
}

/* A blur value in 1/64 level (0 <= v <= 255). */
static inline int16_t blur_q(float v) { return (int16_t)(int)round_half_even(v * (float)FG_ONE); }

#ifdef EM_VECTORS
/* Helpers written in the forms GCC turns into a few byte shuffles and widening moves (an 8-byte vector
 * type would be taken apart element by element). */

/* the low 8 bytes of b widened to 16 bits, and to floats */
static inline EM_INLINE v8h low_bytes_to_u16(v16b b) {
    const v16b zero = {0};
    return (v8h)__builtin_shufflevector(b, zero, 0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
}

static inline EM_INLINE v8f u16_to_floats(v8h h) { return __builtin_convertvector(__builtin_convertvector(h, v8i), v8f); }

/* 8 pixels of BGR (24 bytes): the three channels, 16 bits wide. */
static inline EM_INLINE void load_bgr8(const uint8_t *p, v8h c[3]) {
    v16b lo, hi, c01, c2;
    memcpy(&lo, p, 16);
    memcpy(&hi, p + 8, 16);
    c01 = __builtin_shufflevector(lo, hi, 0, 3, 6, 9, 12, 15, 26, 29, 1, 4, 7, 10, 13, 24, 27, 30);
    c2 = __builtin_shufflevector(lo, hi, 2, 5, 8, 11, 14, 25, 28, 31, 2, 5, 8, 11, 14, 25, 28, 31);
    c[0] = low_bytes_to_u16(c01);
    c[1] = low_bytes_to_u16(__builtin_shufflevector(c01, c01, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
    c[2] = low_bytes_to_u16(c2);
}

/* whole numbers 0..255 as floats -> bytes, in the low 8 of 16 */
static inline EM_INLINE v16b to_bytes(v8f v) {
    const v32b w = (v32b)__builtin_convertvector(v, v8i);
    return __builtin_shufflevector(w, w, 0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
}

/* whole numbers as floats (|v| < 2^15) -> int16, 16 bytes */
static inline EM_INLINE v16b to_int16(v8f v) {
    const v32b w = (v32b)__builtin_convertvector(v, v8i);
    return __builtin_shufflevector(w, w, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
}

static inline EM_INLINE v8f round8(v8f v) { return (v + V8(ROUND_MAGIC)) - V8(ROUND_MAGIC); }

static inline EM_INLINE v8f clamp_round(v8f v) {
    v = sel8(v > V8(0.0f), v, V8(0.0f));
    v = sel8(v < V8(255.0f), v, V8(255.0f));
    return round8(v);
}

/* round(F a + B (1 - a)) / 255 byte by byte, as blend1: 16 bytes, and the low 8 of 16. */
static inline EM_INLINE v16b blend16(v16b f, v16b a, v16b b) {
    const v16h aw = __builtin_convertvector(a, v16h);
    const v16h t = __builtin_convertvector(f, v16h) * aw + __builtin_convertvector(b, v16h) * (255 - aw) + 128;
    const v32b o = (v32b)((t + (t >> 8)) >> 8);
    return __builtin_shufflevector(o, o, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}

static inline EM_INLINE v16b blend8(v16b f, v16b a, v16b b) {
    const v8h aw = low_bytes_to_u16(a), t = low_bytes_to_u16(f) * aw + low_bytes_to_u16(b) * (255 - aw) + 128;
    const v16b o = (v16b)((t + (t >> 8)) >> 8);
    return __builtin_shufflevector(o, o, 0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
}

/* 16 + 8 bytes at p as two vectors (the second's low half), without a wider load than the bytes */
static inline EM_INLINE void load24(const uint8_t *p, v16b *lo, v16b *hi) {
    v16b t;
    memcpy(lo, p, 16);
    memcpy(&t, p + 8, 16);
    *hi = __builtin_shufflevector(t, t, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
}

static inline EM_INLINE void store24(uint8_t *p, v16b lo, v16b hi) {
    memcpy(p, &lo, 16);
    memcpy(p + 16, &hi, 8);
}
#endif

/* Row sy of plane c of the fit level: the coefficients (c < 4), then the blurs. */
static const float *plane_row(const float *coef, const float *blurs, size_t plane_size, int w, int sy, int c) {
    return (c < 4 ? coef + (size_t)c * plane_size : blurs + (size_t)(c - 4) * plane_size) + (size_t)sy * w;
}

/* The planes of the small row sy over the output columns of the source columns j0..j1, expanded to
 * full width: the coefficients (4) as floats into dst (plane c at c * stride), the blurs (6, or none when
 * blurs is NULL) in 1/64 level into dst16 (at c * stride16). xs[j]..xs[j+1] are the output columns whose
 * left source column is j (the right one is min(j + 1, w - 1)). Whole vectors of a cell may run on into
 * the next one, which is written after it, when that is long enough; the last cell's stop at its end. */
EM_CLONES static void expand_cells(const float *coef, const float *blurs, size_t plane_size, int w, int sy,
                                   const int *xs, const float *wx, size_t stride, size_t stride16, int j0, int j1,
                                   float *dst, int16_t *dst16) {
    const int count = blurs ? 10 : 4;
    int c, j, x;
    for (c = 0; c < count; c++) {
        const float *src = plane_row(coef, blurs, plane_size, w, sy, c);
        float *d = c < 4 ? dst + (size_t)c * stride : NULL;
        int16_t *d16 = c < 4 ? NULL : dst16 + (size_t)(c - 4) * stride16;
        for (j = j0; j <= j1; j++) {
            const int x0 = xs[j], x1 = xs[j + 1];
            const float lo = src[j], step = src[j + 1 < w ? j + 1 : j] - lo;
            x = x0;
#ifdef EM_VECTORS
            {
                const int over = j < j1 && xs[j + 2] - x1 >= 7;
                const v8f vlo = V8(lo), vstep = V8(step);
                if (d)
                    for (; x + 8 <= x1 || (over && x < x1); x += 8) st8f(d + x, vlo + ld8f(wx + x) * vstep);
                else
                    for (; x + 8 <= x1 || (over && x < x1); x += 8) {
                        const v16b q = to_int16(round8((vlo + ld8f(wx + x) * vstep) * V8((float)FG_ONE)));
                        memcpy(d16 + x, &q, 16);
                    }
            }
#endif
            if (d)
                for (; x < x1; x++) d[x] = lo + wx[x] * step;
            else
                for (; x < x1; x++) d16[x] = blur_q(lo + wx[x] * step);
        }
    }
}

/* What one unknown run writes: the alpha, and optionally the foreground and the composite. */
typedef struct {
    uint8_t *alpha;
    uint8_t *foreground;     /* NULL: not kept (the composite still uses it) */
    const uint8_t *backdrop; /* the background's row, or the colour repeated (>= 24 bytes); NULL: BGRA */
    size_t backdrop_step;    /* 3: a row, 0: the colour */
    uint8_t *composite;      /* NULL: none */
} run_out;

/* The expanded rows of one output row: top and bottom small rows, at the run's first pixel. */
typedef struct {
    const float *top, *bot;       /* coefficients, plane c at c * stride */
    const int16_t *top16, *bot16; /* blurs, plane c at c * stride16 */
    size_t stride, stride16;
    float wy;     /* vertical weight of the bottom row */
    int16_t wyq;  /* the same in 1/32768 */
} run_rows;

/* round(F a + B (1 - a)) in uint8 (composite.c's blend). */
static inline uint8_t blend1(uint8_t f, uint8_t a, uint8_t b) {
    const uint16_t t = (uint16_t)(f * a + b * (255 - a) + 128);
    return (uint8_t)((t + (t >> 8)) >> 8);
}

#ifndef EM_VECTORS
/* One pixel of an unknown run: the specification of the blocks below (and of the CUDA body). */
static void one_pixel(const run_rows *r, int with_blurs, const uint8_t *I, uint8_t *a8, uint8_t *fg,
                      const uint8_t *B, uint8_t *comp) {
    const size_t s = r->stride, s16 = r->stride16;
    float e[4], v;
    uint8_t F[3];
    int c;
    for (c = 0; c < 4; c++) e[c] = r->top[c * s] + r->wy * (r->bot[c * s] - r->top[c * s]);
    v = e[0] * (float)I[0] + e[1] * (float)I[1] + e[2] * (float)I[2] + e[3];
    v = v > 0.0f ? v : 0.0f;
    v = v < 255.0f ? v : 255.0f;
    v = round_half_even(v);
    *a8 = (uint8_t)(int)v;
    for (c = 0; c < 3; c++) F[c] = I[c];
    if (with_blurs) {
        const int16_t gq = gain_q(v);
        for (c = 0; c < 3; c++)
            F[c] = foreground_step(r->top16[c * s16], r->bot16[c * s16], r->top16[(3 + c) * s16],
                                   r->bot16[(3 + c) * s16], r->wyq, I[c], *a8, gq);
        if (fg)
            for (c = 0; c < 3; c++) fg[c] = F[c];
    }
    if (comp && !B) {
        for (c = 0; c < 3; c++) comp[c] = F[c];
        comp[3] = *a8;
    } else if (comp) {
        for (c = 0; c < 3; c++) comp[c] = blend1(F[c], *a8, B[c]);
    }
}
#endif

#ifdef EM_VECTORS
/* Step 1 for 8 pixels (one_pixel's float operations, lane by lane): the alphas into a8 (8 bytes), the
 * frame's colours into ic (three planes of int16) and, with blurs, the gains into gq. */
static inline EM_INLINE void alpha8(const run_rows *r, v8f wy, int with_blurs, int x, const uint8_t *I,
                                    uint8_t *a8, int16_t *ic, size_t ic_stride, int16_t *gq) {
    v8h ih[3];
    v8f i[3], e[4], v;
    v16b a;
    int c;
    load_bgr8(I, ih);
    for (c = 0; c < 3; c++) i[c] = u16_to_floats(ih[c]);
    for (c = 0; c < 4; c++) {
        const v8f t = ld8f(r->top + c * r->stride + x), b = ld8f(r->bot + c * r->stride + x);
        e[c] = t + wy * (b - t);
    }
    v = clamp_round(e[0] * i[0] + e[1] * i[1] + e[2] * i[2] + e[3]);
    a = to_bytes(v);
    memcpy(a8, &a, 8);
    if (!with_blurs) return;
    for (c = 0; c < 3; c++) memcpy(ic + c * ic_stride, &ih[c], 16);
    {
        const v8f af = v * V8(1.0f / 255), bf = V8(1.0f) - af;
        const v16b g = to_int16(round8(af / (af * af + V8(EM_BACKGROUND_VARIANCE_RATIO) * (bf * bf)) * V8(GAIN_ONE)));
        memcpy(gq, &g, 16);
    }
}

/* Step 2: BLOCK pixels of one foreground channel (foreground_step), in a loop the compiler vectorises. */
static inline EM_INLINE void foreground_block(const int16_t *restrict tf, const int16_t *restrict bf,
                                              const int16_t *restrict tb, const int16_t *restrict bb, int16_t wyq,
                                              const int16_t *restrict ic, const uint8_t *restrict a8,
                                              const int16_t *restrict gq, uint8_t *restrict F) {
    int x;
    for (x = 0; x < BLOCK; x++) F[x] = foreground_step(tf[x], bf[x], tb[x], bb[x], wyq, ic[x], a8[x], gq[x]);
}

/* Step 3 for 8 pixels: the foreground (three planes of bytes, or the frame's 24 bytes f24) out and into
 * the composite. */
static inline EM_INLINE void composite8(const uint8_t *F0, const uint8_t *F1, const uint8_t *F2, const uint8_t *f24,
                                        const uint8_t *a8, uint8_t *fg, const uint8_t *B, uint8_t *comp) {
    v16b a, f_lo, f_hi; /* the alpha (low 8); the foreground's 24 bytes */
    memcpy(&a, a8, 16);
    if (!f24) {
        v16b f0, f1, f2, c01;
        memcpy(&f0, F0, 16);
        memcpy(&f1, F1, 16);
        memcpy(&f2, F2, 16);
        c01 = __builtin_shufflevector(f0, f1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        f_lo = __builtin_shufflevector(c01, f2, 0, 1, 16, 2, 3, 17, 4, 5, 18, 6, 7, 19, 8, 9, 20, 10);
        f_hi = __builtin_shufflevector(c01, f2, 11, 21, 12, 13, 22, 14, 15, 23, 11, 21, 12, 13, 22, 14, 15, 23);
        if (fg) store24(fg, f_lo, f_hi);
    } else {
        load24(f24, &f_lo, &f_hi);
    }
    if (!comp) return;
    if (!B) { /* BGRA */
        const v16b mid = __builtin_shufflevector(f_lo, f_hi, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 0, 0, 0, 0);
        const v16b lo = __builtin_shufflevector(f_lo, a, 0, 1, 2, 16, 3, 4, 5, 17, 6, 7, 8, 18, 9, 10, 11, 19);
        const v16b hi = __builtin_shufflevector(mid, a, 0, 1, 2, 20, 3, 4, 5, 21, 6, 7, 8, 22, 9, 10, 11, 23);
        memcpy(comp, &lo, 16);
        memcpy(comp + 16, &hi, 16);
    } else {
        v16b b_lo, b_hi;
        const v16b a_lo = __builtin_shufflevector(a, a, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5);
        const v16b a_hi = __builtin_shufflevector(a, a, 5, 5, 6, 6, 6, 7, 7, 7, 5, 5, 6, 6, 6, 7, 7, 7);
        load24(B, &b_lo, &b_hi);
        store24(comp, blend16(f_lo, a_lo, b_lo), blend8(f_hi, a_hi, b_hi));
    }
}
#endif

/* ---- x86-64 with AVX2: the unknown runs sixteen pixels at a time in intrinsics ----------------------
 * The same operations as one_pixel (floats in its order, without fused multiply-adds; pmulhrsw is
 * mulhrs16), so the bytes are the same as every other build's. Picked at run time (cpu_has_avx2). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(EM_NO_AVX2)
#define EM_AVX2 1
#include <immintrin.h>
#define AVX2_FN static inline __attribute__((target("avx2"), always_inline))

/* pshufb masks for 16 pixels of BGR, 48 bytes in three 16-byte vectors (-1: a zero):
 * DEINTERLEAVE[channel][vector] picks that channel's bytes out of each vector, INTERLEAVE[vector][channel]
 * places each channel's bytes into each output vector; OR the three together. */
static const int8_t DEINTERLEAVE[3][3][16] = {
    {{ 0,  3,  6,  9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
     {-1, -1, -1, -1, -1, -1,  2,  5,  8, 11, 14, -1, -1, -1, -1, -1},
     {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  1,  4,  7, 10, 13}},
    {{ 1,  4,  7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
     {-1, -1, -1, -1, -1,  0,  3,  6,  9, 12, 15, -1, -1, -1, -1, -1},
     {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  2,  5,  8, 11, 14}},
    {{ 2,  5,  8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
     {-1, -1, -1, -1, -1,  1,  4,  7, 10, 13, -1, -1, -1, -1, -1, -1},
     {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  0,  3,  6,  9, 12, 15}},
};
static const int8_t INTERLEAVE[3][3][16] = {
    {{ 0, -1, -1,  1, -1, -1,  2, -1, -1,  3, -1, -1,  4, -1, -1,  5},
     {-1,  0, -1, -1,  1, -1, -1,  2, -1, -1,  3, -1, -1,  4, -1, -1},
     {-1, -1,  0, -1, -1,  1, -1, -1,  2, -1, -1,  3, -1, -1,  4, -1}},
    {{-1, -1,  6, -1, -1,  7, -1, -1,  8, -1, -1,  9, -1, -1, 10, -1},
     { 5, -1, -1,  6, -1, -1,  7, -1, -1,  8, -1, -1,  9, -1, -1, 10},
     {-1,  5, -1, -1,  6, -1, -1,  7, -1, -1,  8, -1, -1,  9, -1, -1}},
    {{-1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1, -1},
     {-1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1},
     {10, -1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15}},
};

AVX2_FN __m128i pick3(__m128i a, __m128i b, __m128i c, const int8_t mask[3][16]) {
    const __m128i x = _mm_shuffle_epi8(a, _mm_loadu_si128((const __m128i *)mask[0]));
    const __m128i y = _mm_shuffle_epi8(b, _mm_loadu_si128((const __m128i *)mask[1]));
    return _mm_or_si128(_mm_or_si128(x, y), _mm_shuffle_epi8(c, _mm_loadu_si128((const __m128i *)mask[2])));
}

/* 16 pixels of BGR (48 bytes) -> the three channels, 16 bytes each */
AVX2_FN void deinterleave16(const uint8_t *p, __m128i c[3]) {
    const __m128i a = _mm_loadu_si128((const __m128i *)p), b = _mm_loadu_si128((const __m128i *)(p + 16));
    const __m128i d = _mm_loadu_si128((const __m128i *)(p + 32));
    int k;
    for (k = 0; k < 3; k++) c[k] = pick3(a, b, d, DEINTERLEAVE[k]);
}

/* three channels of 16 bytes -> 16 pixels of BGR (48 bytes) */
AVX2_FN void interleave16(__m128i c0, __m128i c1, __m128i c2, uint8_t *p) {
    int k;
    for (k = 0; k < 3; k++) _mm_storeu_si128((__m128i *)(p + 16 * k), pick3(c0, c1, c2, INTERLEAVE[k]));
}

/* 16 int16 (0..255) -> 16 bytes */
AVX2_FN __m128i narrow16(__m256i v) {
    return _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

/* the alphas (rounded floats and bytes), the gains in 1/16384 of 8 pixels: one_pixel's float steps */
AVX2_FN __m256 alpha8_avx2(const run_rows *r, __m256 wy, int x, __m128i c0, __m128i c1, __m128i c2) {
    const __m256 i0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c0)), i1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c1));
    const __m256 i2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c2));
    __m256 e[4], v;
    int c;
    for (c = 0; c < 4; c++) {
        const __m256 t = _mm256_loadu_ps(r->top + c * r->stride + x), b = _mm256_loadu_ps(r->bot + c * r->stride + x);
        e[c] = _mm256_add_ps(t, _mm256_mul_ps(wy, _mm256_sub_ps(b, t)));
    }
    v = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(e[0], i0), _mm256_mul_ps(e[1], i1)),
                                    _mm256_mul_ps(e[2], i2)), e[3]);
    /* v > 0 ? v : 0 (NaN -> 0), then v < 255 ? v : 255, then to nearest even */
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(255.0f));
    return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

AVX2_FN __m256i gain8_avx2(__m256 v) {
    const __m256 a = _mm256_mul_ps(v, _mm256_set1_ps(1.0f / 255)), b = _mm256_sub_ps(_mm256_set1_ps(1.0f), a);
    const __m256 d = _mm256_add_ps(_mm256_mul_ps(a, a),
                                   _mm256_mul_ps(_mm256_set1_ps(EM_BACKGROUND_VARIANCE_RATIO), _mm256_mul_ps(b, b)));
    return _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_div_ps(a, d), _mm256_set1_ps(GAIN_ONE)));
}

/* two halves of int32 -> 16 int16, in order */
AVX2_FN __m256i pack16(__m256i lo, __m256i hi) {
    return _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);
}

/* 16 pixels of one foreground channel: foreground_step */
AVX2_FN __m256i foreground16(const int16_t *tf, const int16_t *bf, const int16_t *tb, const int16_t *bb,
                             __m256i wyq, __m256i i, __m256i aq, __m256i gq, __m256i known) {
    const __m256i t1 = _mm256_loadu_si256((const __m256i *)tf), b1 = _mm256_loadu_si256((const __m256i *)bf);
    const __m256i t2 = _mm256_loadu_si256((const __m256i *)tb), b2 = _mm256_loadu_si256((const __m256i *)bb);
    const __m256i fb = _mm256_add_epi16(t1, _mm256_mulhrs_epi16(_mm256_sub_epi16(b1, t1), wyq));
    const __m256i bg = _mm256_add_epi16(t2, _mm256_mulhrs_epi16(_mm256_sub_epi16(b2, t2), wyq));
    const __m256i u = _mm256_sub_epi16(_mm256_sub_epi16(_mm256_slli_epi16(i, FG_SHIFT), bg),
                                       _mm256_mulhrs_epi16(_mm256_sub_epi16(fb, bg), aq));
    __m256i f = _mm256_add_epi16(fb, _mm256_mulhrs_epi16(_mm256_add_epi16(u, u), gq));
    f = _mm256_srai_epi16(_mm256_add_epi16(f, _mm256_set1_epi16(FG_ONE / 2)), FG_SHIFT);
    f = _mm256_min_epi16(_mm256_max_epi16(f, _mm256_setzero_si256()), _mm256_set1_epi16(255));
    return _mm256_blendv_epi8(f, i, known);
}

/* round(F a + B (1 - a)) / 255 per lane (blend1), 16 lanes of 0..255 */
AVX2_FN __m256i blend16_avx2(__m256i f, __m256i a, __m256i na, __m256i b) {
    __m256i t = _mm256_add_epi16(_mm256_add_epi16(_mm256_mullo_epi16(f, a), _mm256_mullo_epi16(b, na)),
                                 _mm256_set1_epi16(128));
    return _mm256_srli_epi16(_mm256_add_epi16(t, _mm256_srli_epi16(t, 8)), 8);
}

/* 16 pixels of an unknown run: I 48 bytes, outputs as in run_out (comp 48 or 64 bytes). */
AVX2_FN void sixteen_pixels(const run_rows *r, __m256 wy, __m256i wyq, int with_blurs, int x, const uint8_t *I,
                            uint8_t *a8, uint8_t *fg, const uint8_t *B, const __m256i *colour, uint8_t *comp) {
    __m128i ch[3], a_bytes;
    __m256i a16, F[3];
    __m256 v0, v1;
    int c;
    deinterleave16(I, ch);
    v0 = alpha8_avx2(r, wy, x, ch[0], ch[1], ch[2]);
    v1 = alpha8_avx2(r, wy, x + 8, _mm_srli_si128(ch[0], 8), _mm_srli_si128(ch[1], 8), _mm_srli_si128(ch[2], 8));
    a16 = pack16(_mm256_cvtps_epi32(v0), _mm256_cvtps_epi32(v1));
    a_bytes = narrow16(a16);
    _mm_storeu_si128((__m128i *)a8, a_bytes);
    for (c = 0; c < 3; c++) F[c] = _mm256_cvtepu8_epi16(ch[c]);
    if (with_blurs) {
        const __m256i gq = pack16(gain8_avx2(v0), gain8_avx2(v1));
        const __m256i aq = _mm256_add_epi16(_mm256_slli_epi16(a16, 7), _mm256_srli_epi16(a16, 1));
        const __m256i known = _mm256_or_si256(_mm256_cmpeq_epi16(a16, _mm256_setzero_si256()),
                                              _mm256_cmpeq_epi16(a16, _mm256_set1_epi16(255)));
        for (c = 0; c < 3; c++)
            F[c] = foreground16(r->top16 + c * r->stride16 + x, r->bot16 + c * r->stride16 + x,
                                r->top16 + (3 + c) * r->stride16 + x, r->bot16 + (3 + c) * r->stride16 + x, wyq, F[c],
                                aq, gq, known);
        if (fg) interleave16(narrow16(F[0]), narrow16(F[1]), narrow16(F[2]), fg);
    }
    if (!comp) return;
    if (!B && !colour) { /* BGRA */
        const __m128i f0 = narrow16(F[0]), f1 = narrow16(F[1]), f2 = narrow16(F[2]);
        const __m128i bg_lo = _mm_unpacklo_epi8(f0, f1), bg_hi = _mm_unpackhi_epi8(f0, f1);
        const __m128i ra_lo = _mm_unpacklo_epi8(f2, a_bytes), ra_hi = _mm_unpackhi_epi8(f2, a_bytes);
        _mm_storeu_si128((__m128i *)comp, _mm_unpacklo_epi16(bg_lo, ra_lo));
        _mm_storeu_si128((__m128i *)(comp + 16), _mm_unpackhi_epi16(bg_lo, ra_lo));
        _mm_storeu_si128((__m128i *)(comp + 32), _mm_unpacklo_epi16(bg_hi, ra_hi));
        _mm_storeu_si128((__m128i *)(comp + 48), _mm_unpackhi_epi16(bg_hi, ra_hi));
        return;
    }
    {
        const __m256i na = _mm256_sub_epi16(_mm256_set1_epi16(255), a16);
        __m256i o[3];
        if (B) {
            __m128i bc[3];
            deinterleave16(B, bc);
            for (c = 0; c < 3; c++) o[c] = blend16_avx2(F[c], a16, na, _mm256_cvtepu8_epi16(bc[c]));
        } else {
            for (c = 0; c < 3; c++) o[c] = blend16_avx2(F[c], a16, na, colour[c]);
        }
        interleave16(narrow16(o[0]), narrow16(o[1]), narrow16(o[2]), comp);
    }
}

static __attribute__((target("avx2"))) void apply_run_avx2(const run_rows *r, int with_blurs, const uint8_t *I,
                                                            int n, const run_out *o) {
    const int comp_size = o->backdrop ? 3 : 4;
    const __m256 wy = _mm256_set1_ps(r->wy);
    const __m256i wyq = _mm256_set1_epi16(r->wyq);
    __m256i colour[3];
    const __m256i *col = NULL;
    const uint8_t *B = o->backdrop_step ? o->backdrop : NULL;
    int x = 0, c;
    if (o->backdrop && !o->backdrop_step) {
        for (c = 0; c < 3; c++) colour[c] = _mm256_set1_epi16(o->backdrop[c]);
        col = colour;
    }
    for (; x + 16 <= n; x += 16)
        sixteen_pixels(r, wy, wyq, with_blurs, x, I + 3 * x, o->alpha + x, o->foreground ? o->foreground + 3 * x : NULL,
                       B ? B + 3 * x : NULL, col, o->composite ? o->composite + comp_size * x : NULL);
    if (x < n) { /* the last few through staging buffers (the expanded rows are padded) */
        const int m = n - x;
        uint8_t i48[48] = {0}, b48[48] = {0}, a16[16], f48[48], c64[64];
        memcpy(i48, I + 3 * x, 3 * (size_t)m);
        if (B) memcpy(b48, B + 3 * x, 3 * (size_t)m);
        sixteen_pixels(r, wy, wyq, with_blurs, x, i48, a16, f48, B ? b48 : NULL, col, c64);
        memcpy(o->alpha + x, a16, (size_t)m);
        if (o->foreground) memcpy(o->foreground + 3 * x, f48, 3 * (size_t)m);
        if (o->composite) memcpy(o->composite + comp_size * x, c64, (size_t)(comp_size * m));
    }
}

/* expand_cells (the same values) for upsampling (W >= w, so that 8 neighbouring output columns lie
 * within 8 source columns): per plane and 8 columns, the left and right source values by a permute of
 * 8 neighbours, read from the small row (near its right edge from row, w + 16 floats of scratch that get
 * its values from column j0 on with the last one repeated). */
static __attribute__((target("avx2"))) void expand_cells_avx2(const float *coef, const float *blurs,
                                                               size_t plane_size, int w, int sy, const int *xs,
                                                               const int *xa, const float *wx, size_t stride,
                                                               size_t stride16, int j0, int j1, float *dst,
                                                               int16_t *dst16, float *row) {
    const int count = blurs ? 10 : 4, X0 = xs[j0], X1 = xs[j1 + 1], n = j1 - j0 + 10;
    int c, k, x;
    for (c = 0; c < count; c++) {
        const float *src = plane_row(coef, blurs, plane_size, w, sy, c);
        float *d = c < 4 ? dst + (size_t)c * stride : NULL;
        int16_t *d16 = c < 4 ? NULL : dst16 + (size_t)(c - 4) * stride16;
        const float *r = src + j0;
        if (j0 + n > w) { /* near the right edge: a copy with the last value repeated */
            for (k = 0; k < n; k++) row[k] = src[imin_(j0 + k, w - 1)];
            r = row;
        }
        for (x = X0; x + 8 <= X1; x += 8) {
            const int jb = xa[x] - j0;
            const __m256i idx = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(xa + x)), _mm256_set1_epi32(xa[x]));
            const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(r + jb), idx);
            const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(r + jb + 1), idx);
            const __m256 v = _mm256_add_ps(lo, _mm256_mul_ps(_mm256_loadu_ps(wx + x), _mm256_sub_ps(hi, lo)));
            if (d) {
                _mm256_storeu_ps(d + x, v);
            } else {
                const __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(v, _mm256_set1_ps((float)FG_ONE)));
                _mm_storeu_si128((__m128i *)(d16 + x), _mm_packs_epi32(_mm256_castsi256_si128(q),
                                                                       _mm256_extracti128_si256(q, 1)));
            }
        }
        for (; x < X1; x++) {
            const float lo = r[xa[x] - j0], v = lo + wx[x] * (r[xa[x] - j0 + 1] - lo);
            if (d)
                d[x] = v;
            else
                d16[x] = blur_q(v);
        }
    }
}

static int cpu_has_avx2(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") != 0;
    }
    return known;
}
#endif

/* n pixels of an unknown run from the expanded rows r (at the run's first pixel). */
EM_CLONES static void apply_run(const run_rows *r, int with_blurs, const uint8_t *I, int n, const run_out *o) {
    const int comp_size = o->backdrop ? 3 : 4;
    int x = 0;
#ifdef EM_AVX2
    if (cpu_has_avx2()) {
        apply_run_avx2(r, with_blurs, I, n, o);
        return;
    }
#endif
#ifdef EM_VECTORS
    const v8f vwy = V8(r->wy);
    /* per block: alphas (and 16 bytes of slack), colours and gains as int16, foreground planes; staging
     * buffers for a last partial vector */
    uint8_t a8[BLOCK + 16] = {0}, F[3][BLOCK + 16] = {{0}};
    int16_t ic[3][BLOCK] = {{0}}, gq[BLOCK] = {0};
    uint8_t i24[24] = {0}, f24[24], b24[24] = {0}, c32[32];
    for (; x < n; x += BLOCK) {
        const int m = n - x < BLOCK ? n - x : BLOCK, nv = (m + 7) / 8, part = m % 8;
        const int last = 8 * (nv - 1); /* in the block */
        int k, c;
        if (part) {
            memcpy(i24, I + 3 * (x + last), 3 * (size_t)part);
            if (o->backdrop) memcpy(b24, o->backdrop + o->backdrop_step * (x + last), 3 * (size_t)part);
        }
        for (k = 0; k < 8 * nv; k += 8)
            alpha8(r, vwy, with_blurs, x + k, part && k == last ? i24 : I + 3 * (x + k), a8 + k, ic[0] + k, BLOCK,
                   gq + k);
        memcpy(o->alpha + x, a8, (size_t)m);
        if (with_blurs)
            for (c = 0; c < 3; c++)
                foreground_block(r->top16 + c * r->stride16 + x, r->bot16 + c * r->stride16 + x,
                                 r->top16 + (3 + c) * r->stride16 + x, r->bot16 + (3 + c) * r->stride16 + x, r->wyq,
                                 ic[c], a8, gq, F[c]);
        if (!o->composite && !o->foreground) continue;
        for (k = 0; k < 8 * nv; k += 8) {
            const int staged = part && k == last;
            const uint8_t *frame = with_blurs ? NULL : (staged ? i24 : I + 3 * (x + k));
            composite8(F[0] + k, F[1] + k, F[2] + k, frame, a8 + k,
                       staged ? f24 : (o->foreground ? o->foreground + 3 * (x + k) : NULL),
                       o->backdrop ? (staged ? b24 : o->backdrop + o->backdrop_step * (x + k)) : NULL,
                       staged ? c32 : (o->composite ? o->composite + comp_size * (x + k) : NULL));
        }
        if (part) {
            if (o->foreground) memcpy(o->foreground + 3 * (x + last), f24, 3 * (size_t)part);
            if (o->composite) memcpy(o->composite + comp_size * (x + last), c32, (size_t)(comp_size * part));
        }
    }
#else
    for (; x < n; x++) {
        run_rows at = *r;
        at.top += x;
        at.bot += x;
        at.top16 += x;
        at.bot16 += x;
        one_pixel(&at, with_blurs, I + 3 * x, o->alpha + x, o->foreground ? o->foreground + 3 * x : NULL,
                  o->backdrop ? o->backdrop + o->backdrop_step * x : NULL,
                  o->composite ? o->composite + comp_size * x : NULL);
    }
#endif
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

/* The runs of source columns of one pair of small rows (ya, yb): per run its first and last column and its
 * kind, the flag its cells' four corners share (2: foreground, 1: background), else 0 (unknown). */
typedef struct {
    int ya, yb, count;
    int *j0, *j1;
    unsigned char *kind;
} pair_runs;

static void find_runs(const unsigned char *fa, const unsigned char *fb, int w, pair_runs *p) {
    int j, n = 0;
    for (j = 0; j < w; j++) {
        const int r = imin_(j + 1, w - 1);
        const unsigned char k = fa[j] == fa[r] && fa[j] == fb[j] && fa[j] == fb[r] ? fa[j] : 0;
        if (n > 0 && p->kind[n - 1] == k) {
            p->j1[n - 1] = j;
        } else {
            p->j0[n] = p->j1[n] = j;
            p->kind[n++] = k;
        }
    }
    p->count = n;
}

/* expand_cells, by expand_cells_avx2 where it applies (the same values). row: w + 16 floats of scratch. */
static void expand(const float *coef, const float *blurs, size_t plane_size, int w, int sy, const int *xs,
                   const int *xa, const float *wx, size_t stride, size_t stride16, int j0, int j1, float *dst,
                   int16_t *dst16, int upsampling, float *row) {
#ifdef EM_AVX2
    if (upsampling && cpu_has_avx2()) {
        expand_cells_avx2(coef, blurs, plane_size, w, sy, xs, xa, wx, stride, stride16, j0, j1, dst, dst16, row);
        return;
    }
#else
    (void)xa;
    (void)upsampling;
    (void)row;
#endif
    expand_cells(coef, blurs, plane_size, w, sy, xs, wx, stride, stride16, j0, j1, dst, dst16);
}

/* The vertical weight in 1/32768 (rounded half to even; 1 -> 32767, where both rows are one). */
static int16_t weight_q15(float wy) {
    const float q = round_half_even(wy * 32768.0f);
    return (int16_t)(q < 32767.0f ? (int)q : 32767);
}

int em_guided_apply(const float *coef, const float *blurs, int height, int width, const uint8_t *image,
                    ptrdiff_t image_stride, int out_height, int out_width, uint8_t *alpha, uint8_t *foreground,
                    const uint8_t *background, const uint8_t *colour, uint8_t *composite, int threads) {
    const int h = height, w = width, H = out_height, W = out_width;
    const size_t n = (size_t)h * w, stride = (size_t)W + ROW_PAD, stride16 = (size_t)W + BLOCK;
    const int with_blurs = blurs && (foreground || composite); /* else the foreground is not used */
    int *xa = NULL, *xb = NULL, *xs = NULL, bad = 0, x, nt, rows_done = 0;
    float *wx = NULL;
    unsigned char *flags = NULL;
    if (!coef || !image || !alpha || h < 1 || w < 1 || H < 1 || W < 1 || image_stride < 3 * (ptrdiff_t)W ||
        (foreground && !blurs))
        return EM_ERR_ARG;
    xa = (int *)malloc(sizeof(int) * (size_t)W);
    xb = (int *)malloc(sizeof(int) * (size_t)W);
    wx = (float *)calloc((size_t)W + ROW_PAD, sizeof(float));
    flags = (unsigned char *)malloc(n);
    xs = (int *)calloc((size_t)w + 2, sizeof(int));
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
        while (j <= w + 1) xs[j++] = W;
    }
    constant_cells(coef, n, flags);
    nt = nthreads(threads, (long)H * W, 1L << 16);
    if (nt > H) nt = H;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
    {
        /* per thread: two expanded rows (coefficients as floats, blurs as int16), small row sy in slot
         * sy & 1, filled over the unknown runs of each new pair of small rows (held: the small row each
         * slot holds per source column); the runs of the current pair; the colour repeated */
        float *rows = (float *)calloc(2 * 4 * stride, sizeof(float));
        int16_t *rows16 = with_blurs ? (int16_t *)calloc(2 * 6 * stride16, sizeof(int16_t)) : NULL;
        int *held = (int *)malloc(sizeof(int) * 2 * (size_t)w);
        float *row_scratch = (float *)malloc(sizeof(float) * ((size_t)w + 16));
        pair_runs runs;
        uint8_t colour3[3 * 512];
        const float *bl = with_blurs ? blurs : NULL;
        int y, i;
        runs.ya = runs.yb = -1;
        runs.count = 0;
        runs.j0 = (int *)malloc(sizeof(int) * 2 * (size_t)w);
        runs.j1 = runs.j0 ? runs.j0 + w : NULL;
        runs.kind = (unsigned char *)malloc((size_t)w);
        if (colour)
            for (i = 0; i < 3 * 512; i++) colour3[i] = colour[i % 3];
        if (held)
            for (i = 0; i < 2 * w; i++) held[i] = -1;
        if (!rows || (with_blurs && !rows16) || !held || !row_scratch || !runs.j0 || !runs.kind) {
            bad = 1;
        } else {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 8) nowait /* the edge band is uneven: static halves left one thread idle */
#endif
            for (y = 0; y < H; y++) {
                int ya, yb, q;
                float wy;
                const uint8_t *I = image + (ptrdiff_t)y * image_stride;
                const uint8_t *B = background ? background + 3 * (size_t)y * W : NULL;
                uint8_t *a8 = alpha + (size_t)y * W;
                uint8_t *fg = foreground ? foreground + 3 * (size_t)y * W : NULL;
                uint8_t *comp = composite ? composite + (background || colour ? 3 : 4) * (size_t)y * W : NULL;
                float *top, *bot;
                int16_t *top16, *bot16;
                run_rows r;
                lerp_coord(y, (double)h / H, h, &ya, &yb, &wy);
                top = rows + (size_t)(ya & 1) * 4 * stride;
                bot = rows + (size_t)(yb & 1) * 4 * stride;
                top16 = rows16 ? rows16 + (size_t)(ya & 1) * 6 * stride16 : NULL;
                bot16 = rows16 ? rows16 + (size_t)(yb & 1) * 6 * stride16 : NULL;
                if (ya != runs.ya || yb != runs.yb) { /* a new pair: its runs, and its rows over the unknown ones */
                    find_runs(flags + (size_t)ya * w, flags + (size_t)yb * w, w, &runs);
                    runs.ya = ya;
                    runs.yb = yb;
                    for (q = 0; q < runs.count; q++) {
                        int side, j, j1;
                        if (runs.kind[q]) continue;
                        for (side = 0; side < 2; side++) {
                            const int sy = side ? yb : ya;
                            int *hold = held + (sy & 1) * w;
                            for (j = runs.j0[q]; j <= runs.j1[q]; j = j1 + 1) { /* ranges not yet held */
                                j1 = j;
                                if (hold[j] == sy) continue;
                                while (j1 < runs.j1[q] && hold[j1 + 1] != sy) j1++;
                                expand(coef, bl, n, w, sy, xs, xa, wx, stride, stride16, j, j1, side ? bot : top,
                                       side ? bot16 : top16, W >= w, row_scratch);
                                for (i = j; i <= j1; i++) hold[i] = sy;
                            }
                        }
                    }
                }
                r.stride = stride;
                r.stride16 = stride16;
                r.wy = wy;
                r.wyq = weight_q15(wy);
                for (q = 0; q < runs.count; q++) {
                    const int x0 = xs[runs.j0[q]], x1 = xs[runs.j1[q] + 1], len = x1 - x0, k = runs.kind[q];
                    int j;
                    if (len <= 0) continue;
                    if (k) { /* known: alpha 0 or 255, the foreground is the frame */
                        memset(a8 + x0, k == 2 ? 255 : 0, (size_t)len);
                        if (fg) memcpy(fg + 3 * (size_t)x0, I + 3 * (size_t)x0, 3 * (size_t)len);
                        if (comp && (background || colour)) {
                            uint8_t *o = comp + 3 * (size_t)x0;
                            if (k == 2) {
                                if (o != I + 3 * (size_t)x0) /* the composite may be written over the frame */
                                    memcpy(o, I + 3 * (size_t)x0, 3 * (size_t)len);
                            } else if (B)
                                memcpy(o, B + 3 * (size_t)x0, 3 * (size_t)len);
                            else
                                for (j = 0; j < len; j += 512) /* the colour, 512 pixels at a time */
                                    memcpy(o + 3 * (size_t)j, colour3, 3 * (size_t)(len - j < 512 ? len - j : 512));
                        } else if (comp) {
                            bgra_row(I + 3 * (size_t)x0, a8 + x0, comp + 4 * (size_t)x0, len);
                        }
                    } else {
                        run_out o;
                        r.top = top + x0;
                        r.bot = bot + x0;
                        r.top16 = top16 ? top16 + x0 : NULL;
                        r.bot16 = bot16 ? bot16 + x0 : NULL;
                        o.alpha = a8 + x0;
                        o.foreground = fg ? fg + 3 * (size_t)x0 : NULL;
                        o.backdrop = B ? B + 3 * (size_t)x0 : (colour ? colour3 : NULL);
                        o.backdrop_step = B ? 3 : 0;
                        o.composite = comp ? comp + (o.backdrop ? 3 : 4) * (size_t)x0 : NULL;
                        apply_run(&r, with_blurs, I + 3 * (size_t)x0, len, &o);
                    }
                }
                em_done(&rows_done);
            }
        }
#ifdef _OPENMP
        if (omp_get_thread_num() == 0) em_await(&rows_done, bad ? 0 : H);
#endif
        free(rows);
        free(rows16);
        free(held);
        free(row_scratch);
        free(runs.j0);
        free(runs.kind);
    }
    free(xa);
    free(xb);
    free(wx);
    free(flags);
    free(xs);
    return bad ? EM_ERR_NOMEM : EM_OK;
}
