"""A random forest as flat arrays: grown by :mod:`.train` (or scikit-learn), stored without pickle.

Scoring lives in :mod:`.score`; the arrays are validated as a whole before compiled code sees them.
"""
from __future__ import annotations

import numpy as np

from . import bitvectors, score

__all__ = ["Forest", "floor32"]


def floor32(thr):
    """float32 thresholds t32 with ``x <= t32`` iff ``x <= thr`` for every float32 x (``thr`` float64)."""
    t32 = np.asarray(thr, np.float64).astype(np.float32)
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
        """``(n_nodes, n_classes)`` class probabilities at the leaves; setting it drops the scorer's tables."""
        return self._value

    @value.setter
    def value(self, v):
        """``(n_nodes, n_classes)`` class probabilities at the leaves; setting it drops the scorer's tables."""
        self._value = np.ascontiguousarray(v, np.float32)
        self._tables = None  # leaf values are copied into the bitvector tables

    def _bitvectors(self):
        """The scorer's tables (:func:`.bitvectors.score_tables`), made once per forest."""
        if self._tables is None:
            self._tables = bitvectors.score_tables(self)
        return self._tables

    @property
    def n_classes(self):
        """Number of classes (columns of :attr:`value`)."""
        return self.value.shape[1]

    @property
    def n_trees(self):
        """Number of trees."""
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
            thrs.append(floor32(t.threshold))
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

    def used_features(self):
        """A bool mask ``(n_features,)`` of the features some split of the forest reads."""
        used = np.zeros(self.n_features, bool)
        used[self.feature[self.left >= 0]] = True
        return used

    def predict_proba_fm(self, X_fm, idx=None):
        """Class probabilities ``(N, K)`` float32 for feature-major samples ``X_fm`` (F, N).

        With ``idx`` (int64 column indices), only those columns are predicted, in place:
        the widget predicts what the viewport shows without copying features.
        """
        return score.predict_proba_fm(self, self._bitvectors(), X_fm, idx)

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
        """The forest's arrays by name, as saved (see :meth:`from_arrays`)."""
        return {k: getattr(self, k) for k in self.ARRAYS}

    @classmethod
    def from_arrays(cls, arrays, n_features):
        """A Forest from :meth:`to_arrays`'s arrays, validated as a whole."""
        return cls(*(np.asarray(arrays[k]) for k in cls.ARRAYS[:6]), n_features, np.asarray(arrays["importances"]))
