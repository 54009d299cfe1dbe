import json
import warnings

import h5py
import numpy as np
import pytest
import tifffile
from skimage.filters import threshold_otsu

import jupyter_pixclass as pc
from jupyter_pixclass.forest import bitvectors, score
from jupyter_pixclass.forest import Forest, train_forest


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_classes_add_rename_remove(scene):
    img, truth = scene
    p = pc.Project(["Nucleus", "Background"])
    assert p.add_class("Cytoplasm", "green") == 3
    assert p.colors[2] == "#008000"
    p.rename_class("Background", "BG")
    assert p.classes == ["Nucleus", "BG", "Cytoplasm"]
    with pytest.raises(ValueError, match="exists already"):
        p.rename_class("BG", "Nucleus")
    with pytest.raises(ValueError, match="no class named 'Nope'"):
        p.rename_class("Nope", "x")
    i = p.add_image(img)
    lab = np.zeros(img.shape_spatial, np.uint8)
    lab[:5], lab[5:10], lab[10:15] = 1, 2, 3
    p.set_labels(i, lab)
    p.train()
    p.remove_class("BG")
    assert p.forest is None  # must retrain
    assert p.classes == ["Nucleus", "Cytoplasm"]
    assert set(np.unique(p.labels(i)[5:10])) == {0} and set(np.unique(p.labels(i)[10:15])) == {2}


def test_every_class_gets_its_own_colour():
    # the palette has nine colours: the tenth class was drawn in the first one's red
    p = pc.Project(classes=[f"cell type {i}" for i in range(24)])
    from jupyter_pixclass.project.classes import PALETTE

    assert len(set(p.colors)) == 24 and p.colors[:9] == PALETTE
    p.remove_class("cell type 3")  # its colour is free again, and the next class takes it
    p.add_class("new")
    assert p.colors[-1] == PALETTE[3] and len(set(p.colors)) == 24


def test_classes_as_one_string_are_refused():
    # a string is iterable: "AB" used to make the classes "A" and "B"
    with pytest.raises(TypeError, match="not one string.*'Nucleus'"):
        pc.Project("Nucleus")
    assert pc.Project(("A", "B")).classes == ["A", "B"]  # any sequence of names, generators too
    with pytest.raises(ValueError, match="a class name is at most 255 characters; got 256"):
        pc.Project(["A", "x" * 256])
    assert pc.Project(c for c in ["A", "B"]).classes == ["A", "B"]


def test_label_errors(scene):
    img, _ = scene
    p = pc.Project()
    i = p.add_image(img)
    with pytest.raises(ValueError, match=r"labels of shape \(3, 3\) do not fit image 0 of spatial shape \(160, 160\)"):
        p.set_labels(i, np.zeros((3, 3)))
    bad = np.zeros(img.shape_spatial, np.uint8)
    bad[0, 0] = 7
    with pytest.raises(ValueError, match=r"values 0..7, but only 0..2 exist"):
        p.set_labels(i, bad)
    # a float label image (read from a TIFF): whole numbers are labels, NaN and fractions are refused, not cast
    p.set_labels(i, (bad > 0).astype(np.float32) * 2)
    assert p.labels(i)[0, 0] == 2 and p.labels(i).sum() == 2
    for odd in (np.nan, 1.5):
        with pytest.raises(ValueError, match="not whole numbers"):
            p.set_labels(i, np.where(bad > 0, odd, 0.0))
    with pytest.raises(ValueError, match="should be numbers .* got dtype <U1"):
        p.set_labels(i, np.full(img.shape_spatial, "1"))
    assert p.labels(i).sum() == 2  # nothing refused was kept
    p.set_labels(i, np.zeros(img.shape_spatial, np.uint8))
    with pytest.raises(ValueError, match="class 5 does not exist"):
        p.paint(i, bad > 0, 5)
    with pytest.raises(ValueError, match="class 1.5 is neither"):  # painted as class 1 before
        p.paint(i, bad > 0, 1.5)
    p.paint(i, bad > 0, "Background")  # a name ("invalid literal for int()" before)
    assert p.labels(i)[0, 0] == 2
    p.paint(i, bad > 0, 0)
    with pytest.raises(ValueError, match="no labels yet"):
        p.train()
    p.paint(i, bad > 0, 1)
    with pytest.raises(ValueError, match="only class 'Nucleus' is labeled"):
        p.train()
    with pytest.raises(ValueError, match="not trained"):
        p.predict(i)
    with pytest.raises(ValueError, match="has 3 channels but the project's images have 2"):
        p.add_image(np.zeros((10, 10, 3)))


def test_predict_segment_uncertainty(trained, scene):
    img, truth = scene
    prob = trained.predict(0)
    assert prob.shape == (160, 160, 2) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(-1), 1, atol=1e-5)
    seg = trained.segment(img)
    assert seg.dtype == np.uint8 and set(np.unique(seg)) <= {1, 2}
    unc = trained.uncertainty(img.data)
    np.testing.assert_allclose(unc, 1 - np.abs(prob[..., 0] - prob[..., 1]), atol=1e-5)
    assert 0 <= unc.min() and unc.max() <= 1
    assert iou(seg == 1, truth["classes"] == 1) > 0.7
    with pytest.raises(ValueError, match="has 3 channels but the classifier was trained on 2"):
        trained.predict(np.zeros((20, 20, 3), np.float32))


def test_2d_classifier_on_volume_says_how(trained):
    vol = pc.Image(np.zeros((4, 32, 32, 2), np.uint16), axes="ZYXC", name="vol")
    with pytest.raises(ValueError, match=r"trained on 2D features, but image 'vol' of spatial shape \(4, 32, 32\) "
                                         r"gives 3D features; train with FeatureSet\(mode='2d'\)"):
        trained.predict(vol)


def test_deterministic(scene):
    img, truth = scene
    probs = []
    for _ in range(2):
        p = pc.Project(features=pc.FeatureSet(sigmas=[1.0, 3.5]), n_estimators=20, random_state=7)
        i = p.add_image(img)
        p.set_labels(i, pc.datasets.scribbles(truth["classes"], mapping={1: 1, 2: 2, 3: 2}))
        probs.append(p.train().predict(i))
    np.testing.assert_array_equal(probs[0], probs[1])


@pytest.mark.parametrize("max_leaves,word32", [(0, 32), (50, 32), (64, 32), (64, 20), (50, 0)])
def test_forest_matches_sklearn(max_leaves, word32, monkeypatch):
    """Every way of scoring a tree (32-bit and 64-bit bitvectors, walking) gives scikit-learn's answer."""
    from sklearn.ensemble import RandomForestClassifier

    monkeypatch.setattr(bitvectors, "QS_MAX_LEAVES", max_leaves)
    monkeypatch.setattr(bitvectors, "WORD32_MAX_LEAVES", word32)
    monkeypatch.setattr(bitvectors, "WIDE_MAX_LEAVES", max_leaves)  # no tree in several words: walked
    rng = np.random.default_rng(0)
    X = rng.random((600, 7)).astype(np.float32)
    y = (X[:, 0] + X[:, 3] > 1).astype(int) + 2 * (X[:, 5] > 0.7)
    rf = RandomForestClassifier(15, random_state=0).fit(X, y)
    f = Forest.from_sklearn(rf)
    leaves = [int((e.tree_.children_left < 0).sum()) for e in rf.estimators_]
    if max_leaves:  # both kinds of tree in one forest: scored as bitvectors, and walked
        assert min(leaves) <= max_leaves < max(leaves)
    Xt = rng.random((2000, 7)).astype(np.float32)
    Xt[:600] = X  # values equal to split candidates: thresholds must round correctly
    np.testing.assert_allclose(f.predict_proba(Xt), rf.predict_proba(Xt), atol=1e-6)
    idx = rng.permutation(2000)[:700]  # a subset of pixels, as the widget's viewport asks
    np.testing.assert_array_equal(f.predict_proba_fm(np.ascontiguousarray(Xt.T), idx), f.predict_proba(Xt)[idx])
    # pixels kept in blocks (what a zoomed-out view keeps), scored where they lie: the same, bit for bit
    np.testing.assert_array_equal(f.predict_proba_fm(score.take_blocks(np.ascontiguousarray(Xt.T), idx)),
                                  f.predict_proba(Xt)[idx])
    g = Forest.from_arrays(f.to_arrays(), f.n_features)
    np.testing.assert_array_equal(g.predict_proba(Xt), f.predict_proba(Xt))


@pytest.mark.parametrize("word", [np.uint32, np.uint64])
@pytest.mark.parametrize("max_leaves,word32,wide", [(0, 0, 256), (64, 32, 150), (16, 8, 256), (64, 32, 64)])
def test_trees_in_several_words_score_as_scikit_learn(max_leaves, word32, wide, word, monkeypatch):
    """Trees of up to 256 leaves in several 32- or 64-bit words, beside one-word and walked trees: scikit-learn's
    answer."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(2)
    X = rng.random((3000, 6)).astype(np.float32)
    y = ((X[:, 0] + 0.5 * rng.random(3000)) > 0.75).astype(int) + (X[:, 4] > 0.8)  # noisy: deep trees
    # trees of two, three, four words and larger (walked): forests of 4 trees each, one forest of them all
    rfs = [RandomForestClassifier(4, max_leaf_nodes=n, random_state=i).fit(X, y)
           for i, n in enumerate((100, 180, 250, None))]
    leaves = [int((e.tree_.children_left < 0).sum()) for rf in rfs for e in rf.estimators_]
    assert 64 < min(leaves) and max(leaves[:8]) <= 192 and max(leaves) > 256
    f = Forest.concat([Forest.from_sklearn(rf) for rf in rfs])
    monkeypatch.setattr(bitvectors, "QS_MAX_LEAVES", max_leaves)
    monkeypatch.setattr(bitvectors, "WORD32_MAX_LEAVES", word32)
    monkeypatch.setattr(bitvectors, "WIDE_MAX_LEAVES", wide)
    monkeypatch.setattr(bitvectors, "WIDE_WORD", word)
    w32, w64, several, big, used, feat_u = bitvectors.score_tables(f)
    assert several[3].dtype == word
    assert several[4].size == sum(max_leaves < n <= wide for n in leaves) and big.size == sum(n > wide for n in leaves)
    Xt = rng.random((1500, 6)).astype(np.float32)
    Xt[:500] = X[:500]  # values equal to split candidates
    np.testing.assert_allclose(f.predict_proba(Xt), np.mean([rf.predict_proba(Xt) for rf in rfs], 0), atol=1e-6)
    idx = rng.permutation(1500)[:600]
    np.testing.assert_array_equal(f.predict_proba_fm(score.take_blocks(np.ascontiguousarray(Xt.T), idx)),
                                  f.predict_proba(Xt)[idx])


@pytest.mark.parametrize("group", [1, 2, 3, 4])
def test_chunks_gathered_in_groups_score_every_pixel_alike(group, monkeypatch):
    """Pixels scored in groups of chunks (features gathered a group at a time, a short last chunk
    padded with zeros) get the probabilities of scoring them one by one, with or without ``idx``."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(1)
    X = rng.random((800, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 2] > 1).astype(int)
    rf = RandomForestClassifier(10, random_state=0).fit(X, y)
    f = Forest.from_sklearn(rf)
    Xt = rng.random((3 * score.BLOCK * group + 37, 5)).astype(np.float32)  # groups and chunks left short
    # one chunk at a time (no group to gather), bit for bit; scikit-learn's to rounding
    want = np.concatenate([f.predict_proba(Xt[i:i + score.BLOCK]) for i in range(0, Xt.shape[0], score.BLOCK)])
    np.testing.assert_allclose(want, rf.predict_proba(Xt), atol=1e-6)
    monkeypatch.setattr(score, "_group", lambda n_features, n_chunks: group)
    for n in (1, score.BLOCK - 1, score.BLOCK + 1, Xt.shape[0]):
        np.testing.assert_array_equal(f.predict_proba_fm(np.ascontiguousarray(Xt[:n].T)), want[:n])
    idx = rng.permutation(Xt.shape[0])[:score.BLOCK * group + 5]
    np.testing.assert_array_equal(f.predict_proba_fm(np.ascontiguousarray(Xt.T), idx), want[idx])


def test_corrupt_forest_arrays_are_refused():
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = rng.random((300, 4)).astype(np.float32)
    f = Forest.from_sklearn(RandomForestClassifier(3, random_state=0).fit(X, X[:, 0] > 0.5))
    for name, change in [
        ("left", lambda a: np.where(a >= 0, a + 10**6, a)),  # outside the forest
        ("right", lambda a: np.where(a > 0, 0, a)),  # back to a root: a cycle
        ("roots", lambda a: a[::-1]),
    ]:
        arrays = f.to_arrays()
        arrays[name] = change(arrays[name].copy())
        with pytest.raises(ValueError, match="corrupt"):
            Forest.from_arrays(arrays, f.n_features)


def test_feature_importance_and_cross_validate(trained):
    imp = trained.feature_importance()
    assert len(imp) == trained.features.n_features(2, 2)
    assert abs(sum(imp.values()) - 1) < 1e-6
    assert list(imp.values()) == sorted(imp.values(), reverse=True)
    before = (trained.features, trained.forest)
    cand = pc.FeatureSet(sigmas=[1.0], families=["gaussian"])
    r = trained.cross_validate(cand, folds=3)
    assert (trained.features, trained.forest) == before  # project unchanged
    assert 0 <= r["accuracy"] <= 1 and len(r["scores"]) == 3 and r["n_features"] == 2
    rich = trained.cross_validate(folds=3)
    assert rich["accuracy"] > 0.8


def test_export_sources_dtypes(trained, tmp_path):
    prob = trained.predict(0)
    p = trained.export(0, tmp_path / "p.tif", dtype="uint16", renormalize=True)
    back = pc.load_image(p)
    assert back.data.dtype == np.uint16 and back.axes == "YXC" and back.n_channels == 2
    np.testing.assert_array_equal(back.data, np.rint(prob.astype(np.float64) * 65535).astype(np.uint16))
    with tifffile.TiffFile(p) as tf:  # ImageJ hyperstack with the channel axis recorded
        assert tf.is_imagej and tf.series[0].axes == "CYX"
    h = trained.export(0, tmp_path / "p.h5")
    with h5py.File(h) as f:
        np.testing.assert_array_equal(f["exported_data"][...], prob)
        assert "axistags" in f["exported_data"].attrs
    m = trained.export(0, tmp_path / "m.npy", source="mask", class_name="Nucleus")
    mask = np.load(m)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    np.testing.assert_array_equal(mask == 255, trained.segment(0) == 1)
    s = trained.export(0, tmp_path / "s.npy", source="simple_segmentation", axes="XY")
    np.testing.assert_array_equal(np.load(s), trained.segment(0).T)
    with warnings.catch_warnings():  # classes as uint16, as steinbock's tools read them: no overflow warning
        warnings.simplefilter("error")
        s16 = np.load(trained.export(0, tmp_path / "s16.npy", source="simple_segmentation", dtype="uint16",
                                     renormalize=True))
    assert s16.dtype == np.uint16
    np.testing.assert_array_equal(s16, trained.segment(0))
    u = np.load(trained.export(0, tmp_path / "u.npy", source="uncertainty", dtype="uint8", renormalize=True))
    assert u.dtype == np.uint8
    # without renormalize, probabilities as integers are 0 and 1 only: said, where the call was made
    with pytest.warns(UserWarning, match=r"probabilities lie in \[0, 1\]: as uint8 without renormalize=True they "
                      r"round to 0 and 1.*0\.\.255") as w:
        r = np.load(trained.export(0, tmp_path / "r.npy", dtype="uint8"))
    assert set(np.unique(r)) <= {0, 1} and w[0].filename == __file__
    lab = np.load(trained.export(0, tmp_path / "l.npy", source="labels"))
    np.testing.assert_array_equal(lab, trained.labels(0))
    f = np.load(trained.export(0, tmp_path / "f.npy", source="features", axes="CYX"))
    assert f.shape[0] == trained.features.n_features(2, 2)


def test_results_larger_than_memory_go_to_hdf5_and_zarr_block_by_block(trained, scene, tmp_path, monkeypatch):
    # the size error of a whole image's features says "export to .zarr or .h5", but those held them whole too
    import jupyter_pixclass.outputs.export as export

    monkeypatch.setattr(export, "result_fits", lambda shape, dtype: False)  # as a 2048² image's 1.5 GiB would
    img, _ = scene
    fresh = pc.Project(features=trained.features)  # features need no forest
    fresh.add_image(img)
    for p in (trained, fresh):
        monkeypatch.setattr(p, "features_of", lambda *a, **k: pytest.fail("the whole image's features were made"))
    want = pc.compute_features(img, trained.features)
    for p, name in ((trained, "t"), (fresh, "f")):
        for suffix in (".h5", ".zarr"):
            out = p.export(0, tmp_path / f"{name}{suffix}", source="features")
            back = pc.load_image(out)
            assert back.shape == want.shape
            np.testing.assert_allclose(back.data, want, atol=1e-5)
    prob = pc.load_image(trained.export(0, tmp_path / "prob.h5"))
    np.testing.assert_allclose(prob.data, trained.predict(0), atol=1e-6)
    assert prob.channel_names == trained.classes
    # features are noise to gzip (95 % of their size, 10x the time): written plain; probabilities gzipped
    with h5py.File(tmp_path / "t.h5") as f, h5py.File(tmp_path / "prob.h5") as g:
        assert f["exported_data"].compression is None and g["exported_data"].compression == "gzip"


def test_features_exported_whole_are_neither_copied_nor_gzipped(trained, tmp_path, monkeypatch):
    # a whole image's features were copied once more to be "converted" to the float32 they were, and gzipped at
    # ~37 MB/s for 5 % less: a 2048² image's took 46 s and twice its 1.5 GiB
    import jupyter_pixclass.outputs.export as export

    feats = trained.features_of(0)
    monkeypatch.setattr(trained, "features_of", lambda *a, **k: feats)
    written = []
    real = export.write_array
    monkeypatch.setattr(export, "write_array", lambda path, data, *a, **k: written.append(data) or real(path, data, *a, **k))
    out = trained.export(0, tmp_path / "f.h5", source="features")
    assert np.shares_memory(written[0], feats)
    with h5py.File(out) as f:
        assert f["exported_data"].compression is None
        np.testing.assert_array_equal(f["exported_data"][...], feats)
    with h5py.File(trained.export(0, tmp_path / "u.h5", source="uncertainty")) as f:
        assert f["exported_data"].compression == "gzip"


def test_an_export_named_ome_tif_is_an_ome_tiff(trained, tmp_path):
    # it was an ImageJ TIFF under an OME name: QuPath and Bio-Formats found no OME-XML, no channel names
    img = trained.images[0]
    p = pc.Project(trained.classes, features=trained.features, n_estimators=10)
    p.set_labels(p.add_image(pc.Image(img.data, axes="YXC", spacing=(0.65, 0.65))), trained.labels(0))
    out = p.train().export(0, tmp_path / "prob.ome.tif", dtype="uint16", renormalize=True)
    with tifffile.TiffFile(out) as tf:
        assert tf.is_ome and tf.series[0].axes == "CYX"
        xml = tf.ome_metadata
    assert 'Name="Nucleus"' in xml and 'Name="Background"' in xml and 'PhysicalSizeX="0.65"' in xml
    back = pc.load_image(out)
    assert back.channel_names == ["Nucleus", "Background"] and back.spacing == (0.65, 0.65)
    np.testing.assert_array_equal(back.data, np.rint(p.predict(0).astype(np.float64) * 65535).astype(np.uint16))


def test_export_errors_leave_nothing(trained, tmp_path):
    with pytest.raises(ValueError, match="unknown export source 'probs'"):
        trained.export(0, tmp_path / "a.tif", source="probs")
    with pytest.raises(ValueError, match="unknown export dtype 'int64'"):
        trained.export(0, tmp_path / "a.tif", dtype="int64")
    with pytest.raises(FileNotFoundError, match="folder .*missing.* does not exist"):
        trained.export(0, tmp_path / "missing" / "a.tif")
    with pytest.raises(ValueError, match="axes 'CZYX' must be a reordering"):
        trained.export(0, tmp_path / "a.tif", axes="CZYX")
    assert list(tmp_path.iterdir()) == []


def test_save_load_roundtrip(trained, tmp_path):
    path = trained.save(tmp_path / "proj.h5")
    q = pc.Project.load(path)
    assert q.classes == trained.classes and q.colors == trained.colors and q.features == trained.features
    np.testing.assert_array_equal(q.labels(0), trained.labels(0))
    np.testing.assert_array_equal(q.predict(0), trained.predict(0))
    assert q.feature_importance() == trained.feature_importance()


def test_class_weight_trains_saves_and_loads(tmp_path, scene):
    img, truth = scene
    lab = pc.datasets.scribbles(truth["classes"], n_strokes=8, mapping={1: 1, 2: 2, 3: 2})
    lab[(lab == 1) & (np.arange(lab.size).reshape(lab.shape) % 4 > 0)] = 0  # few nucleus labels: 1 in 4
    probs = {}
    for cw in (None, "balanced"):
        p = pc.Project(features=pc.FeatureSet(sigmas=[1.0, 3.5]), n_estimators=20, class_weight=cw)
        p.set_labels(p.add_image(img), lab)
        probs[cw] = p.train().predict(0)
        q = pc.Project.load(p.save(tmp_path / f"{cw}.h5"))
        assert q.class_weight == cw
        np.testing.assert_array_equal(q.train().predict(0), probs[cw])
    # the setting reaches the trainer: the forest is train_forest's with it, on the same labels and keys
    X, y, keys = p.training_data(with_keys=True)
    f, classes = train_forest(X, y, 20, p.random_state, class_weight="balanced", keys=keys)
    fm = p.features_of(img).reshape(-1, X.shape[1]).T
    np.testing.assert_array_equal(f.predict_proba_fm(np.ascontiguousarray(fm)).reshape(probs[None].shape),
                                  probs["balanced"])
    assert not np.array_equal(probs["balanced"], probs[None])
    with pytest.raises(ValueError, match="class_weight"):
        pc.Project(class_weight="balanced_subsample")
    with pytest.raises(ValueError, match="class_weight"):  # set by hand after construction: refused at once
        p.class_weight = "balanced_subsample"
    assert p.class_weight == "balanced"


def test_changing_a_training_setting_drops_the_forest(scene, tmp_path):
    # the forest was grown by the old setting: kept, predict and save would pair it with the new one
    img, truth = scene
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    p.set_labels(p.add_image(img), pc.datasets.scribbles(truth["classes"], mapping={1: 1, 2: 2, 3: 2}))
    for name, same, other in (("random_state", 0, 7), ("n_estimators", 10, 12), ("class_weight", None, "balanced")):
        p.train()
        v = p.version
        setattr(p, name, same)  # the value it has: the forest stays
        assert p.forest is not None and p.version == v
        setattr(p, name, other)
        assert p.forest is None and p.version > v, name
        with pytest.raises(ValueError, match="train"):
            p.predict(0)
    p.train()
    assert p.forest.n_trees == 12
    q = pc.Project.load(p.save(tmp_path / "p.h5"))
    assert (q.random_state, q.n_estimators, q.class_weight) == (7, 12, "balanced")
    np.testing.assert_array_equal(q.predict(0), p.predict(0))
    for name, bad in (("random_state", -1), ("random_state", 2**63), ("random_state", 1.5), ("n_estimators", 0),
                      ("n_estimators", 10_001), ("n_estimators", "100"), ("n_estimators", True)):
        with pytest.raises(ValueError, match=name):
            setattr(p, name, bad)
        with pytest.raises(ValueError, match=name):
            pc.Project(**{name: bad})
    assert p.forest is not None  # refused values change nothing


def test_save_paths_mode(tmp_path, scene):
    img, truth = scene
    src = tmp_path / "img.tif"
    tifffile.imwrite(src, np.moveaxis(img.data, -1, 0), imagej=True, metadata={"axes": "CYX"})
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
    i = p.add_image(str(src))
    p.set_labels(i, pc.datasets.scribbles(truth["classes"], mapping={1: 1, 2: 2, 3: 2}))
    p.train()
    p.save(tmp_path / "p.h5", images="paths")
    with h5py.File(tmp_path / "p.h5") as f:
        assert "data" not in f["images/0"]
    np.testing.assert_array_equal(pc.Project.load(tmp_path / "p.h5").predict(0), p.predict(0))


def test_images_kept_as_paths_are_found_after_the_project_moves(tmp_path, scene, monkeypatch):
    img, truth = scene
    (tmp_path / "work" / "data").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    tifffile.imwrite(tmp_path / "work" / "data" / "a.tif", np.moveaxis(img.data, -1, 0), imagej=True,
                     metadata={"axes": "CYX"})
    with h5py.File(tmp_path / "work" / "data" / "b.h5", "w") as f:
        f["raw/data"] = img.data
    monkeypatch.chdir(tmp_path / "work")  # added by relative paths, as a notebook in that folder does
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
    p.add_image("data/a.tif")
    p.add_image("data/b.h5/raw/data", lazy=True)  # a lazy image is always kept as its path
    p.set_labels(0, pc.datasets.scribbles(truth["classes"], mapping={1: 1, 2: 2, 3: 2}))
    p.set_labels(1, p.labels(0))
    p.train().save("p.h5", images="paths")
    expected = p.predict(1)

    monkeypatch.chdir(tmp_path / "elsewhere")  # another notebook's folder: the relative paths mean nothing here
    q = pc.Project.load(tmp_path / "work" / "p.h5")
    assert q.images[0].path == str(tmp_path / "work" / "data" / "a.tif")
    np.testing.assert_array_equal(q.labels(1), p.labels(1))

    (tmp_path / "work").rename(tmp_path / "moved")  # the project moved with its data folder
    q = pc.Project.load(tmp_path / "moved" / "p.h5")
    assert q.images[1].path == str(tmp_path / "moved" / "data" / "b.h5") + "/raw/data" and q.images[1].lazy
    np.testing.assert_array_equal(q.predict(1), expected)

    (tmp_path / "moved" / "data").rename(tmp_path / "elsewhere" / "files")  # the data moved alone
    with pytest.raises(FileNotFoundError, match=r"p.h5.*2 image\(s\).*image_root") as e:
        pc.Project.load(tmp_path / "moved" / "p.h5")
    assert "images/0 'a'" in str(e.value) and "images/1" in str(e.value) and "looked for" in str(e.value)
    q = pc.Project.load(tmp_path / "moved" / "p.h5", image_root=tmp_path / "elsewhere" / "files")
    np.testing.assert_array_equal(q.predict(1), expected)
    from jupyter_pixclass.cli import main

    np.save(tmp_path / "new.npy", img.data)
    args = ["batch", str(tmp_path / "moved" / "p.h5"), str(tmp_path / "new.npy"), "-o", str(tmp_path / "o"),
            "--no-progress", "--format", "npy"]
    assert main(args) == 2  # the error says where the project's images were looked for
    assert main(args + ["--image-root", str(tmp_path / "elsewhere" / "files")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "o" / "new_probabilities.npy"), expected)


def test_a_relative_path_saved_by_an_older_version_still_loads(tmp_path, scene, monkeypatch):
    img, _ = scene
    monkeypatch.chdir(tmp_path)
    np.save("a.npy", img.data)
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]))
    p.add_image("a.npy")
    p.save("p.h5", images="paths")
    with h5py.File("p.h5", "r+") as f:  # as written before: the path as given, nothing relative to the project
        meta = json.loads(f["images/0"].attrs["meta"])
        meta.pop("relpath")
        f["images/0"].attrs["meta"] = json.dumps(dict(meta, path="a.npy"))
    assert pc.Project.load("p.h5").images[0].path == "a.npy"


def test_images_kept_as_paths_are_read_back_as_they_were_read(tmp_path, scene, monkeypatch):
    img, truth = scene
    monkeypatch.chdir(tmp_path)
    movie = np.stack([np.moveaxis(img.data, -1, 0) * (t + 1) for t in range(3)])  # T C Y X
    tifffile.imwrite("movie.tif", movie, imagej=True, metadata={"axes": "TCYX"})
    np.save("vol.npy", np.stack([img.data[..., 1]] * 3))  # a volume without axes in the file: Z, not C
    with h5py.File("two.h5", "w") as f:  # a file with two datasets: the path must name one
        f["raw/data"] = img.data
        f["other"] = np.ones((5, 5), np.uint8)
    for lazy in (False, True):
        p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
        assert p.add_image("movie.tif", lazy=lazy) == [0, 1, 2]
        p.add_image("two.h5/raw/data", lazy=lazy)
        p.add_image(pc.load_image("two.h5", dataset="raw/data"))
        p.paint(1, truth["classes"] == 1, 1)
        p.paint(3, truth["classes"] == 3, 2)
        p.save(f"p{lazy}.h5", images="paths")
        q = pc.Project.load(f"p{lazy}.h5")
        assert [im.series for im in q.images[:3]] == [("movie", t, 3) for t in range(3)]
        assert [im.lazy for im in q.images[:4]] == [lazy] * 4
        for a, b in zip(p.images, q.images):
            np.testing.assert_array_equal(np.asarray(a.data[...]), np.asarray(b.data[...]))
        np.testing.assert_array_equal(np.asarray(q.labels(1)[...]), truth["classes"] == 1)
        assert q.images[3].path.endswith("two.h5/raw/data") and q.images[4].path.endswith("two.h5/raw/data")
    v = pc.Project(features=pc.FeatureSet(sigmas=[1.0]))
    v.add_image("vol.npy", axes="ZYX")
    v.save("v.h5", images="paths")
    assert pc.Project.load("v.h5").images[0].shape_spatial == (3,) + img.shape_spatial
    # pixels made from a file are not that file: kept inline, whatever "paths" says
    m = pc.Project(features=pc.FeatureSet(sigmas=[1.0]))
    m.add_image(pc.preprocess.add_mean_channel(pc.load_image("two.h5/raw/data")))
    m.save("m.h5", images="paths")
    with h5py.File("m.h5") as f:
        assert "data" in f["images/0"]
    assert pc.Project.load("m.h5").images[0].n_channels == 3


def test_2d_images_and_volumes_mix_only_when_volumes_are_filtered_plane_by_plane():
    a2, t2 = pc.datasets.nuclei((96, 96), seed=1)
    a3, t3 = pc.datasets.nuclei((8, 96, 96), seed=2)
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
    p.add_image(a2)
    with pytest.raises(ValueError, match="'nuclei_seed2' is a volume filtered in 3D.*mode='2d'"):
        p.add_image(a3)  # it used to be added, and training failed on features of two sizes
    assert len(p.images) == 1
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0], mode="2d"), n_estimators=5)
    p.add_image(a2)
    p.add_image(a3)
    p.set_labels(0, pc.datasets.scribbles(t2["classes"], mapping={1: 1, 2: 2, 3: 2}))
    p.set_labels(1, pc.datasets.scribbles(t3["classes"], mapping={1: 1, 2: 2, 3: 2}))
    assert p.train().predict(1).shape == (8, 96, 96, 2) and p.predict(0).shape == (96, 96, 2)
    with pytest.raises(ValueError, match="one forest cannot learn from both"):
        p.features = pc.FeatureSet(sigmas=[1.0])
    assert p.features.mode == "2d" and p.forest is not None  # a refused feature set changes nothing


def test_a_whole_result_larger_than_memory_is_refused_before_it_is_allocated(tmp_path, scene, monkeypatch):
    img, truth = scene
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", "2GiB")  # as on Binder
    with h5py.File(tmp_path / "huge.h5", "w") as f:  # 40 000^2 x 2 declared, nothing written: 6 GB of probabilities
        f.create_dataset("data", shape=(40000, 40000, 2), dtype=np.uint16, chunks=(256, 256, 2))
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
    p.add_image(img)
    p.set_labels(0, pc.datasets.scribbles(truth["classes"], mapping={1: 1, 2: 2, 3: 2}))
    i = p.train().add_image(str(tmp_path / "huge.h5"))
    assert p.images[i].lazy
    for call in (p.predict, p.segment, p.uncertainty):
        with pytest.raises(ValueError, match=r"probabilities of image 'huge'.*11.9 GiB.*project.export"):
            call(i)  # numpy would allocate it where memory is overcommitted, and filling it kills the kernel
    with pytest.raises(ValueError, match=r"features of image 'huge'"):
        p.features_of(i)


def test_load_errors(tmp_path, trained):
    with pytest.raises(FileNotFoundError, match="no such project file"):
        pc.Project.load(tmp_path / "none.h5")
    (tmp_path / "junk.h5").write_bytes(b"junk" * 100)
    with pytest.raises(ValueError, match="junk.h5.*not a readable project file"):
        pc.Project.load(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="not a jupyter-pixclass project"):
        pc.Project.load(tmp_path / "other.h5")
    path = trained.save(tmp_path / "new.h5")
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(ValueError, match="format 99, newer"):
        pc.Project.load(path)
    good = trained.save(tmp_path / "t.h5")
    raw = open(good, "rb").read()
    open(tmp_path / "trunc.h5", "wb").write(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="trunc.h5"):
        pc.Project.load(tmp_path / "trunc.h5")
    cyc = trained.save(tmp_path / "cycle.h5")
    with h5py.File(cyc, "a") as f:  # a child pointing back at its root would loop forever
        right = f["forest/right"][...]
        right[right > 0] = 0
        f["forest/right"][...] = right
    with pytest.raises(ValueError, match="cycle.h5.*corrupt"):
        pc.Project.load(cyc)


def test_save_is_atomic(trained, tmp_path, monkeypatch):
    path = trained.save(tmp_path / "p.h5")
    before = open(path, "rb").read()
    import jupyter_pixclass.project.format as persist

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(persist.Forest, "to_arrays", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        trained.save(path)
    assert open(path, "rb").read() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["p.h5"]


def test_beats_otsu_and_matches_skimage_on_held_out_scene():
    """Trained on strokes of one scene, judged on another (pixel IoU of the nucleus class)."""
    from functools import partial

    from sklearn.ensemble import RandomForestClassifier
    from skimage.feature import multiscale_basic_features
    from skimage.future import fit_segmenter, predict_segmenter

    train_img, t1 = pc.datasets.nuclei((256, 256), seed=11)
    test_img, t2 = pc.datasets.nuclei((256, 256), seed=12)
    lab = pc.datasets.scribbles(t1["classes"], n_strokes=10, mapping={1: 1, 2: 2, 3: 2}, seed=2)
    p = pc.Project(n_estimators=50)
    p.set_labels(p.add_image(train_img), lab)
    ours = iou(p.train().segment(test_img) == 1, t2["nuclei"] > 0)
    dapi = test_img.data[..., 1].astype(float)
    otsu = iou(dapi > threshold_otsu(dapi), t2["nuclei"] > 0)
    fe = partial(multiscale_basic_features, channel_axis=-1)
    clf = fit_segmenter(lab, fe(train_img.data.astype(float)), RandomForestClassifier(50, random_state=0))
    sk = iou(predict_segmenter(fe(test_img.data.astype(float)), clf) == 1, t2["nuclei"] > 0)
    assert ours > otsu + 0.1
    assert ours >= sk - 0.02


def test_the_same_image_added_twice_keeps_its_own_labels(scene):
    img, truth = scene
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
    a, b = p.add_image(img), p.add_image(img)
    assert p.images[a].uid != p.images[b].uid and p.images[b].data is img.data  # no copy of the pixels
    lab = pc.datasets.scribbles(truth["classes"], n_strokes=2, mapping={1: 1, 2: 2, 3: 2})
    p.set_labels(a, lab)
    X, y = p.training_data()
    assert len(y) == (lab > 0).sum() and set(np.unique(y)) == {1, 2}  # the twin adds no unlabeled rows
    p.train()
    p.set_labels(b, lab)
    assert len(p.training_data()[1]) == 2 * (lab > 0).sum()


def test_assigning_features_is_set_features(scene):
    # what a scikit-image user writes: the store and the forest follow the new set
    img, truth = scene
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[0.7, 1.6]), n_estimators=10)
    i = p.add_image(img)
    p.set_labels(i, pc.datasets.scribbles(truth["classes"], n_strokes=4, mapping={1: 1, 2: 2, 3: 2}))
    p.train()
    v = p.version
    fs = pc.FeatureSet(sigmas=[1.0, 3.5, 5.0])
    p.features = fs
    assert p.features is fs and p.forest is None and p.version > v
    p.train()
    n = fs.n_features(img.n_channels, 2)
    assert p.forest.n_features == n != 2 * 13
    assert p.predict(img).shape == img.shape_spatial + (2,)
    with pytest.raises(TypeError, match="FeatureSet"):
        p.features = [1.0, 2.0]


def test_a_class_removed_while_training_leaves_no_stale_forest(scene):
    # what a click on the bin during Live Update does: the change lands between two batches of trees
    img, truth = scene
    p = pc.Project(["Nucleus", "Cytoplasm", "Background"], features=pc.FeatureSet(sigmas=[1.0, 3.5]),
                   n_estimators=10)
    i = p.add_image(img)
    p.set_labels(i, pc.datasets.scribbles(truth["classes"], n_strokes=6))
    p.train(preview=3, on_preview=lambda f: p.remove_class("Cytoplasm"))
    assert p.classes == ["Nucleus", "Background"] and p.forest is None
    with pytest.raises(ValueError, match="not trained"):
        p.predict(i)
    p.train(preview=3, on_preview=lambda f: p.set_features(pc.FeatureSet(sigmas=[2.0])))
    assert p.forest is None
    assert p.train().predict(i).shape == img.shape_spatial + (2,)
    p.forest.value = np.hstack([p.forest.value, np.zeros((p.forest.value.shape[0], 1), np.float32)])
    with pytest.raises(ValueError, match="trained for 3 classes.*2 classes"):
        p.predict(i)  # a forest of other classes is never applied


def test_adding_an_image_unlike_the_others_is_said(scene, tmp_path):
    # one forest learns from every image: channels swapped, or 8-bit beside 16-bit, teach it two meanings of a value
    img, _ = scene
    img16 = pc.Image((img.data * 4000).astype(np.uint16), axes="YXC", channel_names=img.channel_names)
    p = pc.Project()
    p.add_image(img16)
    swapped = pc.Image(img16.data[..., ::-1], axes="YXC", channel_names=img16.channel_names[::-1])
    with pytest.warns(UserWarning, match=r"image 'swapped': its channels are \['DAPI', 'cytoplasm'\], the project's "
                                         r"images have \['cytoplasm', 'DAPI'\]") as w:
        swapped.name = "swapped"
        p.add_image(swapped)
    assert w[0].filename == __file__ and len(w) == 1
    eight = pc.Image((img16.data // 257).astype(np.uint8), axes="YXC", channel_names=img16.channel_names)
    with pytest.warns(UserWarning, match=r"its pixels are uint8, the project's images have uint16 pixels"):
        p.add_image(eight)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.add_image(img16.data.copy())  # unnamed channels, same type: nothing to say
        q = pc.Project(features=pc.FeatureSet(sigmas=[1.0], normalize="percentile"))
        q.add_image(img16)
        q.add_image(eight)  # intensities normalized per image: the type does not matter
        p.set_labels(0, pc.datasets.scribbles(scene[1]["classes"], n_strokes=4, mapping={1: 1, 2: 2, 3: 2}))
        p.features = pc.FeatureSet(sigmas=[1.0])
        p.n_estimators = 5
        p.train().predict(0)  # the project's own images: nothing to say
        p.predict(img16.data.copy())
    with pytest.warns(UserWarning, match=r"its pixels are uint8, the project's images have uint16 pixels") as w:
        p.predict(eight.data.copy())  # predicted, not added: as batch says it
    assert w[0].filename == __file__
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        p.export(eight.data.copy(), tmp_path / "e.npy")  # resolved once, predicted: said once
    assert len([x for x in w if "its pixels are" in str(x.message)]) == 1
