/* Band-restricted closed-form matting by matrix-free conjugate gradients. See refine.h. */
#include "refine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define INV255 (1.0 / 255.0)

typedef struct {
    const unsigned char *img;
    int h, w, r;
    long n_unknown, n_windows;
    long *unknown; /* pixel indices of unknown pixels */
    long *windows; /* pixel indices of window centres whose window touches an unknown pixel */
    double *stats; /* per window: mean[3], inverse covariance [00,01,02,11,12,22] */
    double *ab;    /* per pixel (only window centres written): a[3], b */
    int threads;
} Solver;

static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Window statistics of every centre in the band: colour mean and inverse regularised covariance. */
static void window_stats(Solver *s, double eps) {
    const unsigned char *img = s->img;
    const int h = s->h, w = s->w, r = s->r;
    long t;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(s->threads)
#endif
    for (t = 0; t < s->n_windows; t++) {
        const long k = s->windows[t];
        const int y = (int)(k / w), x = (int)(k % w);
        const int y0 = clampi(y - r, 0, h - 1), y1 = clampi(y + r, 0, h - 1);
        const int x0 = clampi(x - r, 0, w - 1), x1 = clampi(x + r, 0, w - 1);
        const double n = (double)(y1 - y0 + 1) * (double)(x1 - x0 + 1);
        double m0 = 0, m1 = 0, m2 = 0, c00 = 0, c01 = 0, c02 = 0, c11 = 0, c12 = 0, c22 = 0;
        int yy, xx;
        for (yy = y0; yy <= y1; yy++) {
            const unsigned char *row = img + 3 * ((long)yy * w);
            for (xx = x0; xx <= x1; xx++) {
                const double i0 = row[3 * xx] * INV255, i1 = row[3 * xx + 1] * INV255, i2 = row[3 * xx + 2] * INV255;
                m0 += i0; m1 += i1; m2 += i2;
                c00 += i0 * i0; c01 += i0 * i1; c02 += i0 * i2;
                c11 += i1 * i1; c12 += i1 * i2; c22 += i2 * i2;
            }
        }
        m0 /= n; m1 /= n; m2 /= n;
        c00 = c00 / n - m0 * m0 + eps / n;
        c01 = c01 / n - m0 * m1;
        c02 = c02 / n - m0 * m2;
        c11 = c11 / n - m1 * m1 + eps / n;
        c12 = c12 / n - m1 * m2;
        c22 = c22 / n - m2 * m2 + eps / n;
        {
            /* inverse of the symmetric 3x3 matrix by cofactors */
            const double i00 = c11 * c22 - c12 * c12;
            const double i01 = c02 * c12 - c01 * c22;
            const double i02 = c01 * c12 - c02 * c11;
            const double i11 = c00 * c22 - c02 * c02;
            const double i12 = c01 * c02 - c00 * c12;
            const double i22 = c00 * c11 - c01 * c01;
            const double det = c00 * i00 + c01 * i01 + c02 * i02;
            const double inv = 1.0 / det;
            double *st = s->stats + 9 * t;
            st[0] = m0; st[1] = m1; st[2] = m2;
            st[3] = i00 * inv; st[4] = i01 * inv; st[5] = i02 * inv;
            st[6] = i11 * inv; st[7] = i12 * inv; st[8] = i22 * inv;
        }
    }
}

/* out[t] = (L v)[unknown[t]] for the matting Laplacian L. v is a full [H,W] vector. */
static void laplacian_apply(Solver *s, const double *v, double *out) {
    const unsigned char *img = s->img;
    const int h = s->h, w = s->w, r = s->r;
    double *ab = s->ab;
    long t;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(s->threads)
#endif
    for (t = 0; t < s->n_windows; t++) {
        const long k = s->windows[t];
        const int y = (int)(k / w), x = (int)(k % w);
        const int y0 = clampi(y - r, 0, h - 1), y1 = clampi(y + r, 0, h - 1);
        const int x0 = clampi(x - r, 0, w - 1), x1 = clampi(x + r, 0, w - 1);
        const double n = (double)(y1 - y0 + 1) * (double)(x1 - x0 + 1);
        const double *st = s->stats + 9 * t;
        double sv = 0, s0 = 0, s1 = 0, s2 = 0;
        int yy, xx;
        for (yy = y0; yy <= y1; yy++) {
            const unsigned char *row = img + 3 * ((long)yy * w);
            const double *vr = v + (long)yy * w;
            for (xx = x0; xx <= x1; xx++) {
                const double val = vr[xx];
                sv += val;
                s0 += row[3 * xx] * val;
                s1 += row[3 * xx + 1] * val;
                s2 += row[3 * xx + 2] * val;
            }
        }
        {
            const double pb = sv / n;
            const double q0 = s0 * INV255 / n - st[0] * pb;
            const double q1 = s1 * INV255 / n - st[1] * pb;
            const double q2 = s2 * INV255 / n - st[2] * pb;
            const double a0 = st[3] * q0 + st[4] * q1 + st[5] * q2;
            const double a1 = st[4] * q0 + st[6] * q1 + st[7] * q2;
            const double a2 = st[5] * q0 + st[7] * q1 + st[8] * q2;
            double *o = ab + 4 * k;
            o[0] = a0; o[1] = a1; o[2] = a2;
            o[3] = pb - (a0 * st[0] + a1 * st[1] + a2 * st[2]);
        }
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(s->threads)
#endif
    for (t = 0; t < s->n_unknown; t++) {
        const long i = s->unknown[t];
        const int y = (int)(i / w), x = (int)(i % w);
        const int y0 = clampi(y - r, 0, h - 1), y1 = clampi(y + r, 0, h - 1);
        const int x0 = clampi(x - r, 0, w - 1), x1 = clampi(x + r, 0, w - 1);
        const double n = (double)(y1 - y0 + 1) * (double)(x1 - x0 + 1);
        double a0 = 0, a1 = 0, a2 = 0, b = 0;
        int yy, xx;
        for (yy = y0; yy <= y1; yy++) {
            const double *o = ab + 4 * ((long)yy * w);
            for (xx = x0; xx <= x1; xx++) {
                a0 += o[4 * xx]; a1 += o[4 * xx + 1]; a2 += o[4 * xx + 2]; b += o[4 * xx + 3];
            }
        }
        out[t] = n * v[i] - ((a0 * img[3 * i] + a1 * img[3 * i + 1] + a2 * img[3 * i + 2]) * INV255 + b);
    }
}

static double dot(const double *a, const double *b, long n, int threads) {
    double acc = 0;
    long t;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(+ : acc) num_threads(threads)
#endif
    for (t = 0; t < n; t++) acc += a[t] * b[t];
    return acc;
}

/* Collect unknown pixels and the centres of windows that touch them. Returns 0 or ENOMEM. */
static int build_band(Solver *s, const unsigned char *trimap) {
    const int h = s->h, w = s->w, r = s->r;
    const long npix = (long)h * w;
    unsigned char *mark;
    long i, nu = 0, nw = 0;
    for (i = 0; i < npix; i++) nu += (trimap[i] != 0 && trimap[i] != 255);
    s->n_unknown = nu;
    s->unknown = (long *)malloc(sizeof(long) * (size_t)(nu > 0 ? nu : 1));
    mark = (unsigned char *)calloc((size_t)npix, 1);
    if (!s->unknown || !mark) {
        free(mark);
        return EM_REFINE_ENOMEM;
    }
    nu = 0;
    for (i = 0; i < npix; i++) {
        if (trimap[i] != 0 && trimap[i] != 255) {
            const int y = (int)(i / w), x = (int)(i % w);
            const int y0 = clampi(y - r, 0, h - 1), y1 = clampi(y + r, 0, h - 1);
            const int x0 = clampi(x - r, 0, w - 1), x1 = clampi(x + r, 0, w - 1);
            int yy;
            s->unknown[nu++] = i;
            for (yy = y0; yy <= y1; yy++) memset(mark + (long)yy * w + x0, 1, (size_t)(x1 - x0 + 1));
        }
    }
    for (i = 0; i < npix; i++) nw += mark[i];
    s->n_windows = nw;
    s->windows = (long *)malloc(sizeof(long) * (size_t)(nw > 0 ? nw : 1));
    if (!s->windows) {
        free(mark);
        return EM_REFINE_ENOMEM;
    }
    nw = 0;
    for (i = 0; i < npix; i++)
        if (mark[i]) s->windows[nw++] = i;
    free(mark);
    return EM_REFINE_OK;
}

int em_refine_cf(const unsigned char *image, const unsigned char *trimap, float *alpha, int height, int width,
                 int radius, double eps, int iterations, double tol, int threads, int *iterations_done) {
    Solver s;
    const long npix = (long)height * width;
    double *x = NULL, *p = NULL, *res = NULL, *ap = NULL;
    double rr, r0;
    long i, t;
    int it = 0, status = EM_REFINE_OK;

    if (iterations_done) *iterations_done = 0;
    if (!image || !trimap || !alpha || height < 0 || width < 0 || radius < 1 || !(eps > 0) || iterations < 0 ||
        !(tol >= 0))
        return EM_REFINE_EINVAL;
    if (npix == 0) return EM_REFINE_OK;

    memset(&s, 0, sizeof(s));
    s.img = image;
    s.h = height;
    s.w = width;
    s.r = radius;
#ifdef _OPENMP
    s.threads = threads > 0 ? threads : omp_get_max_threads();
#else
    s.threads = 1;
#endif
    status = build_band(&s, trimap);
    if (status != EM_REFINE_OK) goto done;

    if (s.n_unknown > 0 && iterations > 0) {
        s.stats = (double *)malloc(sizeof(double) * 9 * (size_t)s.n_windows);
        s.ab = (double *)malloc(sizeof(double) * 4 * (size_t)npix);
        x = (double *)malloc(sizeof(double) * (size_t)npix);
        p = (double *)calloc((size_t)npix, sizeof(double));
        res = (double *)malloc(sizeof(double) * (size_t)s.n_unknown);
        ap = (double *)malloc(sizeof(double) * (size_t)s.n_unknown);
        if (!s.stats || !s.ab || !x || !p || !res || !ap) {
            status = EM_REFINE_ENOMEM;
            goto done;
        }
        for (i = 0; i < npix; i++) x[i] = trimap[i] == 255 ? 1.0 : (trimap[i] == 0 ? 0.0 : (double)alpha[i]);
        window_stats(&s, eps);

        /* r = -(L x)_U: the known pixels act as the right-hand side */
        laplacian_apply(&s, x, res);
        for (t = 0; t < s.n_unknown; t++) {
            res[t] = -res[t];
            p[s.unknown[t]] = res[t];
        }
        rr = dot(res, res, s.n_unknown, s.threads);
        r0 = rr;
        for (it = 0; it < iterations; it++) {
            double pap, step, rn, beta;
            if (rr <= tol * tol * r0 || rr == 0.0) break;
            laplacian_apply(&s, p, ap);
            pap = 0;
            for (t = 0; t < s.n_unknown; t++) pap += p[s.unknown[t]] * ap[t];
            if (!(pap > 0)) break; /* converged to round-off */
            step = rr / pap;
            for (t = 0; t < s.n_unknown; t++) {
                x[s.unknown[t]] += step * p[s.unknown[t]];
                res[t] -= step * ap[t];
            }
            rn = dot(res, res, s.n_unknown, s.threads);
            beta = rn / rr;
            rr = rn;
            for (t = 0; t < s.n_unknown; t++) p[s.unknown[t]] = res[t] + beta * p[s.unknown[t]];
        }
        for (t = 0; t < s.n_unknown; t++) alpha[s.unknown[t]] = (float)x[s.unknown[t]];
    }
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
    free(s.unknown);
    free(s.windows);
    free(s.stats);
    free(s.ab);
    free(x);
    free(p);
    free(res);
    free(ap);
    return status;
}
