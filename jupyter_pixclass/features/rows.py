"""The last filter pass of each sigma, fused with the per-pixel math that makes features.

Every pass but the last runs along an outer axis (:mod:`.filters`). The last one runs along
the contiguous axis row by row: the Gaussian derivatives of one row are made in a few KB of
cache, turned into smoothing, LoG, gradient magnitude, Hessian eigenvalues and DoG right there,
and written straight into the feature planes; the structure tensor's products are smoothed along
the row in the same place. No derivative plane is ever written to memory, which (at 1024x1024)
costs more than the filtering itself (benchmarks/bench_features.py).

Rows are numbered in C order over all axes but the last of the (halo-extended) block;
``orow[row]`` is the row's place in the output, or -1 where the row is halo only. ``need[row]``
says what a row costs: 0 nothing, 1 only the structure tensor's products (first derivatives),
2 every feature. A view zoomed out of a large image needs every 10th row or so: the rows
in between are skipped, or only feed the structure tensor.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from .filters import conv_across, conv_pad, conv_row

__all__ = ["RowPlan", "derivative_rows", "tensor_rows"]

RowPlan = namedtuple("RowPlan", "pre yidx ysrc yhalf ysign yr1 idx dsrc dhalf dsign roles nd slots out orow x0 dog_src "
                                "dog_idx dog_half st_idx st_half prods need st_src st_der todo")
RowPlan.__doc__ = "What :func:`derivative_rows` does for one sigma: its sources, kernels and outputs (see there)."

# slots: where each family's first plane goes in ``out`` (-1: not wanted)
GAUSS, LOG, GGM, HESS, DOG = range(5)


# The trigonometric method needs c = cos(acos(r) / 3). With u = sqrt((1 + r) / 2),
# h(u) = (1 - c) / (1 - u) is smooth on [0, 1]; this degree-9 least-squares fit is good to 7e-10,
# and 1 - c = h(u) (1 - r) / (2 (1 + u)) stays accurate where two eigenvalues meet (r -> +-1).
_H = (0.49999999933506684, -0.07735019383649715, 0.03375873717803612, -0.0196720324621557,
      0.01305736830675284, -0.008980242852810343, 0.005707990845658272, -0.0028916869460040608,
      0.0009684129527658286, -0.00015390824002856757)
_SQRT3 = np.sqrt(3.0)


@njit(fastmath=True, cache=True, nogil=True)
def _eig3(A, D, E, B, F, C):  # pragma: no cover - compiled
    # Eigenvalues (descending) of [[A, D, E], [D, B, F], [E, F, C]] by the trigonometric method
    # (Smith 1961) in float64, with cos and sin of acos(r)/3 from _H instead of libm calls: no
    # branches and no transcendental functions, so the loop over pixels vectorizes.
    q = (A + B + C) / 3.0
    a = A - q
    b = B - q
    c = C - q
    p = np.sqrt((a * a + b * b + c * c + 2.0 * (D * D + E * E + F * F)) / 6.0)
    inv = 1.0 / p if p > 0.0 else 0.0
    a *= inv
    b *= inv
    c *= inv
    d = D * inv
    e = E * inv
    f = F * inv
    r = 0.5 * (a * (b * c - f * f) - d * (d * c - f * e) + e * (d * f - b * e))
    r = min(max(r, -1.0), 1.0)
    u = np.sqrt(0.5 * (1.0 + r))
    h = _H[9]
    for k in range(8, -1, -1):
        h = h * u + _H[k]
    omc = h * 0.5 * (1.0 - r) / (1.0 + u)  # 1 - cos(phi)
    cs = 1.0 - omc
    sn = np.sqrt(omc * (2.0 - omc))  # sin(phi)
    e0 = q + 2.0 * p * cs
    e2 = q - p * (cs + _SQRT3 * sn)
    e1 = min(max(3.0 * q - e0 - e2, e2), e0)
    return e0, e1, e2


@njit(fastmath=True, nogil=True, cache=True)
def _mirror(pad, r, n, idx):  # pragma: no cover - compiled
    # pad[r:r+n] holds a row; fill the r mirrored values each side (idx: source column per position)
    for j in range(r):
        pad[j] = pad[r + idx[j]]
        pad[r + n + j] = pad[r + idx[r + n + j]]


@njit(fastmath=True, nogil=True, cache=True)
def _load(pad, r, row, idx):  # pragma: no cover - compiled
    n = row.size
    mid = pad[r:r + n]
    for q in range(n):
        mid[q] = row[q]
    _mirror(pad, r, n, idx)


@njit(fastmath=True, nogil=True, cache=True)
def _eigvals(m, nd, x0, n, out, slot, o):  # pragma: no cover - compiled
    # m (nd(nd+1)/2, >= x0 + n): upper-triangle rows of symmetric matrices -> out[slot + j, o, :n]
    if nd == 2:
        a = m[0, x0:x0 + n]
        b = m[1, x0:x0 + n]
        c = m[2, x0:x0 + n]
        hi = out[slot, o]
        lo = out[slot + 1, o]
        for q in range(n):  # in float64: a bright image's tensor squared overflows float32 (from values of
            # ~1e12; images stop at 1e18, images.checks.MAX_VALUE, where float32 still holds the gradients squared)
            aq, bq, cq = np.float64(a[q]), np.float64(b[q]), np.float64(c[q])
            h = (aq + cq) * 0.5
            e = (aq - cq) * 0.5
            d = np.sqrt(e * e + bq * bq)
            hi[q] = h + d
            lo[q] = h - d
    else:
        for q in range(n):
            j = x0 + q
            e0, e1, e2 = _eig3(np.float64(m[0, j]), np.float64(m[1, j]), np.float64(m[2, j]),
                               np.float64(m[3, j]), np.float64(m[4, j]), np.float64(m[5, j]))
            out[slot, o, q] = e0
            out[slot + 1, o, q] = e1
            out[slot + 2, o, q] = e2


@njit(fastmath=True, cache=True, nogil=True)
def derivative_rows(lo, hi, plan):  # pragma: no cover - compiled
    """Last two passes of one sigma for rows ``lo..hi-1``: across the rows, then along each row
    for every derivative, then every feature of the row (run on all cores by
    :func:`..runtime.threads.run_rows`).

    ``plan`` is a :class:`RowPlan`; its fields:

    pre : (Q, A, N, W) float32
        The input, filtered along the axes before the last two in 3D (rows are ``a * N + i``).
    yidx, ysrc, yhalf, ysign, yr1
        Source ``s`` (one per order prefix, plus DoG's) is ``pre[ysrc[s]]`` filtered across rows
        (along N) with kernel half ``yhalf[s, :yr1[s]]``, sign ``ysign[s]``; ``yidx`` mirrors
        along N for the largest radius. Sources of one ``pre`` and radius are adjacent.
    idx : (W + 2r,) int64
        Mirrored column index for the derivative kernels' radius ``r``.
    dsrc, dhalf, dsign : (D,), (D, r + 1), (D,)
        Derivative ``e`` filters source ``dsrc[e]`` with kernel half ``dhalf[e]`` (scaled for
        anisotropic spacing), odd kernels have ``dsign`` -1. Derivatives of one source are adjacent.
    roles : (1 + nd + nd(nd+1)/2,) int64
        Derivative index of the smoothed image, the first derivatives, the second derivatives in
        upper-triangle order; -1 where not computed.
    slots : (5,) int64
        Output plane of Gaussian, LoG, gradient magnitude, Hessian eigenvalues, DoG; -1: skip.
    out : (F, R_out, W_out) float32
    orow : (R,) int64
    x0 : int
        First column of the output in the row.
    dog_src, dog_idx, dog_half
        DoG's source (-1: none), its mirrored index and kernel half.
    st_idx, st_half, prods
        Structure tensor: products of first derivatives are smoothed along the row and written
        to ``prods (nd(nd+1)/2, R, W)`` (size 0: no structure tensor).
    need : (R,) uint8
        0: skip the row; 1: only its structure-tensor products; 2: everything.
    st_src, st_der : (S,), (D,) bool
        The sources and derivatives the structure tensor's products need.
    todo : int64 array
        The rows with ``need > 0``; ``lo..hi`` index it, so threads share the work evenly
        however few rows are wanted.
    """
    (pre, yidx, ysrc, yhalf, ysign, yr1, idx, dsrc, dhalf, dsign, roles, nd, slots, out, orow, x0, dog_src,
     dog_idx, dog_half, st_idx, st_half, prods, need, st_src, st_der, todo) = plan
    Q, A, N, W = pre.shape
    S = ysrc.size
    ry = (yidx.size - N) // 2
    D = dsrc.size
    r = (idx.size - W) // 2
    rd = (dog_idx.size - W) // 2
    rs = (st_idx.size - W) // 2
    wout = out.shape[2]
    P = prods.shape[0]
    pad = np.empty(W + 2 * max(r, rd, rs), np.float32)
    d = np.empty((max(D, 1), W), np.float32)
    m = np.empty((nd * (nd + 1) // 2, wout), np.float32)
    g2 = np.empty(W, np.float32)
    sb = np.empty((S, W), np.float32)
    for ii in range(lo, hi):
        row = todo[ii]
        o = orow[row]
        nr = need[row]
        if nr == 0:
            continue
        a = row // N
        j = row % N + ry
        s = 0
        while s < S:  # the sources of this row: the pass across rows, in cache
            K = 1
            while s + K < S and K < 3 and ysrc[s + K] == ysrc[s] and yr1[s + K] == yr1[s]:
                K += 1
            want = nr == 2
            for k in range(s, s + K):
                want = want or st_src[k]
            if want:  # a row only for the structure tensor skips sources it does not use
                conv_across(pre[ysrc[s]], a, j, yidx, yhalf[s:s + K], ysign[s:s + K], yr1[s], W,
                            sb[s], sb[s + min(1, K - 1)], sb[s + K - 1])
            s += K
        e = 0
        while e < D:  # the derivatives of one source are adjacent: filter them together
            K = 1
            while e + K < D and K < 3 and dsrc[e + K] == dsrc[e]:
                K += 1
            if nr == 2:
                _load(pad, r, sb[dsrc[e]], idx)
                conv_pad(pad, r, dhalf[e:e + K], dsign[e:e + K], W, d[e], d[e + min(1, K - 1)], d[e + K - 1])
            else:  # only the first derivatives, one by one
                for k in range(e, e + K):
                    if st_der[k]:
                        _load(pad, r, sb[dsrc[k]], idx)
                        conv_pad(pad, r, dhalf[k:k + 1], dsign[k:k + 1], W, d[k], d[k], d[k])
            e += K
        if nr == 2 and o >= 0:
            _row_features(d, roles, nd, slots, out, o, x0, wout, m)
            if slots[DOG] >= 0:
                _load(pad, rd, sb[dog_src], dog_idx)
                conv_row(pad, rd, dog_half, np.float32(1.0), W, g2)
                dst = out[slots[DOG], o]
                gs = d[roles[0], x0:x0 + wout]
                g2s = g2[x0:x0 + wout]
                for q in range(wout):
                    dst[q] = gs[q] - g2s[q]
        k = 0
        for i in range(nd if P else 0):  # structure tensor: products, smoothed along the row
            fi = d[roles[1 + i]]
            for j in range(i, nd):
                fj = d[roles[1 + j]]
                mid = pad[rs:rs + W]
                for q in range(W):
                    mid[q] = fi[q] * fj[q]
                _mirror(pad, rs, W, st_idx)
                conv_row(pad, rs, st_half, np.float32(1.0), W, prods[k, row])
                k += 1


@njit(fastmath=True, nogil=True, cache=True)
def _row_features(d, roles, nd, slots, out, o, x0, wout, m):  # pragma: no cover - compiled
    # smoothing, LoG, gradient magnitude, Hessian eigenvalues of one row from its derivatives
    g = roles[0]
    if slots[GAUSS] >= 0:
        dst = out[slots[GAUSS], o]
        gs = d[g, x0:x0 + wout]
        for q in range(wout):
            dst[q] = gs[q]
    if slots[LOG] >= 0:
        dst = out[slots[LOG], o]
        for q in range(wout):
            dst[q] = 0.0
        k = 0
        for i in range(nd):  # diagonal of the upper triangle
            di = d[roles[1 + nd + k], x0:x0 + wout]
            for q in range(wout):
                dst[q] += di[q]
            k += nd - i
    if slots[GGM] >= 0:
        dst = out[slots[GGM], o]
        for q in range(wout):
            dst[q] = 0.0
        for i in range(nd):
            di = d[roles[1 + i], x0:x0 + wout]
            for q in range(wout):
                dst[q] += di[q] * di[q]
        for q in range(wout):
            dst[q] = np.sqrt(dst[q])
    if slots[HESS] >= 0:
        for k in range(m.shape[0]):
            dk = d[roles[1 + nd + k], x0:x0 + wout]
            mk = m[k]
            for q in range(wout):
                mk[q] = dk[q]
        _eigvals(m, nd, 0, wout, out, slots[HESS], o)


@njit(fastmath=True, cache=True, nogil=True)
def tensor_rows(lo, hi, src, idx, half, nd, out, slot, orow, x0, todo):  # pragma: no cover - compiled
    """Last structure-tensor pass (along the second-to-last axis) fused with the eigenvalues.

    ``src (P, A, N, B)``: the tensor elements smoothed along every other axis; rows are
    ``a * N + i``; ``lo..hi-1`` index ``todo``, the rows wanted in the output; ``idx`` mirrors
    along N for the kernel ``half``.
    """
    P, A, N, B = src.shape
    r = half.size - 1
    wout = out.shape[2]
    m = np.empty((P, wout), np.float32)
    for ii in range(lo, hi):
        row = todo[ii]
        o = orow[row]
        a = row // N
        i = row % N
        for p in range(P):
            mp = m[p]
            c = src[p, a, idx[i + r], x0:x0 + wout]
            w = half[0]
            for q in range(wout):
                mp[q] = w * c[q]
            for t in range(1, r + 1):
                w = half[t]
                hi = src[p, a, idx[i + r + t], x0:x0 + wout]
                lo = src[p, a, idx[i + r - t], x0:x0 + wout]
                for q in range(wout):
                    mp[q] += w * (hi[q] + lo[q])
        _eigvals(m, nd, 0, wout, out, slot, o)
