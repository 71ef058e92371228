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
            atomicOr(status, x != x ? EM_ERR_NAN : EM_ERR_RANGE);
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
