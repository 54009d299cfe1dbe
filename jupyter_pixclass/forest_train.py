"""Training a random forest on binned features, compiled, one tree per task on our thread pool.

Brush strokes give thousands of nearly identical pixels; scikit-learn sorts every one of them
at every node of every tree, so its time grows with the labels (8.8 s for 42.5k labeled pixels
and 100 trees here). This builder keeps the forest we promise (Breiman's: bootstrap samples,
sqrt(F) candidate features per split, Gini, trees grown until pure, class distributions in the
leaves) but
- draws each tree's bootstrap sample of about ``max_samples`` pixels class by class, so a
  tree's cost stops growing with the labels and a rare class keeps at least
  ``min_class_share`` of the draws (drawn with replacement, it is weighed up);
- splits on 8-bit histogram bins of each feature (edges at quantiles of the labeled pixels;
  thresholds are feature values, so the scorer in :mod:`.forest` reads raw features);
- seeds every tree from ``random_state`` and its index alone, so the forest does not depend on
  how trees were spread over threads.
Measurements and what was tried and dropped: benchmarks/RESULTS.md ("Training").
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .threads import run_rows

__all__ = ["fit_binned_forest", "bin_edges", "apply_bins"]

N_BINS = 256
EXACT_BELOW = 64  # nodes this small are split at exact values (a sort is cheaper than the bins there)


def bin_edges(X, n_bins=N_BINS, sample=16_384, seed=0, n_gaps=64, feature_major=False):
    """Per feature, up to ``n_bins - 1`` increasing float32 edges: quantiles and the widest gaps.

    Quantiles of at most ``sample`` rows (a fixed random subset) follow the distribution; the
    lower ends of the ``n_gaps`` widest gaps between neighbouring values are edges too (of equal
    gaps, the lower ones). Brush strokes stay inside objects, so classes often sit on either side
    of an empty stretch of feature values; a bin straddling it could not separate them, and the
    split would land inside one class instead of in the middle of the gap where scikit-learn
    puts it. ``X`` is (N, F), or (F, N) with ``feature_major=True``.
    """
    XT = np.ascontiguousarray(X, np.float32) if feature_major else transpose(X)
    N = XT.shape[1]
    rows = np.arange(N) if N <= sample else np.sort(np.random.default_rng(seed).choice(N, sample, replace=False))
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


@njit(nogil=True, cache=True)
def _apply_bins(lo, hi, XT, edges, out):  # pragma: no cover - compiled
    # out[f, i] = number of edges < XT[f, i]: x <= edges[f, b]  <=>  bin <= b
    for f in range(lo, hi):
        e = edges[f]
        row = XT[f]
        o = out[f]
        for i in range(row.size):  # branch-free: edges are padded with +inf to 255 entries
            x = row[i]
            a = 0
            step = 128
            while step:
                a += step if e[a + step - 1] < x else 0
                step >>= 1
            o[i] = a


def apply_bins(X, edges, feature_major=False):
    """Bins ``(F, N)`` uint8 of samples ``X`` (N, F) (or (F, N) with ``feature_major``), and ``X`` feature-major."""
    XT = np.ascontiguousarray(X, np.float32) if feature_major else transpose(X)
    out = np.empty(XT.shape, np.uint8)
    run_rows(_apply_bins, XT.shape[0], XT, np.ascontiguousarray(edges, np.float32), out)
    return out, XT


def _floor32(t):
    """Largest float32 values not above ``t`` (float64): ``x <= t32`` iff ``x <= t`` for float32 x."""
    t32 = t.astype(np.float32)
    up = t32.astype(np.float64) > t
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


@njit(nogil=True, cache=True)
def _rand(state):  # pragma: no cover - compiled
    # splitmix64: a tiny, good generator whose whole state is one uint64 per tree
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(nogil=True, cache=True)
def _randint(state, n):  # pragma: no cover - compiled
    return np.int64(_rand(state) % np.uint64(n))


@njit(nogil=True, cache=True)
def _split_score(lcount, tot, nl, m):  # pragma: no cover - compiled
    # sum_k left_k^2 / n_left + sum_k right_k^2 / n_right: the larger, the lower the children's
    # weighted Gini impurity
    sl = 0.0
    sr = 0.0
    for k in range(tot.size):
        sl += lcount[k] * lcount[k]
        rk = tot[k] - lcount[k]
        sr += rk * rk
    return sl / nl + sr / (m - nl)


@njit(nogil=True, cache=True)
def _best_bin(hist, K, tot, m, min_leaf, cum, score):  # pragma: no cover - compiled
    # The bin b whose split "bin <= b" scores highest, and its score; hist (K * N_BINS) int32
    # counts, class-major, cleared here. Prefix sums then scores of every bin in flat loops (they
    # vectorize: 3x faster than scoring bin by bin); an empty bin scores as the one before it, so
    # the first of equal scores, the lowest bin, wins as it did bin by bin.
    nl = score  # reused: samples left of each bin
    nl[:] = 0.0
    for k in range(K):
        a = 0.0
        h = hist[k * N_BINS:(k + 1) * N_BINS]
        c = cum[k]
        for b in range(N_BINS):
            a += h[b]
            c[b] = a
            h[b] = 0
        for b in range(N_BINS):
            nl[b] += c[b]
    sc = np.empty(N_BINS, np.float64)
    for b in range(N_BINS):
        sl = 0.0
        sr = 0.0
        for k in range(K):
            ck = cum[k, b]
            rk = tot[k] - ck
            sl += ck * ck
            sr += rk * rk
        nlb = nl[b]
        ok = nlb >= min_leaf and m - nlb >= min_leaf
        sc[b] = sl / nlb + sr / (m - nlb) if ok else -1.0
    best = -1.0
    best_b = -1
    for b in range(N_BINS):
        if sc[b] > best:
            best = sc[b]
            best_b = b
    return best_b, best


@njit(nogil=True, cache=True)
def _grow(XT, Xb, n_edges, y, K, weight, idx, mtry, max_depth, min_leaf, seed, feat, thr, tval, left, right,
          value, imp, scratch):
    # pragma: no cover - compiled
    # One tree on the samples in ``idx`` (indices into the columns of Xb, with repeats, in
    # increasing order; reordered here), depth first. Nodes are numbered in creation order, so
    # children come after their parent. Returns the number of nodes. ``scratch``: buffers of one
    # thread (_scratch), reused tree after tree: fresh memory is slow to touch after a pause.
    F = Xb.shape[0]
    n = idx.size
    state = np.empty(1, np.uint64)
    state[0] = np.uint64(seed)
    nidx, ny, code, right_idx, stack, hist, cum, nl_bins, vals, srt, order = scratch
    stack_lo, stack_hi, stack_node, stack_depth = stack[0], stack[1], stack[2], stack[3]
    hist[:] = 0
    for j in range(F):
        order[j] = j
    tot = np.zeros(K, np.float64)
    lcount = np.zeros(K, np.float64)
    stack_lo[0], stack_hi[0], stack_node[0], stack_depth[0] = 0, n, 0, 0
    sp = 1
    n_nodes = 1
    while sp > 0:
        sp -= 1
        lo, hi, node, depth = stack_lo[sp], stack_hi[sp], stack_node[sp], stack_depth[sp]
        m = hi - lo
        tot[:] = 0.0
        for q in range(m):  # the node's samples and classes side by side: one gather, read by every feature
            a = idx[lo + q]
            nidx[q] = a
            ny[q] = y[a]
            code[q] = ny[q] * N_BINS  # a sample's class times N_BINS: its row of the histogram
            tot[ny[q]] += 1.0
        wsum = 0.0
        for k in range(K):
            wsum += weight[k] * tot[k]
        for k in range(K):  # a class drawn more often than its share of the labels counts less
            value[node, k] = weight[k] * tot[k] / wsum
        left[node] = -1
        right[node] = -1
        pure = False
        for k in range(K):
            if tot[k] == m:
                pure = True
        if pure or m < 2 * min_leaf or depth >= max_depth:
            continue
        if n_nodes + 2 > feat.size or sp + 2 > stack_lo.size:  # out of room: grown again with more
            return -1
        parent_score = 0.0
        for k in range(K):
            parent_score += tot[k] * tot[k]
        parent_score /= m
        best_score = parent_score + 1e-12
        best_f = -1
        best_b = -1
        best_cut = np.float32(0.0)
        exact = m <= EXACT_BELOW  # small nodes: every distinct value is a candidate, as in scikit-learn
        # candidate features in random order; like scikit-learn, look past mtry until a split exists
        tried = 0
        for j in range(F):
            r = j + _randint(state, F - j)
            order[j], order[r] = order[r], order[j]
            f = order[j]
            if tried >= mtry and best_f >= 0:
                break
            tried += 1
            nb = n_edges[f] + 1
            if nb < 2:
                continue
            if exact:
                xf = XT[f]
                # insertion sort of at most EXACT_BELOW values into srt (stable, no allocation)
                for q in range(m):
                    v = xf[nidx[q]]
                    vals[q] = v
                    r = q
                    while r > 0 and vals[srt[r - 1]] > v:
                        srt[r] = srt[r - 1]
                        r -= 1
                    srt[r] = q
                lcount[:] = 0.0
                for q in range(m - 1):
                    lcount[ny[srt[q]]] += 1.0
                    v0 = vals[srt[q]]
                    if v0 == vals[srt[q + 1]]:
                        continue
                    nl = q + 1.0
                    if nl < min_leaf or m - nl < min_leaf:
                        continue
                    score = _split_score(lcount, tot, nl, m)
                    if score > best_score:
                        best_score = score
                        best_f = f
                        best_cut = v0
                continue
            row = Xb[f]
            for q in range(m):  # the hot loop: integer counts, one flat index
                hist[code[q] + np.int64(row[nidx[q]])] += 1
            b, score = _best_bin(hist, K, tot, m, min_leaf, cum, nl_bins)
            if b >= 0 and score > best_score:
                best_score = score
                best_f = f
                best_b = b
        if best_f < 0:
            continue
        # split idx[lo:hi] by bin <= best_b (or, in an exact split, value <= best_cut), keeping
        # both sides in increasing order, without branches; the largest value going left and
        # the smallest going right come with it
        row = Xb[best_f]
        xf = XT[best_f]
        i = lo
        nr = 0
        lmax = -np.inf
        rmin = np.inf
        for q in range(m):
            a = nidx[q]
            v = xf[a]
            go_left = (row[a] <= best_b) if not exact else (v <= best_cut)
            idx[i] = a
            right_idx[nr] = a
            i += 1 if go_left else 0
            nr += 0 if go_left else 1
            lmax = max(lmax, v) if go_left else lmax
            rmin = rmin if go_left else min(rmin, v)
        for q in range(nr):
            idx[i + q] = right_idx[q]
        feat[node] = best_f
        thr[node] = best_b
        # the threshold goes halfway between the node's neighbouring values on either side, as
        # scikit-learn puts it: a threshold hugging one class misclassifies images a little
        # brighter or dimmer than the training ones
        tval[node] = 0.5 * (np.float64(lmax) + np.float64(rmin))
        imp[best_f] += best_score - parent_score  # m * (Gini(parent) - weighted Gini(children))
        left[node] = n_nodes
        right[node] = n_nodes + 1
        stack_lo[sp], stack_hi[sp], stack_node[sp], stack_depth[sp] = i, hi, n_nodes + 1, depth + 1
        sp += 1
        stack_lo[sp], stack_hi[sp], stack_node[sp], stack_depth[sp] = lo, i, n_nodes, depth + 1
        sp += 1
        n_nodes += 2
    return n_nodes


@njit(nogil=True, cache=True)
def _bootstrap(state, by_class, starts, counts, draws, times, out):  # pragma: no cover - compiled
    # draws[c] samples with replacement from class c's pixels into out, in increasing pixel order
    # (a counting sort over ``times``, zeros of one per pixel, left zero): a node then reads a
    # feature's bins front to back
    for c in range(counts.size):
        for _ in range(draws[c]):
            times[by_class[starts[c] + _randint(state, counts[c])]] += 1
    j = 0
    for s in range(times.size):
        for _ in range(times[s]):
            out[j] = s
            j += 1
        times[s] = 0


@njit(nogil=True, cache=True)
def _scratch(n, n_pixels, K, F, stack_size):  # pragma: no cover - compiled
    # one thread's buffers for growing trees on n samples (see _grow)
    return (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64),
            np.empty((4, stack_size), np.int64), np.zeros(K * N_BINS, np.int32), np.empty((K, N_BINS), np.float64),
            np.empty(N_BINS, np.float64), np.empty(EXACT_BELOW, np.float32), np.empty(EXACT_BELOW, np.int64),
            np.empty(F, np.int64))


@njit(nogil=True, cache=True)
def _grow_trees(lo, hi, Xb, n_edges, y, K, by_class, starts, counts, draws, weight, mtry, max_depth, min_leaf,
                seeds, feat, thr, tval, left, right, value, imp, n_nodes, XT):  # pragma: no cover - compiled
    n = 0
    for c in range(draws.size):
        n += draws[c]
    # depth first, a node pushes two children and pops one: the stack holds at most one pending
    # sibling per level
    scratch = _scratch(n, by_class.size, K, Xb.shape[0], min(n + 1, 2 * max_depth + 4))
    times = np.zeros(by_class.size, np.int32)
    idx = np.empty(n, np.int64)
    for t in range(lo, hi):
        state = np.empty(1, np.uint64)
        state[0] = seeds[t]
        _bootstrap(state, by_class, starts, counts, draws, times, idx)
        n_nodes[t] = _grow(XT, Xb, n_edges, y, K, weight, idx, mtry, max_depth, min_leaf, _rand(state),
                           feat[t], thr[t], tval[t], left[t], right[t], value[t], imp[t], scratch)


def class_draws(counts, max_samples, min_class_share):
    """Bootstrap draws per class: proportional to the class, each at least ``min_class_share``.

    A class with few labeled pixels is drawn more often than it has pixels (with replacement),
    which weighs it up as scikit-learn's ``class_weight`` would: a few strokes of a rare class
    are not outvoted by thousands of background pixels.
    """
    counts = np.asarray(counts, np.int64)
    n = int(counts.sum())
    m = min(n, int(max_samples))
    draws = np.round(m * counts / n).astype(np.int64)
    draws = np.maximum(draws, int(m * min_class_share))
    draws[counts == 0] = 0
    return draws


def leaf_weights(counts, draws, max_samples):
    """Per class, the weight of its draws in a leaf: 1, or less for a class drawn above its share.

    A rare class drawn ``min_class_share`` of the time shapes the splits (its strokes are not
    outvoted), but counted as drawn its leaves would claim it more often than the labels do; its
    draws count ``(its share of the labels) / (its share of the draws)`` in the leaves, so the
    probabilities follow the labels as scikit-learn's do.
    """
    counts = np.asarray(counts, np.float64)
    n = counts.sum()
    m = min(n, float(max_samples))
    fair = np.round(m * counts / n)
    w = np.ones(counts.size)
    up = (np.asarray(draws) > fair) & (counts > 0)
    w[up] = (m * counts[up] / n) / np.asarray(draws, np.float64)[up]
    return w


def _tree_arrays(T, cap, K, F):
    # uninitialised where _grow writes every node it makes: untouched pages cost nothing
    return (np.empty((T, cap), np.int32), np.empty((T, cap), np.int64), np.empty((T, cap), np.float64),
            np.empty((T, cap), np.int32), np.empty((T, cap), np.int32), np.empty((T, cap, K), np.float32),
            np.zeros((T, F), np.float64), np.zeros(T, np.int64))


def _widen(a, b, rows):
    """``a`` with its ``rows`` replaced by the wider ``b``."""
    out = np.zeros((a.shape[0], b.shape[1]) + a.shape[2:], a.dtype)
    out[:, :a.shape[1]] = a
    out[rows] = b
    return out


class Binned:
    """Labeled pixels ready for growing trees: 8-bit bins, classes, draws per tree."""

    def __init__(self, X, y, random_state=0, max_samples=6000, min_class_share=0.1):
        X = np.asarray(X, np.float32)
        self.y = np.ascontiguousarray(y, np.int64)
        self.F = X.shape[1]
        self.K = int(self.y.max()) + 1
        self.random_state = int(random_state or 0)
        XT = transpose(X)
        self.edges, self.n_edges = bin_edges(XT, seed=self.random_state, feature_major=True)
        self.Xb, self.XT = apply_bins(XT, self.edges, feature_major=True)
        self.by_class = np.argsort(self.y, kind="stable").astype(np.int64)
        self.counts = np.bincount(self.y, minlength=self.K).astype(np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        self.draws = class_draws(self.counts, max_samples, min_class_share)
        self.leaf_weight = leaf_weights(self.counts, self.draws, max_samples)

    def seeds(self, n_estimators):
        """One seed per tree of an ``n_estimators`` forest; tree t's seed does not depend on the count."""
        return np.random.default_rng(np.random.SeedSequence([self.random_state, 0x5EED])).integers(
            0, 2**63, size=int(n_estimators), dtype=np.int64).astype(np.uint64)


def fit_binned_forest(X, y, n_estimators=100, random_state=0, max_samples=6000, min_class_share=0.1,
                      max_depth=40, min_samples_leaf=1, max_features="sqrt", trees=None, binned=None):
    """Grow a random forest on ``X`` (N, F) float32 and labels ``y`` (N,) in ``0..K-1``.

    Returns the arrays of :class:`.forest.Forest` (thresholds as float32 feature values) and
    the mean decrease in impurity per feature. ``trees=(start, stop)`` grows only those trees of
    the ``n_estimators`` forest (a preview, then the rest: together they are the whole forest);
    ``binned`` (a :class:`Binned` of the same data) saves binning twice.
    """
    b = binned if binned is not None else Binned(X, y, random_state, max_samples, min_class_share)
    F, K, m = b.F, b.K, int(b.draws.sum())
    mtry = max(1, int(np.sqrt(F))) if max_features == "sqrt" else int(max_features)
    start, stop = trees if trees is not None else (0, int(n_estimators))
    seeds = b.seeds(n_estimators)[start:stop]
    T = seeds.size
    args = (b.Xb, b.n_edges, b.y, K, b.by_class, b.starts, b.counts, b.draws, b.leaf_weight, mtry, max_depth,
            int(min_samples_leaf))
    # room for 1024 nodes a tree (stroke trees have a few hundred); a tree that needs more is
    # grown again with room for every possible node
    arrays = _tree_arrays(T, min(2 * m + 1, 1024), K, F)
    run_rows(_grow_trees, T, *args, seeds, *arrays, b.XT)
    feat, thr, tval, left, right, value, imp, n_nodes = arrays
    big = np.flatnonzero(n_nodes < 0)
    if big.size:
        more = _tree_arrays(big.size, 2 * m + 1, K, F)
        run_rows(_grow_trees, big.size, *args, seeds[big], *more, b.XT)
        feat, thr, tval, left, right, value = [_widen(a, c, big) for a, c in zip(arrays[:6], more[:6])]
        imp[big] = more[6]
        n_nodes[big] = more[7]
    roots = np.concatenate([[0], np.cumsum(n_nodes)[:-1]]).astype(np.int64)
    fs, ts, ls, rs, vs = [], [], [], [], []
    for t in range(T):
        k = n_nodes[t]
        leaf = left[t, :k] < 0
        fs.append(np.where(leaf, 0, feat[t, :k]))
        ts.append(_floor32(np.where(leaf, 0.0, tval[t, :k])))  # leaves hold no threshold (unset memory)
        ls.append(np.where(leaf, -1, left[t, :k] + roots[t]))
        rs.append(np.where(leaf, -1, right[t, :k] + roots[t]))
        vs.append(value[t, :k])
    tree_imp = imp / np.maximum(imp.sum(1, keepdims=True), 1e-300)
    return (np.concatenate(fs), np.concatenate(ts), np.concatenate(ls), np.concatenate(rs), np.concatenate(vs),
            roots, tree_imp.mean(0))
