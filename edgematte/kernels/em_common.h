/* Shared by every edgematte kernel, CPU (the C files in csrc/) and CUDA (edgematte/kernels/cuda/).
 *
 * Naming: CPU functions are em_<op> (em_make_trimap, em_composite, em_refine_cf), CUDA kernels
 * em_k_<op>_<variant> (em_k_trimap_pass_u8, em_k_composite_f32); there are no CUDA host launchers
 * (edgematte.kernels.cuda launches the kernels), so no symbol exists twice.
 *
 * Status codes: one scheme for both. CPU functions return one; CUDA kernels OR the value problems
 * they find into a status word in device memory (hence distinct bits), which the Python launcher
 * reads. edgematte.kernels turns them into exceptions. This header is also read by NVRTC, which has
 * no host headers: everything after the enum is host C only. */
#ifndef EM_COMMON_H
#define EM_COMMON_H

enum em_status {
    EM_OK = 0,
    EM_ERR_ARG = 1,   /* invalid size, stride or parameter (the Python wrapper validates first) */
    EM_ERR_NOMEM = 2, /* a work buffer could not be allocated */
    EM_ERR_RANGE = 4, /* a float input holds a value outside [0, 1] (CPU kernels: or NaN) */
    EM_ERR_NAN = 8    /* a float input holds NaN (CUDA kernels tell it apart from EM_ERR_RANGE) */
};

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__) /* host C only (NVRTC has no host headers) */
#include <stdint.h>
#include <stdlib.h> /* defines __GLIBC__ where it applies */

/* The kernels are plain C that compilers vectorise for the baseline ISA (SSE2 on x86-64, NEON on
 * aarch64), so a wheel runs everywhere. On x86-64 Linux with GCC, hot functions are also compiled
 * for AVX2 and picked at load time (ifunc). Define EM_NO_CLONES to build the baseline only. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && !defined(EM_NO_CLONES)
#define EM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define EM_CLONES
#endif

#if defined(_MSC_VER) && !defined(__cplusplus) && !defined(restrict)
#define restrict __restrict /* MSVC's C mode spells C99 restrict this way */
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
/* The range check compares possible NaNs; without trapping math GCC vectorises the loop.
 * Rounding is unaffected (this is not -ffast-math). */
#pragma GCC optimize("no-trapping-math")
#endif
/* out[x] = rint(f[x] * 255), ties to even, computed in float32 like np.rint(f * np.float32(255)).
 * edgematte's float-alpha rule: NaN becomes 0 and values are clamped to [0, 1] first (-inf -> 0, +inf -> 255).
 * Returns 0 if any value is NaN or outside [0, 1]. Needs IEEE single precision
 * arithmetic: the 1.5 * 2^23 trick rounds 0 <= t < 2^22 (never build with -ffast-math or FMA contraction).
 * This loop is the rule; on x86-64 the SSE2 and AVX2 loops below apply it to blocks of 16 and 32 values. */
static inline int em_unit_to_u8_scalar(const float *restrict f, uint8_t *restrict out, int n)
{
    int ok = 1;
    for (int x = 0; x < n; x++) {
        float v = f[x];
        ok &= (v >= 0.0f) & (v <= 1.0f);
        float c = v > 0.0f ? v : 0.0f; /* NaN -> 0 */
        float t = (c < 1.0f ? c : 1.0f) * 255.0f;
        out[x] = (uint8_t)(int)((t + 12582912.0f) - 12582912.0f);
    }
    return ok;
}

/* The same arithmetic with intrinsics: compilers vectorise the loop above, but narrow int32 to uint8 with
 * masks and shuffles (4-6x slower than OpenCV's convertScaleAbs on large arrays). max(v, 0) is the C
 * expression's NaN rule exactly (MAXPS returns its second operand when either is NaN); CVTPS2DQ rounds by
 * the MXCSR mode, as the 1.5 * 2^23 addition does (nearest, ties to even, unless someone changed it, and then
 * both alike); the packs saturate, which is exact for 0..255; (c != v) is true for NaN and out-of-range values
 * alike. tests/kernels/test_unit_to_u8.py checks each loop against the NumPy rule, and (-m slow) every float. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define EM_UNIT_TO_U8_X86 1

/* One loop for both widths: blocks of 4 vectors of LANES floats from x = 0, with the intrinsics of prefix P (_mm,
 * _mm256) on float vectors F and int vectors I; NEQ(c, v) is true for unordered operands too, and STORE(p, q)
 * narrows q[0..3] (int32, 0..255) to bytes at p. Returns how many values it wrote; clears *ok on a NaN or
 * out-of-range value. */
#define EM_UNIT_TO_U8_BLOCKS(LANES, P, F, I, NEQ, STORE)                                                     \
    const F zero = P##_setzero_ps(), one = P##_set1_ps(1.0f), scale = P##_set1_ps(255.0f);                 \
    F bad = P##_setzero_ps();                                                                                \
    int x = 0;                                                                                               \
    for (; x + 4 * (LANES) <= n; x += 4 * (LANES)) {                                                         \
        I q[4];                                                                                              \
        for (int j = 0; j < 4; j++) {                                                                        \
            F v = P##_loadu_ps(f + x + (LANES) * j);                                                         \
            F c = P##_min_ps(P##_max_ps(v, zero), one);                                                      \
            bad = P##_or_ps(bad, NEQ(c, v));                                                                 \
            q[j] = P##_cvtps_epi32(P##_mul_ps(c, scale));                                                    \
        }                                                                                                    \
        STORE(out + x, q);                                                                                   \
    }                                                                                                        \
    if (P##_movemask_ps(bad)) *ok = 0;                                                                       \
    return x;

#define EM_SSE2_NEQ(a, b) _mm_cmpneq_ps(a, b)
#define EM_SSE2_STORE(p, q)                                                                                  \
    _mm_storeu_si128((__m128i *)(p), _mm_packus_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3])))
static inline int em_unit_to_u8_sse2(const float *restrict f, uint8_t *restrict out, int n, int *ok)
{
    EM_UNIT_TO_U8_BLOCKS(4, _mm, __m128, __m128i, EM_SSE2_NEQ, EM_SSE2_STORE)
}

#ifndef EM_NO_CLONES
/* The packs work per 128-bit lane; the permutation puts the four quarters back in order. */
#define EM_AVX2_NEQ(a, b) _mm256_cmp_ps(a, b, _CMP_NEQ_UQ)
#define EM_AVX2_STORE(p, q)                                                                                  \
    _mm256_storeu_si256((__m256i *)(p),                                                                      \
                        _mm256_permutevar8x32_epi32(_mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]),      \
                                                                        _mm256_packs_epi32(q[2], q[3])),     \
                                                    _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)))
/* Where the CPU has AVX2 (checked by the caller). */
__attribute__((target("avx2"), unused)) static int em_unit_to_u8_avx2(const float *restrict f,
                                                                        uint8_t *restrict out, int n, int *ok)
{
    EM_UNIT_TO_U8_BLOCKS(8, _mm256, __m256, __m256i, EM_AVX2_NEQ, EM_AVX2_STORE)
}
#endif
#endif

/* The rule with the SIMD loops up to `simd`: 2 AVX2 (where the CPU has it), then SSE2 for a block of 16; 1 SSE2
 * only; 0 the plain loop only (the tests run each; the kernels call em_unit_to_u8). */
static inline int em_unit_to_u8_upto(const float *restrict f, uint8_t *restrict out, int n, int simd)
{
    int ok = 1, x = 0;
#ifdef EM_UNIT_TO_U8_X86
#ifndef EM_NO_CLONES
    if (simd >= 2 && n >= 32 && __builtin_cpu_supports("avx2")) x = em_unit_to_u8_avx2(f, out, n, &ok);
#endif
    if (simd >= 1) x += em_unit_to_u8_sse2(f + x, out + x, n - x, &ok);
#endif
    (void)simd;
    return em_unit_to_u8_scalar(f + x, out + x, n - x) & ok;
}

static inline int em_unit_to_u8(const float *restrict f, uint8_t *restrict out, int n)
{
    return em_unit_to_u8_upto(f, out, n, 2);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/* Waiting for the team without falling asleep. A kernel call is one parallel region with its work
 * handed out dynamically (`omp for ... nowait`). With OMP_WAIT_POLICY=PASSIVE (set at load, so that idle
 * OpenMP threads leave the cores to ONNX Runtime) a thread that reaches the region's closing barrier
 * before the others sleeps there, and the last one has to wake it: on small and virtual machines that
 * is tens of microseconds a call. So each piece of work done is counted (em_done), and the master, whose
 * return ends the call, waits for the count by spinning a bounded while (em_await: up to
 * EM_AWAIT_SPINS pauses, ~0.1-0.5 ms, then EM_AWAIT_TAIL more so that it arrives last and the barrier
 * has nobody to wake) before it reaches the barrier; the workers still sleep between calls. Without GCC/Clang builtins both are no-ops and the barrier waits as before. */
#define EM_AWAIT_SPINS 4000
#define EM_AWAIT_TAIL 64 /* pauses more once the count is in: the others reach the barrier first */
#if defined(__GNUC__)
static inline void em_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
static inline void em_done(int *count) { __atomic_add_fetch(count, 1, __ATOMIC_RELEASE); }
static inline void em_await(const int *count, int total)
{
    int i = 0;
    for (; i < EM_AWAIT_SPINS && __atomic_load_n(count, __ATOMIC_ACQUIRE) < total; i++) em_pause();
    for (i = 0; i < EM_AWAIT_TAIL; i++) em_pause();
}
#else
static inline void em_done(int *count) { (void)count; }
static inline void em_await(const int *count, int total) { (void)count; (void)total; }
#endif

#endif /* host C only */

#endif
