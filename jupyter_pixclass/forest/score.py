"""Scoring a forest's trees on feature-major pixels, compiled.

scikit-learn's ``predict_proba`` needs samples x features rows (a 400 MB copy for a 1024x1024
image with 98 features) and allocates per-tree outputs; this reads feature-major planes in place
and accumulates leaf probabilities directly. Small trees (the usual result of a few brush
strokes) are scored as bitvectors (:mod:`.bitvectors`: one word per pixel, or several for trees
of up to 512 leaves), split by split over contiguous pixels, without branches (QuickScorer);
larger trees are walked pixel by pixel (benchmarks/bench_predict.py).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit
from numba.extending import intrinsic

from ..runtime.threads import get_threads, run_rows

__all__ = ["predict_proba_fm", "take_blocks", "PixelBlocks", "BLOCK"]


_CHUNK = 256  # pixels per task: a chunk's features and leaf bitvectors stay in cache
BLOCK = _CHUNK  # pixels per block of PixelBlocks: one chunk, scored where it lies
GROUP_BYTES = 512 * 1024  # a group of chunks' gathered features (see _group)


@intrinsic
def _cttz(typingctx, x):
    """Count trailing zeros of an unsigned integer (LLVM's cttz; vectorizes)."""
    sig = x(x)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return sig, codegen


@njit(fastmath=True, nogil=True, cache=True)
def _score_words(X, rows, q_feature, q_threshold, q_row, q_mask, q_base, leaf_value_t, acc):  # pragma: no cover
    # the bitvector trees of one word size (q_mask's type: numba compiles uint32 and uint64 apart)
    # on a chunk's pixels X (F, m), feature f in row rows[f]; acc (K, m) summed leaf probabilities
    # of all classes but the last
    R = q_base.size
    if R == 0:
        return
    m = X.shape[1]
    full = q_mask[0] | ~q_mask[0]
    v = np.empty((R, m), q_mask.dtype)
    v[:] = full
    for e in range(q_feature.size):
        thr = q_threshold[e]
        mk = q_mask[e]
        xr = X[rows[q_feature[e]]]
        vr = v[q_row[e]]
        for p in range(m):  # branch-free: keep all bits where x <= thr, else clear the left subtree
            vr[p] &= full if xr[p] <= thr else mk
    leaf = np.empty(m, np.int64)
    for t in range(R):
        vr = v[t]
        b = q_base[t]
        for p in range(m):
            leaf[p] = b + np.int64(_cttz(vr[p]))
        for k in range(acc.shape[0] - 1):  # the last class is 1 - the others (see _predict)
            lv = leaf_value_t[k]
            ak = acc[k]
            for p in range(m):
                ak[p] += lv[leaf[p]]


@njit(fastmath=True, nogil=True, cache=True)
def _score_wide(X, rows, q_feature, q_threshold, q_row, q_mask, q_base, leaf_value_t, row0, nwords, e_start, acc):
    # pragma: no cover - compiled
    # trees of several words (q_mask's type), one tree at a time (its words stay in cache): each entry
    # clears the bits of a left subtree in one word; the exit leaf is the lowest bit standing in
    # the first word that has one (found from the last word back, without branches or unbounded
    # loops: 5 % faster than searching forward)
    if q_base.size == 0:
        return
    m = X.shape[1]
    full = q_mask[0] | ~q_mask[0]
    B = 8 * q_mask.itemsize
    v = np.empty((nwords.max(), m), q_mask.dtype)
    leaf = np.empty(m, np.int64)
    for t in range(q_base.size):
        W = nwords[t]
        r0 = row0[t]
        v[:W] = full
        for e in range(e_start[t], e_start[t + 1]):
            thr = q_threshold[e]
            mk = q_mask[e]
            xr = X[rows[q_feature[e]]]
            vr = v[q_row[e] - r0]
            for p in range(m):
                vr[p] &= full if xr[p] <= thr else mk
        b = q_base[t]
        vl = v[W - 1]
        for p in range(m):
            leaf[p] = b + B * (W - 1) + np.int64(_cttz(vl[p]))
        for w in range(W - 2, -1, -1):
            vw = v[w]
            for p in range(m):
                x = vw[p]
                leaf[p] = b + B * w + np.int64(_cttz(x)) if x != 0 else leaf[p]
        for k in range(acc.shape[0] - 1):
            lv = leaf_value_t[k]
            ak = acc[k]
            for p in range(m):
                ak[p] += lv[leaf[p]]


@njit(fastmath=True, nogil=True, cache=True)
def _walk(X, rows, feature, threshold, left, right, value, big_roots, acc):  # pragma: no cover - compiled
    # large trees: walking them pixel by pixel is cheaper than testing every split
    for root in big_roots:
        for p in range(X.shape[1]):
            node = root
            while left[node] >= 0:
                if X[rows[feature[node]], p] <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            for k in range(acc.shape[0] - 1):
                acc[k, p] += value[node, k]


@njit(fastmath=True, nogil=True, cache=True)
def _score_chunk(Xc, rows, words, threshold, left, right, value, big_roots, feature_u, inv, out, m0, m):
    # pragma: no cover - compiled
    # every tree on chunk Xc's first m pixels (feature f in row rows[f]) into out[m0:m0+m]
    K = value.shape[1]
    acc = np.zeros((K, Xc.shape[1]), np.float32)
    w32, w64, wide = words
    _score_words(Xc, rows, w32[0], w32[1], w32[2], w32[3], w32[4], w32[5], acc)
    _score_words(Xc, rows, w64[0], w64[1], w64[2], w64[3], w64[4], w64[5], acc)
    _score_wide(Xc, rows, wide[0], wide[1], wide[2], wide[3], wide[4], wide[5], wide[6], wide[7], wide[8], acc)
    _walk(Xc, rows, feature_u, threshold, left, right, value, big_roots, acc)
    # leaves hold distributions (Forest checks it): the last class's probability is 1 - the
    # others', so its leaf values are never summed (a view of 2 classes: 129 -> 102 ms)
    for p in range(m):
        s = np.float32(0.0)
        for k in range(K - 1):
            v = acc[k, p] * inv
            out[m0 + p, k] = v
            s += v
        out[m0 + p, K - 1] = max(np.float32(1.0) - s, np.float32(0.0))


@njit(fastmath=True, cache=True, nogil=True)
def _predict(lo, hi, X, idx, G, words, threshold, left, right, value, big_roots, n_trees, used, feature_u,
             out):  # pragma: no cover - compiled
    # X (F, N) feature-major; idx: the pixel columns to predict (what a viewport shows), or empty
    # for all of them; out (M, K); groups lo..hi-1 of G chunks of _CHUNK pixels. words: the
    # bitvector tables of the trees that fit a 32-bit word, a 64-bit word and several
    # (bitvectors.score_tables). Only the features the trees test (used) are gathered, and the
    # tables' features and feature_u index into them.
    F = used.size
    M = idx.size if idx.size else X.shape[1]
    n_chunks = (M + _CHUNK - 1) // _CHUNK
    inv = np.float32(1.0 / n_trees)
    rows = np.arange(F)
    Xg = np.empty((G, F, _CHUNK), X.dtype)
    for grp in range(lo, hi):
        c0 = grp * G
        c1 = min(c0 + G, n_chunks)
        # the group's columns of the features the trees test, gathered once (reading them from
        # the full planes, rows megabytes apart, at every split was 4-5x slower), G chunks of a
        # feature in one go: a 256 x 256 tile's rows lie 256 KB apart, and a chunk at a time
        # switched rows every 1 KB (6 such tiles, 100 trees: 67-71 -> 56-57 ms with G = 4)
        for f in range(F):
            xf = X[used[f]]
            for c in range(c0, c1):
                m0 = c * _CHUNK
                m = min(m0 + _CHUNK, M) - m0
                o = Xg[c - c0, f]
                if idx.size:
                    for p in range(m):
                        o[p] = xf[idx[m0 + p]]
                else:
                    for p in range(m):
                        o[p] = xf[m0 + p]
                for p in range(m, _CHUNK):  # past a short last chunk: zeros, scored but never written out
                    o[p] = 0.0
        for c in range(c0, c1):
            m0 = c * _CHUNK
            _score_chunk(Xg[c - c0], rows, words, threshold, left, right, value, big_roots, feature_u, inv, out,
                         m0, min(m0 + _CHUNK, M) - m0)


@njit(fastmath=True, cache=True, nogil=True)
def _predict_blocks(lo, hi, B, n, words, threshold, left, right, value, big_roots, n_trees, used, feature_u,
                    out):  # pragma: no cover - compiled
    # blocks lo..hi-1 of B (n_blocks, F, _CHUNK) scored where they lie (no gather; features are
    # rows used[f] of a block); out (n, K)
    inv = np.float32(1.0 / n_trees)
    sink = np.zeros(1, np.float32)
    for c in range(lo, hi):
        Xc = B[c]
        # one read of every cache line the trees test, in order, before the splits read them in
        # the trees' order: the lines arrive as a stream (bench_live's view 32 -> 27 ms, scratch)
        s = np.float32(0.0)
        for f in used:
            xf = Xc[f]
            for p in range(0, _CHUNK, 16):
                s += xf[p]
        sink[0] += s
        m0 = c * _CHUNK
        _score_chunk(Xc, used, words, threshold, left, right, value, big_roots, feature_u, inv, out, m0,
                     min(m0 + _CHUNK, n) - m0)


class PixelBlocks:
    """Pixels' features in blocks of :data:`BLOCK` pixels, each block feature-major: what a view keeps.

    ``blocks`` is ``(n_blocks, F, BLOCK)`` float32 (the last block padded); pixel ``i`` is column
    ``i % BLOCK`` of block ``i // BLOCK``. The scorer reads a block where it lies: a view kept
    feature-major ``(F, n)`` was copied chunk by chunk out of rows a megabyte apart at every
    prediction (a 600 x 600 view, 100 trees: 77-79 -> 53-59 ms, ``benchmarks/bench_predict.py --view``).
    ``np.asarray`` gives the feature-major ``(F, n)`` array.
    """

    __slots__ = ("blocks", "n")

    def __init__(self, blocks, n):
        blocks = np.asarray(blocks)
        if blocks.ndim != 3 or blocks.shape[2] != BLOCK or blocks.dtype != np.float32:
            raise ValueError(f"blocks must be float32 (n_blocks, F, {BLOCK}); got {blocks.dtype} {blocks.shape}")
        if not 0 <= int(n) <= blocks.shape[0] * BLOCK:
            raise ValueError(f"{n} pixels do not fit {blocks.shape[0]} blocks of {BLOCK}")
        self.blocks, self.n = blocks, int(n)

    @property
    def shape(self):
        """``(F, n)``, as the feature-major array."""
        return (self.blocks.shape[1], self.n)

    @property
    def nbytes(self):
        """Bytes held (the blocks, padding included)."""
        return self.blocks.nbytes

    def __array__(self, dtype=None, copy=None):
        fm = self.blocks.transpose(1, 0, 2).reshape(self.blocks.shape[1], -1)[:, :self.n]
        return fm.astype(dtype or fm.dtype, copy=False)


def _group(n_features, n_chunks):
    """Chunks gathered together by :func:`_predict`: up to 4 while their features stay within ~half
    of a core's L2 cache (512 KB), and at least two groups for each thread."""
    fit = max(1, GROUP_BYTES // (4 * _CHUNK * max(n_features, 1)))
    return int(max(1, min(4, fit, n_chunks // (2 * get_threads()))))


def predict_proba_fm(forest, tables, X_fm, idx=None):
    """Class probabilities ``(N, K)`` float32 of ``forest`` (its ``tables``) for feature-major ``X_fm`` (F, N).

    With ``idx`` (int64 column indices), only those columns are predicted, in place: the app
    predicts what the viewport shows without copying features. ``X_fm`` may be
    :class:`PixelBlocks` (then without ``idx``).
    """
    blocked = isinstance(X_fm, PixelBlocks)
    if not blocked:
        X_fm = np.asarray(X_fm)
        if X_fm.dtype != np.float32:
            X_fm = X_fm.astype(np.float32)
    if X_fm.shape[0] != forest.n_features:
        raise ValueError(f"forest expects {forest.n_features} features; got {X_fm.shape[0]}")
    if idx is None:
        idx = np.zeros(0, np.int64)
        n_out = X_fm.shape[1]
    elif blocked:
        raise ValueError("pixel blocks are predicted whole: no idx")
    else:
        idx = np.ascontiguousarray(idx, np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= X_fm.shape[1]):
            raise IndexError("pixel indices outside the feature array")
        n_out = idx.size
    out = np.empty((n_out, forest.n_classes), np.float32)
    if n_out:
        w32, w64, wide, big, used, feat_u = tables
        words = (w32, w64, wide)
        f = forest
        if blocked:
            run_rows(_predict_blocks, (n_out + BLOCK - 1) // BLOCK, X_fm.blocks, n_out, words, f.threshold,
                     f.left, f.right, f.value, big, f.n_trees, used, feat_u, out)
        else:
            G = _group(used.size, (n_out + _CHUNK - 1) // _CHUNK)
            run_rows(_predict, (n_out + _CHUNK * G - 1) // (_CHUNK * G), X_fm, idx, G, words, f.threshold, f.left,
                     f.right, f.value, big, f.n_trees, used, feat_u, out)
    return out


@njit(cache=True, nogil=True)
def _take_blocks(lo, hi, X, idx, whole, n, out):  # pragma: no cover - compiled
    # blocks lo..hi-1 of out (n_blocks, F, BLOCK): the n columns idx (or all, whole) of X (F, N)
    for c in range(lo, hi):
        m0 = c * BLOCK
        m = min(m0 + BLOCK, n) - m0
        for f in range(X.shape[0]):
            xf = X[f]
            o = out[c, f]
            if whole:
                for p in range(m):
                    o[p] = xf[m0 + p]
            else:
                for p in range(m):
                    o[p] = xf[idx[m0 + p]]
            for p in range(m, BLOCK):
                o[p] = 0.0


def take_blocks(X_fm, idx=None):
    """Columns ``idx`` (int; all when None) of feature-major ``X_fm`` (F, N) as :class:`PixelBlocks`.

    What a zoomed-out view keeps of its tiles' features: predicting it then reads the pixels it
    shows where they lie, instead of picking them out of every tile row again after each stroke.
    """
    X_fm = np.asarray(X_fm, np.float32)
    if X_fm.ndim != 2:
        raise ValueError(f"features must be feature-major (F, N); got shape {X_fm.shape}")
    whole = idx is None
    idx = np.zeros(0, np.int64) if whole else np.ascontiguousarray(idx, np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= X_fm.shape[1]):
        raise IndexError(f"pixel indices outside the {X_fm.shape[1]} columns")
    n = X_fm.shape[1] if whole else idx.size
    out = np.empty(((n + BLOCK - 1) // BLOCK, X_fm.shape[0], BLOCK), np.float32)
    if out.shape[0]:
        run_rows(_take_blocks, out.shape[0], X_fm, idx, whole, n, out)
    return PixelBlocks(out, n)
