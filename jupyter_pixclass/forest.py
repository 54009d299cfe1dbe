"""A random forest as flat arrays: trained by scikit-learn, stored without pickle, predicted by numba.

scikit-learn's ``predict_proba`` needs samples x features rows (a 400 MB copy for a 1024x1024
image with 98 features) and allocates per-tree outputs; this traversal reads feature-major
planes in place and accumulates leaf probabilities directly.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["Forest", "train_forest"]


_CHUNK = 512  # pixels per task: a chunk's features stay in cache while every tree visits it


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _predict(X, idx, feature, threshold, left, right, value, roots, out):  # pragma: no cover - compiled
    # X (F, N) feature-major; idx: the pixel columns to predict (what a viewport shows), or empty
    # for all of them; out (M, K)
    M = idx.size if idx.size else X.shape[1]
    T = roots.size
    K = value.shape[1]
    inv = np.float32(1.0 / T)
    nchunks = (M + _CHUNK - 1) // _CHUNK
    for c in prange(nchunks):
        m0 = c * _CHUNK
        m1 = min(m0 + _CHUNK, M)
        acc = np.zeros((m1 - m0, K), np.float32)
        for t in range(T):
            root = roots[t]
            for m in range(m0, m1):
                n = idx[m] if idx.size else m
                node = root
                while left[node] >= 0:
                    if X[feature[node], n] <= threshold[node]:
                        node = left[node]
                    else:
                        node = right[node]
                for k in range(K):
                    acc[m - m0, k] += value[node, k]
        for m in range(m0, m1):
            for k in range(K):
                out[m, k] = acc[m - m0, k] * inv


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
        self.value = np.ascontiguousarray(value, np.float32)
        self.roots = np.ascontiguousarray(roots, np.int64)
        self.n_features = int(n_features)
        self.importances = (
            np.zeros(self.n_features, np.float64) if importances is None else np.asarray(importances, np.float64)
        )
        n = self.feature.size
        if not (self.threshold.size == self.left.size == self.right.size == self.value.shape[0] == n):
            raise ValueError("forest arrays disagree in length (corrupt project file?)")
        inner = self.left >= 0
        if inner.any() and (
            self.feature[inner].max() >= self.n_features
            or self.feature[inner].min() < 0
            or self.left.max() >= n
            or self.right.max() >= n
            or (self.right[inner] < 0).any()
        ):
            raise ValueError("forest arrays point outside the forest (corrupt project file?)")

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
            _predict(X_fm, idx, self.feature, self.threshold, self.left, self.right, self.value, self.roots, out)
        return out

    def predict_proba(self, X):
        """Class probabilities ``(N, K)`` for samples-by-features ``X`` (N, F)."""
        return self.predict_proba_fm(np.asarray(X, np.float32).T)

    def to_arrays(self):
        return {k: getattr(self, k) for k in self.ARRAYS}

    @classmethod
    def from_arrays(cls, arrays, n_features):
        return cls(*(np.asarray(arrays[k]) for k in cls.ARRAYS[:6]), n_features, np.asarray(arrays["importances"]))


def train_forest(X, y, n_estimators=100, random_state=0, n_jobs=-1, **kwargs):
    """Fit scikit-learn's random forest on ``X`` (N, F), ``y`` (N,) and return a :class:`Forest`.

    Same ``X``, ``y`` and ``random_state`` give the same forest (scikit-learn seeds each tree).
    """
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(n_estimators=n_estimators, random_state=random_state, n_jobs=n_jobs, **kwargs)
    rf.fit(np.asarray(X, np.float32), y)
    return Forest.from_sklearn(rf), rf.classes_
