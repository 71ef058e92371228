/* edgematte CUDA kernels: shared definitions (device code only).
 *
 * Layouts (all pitches in bytes, rows may be padded, pixels within a row packed):
 *   image    uint8  [H,W,3] (BGR or RGB, passed through)        0..255
 *   mask     uint8  [H,W] 0..255, or float32 [H,W] 0..1 (read as round(x*255))
 *   alpha    uint8  [H,W] 0..255, or float32 [H,W] 0..1
 *   tensor   float32 or float16 [1,3,h,w] (NCHW, RGB), planes packed
 *
 * One launcher per kernel: edgematte.kernels.cuda (Python) validates the arguments, sizes the grid
 * (EM_BLOCK_X x EM_BLOCK_Y blocks) and launches on the caller's stream. Launches are asynchronous:
 * kernels that check values (NaN or out-of-range float alpha or mask) OR em_status bits into
 * `*status` (device memory, may be NULL), which the launcher reads after synchronising.
 *
 * The kernels are extern "C" so that a fatbin loaded at run time (pycuda, CuPy) finds them by
 * name; this header and em_common.h are also NVRTC includes (NVRTC has no host headers).
 * Plain CUDA C, valid for CUDA 11.4 (JetPack 5) up to 13.
 */
#ifndef EM_CUDA_H
#define EM_CUDA_H

#define EM_BLOCK_X 32
#define EM_BLOCK_Y 8

#include "em_common.h" /* status codes: value-checking kernels OR EM_ERR_NAN / EM_ERR_RANGE into *status */

/* make_trimap pass flags */
#define EM_TRIMAP_THRESHOLD 1 /* the source is a mask: threshold it while loading */
#define EM_TRIMAP_FINAL 2     /* write trimap values {0,128,255} instead of state bits */
#define EM_TRIMAP_FG 1        /* state bit: still known foreground */
#define EM_TRIMAP_BG 2        /* state bit: still known background */
/* the shared-memory tile covers radii up to this; larger radii read global memory */
#define EM_TRIMAP_TILE_MAX_RADIUS 64

/* composite background modes */
#define EM_BG_IMAGE 0  /* uint8 [H,W,3] background image */
#define EM_BG_COLOR 1  /* constant colour */
#define EM_BG_NONE 2   /* no background: [H,W,4] output = image + alpha channel */

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
/* float <-> IEEE half without cuda_fp16.h (NVRTC builds may lack the header path) */
static __device__ __forceinline__ unsigned short em_f2h(float x)
{
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
    return h;
}

static __device__ __forceinline__ float em_h2f(unsigned short h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

static __device__ __forceinline__ const unsigned char *em_row(const void *base, long long pitch, int y)
{
    return (const unsigned char *)base + (long long)y * pitch;
}
#endif

#endif /* EM_CUDA_H */
