/* em_unit_to_u8's loops one by one, for tests/kernels/test_unit_to_u8.py (built with cc, called through ctypes):
 * on one machine the dispatcher sends almost every value through one loop, so the tests run each over whole rows.
 * em_u8_rule is the rule written with rintf (IEEE round half to even, as np.rint), for the exhaustive check. */
#include <math.h>
#include <string.h>

#include "em_common.h"

/* em_unit_to_u8 with the SIMD loops up to `simd` (0 the plain loop, 1 SSE2, 2 AVX2 then SSE2: em_unit_to_u8
 * itself); -1 where that loop is not built, or the CPU lacks it. */
int em_u8_path(const float *f, uint8_t *out, int n, int simd)
{
#if !defined(EM_UNIT_TO_U8_X86)
    if (simd >= 1) return -1;
#elif defined(EM_NO_CLONES)
    if (simd >= 2) return -1;
#else
    if (simd >= 2 && !__builtin_cpu_supports("avx2")) return -1;
#endif
    return em_unit_to_u8_upto(f, out, n, simd);
}

static uint8_t em_u8_rule(float v)
{
    float c = isnan(v) ? 0.0f : v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    return (uint8_t)rintf(c * 255.0f);
}

/* Every one of the 2^32 float bit patterns through em_u8_path(.., simd), in rows of 1024 (whole blocks: every value
 * goes through that loop) starting 0..3 floats past a 32-byte boundary, against the rule and its flag; returns the
 * number of wrong values plus wrong flags, or -1 where the loop is not built or the CPU lacks it. */
long long em_u8_exhaustive(int simd)
{
    enum { ROW = 1024 };
    static float f[ROW + 8] __attribute__((aligned(32)));
    static uint8_t out[ROW + 8];
    long long wrong = 0;
    uint64_t bits = 0;
    for (int shift = 0; bits < (1ull << 32); shift = (shift + 1) & 3, bits += ROW) {
        int ok = 1;
        for (int x = 0; x < ROW; x++) {
            uint32_t b = (uint32_t)(bits + x);
            float v;
            memcpy(&v, &b, 4);
            f[shift + x] = v;
            ok &= v >= 0.0f && v <= 1.0f;
        }
        int got = em_u8_path(f + shift, out + shift, ROW, simd);
        if (got < 0) return -1;
        wrong += got != ok;
        for (int x = 0; x < ROW; x++) wrong += out[shift + x] != em_u8_rule(f[shift + x]);
    }
    return wrong;
}
