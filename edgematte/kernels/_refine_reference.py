"""NumPy specification of the refinement kernels in csrc/refine.c (slow, float64, whole image).

Windows are (2r+1)^2 boxes centred on every pixel and clipped at the image border; a window's
size n_k counts its pixels inside the image. The closed-form matting Laplacian (Levin et al. 2008)
is applied matrix-free (He et al. 2010):

    a_k = (Sigma_k + eps/n_k U)^-1 (mean_k(I v) - mu_k mean_k(v)),  b_k = mean_k(v) - a_k . mu_k
    (L v)_i = m_i v_i - sum_{k : i in w_k} (a_k . I_i + b_k)

with m_i the number of windows containing pixel i, I in 0..1.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def box_sum(x: np.ndarray, r: int) -> np.ndarray:
    """Sum over the (2r+1)^2 window centred on each pixel, clipped at the border. [H,W,...] float64."""
    h, w = x.shape[:2]
    pad = [(r + 1, r), (r + 1, r)] + [(0, 0)] * (x.ndim - 2)
    c = np.pad(np.asarray(x, np.float64), pad).cumsum(0).cumsum(1)
    k = 2 * r + 1
    return c[k:, k:] - c[:h, k:] - c[k:, :w] + c[:h, :w]


class Laplacian:
    """Matrix-free closed-form matting Laplacian of an [H,W,3] uint8 image."""

    def __init__(self, image: np.ndarray, radius: int, eps: float):
        self.r = radius
        self.image = image.astype(np.float64) / 255.0
        h, w = image.shape[:2]
        self.n = box_sum(np.ones((h, w)), radius)
        n = self.n[..., None]
        self.mu = box_sum(self.image, radius) / n
        outer = self.image[..., :, None] * self.image[..., None, :]
        cov = box_sum(outer.reshape(h, w, 9), radius).reshape(h, w, 3, 3) / n[..., None]
        cov -= self.mu[..., :, None] * self.mu[..., None, :]
        cov += (eps / self.n)[..., None, None] * np.eye(3)
        self.inv_cov = np.linalg.inv(cov)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        r, n = self.r, self.n
        mean_v = box_sum(v, r) / n
        q = box_sum(self.image * v[..., None], r) / n[..., None] - self.mu * mean_v[..., None]
        a = np.einsum("hwij,hwj->hwi", self.inv_cov, q)
        b = mean_v - (a * self.mu).sum(-1)
        return n * v - ((box_sum(a, r) * self.image).sum(-1) + box_sum(b, r))


#: relative residual at which CG has converged to round-off (EM_CG_ROUNDOFF in csrc/refine.c)
CG_ROUNDOFF = 1e-12


def refine_cf(image: np.ndarray, trimap: np.ndarray, alpha: np.ndarray, radius: int, eps: float,
              iterations: int, prior: Optional[np.ndarray] = None, prior_weight: float = 0.0) -> np.ndarray:
    """Reference of ``em_refine_cf`` (tol = 0; both stop once the residual is ``CG_ROUNDOFF`` of its start):
    ``iterations`` CG steps on (L_UU + w Id) x_U = -L_UK x_K + w prior_U, w = ``prior_weight``.

    image [H,W,3] uint8, trimap [H,W] uint8 (0 bg, 255 fg, else unknown), alpha [H,W] float32
    initial guess. Returns a new [H,W] float32 alpha, clipped to [0,1], exactly 0/1 where known.
    """
    unknown = (trimap != 0) & (trimap != 255)
    x = np.where(trimap == 255, 1.0, np.where(trimap == 0, 0.0, alpha.astype(np.float64)))
    if unknown.any() and iterations > 0:
        lap = Laplacian(image, radius, eps)
        w = prior_weight
        res = np.where(unknown, -lap(x) + (w * (prior - x) if w > 0 else 0.0), 0.0)
        p = res.copy()
        rr = r0 = float((res * res).sum())
        for _ in range(iterations):
            if rr == 0.0 or rr <= CG_ROUNDOFF**2 * r0:  # converged to round-off: stop before null-space drift
                break
            ap = np.where(unknown, lap(p) + w * p, 0.0)
            pap = float((p * ap).sum())
            if not pap > 0:
                break
            step = rr / pap
            x += step * p
            res -= step * ap
            rn = float((res * res).sum())
            p = res + (rn / rr) * p
            rr = rn
    out = np.clip(x.astype(np.float32), 0, 1)
    out[np.isnan(out)] = 0
    out[trimap == 255] = 1
    out[trimap == 0] = 0
    return out


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over the clipped (2r+1)^2 window centred on each pixel. [H,W,...] float64."""
    n = box_sum(np.ones(x.shape[:2]), r)
    return box_sum(x, r) / n.reshape(n.shape + (1,) * (x.ndim - 2))


def linear_sample(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of [h,w,...] to [height,width,...], pixel centres aligned, edges clamped."""
    h, w = x.shape[:2]

    def axis(n_out: int, n_in: int):
        f = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, None)
        lo = np.minimum(f.astype(np.int64), n_in - 1)
        return lo, np.minimum(lo + 1, n_in - 1), np.minimum(f - lo, 1.0)

    ya, yb, wy = axis(height, h)
    xa, xb, wx = axis(width, w)
    wx = wx.reshape((1, -1) + (1,) * (x.ndim - 2))
    wy = wy.reshape((-1, 1) + (1,) * (x.ndim - 2))
    top = x[ya][:, xa] * (1 - wx) + x[ya][:, xb] * wx
    bottom = x[yb][:, xa] * (1 - wx) + x[yb][:, xb] * wx
    return top * (1 - wy) + bottom * wy


def guided_upsample(small_image: np.ndarray, small_alpha: np.ndarray, image: np.ndarray, trimap: np.ndarray,
                    radius: int, eps: float) -> np.ndarray:
    """Reference of ``em_guided_upsample``: guided-filter coefficients of the small level, evaluated at full size.

    small_image [h,w,3] uint8, small_alpha [h,w] float32, image [H,W,3] uint8, trimap [H,W] uint8.
    Returns [H,W] float32: a . I + b clipped to [0,1] where unknown, exactly 0/1 where known.
    """
    guide = small_image.astype(np.float64) / 255
    p = small_alpha.astype(np.float64)
    mean_i = box_mean(guide, radius)
    mean_p = box_mean(p, radius)
    cov_ip = box_mean(guide * p[..., None], radius) - mean_i * mean_p[..., None]
    outer = (guide[..., :, None] * guide[..., None, :]).reshape(guide.shape[:2] + (9,))
    var = box_mean(outer, radius).reshape(guide.shape[:2] + (3, 3)) - mean_i[..., :, None] * mean_i[..., None, :]
    a = np.linalg.solve(var + eps * np.eye(3), cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(-1)
    coef = np.concatenate([box_mean(a, radius), box_mean(b, radius)[..., None]], -1).astype(np.float32)
    height, width = image.shape[:2]
    coef = linear_sample(coef.astype(np.float64), height, width)
    out = (coef[..., :3] * (image.astype(np.float64) / 255)).sum(-1) + coef[..., 3]
    out = np.clip(out, 0, 1).astype(np.float32)
    out[trimap == 255] = 1
    out[trimap == 0] = 0
    return out
