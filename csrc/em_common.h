/* Shared by the edgematte C kernels: status codes (0 = success) and the SIMD clone attribute. */
#ifndef EM_COMMON_H
#define EM_COMMON_H

#include <stdlib.h> /* defines __GLIBC__ where it applies */

#define EM_OK 0
#define EM_ERR_ARG 1      /* invalid size, stride or parameter (the Python wrapper validates first) */
#define EM_ERR_NOMEM 2    /* a work buffer could not be allocated */
#define EM_ERR_RANGE 3    /* a float input holds NaN or a value outside [0, 1] */

/* The kernels are plain C that compilers vectorise for the baseline ISA (SSE2 on x86-64, NEON on
 * aarch64), so a wheel runs everywhere. On x86-64 Linux with GCC, hot functions are also compiled
 * for AVX2 and picked at load time (ifunc). Define EM_NO_CLONES to build the baseline only. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && !defined(EM_NO_CLONES)
#define EM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define EM_CLONES
#endif

#endif
