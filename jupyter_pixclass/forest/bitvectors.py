"""A forest's trees as bitvector tables for the scorer (:mod:`.score`): QuickScorer's layout.

QuickScorer (Lucchese et al., SIGIR 2015): a tree's leaves, numbered left to right, are the bits
of one word; a split whose test fails ("go right") clears the bits of its left subtree; the lowest
bit left standing is the exit leaf. Trees of more than 64 leaves take several 32-bit words (their
leaves' bits in order): a split clears its left subtree's bits in every word they reach. Deeper
trees are walked instead (:func:`score_tables` says which).
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["score_tables", "QS_MAX_LEAVES", "WORD32_MAX_LEAVES", "WIDE_MAX_LEAVES", "WIDE_WORD"]

QS_MAX_LEAVES = 64  # trees up to this many leaves are scored one word per pixel (uint64, or uint32 below)
# trees up to this many leaves use 32-bit words: twice the pixels per vector instruction (a 0.4 MP
# view, 100 trees of ~15 leaves: 170 -> 83 ms)
WORD32_MAX_LEAVES = 32
# trees up to this many leaves are scored in several words; larger ones are walked. Labels
# that contradict each other grow trees of ~90 leaves from a few thousand pixels: walking 100 of
# them took 227 ms per 65 536 pixels (one thread), two words each 73 ms; at 256 leaves 252 against
# 141 ms (a scratch A/B; in the app: bench_predict.py --careless). In 32-bit words (below), 100
# scikit-learn trees on 65 536 pixels, walked against words: 384 leaves 735 -> 440 ms, 512 leaves
# 751 -> 582, 768 leaves 971 -> 908, 1 024 leaves 1127 -> 1243 (scratch A/B, one thread)
WIDE_MAX_LEAVES = 512
# the word of those trees: 32-bit words test twice the pixels per vector instruction of 64-bit ones,
# for 4 % more entries (careless strokes' forest on bench_live's view: 306 -> 263 ms, scratch A/B;
# bench_predict.py --careless)
WIDE_WORD = np.uint32


@njit(cache=True, nogil=True)
def _bitvector_tables(left, right, roots, min_leaves, max_leaves, bits):  # pragma: no cover - compiled
    # Tables for the trees with min_leaves < leaves <= max_leaves, in words of ``bits`` bits: per
    # tree, its first word's row (row0), its words (ceil(leaves / bits)), its first leaf (base) and
    # its first entry (e_start); per entry (a split and a word its left subtree reaches), the node,
    # the word's row and the mask clearing those bits. Children have larger indices than parents (checked in Forest), so
    # subtree sizes and leaf numbers come from linear sweeps.
    n = left.size
    T = roots.size
    nleaves = np.zeros(n, np.int64)
    first = np.zeros(n, np.int64)
    small = np.zeros(T, np.bool_)
    n_entries = 0
    n_leaf_total = 0
    n_picked = 0
    for t in range(T):
        end = roots[t + 1] if t + 1 < T else n
        for node in range(end - 1, roots[t] - 1, -1):
            nleaves[node] = 1 if left[node] < 0 else nleaves[left[node]] + nleaves[right[node]]
        if min_leaves < nleaves[roots[t]] <= max_leaves:
            small[t] = True
            n_picked += 1
            n_leaf_total += nleaves[roots[t]]
            first[roots[t]] = 0
            for node in range(roots[t], end):
                if left[node] >= 0:
                    a = first[node]
                    nl = nleaves[left[node]]
                    first[left[node]] = a
                    first[right[node]] = a + nl
                    n_entries += (a + nl - 1) // bits - a // bits + 1
    node_of = np.empty(n_entries, np.int64)
    row = np.empty(n_entries, np.int32)
    mask = np.empty(n_entries, np.uint64)
    leaf_node = np.empty(n_leaf_total, np.int64)
    base = np.zeros(n_picked, np.int64)
    row0 = np.zeros(n_picked, np.int64)
    nwords = np.zeros(n_picked, np.int64)
    e_start = np.zeros(n_picked + 1, np.int64)
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    e = 0
    lb = 0
    r = 0
    rw = 0
    for t in range(T):
        if not small[t]:
            continue
        end = roots[t + 1] if t + 1 < T else n
        base[r] = lb
        row0[r] = rw
        nwords[r] = (nleaves[roots[t]] + bits - 1) // bits
        e_start[r] = e
        for node in range(roots[t], end):
            if left[node] < 0:
                leaf_node[lb + first[node]] = node
                continue
            a = first[node]
            nl = nleaves[left[node]]  # < the tree's leaves: the right subtree has a leaf too
            for w in range(a // bits, (a + nl - 1) // bits + 1):
                lo = max(a, bits * w) - bits * w
                k = min(a + nl, bits * w + bits) - bits * w - lo
                run = ones if k == 64 else (np.uint64(1) << np.uint64(k)) - np.uint64(1)
                node_of[e] = node
                row[e] = rw + w
                mask[e] = ~(run << np.uint64(lo))  # (the upper half dropped for 32-bit words)
                e += 1
        lb += nleaves[roots[t]]
        rw += nwords[r]
        r += 1
    e_start[r] = e
    return small, node_of, row, mask, leaf_node, base, row0, nwords, e_start


def score_tables(forest):
    """The scorer's tables of ``forest``: ``(w32, w64, wide, big_roots, used, feature_u)``.

    ``w32``, ``w64`` and ``wide`` are the bitvector tables of its trees of up to
    :data:`WORD32_MAX_LEAVES` leaves (32-bit words), up to :data:`QS_MAX_LEAVES` (64-bit) and up
    to :data:`WIDE_MAX_LEAVES` (several :data:`WIDE_WORD` words): per entry its feature (among ``used``),
    threshold, word row and mask; per tree its first leaf, first row, words and first entry; the
    leaves' values, class-major. ``big_roots`` are the roots of the trees walked instead, ``used``
    the features the trees test and ``feature_u`` each node's feature among those.
    """
    f = forest
    inner = f.left >= 0
    used = np.unique(f.feature[inner]).astype(np.int64)
    if used.size == 0:
        used = np.zeros(1, np.int64)
    remap = np.zeros(f.n_features, np.int32)
    remap[used] = np.arange(used.size, dtype=np.int32)
    n32 = min(WORD32_MAX_LEAVES, QS_MAX_LEAVES, 32)
    n64 = min(QS_MAX_LEAVES, 64)
    picked = np.zeros(f.n_trees, bool)
    groups = []
    for lo, hi, dtype in ((0, n32, np.uint32), (n32, n64, np.uint64), (n64, max(WIDE_MAX_LEAVES, n64), WIDE_WORD)):
        small, node_of, row, mask, leaf_node, base, row0, nwords, e_start = _bitvector_tables(
            f.left, f.right, f.roots, lo, hi, 8 * np.dtype(dtype).itemsize)
        picked |= small
        if lo >= n64 and node_of.size:
            # a tree's entries by feature (any order clears the same bits): the scorer tests a
            # feature's pixels split after split while they are in L1 (263 -> 247 ms, as above)
            tree = np.repeat(np.arange(e_start.size - 1), np.diff(e_start))
            order = np.lexsort((f.feature[node_of], tree))
            node_of, row, mask = node_of[order], row[order], mask[order]
        groups.append((remap[f.feature[node_of]], f.threshold[node_of], row,
                       mask.astype(dtype) if mask.size else np.zeros(1, dtype), base,
                       np.ascontiguousarray(f.value[leaf_node].T), row0, nwords, e_start))
    return (groups[0], groups[1], groups[2], f.roots[~picked], used,
            np.where(inner, remap[f.feature], 0).astype(np.int32))
