/* Compositing on the GPU with the CPU kernel's rounding:
 *   uint8 alpha:   out = (I*a + B*(255 - a) + 127) / 255   (integer; exact round(I*a/255 + B*(1 - a/255)))
 *   float32 alpha: out = round(I*a + B*(1 - a)), a clamped to [0,1], NaN reported and read as 0
 * Backgrounds: an image, a constant colour, or none (BGRA-style output: the image channels + alpha).
 * A blurred background comes from em_blur (separable, reflect-101 borders) feeding the image mode.
 */
#include "em_cuda.h"

static __device__ __forceinline__ unsigned char em_blend_u8(int i, int b, int a)
{
    return (unsigned char)((i * a + b * (255 - a) + 127) / 255);
}

static __device__ __forceinline__ unsigned char em_blend_f32(int i, int b, float a)
{
    /* explicit _rn operations: no FMA contraction, so the float rounding matches the C kernel */
    return (unsigned char)__float2int_rn(__fadd_rn(__fmul_rn((float)i, a), __fmul_rn((float)b, __fsub_rn(1.f, a))));
}

/* alpha as uint8 for the 4th channel and as the blend weight */
static __device__ __forceinline__ float em_alpha_f32(const float *p, int *status)
{
    float a = __ldg(p);
    if (a != a) {
        if (status)
            atomicOr(status, EM_STATUS_NAN);
        return 0.f;
    }
    if (a < 0.f || a > 1.f) {
        if (status)
            atomicOr(status, EM_STATUS_RANGE);
        a = fminf(fmaxf(a, 0.f), 1.f);
    }
    return a;
}

template <int AlphaF32>
static __device__ void em_composite_impl(const unsigned char *__restrict__ image, long long image_pitch,
                                         const void *__restrict__ alpha, long long alpha_pitch,
                                         const unsigned char *__restrict__ bg, long long bg_pitch, int c0, int c1,
                                         int c2, int bg_mode, unsigned char *__restrict__ out, long long out_pitch,
                                         int w, int h, int *status)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    const unsigned char *ip = em_row(image, image_pitch, y) + 3 * x;
    int i0 = __ldg(ip), i1 = __ldg(ip + 1), i2 = __ldg(ip + 2);
    float af = 0.f;
    int a8;
    if (AlphaF32) {
        af = em_alpha_f32((const float *)em_row(alpha, alpha_pitch, y) + x, status);
        a8 = __float2int_rn(af * 255.f);
    } else {
        a8 = __ldg(em_row(alpha, alpha_pitch, y) + x);
    }
    unsigned char *op = out + (long long)y * out_pitch + (bg_mode == EM_BG_NONE ? 4 : 3) * x;
    if (bg_mode == EM_BG_NONE) {
        op[0] = (unsigned char)i0;
        op[1] = (unsigned char)i1;
        op[2] = (unsigned char)i2;
        op[3] = (unsigned char)a8;
        return;
    }
    int b0 = c0, b1 = c1, b2 = c2;
    if (bg_mode == EM_BG_IMAGE) {
        const unsigned char *bp = em_row(bg, bg_pitch, y) + 3 * x;
        b0 = __ldg(bp);
        b1 = __ldg(bp + 1);
        b2 = __ldg(bp + 2);
    }
    if (AlphaF32) {
        op[0] = em_blend_f32(i0, b0, af);
        op[1] = em_blend_f32(i1, b1, af);
        op[2] = em_blend_f32(i2, b2, af);
    } else {
        op[0] = em_blend_u8(i0, b0, a8);
        op[1] = em_blend_u8(i1, b1, a8);
        op[2] = em_blend_u8(i2, b2, a8);
    }
}

extern "C" __global__ void em_k_composite_u8(const unsigned char *image, long long image_pitch,
                                             const unsigned char *alpha, long long alpha_pitch,
                                             const unsigned char *bg, long long bg_pitch, int c0, int c1, int c2,
                                             int bg_mode, unsigned char *out, long long out_pitch, int w, int h,
                                             int *status)
{
    em_composite_impl<0>(image, image_pitch, alpha, alpha_pitch, bg, bg_pitch, c0, c1, c2, bg_mode, out, out_pitch,
                         w, h, status);
}

extern "C" __global__ void em_k_composite_f32(const unsigned char *image, long long image_pitch, const float *alpha,
                                              long long alpha_pitch, const unsigned char *bg, long long bg_pitch,
                                              int c0, int c1, int c2, int bg_mode, unsigned char *out,
                                              long long out_pitch, int w, int h, int *status)
{
    em_composite_impl<1>(image, image_pitch, alpha, alpha_pitch, bg, bg_pitch, c0, c1, c2, bg_mode, out, out_pitch,
                         w, h, status);
}

/* reflect-101 index (OpenCV BORDER_DEFAULT): -1 -> 1, n -> n-2; n == 1 -> 0 */
static __device__ __forceinline__ int em_reflect101(int i, int n)
{
    if (n == 1)
        return 0;
    while (i < 0 || i >= n)
        i = i < 0 ? -i : 2 * n - 2 - i;
    return i;
}

/* horizontal pass: uint8 [h,w,3] -> float32 [h,w,3] (packed rows) */
extern "C" __global__ void em_k_blur_h(const unsigned char *src, long long src_pitch, float *tmp, int w, int h,
                                       const float *taps, int radius)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    const unsigned char *row = em_row(src, src_pitch, y);
    float s0 = 0.f, s1 = 0.f, s2 = 0.f;
    for (int k = -radius; k <= radius; ++k) {
        const unsigned char *p = row + 3 * em_reflect101(x + k, w);
        float t = __ldg(taps + k + radius);
        s0 += t * (float)__ldg(p);
        s1 += t * (float)__ldg(p + 1);
        s2 += t * (float)__ldg(p + 2);
    }
    float *o = tmp + ((long long)y * w + x) * 3;
    o[0] = s0;
    o[1] = s1;
    o[2] = s2;
}

/* vertical pass: float32 [h,w,3] -> uint8 [h,w,3], rounded and saturated */
extern "C" __global__ void em_k_blur_v(const float *tmp, unsigned char *dst, long long dst_pitch, int w, int h,
                                       const float *taps, int radius)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    float s0 = 0.f, s1 = 0.f, s2 = 0.f;
    for (int k = -radius; k <= radius; ++k) {
        const float *p = tmp + ((long long)em_reflect101(y + k, h) * w + x) * 3;
        float t = __ldg(taps + k + radius);
        s0 += t * __ldg(p);
        s1 += t * __ldg(p + 1);
        s2 += t * __ldg(p + 2);
    }
    unsigned char *o = dst + (long long)y * dst_pitch + 3 * x;
    o[0] = (unsigned char)min(max(__float2int_rn(s0), 0), 255);
    o[1] = (unsigned char)min(max(__float2int_rn(s1), 0), 255);
    o[2] = (unsigned char)min(max(__float2int_rn(s2), 0), 255);
}

#ifndef __CUDACC_RTC__
extern "C" cudaError_t em_composite(const unsigned char *image, size_t image_pitch, const void *alpha,
                                    size_t alpha_pitch, int alpha_f32, const unsigned char *background,
                                    size_t background_pitch, const unsigned char color[3], int bg_mode,
                                    unsigned char *out, size_t out_pitch, int w, int h, int *status,
                                    cudaStream_t stream)
{
    int channels = bg_mode == EM_BG_NONE ? 4 : 3;
    if (!image || !alpha || !out || w <= 0 || h <= 0 || bg_mode < EM_BG_IMAGE || bg_mode > EM_BG_NONE ||
        (bg_mode == EM_BG_IMAGE && (!background || background_pitch < (size_t)w * 3)) ||
        (bg_mode == EM_BG_COLOR && !color) || image_pitch < (size_t)w * 3 ||
        alpha_pitch < (size_t)w * (alpha_f32 ? 4 : 1) || out_pitch < (size_t)w * channels)
        return cudaErrorInvalidValue;
    int c0 = bg_mode == EM_BG_COLOR ? color[0] : 0, c1 = bg_mode == EM_BG_COLOR ? color[1] : 0,
        c2 = bg_mode == EM_BG_COLOR ? color[2] : 0;
    dim3 block(EM_BLOCK_X, EM_BLOCK_Y);
    dim3 grid((unsigned)((w + EM_BLOCK_X - 1) / EM_BLOCK_X), (unsigned)((h + EM_BLOCK_Y - 1) / EM_BLOCK_Y));
    if (alpha_f32)
        em_k_composite_f32<<<grid, block, 0, stream>>>(image, (long long)image_pitch, (const float *)alpha,
                                                       (long long)alpha_pitch, background,
                                                       (long long)background_pitch, c0, c1, c2, bg_mode, out,
                                                       (long long)out_pitch, w, h, status);
    else
        em_k_composite_u8<<<grid, block, 0, stream>>>(image, (long long)image_pitch, (const unsigned char *)alpha,
                                                      (long long)alpha_pitch, background,
                                                      (long long)background_pitch, c0, c1, c2, bg_mode, out,
                                                      (long long)out_pitch, w, h, status);
    return cudaGetLastError();
}

extern "C" cudaError_t em_blur(const unsigned char *src, size_t src_pitch, unsigned char *dst, size_t dst_pitch,
                               float *tmp, int w, int h, const float *taps, int radius, cudaStream_t stream)
{
    if (!src || !dst || !tmp || !taps || w <= 0 || h <= 0 || radius < 0 || src_pitch < (size_t)w * 3 ||
        dst_pitch < (size_t)w * 3)
        return cudaErrorInvalidValue;
    dim3 block(EM_BLOCK_X, EM_BLOCK_Y);
    dim3 grid((unsigned)((w + EM_BLOCK_X - 1) / EM_BLOCK_X), (unsigned)((h + EM_BLOCK_Y - 1) / EM_BLOCK_Y));
    em_k_blur_h<<<grid, block, 0, stream>>>(src, (long long)src_pitch, tmp, w, h, taps, radius);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        return err;
    em_k_blur_v<<<grid, block, 0, stream>>>(tmp, dst, (long long)dst_pitch, w, h, taps, radius);
    return cudaGetLastError();
}
#endif
