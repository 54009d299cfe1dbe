"""Binning labeled pixels for the trainer: per-feature edges (quantiles and the widest gaps), 8-bit bins."""
from __future__ import annotations

import numpy as np
from numba import njit

from ..runtime.threads import run_rows

__all__ = ["N_BINS", "EDGE_SAMPLE", "bin_edges", "apply_bins", "transpose", "transpose_into"]

N_BINS = 256
# edges come from about this many labeled pixels, so their cost stops growing with the labels:
# 8 192 of bench_live's 27 245 give the same held-out IoU as 16 384 (benchmarks/RESULTS.md,
# "Edges from a sample of fixed size") at half the cost
EDGE_SAMPLE = 8192


def bin_edges(X, n_bins=N_BINS, sample=EDGE_SAMPLE, seed=0, n_gaps=64, feature_major=False, rows=None):
    """Per feature, up to ``n_bins - 1`` increasing float32 edges: quantiles and the widest gaps.

    Quantiles of at most ``sample`` rows (a fixed random subset; or the increasing indices
    ``rows``, which the trainer draws class by class) follow the distribution; the
    lower ends of the ``n_gaps`` widest gaps between neighbouring values are edges too (of equal
    gaps, the lower ones). Brush strokes stay inside objects, so classes often sit on either side
    of an empty stretch of feature values; a bin straddling it could not separate them, and the
    split would land inside one class instead of in the middle of the gap where scikit-learn
    puts it. ``X`` is (N, F), or (F, N) with ``feature_major=True``.
    """
    XT = np.ascontiguousarray(X, np.float32) if feature_major else transpose(X)
    N = XT.shape[1]
    if rows is None:
        rows = np.arange(N) if N <= sample else np.sort(np.random.default_rng(seed).choice(N, sample, replace=False))
    rows = np.ascontiguousarray(rows, np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= N):
        raise IndexError(f"edge rows outside the {N} samples")
    edges = np.full((XT.shape[0], n_bins - 1), np.inf, np.float32)
    if N:
        run_rows(_edges_of_rows, XT.shape[0], XT, rows, min(n_gaps, n_bins - 1), edges)
    return edges, np.isfinite(edges).sum(1).astype(np.int64)


@njit(nogil=True, cache=True)
def _transpose(lo, hi, X, XT):  # pragma: no cover - compiled
    # blocks lo..hi-1 of 256 rows of X (N, F) into XT (F, N), a block at a time (in cache)
    N, F = X.shape
    for blk in range(lo, hi):
        r0 = blk * 256
        r1 = min(r0 + 256, N)
        for f in range(F):
            xt = XT[f]
            for i in range(r0, r1):
                xt[i] = X[i, f]


def transpose(X):
    """``X`` (N, F) as a contiguous feature-major float32 array (F, N), on every thread."""
    X = np.ascontiguousarray(X, np.float32)
    XT = np.empty((X.shape[1], X.shape[0]), np.float32)
    run_rows(_transpose, (X.shape[0] + 255) // 256, X, XT)
    return XT


@njit(nogil=True, cache=True)
def _transpose_into(lo, hi, blocks, dests, XT):  # pragma: no cover - compiled
    # blocks lo..hi-1: row i of blocks[j] (n, F) to column dests[j][i] of XT (F, N) when that is
    # >= 0, 256 rows at a time (the block's rows and the columns they land in stay in cache)
    F = XT.shape[0]
    for j in range(lo, hi):
        X = blocks[j]
        dest = dests[j]
        for r0 in range(0, dest.size, 256):
            r1 = min(r0 + 256, dest.size)
            for f in range(F):
                xt = XT[f]
                for i in range(r0, r1):
                    d = dest[i]
                    if d >= 0:
                        xt[d] = X[i, f]


def transpose_into(XT, blocks, dests):
    """Rows of ``blocks`` (each (n, F) float32) into columns of ``XT`` (F, N), on every thread.

    Row ``i`` of ``blocks[j]`` goes to column ``dests[j][i]`` (int64; negative: left out), so rows
    kept in pieces (the label store's tiles) land feature-major in one pass, without an (N, F)
    copy. Columns must be in ``0..N-1`` and no two rows may share one.
    """
    from numba.typed import List

    if len(blocks) != len(dests):
        raise ValueError(f"{len(blocks)} blocks but {len(dests)} destinations")
    bl, dl = List(), List()
    for b, d in zip(blocks, dests):
        b = np.ascontiguousarray(b, np.float32)
        d = np.ascontiguousarray(d, np.int64)
        if b.ndim != 2 or b.shape[1] != XT.shape[0] or d.shape != (b.shape[0],):
            raise ValueError(f"a block of shape {b.shape} with {d.shape} destinations does not fit {XT.shape}")
        if d.size and d.max() >= XT.shape[1]:
            raise IndexError(f"destination {int(d.max())} outside the {XT.shape[1]} columns")
        bl.append(b)
        dl.append(d)
    if len(bl):
        run_rows(_transpose_into, len(bl), bl, dl, XT)
    return XT


@njit(nogil=True, cache=True)
def _radix_sort(v, keys, tmp, out):  # pragma: no cover - compiled
    # float32 values v sorted into out: an LSD radix sort of order-preserving uint32 keys, four
    # byte-passes (passes where every key has the same byte are skipped). np.sort took 29 ms for
    # 98 features of 16 384 values here, this 4 ms (benchmarks/RESULTS.md, "Training").
    n = v.size
    bits = v.view(np.uint32)
    for i in range(n):
        b = bits[i]
        keys[i] = ~b if b >> np.uint32(31) else b | np.uint32(0x80000000)
    counts = np.zeros(256, np.int64)
    for shift in range(0, 32, 8):
        counts[:] = 0
        for i in range(n):
            counts[(keys[i] >> np.uint32(shift)) & np.uint32(255)] += 1
        if counts.max() == n:
            continue
        a = 0
        for d in range(256):
            c = counts[d]
            counts[d] = a
            a += c
        for i in range(n):
            k = keys[i]
            d = (k >> np.uint32(shift)) & np.uint32(255)
            tmp[counts[d]] = k
            counts[d] += 1
        keys, tmp = tmp, keys
    ob = out.view(np.uint32)
    for i in range(n):
        k = keys[i]
        ob[i] = k & np.uint32(0x7FFFFFFF) if k >> np.uint32(31) else ~k


@njit(nogil=True, cache=True)
def _kth_largest_gap(srt, k, heap):  # pragma: no cover - compiled
    # the k-th largest difference between neighbours of sorted srt: a min-heap of the k largest
    # so far (most gaps are small and rejected by one comparison; 6x faster than np.partition)
    n = 0
    for i in range(srt.size - 1):
        x = srt[i + 1] - srt[i]
        if n < k:
            j = n
            n += 1
            heap[j] = x
            while j > 0 and heap[(j - 1) >> 1] > heap[j]:
                p = (j - 1) >> 1
                heap[p], heap[j] = heap[j], heap[p]
                j = p
        elif x > heap[0]:
            heap[0] = x
            j = 0
            while True:
                c = 2 * j + 1
                if c >= k:
                    break
                if c + 1 < k and heap[c + 1] < heap[c]:
                    c += 1
                if heap[c] >= heap[j]:
                    break
                heap[c], heap[j] = heap[j], heap[c]
                j = c
    return heap[0]


@njit(nogil=True, cache=True)
def _edges_of_rows(lo, hi, XT, rows, n_gaps, edges):  # pragma: no cover - compiled
    # bin_edges of features lo..hi-1, from the sampled columns ``rows`` of XT (F, N)
    n = rows.size
    n_e = edges.shape[1]
    n_q = n_e - n_gaps
    v = np.empty(n, np.float32)
    srt = np.empty(n, np.float32)
    keys = np.empty(n, np.uint32)
    tmp = np.empty(n, np.uint32)
    heap = np.empty(max(n_gaps, 1), np.float32)
    cand = np.empty(n_e, np.float32)
    for f in range(lo, hi):
        xf = XT[f]
        for i in range(n):
            v[i] = xf[rows[i]]
        _radix_sort(v, keys, tmp, srt)
        nc = 0
        for i in range(1, n_q + 1):  # quantiles
            cand[nc] = srt[(i * n) // (n_q + 1)]
            nc += 1
        k = min(n_gaps, n - 1)
        if k > 0:  # the lower ends of the k widest gaps (> 0), the lower ones first among equals
            kth = _kth_largest_gap(srt, k, heap)
            n_equal = k
            for i in range(n - 1):
                if srt[i + 1] - srt[i] > kth:
                    n_equal -= 1
            for i in range(n - 1):
                g = srt[i + 1] - srt[i]
                if g > 0 and (g > kth or (g == kth and n_equal > 0)):
                    if g == kth:
                        n_equal -= 1
                    cand[nc] = srt[i]
                    nc += 1
        c = np.sort(cand[:nc])
        # distinct values below the feature's maximum (an edge at the maximum splits nothing)
        top = srt[n - 1]
        e = edges[f]
        j = 0
        for i in range(nc):
            if c[i] < top and (j == 0 or c[i] != e[j - 1]) and j < n_e:
                e[j] = c[i]
                j += 1


@njit(nogil=True, cache=True, inline="always")
def _bin_of(e, x):  # pragma: no cover - compiled
    # number of edges < x, branch-free: edges are padded with +inf to 255 entries
    a = 0
    step = 128
    while step:
        a += step if e[a + step - 1] < x else 0
        step >>= 1
    return a


@njit(nogil=True, cache=True)
def _apply_bins(lo, hi, XT, edges, out):  # pragma: no cover - compiled
    # out[f, i] = number of edges < XT[f, i]: x <= edges[f, b]  <=>  bin <= b. Eight searches
    # side by side: each is a chain of eight dependent loads, and eight independent chains keep
    # the core busy (27 245 labels x 98 features: 14.4 -> 6.8 ms, benchmarks/RESULTS.md)
    for f in range(lo, hi):
        e = edges[f]
        row = XT[f]
        o = out[f]
        n = row.size
        i = 0
        while i + 8 <= n:
            x0, x1, x2, x3 = row[i], row[i + 1], row[i + 2], row[i + 3]
            x4, x5, x6, x7 = row[i + 4], row[i + 5], row[i + 6], row[i + 7]
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0
            step = 128
            while step:
                a0 += step if e[a0 + step - 1] < x0 else 0
                a1 += step if e[a1 + step - 1] < x1 else 0
                a2 += step if e[a2 + step - 1] < x2 else 0
                a3 += step if e[a3 + step - 1] < x3 else 0
                a4 += step if e[a4 + step - 1] < x4 else 0
                a5 += step if e[a5 + step - 1] < x5 else 0
                a6 += step if e[a6 + step - 1] < x6 else 0
                a7 += step if e[a7 + step - 1] < x7 else 0
                step >>= 1
            o[i], o[i + 1], o[i + 2], o[i + 3] = a0, a1, a2, a3
            o[i + 4], o[i + 5], o[i + 6], o[i + 7] = a4, a5, a6, a7
            i += 8
        for j in range(i, n):
            o[j] = _bin_of(e, row[j])


def apply_bins(X, edges, feature_major=False):
    """Bins ``(F, N)`` uint8 of samples ``X`` (N, F) (or (F, N) with ``feature_major``), and ``X`` feature-major."""
    XT = np.ascontiguousarray(X, np.float32) if feature_major else transpose(X)
    out = np.empty(XT.shape, np.uint8)
    run_rows(_apply_bins, XT.shape[0], XT, np.ascontiguousarray(edges, np.float32), out)
    return out, XT
