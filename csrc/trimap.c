/* Trimap by bit-packed binary morphology; see trimap.h for the exact contract.
 *
 * Rows are packed to 1 bit per pixel twice: F = (mask >= fg) and B = (mask <= bg). The trimap is
 * 255 where erode(F) holds, 0 where erode(B) holds, 128 elsewhere, both erosions by
 * K = ellipse^iterations (Minkowski power, radius R), out-of-image pixels counting as 1 (OpenCV's
 * default border never wins). K's rows are centred runs whose half-width shrinks away from the
 * centre, so K is the union of rectangles [-w_j, w_j] x [-a_j, a_j] (w_1 < ... < w_L, a_j
 * shrinking) and, as erosion distributes over AND and run erosions compose by adding widths,
 *     erode_K(P) = H_{w_1}(V_{a_1} & H_{w_2 - w_1}(V_{a_2} & ... H_{w_L - w_{L-1}}(V_{a_L})))
 * where V_a is the AND of rows y - a .. y + a (doubling tables over a ring of the last 2R + 1
 * packed rows) and H_d the horizontal run erosion of half-width d. Threads work on bands of
 * output rows; each band re-reads its R halo rows.
 */
#include "trimap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math") /* as em_unit_to_u8, so that it inlines (see em_common.h) */
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
    int R;     /* radius of K */
    int L;     /* rectangles */
    int *w;    /* w[j]: half-width of rectangle j, ascending */
    int *a;    /* a[j]: half-height of rectangle j, descending */
    int *k;    /* k[j] = floor(log2(2 a[j] + 1)) */
    int *mem;
} plan_t;

static void free_plan(plan_t *p) { free(p->mem); }

static int floor_log2(int n)
{
    int k = 0;
    while ((2 << k) <= n) k++;
    return k;
}

static int build_plan(int ksize, int iterations, plan_t *p)
{
    int r = ksize / 2, R = r * iterations, n = 2 * R + 1;
    int *mem = (int *)malloc(sizeof(int) * (size_t)(5 * n + ksize));
    if (mem == NULL) return EM_ERR_NOMEM;
    int *hw = mem, *tmp = hw + n, *k = tmp + n, *w = k + ksize, *a = w + n;
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
    /* The rectangle decomposition needs half-widths symmetric and non-increasing away from the centre. */
    for (int dy = 1; dy <= R; dy++)
        if (hw[R + dy] != hw[R - dy] || hw[R + dy] > hw[R + dy - 1] || hw[R + dy] < 0) {
            free(mem);
            return EM_ERR_ARG;
        }
    int L = 0;
    for (int dy = R; dy >= 0; dy--) /* distinct half-widths, ascending */
        if (L == 0 || hw[R + dy] > w[L - 1]) w[L++] = hw[R + dy];
    for (int j = 0; j < L; j++) { /* a[j] = largest |dy| whose half-width is >= w[j] */
        a[j] = 0;
        for (int dy = 0; dy <= R; dy++)
            if (hw[R + dy] >= w[j]) a[j] = dy;
    }
    p->R = R;
    p->L = L;
    p->w = w;
    p->a = a;
    p->k = a + n;
    for (int j = 0; j < L; j++) p->k[j] = floor_log2(2 * a[j] + 1);
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
    if (!em_unit_to_u8((const float *)row, tmp, s->width)) *bad = 1;
    return tmp;
}

/* Packed row layout ("strips"): a row of W pixels is M = ceil(W / 8) bytes; pixel x = j * M + q is
 * bit j of byte q. Every step below is then a byte-wise loop (compare, AND, unaligned load) that
 * compilers vectorise on any SIMD baseline: a horizontal shift by d pixels is a byte load at
 * offset d, reading past either end into margin bytes that hold the neighbouring strips (the
 * same bytes shifted by one bit). Pixels x >= W (at most 7) and all pixels outside the row
 * replicate the edge pixel (see fill_margins), so the border never wins, as in OpenCV. */

static inline uint8_t ones_hi(int k) { return k >= 8 ? 0xFF : (uint8_t)(0xFF00u >> k); }
static inline uint8_t ones_lo(int k) { return k >= 8 ? 0xFF : (uint8_t)((1u << k) - 1u); }

/* Pixels W .. 8M - 1 replicate pixel W - 1 (an edge pixel adds nothing to a run erosion whose
 * window reaches past the edge, because the window then contains the edge pixel itself). */
static void set_padding(uint8_t *row, int w, int m)
{
    const int last = (row[(w - 1) % m] >> ((w - 1) / m)) & 1;
    for (int x = w; x < 8 * m; x++) {
        const uint8_t bit = (uint8_t)(1u << (x / m));
        row[x % m] = last ? (uint8_t)(row[x % m] | bit) : (uint8_t)(row[x % m] & ~bit);
    }
}

/* F = (m >= fg), B = (m <= bg), strip layout. */
static void pack_row(const uint8_t *restrict px, int w, int m, int fg, int bg, uint8_t *restrict pf,
                     uint8_t *restrict pb)
{
    const uint8_t f8 = (uint8_t)fg, b8 = (uint8_t)bg;
    const uint8_t *s0 = px, *s1 = s0 + m, *s2 = s1 + m, *s3 = s2 + m, *s4 = s3 + m, *s5 = s4 + m, *s6 = s5 + m,
                  *s7 = s6 + m;
    int full = w - 7 * m > 0 ? w - 7 * m : 0; /* bytes whose 8 pixels are all inside the row */
    for (int q = 0; q < full; q++) {
        pf[q] = (uint8_t)((s0[q] >= f8 ? 1 : 0) | (s1[q] >= f8 ? 2 : 0) | (s2[q] >= f8 ? 4 : 0) |
                          (s3[q] >= f8 ? 8 : 0) | (s4[q] >= f8 ? 16 : 0) | (s5[q] >= f8 ? 32 : 0) |
                          (s6[q] >= f8 ? 64 : 0) | (s7[q] >= f8 ? 128 : 0));
        pb[q] = (uint8_t)((s0[q] <= b8 ? 1 : 0) | (s1[q] <= b8 ? 2 : 0) | (s2[q] <= b8 ? 4 : 0) |
                          (s3[q] <= b8 ? 8 : 0) | (s4[q] <= b8 ? 16 : 0) | (s5[q] <= b8 ? 32 : 0) |
                          (s6[q] <= b8 ? 64 : 0) | (s7[q] <= b8 ? 128 : 0));
    }
    for (int q = full; q < m; q++) {
        uint8_t vf = 0, vb = 0;
        for (int j = 0; j < 8; j++) {
            int x = j * m + q;
            if (x < w) {
                vf |= (uint8_t)((px[x] >= f8) << j);
                vb |= (uint8_t)((px[x] <= b8) << j);
            }
        }
        pf[q] = vf;
        pb[q] = vb;
    }
    set_padding(pf, w, m);
    set_padding(pb, w, m);
}

/* Horner rows carry `mg` margin bytes each side so that shifts by s <= mg pixels are unaligned
 * loads: byte m + i holds the pixels 1 + i / m strips up, byte -1 - i those 1 + i / m strips down.
 * Pixels past either end replicate the edge pixel (after set_padding, pixel 8M - 1 equals W - 1).
 * Replication, unlike a constant 1, keeps the 3-term steps of apply_h exact at the borders: a
 * shifted read that leaves the row is clamped to the edge, which is still inside the window. */
static void fill_margins(uint8_t *row, int m, int mg)
{
    const int hi = row[m - 1] >> 7, lo = row[0] & 1;
    if (m > mg) {
        const uint8_t h = hi ? 0x80 : 0, l = lo ? 1 : 0;
        for (int i = 0; i < mg; i++) {
            row[m + i] = (uint8_t)((row[i] >> 1) | h);
            row[-1 - i] = (uint8_t)((row[m - 1 - i] << 1) | l);
        }
        return;
    }
    for (int i = 0; i < mg; i++) {
        int k = 1 + i / m;
        row[m + i] = (uint8_t)((k >= 8 ? 0 : row[i % m] >> k) | (hi ? ones_hi(k) : 0));
        row[-1 - i] = (uint8_t)((k >= 8 ? 0 : row[m - 1 - i % m] << k) | (lo ? ones_lo(k) : 0));
    }
}

/* dst = H_d(src) & va & vb for d <= 3: the AND of shifts -d..d of src (margins >= d). */
static void hstep_small(uint8_t *restrict dst, const uint8_t *restrict src, const uint8_t *restrict va,
                        const uint8_t *restrict vb, int m, int d)
{
    if (d == 0) {
        for (int q = 0; q < m; q++) dst[q] = src[q] & va[q] & vb[q];
    } else if (d == 1) {
        for (int q = 0; q < m; q++) dst[q] = src[q - 1] & src[q] & src[q + 1] & va[q] & vb[q];
    } else if (d == 2) {
        for (int q = 0; q < m; q++) dst[q] = src[q - 2] & src[q - 1] & src[q] & src[q + 1] & src[q + 2] & va[q] & vb[q];
    } else {
        for (int q = 0; q < m; q++)
            dst[q] = src[q - 3] & src[q - 2] & src[q - 1] & src[q] & src[q + 1] & src[q + 2] & src[q + 3] & va[q] &
                     vb[q];
    }
}

/* dst = src(x - s) & src(x) & src(x + s) & va & vb (margins >= s). */
static void hstep3(uint8_t *restrict dst, const uint8_t *restrict src, const uint8_t *restrict va,
                   const uint8_t *restrict vb, int m, int s)
{
    for (int q = 0; q < m; q++) dst[q] = src[q - s] & src[q] & src[q + s] & va[q] & vb[q];
}

/* Steps realising the run erosion H_d: d <= 3 is one fused step; otherwise 3-term steps of shift
 * 1, 3, 9, ... (each step's shift at most 2c + 1 after c pixels, so the AND leaves no gap). */
static int largest_shift(int d)
{
    if (d <= 3) return d;
    int c = 0, largest = 0;
    while (c < d) {
        int s = 2 * c + 1 < d - c ? 2 * c + 1 : d - c;
        largest = s > largest ? s : largest;
        c += s;
    }
    return largest;
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

typedef struct {
    uint8_t *tables; /* [K + 1][S][m]: T_k(y) = AND of packed rows y .. y + 2^k - 1 */
    uint8_t *z[2];   /* Horner ping-pong rows */
} plane_t;

#define TAB(pl, k, y) ((pl)->tables + ((size_t)(k) * S + (size_t)((y) & (S - 1))) * m)

/* Z buffers rotate: the destination of a step is never its source. */
static uint8_t *other(const plane_t *pl, const uint8_t *cur)
{
    return pl->z[0] == cur ? pl->z[1] : pl->z[0];
}

/* Returns H_d(src) & va & vb in one of the plane's Z buffers (padding and margins refreshed). */
static const uint8_t *apply_h(const plane_t *pl, const uint8_t *src, const uint8_t *va, const uint8_t *vb,
                              const uint8_t *ones, int w, int m, int mg, int d)
{
    uint8_t *dst = other(pl, src);
    if (d <= 3) {
        hstep_small(dst, src, va, vb, m, d);
    } else {
        int c = 0;
        while (c < d) {
            int s = 2 * c + 1 < d - c ? 2 * c + 1 : d - c;
            int last = c + s == d;
            dst = other(pl, src);
            hstep3(dst, src, last ? va : ones, last ? vb : ones, m, s);
            c += s;
            if (!last) {
                set_padding(dst, w, m);
                fill_margins(dst, m, mg);
                src = dst;
            }
        }
    }
    set_padding(dst, w, m);
    fill_margins(dst, m, mg);
    return dst;
}

/* erode_K of one plane at output row y; rows y - R .. y + R (clipped) are in the tables. */
static const uint8_t *erode_row(const plan_t *p, const plane_t *pl, const uint8_t *ones, int y, int H, int W, int m,
                                int S, int mg)
{
    const uint8_t *cur = NULL;
    for (int j = p->L - 1; j >= 0; j--) {
        int lo = y - p->a[j], hi = y + p->a[j], k = p->k[j];
        if (lo < 0 || hi > H - 1) { /* clipped window near the top or bottom of the image */
            lo = lo < 0 ? 0 : lo;
            hi = hi > H - 1 ? H - 1 : hi;
            k = floor_log2(hi - lo + 1);
        }
        const uint8_t *va = TAB(pl, k, lo), *vb = TAB(pl, k, hi - (1 << k) + 1);
        if (cur == NULL)
            cur = apply_h(pl, va, va, vb, ones, W, m, mg, 0);
        else
            cur = apply_h(pl, cur, va, vb, ones, W, m, mg, p->w[j + 1] - p->w[j]);
    }
    if (p->w[0] > 0) cur = apply_h(pl, cur, ones, ones, ones, W, m, mg, p->w[0]);
    return cur;
}

static int run_band(const plan_t *p, const src_t *s, int fg, int bg, uint8_t *out, ptrdiff_t out_stride, int y0,
                    int y1)
{
    const int H = s->height, W = s->width, R = p->R;
    const int live = 2 * R + 1 < H ? 2 * R + 1 : H; /* rows a window can hold */
    const int K = floor_log2(live);                 /* tables T_0 .. T_K */
    int S = 1;                                      /* ring slots: a power of two >= live */
    while (S < live) S *= 2;
    const int m = (W + 7) / 8;
    size_t table_bytes = (size_t)(K + 1) * S * m;
    int mg = largest_shift(p->w[0]); /* margin: the largest shift of any step */
    for (int j = 0; j + 1 < p->L; j++) {
        int sh = largest_shift(p->w[j + 1] - p->w[j]);
        mg = sh > mg ? sh : mg;
    }
    mg = mg < 1 ? 1 : mg;
    const size_t zlen = (size_t)m + 2 * (size_t)mg;
    uint8_t *mem = (uint8_t *)malloc(2 * table_bytes + 4 * zlen + (size_t)m + (size_t)W);
    if (mem == NULL) return EM_ERR_NOMEM;
    plane_t planes[2];
    for (int i = 0; i < 2; i++) {
        planes[i].tables = mem + i * table_bytes;
        planes[i].z[0] = mem + 2 * table_bytes + (size_t)(2 * i) * zlen + (size_t)mg;
        planes[i].z[1] = planes[i].z[0] + zlen;
    }
    uint8_t *ones = mem + 2 * table_bytes + 4 * zlen, *ftmp = ones + m;
    memset(ones, 0xFF, (size_t)m);
    int bad = 0;

    const int first = y0 - R > 0 ? y0 - R : 0;
    int next = first;
    for (int y = y0; y < y1; y++) {
        int last = y + R < H - 1 ? y + R : H - 1;
        for (; next <= last; next++) {
            pack_row(src_row(s, next, ftmp, &bad), W, m, fg, bg, TAB(&planes[0], 0, next), TAB(&planes[1], 0, next));
            for (int k = 1; k <= K; k++) {
                int yy = next - (1 << k) + 1;
                if (yy < first) break;
                for (int i = 0; i < 2; i++) {
                    uint8_t *dst = TAB(&planes[i], k, yy);
                    const uint8_t *u = TAB(&planes[i], k - 1, yy), *v = TAB(&planes[i], k - 1, yy + (1 << (k - 1)));
                    for (int q = 0; q < m; q++) dst[q] = u[q] & v[q];
                }
            }
        }
        const uint8_t *ef = erode_row(p, &planes[0], ones, y, H, W, m, S, mg);
        const uint8_t *eb = erode_row(p, &planes[1], ones, y, H, W, m, S, mg);
        unpack_row(ef, eb, W, m, out + (ptrdiff_t)y * out_stride);
    }
    free(mem);
    return bad ? EM_ERR_RANGE : EM_OK;
}

#undef TAB

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
#else
    (void)threads;
#endif
    long long by_size = (long long)s->height * s->width / (1 << 16); /* one thread per 64K pixels at most */
    if (nt > by_size) nt = (int)by_size;
    if (nt > s->height) nt = s->height;
    if (nt < 1) nt = 1;
    if (nt > 1) {
        int tall = s->height / (4 * plan.R + 4); /* keeps the halo overhead small */
        nbands = 4 * nt < tall ? 4 * nt : (tall > nt ? tall : nt);
    }
    int done = 0; /* bands finished (em_await) */
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1) nowait
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
            em_done(&done);
        }
#ifdef _OPENMP
        if (omp_get_thread_num() == 0) em_await(&done, nbands);
#endif
    }
    free_plan(&plan);
    return status;
}

int em_make_trimap(const void *mask, int mask_is_float, ptrdiff_t mask_stride, int height, int width, int ksize,
                   int iterations, int fg, int bg, uint8_t *out, ptrdiff_t out_stride, int threads)
{
    src_t s = {(const uint8_t *)mask, mask_stride, mask_is_float != 0, height, width};
    return make_trimap(&s, ksize, iterations, fg, bg, out, out_stride, threads);
}
