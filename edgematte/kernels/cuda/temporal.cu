/* Motion-adaptive temporal smoothing (the twin of csrc/temporal.c; contract in csrc/temporal.h).
 *
 * em_k_temporal_weights: one thread per pixel of the coefficients' grid sums the 27 absolute channel
 * differences of its 3x3 neighbourhood (indices clamped) in integers, then the weight in the C code's float
 * operations (bit-exact). It reads `previous` around each pixel, so the guide is copied into it by a second
 * launch, em_k_temporal_keep. em_k_temporal_blend: state = w * state + (1 - w) * values per element (within
 * float rounding of the CPU build: the compiler may fuse the multiply-add). guide/previous: packed [h,w,3] uint8;
 * weights [h,w], values and state [c,h,w] float32, packed.
 */
#include "em_cuda.h"

static __device__ __forceinline__ int em_tclamp(int v, int n) { return v < 0 ? 0 : (v >= n ? n - 1 : v); }

extern "C" __global__ void em_k_temporal_weights(const unsigned char *guide, const unsigned char *previous,
                                                 float *weights, int w, int h, float strength, float still,
                                                 float moving)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    int sum = 0;
    for (int dy = -1; dy <= 1; ++dy) {
        int yy = em_tclamp(y + dy, h);
        for (int dx = -1; dx <= 1; ++dx) {
            long long i = 3 * ((long long)yy * w + em_tclamp(x + dx, w));
            for (int c = 0; c < 3; ++c) sum += abs((int)__ldg(guide + i + c) - (int)__ldg(previous + i + c));
        }
    }
    float inv_span = 1.0f / (moving - still);
    float d = (float)sum * (1.0f / 27.0f);
    float t = (moving - d) * inv_span;
    t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    weights[(long long)y * w + x] = strength * t;
}

extern "C" __global__ void em_k_temporal_keep(const unsigned char *guide, unsigned char *previous, int w, int h)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    long long i = 3 * ((long long)y * w + x);
    previous[i] = guide[i];
    previous[i + 1] = guide[i + 1];
    previous[i + 2] = guide[i + 2];
}

/* grid over (w, h * channels) */
extern "C" __global__ void em_k_temporal_blend(const float *weights, const float *values, float *state, int w, int h,
                                               int channels)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h * channels)
        return;
    long long i = (long long)y * w + x;
    float wgt = __ldg(weights + (long long)(y % h) * w + x);
    state[i] = wgt * state[i] + (1.0f - wgt) * __ldg(values + i);
}
