"""The labeled-feature store stays consistent with the labels and never recomputes an image."""
import numpy as np
import pytest

import jupyter_pixclass as pc


def reference(p, fs=None):
    """(X, y) built the slow way: whole-image features, every labeled pixel (sorted by position)."""
    Xs, ys, keys = [], [], []
    for i, img in enumerate(p.images):
        lab = p.labels(i)
        m = lab > 0
        f = np.moveaxis(pc.compute_features(img, fs or p.features), -1, 0).reshape(-1, lab.size)
        pos = np.flatnonzero(m.ravel())
        Xs.append(f[:, pos].T)
        ys.append(lab.ravel()[pos])
        keys.append(np.stack([np.full(pos.size, i), pos], 1))
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(keys)


def same_rows(p, fs=None):
    X, y = p.training_data(fs)
    Xr, yr, _ = reference(p, fs)
    assert X.shape == Xr.shape
    # the store orders rows by tile; compare as sets of (features, label) rows
    a = np.lexsort(np.column_stack([X, y]).T)
    b = np.lexsort(np.column_stack([Xr, yr]).T)
    np.testing.assert_allclose(X[a], Xr[b], rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(y[a], yr[b])


@pytest.fixture
def proj():
    img, truth = pc.datasets.nuclei((140, 150), seed=6)
    p = pc.Project(["Nucleus", "Cytoplasm", "Background"], features=pc.FeatureSet(sigmas=[1.0, 3.5]))
    p.engine.tile = 64
    p.add_image(img)
    p.add_image(pc.datasets.nuclei((90, 100), seed=7)[0])
    return p, truth


def test_store_follows_paint_erase_undo_and_class_removal(proj):
    p, truth = proj
    lab = pc.datasets.scribbles(truth["classes"], n_strokes=4, seed=1)
    p.set_labels(0, lab)
    p.paint(1, np.pad(np.ones((5, 5), bool), ((10, 75), (20, 75))), 2)
    same_rows(p)
    n0 = p.store().computed
    # relabel: no features computed, only the class changes
    p.paint(0, lab == 3, 2)
    same_rows(p)
    assert p.store().computed == n0
    # erase part of it: nothing computed
    p.paint(0, np.pad(np.ones((40, 150), bool), ((0, 100), (0, 0))), 0)
    same_rows(p)
    assert p.store().computed == n0
    # a brush the app's way, then an in-place edit reported with labels_changed: only the
    # pixels that were unlabeled get features
    fresh = int((p.labels(0)[[100, 100, 101], [5, 6, 5]] == 0).sum())
    p.paint_pixels(0, (np.array([100, 100, 101]), np.array([5, 6, 5])), 1)
    same_rows(p)
    with pytest.raises(ValueError, match="class 9 does not exist"):
        p.paint_pixels(0, (np.array([1]), np.array([1])), 9)
    fresh += int((p.labels(1)[50:52, 50:52] == 0).sum())
    p.labels(1)[50:52, 50:52] = 3
    p.labels_changed(1, (slice(50, 52), slice(50, 52)))
    same_rows(p)
    assert p.store().computed == n0 + fresh
    # class removal shifts labels and drops the class's pixels, computing nothing
    p.remove_class("Cytoplasm")
    assert p.labels(0).max() <= 2
    same_rows(p)
    assert p.store().computed == n0 + fresh


def test_store_after_feature_change_and_new_image(proj):
    p, truth = proj
    p.set_labels(0, pc.datasets.scribbles(truth["classes"], n_strokes=3, seed=2))
    same_rows(p)
    p.set_features(pc.FeatureSet(sigmas=[0.7, 1.6], families=["gaussian", "hessian_eigenvalues"]))
    same_rows(p)
    i = p.add_image(pc.datasets.nuclei((70, 80), seed=9)[0])
    p.paint(i, np.eye(70, 80, dtype=bool), 3)
    same_rows(p)
    # a candidate feature set for cross-validation gets its own store; the project's is untouched
    other = pc.FeatureSet(sigmas=[2.0], families=["gaussian"])
    same_rows(p, other)
    assert p.store().fs == p.features


def test_training_order_does_not_depend_on_stroke_order(proj):
    p, truth = proj
    lab = pc.datasets.scribbles(truth["classes"], n_strokes=4, seed=3, mapping={1: 1, 2: 2, 3: 3})
    q = pc.Project(["Nucleus", "Cytoplasm", "Background"], features=p.features)
    q.engine.tile = 64
    q.add_image(p.images[0])
    for k in (1, 2, 3):  # one class at a time, training in between
        p.paint(0, lab == k, k)
        if k > 1:
            p.train()
    q.set_labels(0, lab)  # all at once
    np.testing.assert_array_equal(p.train().predict(0), q.train().predict(0))


def test_small_cache_budget_still_correct():
    img, truth = pc.datasets.nuclei((200, 210), seed=8)
    lab = pc.datasets.scribbles(truth["classes"], n_strokes=6, mapping={1: 1, 2: 2, 3: 2})
    fs = pc.FeatureSet(sigmas=[1.0, 3.5])
    big = pc.Project(features=fs, n_estimators=20)
    small = pc.Project(features=fs, n_estimators=20, cache_bytes=200_000)  # less than one tile
    for p in (big, small):
        p.engine.tile = 64
        p.set_labels(p.add_image(img), lab)
        p.train()
    assert small.engine.cache.nbytes <= 200_000
    np.testing.assert_array_equal(small.predict(0), big.predict(0))
    np.testing.assert_allclose(small.predict(img.data), big.predict(0), atol=1e-6)


def test_lazy_rows_are_the_training_rows_copied_as_taken():
    """`LabeledRows` gives the rows `training_data()` gives, whole or a few, over tiles and images."""
    p = pc.Project(cache_bytes=4 * 2**20)  # a small budget: many tiles
    for seed, shape in ((2, (300, 420)), (4, (160, 160))):
        img, t = pc.datasets.nuclei(shape, seed=seed)
        p.set_labels(p.add_image(img), pc.datasets.scribbles(t["classes"], n_strokes=12, mapping={1: 1, 2: 2, 3: 2}))
    X, y = p.training_data()
    L, y2 = p.training_data(lazy=True)
    assert L.shape == X.shape
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(np.asarray(L), X)
    rows = np.sort(np.random.default_rng(0).choice(len(y), 300, replace=False))
    np.testing.assert_array_equal(L[rows], X[rows])
    np.testing.assert_array_equal(L[rows[::-1]], X[rows[::-1]])
    with pytest.raises(IndexError):
        L[np.array([len(y)])]
    twice = np.array([5, 3, 5, 0, 3])  # a row taken twice is that row each time
    np.testing.assert_array_equal(L[twice], X[twice])
    # feature-major, straight from the tile blocks: what the trainer reads
    np.testing.assert_array_equal(L.feature_major(), X.T)
    for idx in (rows, rows[::-1], twice, slice(10, 200, 7)):
        np.testing.assert_array_equal(L.feature_major(idx), X[idx].T)
    with pytest.raises(IndexError):
        L.feature_major(np.array([-len(y) - 1]))


def test_training_from_lazy_rows_never_builds_the_row_major_array(monkeypatch):
    """Project.train reads the labeled rows feature-major (no (N, F) copy) and grows the same forest."""
    from jupyter_pixclass.engine.label_store import LabeledRows
    from jupyter_pixclass.forest.train import train_forest

    img, t = pc.datasets.nuclei((200, 260), seed=3)
    p = pc.Project(n_estimators=8)
    p.set_labels(p.add_image(img), pc.datasets.scribbles(t["classes"], n_strokes=10, mapping={1: 1, 2: 2, 3: 2}))
    X, y, keys = p.training_data(with_keys=True)
    want = train_forest(X, y, 8, p.random_state, keys=keys).forest

    def whole(self, dtype=None, copy=None):
        raise AssertionError("the (N, F) array was built")

    monkeypatch.setattr(LabeledRows, "__array__", whole)
    got = p.train().forest
    np.testing.assert_array_equal(got.threshold, want.threshold)
    np.testing.assert_array_equal(got.feature, want.feature)


def test_training_beyond_the_pool_copies_only_the_pools_rows(monkeypatch):
    """With more labeled pixels than the label pool, training never builds the whole (N, F) array."""
    from jupyter_pixclass.engine.label_store import LabeledRows
    from jupyter_pixclass.forest.train import LABEL_POOL

    img, t = pc.datasets.nuclei((240, 240), seed=5)
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
    lab = np.where(t["classes"] == 1, 1, 2).astype(np.uint8)  # every pixel labeled: 57 600 > the pool
    p.set_labels(p.add_image(img), lab)
    assert lab.size > LABEL_POOL
    want = p.train().predict(0)

    def whole(self, dtype=None, copy=None):
        raise AssertionError("every labeled row copied")

    monkeypatch.setattr(LabeledRows, "__array__", whole)
    p.forest = None
    np.testing.assert_array_equal(p.train().predict(0), want)  # the same forest from the pool's rows alone


def test_a_full_store_keeps_a_sample_of_each_class_whatever_the_order(proj):
    # a ground-truth mask set as labels: every pixel's features were held (2.5 GB for a 2048^2 image)
    p, truth = proj
    full = truth["classes"].astype(np.uint8)  # every pixel of image 0, three classes
    st = p.store()
    F = p.features.n_features_for(2, 2)
    rows = 6000
    st.max_bytes = rows * (4 * F + 8)
    p.set_labels(0, full)
    X, y = p.training_data()
    counts = np.bincount(full.ravel(), minlength=256)
    assert st.n_labeled() == full.size and st.class_counts.tolist() == counts.tolist()
    assert len(y) == st.n_kept() <= rows * 1.1  # within the budget (a hash sample: about)
    kept = np.bincount(y, minlength=4)
    for k in (1, 2, 3):  # a class within its share keeps every pixel, a larger one a sample of about its share
        assert kept[k] == counts[k] if counts[k] <= rows // 3 else rows // 6 <= kept[k] <= rows // 3 * 1.1
    # the sample's features are those of its pixels
    f = np.moveaxis(pc.compute_features(p.images[0], p.features), -1, 0).reshape(F, -1)
    pos = {tuple(np.round(r, 3)) for r in f.T}
    assert all(tuple(np.round(r, 3)) in pos for r in X[:200])
    # the same labels painted another way (class by class, backwards, with an erase) keep the same sample
    q = pc.Project(p.classes, features=p.features)
    q.engine.tile = 48
    q.add_image(p.images[0])
    q.add_image(p.images[1])
    q.store().max_bytes = st.max_bytes
    for k in (3, 2, 1):
        q.paint(0, full == k, k)
        q.store()  # in step after each class: samples taken and dropped on the way
    q.paint(0, np.ones(full.shape, bool), 0)
    q.set_labels(0, full)
    X2, y2 = q.training_data()
    a, b = np.lexsort(np.column_stack([X, y]).T), np.lexsort(np.column_stack([X2, y2]).T)
    np.testing.assert_allclose(X[a], X2[b], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(y[a], y2[b])
    np.testing.assert_array_equal(p.train().predict(1), q.train().predict(1))
    # back within the budget: every labeled pixel again
    p.set_labels(0, pc.datasets.scribbles(truth["classes"], n_strokes=4, seed=1))
    same_rows(p)
    assert st.class_counts is None and st.n_kept() == st.n_labeled()


def test_a_labeled_pixels_key_is_its_image_and_its_place_there():
    """What the trainer draws a pixel by: its image's place << KEY_SHIFT plus its flat index, the same whatever
    else is labeled or in what order the strokes came."""
    from jupyter_pixclass.engine.label_store import KEY_SHIFT

    img, t = pc.datasets.nuclei((120, 150), seed=2)
    p = pc.Project()
    a, b = p.add_image(img), p.add_image(img)
    lab = pc.datasets.scribbles(t["classes"], n_strokes=3, mapping={1: 1, 2: 2, 3: 2})
    p.set_labels(b, lab)
    _, y, keys = p.training_data(with_keys=True)
    np.testing.assert_array_equal(keys, np.flatnonzero(lab) + (1 << KEY_SHIFT))
    np.testing.assert_array_equal(y, lab.ravel()[np.flatnonzero(lab)])
    p.set_labels(a, lab)
    X, y, groups, keys2 = p.training_data(with_groups=True, with_keys=True)
    np.testing.assert_array_equal(keys2, np.r_[np.flatnonzero(lab), np.flatnonzero(lab) + (1 << KEY_SHIFT)])
    assert len(X) == len(y) == len(groups) == len(keys2)
