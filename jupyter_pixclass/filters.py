"""Separable Gaussian-derivative filtering in float32, several kernels per pass.

scipy.ndimage's ``gaussian_filter1d`` costs 5-34 ms per 1024x1024 pass here and filters
one kernel per pass; the feature set needs ~90 passes per channel. These numba kernels use
scipy's exact kernels and 'reflect' boundary, read the input once for all kernels of a
pass, exploit kernel (anti)symmetry and run on all cores (benchmarks/bench_features.py).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

__all__ = ["gaussian_kernel", "kernel_radius", "derivatives", "sym_eigvals"]

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


def _reflect_index(n, r):
    """Source index for positions ``-r .. n+r-1`` under scipy's 'reflect' boundary."""
    j = np.arange(-r, n + r)
    m = np.mod(j, 2 * n)
    return np.where(m >= n, 2 * n - 1 - m, m).astype(np.int64)


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


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _pass_last(src, half, sign, idx, out):  # pragma: no cover - compiled
    # src (M, N); filter each row along N; out (m, M, N)
    M, N = src.shape
    r = half.shape[1] - 1
    for i in prange(M):
        pad = np.empty(N + 2 * r, np.float32)
        for j in range(N + 2 * r):
            pad[j] = src[i, idx[j]]
        for k0 in range(0, half.shape[0], 3):
            K = min(3, half.shape[0] - k0)
            conv_pad(pad, r, half[k0:k0 + K], sign[k0:k0 + K], N,
                     out[k0, i], out[k0 + min(1, K - 1), i], out[k0 + K - 1, i])


def kernels(sigma, orders, scale=None):
    """``(half, sign, idx_radius)``: stacked float32 kernel halves and signs for ``orders``.

    ``scale`` (one per order) multiplies each kernel (anisotropic derivative scaling).
    """
    halves, signs = zip(*(gaussian_kernel(sigma, o) for o in orders))
    half = np.stack(halves)
    if scale is not None:
        half = half * np.asarray(scale, np.float64)[:, None]
    return np.ascontiguousarray(half, np.float32), np.asarray(signs, np.float32)


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _pass_mid(src, half, sign, idx, out):  # pragma: no cover - compiled
    # src (A, N, B); filter along N; out (m, A, N, B)
    A, N, B = src.shape
    m, R1 = half.shape
    r = R1 - 1
    for ai in prange(A * N):
        a = ai // N
        i = ai % N
        j = i + r  # position in the mirrored index
        for k0 in range(0, m, 3):
            K = min(3, m - k0)
            w = half[k0:k0 + K]
            s0 = sign[k0]
            s1 = sign[k0 + min(1, K - 1)]
            s2 = sign[k0 + K - 1]
            d0 = out[k0, a, i]
            d1 = out[k0 + min(1, K - 1), a, i]
            d2 = out[k0 + K - 1, a, i]
            _centre(K, B, w, d0, d1, d2, src[a, idx[j]])
            t = 1
            while t + 3 < R1:
                _taps(K, B, t, w, s0, s1, s2, d0, d1, d2,
                      src[a, idx[j + t]], src[a, idx[j - t]], src[a, idx[j + t + 1]], src[a, idx[j - t - 1]],
                      src[a, idx[j + t + 2]], src[a, idx[j - t - 2]], src[a, idx[j + t + 3]], src[a, idx[j - t - 3]])
                t += 4
            while t < R1:
                _tap1(K, B, t, w, s0, s1, s2, d0, d1, d2, src[a, idx[j + t]], src[a, idx[j - t]])
                t += 1


def filter_axis(x, axis, sigma, orders, out=None):
    """Filter float32 array ``x`` along ``axis`` with Gaussian derivatives of ``orders``.

    Returns an array of shape ``(len(orders),) + x.shape`` (``out`` if given); equals
    ``scipy.ndimage.gaussian_filter1d(x, sigma, axis, order=o, mode="reflect")`` per order.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[axis]
    half, sign = kernels(sigma, orders)
    idx = _reflect_index(n, half.shape[1] - 1)
    if out is None:
        out = np.empty((len(orders),) + x.shape, np.float32)
    if axis == x.ndim - 1:
        _pass_last(x.reshape(-1, n), half, sign, idx, out.reshape(len(orders), -1, n))
    else:
        A = int(np.prod(x.shape[:axis], dtype=np.int64))
        B = int(np.prod(x.shape[axis + 1 :], dtype=np.int64))
        _pass_mid(x.reshape(A, n, B), half, sign, idx, out.reshape(len(orders), A, n, B))
    return out


def derivatives(x, sigmas, needed, scale=None):
    """Gaussian derivatives of ``x`` for every order tuple in ``needed``.

    Parameters
    ----------
    x : ndarray
        Spatial array (2D or 3D).
    sigmas : sequence of float
        Gaussian sigma per axis (pixels).
    needed : iterable of tuple of int
        Derivative orders per axis, e.g. ``(0, 0)`` smoothing, ``(0, 1)`` d/dx, ``(1, 1)`` d2/dydx.
    scale : sequence of float, optional
        Multiplier per axis applied once per derivative order (anisotropic spacing).

    Returns
    -------
    dict mapping order tuple to float32 array. Passes are shared: one pass per axis yields
    all orders that later axes need, so e.g. the six 2D terms up to second order cost 9 passes
    instead of 12.
    """
    needed = {tuple(o) for o in needed}
    nd = x.ndim
    # last (contiguous) axis first: its pass is the costly one, and this way it runs once on the
    # input; every later pass runs along an outer axis, where the inner loop vectorizes
    order = [nd - 1] + list(range(nd - 1))
    results = {}

    def rec(arr, depth, prefix):
        axis = order[depth]
        orders = sorted({o[axis] for o in needed if all(o[a] == p for a, p in zip(order[:depth], prefix))})
        outs = filter_axis(arr, axis, sigmas[axis], orders)
        for o, a in zip(orders, outs):
            p = prefix + (o,)
            if depth == nd - 1:
                key = [0] * nd
                for ax, k in zip(order, p):
                    key[ax] = k
                results[tuple(key)] = a
            else:
                rec(a, depth + 1, p)

    rec(np.asarray(x, np.float32), 0, ())
    if scale is not None:
        for o, a in results.items():
            f = float(np.prod([s**k for s, k in zip(scale, o)]))
            if f != 1.0:
                a *= f
    return results


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _grad_products(G, mag, prods):  # pragma: no cover - compiled
    # G (d, N) first derivatives; mag (N,) gradient magnitude; prods (d(d+1)/2, N) upper-triangle products
    d, N = G.shape
    for n in prange(N):
        s = np.float32(0.0)
        q = 0
        for i in range(d):
            gi = G[i, n]
            s += gi * gi
            for j in range(i, d):
                prods[q, n] = gi * G[j, n]
                q += 1
        mag[n] = np.sqrt(s)


def gradient_products(firsts):
    """Gradient magnitude and the structure tensor's outer products from first derivatives.

    One fused pass instead of ~8 numpy temporaries. Returns ``(magnitude, products)`` with
    ``products`` stacked ``(d(d+1)/2,) + shape`` in (i <= j) order.
    """
    shape = firsts[0].shape
    d = len(firsts)
    G = np.stack([f.ravel() for f in firsts])
    mag = np.empty(G.shape[1], np.float32)
    prods = np.empty((d * (d + 1) // 2, G.shape[1]), np.float32)
    _grad_products(G, mag, prods)
    return mag.reshape(shape), prods.reshape((-1,) + shape)


def smooth_stack(arrays, sigmas):
    """Gaussian smoothing of several same-shaped arrays in one pass per axis (stacked)."""
    st = arrays if isinstance(arrays, np.ndarray) else np.stack(arrays)
    for axis in [st.ndim - 1] + list(range(1, st.ndim - 1)):
        st = filter_axis(st, axis, sigmas[axis - 1], [0])[0]
    return st


@njit(parallel=True, fastmath=False, cache=True, nogil=True)
def _eig3(a00, a01, a02, a11, a12, a22, out):  # pragma: no cover - compiled
    # Closed-form eigenvalues of symmetric 3x3 matrices (trigonometric method), descending.
    n = a00.size
    for i in prange(n):
        A = np.float64(a00[i]); B = np.float64(a11[i]); C = np.float64(a22[i])
        D = np.float64(a01[i]); E = np.float64(a02[i]); F = np.float64(a12[i])
        p1 = D * D + E * E + F * F
        q = (A + B + C) / 3.0
        if p1 <= 1e-30 * (A * A + B * B + C * C + 1e-300):
            e0, e1, e2 = A, B, C
        else:
            p2 = (A - q) ** 2 + (B - q) ** 2 + (C - q) ** 2 + 2.0 * p1
            p = np.sqrt(p2 / 6.0)
            b00 = (A - q) / p; b11 = (B - q) / p; b22 = (C - q) / p
            b01 = D / p; b02 = E / p; b12 = F / p
            detb = b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02) + b02 * (b01 * b12 - b11 * b02)
            rr = detb / 2.0
            if rr <= -1.0:
                phi = np.pi / 3.0
            elif rr >= 1.0:
                phi = 0.0
            else:
                phi = np.arccos(rr) / 3.0
            e0 = q + 2.0 * p * np.cos(phi)
            e2 = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
            e1 = 3.0 * q - e0 - e2
        # sort descending
        if e0 < e1:
            e0, e1 = e1, e0
        if e1 < e2:
            e1, e2 = e2, e1
        if e0 < e1:
            e0, e1 = e1, e0
        out[0, i] = e0
        out[1, i] = e1
        out[2, i] = e2


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _eig2(a, b, c, out):  # pragma: no cover - compiled
    for i in prange(a.size):
        h = (a[i] + c[i]) * np.float32(0.5)
        e = (a[i] - c[i]) * np.float32(0.5)
        d = np.sqrt(e * e + b[i] * b[i])
        out[0, i] = h + d
        out[1, i] = h - d


def sym_eigvals(elems):
    """Eigenvalues (descending) of symmetric matrices given by their upper-triangle elements.

    ``elems`` is ``[a00, a01, a11]`` (2D) or ``[a00, a01, a02, a11, a12, a22]`` (3D), arrays of
    one shape. Returns a float32 array ``(ndim,) + shape``.
    """
    shape = elems[0].shape
    if len(elems) == 3:
        flat = [np.ascontiguousarray(e, np.float32).ravel() for e in elems]
        out = np.empty((2, flat[0].size), np.float32)
        _eig2(flat[0], flat[1], flat[2], out)
        return out.reshape((2,) + shape)
    flat = [np.ascontiguousarray(e, np.float32).ravel() for e in elems]
    out = np.empty((3, flat[0].size), np.float32)
    _eig3(flat[0], flat[1], flat[2], flat[3], flat[4], flat[5], out)
    return out.reshape((3,) + shape)


def set_threads(n):
    """Limit the numba threads used by the filters (``None`` restores all cores)."""
    numba.set_num_threads(n or numba.config.NUMBA_NUM_THREADS)
