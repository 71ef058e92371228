/* Compositing on the GPU, bit-identical to the CPU kernel (csrc/composite.c):
 *   a8 = alpha (uint8) or rint(alpha * 255) in float32, ties to even (float32 alpha in [0,1])
 *   t = I*a8 + B*(255 - a8) + 128;  out = (t + (t >> 8)) >> 8   (= round(t' / 255) exactly)
 * so every value is within 1 of round(I*a + B*(1 - a)). NaN or out-of-range float alpha sets a
 * status bit (the caller raises) and reads as 0. Backgrounds: an image, a constant colour, or none
 * (output [H,W,4] = image channels + a8). `out` may be exactly `image` or `background` (in place):
 * each thread reads its pixel before writing it, and no pointer is declared __restrict__.
 * A blurred background comes from em_k_blur_h + em_k_blur_v (separable, reflect-101 borders).
 */
#include "em_cuda.h"

static __device__ __forceinline__ unsigned char em_blend(int i, int b, int a)
{
    int t = i * a + b * (255 - a) + 128;
    return (unsigned char)((t + (t >> 8)) >> 8);
}

/* float alpha -> a8 = rint(a * 255); NaN or outside [0,1] is reported and read as 0 */
static __device__ __forceinline__ int em_alpha_u8(const float *p, int *status)
{
    float a = *p;
    if (!(a >= 0.f && a <= 1.f)) {
        if (status)
            atomicOr(status, a != a ? EM_ERR_NAN : EM_ERR_RANGE);
        return 0;
    }
    return __float2int_rn(a * 255.f);
}

template <int AlphaF32>
static __device__ void em_composite_impl(const unsigned char *image, long long image_pitch, const void *alpha,
                                         long long alpha_pitch, const unsigned char *bg, long long bg_pitch, int c0,
                                         int c1, int c2, int bg_mode, unsigned char *out, long long out_pitch, int w,
                                         int h, int *status)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    const unsigned char *ip = em_row(image, image_pitch, y) + 3 * x;
    int i0 = ip[0], i1 = ip[1], i2 = ip[2];
    int a8 = AlphaF32 ? em_alpha_u8((const float *)em_row(alpha, alpha_pitch, y) + x, status)
                      : (int)em_row(alpha, alpha_pitch, y)[x];
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
        b0 = bp[0];
        b1 = bp[1];
        b2 = bp[2];
    }
    op[0] = em_blend(i0, b0, a8);
    op[1] = em_blend(i1, b1, a8);
    op[2] = em_blend(i2, b2, a8);
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
