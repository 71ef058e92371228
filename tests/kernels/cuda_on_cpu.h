/* Compile edgematte's CUDA kernel sources as plain C++ on the CPU (g++ -include this file), so the tests run
 * the kernels' own source against the CPU kernels and OpenCV without a GPU.
 *
 * EM_FOR_PIXELS(w, h) becomes a loop over every pixel, so one call of an extern "C" kernel does the whole grid;
 * the CUDA intrinsics become their IEEE single-rounding C equivalents (compile with -ffp-contract=off, as the
 * CUDA code spells its roundings out), half floats are converted in software.
 */
#include <math.h>
#include <string.h>

#define restrict __restrict__ /* em_common.h's host part is C99 */
#define __global__
#define __device__
#define __forceinline__ inline
#define EM_FOR_PIXELS(w, h)                                                                                   \
    for (int y = 0; y < (h); ++y)                                                                               \
        for (int x = 0; x < (w); ++x)
#define EM_RN_MUL(a, b) ((a) * (b))
#define EM_RN_ADD(a, b) ((a) + (b))
#define EM_RN_SUB(a, b) ((a) - (b))
#define EM_RN_DIV(a, b) ((a) / (b))
#define EM_RN_DMUL(a, b) ((a) * (b))
#define EM_RN_DADD(a, b) ((a) + (b))

static inline int __float2int_rn(float v) { return (int)nearbyintf(v); } /* round half to even */
static inline int __double2int_rn(double v) { return (int)nearbyint(v); }

static inline float em_h2f(unsigned short h)
{
    const unsigned sign = (h >> 15) & 1, exponent = (h >> 10) & 31, mantissa = h & 1023;
    float v;
    if (exponent == 0)
        v = ldexpf((float)mantissa, -24);
    else if (exponent == 31)
        v = mantissa ? NAN : INFINITY;
    else
        v = ldexpf((float)(mantissa | 1024), (int)exponent - 25);
    return sign ? -v : v;
}
