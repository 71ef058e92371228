/* Band-restricted closed-form matting by matrix-free conjugate gradients, and guided upsampling.
 * See refine.h; the executable specification is edgematte/kernels/_refine_reference.py.
 *
 * The band is stored as row runs (y, x0, x1) so that every inner loop walks contiguous memory:
 * window sums are separable (column sums over 2r+1 rows, then a horizontal sum), which the
 * compiler vectorises. Vectors are double precision.
 */
#include "refine.h"
#include "em_linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define INV255 (1.0 / 255.0)
#define EM_REFINE_PIXELS_PER_THREAD 16384L

typedef struct {
    int y, x0, x1; /* pixels [x0, x1) of row y */
    long off;      /* index of the run's first pixel in the compact ordering */
} Run;

typedef struct {
    Run *runs;
    long n_runs, n_pixels;
} Band;

typedef struct {
    int h, w, r, threads;
    Band unknown; /* pixels to solve */
    Band windows; /* centres of windows that touch an unknown pixel (unknown dilated by r) */
    double *img;  /* planar colour, 3 x [H,W], 0..1 (only rows/columns of the support are filled) */
    double *stats; /* planar per window (compact window order): mean[3], inverse covariance[6] */
    double *coef;  /* planar per window (compact window order): a0, a1, a2, b */
    long *uwin;    /* per unknown run, per dy in -r..r: compact window index of (y + dy, max(x0 - r, 0)), or -1 */
    double *inv_nrow, *inv_ncol; /* 1 / clipped window extent per row / column */
    double *scratch;              /* per thread: SCRATCH_ROWS rows of w + 2r doubles */
} Solver;

/* relative residual at which CG has converged to round-off (see refine.h) */
#define EM_CG_ROUNDOFF 1e-12

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

static int resolve_threads(int threads) {
#ifdef _OPENMP
    return threads > 0 ? threads : omp_get_max_threads();
#else
    (void)threads;
    return 1;
#endif
}

/* Row runs of a mask. Returns 0 or ENOMEM. */
static int band_from_mask(Band *band, const unsigned char *mask, int h, int w) {
    long n = 0, count = 0;
    int y, x;
    for (y = 0; y < h; y++) {
        const unsigned char *row = mask + (long)y * w;
        for (x = 0; x < w; x++) n += row[x] && (x == 0 || !row[x - 1]);
    }
    band->runs = (Run *)malloc(sizeof(Run) * (size_t)(n > 0 ? n : 1));
    if (!band->runs) return EM_ERR_NOMEM;
    band->n_runs = 0;
    for (y = 0; y < h; y++) {
        const unsigned char *row = mask + (long)y * w;
        x = 0;
        while (x < w) {
            if (!row[x]) {
                x++;
                continue;
            }
            {
                Run *run = band->runs + band->n_runs++;
                run->y = y;
                run->x0 = x;
                while (x < w && row[x]) x++;
                run->x1 = x;
                run->off = count;
                count += run->x1 - run->x0;
            }
        }
    }
    band->n_pixels = count;
    return EM_OK;
}

/* Unknown runs, window runs (unknown dilated by r) and the planar colour image on their support. */
static int build_bands(Solver *s, const unsigned char *image, const unsigned char *trimap) {
    const int h = s->h, w = s->w, r = s->r;
    const size_t npix = (size_t)h * (size_t)w;
    unsigned char *mask = (unsigned char *)malloc(npix);
    int status = EM_OK;
    long i, k;
    int y, x;
    if (!mask) {
        status = EM_ERR_NOMEM;
        goto out;
    }
    for (i = 0; i < (long)npix; i++) mask[i] = trimap[i] != 0 && trimap[i] != 255;
    status = band_from_mask(&s->unknown, mask, h, w);
    if (status != EM_OK) goto out;
    /* dilate by r: horizontally per run, then vertically by or-ing rows */
    memset(mask, 0, (size_t)npix);
    for (k = 0; k < s->unknown.n_runs; k++) {
        const Run *run = s->unknown.runs + k;
        const int x0 = imax(run->x0 - r, 0), x1 = imin(run->x1 + r, w);
        const int y0 = imax(run->y - r, 0), y1 = imin(run->y + r, h - 1);
        for (y = y0; y <= y1; y++) memset(mask + (long)y * w + x0, 1, (size_t)(x1 - x0));
    }
    status = band_from_mask(&s->windows, mask, h, w);
    if (status != EM_OK) goto out;
    /* planar colour on the support of the windows (windows dilated by r) */
    s->img = (double *)malloc(sizeof(double) * 3 * (size_t)npix);
    if (!s->img) {
        status = EM_ERR_NOMEM;
        goto out;
    }
    for (k = 0; k < s->windows.n_runs; k++) {
        const Run *run = s->windows.runs + k;
        const int x0 = imax(run->x0 - r, 0), x1 = imin(run->x1 + r, w);
        const int y0 = imax(run->y - r, 0), y1 = imin(run->y + r, h - 1);
        for (y = y0; y <= y1; y++) {
            const unsigned char *src = image + 3 * ((long)y * w);
            double *d0 = s->img + (long)y * w, *d1 = d0 + npix, *d2 = d1 + npix;
            for (x = x0; x < x1; x++) {
                d0[x] = src[3 * x] * INV255;
                d1[x] = src[3 * x + 1] * INV255;
                d2[x] = src[3 * x + 2] * INV255;
            }
        }
    }
out:
    free(mask);
    return status;
}

/* For every unknown run and row offset dy, the compact index of its first needed window. The
 * columns [x0 - r, x1 + r) of rows y - r..y + r lie within one window run (the band is the unknown
 * set dilated by r), so the coefficients a pass-2 run reads are contiguous in each row. */
static void link_runs(Solver *s) {
    const int r = s->r, w = s->w;
    long k, j = 0;
    for (k = 0; k < s->unknown.n_runs; k++) {
        const Run *run = s->unknown.runs + k;
        const int xa = imax(run->x0 - r, 0);
        int dy;
        for (dy = -r; dy <= r; dy++) {
            const int yy = run->y + dy;
            long off = -1;
            if (yy >= 0 && yy < s->h) {
                /* window runs are sorted by (y, x0): scan from a row-sorted lower bound */
                long lo = 0, hi = s->windows.n_runs;
                while (lo < hi) {
                    const long mid = (lo + hi) / 2;
                    const Run *m = s->windows.runs + mid;
                    if (m->y < yy || (m->y == yy && m->x1 <= xa))
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                if (lo < s->windows.n_runs) {
                    const Run *m = s->windows.runs + lo;
                    if (m->y == yy && m->x0 <= xa && xa < m->x1) off = m->off + (xa - m->x0);
                }
            }
            s->uwin[j++] = off;
        }
    }
    (void)w;
}

static inline double hsum(const double *b, int x, int r) {
    double acc = 0.0;
    int d;
    if (r == 1) return b[x - 1] + b[x] + b[x + 1];
    for (d = -r; d <= r; d++) acc += b[x + d];
    return acc;
}

#define SCRATCH_ROWS 9

/* This thread's scratch rows (zeroed once; cells outside [0, w) stay zero). */
static double *thread_scratch(const Solver *s) {
#ifdef _OPENMP
    const size_t t = (size_t)omp_get_thread_num();
#else
    const size_t t = 0;
#endif
    return s->scratch + t * SCRATCH_ROWS * (size_t)(s->w + 2 * s->r);
}

/* Mean and inverse regularised covariance of every window in the band. */
static void window_stats(Solver *s, double eps) {
    const int w = s->w, r = s->r;
    const long npix = (long)s->h * w, nw = s->windows.n_pixels;
#ifdef _OPENMP
#pragma omp parallel num_threads(s->threads)
#endif
    {
        double *scratch = thread_scratch(s);
        long k;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 16)
#endif
        for (k = 0; k < s->windows.n_runs; k++) {
            const Run *run = s->windows.runs + k;
            const int xa = imax(run->x0 - r, 0), xb = imin(run->x1 + r, w);
            const double *i0 = s->img, *i1 = s->img + npix, *i2 = s->img + 2 * npix;
            double *bufs[9];
            int p, x;
            for (p = 0; p < 9; p++) bufs[p] = scratch + (size_t)p * (w + 2 * r);
            {
                /* column sums of I0, I1, I2, I0 I0, I0 I1, I1 I1, I0 I2, I1 I2, I2 I2 in one sweep */
                const int y0 = imax(run->y - r, 0), y1 = imin(run->y + r, s->h - 1);
                int yy;
                for (p = 0; p < 9; p++)
                    for (x = xa; x < xb; x++) bufs[p][x + r] = 0.0;
                for (yy = y0; yy <= y1; yy++) {
                    const long o = (long)yy * w;
                    for (x = xa; x < xb; x++) {
                        const double u0 = i0[o + x], u1 = i1[o + x], u2 = i2[o + x];
                        bufs[0][x + r] += u0;
                        bufs[1][x + r] += u1;
                        bufs[2][x + r] += u2;
                        bufs[3][x + r] += u0 * u0;
                        bufs[4][x + r] += u0 * u1;
                        bufs[5][x + r] += u1 * u1;
                        bufs[6][x + r] += u0 * u2;
                        bufs[7][x + r] += u1 * u2;
                        bufs[8][x + r] += u2 * u2;
                    }
                }
            }
            for (x = run->x0; x < run->x1; x++) {
                const double in = s->inv_nrow[run->y] * s->inv_ncol[x];
                const double m0 = hsum(bufs[0] + r, x, r) * in, m1 = hsum(bufs[1] + r, x, r) * in;
                const double m2 = hsum(bufs[2] + r, x, r) * in;
                const double c00 = hsum(bufs[3] + r, x, r) * in - m0 * m0 + eps * in;
                const double c01 = hsum(bufs[4] + r, x, r) * in - m0 * m1;
                const double c11 = hsum(bufs[5] + r, x, r) * in - m1 * m1 + eps * in;
                const double c02 = hsum(bufs[6] + r, x, r) * in - m0 * m2;
                const double c12 = hsum(bufs[7] + r, x, r) * in - m1 * m2;
                const double c22 = hsum(bufs[8] + r, x, r) * in - m2 * m2 + eps * in;
                const long t = run->off + (x - run->x0);
                double ci[6];
                int c;
                em_inverse_sym3(c00, c01, c02, c11, c12, c22, ci);
                s->stats[t] = m0;
                s->stats[t + nw] = m1;
                s->stats[t + 2 * nw] = m2;
                for (c = 0; c < 6; c++) s->stats[t + (3 + c) * nw] = ci[c];
            }
        }
    }
}

/* out[t] = (L v) at the t-th unknown pixel (compact order). v is a full [H,W] vector. */
static void laplacian_apply(Solver *s, const double *v, double *out) {
    const int w = s->w, r = s->r;
    const long npix = (long)s->h * w, nw = s->windows.n_pixels;
    double *a0 = s->coef, *a1 = s->coef + nw, *a2 = s->coef + 2 * nw, *bb = s->coef + 3 * nw;
#ifdef _OPENMP
#pragma omp parallel num_threads(s->threads)
#endif
    {
        double *scratch = thread_scratch(s);
        long k;
        /* pass 1: affine coefficients (a_k, b_k) of every window for the vector v */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 16)
#endif
        for (k = 0; k < s->windows.n_runs; k++) {
            const Run *run = s->windows.runs + k;
            const int xa = imax(run->x0 - r, 0), xb = imin(run->x1 + r, w);
            const double *planes[3];
            double *bufs[4];
            int p, x;
            for (p = 0; p < 4; p++) bufs[p] = scratch + (size_t)p * (w + 2 * r);
            planes[0] = s->img; planes[1] = s->img + npix; planes[2] = s->img + 2 * npix;
            {
                /* column sums of v I0, v I1, v I2 and v in one sweep */
                const int y0 = imax(run->y - r, 0), y1 = imin(run->y + r, s->h - 1);
                double *restrict b0 = bufs[0] + r, *restrict b1 = bufs[1] + r;
                double *restrict b2 = bufs[2] + r, *restrict b3 = bufs[3] + r;
                int yy;
                for (x = xa; x < xb; x++) b0[x] = b1[x] = b2[x] = b3[x] = 0.0;
                for (yy = y0; yy <= y1; yy++) {
                    const long o = (long)yy * w;
                    const double *restrict vv = v + o, *restrict p0 = planes[0] + o;
                    const double *restrict p1 = planes[1] + o, *restrict p2 = planes[2] + o;
                    for (x = xa; x < xb; x++) {
                        const double val = vv[x];
                        b0[x] += p0[x] * val;
                        b1[x] += p1[x] * val;
                        b2[x] += p2[x] * val;
                        b3[x] += val;
                    }
                }
            }
            for (x = run->x0; x < run->x1; x++) {
                const long t = run->off + (x - run->x0);
                const double *st = s->stats + t;
                const double in = s->inv_nrow[run->y] * s->inv_ncol[x];
                const double mv = hsum(bufs[3] + r, x, r) * in;
                const double q0 = hsum(bufs[0] + r, x, r) * in - st[0] * mv;
                const double q1 = hsum(bufs[1] + r, x, r) * in - st[nw] * mv;
                const double q2 = hsum(bufs[2] + r, x, r) * in - st[2 * nw] * mv;
                const double c0 = st[4 * nw], c1 = st[5 * nw], c2 = st[7 * nw];
                const double e0 = st[3 * nw] * q0 + c0 * q1 + c1 * q2;
                const double e1 = c0 * q0 + st[6 * nw] * q1 + c2 * q2;
                const double e2 = c1 * q0 + c2 * q1 + st[8 * nw] * q2;
                a0[t] = e0;
                a1[t] = e1;
                a2[t] = e2;
                bb[t] = mv - (e0 * st[0] + e1 * st[nw] + e2 * st[2 * nw]);
            }
        }
        /* pass 2: (L v)_i = m_i v_i - sum over windows containing i of (a_k . I_i + b_k) */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 16)
#endif
        for (k = 0; k < s->unknown.n_runs; k++) {
            const Run *run = s->unknown.runs + k;
            const int xa = imax(run->x0 - r, 0), xb = imin(run->x1 + r, w);
            double *bufs[4];
            const long base = (long)run->y * w;
            int p, x, dy;
            for (p = 0; p < 4; p++) bufs[p] = scratch + (size_t)p * (w + 2 * r);
            {
                double *restrict b0 = bufs[0] + r, *restrict b1 = bufs[1] + r;
                double *restrict b2 = bufs[2] + r, *restrict b3 = bufs[3] + r;
                for (x = xa; x < xb; x++) b0[x] = b1[x] = b2[x] = b3[x] = 0.0;
                for (dy = 0; dy <= 2 * r; dy++) {
                    const long off = s->uwin[k * (2 * r + 1) + dy];
                    const double *restrict c0, *restrict c1, *restrict c2, *restrict c3;
                    double *restrict d0 = b0 + xa, *restrict d1 = b1 + xa, *restrict d2 = b2 + xa;
                    double *restrict d3 = b3 + xa;
                    int j;
                    if (off < 0) continue;
                    c0 = a0 + off; c1 = a1 + off; c2 = a2 + off; c3 = bb + off;
                    for (j = 0; j < xb - xa; j++) {
                        d0[j] += c0[j];
                        d1[j] += c1[j];
                        d2[j] += c2[j];
                        d3[j] += c3[j];
                    }
                }
            }
            for (x = run->x0; x < run->x1; x++) {
                const long i = base + x;
                const double m = (double)(imin(run->y + r, s->h - 1) - imax(run->y - r, 0) + 1) *
                                 (double)(imin(x + r, w - 1) - imax(x - r, 0) + 1);
                const double sa0 = hsum(bufs[0] + r, x, r), sa1 = hsum(bufs[1] + r, x, r);
                const double sa2 = hsum(bufs[2] + r, x, r), sb = hsum(bufs[3] + r, x, r);
                out[run->off + (x - run->x0)] =
                    m * v[i] - (sa0 * s->img[i] + sa1 * s->img[i + npix] + sa2 * s->img[i + 2 * npix] + sb);
            }
        }
    }
}

static double dot(const double *a, const double *b, long n) {
    double acc = 0.0;
    long t;
    for (t = 0; t < n; t++) acc += a[t] * b[t];
    return acc;
}

/* gather/scatter between a full [H,W] vector and the compact unknown order */
static double dot_full(const Band *u, const double *full, int w, const double *compact) {
    double acc = 0.0;
    long k;
    for (k = 0; k < u->n_runs; k++) {
        const Run *run = u->runs + k;
        const double *f = full + (long)run->y * w + run->x0;
        const double *c = compact + run->off;
        int x;
        for (x = 0; x < run->x1 - run->x0; x++) acc += f[x] * c[x];
    }
    return acc;
}

int em_refine_cf(const unsigned char *image, const unsigned char *trimap, float *alpha, int height, int width,
                 int radius, double eps, int iterations, double tol, const float *prior, double prior_weight,
                 int threads, int *iterations_done) {
    Solver s;
    const long npix = (long)height * width;
    double *x = NULL, *p = NULL, *res = NULL, *ap = NULL;
    long i, k;
    int it = 0, status = EM_OK, j;

    if (iterations_done) *iterations_done = 0;
    if (!image || !trimap || !alpha || height < 0 || width < 0 || radius < 1 || !(eps > 0) || iterations < 0 ||
        !(tol >= 0) || !(prior_weight >= 0) || (prior_weight > 0 && !prior))
        return EM_ERR_ARG;
    if (npix == 0) return EM_OK;

    memset(&s, 0, sizeof(s));
    s.h = height;
    s.w = width;
    s.r = radius;
    s.threads = resolve_threads(threads);

    if (iterations > 0) {
        double rr, r0;
        for (i = 0; i < npix; i++)
            if (trimap[i] != 0 && trimap[i] != 255) break;
        if (i == npix) goto finish; /* nothing unknown */
        status = build_bands(&s, image, trimap);
        if (status != EM_OK) goto done;
        /* a CG iteration has two barriers: small bands run faster on fewer threads */
        if (s.threads > 1 + s.unknown.n_pixels / EM_REFINE_PIXELS_PER_THREAD)
            s.threads = (int)(1 + s.unknown.n_pixels / EM_REFINE_PIXELS_PER_THREAD);
        s.stats = (double *)malloc(sizeof(double) * 9 * (size_t)s.windows.n_pixels);
        s.coef = (double *)malloc(sizeof(double) * 4 * (size_t)s.windows.n_pixels);
        s.uwin = (long *)malloc(sizeof(long) * (size_t)(2 * radius + 1) * (size_t)s.unknown.n_runs);
        s.scratch = (double *)calloc((size_t)s.threads * SCRATCH_ROWS * (size_t)(width + 2 * radius), sizeof(double));
        s.inv_nrow = (double *)malloc(sizeof(double) * (size_t)height);
        s.inv_ncol = (double *)malloc(sizeof(double) * (size_t)width);
        x = (double *)malloc(sizeof(double) * (size_t)npix);
        p = (double *)calloc((size_t)npix, sizeof(double));
        res = (double *)malloc(sizeof(double) * (size_t)s.unknown.n_pixels);
        ap = (double *)malloc(sizeof(double) * (size_t)s.unknown.n_pixels);
        if (!s.stats || !s.coef || !s.uwin || !s.scratch || !s.inv_nrow || !s.inv_ncol || !x || !p || !res || !ap) {
            status = EM_ERR_NOMEM;
            goto done;
        }
        for (j = 0; j < height; j++) s.inv_nrow[j] = 1.0 / (imin(j + radius, height - 1) - imax(j - radius, 0) + 1);
        for (j = 0; j < width; j++) s.inv_ncol[j] = 1.0 / (imin(j + radius, width - 1) - imax(j - radius, 0) + 1);
        for (i = 0; i < npix; i++) x[i] = trimap[i] == 255 ? 1.0 : (trimap[i] == 0 ? 0.0 : (double)alpha[i]);
        link_runs(&s);
        window_stats(&s, eps);

        /* r = -(L x)_U + w (prior - x)_U: the known pixels and the prior act as the right-hand side */
        laplacian_apply(&s, x, res);
        for (k = 0; k < s.unknown.n_runs; k++) {
            const Run *run = s.unknown.runs + k;
            const long o = (long)run->y * width + run->x0;
            double *pr = p + o;
            double *rr_ = res + run->off;
            int xx;
            for (xx = 0; xx < run->x1 - run->x0; xx++) {
                rr_[xx] = -rr_[xx];
                if (prior_weight > 0) rr_[xx] += prior_weight * ((double)prior[o + xx] - x[o + xx]);
                pr[xx] = rr_[xx];
            }
        }
        rr = dot(res, res, s.unknown.n_pixels);
        r0 = rr;
        for (it = 0; it < iterations; it++) {
            double pap, step, rn, beta;
            if (rr <= tol * tol * r0 || rr <= EM_CG_ROUNDOFF * EM_CG_ROUNDOFF * r0 || rr == 0.0) break;
            laplacian_apply(&s, p, ap);
            if (prior_weight > 0) /* (L_UU + w Id) p */
                for (k = 0; k < s.unknown.n_runs; k++) {
                    const Run *run = s.unknown.runs + k;
                    const double *pr = p + (long)run->y * width + run->x0;
                    double *apr = ap + run->off;
                    int xx;
                    for (xx = 0; xx < run->x1 - run->x0; xx++) apr[xx] += prior_weight * pr[xx];
                }
            pap = dot_full(&s.unknown, p, width, ap);
            if (!(pap > 0)) break; /* converged to round-off */
            step = rr / pap;
            for (k = 0; k < s.unknown.n_runs; k++) {
                const Run *run = s.unknown.runs + k;
                const long o = (long)run->y * width + run->x0;
                double *restrict xr = x + o;
                const double *restrict pr = p + o;
                double *restrict rr_ = res + run->off;
                const double *restrict apr = ap + run->off;
                int xx;
                for (xx = 0; xx < run->x1 - run->x0; xx++) {
                    xr[xx] += step * pr[xx];
                    rr_[xx] -= step * apr[xx];
                }
            }
            rn = dot(res, res, s.unknown.n_pixels);
            beta = rn / rr;
            rr = rn;
            for (k = 0; k < s.unknown.n_runs; k++) {
                const Run *run = s.unknown.runs + k;
                double *restrict pr = p + (long)run->y * width + run->x0;
                const double *restrict rr_ = res + run->off;
                int xx;
                for (xx = 0; xx < run->x1 - run->x0; xx++) pr[xx] = rr_[xx] + beta * pr[xx];
            }
        }
        for (k = 0; k < s.unknown.n_runs; k++) {
            const Run *run = s.unknown.runs + k;
            const long o = (long)run->y * width;
            int xx;
            for (xx = run->x0; xx < run->x1; xx++) alpha[o + xx] = (float)x[o + xx];
        }
    }
finish:
    for (i = 0; i < npix; i++) {
        if (trimap[i] == 255)
            alpha[i] = 1.0f;
        else if (trimap[i] == 0)
            alpha[i] = 0.0f;
        else
            alpha[i] = alpha[i] < 0.0f ? 0.0f : (alpha[i] > 1.0f ? 1.0f : (alpha[i] != alpha[i] ? 0.0f : alpha[i]));
    }
    if (iterations_done) *iterations_done = it;

done:
    free(s.unknown.runs);
    free(s.windows.runs);
    free(s.img);
    free(s.stats);
    free(s.coef);
    free(s.uwin);
    free(s.scratch);
    free(s.inv_nrow);
    free(s.inv_ncol);
    free(x);
    free(p);
    free(res);
    free(ap);
    return status;
}


int em_guided_upsample(const unsigned char *small_image, const float *small_alpha, int small_height, int small_width,
                       const unsigned char *image, const unsigned char *trimap, float *alpha, int height, int width,
                       int radius, double eps, int threads) {
    const int hs = small_height, ws = small_width, r = radius;
    const size_t ns = (size_t)hs * ws;
    const double sy = (double)hs / height, sx = (double)ws / width;
    int status = EM_OK;
    float *coef = NULL, *mean = NULL; /* planar a0, a1, a2, b at the small level, and their window means */
    unsigned char *need = NULL;       /* 2: mean needed (bilinear support), 1: coefficients needed */
    int *col_lo = NULL, *col_hi = NULL; /* bilinear source columns and weight per destination column */
    double *col_w = NULL;
    int y;
    if (!small_image || !small_alpha || !image || !trimap || !alpha || hs < 0 || ws < 0 || height < 0 || width < 0 ||
        radius < 1 || !(eps > 0))
        return EM_ERR_ARG;
    if ((size_t)height * width == 0) return EM_OK;
    if (ns == 0) return EM_ERR_ARG;
    threads = resolve_threads(threads);
    coef = (float *)malloc(sizeof(float) * 4 * ns);
    mean = (float *)malloc(sizeof(float) * 4 * ns);
    need = (unsigned char *)calloc(ns, 1);
    col_lo = (int *)malloc(sizeof(int) * (size_t)width);
    col_hi = (int *)malloc(sizeof(int) * (size_t)width);
    col_w = (double *)malloc(sizeof(double) * (size_t)width);
    if (!coef || !mean || !need || !col_lo || !col_hi || !col_w) {
        status = EM_ERR_NOMEM;
        goto done;
    }

    for (y = 0; y < width; y++) em_linear_coord(y, sx, ws, col_lo + y, col_hi + y, col_w + y);
    /* small pixels that unknown full-resolution pixels sample, then their windows */
    for (y = 0; y < height; y++) {
        const unsigned char *tri = trimap + (size_t)y * width;
        int ya, yb, x;
        double f;
        em_linear_coord(y, sy, hs, &ya, &yb, &f);
        for (x = 0; x < width; x++) {
            if (tri[x] == 0 || tri[x] == 255) continue;
            need[(size_t)ya * ws + col_lo[x]] = need[(size_t)ya * ws + col_hi[x]] = 2;
            need[(size_t)yb * ws + col_lo[x]] = need[(size_t)yb * ws + col_hi[x]] = 2;
        }
    }
    for (y = 0; y < hs; y++) {
        int x, yy;
        for (x = 0; x < ws; x++) {
            if (need[(size_t)y * ws + x] != 2) continue;
            for (yy = imax(y - r, 0); yy <= imin(y + r, hs - 1); yy++) {
                unsigned char *row = need + (size_t)yy * ws;
                int xx;
                for (xx = imax(x - r, 0); xx <= imin(x + r, ws - 1); xx++)
                    if (!row[xx]) row[xx] = 1;
            }
        }
    }

    /* a, b of every needed window by direct (2r+1)^2 sums */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads)
#endif
    for (y = 0; y < hs; y++) {
        const int y0 = imax(y - r, 0), y1 = imin(y + r, hs - 1);
        int x;
        for (x = 0; x < ws; x++) {
            const int x0 = imax(x - r, 0), x1 = imin(x + r, ws - 1);
            const double in = 1.0 / ((double)(y1 - y0 + 1) * (x1 - x0 + 1));
            double m0 = 0, m1 = 0, m2 = 0, mp = 0, p0 = 0, p1 = 0, p2 = 0;
            double c00 = 0, c01 = 0, c02 = 0, c11 = 0, c12 = 0, c22 = 0;
            int yy, xx;
            if (!need[(size_t)y * ws + x]) continue;
            for (yy = y0; yy <= y1; yy++) {
                const unsigned char *row = small_image + 3 * ((size_t)yy * ws);
                const float *arow = small_alpha + (size_t)yy * ws;
                for (xx = x0; xx <= x1; xx++) {
                    const double i0 = row[3 * xx] * INV255, i1 = row[3 * xx + 1] * INV255;
                    const double i2 = row[3 * xx + 2] * INV255, pv = arow[xx];
                    m0 += i0; m1 += i1; m2 += i2; mp += pv;
                    p0 += i0 * pv; p1 += i1 * pv; p2 += i2 * pv;
                    c00 += i0 * i0; c01 += i0 * i1; c02 += i0 * i2;
                    c11 += i1 * i1; c12 += i1 * i2; c22 += i2 * i2;
                }
            }
            m0 *= in; m1 *= in; m2 *= in; mp *= in;
            {
                const double q0 = p0 * in - m0 * mp, q1 = p1 * in - m1 * mp, q2 = p2 * in - m2 * mp;
                const double s00 = c00 * in - m0 * m0 + eps, s01 = c01 * in - m0 * m1, s02 = c02 * in - m0 * m2;
                const double s11 = c11 * in - m1 * m1 + eps, s12 = c12 * in - m1 * m2, s22 = c22 * in - m2 * m2 + eps;
                double ci[6], a0, a1, a2;
                const size_t i = (size_t)y * ws + x;
                em_inverse_sym3(s00, s01, s02, s11, s12, s22, ci);
                a0 = ci[0] * q0 + ci[1] * q1 + ci[2] * q2;
                a1 = ci[1] * q0 + ci[3] * q1 + ci[4] * q2;
                a2 = ci[2] * q0 + ci[4] * q1 + ci[5] * q2;
                coef[i] = (float)a0;
                coef[i + ns] = (float)a1;
                coef[i + 2 * ns] = (float)a2;
                coef[i + 3 * ns] = (float)(mp - a0 * m0 - a1 * m1 - a2 * m2);
            }
        }
    }
    /* window means of a, b where the bilinear samples need them */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads)
#endif
    for (y = 0; y < hs; y++) {
        const int y0 = imax(y - r, 0), y1 = imin(y + r, hs - 1);
        int x, c;
        for (x = 0; x < ws; x++) {
            const int x0 = imax(x - r, 0), x1 = imin(x + r, ws - 1);
            const float in = 1.0f / (float)((y1 - y0 + 1) * (x1 - x0 + 1));
            if (need[(size_t)y * ws + x] != 2) continue;
            for (c = 0; c < 4; c++) {
                const float *pl = coef + (size_t)c * ns;
                float acc = 0.0f;
                int yy, xx;
                for (yy = y0; yy <= y1; yy++)
                    for (xx = x0; xx <= x1; xx++) acc += pl[(size_t)yy * ws + xx];
                mean[(size_t)c * ns + (size_t)y * ws + x] = acc * in;
            }
        }
    }

    /* evaluate a . I + b with bilinearly sampled coefficients at unknown full-resolution pixels */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
    for (y = 0; y < height; y++) {
        const unsigned char *tri = trimap + (size_t)y * width;
        const unsigned char *row = image + 3 * ((size_t)y * width);
        float *out = alpha + (size_t)y * width;
        int ya, yb, x;
        double wy;
        em_linear_coord(y, sy, hs, &ya, &yb, &wy);
        for (x = 0; x < width; x++) {
            if (tri[x] == 255) {
                out[x] = 1.0f;
            } else if (tri[x] == 0) {
                out[x] = 0.0f;
            } else {
                const double wx = col_w[x];
                const int xa = col_lo[x], xb = col_hi[x];
                double v = 0.0;
                int c;
                for (c = 0; c < 4; c++) {
                    const float *pl = mean + (size_t)c * ns;
                    const double top = pl[(size_t)ya * ws + xa] * (1 - wx) + pl[(size_t)ya * ws + xb] * wx;
                    const double bot = pl[(size_t)yb * ws + xa] * (1 - wx) + pl[(size_t)yb * ws + xb] * wx;
                    const double cv = top * (1 - wy) + bot * wy;
                    v += c < 3 ? cv * row[3 * x + c] * INV255 : cv;
                }
                out[x] = v < 0 ? 0.0f : (v > 1 ? 1.0f : (v == v ? (float)v : 0.0f));
            }
        }
    }
done:
    free(coef);
    free(mean);
    free(need);
    free(col_lo);
    free(col_hi);
    free(col_w);
    return status;
}
