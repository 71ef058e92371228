/* The pipeline's own stages on the GPU (edgematte.pipeline.cuda.CudaSpace), one thread per output pixel:
 *
 *   em_k_resize_u8        uint8 [H,W,C] bilinear, OpenCV's INTER_LINEAR in fixed point (bit-exact to cv2.resize)
 *   em_k_area_u8          uint8 [H,W,3] mean of k x k blocks (the "blur" background's 1/8; the fit's 1/2)
 *   em_k_area_f32         float [H,W] mean of k x k blocks (the fit's alpha)
 *   em_k_planes_u8_f32/16 float planes [C,H,W] 0..1 -> uint8 [H,W] (C=1) or [H,W,3] BGR from RGB (C=3)
 *   em_k_fit_ab           the fast guided filter's per-pixel linear model a . I + b over a (2r+1)^2 window
 *   em_k_fit_coef         ... averaged over the mean window, known regions exactly 0/255: the coefficients
 *   em_k_fit_blur         one blur-fusion pass (foreground and background colour estimates)
 *   em_k_guided_apply     the "fast" full-resolution pass: alpha, and the foreground (csrc/guided.c's twin)
 *   em_k_temporal_*       motion-weighted temporal smoothing of the model step's outputs, and of RVM's full-resolution
 *                         alpha (csrc/temporal.c's twin)
 *   em_k_edges_*          edge controls on the finished alpha: grow/shrink, feather, hard cut (csrc/edges.c's twin)
 *
 * Every kernel body sits in an EM_FOR_PIXELS block: on the GPU it guards the thread's pixel, compiled as
 * C++ on the CPU (the tests, with tests/kernels/cuda_on_cpu.h) it loops over the pixels, so the tests run the
 * same source against the CPU kernels and OpenCV. Fit-level planes are packed [C][h][w] float.
 */
#include "em_cuda.h"

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define EM_FOR_PIXELS(w, h)                                                                                   \
    const int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;         \
    if (x < (w) && y < (h))
#define EM_RN_MUL(a, b) __fmul_rn((a), (b))
#define EM_RN_ADD(a, b) __fadd_rn((a), (b))
#define EM_RN_SUB(a, b) __fsub_rn((a), (b))
#define EM_RN_DIV(a, b) __fdiv_rn((a), (b))
#define EM_RN_DMUL(a, b) __dmul_rn((a), (b))
#define EM_RN_DADD(a, b) __dadd_rn((a), (b))
#endif

#define EM_BACKGROUND_VARIANCE_RATIO 4.0f /* csrc/guided.h's (not shipped in the package); a test ties them */

static __device__ __forceinline__ int em_imin(int a, int b) { return a < b ? a : b; }
static __device__ __forceinline__ int em_imax(int a, int b) { return a > b ? a : b; }

/* OpenCV's INTER_LINEAR source pair and 11-bit weights of output coordinate d (scale = src/dst):
 * columns clamp their weight at the edges, rows clamp only the row index. */
static __device__ __forceinline__ void em_cv_tap(int d, double scale, int n, int columns, int *i0, int *i1, int *w0,
                                                 int *w1)
{
    float f = (float)(((double)d + 0.5) * scale - 0.5);
    int s = (int)floorf(f);
    f -= (float)s;
    if (columns && s < 0) {
        s = 0;
        f = 0.f;
    }
    if (columns && s >= n - 1) {
        s = n - 1;
        f = 0.f;
    }
    *i0 = em_imin(em_imax(s, 0), n - 1);
    *i1 = em_imin(em_imax(s + 1, 0), n - 1);
    *w0 = __float2int_rn((1.f - f) * 2048.f);
    *w1 = __float2int_rn(f * 2048.f);
}

extern "C" __global__ void em_k_resize_u8(const unsigned char *src, long long src_pitch, int src_w, int src_h,
                                          unsigned char *dst, long long dst_pitch, int dst_w, int dst_h, int channels,
                                          double scale_x, double scale_y)
{
    EM_FOR_PIXELS(dst_w, dst_h)
    {
        int x0, x1, a0, a1, y0, y1, b0, b1;
        em_cv_tap(x, scale_x, src_w, 1, &x0, &x1, &a0, &a1);
        em_cv_tap(y, scale_y, src_h, 0, &y0, &y1, &b0, &b1);
        const unsigned char *r0 = src + y0 * src_pitch, *r1 = src + y1 * src_pitch;
        for (int c = 0; c < channels; ++c) {
            const int h0 = ((int)r0[x0 * channels + c] * a0 + (int)r0[x1 * channels + c] * a1) >> 4;
            const int h1 = ((int)r1[x0 * channels + c] * a0 + (int)r1[x1 * channels + c] * a1) >> 4;
            const int t = (((h0 * b0) >> 16) + ((h1 * b1) >> 16) + 2) >> 2;
            dst[y * dst_pitch + x * channels + c] = (unsigned char)(t < 0 ? 0 : (t > 255 ? 255 : t));
        }
    }
}

/* OpenCV's INTER_AREA source taps along one axis for output index d (computeResizeAreaTab): the source pixels
 * the output's cell [d scale, (d + 1) scale) covers, each with its share of the cell. Calls tap(i, weight). */
template <typename Tap>
static __device__ __forceinline__ void em_area_taps(int d, double scale, int n, const Tap &tap)
{
    const double f1 = d * scale, f2 = f1 + scale, cell = scale < n - f1 ? scale : n - f1;
    int s2 = em_imin((int)floor(f2), n - 1);
    const int s1 = em_imin((int)ceil(f1), s2);
    if (s1 - f1 > 1e-3) tap(s1 - 1, (float)((s1 - f1) / cell));
    for (int i = s1; i < s2; ++i) tap(i, (float)(1.0 / cell));
    if (f2 - s2 > 1e-3) tap(s2, (float)((f2 - s2 < 1. ? (f2 - s2 < cell ? f2 - s2 : cell) : (1. < cell ? 1. : cell)) / cell));
}

template <typename T> struct EmAreaRow {
    const T *row;
    int channels, c;
    float *acc;
    __device__ void operator()(int i, float weight) const { *acc = EM_RN_ADD(*acc, EM_RN_MUL((float)row[i * channels + c], weight)); }
};

template <typename T> struct EmAreaCol {
    const unsigned char *src;
    long long pitch;
    double scale_x;
    int x, src_w, channels, c;
    float *sum;
    int *first;
    __device__ void operator()(int i, float beta) const
    {
        float buf = 0.f;
        em_area_taps(x, scale_x, src_w, EmAreaRow<T>{(const T *)(src + i * pitch), channels, c, &buf});
        *sum = *first ? EM_RN_MUL(beta, buf) : EM_RN_ADD(*sum, EM_RN_MUL(beta, buf));
        *first = 0;
    }
};

static __device__ __forceinline__ void em_area_out(unsigned char *o, float sum, int whole, int kx, int ky, int integral)
{
    const int v = !integral ? __float2int_rn(sum)
                            : (kx == 2 && ky == 2 ? (whole + 2) >> 2 : __float2int_rn(EM_RN_MUL((float)whole, 1.f / (float)(kx * ky))));
    *o = (unsigned char)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

static __device__ __forceinline__ void em_area_out(float *o, float sum, int whole, int kx, int ky, int integral)
{
    *o = integral ? EM_RN_MUL(sum, 1.f / (float)(kx * ky)) : sum;
}

/* cv2.resize(..., INTER_AREA) for downscaling: whole k x k blocks when the scales are integers (OpenCV's fast path:
 * (s + 2) >> 2 for 2x2 uint8, s / k^2 rounded for larger uint8 blocks, row sums (a + b) + (c + d) times 1/k^2 for
 * float), else the weighted cells of its tables, in its float operation order. */
template <typename T>
static __device__ __forceinline__ void em_area(const unsigned char *src, long long src_pitch, int src_w, int src_h,
                                               T *dst, long long dst_pitch, int dst_w, int dst_h, int channels,
                                               double scale_x, double scale_y, int integral)
{
    EM_FOR_PIXELS(dst_w, dst_h)
    {
        T *out = (T *)((unsigned char *)dst + y * dst_pitch) + x * channels;
        const int kx = (int)scale_x, ky = (int)scale_y;
        for (int c = 0; c < channels; ++c) {
            float sum = 0.f;
            int whole = 0;
            if (integral) {
                for (int i = 0; i < ky; ++i) {
                    const T *row = (const T *)(src + (y * ky + i) * src_pitch) + x * kx * channels + c;
                    float part = (float)row[0];
                    whole += (int)row[0];
                    for (int j = 1; j < kx; ++j) {
                        part = EM_RN_ADD(part, (float)row[j * channels]);
                        whole += (int)row[j * channels];
                    }
                    sum = i ? EM_RN_ADD(sum, part) : part;
                }
            } else {
                int first = 1;
                em_area_taps(y, scale_y, src_h, EmAreaCol<T>{src, src_pitch, scale_x, x, src_w, channels, c, &sum, &first});
            }
            em_area_out(out + c, sum, whole, kx, ky, integral);
        }
    }
}

extern "C" __global__ void em_k_area_u8(const unsigned char *src, long long src_pitch, int src_w, int src_h,
                                        unsigned char *dst, long long dst_pitch, int dst_w, int dst_h, int channels,
                                        double scale_x, double scale_y, int integral)
{
    em_area<unsigned char>(src, src_pitch, src_w, src_h, dst, dst_pitch, dst_w, dst_h, channels, scale_x, scale_y,
                           integral);
}

extern "C" __global__ void em_k_area_f32(const float *src, long long src_pitch, int src_w, int src_h, float *dst,
                                         long long dst_pitch, int dst_w, int dst_h, int channels, double scale_x,
                                         double scale_y, int integral)
{
    em_area<float>((const unsigned char *)src, src_pitch, src_w, src_h, dst, dst_pitch, dst_w, dst_h, channels,
                   scale_x, scale_y, integral);
}

/* 0..1 -> 0..255 rounded half to even; NaN -> 0 (edgematte's float-to-uint8 rule) */
static __device__ __forceinline__ unsigned char em_unit_u8(float v)
{
    v = v > 0.f ? (v < 1.f ? v : 1.f) : 0.f;
    return (unsigned char)__float2int_rn(v * 255.f);
}

template <typename T> static __device__ __forceinline__ float em_value(const T *p);
template <> __device__ __forceinline__ float em_value<float>(const float *p) { return *p; }
template <> __device__ __forceinline__ float em_value<unsigned short>(const unsigned short *p) { return em_h2f(*p); }

template <typename T>
static __device__ __forceinline__ void em_planes_u8(const T *planes, int channels, unsigned char *dst, int w, int h)
{
    EM_FOR_PIXELS(w, h)
    {
        const long long plane = (long long)w * h, at = (long long)y * w + x;
        for (int c = 0; c < channels; ++c) /* RGB planes -> BGR pixels */
            dst[at * channels + c] = em_unit_u8(em_value(planes + (channels - 1 - c) * plane + at));
    }
}

extern "C" __global__ void em_k_planes_u8_f32(const float *planes, int channels, unsigned char *dst, int w, int h)
{
    em_planes_u8<float>(planes, channels, dst, w, h);
}

extern "C" __global__ void em_k_planes_u8_f16(const unsigned short *planes, int channels, unsigned char *dst, int w,
                                              int h)
{
    em_planes_u8<unsigned short>(planes, channels, dst, w, h);
}

/* -- the "fast" fit at the fitting level, as csrc/guided.c computes it (same roundings, per pixel) ------------ */

/* guided.c's box_mean_planes at one pixel: the mean of plane(xx, yy) over the clipped (2r+1)^2 window. r <= 3:
 * float sums down the rows, then along the zero-padded row, times 1/height then 1/width; r > 3: double (exact)
 * sums down the columns rounded to float, then across them, times 1/height 1/width. */
template <typename Plane>
static __device__ float em_box(const Plane &plane, int x, int y, int w, int h, int r)
{
    const int y0 = em_imax(y - r, 0), y1 = em_imin(y + r, h - 1);
    const float inv_y = 1.f / (float)(y1 - y0 + 1);
    const float inv_x = 1.f / (float)(em_imin(x + r, w - 1) - em_imax(x - r, 0) + 1);
    if (r > 3) {
        double across = 0.0;
        for (int xx = em_imax(x - r, 0); xx <= em_imin(x + r, w - 1); ++xx) {
            double down = 0.0;
            for (int yy = y0; yy <= y1; ++yy) down += (double)plane(xx, yy);
            across += (double)(float)down;
        }
        return EM_RN_MUL((float)across, EM_RN_MUL(inv_y, inv_x));
    }
    float sum = 0.f;
    for (int d = 0; d <= 2 * r; ++d) {
        const int xx = x - r + d;
        float column = 0.f;
        if (xx >= 0 && xx < w) {
            column = plane(xx, y0);
            for (int yy = y0 + 1; yy <= y1; ++yy) column = EM_RN_ADD(column, plane(xx, yy));
        }
        sum = d ? EM_RN_ADD(sum, column) : column;
    }
    return EM_RN_MUL(EM_RN_MUL(sum, inv_y), inv_x);
}

/* The 13 planes of the coefficient fit: I0 I1 I2 (the BGR channels / 255), p, I0I0 I0I1 I0I2 I1I1 I1I2 I2I2,
 * I0p I1p I2p */
struct EmFitPlane {
    const unsigned char *image;
    const float *alpha;
    int w, k;
    __device__ float value(int c, long long q) const
    {
        return c < 3 ? EM_RN_MUL((float)image[3 * q + c], 1.0f / 255) : alpha[q];
    }
    __device__ float operator()(int xx, int yy) const
    {
        const int pairs[9][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 2}, {2, 2}, {0, 3}, {1, 3}, {2, 3}};
        const long long q = (long long)yy * w + xx;
        return k < 4 ? value(k, q) : EM_RN_MUL(value(pairs[k - 4][0], q), value(pairs[k - 4][1], q));
    }
};

struct EmPlaneAt {
    const float *p;
    int w;
    __device__ float operator()(int xx, int yy) const { return p[(long long)yy * w + xx]; }
};

static __device__ __forceinline__ double em_dmul(double a, double b) { return EM_RN_DMUL(a, b); }
static __device__ __forceinline__ double em_dsub(double a, double b) { return EM_RN_DADD(a, -b); }

/* a = (Sigma + eps U)^-1 cov(I, p), b = mean(p) - a . mean(I) over the clipped (2r+1)^2 window, I = image / 255
 * (uint8 [h,w,3], BGR), p = alpha (float [h,w]): into ab [4][h][w] (a0 a1 a2 b; b on the 0..1 scale). */
extern "C" __global__ void em_k_fit_ab(const unsigned char *image, const float *alpha, float *ab, int w, int h, int r,
                                       double eps)
{
    EM_FOR_PIXELS(w, h)
    {
        double pl[13];
        for (int k = 0; k < 13; ++k) pl[k] = em_box(EmFitPlane{image, alpha, w, k}, x, y, w, h, r);
        const double m0 = pl[0], m1 = pl[1], m2 = pl[2], mp = pl[3];
        const double q0 = em_dsub(pl[10], em_dmul(m0, mp)), q1 = em_dsub(pl[11], em_dmul(m1, mp));
        const double q2 = em_dsub(pl[12], em_dmul(m2, mp));
        /* em_linalg.h's em_inverse_sym3 */
        const double c00 = EM_RN_DADD(em_dsub(pl[4], em_dmul(m0, m0)), eps), c01 = em_dsub(pl[5], em_dmul(m0, m1));
        const double c02 = em_dsub(pl[6], em_dmul(m0, m2)), c11 = EM_RN_DADD(em_dsub(pl[7], em_dmul(m1, m1)), eps);
        const double c12 = em_dsub(pl[8], em_dmul(m1, m2)), c22 = EM_RN_DADD(em_dsub(pl[9], em_dmul(m2, m2)), eps);
        const double d00 = em_dsub(em_dmul(c11, c22), em_dmul(c12, c12));
        const double d01 = em_dsub(em_dmul(c02, c12), em_dmul(c01, c22));
        const double d02 = em_dsub(em_dmul(c01, c12), em_dmul(c02, c11));
        const double det = EM_RN_DADD(EM_RN_DADD(em_dmul(c00, d00), em_dmul(c01, d01)), em_dmul(c02, d02));
        const double inv = 1.0 / det;
        const double i00 = em_dmul(d00, inv), i01 = em_dmul(d01, inv), i02 = em_dmul(d02, inv);
        const double i11 = em_dmul(em_dsub(em_dmul(c00, c22), em_dmul(c02, c02)), inv);
        const double i12 = em_dmul(em_dsub(em_dmul(c01, c02), em_dmul(c00, c12)), inv);
        const double i22 = em_dmul(em_dsub(em_dmul(c00, c11), em_dmul(c01, c01)), inv);
        const double a0 = EM_RN_DADD(EM_RN_DADD(em_dmul(i00, q0), em_dmul(i01, q1)), em_dmul(i02, q2));
        const double a1 = EM_RN_DADD(EM_RN_DADD(em_dmul(i01, q0), em_dmul(i11, q1)), em_dmul(i12, q2));
        const double a2 = EM_RN_DADD(EM_RN_DADD(em_dmul(i02, q0), em_dmul(i12, q1)), em_dmul(i22, q2));
        const long long plane = (long long)w * h, at = (long long)y * w + x;
        ab[at] = (float)a0, ab[plane + at] = (float)a1, ab[2 * plane + at] = (float)a2;
        ab[3 * plane + at] = (float)em_dsub(em_dsub(em_dsub(mp, em_dmul(a0, m0)), em_dmul(a1, m1)), em_dmul(a2, m2));
    }
}

/* The coefficients: ab averaged over the clipped (2 mr + 1)^2 window, b scaled to 0..255 (alpha = a . I + b with
 * I in 0..255), and where the clipped (2 kr + 1)^2 window of alpha is all >= 254/255 (<= 1/255) exactly 255 (0). */
extern "C" __global__ void em_k_fit_coef(const float *ab, const float *alpha, float *coef, int w, int h, int mr, int kr)
{
    EM_FOR_PIXELS(w, h)
    {
        const long long plane = (long long)w * h, at = (long long)y * w + x;
        float lo = alpha[at], hi = alpha[at];
        for (int yy = em_imax(y - kr, 0); yy <= em_imin(y + kr, h - 1); ++yy)
            for (int xx = em_imax(x - kr, 0); xx <= em_imin(x + kr, w - 1); ++xx) {
                const float p = alpha[(long long)yy * w + xx];
                lo = p < lo ? p : lo;
                hi = p > hi ? p : hi;
            }
        const int known = kr < 0 ? 0 : ((double)lo >= 254.0 / 255.0 ? 2 : ((double)hi <= 1.0 / 255.0 ? 1 : 0));
        for (int c = 0; c < 4; ++c) {
            float v = mr > 0 ? em_box(EmPlaneAt{ab + c * plane, w}, x, y, w, h, mr) : ab[c * plane + at];
            v = c == 3 ? EM_RN_MUL(v, 255.0f) : v;
            coef[c * plane + at] = known ? (c == 3 && known == 2 ? 255.f : 0.f) : v;
        }
    }
}

/* The 8 planes of one blur-fusion pass: a, F a (3), 1 - a, B (1 - a) (3). First pass (prior NULL): F = B = the
 * image (0..255). Second pass: F = clip(Fb1 + a (I - a Fb1 - (1 - a) Bb1), 0, 255), B = Bb1, from the first pass's
 * blurs (``prior``). */
struct EmBlurPlane {
    const unsigned char *image;
    const float *alpha, *prior;
    int w, k;
    long long plane;
    __device__ float operator()(int xx, int yy) const
    {
        const long long q = (long long)yy * w + xx;
        const float a = alpha[q], na = EM_RN_SUB(1.0f, a);
        if (k == 0 || k == 4) return k ? na : a;
        const int c = (k - 1) % 4;
        const float i = (float)image[3 * q + c];
        if (!prior) return EM_RN_MUL(i, k < 4 ? a : na);
        const float fb = prior[c * plane + q], bb = prior[(3 + c) * plane + q];
        if (k > 4) return EM_RN_MUL(bb, na);
        const float u = EM_RN_SUB(EM_RN_SUB(i, EM_RN_MUL(a, fb)), EM_RN_MUL(na, bb));
        float f = EM_RN_ADD(fb, EM_RN_MUL(a, u));
        f = f < 0.0f ? 0.0f : (f > 255.0f ? 255.0f : f);
        return EM_RN_MUL(f, a);
    }
};

/* One blur-fusion pass over the clipped (2r+1)^2 window: Fb = mean(F a) / (mean(a) + 1e-5), Bb = mean(B (1 - a)) /
 * (mean(1 - a) + 1e-5), into blurs [6][h][w] (Fb BGR, Bb BGR; 0..255). */
extern "C" __global__ void em_k_fit_blur(const unsigned char *image, const float *alpha, const float *prior,
                                         float *blurs, int w, int h, int r)
{
    EM_FOR_PIXELS(w, h)
    {
        const long long plane = (long long)w * h, at = (long long)y * w + x;
        float m[8];
        for (int k = 0; k < 8; ++k) m[k] = em_box(EmBlurPlane{image, alpha, prior, w, k, plane}, x, y, w, h, r);
        for (int c = 0; c < 3; ++c) {
            blurs[c * plane + at] = EM_RN_DIV(m[1 + c], EM_RN_ADD(m[0], 1e-5f));
            blurs[(3 + c) * plane + at] = EM_RN_DIV(m[5 + c], EM_RN_ADD(m[4], 1e-5f));
        }
    }
}

/* guided.c's lerp_coord: the source pair and weight of output index i, half-pixel centres, edges clamped */
static __device__ __forceinline__ void em_lerp(int i, double scale, int n, int *lo, int *hi, float *frac)
{
    double f = ((double)i + 0.5) * scale - 0.5;
    if (f < 0) f = 0;
    *lo = em_imin((int)f, n - 1);
    *hi = em_imin(*lo + 1, n - 1);
    f -= *lo;
    *frac = (float)(f > 1 ? 1 : f);
}

/* round(a b / 2^15) of int16 values: guided.c's mulhrs16 (x86 pmulhrsw) */
static __device__ __forceinline__ short em_mulhrs(short a, short b) { return (short)(((((int)a * b) >> 14) + 1) >> 1); }

/* The "fast" pass at the frame's size: the coefficients [4][h][w] sampled bilinearly in guided.c's operation
 * order with single-rounding float operations (what the native pass computes without FMA contraction),
 * alpha = a . I + b clamped and rounded; with blurs [6][h][w] the most probable foreground
 * F = Fb + g (I - a Fb - (1 - a) Bb), g = a / (a^2 + k (1 - a)^2), in guided.c's fixed point (the blurs
 * sampled along x in float and rounded to 1/64 level, along y in int16; a in 1/32768, g in 1/16384:
 * csrc/guided.c's foreground_step), F = I where alpha is 0 or 255. */
extern "C" __global__ void em_k_guided_apply(const float *coef, const float *blurs, int w, int h,
                                             const unsigned char *image, long long image_pitch, unsigned char *alpha,
                                             unsigned char *fg, int out_w, int out_h)
{
    EM_FOR_PIXELS(out_w, out_h)
    {
        int xa, xb, ya, yb;
        float fx, fy, e[4];
        short q[6];
        em_lerp(x, (double)w / out_w, w, &xa, &xb, &fx);
        em_lerp(y, (double)h / out_h, h, &ya, &yb, &fy);
        const short wq = (short)em_imin(__float2int_rn(EM_RN_MUL(fy, 32768.f)), 32767);
        const long long plane = (long long)w * h, ra = (long long)ya * w, rb = (long long)yb * w;
        for (int c = 0; c < (blurs ? 10 : 4); ++c) {
            const float *p = c < 4 ? coef + c * plane : blurs + (c - 4) * plane;
            const float ta = p[ra + xa], tb = p[ra + xb], ba = p[rb + xa], bb = p[rb + xb];
            const float top = EM_RN_ADD(ta, EM_RN_MUL(fx, EM_RN_SUB(tb, ta)));
            const float bot = EM_RN_ADD(ba, EM_RN_MUL(fx, EM_RN_SUB(bb, ba)));
            if (c < 4) {
                e[c] = EM_RN_ADD(top, EM_RN_MUL(fy, EM_RN_SUB(bot, top)));
            } else {
                const short qt = (short)__float2int_rn(EM_RN_MUL(top, 64.f));
                const short qb = (short)__float2int_rn(EM_RN_MUL(bot, 64.f));
                q[c - 4] = (short)(qt + em_mulhrs((short)(qb - qt), wq));
            }
        }
        const unsigned char *px = image + y * image_pitch + 3 * x;
        float v = 0.f;
        for (int c = 0; c < 3; ++c) v = EM_RN_ADD(v, EM_RN_MUL(e[c], (float)px[c]));
        v = EM_RN_ADD(v, e[3]);
        v = v > 0.f ? v : 0.f;
        v = v < 255.f ? v : 255.f;
        const int a8 = __float2int_rn(v);
        const long long at = (long long)y * out_w + x;
        alpha[at] = (unsigned char)a8;
        if (blurs) {
            const float a = EM_RN_MUL((float)a8, 1.f / 255), b = EM_RN_SUB(1.f, a);
            const float gain = EM_RN_DIV(a, EM_RN_ADD(EM_RN_MUL(a, a), EM_RN_MUL(EM_BACKGROUND_VARIANCE_RATIO,
                                                                                  EM_RN_MUL(b, b))));
            const short gq = (short)__float2int_rn(EM_RN_MUL(gain, 16384.f)), aq = (short)((a8 << 7) + (a8 >> 1));
            for (int c = 0; c < 3; ++c) {
                const short fb = q[c], bg = q[3 + c], i = (short)px[c];
                const short u = (short)((i << 6) - bg - em_mulhrs((short)(fb - bg), aq));
                int f = (short)(fb + em_mulhrs((short)(u << 1), gq));
                f = (f + 32) >> 6;
                f = f > 0 ? f : 0;
                f = f < 255 ? f : 255;
                fg[3 * at + c] = (a8 == 0 || a8 == 255) ? px[c] : (unsigned char)f;
            }
        }
    }
}

/* -- temporal smoothing (csrc/temporal.h's twin): weights from the frame's motion at the outputs' grid -------- */
static __device__ __forceinline__ int em_clampi(int v, int n) { return v < 0 ? 0 : (v >= n ? n - 1 : v); }

/* the 27 absolute channel differences of the 3x3 neighbourhood (indices clamped) summed in integers, then
 * temporal.c's float steps; guide and previous packed [h,w,3] */
extern "C" __global__ void em_k_temporal_weights(const unsigned char *guide, const unsigned char *previous,
                                                 float *weights, int w, int h, float strength, float still,
                                                 float moving)
{
    EM_FOR_PIXELS(w, h)
    {
        int sum = 0;
        for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
                const long long i = 3 * ((long long)em_clampi(y + dy, h) * w + em_clampi(x + dx, w));
                for (int c = 0; c < 3; ++c) sum += abs((int)guide[i + c] - (int)previous[i + c]);
            }
        const float inv_span = EM_RN_DIV(1.0f, EM_RN_SUB(moving, still));
        float t = EM_RN_MUL(EM_RN_SUB(moving, EM_RN_MUL((float)sum, 1.0f / 27.0f)), inv_span);
        t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
        weights[(long long)y * w + x] = EM_RN_MUL(strength, t);
    }
}

/* previous <- guide, after every em_k_temporal_weights read of previous */
extern "C" __global__ void em_k_temporal_keep(const unsigned char *guide, unsigned char *previous, int w, int h)
{
    EM_FOR_PIXELS(w, h)
    {
        const long long i = 3 * ((long long)y * w + x);
        for (int c = 0; c < 3; ++c) previous[i + c] = guide[i + c];
    }
}

/* state = w * state + (1 - w) * values for each of the channels [c,h,w]; with known_guide (channels 4: the fast
 * guided filter's a0, a1, a2, 255 b) a cell known in values whose smoothed alpha at the guide's colour is within
 * tol of it is set to it exactly */
extern "C" __global__ void em_k_temporal_blend(const float *weights, const float *values, float *state, int w, int h,
                                               int channels, const unsigned char *known_guide, float tol)
{
    EM_FOR_PIXELS(w, h)
    {
        const long long i = (long long)y * w + x, plane = (long long)w * h;
        const float wgt = weights[i];
        for (int c = 0; c < channels; ++c) {
            const long long j = c * plane + i;
            state[j] = EM_RN_ADD(EM_RN_MUL(wgt, state[j]), EM_RN_MUL(EM_RN_SUB(1.0f, wgt), values[j]));
        }
        const float k = known_guide ? values[3 * plane + i] : -1.0f;
        if (known_guide && values[i] == 0.0f && values[plane + i] == 0.0f && values[2 * plane + i] == 0.0f &&
            (k == 0.0f || k == 255.0f)) {
            const unsigned char *g = known_guide + 3 * i;
            float alpha = EM_RN_MUL(state[i], (float)g[0]);
            alpha = EM_RN_ADD(alpha, EM_RN_MUL(state[plane + i], (float)g[1]));
            alpha = EM_RN_ADD(alpha, EM_RN_MUL(state[2 * plane + i], (float)g[2]));
            const float off = EM_RN_SUB(EM_RN_ADD(alpha, state[3 * plane + i]), k);
            if (off < tol && off > -tol) {
                state[i] = state[plane + i] = state[2 * plane + i] = 0.0f;
                state[3 * plane + i] = k;
            }
        }
    }
}

/* the full-resolution alpha smoothed with the weights upsampled (csrc/temporal.c's em_temporal_alpha): each weight
 * row lerped first, then between the rows; weights NULL: state <- alpha */
extern "C" __global__ void em_k_temporal_alpha(const float *weights, int h, int w, unsigned char *alpha, float *state,
                                               int width, int height)
{
    EM_FOR_PIXELS(width, height)
    {
        const long long i = (long long)y * width + x;
        if (!weights) {
            state[i] = (float)alpha[i];
        } else {
            int xa, xb, ya, yb;
            float fx, fy;
            em_lerp(x, (double)w / width, w, &xa, &xb, &fx);
            em_lerp(y, (double)h / height, h, &ya, &yb, &fy);
            const float *ra = weights + (long long)ya * w, *rb = weights + (long long)yb * w;
            const float top = EM_RN_ADD(EM_RN_MUL(ra[xa], EM_RN_SUB(1.0f, fx)), EM_RN_MUL(ra[xb], fx));
            const float bot = EM_RN_ADD(EM_RN_MUL(rb[xa], EM_RN_SUB(1.0f, fx)), EM_RN_MUL(rb[xb], fx));
            const float wgt = EM_RN_ADD(EM_RN_MUL(top, EM_RN_SUB(1.0f, fy)), EM_RN_MUL(bot, fy));
            const float v = EM_RN_ADD(EM_RN_MUL(wgt, state[i]), EM_RN_MUL(EM_RN_SUB(1.0f, wgt), (float)alpha[i]));
            state[i] = v;
            alpha[i] = (unsigned char)__float2int_rn(v);
        }
    }
}

/* -- edge controls (csrc/edges.h's twin): a separable pass is em_k_edges_h (rows of the alpha into a packed work
 * buffer) then em_k_edges_v (its columns back into the alpha, the threshold on the last pass); the 2r + 1 taps read
 * directly. op 0 min (shrink), 1 max (grow), 2 mean (feather: row mean rounded half up, then column mean) */
static __device__ __forceinline__ unsigned char em_edge_reduce(const unsigned char *base, long long step, int i,
                                                               int n, int radius, int op)
{
    if (op == 2) {
        unsigned int sum = 0;
        for (int k = -radius; k <= radius; ++k) sum += base[em_clampi(i + k, n) * step];
        return (unsigned char)((sum + (unsigned int)radius) / (unsigned int)(2 * radius + 1));
    }
    unsigned char best = base[(long long)i * step];
    for (int k = -radius; k <= radius; ++k) {
        const unsigned char v = base[em_clampi(i + k, n) * step];
        best = op == 1 ? (v > best ? v : best) : (v < best ? v : best);
    }
    return best;
}

extern "C" __global__ void em_k_edges_h(const unsigned char *alpha, long long pitch, unsigned char *tmp, int w, int h,
                                        int radius, int op)
{
    EM_FOR_PIXELS(w, h)
    tmp[(long long)y * w + x] = em_edge_reduce(alpha + (long long)y * pitch, 1, x, w, radius, op);
}

extern "C" __global__ void em_k_edges_v(const unsigned char *tmp, unsigned char *alpha, long long pitch, int w, int h,
                                        int radius, int op, int threshold)
{
    EM_FOR_PIXELS(w, h)
    {
        unsigned char v = em_edge_reduce(tmp + x, (long long)w, y, h, radius, op);
        if (threshold > 0)
            v = v >= threshold ? 255 : 0;
        alpha[(long long)y * pitch + x] = v;
    }
}

extern "C" __global__ void em_k_edges_cut(unsigned char *alpha, long long pitch, int w, int h, int threshold)
{
    EM_FOR_PIXELS(w, h)
    {
        unsigned char *p = alpha + (long long)y * pitch + x;
        *p = *p >= threshold ? 255 : 0;
    }
}
