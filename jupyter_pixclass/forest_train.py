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


def bin_edges(X, n_bins=N_BINS, sample=16_384, seed=0, n_gaps=64):
    """Per feature, up to ``n_bins - 1`` increasing float32 edges: quantiles and the widest gaps.

    Quantiles of at most ``sample`` rows (a fixed random subset) follow the distribution; the
    lower ends of the ``n_gaps`` widest gaps between neighbouring values are edges too. Brush
    strokes stay inside objects, so classes often sit on either side of an empty stretch of
    feature values; a bin straddling it could not separate them, and the split would land
    inside one class instead of in the middle of the gap where scikit-learn puts it.
    """
    X = np.asarray(X, np.float32)
    if X.shape[0] > sample:
        X = X[np.sort(np.random.default_rng(seed).choice(X.shape[0], sample, replace=False))]
    edges = np.full((X.shape[1], n_bins - 1), np.inf, np.float32)
    # feature-major rows: numpy sorts and partitions contiguous rows 2-3x faster than columns, and
    # releases the GIL, so halves of the features go to two threads
    run_rows(_edges_of_rows, X.shape[1], np.ascontiguousarray(X.T), n_gaps, edges)
    return edges, np.isfinite(edges).sum(1).astype(np.int64)


def _edges_of_rows(lo, hi, XT, n_gaps, edges):
    """:func:`bin_edges` of features ``lo..hi-1`` (rows of ``XT``) into ``edges``."""
    srt = np.sort(XT[lo:hi], axis=1)
    n, n_q = srt.shape[1], edges.shape[1] - n_gaps
    cand = [srt[:, (np.arange(1, n_q + 1) * n) // (n_q + 1)]]  # quantiles
    gaps = np.diff(srt, axis=1)
    k = min(n_gaps, gaps.shape[1])
    if k:
        wide = np.argpartition(-gaps, k - 1, axis=1)[:, :k]
        lower = np.take_along_axis(srt, wide, axis=1)
        cand.append(np.where(np.take_along_axis(gaps, wide, axis=1) > 0, lower, np.inf).astype(np.float32))
    cand = np.sort(np.concatenate(cand, axis=1), axis=1)
    # distinct values below each feature's maximum (an edge at the maximum splits nothing), packed left
    drop = cand >= srt[:, -1:]
    drop[:, 1:] |= cand[:, 1:] == cand[:, :-1]
    cand[drop] = np.inf
    cand.sort(axis=1)
    edges[lo:hi, :cand.shape[1]] = cand[:, :edges.shape[1]]


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


def apply_bins(X, edges):
    """Bins ``(F, N)`` uint8 of samples ``X`` (N, F), and ``X`` feature-major ``(F, N)``."""
    XT = np.ascontiguousarray(np.asarray(X, np.float32).T)
    out = np.empty(XT.shape, np.uint8)
    run_rows(_apply_bins, XT.shape[0], XT, edges, out)
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
def _grow(XT, Xb, n_edges, y, K, sample, mtry, max_depth, min_leaf, seed, feat, thr, tval, left, right, value,
          imp):
    # pragma: no cover - compiled
    # One tree on samples ``sample`` (indices into the columns of Xb, with repeats), depth first.
    # Nodes are numbered in creation order, so children come after their parent. Returns the
    # number of nodes.
    F = Xb.shape[0]
    n = sample.size
    state = np.empty(1, np.uint64)
    state[0] = np.uint64(seed)
    idx = sample.copy()
    stack_lo = np.empty(n + 1, np.int64)
    stack_hi = np.empty(n + 1, np.int64)
    stack_node = np.empty(n + 1, np.int64)
    stack_depth = np.empty(n + 1, np.int64)
    hist = np.zeros((N_BINS, K), np.float64)
    vals = np.empty(EXACT_BELOW, np.float32)
    srt = np.empty(EXACT_BELOW, np.int64)
    nidx = np.empty(n, np.int64)
    ny = np.empty(n, np.int64)
    tot = np.zeros(K, np.float64)
    lcount = np.zeros(K, np.float64)
    order = np.arange(F)
    sp = 0
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
            tot[ny[q]] += 1.0
        for k in range(K):
            value[node, k] = tot[k] / m
        left[node] = -1
        right[node] = -1
        pure = False
        for k in range(K):
            if tot[k] == m:
                pure = True
        if pure or m < 2 * min_leaf or depth >= max_depth:
            continue
        if n_nodes + 2 > feat.size:  # out of room: the caller grows this tree again with more
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
            bmin = N_BINS
            bmax = 0
            for q in range(m):
                b = row[nidx[q]]
                hist[b, ny[q]] += 1.0
                if b < bmin:
                    bmin = b
                if b > bmax:
                    bmax = b
            if bmin == bmax:
                for k in range(K):
                    hist[bmin, k] = 0.0
                continue
            lcount[:] = 0.0
            nl = 0.0
            for b in range(bmin, bmax):
                added = 0.0
                for k in range(K):
                    lcount[k] += hist[b, k]
                    added += hist[b, k]
                if added == 0.0:  # an empty bin splits as the one before it
                    continue
                nl += added
                if nl < min_leaf or m - nl < min_leaf:
                    continue
                score = _split_score(lcount, tot, nl, m)
                if score > best_score:
                    best_score = score
                    best_f = f
                    best_b = b
            for b in range(bmin, bmax + 1):
                for k in range(K):
                    hist[b, k] = 0.0
        if best_f < 0:
            continue
        # partition idx[lo:hi] by bin <= best_b, or in an exact split by value <= best_cut
        row = Xb[best_f]
        xr = XT[best_f]
        i, e = lo, hi - 1
        while i <= e:
            if (row[idx[i]] <= best_b) if not exact else (xr[idx[i]] <= best_cut):
                i += 1
            else:
                idx[i], idx[e] = idx[e], idx[i]
                e -= 1
        feat[node] = best_f
        thr[node] = best_b
        # the threshold goes halfway between the node's neighbouring values on either side, as
        # scikit-learn puts it: a threshold hugging one class misclassifies images a little
        # brighter or dimmer than the training ones
        xf = XT[best_f]
        lmax = -np.inf
        for j in range(lo, i):
            v = xf[idx[j]]
            if v > lmax:
                lmax = v
        rmin = np.inf
        for j in range(i, hi):
            v = xf[idx[j]]
            if v < rmin:
                rmin = v
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
def _bootstrap(state, by_class, starts, counts, draws):  # pragma: no cover - compiled
    # draws[c] samples with replacement from class c's pixels
    total = 0
    for c in range(counts.size):
        total += draws[c]
    out = np.empty(total, np.int64)
    j = 0
    for c in range(counts.size):
        for _ in range(draws[c]):
            out[j] = by_class[starts[c] + _randint(state, counts[c])]
            j += 1
    return out


@njit(nogil=True, cache=True)
def _grow_trees(lo, hi, Xb, n_edges, y, K, by_class, starts, counts, draws, mtry, max_depth, min_leaf, seeds,
                feat, thr, tval, left, right, value, imp, n_nodes, XT):  # pragma: no cover - compiled
    for t in range(lo, hi):
        state = np.empty(1, np.uint64)
        state[0] = seeds[t]
        sample = _bootstrap(state, by_class, starts, counts, draws)
        n_nodes[t] = _grow(XT, Xb, n_edges, y, K, sample, mtry, max_depth, min_leaf, _rand(state),
                           feat[t], thr[t], tval[t], left[t], right[t], value[t], imp[t])


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


def _tree_arrays(T, cap, K, F):
    return (np.zeros((T, cap), np.int32), np.zeros((T, cap), np.int64), np.zeros((T, cap), np.float64),
            np.full((T, cap), -1, np.int32),
            np.full((T, cap), -1, np.int32), np.zeros((T, cap, K), np.float32), np.zeros((T, F), np.float64),
            np.zeros(T, np.int64))


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
        self.edges, self.n_edges = bin_edges(X, seed=self.random_state)
        self.Xb, self.XT = apply_bins(X, self.edges)
        self.by_class = np.argsort(self.y, kind="stable").astype(np.int64)
        self.counts = np.bincount(self.y, minlength=self.K).astype(np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        self.draws = class_draws(self.counts, max_samples, min_class_share)

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
    args = (b.Xb, b.n_edges, b.y, K, b.by_class, b.starts, b.counts, b.draws, mtry, max_depth, int(min_samples_leaf))
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
        ts.append(np.where(leaf, 0, _floor32(tval[t, :k])))
        ls.append(np.where(leaf, -1, left[t, :k] + roots[t]))
        rs.append(np.where(leaf, -1, right[t, :k] + roots[t]))
        vs.append(value[t, :k])
    tree_imp = imp / np.maximum(imp.sum(1, keepdims=True), 1e-300)
    return (np.concatenate(fs), np.concatenate(ts), np.concatenate(ls), np.concatenate(rs), np.concatenate(vs),
            roots, tree_imp.mean(0))
