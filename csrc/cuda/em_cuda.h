/* edgematte CUDA kernels: shared definitions and host launchers.
 *
 * Layouts (all pitches in bytes, rows may be padded, pixels within a row packed):
 *   image    uint8  [H,W,3] (BGR or RGB, passed through)        0..255
 *   mask     uint8  [H,W] 0..255, or float32 [H,W] 0..1 (read as round(x*255))
 *   alpha    uint8  [H,W] 0..255, or float32 [H,W] 0..1
 *   tensor   float32 or float16 [1,3,h,w] (NCHW, RGB), planes packed
 *
 * Every launcher validates its arguments, sizes the grid, launches on `stream` and returns
 * the launch error (cudaSuccess, cudaErrorInvalidValue for bad arguments). Launches are
 * asynchronous: kernels that check values (NaN alpha or mask) OR status bits into `*status`
 * (device memory, may be NULL), which the caller reads after synchronising.
 *
 * The kernels are extern "C" so that a fatbin loaded at run time (pycuda, CuPy) finds them by
 * name; this header is also the NVRTC include, hence the __CUDACC_RTC__ guards (NVRTC has no
 * host headers). Plain CUDA C, valid for CUDA 11.4 (JetPack 5) up to 13.
 */
#ifndef EM_CUDA_H
#define EM_CUDA_H

#define EM_BLOCK_X 32
#define EM_BLOCK_Y 8

/* status bits written by value-checking kernels */
#define EM_STATUS_NAN 1   /* a float input held NaN */
#define EM_STATUS_RANGE 2 /* a float input lay outside [0,1] */

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

#ifndef __CUDACC_RTC__
#include <cuda_runtime_api.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* uint8 [src_h,src_w,3] -> [1,3,dst_h,dst_w] float32 (dst_fp16 = 0) or float16 (1), RGB planes,
 * bilinear (OpenCV INTER_LINEAR centres), out[c] = pixel[c] * scale[c] + bias[c] with c in RGB order.
 * src_bgr = 1 swaps the first and third source channels. */
cudaError_t em_preprocess(const unsigned char *src, int src_w, int src_h, size_t src_pitch, int src_bgr,
                          void *dst, int dst_w, int dst_h, int dst_fp16, const float scale[3],
                          const float bias[3], cudaStream_t stream);

/* float32 (src_fp16 = 0) or float16 (1) [src_h,src_w] alpha 0..1 -> uint8 [dst_h,dst_w],
 * bilinear (OpenCV INTER_LINEAR centres), round(clamp(a, 0, 1) * 255); NaN -> 0. */
cudaError_t em_upsample_alpha(const void *src, int src_w, int src_h, size_t src_pitch, int src_fp16,
                              unsigned char *dst, int dst_w, int dst_h, size_t dst_pitch, cudaStream_t stream);

/* trimap [h,w] {0,128,255} from a uint8 (mask_f32 = 0) or float32 (1) mask: 255 where
 * erode(mask, ellipse(kernel_size), iterations) >= fg_threshold, 0 where dilate(...) <= bg_threshold,
 * else 128, with OpenCV's default borders. `work` is a uint8 buffer of w*h bytes, used when
 * iterations > 1. Status: EM_STATUS_NAN / EM_STATUS_RANGE for NaN / values outside [0,1] in a float mask. */
cudaError_t em_make_trimap(const void *mask, size_t mask_pitch, int mask_f32, unsigned char *out, size_t out_pitch,
                           unsigned char *work, int w, int h, int kernel_size, int iterations, int fg_threshold,
                           int bg_threshold, int *status, cudaStream_t stream);

/* out = round(image * a + background * (1 - a)), a = alpha / 255 (alpha_f32 = 0) or alpha (1),
 * with the CPU kernel's integer rounding. bg_mode EM_BG_IMAGE reads `background` (uint8 [h,w,3]),
 * EM_BG_COLOR uses color[0..2], EM_BG_NONE writes [h,w,4] = image channels + alpha. `out` may be
 * exactly `image` or `background`. Status: EM_STATUS_NAN / EM_STATUS_RANGE for a float alpha. */
cudaError_t em_composite(const unsigned char *image, size_t image_pitch, const void *alpha, size_t alpha_pitch,
                         int alpha_f32, const unsigned char *background, size_t background_pitch,
                         const unsigned char color[3], int bg_mode, unsigned char *out, size_t out_pitch, int w,
                         int h, int *status, cudaStream_t stream);

/* separable blur of a uint8 [h,w,3] image with a normalised 1-D kernel of 2*radius+1 float taps
 * (device memory), reflect-101 borders like OpenCV; `tmp` is a float32 buffer of w*h*3. */
cudaError_t em_blur(const unsigned char *src, size_t src_pitch, unsigned char *dst, size_t dst_pitch, float *tmp,
                    int w, int h, const float *taps, int radius, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif /* __CUDACC_RTC__ */

#endif /* EM_CUDA_H */
