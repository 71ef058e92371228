/* Edge controls on a finished alpha (the twin of csrc/edges.c; contract in csrc/edges.h).
 *
 * Each separable operation is two launches: em_k_edges_h reads rows of the alpha into a packed uint8
 * work buffer, em_k_edges_v reads its columns back into the alpha (and, on the last pass, applies the
 * threshold). One thread per pixel, the 2r + 1 taps read directly (indices clamped at the border).
 * op: 0 min (shrink), 1 max (grow), 2 mean (feather: row mean rounded half up, then column mean of
 * those rounded half up, as (sum + r) / (2r + 1)). em_k_edges_cut is the threshold alone.
 */
#include "em_cuda.h"

#define EM_EDGE_MIN 0
#define EM_EDGE_MAX 1
#define EM_EDGE_MEAN 2

static __device__ __forceinline__ int em_clampi(int v, int n) { return v < 0 ? 0 : (v >= n ? n - 1 : v); }

static __device__ __forceinline__ unsigned char em_edge_reduce(const unsigned char *base, long long step, int i,
                                                               int n, int radius, int op)
{
    if (op == EM_EDGE_MEAN) {
        unsigned int sum = 0;
        for (int k = -radius; k <= radius; ++k) sum += __ldg(base + em_clampi(i + k, n) * step);
        return (unsigned char)((sum + (unsigned int)radius) / (unsigned int)(2 * radius + 1));
    }
    unsigned char best = __ldg(base + (long long)i * step);
    for (int k = -radius; k <= radius; ++k) {
        unsigned char v = __ldg(base + em_clampi(i + k, n) * step);
        best = op == EM_EDGE_MAX ? (v > best ? v : best) : (v < best ? v : best);
    }
    return best;
}

/* rows: alpha [h,w] (pitch bytes) -> tmp [h,w] packed */
extern "C" __global__ void em_k_edges_h(const unsigned char *alpha, long long pitch, unsigned char *tmp, int w, int h,
                                        int radius, int op)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    tmp[(long long)y * w + x] = em_edge_reduce(em_row(alpha, pitch, y), 1, x, w, radius, op);
}

/* columns: tmp [h,w] packed -> alpha [h,w]; threshold 1..255 cuts the result (0: none) */
extern "C" __global__ void em_k_edges_v(const unsigned char *tmp, unsigned char *alpha, long long pitch, int w, int h,
                                        int radius, int op, int threshold)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    unsigned char v = em_edge_reduce(tmp + x, (long long)w, y, h, radius, op);
    if (threshold > 0)
        v = v >= threshold ? 255 : 0;
    alpha[(long long)y * pitch + x] = v;
}

extern "C" __global__ void em_k_edges_cut(unsigned char *alpha, long long pitch, int w, int h, int threshold)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    unsigned char *p = alpha + (long long)y * pitch + x;
    *p = *p >= threshold ? 255 : 0;
}
