"""A random forest as flat arrays: grown by :mod:`.forest_train` (or scikit-learn), stored without pickle, predicted by numba.

scikit-learn's ``predict_proba`` needs samples x features rows (a 400 MB copy for a 1024x1024
image with 98 features) and allocates per-tree outputs; this reads feature-major planes in place
and accumulates leaf probabilities directly. Small trees (the usual result of a few brush
strokes) are scored as bitvectors, split by split over contiguous pixels, without branches
(QuickScorer); large trees are walked pixel by pixel (benchmarks/bench_predict.py).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit
from numba.extending import intrinsic

from .threads import run_rows

__all__ = ["Forest", "train_forest"]


_CHUNK = 256  # pixels per task: a chunk's features and leaf bitvectors stay in cache
QS_MAX_LEAVES = 64  # trees up to this many leaves are scored as bitvectors (one uint64 per pixel)
# trees up to this many leaves use 32-bit words: twice the pixels per vector instruction (a 0.4 MP
# view, 100 trees of ~15 leaves: 170 -> 83 ms)
WORD32_MAX_LEAVES = 32


@intrinsic
def _cttz(typingctx, x):
    """Count trailing zeros of an unsigned integer (LLVM's cttz; vectorizes)."""
    sig = x(x)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return sig, codegen


@njit(cache=True, nogil=True)
def _bitvector_tables(left, right, roots, min_leaves, max_leaves):  # pragma: no cover - compiled
    # QuickScorer (Lucchese et al., SIGIR 2015): a tree's leaves, numbered left to right, are the
    # bits of one word; a split whose test fails ("go right") clears the bits of its left subtree;
    # the lowest bit left standing is the exit leaf. Children have larger indices than parents
    # (checked in Forest), so subtree sizes and leaf numbers come from two linear sweeps.
    # Tables for the trees with min_leaves < leaves <= max_leaves.
    n = left.size
    T = roots.size
    nleaves = np.zeros(n, np.int64)
    first = np.zeros(n, np.int64)
    small = np.zeros(T, np.bool_)
    n_entries = 0
    n_leaf_total = 0
    for t in range(T):
        end = roots[t + 1] if t + 1 < T else n
        for node in range(end - 1, roots[t] - 1, -1):
            nleaves[node] = 1 if left[node] < 0 else nleaves[left[node]] + nleaves[right[node]]
        if min_leaves < nleaves[roots[t]] <= max_leaves:
            small[t] = True
            n_leaf_total += nleaves[roots[t]]
            for node in range(roots[t], end):
                if left[node] >= 0:
                    n_entries += 1
    node_of = np.empty(n_entries, np.int64)
    row = np.empty(n_entries, np.int32)
    mask = np.empty(n_entries, np.uint64)
    leaf_node = np.empty(n_leaf_total, np.int64)
    base = np.zeros(T, np.int64)
    e = 0
    lb = 0
    r = 0
    for t in range(T):
        if not small[t]:
            continue
        end = roots[t + 1] if t + 1 < T else n
        base[r] = lb
        first[roots[t]] = 0
        for node in range(roots[t], end):
            if left[node] < 0:
                leaf_node[lb + first[node]] = node
                continue
            a = first[node]
            nl = nleaves[left[node]]  # < 64: the right subtree has a leaf too
            first[left[node]] = a
            first[right[node]] = a + nl
            node_of[e] = node
            row[e] = r
            mask[e] = ~(((np.uint64(1) << np.uint64(nl)) - np.uint64(1)) << np.uint64(a))
            e += 1
        lb += nleaves[roots[t]]
        r += 1
    return small, node_of, row, mask, leaf_node, base[:r]


@njit(fastmath=True, nogil=True, cache=True)
def _score_words(X, q_feature, q_threshold, q_row, q_mask, q_base, leaf_value_t, acc):  # pragma: no cover
    # the bitvector trees of one word size (q_mask's type: numba compiles uint32 and uint64 apart)
    # on a chunk's pixels X (F, m); acc (K, m) summed leaf probabilities of all classes but the last
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
        xr = X[q_feature[e]]
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
def _walk(X, feature, threshold, left, right, value, big_roots, acc):  # pragma: no cover - compiled
    # large trees: walking them pixel by pixel is cheaper than testing every split
    for root in big_roots:
        for p in range(X.shape[1]):
            node = root
            while left[node] >= 0:
                if X[feature[node], p] <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            for k in range(acc.shape[0] - 1):
                acc[k, p] += value[node, k]


@njit(fastmath=True, cache=True, nogil=True)
def _predict(lo, hi, X, idx, w32, w64, threshold, left, right, value, big_roots, n_trees, used, feature_u,
             out):  # pragma: no cover - compiled
    # X (F, N) feature-major; idx: the pixel columns to predict (what a viewport shows), or empty
    # for all of them; out (M, K); chunks lo..hi-1 of _CHUNK pixels. w32 / w64: the bitvector
    # tables (features, thresholds, rows, masks, bases, leaf values) of the trees that fit 32 and
    # 64 bits. Only the features the trees test (used) are gathered, and the tables' features
    # and feature_u index into them.
    F = used.size
    M = idx.size if idx.size else X.shape[1]
    K = value.shape[1]
    inv = np.float32(1.0 / n_trees)
    for c in range(lo, hi):
        m0 = c * _CHUNK
        m = min(m0 + _CHUNK, M) - m0
        acc = np.zeros((K, m), np.float32)
        Xc = np.empty((F, m), X.dtype)
        # the chunk's columns of the features the trees test, gathered once: reading them from
        # the full planes (rows megabytes apart) at every split was 4-5x slower
        for f in range(F):
            xf = X[used[f]]
            if idx.size:
                for p in range(m):
                    Xc[f, p] = xf[idx[m0 + p]]
            else:
                for p in range(m):
                    Xc[f, p] = xf[m0 + p]
        _score_words(Xc, w32[0], w32[1], w32[2], w32[3], w32[4], w32[5], acc)
        _score_words(Xc, w64[0], w64[1], w64[2], w64[3], w64[4], w64[5], acc)
        _walk(Xc, feature_u, threshold, left, right, value, big_roots, acc)
        # leaves hold distributions (Forest checks it): the last class's probability is 1 - the
        # others', so its leaf values are never summed (a view of 2 classes: 129 -> 102 ms)
        for p in range(m):
            s = np.float32(0.0)
            for k in range(K - 1):
                v = acc[k, p] * inv
                out[m0 + p, k] = v
                s += v
            out[m0 + p, K - 1] = max(np.float32(1.0) - s, np.float32(0.0))


def _floor32(thr):
    """float32 thresholds t32 with ``x <= t32`` iff ``x <= thr`` for every float32 x."""
    t32 = thr.astype(np.float32)
    up = t32.astype(np.float64) > thr
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


class Forest:
    """Trees of a random forest as concatenated node arrays.

    Attributes
    ----------
    feature, threshold, left, right : ndarray
        Per node: split feature, float32 threshold (go left if ``x <= threshold``), child
        indices into the concatenated arrays (``-1`` at leaves).
    value : ndarray
        ``(n_nodes, n_classes)`` class probabilities at leaves.
    roots : ndarray
        Index of each tree's root node.
    importances : ndarray
        Mean decrease in impurity per feature (scikit-learn's ``feature_importances_``).
    """

    ARRAYS = ("feature", "threshold", "left", "right", "value", "roots", "importances")

    def __init__(self, feature, threshold, left, right, value, roots, n_features, importances=None):
        self.feature = np.ascontiguousarray(feature, np.int32)
        self.threshold = np.ascontiguousarray(threshold, np.float32)
        self.left = np.ascontiguousarray(left, np.int32)
        self.right = np.ascontiguousarray(right, np.int32)
        self._value = np.ascontiguousarray(value, np.float32)
        self.roots = np.ascontiguousarray(roots, np.int64)
        self.n_features = int(n_features)
        self.importances = (
            np.zeros(self.n_features, np.float64) if importances is None else np.asarray(importances, np.float64)
        )
        self._validate()
        self._tables = None

    def _validate(self):
        """Check the whole forest before compiled code sees it: a file may hold anything.

        Every node is reached from exactly one root (each tree's nodes are contiguous, children come
        after their parent and every non-root node has exactly one parent: no cycles, no shared or
        orphaned nodes), indices are in range, thresholds finite, leaves hold class distributions.
        """
        def bad(what):
            raise ValueError(f"forest {what} (corrupt project file?)")

        n = self.feature.size
        if self.threshold.ndim != 1 or self.left.ndim != 1 or self.right.ndim != 1 or self.feature.ndim != 1:
            bad("arrays are not one-dimensional")
        if self._value.ndim != 2 or self._value.shape[1] < 1:
            bad(f"values of shape {self._value.shape} are not (nodes, classes)")
        if not (self.threshold.size == self.left.size == self.right.size == self._value.shape[0] == n) or n == 0:
            bad("arrays disagree in length")
        r = self.roots
        if r.ndim != 1 or r.size == 0 or r[0] != 0 or (np.diff(r) <= 0).any() or r[-1] >= n:
            bad("roots are not increasing node indices starting at 0")
        if self.n_features < 1 or self.importances.shape != (self.n_features,) or \
                not np.isfinite(self.importances).all():
            bad(f"importances of shape {self.importances.shape} do not fit {self.n_features} features")
        is_leaf = self.left < 0
        if ((self.right < 0) != is_leaf).any() or (is_leaf & ((self.left != -1) | (self.right != -1))).any():
            bad("nodes have one child, or children marked other than -1")
        inner = np.flatnonzero(~is_leaf)
        if inner.size:
            tree_end = np.append(r[1:], n)[np.searchsorted(r, inner, side="right") - 1]
            kids = (self.left[inner], self.right[inner])
            if (self.feature[inner].max() >= self.n_features or self.feature[inner].min() < 0
                    or any(((k <= inner) | (k >= tree_end)).any() for k in kids)):
                bad("arrays point outside the forest or back to a parent")
            if not np.isfinite(self.threshold[inner]).all():
                bad("thresholds are not finite")
        parents = np.bincount(np.concatenate([self.left[inner], self.right[inner]]), minlength=n)
        is_root = np.zeros(n, bool)
        is_root[r] = True
        if (parents[is_root] != 0).any() or (parents[~is_root] != 1).any():
            bad("nodes are shared by two parents or reached from no root")
        leaf_v = self._value[is_leaf]
        if not np.isfinite(leaf_v).all() or (leaf_v < 0).any() or (np.abs(leaf_v.sum(1) - 1) > 1e-3).any():
            bad("leaves do not hold class distributions (non-negative, summing to 1)")

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, v):
        self._value = np.ascontiguousarray(v, np.float32)
        self._tables = None  # leaf values are copied into the bitvector tables

    def _bitvectors(self):
        """Bitvector tables of the small trees (32- and 64-bit words), the roots of the large ones."""
        if self._tables is None:
            inner = self.left >= 0
            used = np.unique(self.feature[inner]).astype(np.int64)
            if used.size == 0:
                used = np.zeros(1, np.int64)
            remap = np.zeros(self.n_features, np.int32)
            remap[used] = np.arange(used.size, dtype=np.int32)
            n32 = min(WORD32_MAX_LEAVES, QS_MAX_LEAVES, 32)
            small_any = np.zeros(self.n_trees, bool)
            words = []
            for lo, hi, dtype in ((0, n32, np.uint32), (n32, QS_MAX_LEAVES, np.uint64)):
                small, node_of, row, mask, leaf_node, base = _bitvector_tables(
                    self.left, self.right, self.roots, lo, hi)
                small_any |= small
                words.append((remap[self.feature[node_of]], self.threshold[node_of], row,
                               mask.astype(dtype) if mask.size else np.zeros(1, dtype), base,
                               np.ascontiguousarray(self.value[leaf_node].T)))
            self._tables = (words[0], words[1], self.roots[~small_any], used,
                            np.where(inner, remap[self.feature], 0).astype(np.int32))
        return self._tables

    @property
    def n_classes(self):
        return self.value.shape[1]

    @property
    def n_trees(self):
        return self.roots.size

    @classmethod
    def from_sklearn(cls, rf):
        """Convert a fitted ``RandomForestClassifier`` (single output)."""
        feats, thrs, lefts, rights, vals, roots = [], [], [], [], [], []
        off = 0
        for est in rf.estimators_:
            t = est.tree_
            leaf = t.children_left < 0
            roots.append(off)
            feats.append(np.where(leaf, 0, t.feature))
            thrs.append(_floor32(t.threshold))
            lefts.append(np.where(leaf, -1, t.children_left + off))
            rights.append(np.where(leaf, -1, t.children_right + off))
            v = t.value[:, 0, :].astype(np.float64)
            v = v / np.maximum(v.sum(1, keepdims=True), 1e-300)
            # the forest encodes y before fitting, so every tree has all n_classes_ columns
            vals.append(v)
            off += t.node_count
        return cls(
            np.concatenate(feats), np.concatenate(thrs), np.concatenate(lefts), np.concatenate(rights),
            np.concatenate(vals), np.array(roots), rf.n_features_in_, rf.feature_importances_,
        )

    def predict_proba_fm(self, X_fm, idx=None):
        """Class probabilities ``(N, K)`` float32 for feature-major samples ``X_fm`` (F, N).

        With ``idx`` (int64 column indices), only those columns are predicted, in place:
        the widget predicts what the viewport shows without copying features.
        """
        X_fm = np.asarray(X_fm)
        if X_fm.dtype != np.float32:
            X_fm = X_fm.astype(np.float32)
        if X_fm.shape[0] != self.n_features:
            raise ValueError(f"forest expects {self.n_features} features; got {X_fm.shape[0]}")
        if idx is None:
            idx = np.zeros(0, np.int64)
            n_out = X_fm.shape[1]
        else:
            idx = np.ascontiguousarray(idx, np.int64).ravel()
            if idx.size and (idx.min() < 0 or idx.max() >= X_fm.shape[1]):
                raise IndexError("pixel indices outside the feature array")
            n_out = idx.size
        out = np.empty((n_out, self.n_classes), np.float32)
        if n_out:
            w32, w64, big, used, feat_u = self._bitvectors()
            run_rows(_predict, (n_out + _CHUNK - 1) // _CHUNK, X_fm, idx, w32, w64,
                     self.threshold, self.left, self.right, self.value, big, self.n_trees, used, feat_u, out)
        return out

    def predict_proba(self, X):
        """Class probabilities ``(N, K)`` for samples-by-features ``X`` (N, F)."""
        return self.predict_proba_fm(np.ascontiguousarray(np.asarray(X, np.float32).T))

    @classmethod
    def concat(cls, forests):
        """One forest of the trees of ``forests`` (same features and classes), in order."""
        off, parts = 0, []
        for f in forests:
            shift = np.where(f.left >= 0, off, 0)
            parts.append((f.feature, f.threshold, f.left + shift, f.right + shift, f.value, f.roots + off))
            off += f.feature.size
        w = np.array([f.n_trees for f in forests], np.float64)
        imp = sum(wi * f.importances for wi, f in zip(w, forests)) / w.sum()
        return cls(*(np.concatenate(a) for a in zip(*parts)), forests[0].n_features, imp)

    def subset(self, start, stop):
        """A forest of trees ``start..stop-1`` of this one (their nodes copied, renumbered from 0)."""
        start, stop = int(start), int(stop)
        if not 0 <= start < stop <= self.n_trees:
            raise ValueError(f"trees {start}..{stop} are not within this forest's {self.n_trees}")
        a = self.roots[start]
        b = self.roots[stop] if stop < self.n_trees else self.left.size
        inner = self.left[a:b] >= 0
        left = np.where(inner, self.left[a:b] - a, -1)
        right = np.where(inner, self.right[a:b] - a, -1)
        return Forest(self.feature[a:b], self.threshold[a:b], left, right, self.value[a:b],
                      self.roots[start:stop] - a, self.n_features, self.importances)

    def starts_with(self, other):
        """Whether this forest's first trees are exactly ``other``'s (a preview of it)."""
        k, n = other.n_trees, other.left.size
        if k > self.n_trees or other.n_features != self.n_features or other.n_classes != self.n_classes:
            return False
        if (self.roots[k] if k < self.n_trees else self.left.size) != n:
            return False
        return all(np.array_equal(getattr(self, a)[:n], getattr(other, a))
                   for a in ("feature", "threshold", "left", "right", "value")) and \
            np.array_equal(self.roots[:k], other.roots)

    def to_arrays(self):
        return {k: getattr(self, k) for k in self.ARRAYS}

    @classmethod
    def from_arrays(cls, arrays, n_features):
        return cls(*(np.asarray(arrays[k]) for k in cls.ARRAYS[:6]), n_features, np.asarray(arrays["importances"]))


def train_forest(X, y, n_estimators=100, random_state=0, method="binned", n_jobs=-1, preview=0, on_preview=None,
                 **kwargs):
    """Fit a random forest on ``X`` (N, F), ``y`` (N,) and return ``(Forest, classes)``.

    ``method="binned"`` (default) grows the trees with :mod:`.forest_train` (bootstrap of at
    most ``max_samples`` pixels per tree with a share for every class, 8-bit histogram splits):
    its cost stops growing with the number of labels. ``method="sklearn"`` fits scikit-learn's
    ``RandomForestClassifier`` (every labeled pixel in every tree), for comparison. Same ``X``,
    ``y`` and ``random_state`` give the same forest either way.

    With ``preview=n`` and ``on_preview(forest, classes)``, the first ``n`` trees are handed
    over as soon as they exist (the app draws them); if it returns False the rest is not grown
    and ``(None, classes)`` comes back. The trees are the same as without a preview.
    """
    X = np.asarray(X, np.float32)
    y = np.asarray(y)
    classes, yi = np.unique(y, return_inverse=True)
    if method == "sklearn":
        from sklearn.ensemble import RandomForestClassifier

        rf = RandomForestClassifier(n_estimators=n_estimators, random_state=random_state, n_jobs=n_jobs, **kwargs)
        rf.fit(X, y)
        return Forest.from_sklearn(rf), rf.classes_
    if method != "binned":
        raise ValueError(f"method must be 'binned' or 'sklearn'; got {method!r}")
    from .forest_train import fit_binned_forest

    if on_preview is not None and 0 < preview < n_estimators:
        # the first trees first (shown while the rest grow); together they are the same forest
        from .forest_train import Binned

        opts = {k: kwargs[k] for k in ("max_samples", "min_class_share") if k in kwargs}
        b = Binned(X, yi, random_state, **opts)
        r = fit_binned_forest(X, yi, n_estimators, random_state, trees=(0, preview), binned=b, **kwargs)
        first = Forest(*r[:6], X.shape[1], r[6])
        if on_preview(first, classes) is False:
            return None, classes
        r = fit_binned_forest(X, yi, n_estimators, random_state, trees=(preview, n_estimators), binned=b, **kwargs)
        rest = Forest(*r[:6], X.shape[1], r[6])
        return Forest.concat([first, rest]), classes
    feat, thr, left, right, value, roots, imp = fit_binned_forest(X, yi, n_estimators, random_state, **kwargs)
    return Forest(feat, thr, left, right, value, roots, X.shape[1], imp), classes
