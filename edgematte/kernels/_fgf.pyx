# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""RobustVideoMatting's fast-guided-filter output step at full resolution, fused (trusted inputs).

The NumPy twin and the contract: :func:`edgematte.models.rvm.fgf_apply_reference`.
"""

from cython.parallel cimport prange
from libc.math cimport floorf
from libc.stdlib cimport free, malloc


cdef inline float _lerp(const float *row, int x0, int x1, float wx, int k) noexcept nogil:
    return row[x0 * 8 + k] + wx * (row[x1 * 8 + k] - row[x0 * 8 + k])


cdef inline int _source(int i, float scale, int n, float *weight) noexcept nogil:
    """Output index i's left source index (of n) and the weight of the right one: half-pixel centres,
    edges clamped."""
    cdef float s = (i + 0.5) * scale - 0.5
    cdef int lo
    if s < 0:
        s = 0
    lo = <int>floorf(s)
    if lo > n - 1:
        lo = n - 1
    weight[0] = s - lo
    return lo


cdef inline unsigned char _u8(float v) noexcept nogil:
    """clip(v, 0, 1) * 255, rounded half up, as uint8."""
    if v <= 0.0:
        return 0
    if v >= 1.0:
        return 255
    return <unsigned char>(v * <float>255.0 + <float>0.5)


cdef void _apply_row(const unsigned char *src, unsigned char *fg, unsigned char *alpha, const float *row,
                     const int *xl, const float *xw, int W, int w) noexcept nogil:
    """One output row: horizontal lerp of the vertically interpolated a/b ``row``, then y = a * x + b."""
    cdef int x, x0, x1
    cdef float wx, xr, xg, xb, xm
    cdef float inv255 = 1.0 / 255.0, third = 1.0 / 3.0
    for x in range(W):
        x0 = xl[x]
        x1 = x0 + 1 if x0 < w - 1 else w - 1
        wx = xw[x]
        xr = src[3 * x + 2] * inv255
        xg = src[3 * x + 1] * inv255
        xb = src[3 * x] * inv255
        xm = (xr + xg + xb) * third
        fg[3 * x + 2] = _u8(_lerp(row, x0, x1, wx, 0) * xr + _lerp(row, x0, x1, wx, 4) + xr)
        fg[3 * x + 1] = _u8(_lerp(row, x0, x1, wx, 1) * xg + _lerp(row, x0, x1, wx, 5) + xg)
        fg[3 * x] = _u8(_lerp(row, x0, x1, wx, 2) * xb + _lerp(row, x0, x1, wx, 6) + xb)
        alpha[x] = _u8(_lerp(row, x0, x1, wx, 3) * xm + _lerp(row, x0, x1, wx, 7))


def fgf_apply(const unsigned char[:, :, ::1] frame not None, const float[:, :, ::1] a not None,
              const float[:, :, ::1] b not None, unsigned char[:, ::1] alpha not None,
              unsigned char[:, :, ::1] foreground not None, int threads):
    """frame [H,W,3] uint8 BGR; a, b [4,h,w] float32 (channels R, G, B, grey) -> alpha, foreground (BGR).

    Bilinear (half-pixel, edge-clamped) upsampling of a and b, then per pixel with x = (R, G, B,
    mean(R, G, B)) / 255: y = a * x + b; foreground = clip(y[:3] + x[:3]), alpha = clip(y[3]).
    """
    cdef int H = frame.shape[0], W = frame.shape[1], h = a.shape[1], w = a.shape[2]
    cdef int y, x, c, y0, y1
    cdef int failed = 0  # rows whose scratch could not be allocated (a reduction over the threads)
    cdef float wy
    cdef float *row
    cdef float scale_y = <float>h / H, scale_x = <float>w / W
    # source index and weight per output column, then per output row (at W + y)
    cdef int *xl = <int *>malloc((W + H) * sizeof(int))
    cdef float *xw = <float *>malloc((W + H) * sizeof(float))
    if xl == NULL or xw == NULL:
        free(xl)
        free(xw)
        raise MemoryError("fgf_apply: no memory for the coordinate tables")
    for x in range(W):
        xl[x] = _source(x, scale_x, w, &xw[x])
    for y in range(H):
        xl[W + y] = _source(y, scale_y, h, &xw[W + y])
    with nogil:
        for y in prange(H, num_threads=threads, schedule="static"):
            row = <float *>malloc(8 * w * sizeof(float))  # a then b, channel-interleaved: row[(x * 8) + c]
            if row == NULL:
                failed += 1
                continue
            y0 = xl[W + y]
            wy = xw[W + y]
            y1 = y0 + 1 if y0 < h - 1 else h - 1
            for x in range(w):
                for c in range(4):
                    row[x * 8 + c] = a[c, y0, x] + wy * (a[c, y1, x] - a[c, y0, x])
                    row[x * 8 + 4 + c] = b[c, y0, x] + wy * (b[c, y1, x] - b[c, y0, x])
            _apply_row(&frame[y, 0, 0], &foreground[y, 0, 0], &alpha[y, 0], row, xl, xw, W, w)
            free(row)
    free(xl)
    free(xw)
    if failed:
        raise MemoryError(f"fgf_apply: no memory for the row scratch of {failed} of {H} rows")
