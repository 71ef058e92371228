/* Alpha compositing; see composite.h for the contract.
 *
 * Rows are processed in chunks of CHUNK pixels: alpha is first widened to one byte per channel,
 * then one flat loop over the bytes blends in 16-bit integers, which compilers vectorise at -O3
 * on any SIMD baseline (SSE2, NEON). round(x / 255) for x <= 255 * 255 is (t + (t >> 8)) >> 8
 * with t = x + 128, exactly.
 */
#include "composite.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math") /* as em_unit_to_u8, so that it inlines (see em_common.h) */
#endif

#define CHUNK 512

static inline void blend(const uint8_t *restrict I, const uint8_t *restrict a3, const uint8_t *restrict B,
                         uint8_t *restrict o, int n)
{
    for (int i = 0; i < n; i++) {
        uint16_t a = a3[i];
        uint16_t t = (uint16_t)(I[i] * a + B[i] * (uint16_t)(255 - a) + 128);
        o[i] = (uint8_t)((t + (t >> 8)) >> 8);
    }
}

/* Same as blend, but out may alias I or B element for element. */
static inline void blend_inplace(const uint8_t *I, const uint8_t *a3, const uint8_t *B, uint8_t *o, int n)
{
    uint8_t tmp[3 * CHUNK];
    blend(I, a3, B, tmp, n);
    memcpy(o, tmp, (size_t)n);
}

static inline void widen3(const uint8_t *restrict a, uint8_t *restrict a3, int n)
{
    for (int x = 0; x < n; x++) a3[3 * x] = a3[3 * x + 1] = a3[3 * x + 2] = a[x];
}

EM_CLONES int em_composite_row(const uint8_t *I, const uint8_t *arow, int alpha_is_float, const uint8_t *B,
                                   const uint8_t *colour3, uint8_t *o, int w, int alias)
{
    uint8_t a8[CHUNK], a3[3 * CHUNK];
    int ok = 1;
    for (int x0 = 0; x0 < w; x0 += CHUNK) {
        int n = w - x0 < CHUNK ? w - x0 : CHUNK;
        const uint8_t *a = arow + x0;
        if (alpha_is_float) {
            ok &= em_unit_to_u8((const float *)arow + x0, a8, n);
            a = a8;
        }
        if (B == NULL && colour3 == NULL) {
            uint8_t *ox = o + 4 * (size_t)x0;
            const uint8_t *ix = I + 3 * (size_t)x0;
            for (int x = 0; x < n; x++) {
                ox[4 * x] = ix[3 * x];
                ox[4 * x + 1] = ix[3 * x + 1];
                ox[4 * x + 2] = ix[3 * x + 2];
                ox[4 * x + 3] = a[x];
            }
            continue;
        }
        widen3(a, a3, n);
        const uint8_t *bx = B != NULL ? B + 3 * (size_t)x0 : colour3;
        if (alias)
            blend_inplace(I + 3 * (size_t)x0, a3, bx, o + 3 * (size_t)x0, 3 * n);
        else
            blend(I + 3 * (size_t)x0, a3, bx, o + 3 * (size_t)x0, 3 * n);
    }
    return ok;
}

int em_composite(const uint8_t *image, ptrdiff_t image_stride, const void *alpha, int alpha_is_float,
                 ptrdiff_t alpha_stride, const uint8_t *background, ptrdiff_t background_stride,
                 const uint8_t *colour, uint8_t *out, ptrdiff_t out_stride, int height, int width, int threads)
{
    if (image == NULL || alpha == NULL || out == NULL || height < 1 || width < 1) return EM_ERR_ARG;
    uint8_t colour3[3 * CHUNK];
    const uint8_t *c3 = NULL;
    if (background == NULL && colour != NULL) {
        for (int i = 0; i < 3 * CHUNK; i++) colour3[i] = colour[i % 3];
        c3 = colour3;
    }
    int alias = out == image || (background != NULL && out == background);
    int bad = 0, nt = 1, done = 0;
#ifdef _OPENMP
    nt = threads > 0 ? threads : omp_get_max_threads();
    long long by_size = (long long)height * width / (1 << 16); /* one thread per 64K pixels at most */
    if (nt > by_size) nt = (int)by_size;
    if (nt > height) nt = height;
    if (nt < 1) nt = 1;
#pragma omp parallel num_threads(nt) reduction(| : bad)
#endif
    {
        int y0;
        /* rows in chunks of 16, handed out dynamically; the master waits for them spinning (em_await) */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1) nowait
#endif
        for (y0 = 0; y0 < height; y0 += 16) {
            for (int y = y0; y < y0 + 16 && y < height; y++) {
                const uint8_t *arow = (const uint8_t *)alpha + (ptrdiff_t)y * alpha_stride;
                const uint8_t *brow = background != NULL ? background + (ptrdiff_t)y * background_stride : NULL;
                bad |= !em_composite_row(image + (ptrdiff_t)y * image_stride, arow, alpha_is_float, brow, c3,
                                         out + (ptrdiff_t)y * out_stride, width, alias);
            }
            em_done(&done);
        }
#ifdef _OPENMP
        if (omp_get_thread_num() == 0) em_await(&done, (height + 15) / 16);
#endif
    }
    (void)nt;
    (void)threads;
    return bad ? EM_ERR_RANGE : EM_OK;
}
