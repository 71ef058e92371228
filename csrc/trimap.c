/* Trimap by bit-packed binary morphology; see trimap.h for the exact contract.
 *
 * Each row is packed to 64 pixels per word, twice: F = (mask >= fg) and B = (mask <= bg).
 * The trimap is 255 where erode(F) holds, 0 where erode(B) holds, 128 elsewhere, both erosions
 * by K = ellipse^iterations (Minkowski power), out-of-image pixels counting as 1 (OpenCV's
 * default border never wins). K's rows are centred runs, so erosion by K is the AND over its
 * rows dy of the horizontal run-erosion of row y + dy by that row's half-width. Horizontal
 * run-erosions of every needed width are built incrementally per row and kept in a ring of
 * the last 2R+1 rows. Threads work on bands of output rows (each band re-reads its halo).
 */
#include "trimap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int em_ellipse_halfwidths(int ksize, int *hw)
{
    /* Same arithmetic as cv::getStructuringElement(MORPH_ELLIPSE, Size(ksize, ksize)). */
    if (ksize < 1 || ksize % 2 == 0 || hw == NULL) return EM_ERR_ARG;
    if (ksize == 1) {
        hw[0] = 0;
        return EM_OK;
    }
    int r = ksize / 2, c = ksize / 2;
    double inv_r2 = 1.0 / ((double)r * r);
    for (int i = 0; i < ksize; i++) {
        int dy = i - r;
        long dx = lrint(c * sqrt((double)(r * r - dy * dy) * inv_r2)); /* cvRound: nearest, ties to even */
        hw[i] = dx > c ? c : (int)dx;
    }
    return EM_OK;
}

typedef struct {
    int R;         /* radius of K */
    int nlev;      /* horizontal erosion levels; level 0 is the packed row itself */
    int *lev_base; /* level l = base level eroded by shifts of +-lev_d[l] */
    int *lev_d;
    int *row_lev; /* row_lev[dy + R]: the level row dy of K uses */
    int *mem;
} plan_t;

static void free_plan(plan_t *p) { free(p->mem); }

static int build_plan(int ksize, int iterations, plan_t *p)
{
    int r = ksize / 2, R = r * iterations, n = 2 * R + 1, maxlev = 2 * n + 8;
    int *mem = (int *)malloc(sizeof(int) * (size_t)(3 * n + ksize + 3 * maxlev));
    if (mem == NULL) return EM_ERR_NOMEM;
    int *hw = mem, *tmp = hw + n, *k = tmp + n, *row_lev = k + ksize, *lev_w = row_lev + n;
    int *lev_base = lev_w + maxlev, *lev_d = lev_base + maxlev;
    int st = em_ellipse_halfwidths(ksize, k);
    if (st != EM_OK) {
        free(mem);
        return st;
    }
    /* Minkowski power: rows of K^t are centred runs, half-width = max over splits of the sum. */
    memcpy(hw, k, sizeof(int) * (size_t)ksize);
    for (int t = 2, cur = r; t <= iterations; t++, cur += r) {
        int nr = cur + r;
        for (int dy = -nr; dy <= nr; dy++) {
            int best = -1;
            for (int dy2 = -r; dy2 <= r; dy2++) {
                int dy1 = dy - dy2;
                if (dy1 < -cur || dy1 > cur) continue;
                int v = hw[dy1 + cur] + k[dy2 + r];
                if (v > best) best = v;
            }
            tmp[dy + nr] = best;
        }
        memcpy(hw, tmp, sizeof(int) * (size_t)(2 * nr + 1));
    }
    /* Levels: distinct half-widths ascending. Level w from level v < w by AND of shifts -d, 0, +d
     * (d = w - v) covers [-w, w] without gaps when d <= 2v + 1; otherwise insert 3v + 1 first. */
    int nlev = 1;
    lev_w[0] = 0;
    lev_base[0] = 0;
    lev_d[0] = 0;
    for (;;) {
        int target = -1;
        for (int i = 0; i < n; i++)
            if (hw[i] > lev_w[nlev - 1] && (target < 0 || hw[i] < target)) target = hw[i];
        if (target < 0) break;
        while (nlev < maxlev) {
            int v = lev_w[nlev - 1], w = target > 3 * v + 1 ? 3 * v + 1 : target;
            lev_w[nlev] = w;
            lev_base[nlev] = nlev - 1;
            lev_d[nlev] = w - v;
            nlev++;
            if (w == target) break;
        }
    }
    for (int i = 0; i < n; i++) {
        row_lev[i] = 0;
        for (int l = 0; l < nlev; l++)
            if (lev_w[l] == hw[i]) row_lev[i] = l;
    }
    p->R = R;
    p->nlev = nlev;
    p->lev_base = lev_base;
    p->lev_d = lev_d;
    p->row_lev = row_lev;
    p->mem = mem;
    return EM_OK;
}

typedef struct {
    const uint8_t *base;
    ptrdiff_t stride;
    int is_float;
    int height, width;
} src_t;

/* Row y as uint8; float rows are converted into tmp as rint(x * 255) and range-checked. */
static const uint8_t *src_row(const src_t *s, int y, uint8_t *tmp, int *bad)
{
    const uint8_t *row = s->base + (ptrdiff_t)y * s->stride;
    if (!s->is_float) return row;
    const float *f = (const float *)row;
    int ok = 1;
    for (int x = 0; x < s->width; x++) {
        float v = f[x];
        int in = (v >= 0.0f) & (v <= 1.0f);
        ok &= in;
        float t = (in ? v : 0.0f) * 255.0f;
        tmp[x] = (uint8_t)(int)((t + 12582912.0f) - 12582912.0f); /* rint, ties to even */
    }
    if (!ok) *bad = 1;
    return tmp;
}

/* Packed row layout ("strips"): a row of W pixels is M = ceil(W / 8) bytes; pixel x = j * M + q is
 * bit j of byte q. Every step below is then a byte-wise loop (compare, shift, AND, unaligned load)
 * that compilers vectorise on any SIMD baseline; a horizontal shift by d pixels is an unaligned
 * byte load plus a bit shift by d / M where the shift crosses into the next strip. Pixels x >= W
 * (at most 7) and all pixels outside the row read as 1: erosion's border never wins. */

static inline uint8_t ones_hi(int k) { return k >= 8 ? 0xFF : (uint8_t)(0xFF00u >> k); }
static inline uint8_t ones_lo(int k) { return k >= 8 ? 0xFF : (uint8_t)((1u << k) - 1u); }

static void set_padding(uint8_t *row, int w, int m)
{
    for (int x = w; x < 8 * m; x++) row[x % m] |= (uint8_t)(1u << (x / m));
}

/* F = (m >= fg), B = (m <= bg), strip layout. */
static void pack_row(const uint8_t *restrict px, int w, int m, int fg, int bg, uint8_t *restrict pf,
                     uint8_t *restrict pb)
{
    const uint8_t f8 = (uint8_t)fg, b8 = (uint8_t)bg;
    memset(pf, 0, (size_t)m);
    memset(pb, 0, (size_t)m);
    for (int j = 0; j < 8; j++) {
        const uint8_t *s = px + (size_t)j * m;
        int n = w - j * m < m ? w - j * m : m;
        const uint8_t bit = (uint8_t)(1u << j);
        for (int q = 0; q < n; q++) {
            pf[q] |= s[q] >= f8 ? bit : 0;
            pb[q] |= s[q] <= b8 ? bit : 0;
        }
    }
    set_padding(pf, w, m);
    set_padding(pb, w, m);
}

/* dst[x] = src[x - d] & src[x] & src[x + d] (pixels), out-of-row pixels reading as 1. */
static void hlevel(uint8_t *restrict dst, const uint8_t *restrict src, int w, int m, int d)
{
    const int r = d % m, k = d / m;
    /* + d: pixel (j, q + r) for q < m - r, else (j + 1, q + r - m); then k more strips up. */
    if (k >= 8) {
        memcpy(dst, src, (size_t)m);
    } else if (k == 0) { /* the common case d < m: whole-byte moves, bit shifts only at the seam */
        for (int q = 0; q < m - r; q++) dst[q] = src[q] & src[q + r];
        for (int q = m - r; q < m; q++) dst[q] = src[q] & (uint8_t)((src[q + r - m] >> 1) | 0x80u);
        for (int q = 0; q < r; q++) dst[q] &= (uint8_t)((src[q - r + m] << 1) | 1u);
        for (int q = r; q < m; q++) dst[q] &= src[q - r];
    } else {
        const uint8_t h0 = ones_hi(k), h1 = ones_hi(k + 1);
        for (int q = 0; q < m - r; q++) dst[q] = src[q] & (uint8_t)((src[q + r] >> k) | h0);
        for (int q = m - r; q < m; q++) dst[q] = src[q] & (uint8_t)((src[q + r - m] >> (k + 1)) | h1);
        /* - d: pixel (j, q - r) for q >= r, else (j - 1, q - r + m); then k more strips down. */
        const uint8_t l0 = ones_lo(k), l1 = ones_lo(k + 1);
        for (int q = 0; q < r; q++) dst[q] &= (uint8_t)((src[q - r + m] << (k + 1)) | l1);
        for (int q = r; q < m; q++) dst[q] &= (uint8_t)((src[q - r] << k) | l0);
    }
    set_padding(dst, w, m);
}

static void unpack_row(const uint8_t *restrict f, const uint8_t *restrict b, int w, int m, uint8_t *restrict out)
{
    for (int j = 0; j < 8; j++) {
        uint8_t *o = out + (size_t)j * m;
        int n = w - j * m < m ? w - j * m : m;
        const uint8_t bit = (uint8_t)(1u << j);
        for (int q = 0; q < n; q++) { /* 255 where f, 0 where b, else 128; f and b are disjoint */
            uint8_t x = f[q] & bit, y = b[q] & bit;
            o[q] = (uint8_t)((x == bit ? 0xFF : 0x80) & (y == bit ? 0x00 : 0xFF));
        }
    }
}

EM_CLONES static int run_band(const plan_t *p, const src_t *s, int fg, int bg, uint8_t *out, ptrdiff_t out_stride, int y0,
                    int y1)
{
    const int H = s->height, W = s->width, R = p->R, S = 2 * R + 1, nlev = p->nlev;
    const int m = (W + 7) / 8;
    size_t ring_bytes = (size_t)2 * S * nlev * m;
    uint8_t *ring = (uint8_t *)malloc(ring_bytes + 2 * (size_t)m + (size_t)W);
    if (ring == NULL) return EM_ERR_NOMEM;
    uint8_t *acc_f = ring + ring_bytes, *acc_b = acc_f + m, *ftmp = acc_b + m;
    int bad = 0;
#define ROW(plane, slot, lev) (ring + ((size_t)((plane) * S + (slot)) * nlev + (lev)) * m)

    int next = y0 - R > 0 ? y0 - R : 0;
    for (int y = y0; y < y1; y++) {
        int last = y + R < H - 1 ? y + R : H - 1;
        for (; next <= last; next++) {
            int slot = next % S;
            pack_row(src_row(s, next, ftmp, &bad), W, m, fg, bg, ROW(0, slot, 0), ROW(1, slot, 0));
            for (int l = 1; l < nlev; l++)
                for (int pl = 0; pl < 2; pl++)
                    hlevel(ROW(pl, slot, l), ROW(pl, slot, p->lev_base[l]), W, m, p->lev_d[l]);
        }
        memset(acc_f, 0xFF, (size_t)m);
        memset(acc_b, 0xFF, (size_t)m);
        int ylo = y - R < 0 ? 0 : y - R;
        for (int yy = ylo; yy <= last; yy++) {
            int lev = p->row_lev[yy - y + R];
            const uint8_t *rf = ROW(0, yy % S, lev), *rb = ROW(1, yy % S, lev);
            for (int q = 0; q < m; q++) {
                acc_f[q] &= rf[q];
                acc_b[q] &= rb[q];
            }
        }
        unpack_row(acc_f, acc_b, W, m, out + (ptrdiff_t)y * out_stride);
    }
#undef ROW
    free(ring);
    return bad ? EM_ERR_RANGE : EM_OK;
}

static int make_trimap(const src_t *s, int ksize, int iterations, int fg, int bg, uint8_t *out, ptrdiff_t out_stride,
                       int threads)
{
    if (s->height < 1 || s->width < 1 || iterations < 1 || ksize < 1 || ksize % 2 == 0 || bg < 0 || fg > 255 ||
        bg >= fg || out == NULL || s->base == NULL)
        return EM_ERR_ARG;
    plan_t plan;
    int status = build_plan(ksize, iterations, &plan);
    if (status != EM_OK) return status;
    /* Bands of output rows, each re-reading R halo rows. With several threads, up to 4 bands per
     * thread (dynamic) so a thread delayed by a busy core does not hold up the others. */
    int nt = 1, nbands = 1;
#ifdef _OPENMP
    nt = threads > 0 ? threads : omp_get_max_threads();
#endif
    if (nt > s->height) nt = s->height;
    if (nt < 1) nt = 1;
    if (nt > 1) {
        int tall = s->height / (4 * plan.R + 4); /* keeps the halo overhead small */
        nbands = 4 * nt < tall ? 4 * nt : (tall > nt ? tall : nt);
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
#endif
    for (int band = 0; band < nbands; band++) {
        int y0 = (int)((long long)s->height * band / nbands), y1 = (int)((long long)s->height * (band + 1) / nbands);
        int st = run_band(&plan, s, fg, bg, out, out_stride, y0, y1);
        if (st != EM_OK) {
#ifdef _OPENMP
#pragma omp critical(em_trimap_status)
#endif
            if (status == EM_OK || st == EM_ERR_NOMEM) status = st;
        }
    }
    free_plan(&plan);
    return status;
}

int em_make_trimap_u8(const uint8_t *mask, ptrdiff_t mask_stride, int height, int width, int ksize, int iterations,
                      int fg, int bg, uint8_t *out, ptrdiff_t out_stride, int threads)
{
    src_t s = {mask, mask_stride, 0, height, width};
    return make_trimap(&s, ksize, iterations, fg, bg, out, out_stride, threads);
}

int em_make_trimap_f32(const float *mask, ptrdiff_t mask_stride, int height, int width, int ksize, int iterations,
                       int fg, int bg, uint8_t *out, ptrdiff_t out_stride, int threads)
{
    src_t s = {(const uint8_t *)mask, mask_stride, 1, height, width};
    return make_trimap(&s, ksize, iterations, fg, bg, out, out_stride, threads);
}
