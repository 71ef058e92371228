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

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "edgematte's bit packing assumes a little-endian target"
#endif

#define ONES (~(uint64_t)0)

/* BYTEMASK[n]: byte i is 0xFF where bit i of n is set. */
#define EM_BM(n)                                                                                         \
    ((((uint64_t)(n) >> 0) & 1) * 0xFFull | (((uint64_t)(n) >> 1) & 1) * 0xFF00ull |                     \
     (((uint64_t)(n) >> 2) & 1) * 0xFF0000ull | (((uint64_t)(n) >> 3) & 1) * 0xFF000000ull |             \
     (((uint64_t)(n) >> 4) & 1) * 0xFF00000000ull | (((uint64_t)(n) >> 5) & 1) * 0xFF0000000000ull |     \
     (((uint64_t)(n) >> 6) & 1) * 0xFF000000000000ull | (((uint64_t)(n) >> 7) & 1) * 0xFF00000000000000ull)
#define EM_BM4(n) EM_BM(n), EM_BM((n) + 1), EM_BM((n) + 2), EM_BM((n) + 3)
#define EM_BM16(n) EM_BM4(n), EM_BM4((n) + 4), EM_BM4((n) + 8), EM_BM4((n) + 12)
#define EM_BM64(n) EM_BM16(n), EM_BM16((n) + 16), EM_BM16((n) + 32), EM_BM16((n) + 48)
static const uint64_t BYTEMASK[256] = {EM_BM64(0), EM_BM64(64), EM_BM64(128), EM_BM64(192)};

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

/* Pack one row into words of F = (m >= fg) and B = (m <= bg); bits past the width are 1. */
static void pack_row(const uint8_t *m, int w, int nw, int fg, int bg, uint64_t *pf, uint64_t *pb, uint8_t *tf,
                     uint8_t *tb)
{
    const uint8_t f8 = (uint8_t)fg, b8 = (uint8_t)bg;
    for (int x = 0; x < w; x++) {
        tf[x] = m[x] >= f8;
        tb[x] = m[x] <= b8;
    }
    for (int x = w; x < nw * 64; x++) tf[x] = tb[x] = 1;
    for (int j = 0; j < nw; j++) {
        uint64_t wf = 0, wb = 0;
        for (int b = 0; b < 8; b++) {
            uint64_t vf, vb;
            memcpy(&vf, tf + 64 * j + 8 * b, 8);
            memcpy(&vb, tb + 64 * j + 8 * b, 8);
            wf |= ((vf * 0x0102040810204080ull) >> 56) << (8 * b);
            wb |= ((vb * 0x0102040810204080ull) >> 56) << (8 * b);
        }
        pf[j] = wf;
        pb[j] = wb;
    }
}

/* dst[x] = src[x - d] & src[x] & src[x + d] over a row of nw words padded with all-ones words. */
static void hlevel(uint64_t *restrict dst, const uint64_t *restrict src, int nw, int d, uint64_t tailpad)
{
    const int qp = d >> 6, sp = d & 63;
    const int qn = -((d + 63) >> 6), sn = (64 - (d & 63)) & 63; /* -d = 64 * qn + sn */
    for (int j = 0; j < nw; j++) {
        uint64_t a = (src[j + qp] >> sp) | ((src[j + qp + 1] << 1) << (63 - sp));
        uint64_t b = (src[j + qn] >> sn) | ((src[j + qn + 1] << 1) << (63 - sn));
        dst[j] = a & b & src[j];
    }
    dst[nw - 1] |= tailpad;
}

static void unpack_row(const uint64_t *f, const uint64_t *b, int w, uint8_t *out)
{
    const uint64_t hi = 0x8080808080808080ull, lo = 0x7F7F7F7F7F7F7F7Full;
    int x = 0;
    for (; x + 8 <= w; x += 8) {
        int j = x >> 6, sh = x & 63;
        uint64_t mf = BYTEMASK[(f[j] >> sh) & 0xFF], mb = BYTEMASK[(b[j] >> sh) & 0xFF];
        uint64_t v = (hi | (mf & lo)) & ~mb;
        memcpy(out + x, &v, 8);
    }
    for (; x < w; x++) {
        int fb = (int)((f[x >> 6] >> (x & 63)) & 1), bb = (int)((b[x >> 6] >> (x & 63)) & 1);
        out[x] = fb ? 255 : (bb ? 0 : 128);
    }
}

static int run_band(const plan_t *p, const src_t *s, int fg, int bg, uint8_t *out, ptrdiff_t out_stride, int y0,
                    int y1)
{
    const int H = s->height, W = s->width, R = p->R, S = 2 * R + 1, nlev = p->nlev;
    const int nw = (W + 63) / 64, padw = R / 64 + 2, nwp = nw + 2 * padw;
    const uint64_t tailpad = (W % 64) ? (ONES << (W % 64)) : 0;
    size_t ring_words = (size_t)2 * S * nlev * nwp;
    uint64_t *ring = (uint64_t *)malloc(sizeof(uint64_t) * (ring_words + 2 * (size_t)nw));
    uint8_t *bytes = (uint8_t *)malloc((size_t)nw * 128 + (size_t)W);
    if (ring == NULL || bytes == NULL) {
        free(ring);
        free(bytes);
        return EM_ERR_NOMEM;
    }
    memset(ring, 0xFF, sizeof(uint64_t) * ring_words); /* pad words stay all-ones */
    uint64_t *acc_f = ring + ring_words, *acc_b = acc_f + nw;
    uint8_t *tf = bytes, *tb = tf + (size_t)nw * 64, *ftmp = tb + (size_t)nw * 64;
    int bad = 0;
#define ROW(plane, slot, lev) (ring + ((size_t)((plane) * S + (slot)) * nlev + (lev)) * nwp + padw)

    int next = y0 - R > 0 ? y0 - R : 0;
    for (int y = y0; y < y1; y++) {
        int last = y + R < H - 1 ? y + R : H - 1;
        for (; next <= last; next++) {
            int slot = next % S;
            pack_row(src_row(s, next, ftmp, &bad), W, nw, fg, bg, ROW(0, slot, 0), ROW(1, slot, 0), tf, tb);
            for (int l = 1; l < nlev; l++)
                for (int pl = 0; pl < 2; pl++)
                    hlevel(ROW(pl, slot, l), ROW(pl, slot, p->lev_base[l]), nw, p->lev_d[l], tailpad);
        }
        for (int j = 0; j < nw; j++) acc_f[j] = acc_b[j] = ONES;
        int ylo = y - R < 0 ? 0 : y - R;
        for (int yy = ylo; yy <= last; yy++) {
            int lev = p->row_lev[yy - y + R];
            const uint64_t *rf = ROW(0, yy % S, lev), *rb = ROW(1, yy % S, lev);
            for (int j = 0; j < nw; j++) {
                acc_f[j] &= rf[j];
                acc_b[j] &= rb[j];
            }
        }
        unpack_row(acc_f, acc_b, W, out + (ptrdiff_t)y * out_stride);
    }
#undef ROW
    free(ring);
    free(bytes);
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
    int nbands = 1;
#ifdef _OPENMP
    nbands = threads > 0 ? threads : omp_get_max_threads();
#endif
    if (nbands > s->height) nbands = s->height;
    if (nbands < 1) nbands = 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nbands) schedule(static, 1)
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
