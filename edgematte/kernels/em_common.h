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
 * arithmetic: the 1.5 * 2^23 trick rounds 0 <= t < 2^22 (never build with -ffast-math). */
static inline int em_unit_to_u8(const float *restrict f, uint8_t *restrict out, int n)
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
