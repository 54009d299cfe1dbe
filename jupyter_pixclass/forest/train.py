"""Training a forest: class draws and leaf weights, the labeled pixels binned, trees grown; or scikit-learn's."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..runtime.threads import run_rows
from .bins import EDGE_SAMPLE, apply_bins, bin_edges, transpose
from .bootstrap import key_hashes
from .grow import GrowPlan, TreeArrays, grow_trees
from .model import Forest, floor32

__all__ = ["train_forest", "fit_binned_forest", "Binned", "GrownTrees", "TrainedForest", "class_draws",
           "balanced_draws", "leaf_weights", "edge_rows", "class_rows", "CLASS_WEIGHTS", "check_class_weight",
           "LABEL_POOL", "poisson_table", "row_keys"]

CLASS_WEIGHTS = (None, "balanced")
# beyond this many labeled pixels a forest grows from this many of them, drawn class by class, so
# copying, binning and drawing from them stop growing with the labels: at 184 604 labels 448 -> 126 ms
# with Project.train's lazy rows, held-out IoU within 0.0005 (benchmarks/RESULTS.md, "Many labels");
# up to it nothing changes
LABEL_POOL = 32768


def check_class_weight(class_weight, where="class_weight"):
    """``class_weight`` if it is one of :data:`CLASS_WEIGHTS`, else a ValueError naming ``where``."""
    if not isinstance(class_weight, (str, type(None))) or class_weight not in CLASS_WEIGHTS:
        raise ValueError(f"{where} must be one of {CLASS_WEIGHTS}; got {str(class_weight)[:40]!r}")
    return class_weight


class GrownTrees(NamedTuple):
    """The arrays of :class:`.Forest` (thresholds as float32 feature values) and the mean decrease in impurity."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    importances: np.ndarray

    def forest(self, n_features):
        """These trees as a :class:`.Forest` of ``n_features`` features."""
        return Forest(self.feature, self.threshold, self.left, self.right, self.value, self.roots, n_features,
                      self.importances)


class TrainedForest(NamedTuple):
    """What :func:`train_forest` returns: the forest, and the class label of each of its columns."""

    forest: Forest
    classes: np.ndarray


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


def balanced_draws(counts, max_samples):
    """Bootstrap draws per class for classes weighed alike: every labeled class the same number of draws.

    As scikit-learn's ``class_weight="balanced"``: a class's weight no longer grows with its labels,
    so a stroke of one class does not squeeze a class with few labels out of the overlay; the
    probabilities then follow equal class priors, not the labels' proportions.
    """
    counts = np.asarray(counts, np.int64)
    m = min(int(counts.sum()), int(max_samples))
    present = counts > 0
    return np.where(present, int(round(m / max(int(present.sum()), 1))), 0).astype(np.int64)


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


def row_keys(keys, n):
    """``keys`` as ``n`` uint64 numbers, one per labeled pixel (None: ``0..n-1``, the rows' order).

    A key names a pixel whatever else is labeled (:meth:`.Project.training_data` uses the image and
    the pixel's place in it): the trainer draws each pixel by its key, so a pixel keeps its draws when
    other labels come or go. Keys must be distinct.
    """
    if keys is None:
        return np.arange(n, dtype=np.uint64)
    keys = np.asarray(keys)
    if keys.shape != (n,) or keys.dtype.kind not in "iu":
        raise ValueError(f"keys must be {n} integers, one per labeled pixel; got {keys.dtype} {keys.shape}")
    keys = keys.astype(np.uint64)
    # increasing keys (a label store's) are distinct at a glance; others are sorted to tell
    if n > 1 and not (keys[1:] > keys[:-1]).all() and np.unique(keys).size != n:
        raise ValueError("keys must be distinct: two labeled pixels share one")
    return keys


def class_rows(y, sample, min_class_share=0.1, seed=0, stream=0, keys=None):
    """About ``sample`` indices of ``y`` picked class by class (increasing), or None when ``y`` has no more.

    A class keeps its share of the sample and at least ``min_class_share`` of it (all its pixels if
    it has fewer); ``stream`` keeps picks for different uses apart. A class's pick is its pixels whose
    ``keys`` (:func:`row_keys`) hash lowest for ``seed`` and ``stream``: a pixel picked stays picked
    while the labels that come displace it only by hashing lower.
    """
    y = np.asarray(y)
    if y.size <= sample:
        return None
    counts = np.bincount(y)
    quota = np.minimum(np.maximum(class_draws(counts, sample, min_class_share), counts > 0), counts)  # a row each
    h = key_hashes(row_keys(keys, y.size), np.uint64((int(seed) * 0x10001 + int(stream)) % 2**64))
    rows = []
    for c, q in enumerate(quota):
        if q:
            mine = np.flatnonzero(y == c)
            rows.append(mine if q >= mine.size else mine[np.argpartition(h[mine], q - 1)[:q]])
    return np.sort(np.concatenate(rows))


def edge_rows(y, sample=EDGE_SAMPLE, min_class_share=0.1, seed=0, keys=None):
    """The labeled pixels bin edges come from: all of them up to ``sample``, else about ``sample`` picked
    class by class (increasing indices), or None for all.

    A class keeps its share of the sample and at least ``min_class_share`` of it (all its pixels if
    it has fewer): picked uniformly, a few strokes of a rare class among thousands of background
    pixels would get few edges, and its splits coarse bins. ``keys`` as for :func:`class_rows`.
    """
    return class_rows(y, sample, min_class_share, seed, stream=0xED6E, keys=keys)


def poisson_table(rates, eps=1e-13):
    """Per class, the cumulative probabilities of a Poisson(``rate``) count as uint64 fractions of 2**64.

    A uniform 64-bit number ``h`` draws the count ``c`` with ``table[c - 1] <= h < table[c]``: how
    :mod:`.bootstrap` draws each pixel's count in a tree's bootstrap sample (the online bagging of Oza
    and Russell: per pixel, a Poisson count with mean draws / pixels of its class). Counts stop where
    less than ``eps`` of the probability is left; at least 4 entries.
    """
    from math import lgamma, log

    rates = np.asarray(rates, np.float64)
    rows = []
    for r in rates:
        if r <= 0:
            rows.append(np.ones(1))
            continue
        k = np.arange(int(r + 12 * np.sqrt(r) + 40))
        # in logs: exp(-r) underflows for a rate of a few hundred (one labeled pixel of a balanced class)
        logp = -r + k * log(r) - np.array([lgamma(i + 1.0) for i in k])
        cdf = np.minimum(np.cumsum(np.exp(logp)), 1.0)
        rows.append(cdf[:int(np.searchsorted(cdf, 1.0 - eps)) + 1])
    C = max(4, max(len(c) for c in rows) + 1)
    table = np.ones((rates.size, C))
    for t, c in zip(table, rows):
        t[:len(c)] = c
    # the last entry stays below 2**64 (a float64 of 2**64 does not fit a uint64)
    return np.minimum(table * 2.0**64, 2.0**64 - 4096).astype(np.uint64)


def _tree_arrays(T, cap, K, F):
    """:class:`.grow.TreeArrays` for ``T`` trees of at most ``cap`` nodes, ``K`` classes, ``F`` features."""
    # uninitialised where _grow writes every node it makes: untouched pages cost nothing
    return TreeArrays(np.empty((T, cap), np.int32), np.empty((T, cap), np.int64), np.empty((T, cap), np.float64),
                      np.empty((T, cap), np.int32), np.empty((T, cap), np.int32), np.empty((T, cap, K), np.float32),
                      np.zeros((T, F), np.float64), np.zeros(T, np.int64))


def _widen(a, b, rows):
    """``a`` with its ``rows`` replaced by the wider ``b``."""
    out = np.zeros((a.shape[0], b.shape[1]) + a.shape[2:], a.dtype)
    out[:, :a.shape[1]] = a
    out[rows] = b
    return out


class Binned:
    """Labeled pixels ready for growing trees: 8-bit bins, classes, draws per tree.

    Beyond ``pool`` labeled pixels only ``pool`` of them, drawn class by class, are binned and drawn
    from; the draws per class and the leaf weights follow every label's class, or ``class_counts``
    (labeled pixels per class of ``y``) where ``X`` holds a sample of each class's labels.
    """

    def __init__(self, X, y, random_state=0, max_samples=6000, min_class_share=0.1, class_weight=None,
                 pool=LABEL_POOL, class_counts=None, keys=None):
        check_class_weight(class_weight)
        y = np.ascontiguousarray(y, np.int64)
        self.F = X.shape[1]
        self.K = int(y.max()) + 1
        self.random_state = int(random_state or 0)
        # the classes' priors come from every label, the pixels trees draw from the pool
        labeled = np.bincount(y, minlength=self.K).astype(np.int64)
        if class_counts is not None:  # X holds a sample of each class (a label store within its budget)
            counts = np.asarray(class_counts, np.int64)
            if counts.shape != (self.K,) or (counts < labeled).any():
                raise ValueError(f"class_counts {counts.tolist()} should be {self.K} counts, each at least the "
                                 f"rows of its class ({labeled.tolist()})")
            labeled = counts
        if pool is not None and (not isinstance(pool, (int, np.integer)) or pool < 1):
            raise ValueError(f"pool must be a positive number of labeled pixels or None; got {pool!r}")
        keys = row_keys(keys, y.size)
        rows = class_rows(y, int(pool), min_class_share, self.random_state, stream=0x9001, keys=keys) if pool else None
        if hasattr(X, "feature_major"):  # a LabeledRows: its rows (the pool's) land feature-major, in one copy
            XT = X.feature_major(rows)
        else:
            XT = transpose(np.asarray(X if rows is None else X[rows], np.float32))
        if not np.isfinite(XT).all():  # as scikit-learn refuses them: NaN bins and edges would train garbage
            bad = np.flatnonzero(~np.isfinite(XT).all(1))
            raise ValueError(f"features {bad[:10].tolist()}{' ...' if bad.size > 10 else ''} of {self.F} hold NaN "
                             f"or infinite values at {int((~np.isfinite(XT)).any(0).sum())} of the "
                             f"{XT.shape[1]} labeled pixels; a forest cannot be trained on them")
        self.y = y if rows is None else y[rows]
        self.keys = keys if rows is None else keys[rows]
        self.hashed = key_hashes(self.keys, np.uint64(self.random_state))  # what each tree's draws are made of
        rows = edge_rows(self.y, EDGE_SAMPLE, min_class_share, self.random_state, self.keys)
        self.edges, self.n_edges = bin_edges(XT, seed=self.random_state, feature_major=True, rows=rows)
        self.Xb, self.XT = apply_bins(XT, self.edges, feature_major=True)
        self.counts = np.bincount(self.y, minlength=self.K).astype(np.int64)
        if class_weight == "balanced":  # classes weighed alike, in the splits and in the leaves
            self.draws = balanced_draws(labeled, max_samples)
            self.leaf_weight = np.ones(self.K)
        else:
            self.draws = class_draws(labeled, max_samples, min_class_share)
            self.leaf_weight = leaf_weights(labeled, self.draws, max_samples)
        # a pixel's expected count in a tree: its class's draws over the class's pixels here
        self.rates = poisson_table(self.draws / np.maximum(self.counts, 1))

    def seeds(self, n_estimators):
        """One seed per tree of an ``n_estimators`` forest; tree t's seed does not depend on the count."""
        return np.random.default_rng(np.random.SeedSequence([self.random_state, 0x5EED])).integers(
            0, 2**63, size=int(n_estimators), dtype=np.int64).astype(np.uint64)


def fit_binned_forest(X, y, n_estimators=100, random_state=0, max_samples=6000, min_class_share=0.1,
                      max_depth=40, min_samples_leaf=1, max_features="sqrt", trees=None, binned=None,
                      class_weight=None, pool=LABEL_POOL, class_counts=None, keys=None):
    """Grow a random forest on ``X`` (N, F) float32 and labels ``y`` (N,) in ``0..K-1``.

    Returns :class:`GrownTrees`: the arrays of :class:`.Forest` (thresholds as float32 feature values)
    and the mean decrease in impurity per feature. ``trees=(start, stop)`` grows only those trees of
    the ``n_estimators`` forest (a preview, then the rest: together they are the whole forest);
    ``binned`` (a :class:`Binned` of the same data) saves binning twice. Beyond ``pool`` labeled
    pixels the trees draw from ``pool`` of them, drawn class by class (:func:`class_rows`; None: from
    all), while the classes' shares still come from every label.
    """
    b = binned if binned is not None else Binned(X, y, random_state, max_samples, min_class_share, class_weight,
                                                 pool, class_counts, keys)
    F, K, m = b.F, b.K, int(b.draws.sum())
    mtry = max(1, int(np.sqrt(F))) if max_features == "sqrt" else int(max_features)
    start, stop = trees if trees is not None else (0, int(n_estimators))
    seeds = b.seeds(n_estimators)[start:stop]
    T = seeds.size
    plan = GrowPlan(b.Xb, b.XT, b.n_edges, b.y, K, b.hashed, b.rates, b.draws, b.leaf_weight, mtry, max_depth,
                    int(min_samples_leaf))
    # room for 1024 nodes a tree (stroke trees have a few hundred); a tree that needs more is grown
    # again with room for the nodes its sample can make (a node holds a distinct pixel at least: at
    # most twice the pixels of a sample of the expected size and 8 standard deviations more), or, if
    # its sample is larger still, the labeled pixels
    n_pix = b.y.size
    caps = [min(2 * m + 1, 1024), 2 * min(n_pix, m + 8 * int(np.sqrt(m)) + 64) + 1, 2 * n_pix + 1]
    a = _tree_arrays(T, caps[0], K, F)
    run_rows(grow_trees, T, plan, seeds, a)
    for cap in caps[1:]:
        big = np.flatnonzero(a.n_nodes < 0)
        if not big.size:
            break
        more = _tree_arrays(big.size, max(cap, a.left.shape[1]), K, F)
        run_rows(grow_trees, big.size, plan, seeds[big], more)
        a = TreeArrays(*[_widen(x, y, big) for x, y in zip(a[:6], more[:6])], a.importances, a.n_nodes)
        a.importances[big] = more.importances
        a.n_nodes[big] = more.n_nodes
    roots = np.concatenate([[0], np.cumsum(a.n_nodes)[:-1]]).astype(np.int64)
    # every tree's nodes, tree after tree, in one pass (a loop over the trees took 1.2 ms, this 0.3)
    keep = np.arange(a.left.shape[1]) < a.n_nodes[:, None]
    left = a.left[keep]
    leaf = left < 0
    offset = np.repeat(roots, a.n_nodes)  # node numbers within a tree -> within the forest
    tree_imp = a.importances / np.maximum(a.importances.sum(1, keepdims=True), 1e-300)
    return GrownTrees(np.where(leaf, 0, a.feature[keep]),
                      floor32(np.where(leaf, 0.0, a.threshold[keep])),  # leaves hold no threshold (unset memory)
                      np.where(leaf, -1, left + offset), np.where(leaf, -1, a.right[keep] + offset), a.value[keep],
                      roots, tree_imp.mean(0))


def train_forest(X, y, n_estimators=100, random_state=0, method="binned", n_jobs=-1, preview=0, on_preview=None,
                 **kwargs):
    """Fit a random forest on ``X`` (N, F), ``y`` (N,); a :class:`TrainedForest` ``(forest, classes)``.

    ``method="binned"`` (default) grows the trees with :mod:`.grow` (bootstrap of at
    most ``max_samples`` pixels per tree with a share for every class, 8-bit histogram splits):
    its cost stops growing with the number of labels (beyond :data:`LABEL_POOL` labeled pixels,
    trees draw from that many of them). ``method="sklearn"`` fits scikit-learn's
    ``RandomForestClassifier`` (every labeled pixel in every tree), for comparison. Same ``X``,
    ``y`` and ``random_state`` give the same forest either way.

    ``class_counts`` (labeled pixels per label value, ``0..max(y)``) gives the classes' shares when
    ``X`` holds a sample of each class's labeled pixels (:class:`.LabelStore` within its budget).

    ``keys`` (distinct integers, one per row; default the rows' order) name the labeled pixels: each
    tree draws a pixel by its key (:func:`row_keys`), so the forest does not depend on the rows'
    order, and labels added or removed leave every other pixel's draws as they were.
    :meth:`.Project.train` keys a pixel by its image and its place there: a stroke then changes the
    trees where it teaches something, not the whole forest.

    ``class_weight="balanced"`` weighs the classes alike, whatever their labels' counts (either
    method): a stroke of one class then rarely squeezes a class with few labels, and the
    probabilities follow equal class priors instead of the labels' (default None: calibrated to
    the labels; benchmarks/RESULTS.md, "One correct stroke").

    With ``preview=n`` and ``on_preview(forest, classes)``, the first ``n`` trees are handed
    over as soon as they exist (the app draws them); if it returns False the rest is not grown
    and ``forest`` is None. The trees are the same as without a preview.
    """
    check_class_weight(kwargs.get("class_weight"))
    if not hasattr(X, "shape") or len(X.shape) != 2:  # rows taken later (a LabeledRows) stay as they are
        X = np.asarray(X, np.float32)
    y = np.asarray(y)
    classes, yi = np.unique(y, return_inverse=True)
    if kwargs.get("class_counts") is not None:  # labeled pixels per label value (0..): those of y's classes
        kwargs["class_counts"] = np.asarray(kwargs["class_counts"], np.int64)[classes]
    if method == "sklearn":
        kwargs.pop("class_counts", None)  # scikit-learn's forest sees the rows it is given, in their order
        kwargs.pop("keys", None)
        from sklearn.ensemble import RandomForestClassifier

        rf = RandomForestClassifier(n_estimators=n_estimators, random_state=random_state, n_jobs=n_jobs, **kwargs)
        rf.fit(np.asarray(X, np.float32), y)
        return TrainedForest(Forest.from_sklearn(rf), rf.classes_)
    if method != "binned":
        raise ValueError(f"method must be 'binned' or 'sklearn'; got {method!r}")
    F = X.shape[1]
    if on_preview is not None and 0 < preview < n_estimators:
        # the first trees first (shown while the rest grow); together they are the same forest
        opts = {k: kwargs[k] for k in ("max_samples", "min_class_share", "class_weight", "pool", "class_counts",
                                       "keys")
                if k in kwargs}
        b = Binned(X, yi, random_state, **opts)
        first = fit_binned_forest(X, yi, n_estimators, random_state, trees=(0, preview), binned=b, **kwargs).forest(F)
        if on_preview(first, classes) is False:
            return TrainedForest(None, classes)
        rest = fit_binned_forest(X, yi, n_estimators, random_state, trees=(preview, n_estimators), binned=b,
                                 **kwargs).forest(F)
        return TrainedForest(Forest.concat([first, rest]), classes)
    return TrainedForest(fit_binned_forest(X, yi, n_estimators, random_state, **kwargs).forest(F), classes)
