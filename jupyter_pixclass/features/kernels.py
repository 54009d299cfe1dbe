"""scipy's Gaussian derivative kernels and 'reflect' boundary, in numpy (no compiled code here)."""
from __future__ import annotations

import numpy as np

__all__ = ["TRUNCATE", "kernel_radius", "gaussian_kernel", "reflect_index", "kernels"]

TRUNCATE = 4.0


def kernel_radius(sigma):
    """Kernel radius scipy uses for ``sigma`` (``truncate=4``)."""
    return int(TRUNCATE * float(sigma) + 0.5)


def gaussian_kernel(sigma, order):
    """Weights for offsets ``0..r`` of scipy's Gaussian derivative kernel (as correlation).

    Returns ``(half, sign)``: the weight of offset ``+t`` is ``half[t]``, of ``-t`` is
    ``sign * half[t]`` (``sign`` is -1 for odd orders).
    """
    r = kernel_radius(sigma)
    x = np.arange(-r, r + 1, dtype=np.float64)
    s2 = float(sigma) ** 2
    phi = np.exp(-0.5 / s2 * x**2)
    phi /= phi.sum()
    if order == 0:
        k = phi
    elif order == 1:
        k = -x / s2 * phi
    elif order == 2:
        k = (x**2 / s2**2 - 1 / s2) * phi
    else:
        raise ValueError(f"derivative order must be 0, 1 or 2; got {order}")
    k = k[::-1]  # scipy correlates with the reversed kernel
    return k[r:].copy(), (-1.0 if order % 2 else 1.0)


def reflect_index(n, r):
    """Source index for positions ``-r .. n+r-1`` under scipy's 'reflect' boundary."""
    j = np.arange(-r, n + r)
    m = np.mod(j, 2 * n)
    return np.where(m >= n, 2 * n - 1 - m, m).astype(np.int64)


def kernels(sigma, orders, scale=None):
    """``(half, sign, idx_radius)``: stacked float32 kernel halves and signs for ``orders``.

    ``scale`` (one per order) multiplies each kernel (anisotropic derivative scaling).
    """
    halves, signs = zip(*(gaussian_kernel(sigma, o) for o in orders))
    half = np.stack(halves)
    if scale is not None:
        half = half * np.asarray(scale, np.float64)[:, None]
    return np.ascontiguousarray(half, np.float32), np.asarray(signs, np.float32)
