"""Separable Gaussian-derivative filtering in float32, several kernels per pass.

scipy.ndimage's ``gaussian_filter1d`` costs 5-34 ms per 1024x1024 pass here and filters
one kernel per pass; the feature set needs ~90 passes per channel. These numba kernels use
scipy's exact kernels and 'reflect' boundary, read the input once for all kernels of a
pass, exploit kernel (anti)symmetry and run on all cores (benchmarks/bench_features.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..runtime.threads import run_rows
from .kernels import kernels, reflect_index

__all__ = ["filter_axis", "conv_pad", "conv_row", "conv_across"]

@njit(fastmath=True, nogil=True, cache=True)
def _taps(K, n, t, w, s0, s1, s2, d0, d1, d2, h1, l1, h2, l2, h3, l3, h4, l4):  # pragma: no cover
    # Taps t..t+3 of up to three kernels (rows of w) over the same rows h (offset +t) and
    # l (offset -t): each source row is loaded once for all kernels, and each destination is
    # loaded and stored once per four taps.
    a1, a2, a3, a4 = w[0, t], w[0, t + 1], w[0, t + 2], w[0, t + 3]
    if K == 1:
        for q in range(n):
            d0[q] += (a1 * (h1[q] + s0 * l1[q]) + a2 * (h2[q] + s0 * l2[q])) + (
                a3 * (h3[q] + s0 * l3[q]) + a4 * (h4[q] + s0 * l4[q]))
        return
    b1, b2, b3, b4 = w[1, t], w[1, t + 1], w[1, t + 2], w[1, t + 3]
    if K == 2:
        for q in range(n):
            x1, y1, x2, y2 = h1[q], l1[q], h2[q], l2[q]
            x3, y3, x4, y4 = h3[q], l3[q], h4[q], l4[q]
            d0[q] += (a1 * (x1 + s0 * y1) + a2 * (x2 + s0 * y2)) + (a3 * (x3 + s0 * y3) + a4 * (x4 + s0 * y4))
            d1[q] += (b1 * (x1 + s1 * y1) + b2 * (x2 + s1 * y2)) + (b3 * (x3 + s1 * y3) + b4 * (x4 + s1 * y4))
        return
    c1, c2, c3, c4 = w[2, t], w[2, t + 1], w[2, t + 2], w[2, t + 3]
    for q in range(n):
        x1, y1, x2, y2 = h1[q], l1[q], h2[q], l2[q]
        x3, y3, x4, y4 = h3[q], l3[q], h4[q], l4[q]
        d0[q] += (a1 * (x1 + s0 * y1) + a2 * (x2 + s0 * y2)) + (a3 * (x3 + s0 * y3) + a4 * (x4 + s0 * y4))
        d1[q] += (b1 * (x1 + s1 * y1) + b2 * (x2 + s1 * y2)) + (b3 * (x3 + s1 * y3) + b4 * (x4 + s1 * y4))
        d2[q] += (c1 * (x1 + s2 * y1) + c2 * (x2 + s2 * y2)) + (c3 * (x3 + s2 * y3) + c4 * (x4 + s2 * y4))


@njit(fastmath=True, nogil=True, cache=True)
def _tap1(K, n, t, w, s0, s1, s2, d0, d1, d2, h, lo):  # pragma: no cover - compiled
    a = w[0, t]
    for q in range(n):
        d0[q] += a * (h[q] + s0 * lo[q])
    if K > 1:
        b = w[1, t]
        for q in range(n):
            d1[q] += b * (h[q] + s1 * lo[q])
    if K > 2:
        c = w[2, t]
        for q in range(n):
            d2[q] += c * (h[q] + s2 * lo[q])


@njit(fastmath=True, nogil=True, cache=True)
def _centre(K, n, w, d0, d1, d2, c):  # pragma: no cover - compiled
    a = w[0, 0]
    for q in range(n):
        d0[q] = a * c[q]
    if K > 1:
        b = w[1, 0]
        for q in range(n):
            d1[q] = b * c[q]
    if K > 2:
        e = w[2, 0]
        for q in range(n):
            d2[q] = e * c[q]


@njit(fastmath=True, nogil=True, cache=True)
def conv_pad(pad, r, w, sign, n, d0, d1, d2):  # pragma: no cover - compiled
    """Up to three kernels (rows of ``w``, kernel halves) along one mirrored row ``pad``.

    ``d_k[q] = sum_t w[k, t] * (pad[r+q+t] + sign[k] * pad[r+q-t])`` for ``q < n``; ``pad`` is
    the row extended by at least ``w.shape[1] - 1`` mirrored values each side. Slices, not
    computed indices, let the compiler vectorize the inner loops.
    """
    K, R1 = w.shape
    s0 = sign[0]
    s1 = sign[min(1, K - 1)]
    s2 = sign[min(2, K - 1)]
    _centre(K, n, w, d0, d1, d2, pad[r:r + n])
    t = 1
    while t + 3 < R1:
        _taps(K, n, t, w, s0, s1, s2, d0, d1, d2,
              pad[r + t:r + t + n], pad[r - t:r - t + n],
              pad[r + t + 1:r + t + 1 + n], pad[r - t - 1:r - t - 1 + n],
              pad[r + t + 2:r + t + 2 + n], pad[r - t - 2:r - t - 2 + n],
              pad[r + t + 3:r + t + 3 + n], pad[r - t - 3:r - t - 3 + n])
        t += 4
    while t < R1:
        _tap1(K, n, t, w, s0, s1, s2, d0, d1, d2, pad[r + t:r + t + n], pad[r - t:r - t + n])
        t += 1


@njit(fastmath=True, nogil=True, cache=True)
def conv_row(pad, r, half, sign, n, dst):  # pragma: no cover - compiled
    """One kernel half ``half`` along the mirrored row ``pad`` into ``dst`` (see conv_pad)."""
    conv_pad(pad, r, half.reshape((1, half.size)), np.full(1, sign, np.float32), n, dst, dst, dst)


@njit(fastmath=True, nogil=True, cache=True)
def conv_across(src, a, j, idx, w, sign, R1, n, d0, d1, d2):  # pragma: no cover - compiled
    """Up to three kernels (rows of ``w``, first ``R1`` taps) across rows of ``src (A, N, n)``.

    ``d_k = sum_t w[k, t] * (src[a, idx[j+t]] + sign[k] * src[a, idx[j-t]])``: one output row of
    a pass along N, whole rows at a time so the loop over ``n`` vectorizes; ``idx`` mirrors.
    """
    K = w.shape[0]
    s0 = sign[0]
    s1 = sign[min(1, K - 1)]
    s2 = sign[min(2, K - 1)]
    _centre(K, n, w, d0, d1, d2, src[a, idx[j]])
    t = 1
    while t + 3 < R1:
        _taps(K, n, t, w, s0, s1, s2, d0, d1, d2,
              src[a, idx[j + t]], src[a, idx[j - t]], src[a, idx[j + t + 1]], src[a, idx[j - t - 1]],
              src[a, idx[j + t + 2]], src[a, idx[j - t - 2]], src[a, idx[j + t + 3]], src[a, idx[j - t - 3]])
        t += 4
    while t < R1:
        _tap1(K, n, t, w, s0, s1, s2, d0, d1, d2, src[a, idx[j + t]], src[a, idx[j - t]])
        t += 1


@njit(fastmath=True, cache=True, nogil=True)
def _pass_last(lo, hi, src, half, sign, idx, out):  # pragma: no cover - compiled
    # src (M, N); filter rows lo..hi-1 along N; out (m, M, N)
    M, N = src.shape
    r = half.shape[1] - 1
    pad = np.empty(N + 2 * r, np.float32)
    for i in range(lo, hi):
        for j in range(N + 2 * r):
            pad[j] = src[i, idx[j]]
        for k0 in range(0, half.shape[0], 3):
            K = min(3, half.shape[0] - k0)
            conv_pad(pad, r, half[k0:k0 + K], sign[k0:k0 + K], N,
                     out[k0, i], out[k0 + min(1, K - 1), i], out[k0 + K - 1, i])


@njit(fastmath=True, cache=True, nogil=True)
def _pass_mid(lo, hi, src, half, sign, idx, out, p0):  # pragma: no cover - compiled
    # src (A, N, B); filter along N; out (m, A, M, B) holds positions p0..p0+M-1 along N; rows
    # ai = a * M + i in lo..hi-1
    A, N, B = src.shape
    M = out.shape[2]
    m, R1 = half.shape
    r = R1 - 1
    for ai in range(lo, hi):
        a = ai // M
        i = ai % M
        j = p0 + i + r  # position in the mirrored index
        for k0 in range(0, m, 3):
            K = min(3, m - k0)
            conv_across(src, a, j, idx, half[k0:k0 + K], sign[k0:k0 + K], R1, B,
                        out[k0, a, i], out[k0 + min(1, K - 1), a, i], out[k0 + K - 1, a, i])


def filter_axis(x, axis, sigma, orders, out=None, span=None):
    """Filter float32 array ``x`` along ``axis`` with Gaussian derivatives of ``orders``.

    Returns an array of shape ``(len(orders),) + x.shape`` (``out`` if given); equals
    ``scipy.ndimage.gaussian_filter1d(x, sigma, axis, order=o, mode="reflect")`` per order.
    ``span=(p0, p1)`` (an axis but the last) computes positions ``p0..p1-1`` along ``axis`` only: the
    result has ``p1 - p0`` there (a plane of a volume needs one position of the pass across planes).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[axis]
    half, sign = kernels(sigma, orders)
    idx = reflect_index(n, half.shape[1] - 1)
    p0, p1 = (0, n) if span is None else (int(span[0]), int(span[1]))
    if not 0 <= p0 < p1 <= n or (span is not None and axis == x.ndim - 1):
        raise ValueError(f"span {span} does not fit axis {axis} of length {n} (the last axis takes none)")
    shape = (len(orders),) + x.shape[:axis] + (p1 - p0,) + x.shape[axis + 1:]
    if out is None:
        out = np.empty(shape, np.float32)
    elif not out.flags.c_contiguous:  # reshaped below: a copy would drop the results
        raise ValueError("filter_axis needs a C-contiguous out")
    if axis == x.ndim - 1:
        rows = x.reshape(-1, n)
        run_rows(_pass_last, rows.shape[0], rows, half, sign, idx, out.reshape(len(orders), -1, n))
    else:
        A = int(np.prod(x.shape[:axis], dtype=np.int64))
        B = int(np.prod(x.shape[axis + 1 :], dtype=np.int64))
        run_rows(_pass_mid, A * (p1 - p0), x.reshape(A, n, B), half, sign, idx,
                 out.reshape(len(orders), A, p1 - p0, B), p0)
    return out
