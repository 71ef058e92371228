/* Bilinear resampling kernels: frame -> model input tensor (preprocess) and model alpha -> frame (upsample).
 *
 * Sampling follows OpenCV's INTER_LINEAR: the source coordinate of output x is (x + 0.5) * src/dst - 0.5,
 * clamped to the first and last pixel. One thread per output pixel.
 */
#include "em_cuda.h"

/* source index pair and weight for output coordinate `d` (OpenCV INTER_LINEAR rule) */
static __device__ __forceinline__ void em_lin_coord(int d, float scale, int src_n, int *i0, int *i1, float *f)
{
    float fs = ((float)d + 0.5f) * scale - 0.5f;
    int s = (int)floorf(fs);
    float w = fs - (float)s;
    if (s < 0) {
        s = 0;
        w = 0.f;
    }
    if (s >= src_n - 1) {
        s = src_n - 1;
        w = 0.f;
    }
    *i0 = s;
    *i1 = s + 1 < src_n ? s + 1 : s;
    *f = w;
}

/* the four source rows/columns and weights of output pixel (x, y) */
struct EmBilinear {
    const unsigned char *r0, *r1; /* source rows y0, y1 */
    int x0, x1;
    float fx, fy;
};

static __device__ __forceinline__ EmBilinear em_bilinear(const void *src, long long pitch, int src_w, int src_h,
                                                         int x, int y, float scale_x, float scale_y)
{
    EmBilinear b;
    int y0, y1;
    em_lin_coord(x, scale_x, src_w, &b.x0, &b.x1, &b.fx);
    em_lin_coord(y, scale_y, src_h, &y0, &y1, &b.fy);
    b.r0 = em_row(src, pitch, y0);
    b.r1 = em_row(src, pitch, y1);
    return b;
}

static __device__ __forceinline__ float em_mix(float p00, float p01, float p10, float p11, float fx, float fy)
{
    float top = p00 * (1.f - fx) + p01 * fx;
    float bot = p10 * (1.f - fx) + p11 * fx;
    return top * (1.f - fy) + bot * fy;
}

template <typename Out> static __device__ __forceinline__ void em_store(Out *p, float v);
template <> __device__ __forceinline__ void em_store<float>(float *p, float v) { *p = v; }
template <> __device__ __forceinline__ void em_store<unsigned short>(unsigned short *p, float v) { *p = em_f2h(v); }

template <typename Out>
static __device__ void em_preprocess_impl(const unsigned char *__restrict__ src, int src_w, int src_h,
                                          long long src_pitch, int src_bgr, Out *__restrict__ dst, int dst_w,
                                          int dst_h, float scale_x, float scale_y, float s0, float s1, float s2,
                                          float b0, float b1, float b2)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= dst_w || y >= dst_h)
        return;
    EmBilinear b = em_bilinear(src, src_pitch, src_w, src_h, x, y, scale_x, scale_y);
    float v[3];
    for (int c = 0; c < 3; ++c)
        v[c] = em_mix(__ldg(b.r0 + 3 * b.x0 + c), __ldg(b.r0 + 3 * b.x1 + c), __ldg(b.r1 + 3 * b.x0 + c),
                      __ldg(b.r1 + 3 * b.x1 + c), b.fx, b.fy);
    float red = src_bgr ? v[2] : v[0], blue = src_bgr ? v[0] : v[2];
    long long plane = (long long)dst_w * dst_h, at = (long long)y * dst_w + x;
    em_store(dst + at, red * s0 + b0);
    em_store(dst + plane + at, v[1] * s1 + b1);
    em_store(dst + 2 * plane + at, blue * s2 + b2);
}

extern "C" __global__ void em_k_preprocess_f32(const unsigned char *src, int src_w, int src_h, long long src_pitch,
                                               int src_bgr, float *dst, int dst_w, int dst_h, float scale_x,
                                               float scale_y, float s0, float s1, float s2, float b0, float b1,
                                               float b2)
{
    em_preprocess_impl<float>(src, src_w, src_h, src_pitch, src_bgr, dst, dst_w, dst_h, scale_x, scale_y, s0, s1,
                              s2, b0, b1, b2);
}

extern "C" __global__ void em_k_preprocess_f16(const unsigned char *src, int src_w, int src_h, long long src_pitch,
                                               int src_bgr, unsigned short *dst, int dst_w, int dst_h,
                                               float scale_x, float scale_y, float s0, float s1, float s2, float b0,
                                               float b1, float b2)
{
    em_preprocess_impl<unsigned short>(src, src_w, src_h, src_pitch, src_bgr, dst, dst_w, dst_h, scale_x, scale_y,
                                       s0, s1, s2, b0, b1, b2);
}

template <typename In> static __device__ __forceinline__ float em_load(const In *p);
template <> __device__ __forceinline__ float em_load<float>(const float *p) { return __ldg(p); }
template <> __device__ __forceinline__ float em_load<unsigned short>(const unsigned short *p)
{
    return em_h2f(__ldg(p));
}

template <typename In>
static __device__ void em_upsample_impl(const In *__restrict__ src, int src_w, int src_h, long long src_pitch,
                                        unsigned char *__restrict__ dst, int dst_w, int dst_h, long long dst_pitch,
                                        float scale_x, float scale_y)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= dst_w || y >= dst_h)
        return;
    EmBilinear b = em_bilinear(src, src_pitch, src_w, src_h, x, y, scale_x, scale_y);
    const In *r0 = (const In *)b.r0, *r1 = (const In *)b.r1;
    float a = em_mix(em_load(r0 + b.x0), em_load(r0 + b.x1), em_load(r1 + b.x0), em_load(r1 + b.x1), b.fx, b.fy);
    a = fminf(fmaxf(a, 0.f), 1.f); /* NaN -> 0: fmaxf returns the non-NaN operand */
    dst[(long long)y * dst_pitch + x] = (unsigned char)__float2int_rn(a * 255.f);
}

extern "C" __global__ void em_k_upsample_alpha_f32(const float *src, int src_w, int src_h, long long src_pitch,
                                                   unsigned char *dst, int dst_w, int dst_h, long long dst_pitch,
                                                   float scale_x, float scale_y)
{
    em_upsample_impl<float>(src, src_w, src_h, src_pitch, dst, dst_w, dst_h, dst_pitch, scale_x, scale_y);
}

extern "C" __global__ void em_k_upsample_alpha_f16(const unsigned short *src, int src_w, int src_h,
                                                   long long src_pitch, unsigned char *dst, int dst_w, int dst_h,
                                                   long long dst_pitch, float scale_x, float scale_y)
{
    em_upsample_impl<unsigned short>(src, src_w, src_h, src_pitch, dst, dst_w, dst_h, dst_pitch, scale_x, scale_y);
}
