"""Growing trees on binned features, compiled, one tree per task on our thread pool.

Brush strokes give thousands of nearly identical pixels; scikit-learn sorts every one of them
at every node of every tree, so its time grows with the labels (8.8 s for 42.5k labeled pixels
and 100 trees here). This builder keeps the forest we promise (Breiman's: bootstrap samples,
sqrt(F) candidate features per split, Gini, trees grown until pure, class distributions in the
leaves) but
- draws each tree's bootstrap sample of about ``max_samples`` pixels class by class, so a
  tree's cost stops growing with the labels and a rare class keeps at least
  ``min_class_share`` of the draws (drawn with replacement, it is weighed up);
- draws so that a stroke changes what it teaches and less else: a pixel's count in a tree's
  sample is a Poisson draw read off its key (its place in the image) and the tree's seed, and a
  node's candidate features follow the tree's seed and the node's place in the tree. Adding or
  removing labels leaves every other pixel's draws and every untouched node's candidates as they
  were (a forest drawn afresh at every stroke changed 3.2 % of a nuclei scene's pixels after a
  correct stroke, this one 2.6 %; benchmarks/RESULTS.md, "What one forest does after one stroke");
- splits on 8-bit histogram bins of each feature (edges at quantiles of the labeled pixels;
  thresholds are feature values, so the scorer in :mod:`.score` reads raw features);
- seeds every tree from ``random_state`` and its index alone, so the forest does not depend on
  how trees were spread over threads, nor on the order of the labeled pixels.
Measurements and what was tried and dropped: benchmarks/RESULTS.md ("Training").
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from .bins import N_BINS
from .bootstrap import keyed_counts, mix64, sample_indices

__all__ = ["grow_trees", "GrowPlan", "TreeArrays", "EXACT_BELOW"]

EXACT_BELOW = 64  # nodes this small are split at exact values (a sort is cheaper than the bins there)


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


@njit(nogil=True, cache=True, error_model="numpy")
def _best_bin(hist, K, tot, m, min_leaf, acc):  # pragma: no cover - compiled
    # The bin b whose split "bin <= b" scores highest, and its score; hist (K * N_BINS) int32
    # counts, class-major, cleared here. Only bins from the lowest to the highest one holding a
    # sample can split (below, nothing goes left; from the highest, nothing right): a deep node's
    # few samples fill a few bins. One pass: running class counts (acc), score, best so far; the
    # first of equal scores, the lowest bin, wins. Scored in separate passes over prefix sums this
    # took 1.7x as long (the divisions' zero checks kept them apart; error_model="numpy" makes a
    # split with an empty side inf, never chosen: it fails min_leaf).
    lo = N_BINS
    hi = -1
    for k in range(K):
        h = hist[k * N_BINS:(k + 1) * N_BINS]
        b = 0
        while b < lo and h[b] == 0:
            b += 1
        lo = b
        b = N_BINS - 1
        while b > hi and h[b] == 0:
            b -= 1
        hi = b
    for k in range(K):
        acc[k] = 0.0
    best = -1.0
    best_b = -1
    for b in range(lo, hi):
        nlb = 0.0
        sl = 0.0
        sr = 0.0
        for k in range(K):
            a = acc[k] + hist[k * N_BINS + b]
            acc[k] = a
            hist[k * N_BINS + b] = 0
            nlb += a
            rk = tot[k] - a
            sl += a * a
            sr += rk * rk
        s = sl / nlb + sr / (m - nlb)
        if nlb >= min_leaf and m - nlb >= min_leaf and s > best:
            best = s
            best_b = b
    if hi >= 0:
        for k in range(K):
            hist[k * N_BINS + hi] = 0
    return best_b, best


@njit(nogil=True, cache=True)
def _grow(XT, Xb, n_edges, y, K, weight, idx, mtry, max_depth, min_leaf, seed, feat, thr, tval, left, right,
          value, imp, scratch):
    # pragma: no cover - compiled
    # One tree on the samples in ``idx`` (indices into the columns of Xb, with repeats, in
    # increasing order; reordered here), depth first. Nodes are numbered in creation order, so
    # children come after their parent. Returns the number of nodes. ``scratch``: buffers of one
    # thread (_scratch), reused tree after tree: fresh memory is slow to touch after a pause.
    # A node's candidate features are drawn from a generator seeded by ``seed`` and the node's
    # path from the root, from the features in their own order: the same node draws the same
    # candidates whatever happened in other branches or to other labels.
    F = Xb.shape[0]
    n = idx.size
    state = np.empty(1, np.uint64)
    nidx, ny, code, right_idx, stack, hist, vals, keys, order, swaps = scratch
    vbits = vals.view(np.uint32)
    stack_lo, stack_hi, stack_node, stack_depth, stack_path = stack[0], stack[1], stack[2], stack[3], stack[4]
    hist[:] = 0
    for j in range(F):
        order[j] = j
    tot = np.zeros(K, np.float64)
    lcount = np.zeros(K, np.float64)
    stack_lo[0], stack_hi[0], stack_node[0], stack_depth[0], stack_path[0] = 0, n, 0, 0, 1
    sp = 1
    n_nodes = 1
    while sp > 0:
        sp -= 1
        lo, hi, node, depth, path = stack_lo[sp], stack_hi[sp], stack_node[sp], stack_depth[sp], stack_path[sp]
        m = hi - lo
        for q in range(m):  # the node's samples and classes side by side: one gather, read by every feature
            a = idx[lo + q]
            nidx[q] = a
            c = y[a]
            ny[q] = c
            code[q] = c * N_BINS  # a sample's class times N_BINS: its row of the histogram
        for k in range(K):  # class counts in flat passes (adding into tot[ny[q]] waited on the last add)
            s = 0
            for q in range(m):
                s += ny[q] == k
            tot[k] = s
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
        cut_key = np.uint32(0)
        exact = m <= EXACT_BELOW  # small nodes: every distinct value is a candidate, as in scikit-learn
        # candidate features in random order; like scikit-learn, look past mtry until a split exists
        state[0] = mix64(np.uint64(seed) ^ np.uint64(path))
        tried = 0
        for j in range(F):
            if tried >= mtry and best_f >= 0:
                break
            r = j + _randint(state, F - j)
            order[j], order[r] = order[r], order[j]
            swaps[j] = r
            f = order[j]
            tried += 1
            nb = n_edges[f] + 1
            if nb < 2:
                continue
            if exact:
                xf = XT[f]
                for q in range(m):
                    vals[q] = xf[nidx[q]] + np.float32(0.0)  # -0.0 becomes 0.0: equal values, equal keys
                # insertion sort of at most EXACT_BELOW keys: a value's order-preserving bits above
                # its class (K < 2**32); ties between classes do not matter, as only the cuts
                # between distinct values are scored. Keys, not indices into the values: half the
                # cycles (careless strokes' trees: 126 -> 63 Mcycles a forest)
                for q in range(m):
                    bq = vbits[q]
                    kq = (np.uint64(~bq if bq >> np.uint32(31) else bq | np.uint32(0x80000000)) << np.uint64(32)) | \
                        np.uint64(ny[q])
                    r = q
                    while r > 0 and keys[r - 1] > kq:
                        keys[r] = keys[r - 1]
                        r -= 1
                    keys[r] = kq
                lcount[:] = 0.0
                for q in range(m - 1):
                    kq = keys[q]
                    lcount[np.int64(kq & np.uint64(0xFFFFFFFF))] += 1.0
                    if kq >> np.uint64(32) == keys[q + 1] >> np.uint64(32):
                        continue
                    nl = q + 1.0
                    if nl < min_leaf or m - nl < min_leaf:
                        continue
                    score = _split_score(lcount, tot, nl, m)
                    if score > best_score:
                        best_score = score
                        best_f = f
                        cut_key = np.uint32(kq >> np.uint64(32))
                continue
            row = Xb[f]
            for q in range(m):  # the hot loop: integer counts, one flat index
                hist[code[q] + np.int64(row[nidx[q]])] += 1
            b, score = _best_bin(hist, K, tot, m, min_leaf, lcount)
            if b >= 0 and score > best_score:
                best_score = score
                best_f = f
                best_b = b
        for j in range(tried - 1, -1, -1):  # the features back in their own order for the next node
            r = swaps[j]
            order[j], order[r] = order[r], order[j]
        if best_f < 0:
            continue
        # split idx[lo:hi] by bin <= best_b (or, in an exact split, value <= best_cut), keeping
        # both sides in increasing order, without branches; then the largest value going left
        # and the smallest going right
        row = Xb[best_f]
        xf = XT[best_f]
        i = lo
        nr = 0
        lmax = -np.inf
        rmin = np.inf
        if exact:
            vbits[0] = cut_key & np.uint32(0x7FFFFFFF) if cut_key >> np.uint32(31) else ~cut_key
            best_cut = vals[0]  # the cut's value back from its key
            for q in range(m):
                a = nidx[q]
                v = xf[a]
                go_left = v <= best_cut
                idx[i] = a
                right_idx[nr] = a
                i += 1 if go_left else 0
                nr += 0 if go_left else 1
                lmax = max(lmax, v) if go_left else lmax
                rmin = rmin if go_left else min(rmin, v)
        else:
            # they lie in the highest bin going left and the lowest going right (a bin's values
            # all exceed the bins below): only those bins' values are read, not every sample's
            # (at 27 k labels the values' rows outgrow the L1 cache; splitting 25 -> 19 Mcycles
            # a forest, benchmarks/RESULTS.md)
            # (the same loop as above, on bins: one inlined helper for both made growing 26-30 % slower)
            lb = 0
            rb = N_BINS - 1
            for q in range(m):
                a = nidx[q]
                bq = np.int64(row[a])
                go_left = bq <= best_b
                idx[i] = a
                right_idx[nr] = a
                i += 1 if go_left else 0
                nr += 0 if go_left else 1
                lb = max(lb, bq) if go_left else lb
                rb = rb if go_left else min(rb, bq)
            for q in range(lo, i):
                a = idx[q]
                if row[a] == lb:
                    lmax = max(lmax, xf[a])
            for q in range(nr):
                a = right_idx[q]
                if row[a] == rb:
                    rmin = min(rmin, xf[a])
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
        # a child's path: its parent's and the side, mixed (kept positive: the stack is int64)
        stack_lo[sp], stack_hi[sp], stack_node[sp], stack_depth[sp] = i, hi, n_nodes + 1, depth + 1
        stack_path[sp] = np.int64(mix64(np.uint64(path) * np.uint64(2) + np.uint64(1)) >> np.uint64(1))
        sp += 1
        stack_lo[sp], stack_hi[sp], stack_node[sp], stack_depth[sp] = lo, i, n_nodes, depth + 1
        stack_path[sp] = np.int64(mix64(np.uint64(path) * np.uint64(2)) >> np.uint64(1))
        sp += 1
        n_nodes += 2
    return n_nodes


@njit(nogil=True, cache=True)
def _scratch(n, K, F, stack_size):  # pragma: no cover - compiled
    # one thread's buffers for growing trees on up to n samples (see _grow), and a sample's indices
    return (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64),
            np.empty((5, stack_size), np.int64), np.zeros(K * N_BINS, np.int32), np.empty(EXACT_BELOW, np.float32),
            np.empty(EXACT_BELOW, np.uint64), np.empty(F, np.int64), np.empty(F, np.int64)), np.empty(n + 2, np.int64)


GrowPlan = namedtuple("GrowPlan", "Xb XT n_edges y K hashed rates draws weight mtry max_depth min_leaf")
GrowPlan.__doc__ = """The binned labels and the rules every tree grows by (see :class:`.train.Binned`).

``Xb`` (F, N) uint8 bins and ``XT`` (F, N) float32 values of the labeled pixels, ``n_edges`` bin
edges per feature, ``y`` classes 0..K-1; ``hashed`` (N,) uint64 one per pixel, its key hashed: what its
draws are made of; ``rates`` per class the cumulative Poisson probabilities of a pixel's count as uint64
(:func:`.train.poisson_table`); ``draws`` the expected draws per class and ``weight`` their leaf
weights; ``mtry`` candidate features per split, ``max_depth``, ``min_leaf``."""

TreeArrays = namedtuple("TreeArrays", "feature threshold_bin threshold left right value importances n_nodes")
TreeArrays.__doc__ = """Per tree (rows), per node (columns): what :func:`grow_trees` writes.

``n_nodes[t]`` is -1 when tree ``t`` needed more nodes than the arrays hold."""


@njit(nogil=True, cache=True)
def grow_trees(lo, hi, plan, seeds, out):  # pragma: no cover - compiled
    """Grow trees ``lo..hi-1`` (seeded by ``seeds``) by ``plan`` (a :class:`GrowPlan`) into ``out``
    (:class:`TreeArrays`); on our thread pool (:func:`..runtime.threads.run_rows`)."""
    Xb, XT, n_edges, y, K, hashed, rates, draws, weight, mtry, max_depth, min_leaf = plan
    feat, thr, tval, left, right, value, imp, n_nodes = out
    n = 0
    for c in range(draws.size):
        n += draws[c]
    # room for the expected sample and 8 standard deviations more; a larger one gets more
    cap = n + 8 * np.int64(np.sqrt(n)) + 64
    # depth first, a node pushes two children and pops one: the stack holds at most one pending
    # sibling per level
    scratch, idx_pad = _scratch(cap, K, Xb.shape[0], min(cap + 1, 2 * max_depth + 4))
    times = np.zeros(hashed.size, np.int64)
    for t in range(lo, hi):
        seed = np.uint64(seeds[t])
        m = keyed_counts(mix64(seed ^ np.uint64(0xB0075)), hashed, y, rates, times)
        if m == 0:  # nothing drawn (a few labels: each is left out with probability 1/e): every pixel once
            times[:] = 1
            m = hashed.size
        if m > cap:
            cap = m
            scratch, idx_pad = _scratch(cap, K, Xb.shape[0], min(cap + 1, 2 * max_depth + 4))
        sample_indices(times, idx_pad)
        n_nodes[t] = _grow(XT, Xb, n_edges, y, K, weight, idx_pad[:m], mtry, max_depth, min_leaf, mix64(seed),
                           feat[t], thr[t], tval[t], left[t], right[t], value[t], imp[t], scratch)
