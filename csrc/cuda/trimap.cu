/* make_trimap on the GPU, bit-identical to the CPU kernel and to OpenCV:
 *   255 where cv2.erode(mask, ellipse(k), iterations) >= fg_threshold,
 *   0   where cv2.dilate(mask, ellipse(k), iterations) <= bg_threshold, 128 elsewhere.
 *
 * Thresholds commute with min/max, so the trimap is two binary erosions with the same element:
 * FG = erode(mask >= fg) and BG = erode(mask <= bg) (dilate(m) <= t  <=>  every neighbour <= t).
 * Both bits live in one byte and one pass ANDs the byte over the ellipse. Like OpenCV's default
 * border (erode sees 255 outside, dilate 0), pixels outside the image never clear a bit. Each of
 * the `iterations` passes re-applies the element, exactly as cv2 iterates.
 */
#include "em_cuda.h"

/* half-width of row dy of cv2.getStructuringElement(MORPH_ELLIPSE, (k, k)), r = k / 2:
 * round-half-even(r * sqrt((r*r - dy*dy) / (r*r))) in double, as OpenCV computes it */
static __device__ __forceinline__ int em_ellipse_half_width(int r, int dy)
{
    if (r == 0)
        return 0;
    double inv_r2 = 1.0 / ((double)r * r);
    return __double2int_rn((double)r * sqrt((double)(r * r - dy * dy) * inv_r2));
}

static __device__ __forceinline__ unsigned char em_state_u8(unsigned char v, int fg_t, int bg_t)
{
    return (unsigned char)((v >= fg_t ? EM_TRIMAP_FG : 0) | (v <= bg_t ? EM_TRIMAP_BG : 0));
}

template <typename In> static __device__ __forceinline__ unsigned char em_load_state(const In *p, int flags, int fg_t,
                                                                                     int bg_t, int *status);

template <>
__device__ __forceinline__ unsigned char em_load_state<unsigned char>(const unsigned char *p, int flags, int fg_t,
                                                                      int bg_t, int *status)
{
    unsigned char v = __ldg(p);
    return (flags & EM_TRIMAP_THRESHOLD) ? em_state_u8(v, fg_t, bg_t) : v;
}

/* float mask 0..1 read as rint(x * 255) in float32 (ties to even), as the CPU kernel;
 * NaN or a value outside [0,1] is reported and read as 0 */
template <>
__device__ __forceinline__ unsigned char em_load_state<float>(const float *p, int flags, int fg_t, int bg_t,
                                                              int *status)
{
    float x = __ldg(p);
    if (!(x >= 0.f && x <= 1.f)) {
        if (status)
            atomicOr(status, x != x ? EM_STATUS_NAN : EM_STATUS_RANGE);
        x = 0.f;
    }
    return em_state_u8((unsigned char)__float2int_rn(x * 255.f), fg_t, bg_t);
}

static __device__ __forceinline__ unsigned char em_trimap_value(unsigned char s)
{
    /* background wins if both bits survive (only possible when bg_threshold >= fg_threshold) */
    return (s & EM_TRIMAP_BG) ? 0 : ((s & EM_TRIMAP_FG) ? 255 : 128);
}

/* One erosion pass with the ellipse of radius r. Block EM_BLOCK_X x EM_BLOCK_Y, one pixel per thread.
 * Dynamic shared memory: (2r+1) ints of row half-widths, then, when `tiled`, the source tile with
 * its halo. Launch with r <= EM_TRIMAP_TILE_MAX_RADIUS for the tiled path. */
template <typename In>
static __device__ void em_trimap_pass_impl(const In *__restrict__ src, long long src_pitch,
                                           unsigned char *__restrict__ dst, long long dst_pitch, int w, int h, int r,
                                           int flags, int fg_t, int bg_t, int tiled, int *status)
{
    extern __shared__ int em_smem[];
    int *half = em_smem;
    unsigned char *tile = (unsigned char *)(em_smem + 2 * r + 1);
    int tid = threadIdx.y * blockDim.x + threadIdx.x, nthreads = blockDim.x * blockDim.y;
    for (int i = tid; i <= 2 * r; i += nthreads)
        half[i] = em_ellipse_half_width(r, i - r);

    int x0 = blockIdx.x * blockDim.x, y0 = blockIdx.y * blockDim.y;
    int tw = blockDim.x + 2 * r, th = blockDim.y + 2 * r;
    if (tiled) {
        for (int i = tid; i < tw * th; i += nthreads) {
            int gx = x0 - r + i % tw, gy = y0 - r + i / tw;
            unsigned char s = EM_TRIMAP_FG | EM_TRIMAP_BG; /* outside never clears a bit */
            if (gx >= 0 && gx < w && gy >= 0 && gy < h)
                s = em_load_state((const In *)em_row(src, src_pitch, gy) + gx, flags, fg_t, bg_t, status);
            tile[i] = s;
        }
    }
    __syncthreads();

    int x = x0 + threadIdx.x, y = y0 + threadIdx.y;
    if (x >= w || y >= h)
        return;
    unsigned char acc = EM_TRIMAP_FG | EM_TRIMAP_BG;
    for (int dy = -r; dy <= r && acc; ++dy) {
        int yy = y + dy, hw = half[dy + r];
        if (yy < 0 || yy >= h)
            continue;
        int xa = x - hw < 0 ? 0 : x - hw, xb = x + hw >= w ? w - 1 : x + hw;
        if (tiled) {
            const unsigned char *t = tile + (threadIdx.y + r + dy) * tw + (threadIdx.x + r);
            for (int xx = xa; xx <= xb; ++xx)
                acc &= t[xx - x];
        } else {
            const In *row = (const In *)em_row(src, src_pitch, yy);
            for (int xx = xa; xx <= xb && acc; ++xx)
                acc &= em_load_state(row + xx, flags, fg_t, bg_t, status);
        }
    }
    dst[(long long)y * dst_pitch + x] = (flags & EM_TRIMAP_FINAL) ? em_trimap_value(acc) : acc;
}

extern "C" __global__ void em_k_trimap_pass_u8(const unsigned char *src, long long src_pitch, unsigned char *dst,
                                               long long dst_pitch, int w, int h, int r, int flags, int fg_t,
                                               int bg_t, int tiled, int *status)
{
    em_trimap_pass_impl<unsigned char>(src, src_pitch, dst, dst_pitch, w, h, r, flags, fg_t, bg_t, tiled, status);
}

extern "C" __global__ void em_k_trimap_pass_f32(const float *src, long long src_pitch, unsigned char *dst,
                                                long long dst_pitch, int w, int h, int r, int flags, int fg_t,
                                                int bg_t, int tiled, int *status)
{
    em_trimap_pass_impl<float>(src, src_pitch, dst, dst_pitch, w, h, r, flags, fg_t, bg_t, tiled, status);
}

#ifndef __CUDACC_RTC__
/* the radius and the shared memory of each pass; the Python launcher mirrors this */
static size_t em_trimap_smem(int r, int *tiled)
{
    *tiled = r <= EM_TRIMAP_TILE_MAX_RADIUS;
    size_t bytes = (size_t)(2 * r + 1) * sizeof(int);
    if (*tiled)
        bytes += (size_t)(EM_BLOCK_X + 2 * r) * (EM_BLOCK_Y + 2 * r);
    return bytes;
}

extern "C" cudaError_t em_make_trimap(const void *mask, size_t mask_pitch, int mask_f32, unsigned char *out,
                                      size_t out_pitch, unsigned char *work, int w, int h, int kernel_size,
                                      int iterations, int fg_threshold, int bg_threshold, int *status,
                                      cudaStream_t stream)
{
    if (!mask || !out || w <= 0 || h <= 0 || kernel_size < 1 || kernel_size % 2 == 0 || iterations < 0 ||
        (iterations > 1 && !work) || mask_pitch < (size_t)w * (mask_f32 ? 4 : 1) || out_pitch < (size_t)w)
        return cudaErrorInvalidValue;
    int r = iterations > 0 ? kernel_size / 2 : 0, passes = iterations > 0 ? iterations : 1, tiled;
    size_t smem = em_trimap_smem(r, &tiled);
    dim3 block(EM_BLOCK_X, EM_BLOCK_Y);
    dim3 grid((unsigned)((w + EM_BLOCK_X - 1) / EM_BLOCK_X), (unsigned)((h + EM_BLOCK_Y - 1) / EM_BLOCK_Y));
    const void *src = mask;
    size_t src_pitch = mask_pitch;
    for (int p = 1; p <= passes; ++p) {
        /* the last pass writes `out`; earlier passes alternate so that it does */
        int to_out = (passes - p) % 2 == 0;
        unsigned char *dst = to_out ? out : work;
        size_t dst_pitch = to_out ? out_pitch : (size_t)w;
        int flags = (p == 1 ? EM_TRIMAP_THRESHOLD : 0) | (p == passes ? EM_TRIMAP_FINAL : 0);
        if (p == 1 && mask_f32)
            em_k_trimap_pass_f32<<<grid, block, smem, stream>>>((const float *)src, (long long)src_pitch, dst,
                                                                (long long)dst_pitch, w, h, r, flags, fg_threshold,
                                                                bg_threshold, tiled, status);
        else
            em_k_trimap_pass_u8<<<grid, block, smem, stream>>>((const unsigned char *)src, (long long)src_pitch, dst,
                                                               (long long)dst_pitch, w, h, r, flags, fg_threshold,
                                                               bg_threshold, tiled, status);
        cudaError_t err = cudaGetLastError();
        if (err != cudaSuccess)
            return err;
        src = dst;
        src_pitch = dst_pitch;
    }
    return cudaSuccess;
}
#endif
