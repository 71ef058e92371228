/* Motion-adaptive temporal smoothing (the twin of csrc/temporal.c; contract in csrc/temporal.h).
 *
 * em_k_temporal_weights: one thread per pixel of the coefficients' grid sums the 27 absolute channel
 * differences of its 3x3 neighbourhood (indices clamped) in integers, then the weight in the C code's float
 * operations (bit-exact). It reads `previous` around each pixel, so the guide is copied into it by a second
 * launch, em_k_temporal_keep. em_k_temporal_blend: state = w * state + (1 - w) * values per element, in the
 * CPU build's float steps (products rounded apart: no fused multiply-add), and the known-cell rule of
 * csrc/temporal.h. guide/previous: packed [h,w,3] uint8; weights [h,w], values and state [c,h,w] float32, packed.
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

/* one thread per pixel, every channel; with known_guide (channels 4: the fast guided filter's a0, a1, a2, 255 b)
 * a cell known in values whose smoothed alpha at the guide's colour is within tol of it is set to it exactly */
extern "C" __global__ void em_k_temporal_blend(const float *weights, const float *values, float *state, int w, int h,
                                               int channels, const unsigned char *known_guide, float tol)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h)
        return;
    long long i = (long long)y * w + x, plane = (long long)w * h;
    float wgt = __ldg(weights + i);
    for (int c = 0; c < channels; ++c) {
        long long j = c * plane + i;
        state[j] = __fmul_rn(wgt, state[j]) + __fmul_rn(1.0f - wgt, __ldg(values + j));
    }
    if (known_guide == 0)
        return;
    float k = __ldg(values + 3 * plane + i);
    if (__ldg(values + i) != 0.0f || __ldg(values + plane + i) != 0.0f || __ldg(values + 2 * plane + i) != 0.0f ||
        (k != 0.0f && k != 255.0f))
        return;
    const unsigned char *g = known_guide + 3 * i;
    float alpha = __fmul_rn(state[i], (float)g[0]);
    alpha = __fadd_rn(alpha, __fmul_rn(state[plane + i], (float)g[1]));
    alpha = __fadd_rn(alpha, __fmul_rn(state[2 * plane + i], (float)g[2]));
    alpha = __fadd_rn(alpha, state[3 * plane + i]);
    float off = alpha - k;
    if (off < tol && off > -tol) {
        state[i] = state[plane + i] = state[2 * plane + i] = 0.0f;
        state[3 * plane + i] = k;
    }
}
