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
 * with their planes (coefficients, then blurs) expanded to full width, filled lazily over unknown
 * runs only; per pixel that leaves a vertical lerp per plane, the dot product, the foreground step
 * and the composite. With GCC or Clang this runs eight pixels at a time in vector extensions; other
 * compilers take one pixel at a time. Both do the same float operations in the same order as the
 * per-pixel form (the CUDA body in edgematte/device_pipeline.py), so every build gives the same bytes.
 */

#define ROW_PAD 8 /* floats after each expanded plane (and after wx): an 8-wide load from its last value stays inside */

/* The coefficient planes (4) and blurs (6, or NULL) of the small row sy, expanded to full width
 * (dst[c * stride + x], blurs from c = 4) over the output columns of the source columns j0..j1.
 * xs[j]..xs[j+1] are the output columns whose left source column is j (the right one is
 * min(j + 1, w - 1)). held[j]: the small row dst holds at source column j, updated. */
EM_CLONES static void expand_row(const float *coef, const float *blurs, size_t plane_size, int w, int sy,
                                 const int *xs, const float *wx, size_t stride, int j0, int j1, int *held, float *dst) {
    const int count = blurs ? 10 : 4;
    int c, j, x;
    for (j = j0; j <= j1; j++) {
        const int x0 = xs[j], x1 = xs[j + 1];
#ifdef EM_VECTORS
        /* whole vectors may run on into cell j + 1 when it is rewritten right after, and is long enough */
        const int over = j < j1 && held[j + 1] != sy && xs[j + 2] - x1 >= 7;
#endif
        if (held[j] == sy) continue;
        held[j] = sy;
        for (c = 0; c < count; c++) {
            const float *src = (c < 4 ? coef + (size_t)c * plane_size : blurs + (size_t)(c - 4) * plane_size) +
                               (size_t)sy * w;
            const float lo = src[j], step = src[j + 1 < w ? j + 1 : j] - lo;
            float *d = dst + (size_t)c * stride;
            x = x0;
#ifdef EM_VECTORS
            {
                const v8f vlo = V8(lo), vstep = V8(step);
                for (; x + 8 <= x1 || (over && x < x1); x += 8) st8f(d + x, vlo + ld8f(wx + x) * vstep);
            }
#endif
            for (; x < x1; x++) d[x] = lo + wx[x] * step;
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

/* round(F a + B (1 - a)) in uint8 (composite.c's blend), and the BGRA form. */
static inline uint8_t blend1(uint8_t f, uint8_t a, uint8_t b) {
    const uint16_t t = (uint16_t)(f * a + b * (255 - a) + 128);
    return (uint8_t)((t + (t >> 8)) >> 8);
}

#ifdef EM_VECTORS
/* Helpers written in the forms GCC turns into a few byte shuffles and widening moves (an 8-byte vector
 * type would be taken apart element by element). */

/* the low 8 bytes of b as floats */
static inline EM_INLINE v8f low_bytes_to_floats(v16b b) {
    const v16b zero = {0};
    const v16b w = __builtin_shufflevector(b, zero, 0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
    return __builtin_convertvector(__builtin_convertvector((v8h)w, v8i), v8f);
}

/* 8 pixels of BGR (24 bytes): the three channels as floats. */
static inline EM_INLINE void load_bgr8(const uint8_t *p, v8f *c0, v8f *c1, v8f *c2) {
    v16b lo, hi, c01, c2b;
    memcpy(&lo, p, 16);
    memcpy(&hi, p + 8, 16);
    c01 = __builtin_shufflevector(lo, hi, 0, 3, 6, 9, 12, 15, 26, 29, 1, 4, 7, 10, 13, 24, 27, 30);
    c2b = __builtin_shufflevector(lo, hi, 2, 5, 8, 11, 14, 25, 28, 31, 2, 5, 8, 11, 14, 25, 28, 31);
    *c0 = low_bytes_to_floats(c01);
    *c1 = low_bytes_to_floats(__builtin_shufflevector(c01, c01, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
    *c2 = low_bytes_to_floats(c2b);
}

/* whole numbers 0..255 as floats -> bytes, in the low 8 of 16 */
static inline EM_INLINE v16b to_bytes(v8f v) {
    const v32b w = (v32b)__builtin_convertvector(v, v8i);
    return __builtin_shufflevector(w, w, 0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
}

static inline EM_INLINE v8f clamp_round(v8f v) {
    v = sel8(v > V8(0.0f), v, V8(0.0f));
    v = sel8(v < V8(255.0f), v, V8(255.0f));
    return (v + V8(ROUND_MAGIC)) - V8(ROUND_MAGIC);
}

/* round(F a + B (1 - a)) / 255 byte by byte, as blend1: 16 bytes, and the low 8 of 16. */
static inline EM_INLINE v16b blend16(v16b f, v16b a, v16b b) {
    const v16h aw = __builtin_convertvector(a, v16h);
    const v16h t = __builtin_convertvector(f, v16h) * aw + __builtin_convertvector(b, v16h) * (255 - aw) + 128;
    const v32b o = (v32b)((t + (t >> 8)) >> 8);
    return __builtin_shufflevector(o, o, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}

static inline EM_INLINE v16b blend8(v16b f, v16b a, v16b b) {
    const v16b zero = {0};
    const v8h aw = (v8h)__builtin_shufflevector(a, zero, 0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
    const v8h fw = (v8h)__builtin_shufflevector(f, zero, 0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
    const v8h bw = (v8h)__builtin_shufflevector(b, zero, 0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
    const v8h t = fw * aw + bw * (255 - aw) + 128;
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

/* 8 pixels of an unknown run, in two steps (one_pixel's operations, lane by lane): first the alphas (whole
 * numbers 0..255 as floats) and the foreground gains, then the rest. Apart, the division's latency
 * overlaps the next pixels' work. top, bot: the expanded rows at the first pixel (plane c at c * stride);
 * I: 24 bytes; outputs as in run_out, at the first pixel. */
static inline EM_INLINE v8f alpha8(const float *top, const float *bot, size_t stride, v8f wy, const uint8_t *I,
                                   uint8_t *a8) {
    v8f i[3], e[4], v;
    v16b a;
    int c;
    load_bgr8(I, &i[0], &i[1], &i[2]);
    for (c = 0; c < 4; c++) {
        const v8f t = ld8f(top + c * stride), b = ld8f(bot + c * stride);
        e[c] = t + wy * (b - t);
    }
    v = clamp_round(e[0] * i[0] + e[1] * i[1] + e[2] * i[2] + e[3]);
    a = to_bytes(v);
    memcpy(a8, &a, 8);
    return v;
}

/* the share of the residual that goes to F: a / (a^2 + k (1 - a)^2), a = v / 255 */
static inline EM_INLINE v8f gain8(v8f v) {
    const v8f a = v * V8(1.0f / 255), b = V8(1.0f) - a;
    return a / (a * a + V8(EM_BACKGROUND_VARIANCE_RATIO) * (b * b));
}

static inline EM_INLINE void finish8(const float *top, const float *bot, size_t stride, v8f wy, int with_blurs,
                                     const uint8_t *I, v8f v, v8f gain, uint8_t *fg, const uint8_t *B,
                                     uint8_t *comp) {
    const v16b a = to_bytes(v);
    v16b f_lo, f_hi; /* the foreground's 24 bytes */
    int c;
    if (with_blurs) {
        const v8f af = v * V8(1.0f / 255);
        const v8i known = (v == V8(0.0f)) | (v == V8(255.0f));
        v8f i[3];
        v16b f8[3], c01;
        load_bgr8(I, &i[0], &i[1], &i[2]);
        for (c = 0; c < 3; c++) {
            const v8f tf = ld8f(top + (4 + c) * stride), bf8 = ld8f(bot + (4 + c) * stride);
            const v8f tb = ld8f(top + (7 + c) * stride), bb = ld8f(bot + (7 + c) * stride);
            const v8f fb = tf + wy * (bf8 - tf), bgb = tb + wy * (bb - tb);
            const v8f f = clamp_round(fb + gain * (i[c] - af * fb - (V8(1.0f) - af) * bgb));
            f8[c] = to_bytes(sel8(known, i[c], f));
        }
        c01 = __builtin_shufflevector(f8[0], f8[1], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        f_lo = __builtin_shufflevector(c01, f8[2], 0, 1, 16, 2, 3, 17, 4, 5, 18, 6, 7, 19, 8, 9, 20, 10);
        f_hi = __builtin_shufflevector(c01, f8[2], 11, 21, 12, 13, 22, 14, 15, 23, 11, 21, 12, 13, 22, 14, 15, 23);
        if (fg) store24(fg, f_lo, f_hi);
    } else {
        load24(I, &f_lo, &f_hi);
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

/* One pixel of an unknown run: the per-pixel form (the CUDA body's operations, in its order). */
static void one_pixel(const float *top, const float *bot, size_t stride, float wy, int with_blurs, const uint8_t *I,
                      uint8_t *a8, uint8_t *fg, const uint8_t *B, uint8_t *comp) {
    float e[10], v;
    uint8_t F[3];
    int c;
    for (c = 0; c < (with_blurs ? 10 : 4); c++) {
        const float t = top[c * stride], b = bot[c * stride];
        e[c] = t + wy * (b - t);
    }
    v = e[0] * (float)I[0] + e[1] * (float)I[1] + e[2] * (float)I[2] + e[3];
    v = v > 0.0f ? v : 0.0f;
    v = v < 255.0f ? v : 255.0f;
    v = (v + ROUND_MAGIC) - ROUND_MAGIC;
    *a8 = (uint8_t)(int)v;
    for (c = 0; c < 3; c++) F[c] = I[c];
    if (with_blurs && v != 0.0f && v != 255.0f) {
        const float a = v * (1.0f / 255), b = 1.0f - a;
        const float gain = a / (a * a + EM_BACKGROUND_VARIANCE_RATIO * (b * b));
        for (c = 0; c < 3; c++) {
            const float fb = e[4 + c], bgb = e[7 + c];
            float f = fb + gain * ((float)I[c] - a * fb - (1.0f - a) * bgb);
            f = f > 0.0f ? f : 0.0f;
            f = f < 255.0f ? f : 255.0f;
            F[c] = (uint8_t)(int)((f + ROUND_MAGIC) - ROUND_MAGIC);
        }
    }
    if (with_blurs && fg)
        for (c = 0; c < 3; c++) fg[c] = F[c];
    if (comp && !B) {
        for (c = 0; c < 3; c++) comp[c] = F[c];
        comp[3] = *a8;
    } else if (comp) {
        for (c = 0; c < 3; c++) comp[c] = blend1(F[c], *a8, B[c]);
    }
}

/* n pixels of an unknown run from the expanded rows top and bot (at the run's first pixel). */
EM_CLONES static void apply_run(const float *top, const float *bot, size_t stride, float wy, int with_blurs,
                                const uint8_t *I, int n, const run_out *o) {
    const int comp_size = o->backdrop ? 3 : 4;
    int x = 0;
#ifdef EM_VECTORS
    const v8f vwy = V8(wy);
    for (; x < n; x += 64) { /* blocks of up to 8 vectors; a partial last vector goes through staging buffers */
        const int m = n - x < 64 ? n - x : 64, nv = (m + 7) / 8, part = m % 8;
        const int last = x + 8 * (nv - 1);
        v8f v[8], gain[8];
        uint8_t i24[24] = {0}, a8[8], f24[24], b24[24] = {0}, c32[32];
        int k;
        if (part) {
            memcpy(i24, I + 3 * last, 3 * (size_t)part);
            if (o->backdrop) memcpy(b24, o->backdrop + o->backdrop_step * last, 3 * (size_t)part);
        }
        for (k = 0; k < nv; k++) {
            const int xk = x + 8 * k, staged = part && k == nv - 1;
            v[k] = alpha8(top + xk, bot + xk, stride, vwy, staged ? i24 : I + 3 * xk, staged ? a8 : o->alpha + xk);
            if (with_blurs) gain[k] = gain8(v[k]);
        }
        if (with_blurs || o->composite)
            for (k = 0; k < nv; k++) {
                const int xk = x + 8 * k, staged = part && k == nv - 1;
                finish8(top + xk, bot + xk, stride, vwy, with_blurs, staged ? i24 : I + 3 * xk, v[k], gain[k],
                        staged ? f24 : (o->foreground ? o->foreground + 3 * xk : NULL),
                        o->backdrop ? (staged ? b24 : o->backdrop + o->backdrop_step * xk) : NULL,
                        staged ? c32 : (o->composite ? o->composite + comp_size * xk : NULL));
            }
        if (part) {
            memcpy(o->alpha + last, a8, (size_t)part);
            if (o->foreground) memcpy(o->foreground + 3 * last, f24, 3 * (size_t)part);
            if (o->composite) memcpy(o->composite + comp_size * last, c32, (size_t)(comp_size * part));
        }
    }
#else
    for (; x < n; x++)
        one_pixel(top + x, bot + x, stride, wy, with_blurs, I + 3 * x, o->alpha + x,
                  o->foreground ? o->foreground + 3 * x : NULL, o->backdrop ? o->backdrop + o->backdrop_step * x : NULL,
                  o->composite ? o->composite + comp_size * x : NULL);
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

/* kind[j]: the flag the four cells around source column j (rows fa, fb) share, else 0 (unknown). */
static void cell_kinds(const unsigned char *fa, const unsigned char *fb, int w, unsigned char *kind) {
    int j;
    for (j = 0; j < w; j++) {
        const int r = imin_(j + 1, w - 1);
        kind[j] = fa[j] == fa[r] && fa[j] == fb[j] && fa[j] == fb[r] ? fa[j] : 0;
    }
}

int em_guided_apply(const float *coef, const float *blurs, int height, int width, const uint8_t *image,
                    ptrdiff_t image_stride, int out_height, int out_width, uint8_t *alpha, uint8_t *foreground,
                    const uint8_t *background, const uint8_t *colour, uint8_t *composite, int threads) {
    const int h = height, w = width, H = out_height, W = out_width;
    const size_t n = (size_t)h * w, stride = (size_t)W + ROW_PAD;
    const int with_blurs = blurs && (foreground || composite); /* else the foreground is not used */
    const int count = with_blurs ? 10 : 4;
    int *xa = NULL, *xb = NULL, *xs = NULL, bad = 0, x, nt;
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
        /* per thread: two expanded rows (planes: coef then blurs), small row sy in slot sy & 1, filled
         * lazily over the unknown runs only (held: the small row each slot holds per source column);
         * the cell kinds of the current pair of small rows; a foreground row; the colour repeated */
        float *rows = (float *)calloc(2 * (size_t)count * stride, sizeof(float));
        int *held = (int *)malloc(sizeof(int) * 2 * (size_t)w);
        unsigned char *kind = (unsigned char *)malloc((size_t)w);
        uint8_t colour3[3 * 512];
        int y, i, kind_ya = -1, kind_yb = -1;
        if (colour)
            for (i = 0; i < 3 * 512; i++) colour3[i] = colour[i % 3];
        if (held)
            for (i = 0; i < 2 * w; i++) held[i] = -1;
        if (!rows || !held || !kind) {
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
                uint8_t *fg = foreground ? foreground + 3 * (size_t)y * W : NULL;
                uint8_t *comp = composite ? composite + (background || colour ? 3 : 4) * (size_t)y * W : NULL;
                lerp_coord(y, (double)h / H, h, &ya, &yb, &wy);
                if (ya != kind_ya || yb != kind_yb) {
                    cell_kinds(flags + (size_t)ya * w, flags + (size_t)yb * w, w, kind);
                    kind_ya = ya;
                    kind_yb = yb;
                }
                /* runs of pixels whose four coefficient cells are one constant (known region) or not,
                 * decided per source column j (the output columns xs[j]..xs[j+1]) */
                while (x0 < W) {
                    int jj = xa[x0], x1, len, j;
                    const int k = kind[jj];
                    while (jj + 1 < w && kind[jj + 1] == k) jj++;
                    x1 = xs[jj + 1]; /* > x0: output column x0 lies in xs[xa[x0]].. */
                    len = x1 - x0;
                    if (k) { /* known: alpha 0 or 255, the foreground is the frame */
                        memset(a8 + x0, k == 2 ? 255 : 0, (size_t)len);
                        if (fg) memcpy(fg + 3 * (size_t)x0, I + 3 * (size_t)x0, 3 * (size_t)len);
                        if (comp && (background || colour)) {
                            uint8_t *o = comp + 3 * (size_t)x0;
                            if (k == 2)
                                memcpy(o, I + 3 * (size_t)x0, 3 * (size_t)len);
                            else if (B)
                                memcpy(o, B + 3 * (size_t)x0, 3 * (size_t)len);
                            else
                                for (j = 0; j < len; j += 512) /* the colour, 512 pixels at a time */
                                    memcpy(o + 3 * (size_t)j, colour3, 3 * (size_t)(len - j < 512 ? len - j : 512));
                        } else if (comp) {
                            bgra_row(I + 3 * (size_t)x0, a8 + x0, comp + 4 * (size_t)x0, len);
                        }
                    } else {
                        float *top = rows + (size_t)(ya & 1) * count * stride;
                        float *bot = rows + (size_t)(yb & 1) * count * stride;
                        run_out o;
                        o.alpha = a8 + x0;
                        o.foreground = fg ? fg + 3 * (size_t)x0 : NULL;
                        o.backdrop = B ? B + 3 * (size_t)x0 : (colour ? colour3 : NULL);
                        o.backdrop_step = B ? 3 : 0;
                        o.composite = comp ? comp + (o.backdrop ? 3 : 4) * (size_t)x0 : NULL;
                        expand_row(coef, with_blurs ? blurs : NULL, n, w, ya, xs, wx, stride, xa[x0], jj, held + (ya & 1) * w, top);
                        expand_row(coef, with_blurs ? blurs : NULL, n, w, yb, xs, wx, stride, xa[x0], jj, held + (yb & 1) * w, bot);
                        apply_run(top + x0, bot + x0, stride, wy, with_blurs, I + 3 * (size_t)x0, len, &o);
                    }
                    x0 = x1;
                }
            }
        }
        free(rows);
        free(held);
        free(kind);
    }
    free(xa);
    free(xb);
    free(wx);
    free(flags);
    free(xs);
    return bad ? EM_ERR_NOMEM : EM_OK;
}
