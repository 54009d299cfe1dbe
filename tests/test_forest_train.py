"""The binned forest trainer: determinism, valid probabilities, rare classes, agreement with scikit-learn."""
import numpy as np
import pytest

import jupyter_pixclass as pc
from jupyter_pixclass.forest import Forest, train_forest
from jupyter_pixclass.forest.bins import apply_bins, bin_edges
from jupyter_pixclass.forest.train import Binned, balanced_draws, class_draws, class_rows, edge_rows


def blobs(n, rng, shift=2.5, F=12):
    y = rng.integers(1, 3, n)
    X = rng.standard_normal((n, F)).astype(np.float32)
    X[:, 0] += shift * (y - 1.5)
    X[:, 3] -= shift * (y - 1.5)
    return X, y


def test_deterministic_by_seed():
    rng = np.random.default_rng(0)
    X, y = blobs(3000, rng)
    a, ca = train_forest(X, y, 30, random_state=4)
    b, cb = train_forest(X, y, 30, random_state=4)
    c, _ = train_forest(X, y, 30, random_state=5)
    for k in Forest.ARRAYS:
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    assert not np.array_equal(a.threshold, c.threshold) or not np.array_equal(a.feature, c.feature)
    np.testing.assert_array_equal(ca, [1, 2])


def test_probabilities_sum_to_one_and_leaves_are_distributions():
    rng = np.random.default_rng(1)
    X, y = blobs(2000, rng, shift=0.8)  # overlapping classes: impure leaves
    y[::7] = 3
    f, classes = train_forest(X, y, 20, random_state=0, max_samples=500)
    p = f.predict_proba(X)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    leaves = f.left < 0
    np.testing.assert_allclose(f.value[leaves].sum(1), 1, atol=1e-5)
    assert (f.importances >= 0).all() and abs(f.importances.sum() - 1) < 1e-6


def test_agrees_with_scikit_learn_on_easy_data():
    rng = np.random.default_rng(2)
    X, y = blobs(6000, rng)
    Xt, yt = blobs(4000, rng)
    ours, cl = train_forest(X, y, 50, random_state=0)
    sk, cl2 = train_forest(X, y, 50, random_state=0, method="sklearn")
    po = cl[ours.predict_proba(Xt).argmax(1)]
    ps = cl2[sk.predict_proba(Xt).argmax(1)]
    assert (po == yt).mean() > 0.95 and abs((po == yt).mean() - (ps == yt).mean()) < 0.01
    assert (po == ps).mean() > 0.98


def test_rare_class_keeps_a_share():
    rng = np.random.default_rng(3)
    X, y = blobs(20000, rng, shift=6)
    rare = rng.standard_normal((40, X.shape[1])).astype(np.float32)
    rare[:, 1] += 6  # a third, small class, near enough to the others that without a share it is outvoted
    X = np.vstack([X, rare])
    y = np.concatenate([y, np.full(40, 3)])
    draws = class_draws(np.bincount(y)[1:], 4000, 0.1)
    assert draws[2] == 400 and draws.sum() >= 4000  # 10 % of every tree's draws (with replacement)
    f, classes = train_forest(X, y, 30, random_state=0)
    test = rng.standard_normal((200, X.shape[1])).astype(np.float32)
    test[:, 1] += 6
    pf = f.predict_proba(test)
    g, _ = train_forest(X, y, 30, random_state=0, min_class_share=0)  # no share: the rare class is outvoted
    pg = g.predict_proba(test)
    assert (classes[pf.argmax(1)] == 3).mean() >= 0.9
    assert (classes[pf.argmax(1)] == 3).mean() > (classes[pg.argmax(1)] == 3).mean()
    assert pf[:, 2].mean() > pg[:, 2].mean() + 0.1


def test_bins_follow_edges_and_thresholds_split_gaps_in_the_middle():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5000, 3)).astype(np.float32)
    X[:, 2] = np.round(X[:, 2])  # few distinct values
    edges, n = bin_edges(X)
    assert n[2] <= 8 and 240 <= n[0] <= 255
    b, XT = apply_bins(X, edges)
    np.testing.assert_array_equal(XT, X.T)
    for f in range(3):
        for k in (0, n[f] // 2, n[f] - 1):
            np.testing.assert_array_equal(b[f] <= k, X[:, f] <= edges[f, k])
    # two classes on either side of an empty stretch: the split goes in its middle, as scikit-learn's
    a = np.concatenate([rng.uniform(0, 1, 300), rng.uniform(3, 4, 300)]).astype(np.float32)
    y = np.repeat([1, 2], 300)
    f, _ = train_forest(np.column_stack([a, a]), y, 5, random_state=0)
    t = f.threshold[f.roots]  # each tree's root splits its bootstrap sample between the two clusters
    assert (t > a[:300].max()).all() and (t < a[300:].min()).all() and np.abs(t - 2).max() < 0.1


def reference_edges(X, n_bins=256, n_gaps=64):
    """bin_edges' rule written with numpy sorts: quantiles and the lower ends of the widest gaps."""
    edges = np.full((X.shape[1], n_bins - 1), np.inf, np.float32)
    n_q = n_bins - 1 - n_gaps
    for f in range(X.shape[1]):
        s = np.sort(X[:, f])
        n = s.size
        cand = list(s[(np.arange(1, n_q + 1) * n) // (n_q + 1)])
        g = np.diff(s)
        widest = np.lexsort((np.arange(g.size), -g))[:n_gaps]  # widest first, the lower of equal ones
        cand += [s[i] for i in widest if g[i] > 0]
        c = np.unique(np.array(cand, np.float32))
        c = c[c < s[-1]]
        edges[f, :c.size] = c
    return edges


@pytest.mark.parametrize("kind", ["normal", "integers", "negative", "constant", "few"])
def test_bin_edges_follow_their_rule(kind):
    """The compiled edges (radix sort, a heap of the widest gaps) are exactly the rule's, ties included."""
    rng = np.random.default_rng(6)
    X = {"normal": lambda: rng.standard_normal((8000, 4)),
         "integers": lambda: rng.integers(0, 200, (5000, 3)),  # more equal gaps than n_gaps
         "negative": lambda: np.concatenate([-np.abs(rng.standard_normal((3000, 2))), np.zeros((5, 2)),
                                             -np.zeros((5, 2))]),
         "constant": lambda: np.full((500, 2), 3.0),
         "few": lambda: rng.standard_normal((7, 3))}[kind]().astype(np.float32)
    edges, n = bin_edges(X)
    np.testing.assert_array_equal(edges, reference_edges(X))
    np.testing.assert_array_equal(n, np.isfinite(edges).sum(1))
    # a pixel's bin is the number of edges below its value (searches eight at a time, and the rest)
    b, _ = apply_bins(X, edges)
    np.testing.assert_array_equal(b, [np.searchsorted(edges[f], X[:, f], side="left") for f in range(X.shape[1])])
    # more rows than the sample: the edges come from the sampled rows
    if kind == "normal":
        edges, _ = bin_edges(X, sample=2000, seed=3)
        rows = np.sort(np.random.default_rng(3).choice(X.shape[0], 2000, replace=False))
        np.testing.assert_array_equal(edges, reference_edges(X[rows]))


def test_edges_of_many_labels_come_from_a_sample_of_fixed_size():
    # so that their cost stops growing with the labels: 12 000 labeled pixels, edges from 8 192
    X = np.random.default_rng(5).standard_normal((12_000, 3)).astype(np.float32)
    edges, _ = bin_edges(X, seed=7)
    rows = np.sort(np.random.default_rng(7).choice(X.shape[0], 8192, replace=False))
    np.testing.assert_array_equal(edges, bin_edges(X[rows])[0])
    assert not np.array_equal(edges, bin_edges(X, sample=X.shape[0])[0])


def test_edges_of_many_labels_keep_a_rare_class_whole():
    # 12 000 background pixels and 40 of a rare class: drawn uniformly, ~27 of the 40 would shape the edges
    y = np.r_[np.zeros(6000, np.int64), np.ones(40, np.int64), np.zeros(6000, np.int64)]
    rows = edge_rows(y, 8192, 0.1, seed=0)
    assert np.all(np.diff(rows) > 0) and 8192 <= rows.size <= 8192 + 40
    assert set(np.flatnonzero(y == 1)) <= set(rows.tolist())
    assert edge_rows(y[:8000], 8192) is None  # fewer than the sample: every row
    X = np.random.default_rng(2).standard_normal((y.size, 3)).astype(np.float32)
    b = Binned(X, y, random_state=4)
    np.testing.assert_array_equal(b.edges, bin_edges(X, rows=edge_rows(y, seed=4))[0])


def test_large_trees_grow_again_with_room():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6000, 5)).astype(np.float32)
    y = rng.integers(1, 3, 6000)  # noise: trees need thousands of nodes
    f, _ = train_forest(X, y, 4, random_state=0, max_samples=6000)
    assert np.diff(np.append(f.roots, f.left.size)).max() > 1024
    g, _ = train_forest(X, y, 4, random_state=0, max_samples=6000)
    np.testing.assert_array_equal(f.threshold, g.threshold)
    assert (f.predict_proba(X).argmax(1) + 1 == y).mean() > 0.9  # grown until (nearly) pure


def test_project_training_saved_and_loaded_predicts_the_same(tmp_path, scene):
    img, truth = scene
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0, 3.5]), n_estimators=25, random_state=3)
    p.set_labels(p.add_image(img), pc.datasets.scribbles(truth["classes"], n_strokes=6, mapping={1: 1, 2: 2, 3: 2}))
    p.train()
    p.save(tmp_path / "p.h5")
    q = pc.Project.load(tmp_path / "p.h5")
    np.testing.assert_array_equal(p.predict(0), q.predict(0))
    np.testing.assert_array_equal(q.train().predict(0), p.predict(0))  # retraining after load: same forest



def test_features_with_nan_or_inf_are_refused_by_name():
    # as scikit-learn refuses them: NaN sorts past every edge, and the bins of its trees split nothing
    rng = np.random.default_rng(0)
    X = rng.random((200, 6)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    X[5, 2], X[9, 4] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"features \[2, 4\] of 6 hold NaN or infinite values at 2 of the 200"):
        train_forest(X, y)

def test_unknown_method():
    with pytest.raises(ValueError, match="method must be 'binned' or 'sklearn'"):
        train_forest(np.zeros((4, 2), np.float32), np.array([1, 2, 1, 2]), 2, method="xgb")


def test_preview_then_rest_is_the_same_forest():
    rng = np.random.default_rng(6)
    X, y = blobs(3000, rng, shift=1.0)
    whole, _ = train_forest(X, y, 40, random_state=2)
    seen = []
    both, _ = train_forest(X, y, 40, random_state=2, preview=10, on_preview=lambda f, c: seen.append(f.n_trees))
    assert seen == [10]
    for k in Forest.ARRAYS:
        np.testing.assert_allclose(getattr(both, k), getattr(whole, k), rtol=1e-12)
    stopped, _ = train_forest(X, y, 40, random_state=2, preview=10, on_preview=lambda f, c: False)
    assert stopped is None


def test_a_node_looks_past_mtry_features_until_one_splits():
    # one informative feature among 48 constant ones: with sqrt(49) = 7 candidates a split, a rule
    # that stopped after 7 uninformative draws would leave most roots unsplit
    rng = np.random.default_rng(0)
    X = np.zeros((400, 49), np.float32)
    X[:, 17] = rng.random(400)
    y = (X[:, 17] > 0.5).astype(int)
    forest, classes = train_forest(X, y, 30, 0)
    roots = forest.roots
    assert (forest.left[roots] >= 0).all() and (forest.feature[roots] == 17).all()
    assert (classes[forest.predict_proba(X).argmax(1)] == y).all()


@pytest.mark.parametrize("end", ["lowest", "highest"])
def test_a_binned_split_can_cut_off_the_lowest_or_highest_occupied_bin(end):
    # 600 pixels of one class spread over many bins and a few of the other at one end (beyond
    # EXACT_BELOW, so the root splits on bins): the only pure cut is next to the end bin, which a
    # scan of fewer bins than those from the lowest to the highest occupied would miss
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.uniform(10, 20, 600), np.full(30, 0.0 if end == "lowest" else 30.0)]).astype(np.float32)
    y = np.repeat([0, 1], [600, 30])
    forest, classes = train_forest(X[:, None], y, 5, 0)
    roots = forest.roots
    assert (forest.left[roots] >= 0).all()
    assert np.allclose(forest.threshold[roots], 5.0 if end == "lowest" else 25.0, atol=0.5)
    assert (classes[forest.predict_proba(X[:, None]).argmax(1)] == y).all()


def test_exact_splits_of_small_nodes_separate_every_distinct_value():
    # below EXACT_BELOW samples a node tries every distinct value: classes alternating in four
    # runs along one feature need three cuts, each halfway between the runs' neighbouring values
    X = np.repeat(np.array([0.0, 1.0, 2.0, 3.0], np.float32), 8)[:, None]
    y = np.array([0, 1, 0, 1]).repeat(8)
    forest, classes = train_forest(X, y, 10, 0)
    assert (classes[forest.predict_proba(X).argmax(1)] == y).all()
    cuts = np.unique(forest.threshold[forest.left >= 0])
    assert set(np.round(cuts, 3)) <= {0.5, 1.5, 2.5}


def test_exact_splits_treat_negative_and_positive_zero_as_one_value():
    # -0.0 == 0.0: no cut between them (a sort on raw bits would put -0.0 first and cut there, a
    # threshold of 0.0 that sends both left)
    X = np.repeat(np.array([-0.0, 0.0, 1.0, 2.0], np.float32), 6)[:, None]
    y = np.array([0, 1, 0, 1]).repeat(6)
    forest, _ = train_forest(X, y, 20, 0)
    cuts = np.unique(forest.threshold[forest.left >= 0])
    assert cuts.size and set(np.round(cuts, 3)) <= {0.5, 1.5}


def test_binned_thresholds_lie_halfway_between_the_extreme_values_of_their_bins():
    # beyond EXACT_BELOW the root splits on bins; the bins at the cut hold many distinct values
    # (2 000 per class in a unit interval, 255 edges), the largest left one 1.0 and the smallest
    # right one 3.0 (each repeated, so every bootstrap draws them): the threshold is exactly their
    # middle, not a bin edge nor another value of those bins
    rng = np.random.default_rng(3)
    a = np.concatenate([rng.uniform(0.99, 1.0, 2000), np.full(200, 1.0), np.full(200, 3.0),
                        rng.uniform(3.0, 3.01, 2000)]).astype(np.float32)
    y = np.repeat([0, 1], 2200)
    edges, _ = bin_edges(a[:, None])
    assert ((edges[0] > 0.99) & (edges[0] < 1.0)).sum() > 10  # the bins near the cut are narrow but hold several values
    forest, _ = train_forest(a[:, None], y, 10, random_state=0)
    assert (forest.left[forest.roots] >= 0).all()
    np.testing.assert_array_equal(forest.threshold[forest.roots], np.float32(2.0))


def test_probabilities_stay_calibrated_when_background_outnumbers_nuclei(scene):
    # 8x more background than nucleus labels, scored on held-out pixels: Brier score and log loss
    # no worse than scikit-learn's forest on the same features and labels (+ 0.003)
    img, truth = scene
    cls = np.where(truth["classes"] == 1, 1, 2).ravel()
    fs = pc.FeatureSet(sigmas=[1.0, 3.5])
    F = pc.compute_features(img, fs).reshape(cls.size, -1)
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.choice(np.flatnonzero(cls == 1), 300, replace=False),
                            rng.choice(np.flatnonzero(cls == 2), 2400, replace=False)])
    test = np.setdiff1d(np.arange(cls.size), train)
    scores = {}
    for method in ("binned", "sklearn"):
        forest, classes = train_forest(F[train], cls[train], 100, 0, method=method)
        P = forest.predict_proba(F[test])
        truth_1hot = (cls[test][:, None] == classes[None, :]).astype(float)
        brier = ((P - truth_1hot) ** 2).sum(1).mean() / 2
        log_loss = -np.log(np.clip((P * truth_1hot).sum(1), 1e-3, 1)).mean()
        scores[method] = (brier, log_loss)
    assert scores["binned"][0] <= scores["sklearn"][0] + 0.003
    assert scores["binned"][1] <= scores["sklearn"][1] + 0.003


def test_leaves_do_not_inflate_a_class_drawn_above_its_share():
    """A rare class drawn at min_class_share shapes the splits, but leaves count it at its share of the labels."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((6000, 4)).astype(np.float32)  # no signal: leaves hold mixed classes
    y = np.where(rng.random(6000) < 0.04, 2, 1)
    f, classes = train_forest(X, y, 30, random_state=0, min_samples_leaf=300, min_class_share=0.2)
    p_rare = f.predict_proba(X)[:, 1].mean()
    assert abs(p_rare - (y == 2).mean()) < 0.01  # drawn 20 % of the time, predicted at its 4 %


def test_balanced_classes_weigh_alike_as_scikit_learns():
    # 9:1 labels of two overlapping classes: weighed alike, the rare one claims about as much of the overlap
    # as scikit-learn's class_weight="balanced" gives it, and more than it gets weighed by its labels
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (900, 4)), rng.normal(1.0, 1, (100, 4))].astype(np.float32)
    y = np.r_[np.ones(900, np.int64), np.full(100, 2)]
    np.testing.assert_array_equal(balanced_draws(np.bincount(y - 1), 6000), [500, 500])
    np.testing.assert_array_equal(balanced_draws([0, 300, 30], 100), [0, 50, 50])
    T = np.r_[rng.normal(0, 1, (2000, 4)), rng.normal(1.0, 1, (2000, 4))].astype(np.float32)
    share = {}
    for cw in (None, "balanced"):
        for m in ("binned", "sklearn"):
            f, c = train_forest(X, y, 100, 0, method=m, class_weight=cw)
            share[cw, m] = (c[f.predict_proba(T).argmax(1)] == 2).mean()
    assert share["balanced", "binned"] > share[None, "binned"] + 0.05
    assert abs(share["balanced", "binned"] - share["balanced", "sklearn"]) < 0.03
    with pytest.raises(ValueError, match="class_weight"):
        train_forest(X, y, 4, class_weight="auto")


def test_many_labels_grow_trees_from_a_pool_drawn_class_by_class():
    """Beyond `pool` labeled pixels only that many are binned and drawn from: the same forest as trained
    on those rows alone, but with the classes' shares of every label (the pool keeps a rare class whole)."""
    rng = np.random.default_rng(3)
    n = 5000
    y = np.where(rng.random(n) < 0.9, 1, 2)
    y[rng.choice(n, 30, replace=False)] = 3  # a rare class: all 30 pixels stay in the pool
    X = rng.standard_normal((n, 6)).astype(np.float32)
    X[:, 0] += y
    _, yi = np.unique(y, return_inverse=True)
    b = Binned(X, yi, random_state=2, pool=1000)
    rows = class_rows(yi, 1000, 0.1, 2, stream=0x9001)
    assert 1000 <= rows.size <= 1030 and set(np.flatnonzero(y == 3)) <= set(rows.tolist())
    np.testing.assert_array_equal(b.y, yi[rows])
    np.testing.assert_array_equal(b.XT, X[rows].T)
    # draws and leaf weights follow every label: as without a pool
    full = Binned(X, yi, random_state=2, pool=None)
    np.testing.assert_array_equal(b.draws, full.draws)
    np.testing.assert_array_equal(b.leaf_weight, full.leaf_weight)
    f1, _ = train_forest(X, y, 20, random_state=2, pool=1000)
    f2, _ = train_forest(X, y, 20, random_state=2, pool=1000)
    np.testing.assert_array_equal(f1.threshold, f2.threshold)  # deterministic
    f3, _ = train_forest(X, y, 20, random_state=2, pool=None)
    assert not np.array_equal(f1.threshold, f3.threshold)
    for bad in (0, -3, 2.5, "all"):
        with pytest.raises(ValueError, match="pool must be"):
            train_forest(X, y, 5, 2, pool=bad)
    np.testing.assert_array_equal(train_forest(X[:900], y[:900], 5, 2, pool=1000)[0].threshold,
                                  train_forest(X[:900], y[:900], 5, 2, pool=None)[0].threshold)  # below it: the same


def test_class_counts_give_a_sample_the_shares_of_every_label():
    # what a label store beyond its budget hands over: a sample of the big class, the counts of all
    rng = np.random.default_rng(5)
    y = np.where(rng.random(8000) < 0.8, 1, 2)
    X = rng.standard_normal((8000, 4)).astype(np.float32)
    _, yi = np.unique(y, return_inverse=True)
    sub = np.flatnonzero((yi == 1) | (rng.random(8000) < 0.25))  # a quarter of label value 1, all of 2
    full = Binned(X, yi, random_state=1, pool=None)
    b = Binned(X[sub], yi[sub], random_state=1, pool=None, class_counts=np.bincount(yi))
    np.testing.assert_array_equal(b.draws, full.draws)
    np.testing.assert_array_equal(b.leaf_weight, full.leaf_weight)
    assert not np.array_equal(Binned(X[sub], yi[sub], random_state=1, pool=None).draws, full.draws)
    # train_forest takes them per label value; the no-signal probabilities keep the 80 % of every label
    f, _ = train_forest(X[sub], y[sub], 30, 1, class_counts=np.bincount(y), min_samples_leaf=300)
    assert abs(f.predict_proba(X)[:, 0].mean() - (y == 1).mean()) < 0.02
    f, _ = train_forest(X[sub], y[sub], 30, 1, min_samples_leaf=300)
    assert f.predict_proba(X)[:, 0].mean() < 0.6  # the sample's shares: class 1 squeezed
    with pytest.raises(ValueError, match="class_counts .* at least the rows of its class"):
        train_forest(X[sub], y[sub], 5, 1, class_counts=[0, 5, 5])


def test_a_pool_keeps_the_labels_class_shares_in_the_probabilities():
    # no signal, a 5 % class whose pool share is lifted to min_class_share: predicted at its 5 %, not at its
    # share of the pool
    rng = np.random.default_rng(8)
    X = rng.standard_normal((20_000, 4)).astype(np.float32)
    y = np.where(rng.random(20_000) < 0.05, 2, 1)
    f, _ = train_forest(X, y, 30, random_state=0, min_samples_leaf=300, pool=2000, min_class_share=0.3)
    assert abs(f.predict_proba(X)[:, 1].mean() - (y == 2).mean()) < 0.01


def test_keys_make_the_forest_independent_of_the_rows_order():
    """Pixels are drawn by their keys: the same labeled pixels in any order grow the same forest (with a pool
    too); without keys the rows' order is what they are drawn by."""
    rng = np.random.default_rng(8)
    X, y = blobs(3000, rng, shift=0.8)
    keys = rng.choice(10**12, 3000, replace=False)
    perm = rng.permutation(3000)
    T = rng.standard_normal((2000, 12)).astype(np.float32)
    for pool in (None, 1000):
        f1, _ = train_forest(X, y, 30, 2, keys=keys, pool=pool)
        f2, _ = train_forest(X[perm], y[perm], 30, 2, keys=keys[perm], pool=pool)
        np.testing.assert_array_equal(f1.predict_proba(T), f2.predict_proba(T))
    f3, _ = train_forest(X[perm], y[perm], 30, 2)
    assert not np.array_equal(f1.predict_proba(T), f3.predict_proba(T))
    for bad, match in ((np.zeros(3000, np.int64), "distinct"), (keys[:10], "one per labeled pixel"),
                       (keys.astype(float), "integers")):
        with pytest.raises(ValueError, match=match):
            train_forest(X, y, 3, 2, keys=bad)


def test_a_pixels_draws_follow_its_key_and_its_class_rate_alone():
    """A pixel's count in a tree's sample is Poisson at its class's rate, and the same whichever other pixels are
    labeled: removing most of them leaves the counts of the rest as they were."""
    from jupyter_pixclass.forest.bootstrap import key_hashes, keyed_counts
    from jupyter_pixclass.forest.train import poisson_table

    rates = [1.0, 0.25, 4.0, 20.0]
    table = poisson_table(rates)
    n = 80000
    keys = key_hashes(np.arange(n, dtype=np.uint64) * np.uint64(7919) + np.uint64(3), np.uint64(0))
    y = np.arange(n) % 4
    times = np.zeros(n, np.int64)
    assert keyed_counts(np.uint64(12345), keys, y, table, times) == times.sum()
    for k, r in enumerate(rates):
        c = times[y == k]
        assert abs(c.mean() - r) < 0.03 * r + 0.01 and abs(c.var() - r) < 0.06 * r + 0.01  # Poisson: mean = var
        assert abs((c == 0).mean() - np.exp(-r)) < 0.01
    sub = np.sort(np.random.default_rng(0).choice(n, 5000, replace=False))
    t2 = np.zeros(sub.size, np.int64)
    keyed_counts(np.uint64(12345), keys[sub], y[sub], table, t2)
    np.testing.assert_array_equal(t2, times[sub])
    other = np.zeros(n, np.int64)
    keyed_counts(np.uint64(999), keys, y, table, other)  # another tree: counts of their own
    for k in range(4):
        assert abs(np.corrcoef(times[y == k], other[y == k])[0, 1]) < 0.03


def test_a_node_draws_its_candidates_from_its_place_in_the_tree():
    """Labels added in one branch leave the other branches as they were: a node's candidate features follow its
    place in the tree, not how many nodes were grown before it."""
    rng = np.random.default_rng(4)
    n = 1600
    y = rng.choice([1, 2, 3, 4], n)
    right = y >= 3
    # every feature cuts left (classes 1, 2) from right (3, 4) at the root; in the right branch the features
    # take 12 levels each (bins hold one level, whatever else is labeled) and tell 3 from 4 in part
    lev = rng.integers(0, 12, (n, 4)) + np.where(y == 4, 3, 0)[:, None] * rng.integers(0, 2, (n, 4))
    X = np.where(right[:, None], 100.0 + lev, rng.standard_normal((n, 4)) + (y == 2)[:, None])
    keys = np.arange(n) * 2
    f1, _ = train_forest(X.astype(np.float32), y, 40, 1, keys=keys, max_features=1)
    more = rng.standard_normal((300, 4)) + np.r_[np.zeros(150), np.ones(150)][:, None]  # left: classes 1, 2
    X2 = np.r_[X, more].astype(np.float32)
    y2 = np.r_[y, np.full(150, 1), np.full(150, 2)]
    f2, _ = train_forest(X2, y2, 40, 1, keys=np.r_[keys, np.arange(300) * 2 + 1], max_features=1)
    assert f2.left.size != f1.left.size  # the left branches grew
    T = np.r_[X[right], 100.0 + rng.integers(0, 15, (500, 4))].astype(np.float32)
    np.testing.assert_array_equal(f1.predict_proba(T), f2.predict_proba(T))


def test_a_tree_that_draws_nothing_grows_on_every_pixel_once():
    # two labels: a tree's Poisson draws leave both out one time in e**2; it then takes each pixel once
    X = np.array([[0.0], [1.0]], np.float32)
    f, c = train_forest(X, np.array([1, 2]), 200, 0)
    assert np.isfinite(f.value).all() and (f.left.size >= 200)
    np.testing.assert_array_equal(c[f.predict_proba(X).argmax(1)], [1, 2])
