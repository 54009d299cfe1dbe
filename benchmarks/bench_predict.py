"""Cold prediction of a new 1024x1024 2-channel image, features included; and re-predicting the app's view.

Ours (default set, 98 features, 100 trees, numba traversal) vs scikit-image's
multiscale_basic_features + predict_segmenter (its default features, a 100-tree
RandomForestClassifier, n_jobs=-1) trained on the same strokes, same run.

``--view``: what Live Update does after each stroke, the view's features kept: predicting the 600x600
view of a 1024x1024x2 image (the whole image, every 1.7th row and column) with a forest trained on
bench_live's 60 strokes, piece by piece, after 1 s pauses, medians of 9, the two ways alternating:
each piece's shown pixels picked out of its tile's features at every call, against copied once
into blocks the forest reads where they lie (``forest.score.PixelBlocks``: what
``engine.view_features`` keeps within a quarter of the cache budget); and a 600x600 window at 1:1,
whose pieces are the kept tiles themselves; and a held-out image (seed 2) with its features given.

``--careless``: the same after 12 more strokes painted across borders (each of the class where it
starts), whose trees have more leaves than one 64-bit word holds.

Run: python benchmarks/bench_predict.py [--view | --careless]
"""
import sys
from functools import partial

import numpy as np
from skimage.feature import multiscale_basic_features
from skimage.future import fit_segmenter, predict_segmenter
from sklearn.ensemble import RandomForestClassifier

import jupyter_pixclass as pc
from _common import careless_strokes, live_sequence, machine, timeit


def main():
    train, t1 = pc.datasets.nuclei((1024, 1024), seed=1)
    test, t2 = pc.datasets.nuclei((1024, 1024), seed=2)
    labels = pc.datasets.scribbles(t1["classes"], n_strokes=15, mapping={1: 1, 2: 2, 3: 2}, seed=0)
    p = pc.Project(n_estimators=100, random_state=0)
    p.set_labels(p.add_image(train), labels)
    p.train()
    ours, ours_min = timeit(lambda: p.predict(test), repeat=5)  # test is not a project image: features recomputed

    fe = partial(multiscale_basic_features, channel_axis=-1)
    clf = fit_segmenter(labels, fe(train.data.astype(np.float32)),
                        RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0))
    sk, sk_min = timeit(lambda: predict_segmenter(fe(test.data.astype(np.float32)), clf), repeat=3)

    # where the time goes, ours
    feats = pc.compute_features(test, p.features)
    t_pred, _ = timeit(lambda: p.predict(test, features=feats), repeat=5)
    fm = np.moveaxis(feats, -1, 0).reshape(feats.shape[-1], -1)
    X = np.ascontiguousarray(fm.T)
    from sklearn.ensemble import RandomForestClassifier as RF

    rf = RF(100, random_state=0, n_jobs=-1).fit(np.moveaxis(p.features_of(0), -1, 0)[:, labels > 0].T, labels[labels > 0])
    t_skrf, _ = timeit(lambda: rf.predict_proba(X), repeat=2)
    print(f"machine: {machine()}")
    print("cold predict 1024x1024x2 (features included), median:")
    print(f"  jupyter-pixclass ({p.features.n_features(2, 2)} features, 100 trees): {ours:.2f} s (min {ours_min:.2f})")
    print(f"  scikit-image mbf + predict_segmenter ({clf.n_features_in_} features, 100 trees): {sk:.2f} s (min {sk_min:.2f})")
    print(f"  speed-up: {sk / ours:.1f}x")
    print(f"  of ours: the forest alone (features given) {t_pred:.2f} s; scikit-learn predict_proba on the same "
          f"features/forest size {t_skrf:.2f} s ({t_skrf / t_pred:.1f}x slower)")


def view_repredict(repeat=9, pause=1.0, careless=False):
    """Re-predicting the app's zoomed-out view (pixels picked from the tiles, or kept in blocks) and a 1:1 view;
    with ``careless``, after bench_live's strokes and 12 careless ones (their trees need more than one word)."""
    import statistics
    import time

    from jupyter_pixclass.app.render import View
    from jupyter_pixclass.engine.view_features import ViewFeatures

    img, truth = pc.datasets.nuclei((1024, 1024), seed=1)
    p = pc.Project()
    p.add_image(img)
    app = pc.PixelClassifierApp(p, canvas_size=(600, 600))
    for pts, k, r in live_sequence(truth["classes"]):  # bench_live's strokes, without Live Update
        app.stroke(pts, k, radius=r)
    for pts, k in careless_strokes(truth["classes"]) if careless else ():
        app.stroke(pts, k, radius=3)
    app.close()
    p.train()
    f = p.forest
    leaves = np.add.reduceat(f.left < 0, f.roots)
    v = View(img.shape_spatial, (600, 600))
    ys, xs, iny, inx = v.indices()
    views = {}
    for name, keep in (("picked from the tiles", False), ("kept in blocks", True)):
        vf = ViewFeatures(p.engine, img, p.features, ys[iny], xs[inx])
        if not keep:
            vf.max_bytes = 0  # nothing kept by the view itself: every call reads the tiles
        for k in range(len(vf)):
            vf.features(k)
        views[name] = vf
    # at 1:1 (a 600 x 600 window in the middle, as a person paints): pieces are the tiles themselves,
    # kept in the tile cache, and scored from there (the tiles' rows lie 256 KB apart)
    v1 = View(img.shape_spatial, (600, 600))
    v1.scale, v1.origin = 1.0, (212.0, 212.0)
    v1.clamp()
    y1, x1, iny1, inx1 = v1.indices()
    vf1 = ViewFeatures(p.engine, img, p.features, y1[iny1], x1[inx1])
    for k in range(len(vf1)):
        vf1.features(k)
    views["1:1, from the kept tiles"] = vf1
    # a held-out image, features given (what export and batch do band by band): rows 4 MB apart; the
    # group size of the scorer's gather was chosen on tiles of the image above, not on this one
    held_out, _ = pc.datasets.nuclei((1024, 1024), seed=2)
    fm = np.moveaxis(pc.compute_features(held_out, p.features), -1, 0)
    fm = np.ascontiguousarray(fm.reshape(fm.shape[0], -1))
    times = {name: [] for name in list(views) + ["a held-out image, features given"]}
    for _ in range(repeat):
        for name, vf in views.items():
            time.sleep(pause)
            t = time.perf_counter()
            for k in range(len(vf)):
                vf.predict(p.forest, k)
            times[name].append(time.perf_counter() - t)
        time.sleep(pause)
        t = time.perf_counter()
        p.forest.predict_proba_fm(fm)
        times["a held-out image, features given"].append(time.perf_counter() - t)
    a, b, one = (views[n] for n in views)
    same = all(np.array_equal(a.predict(p.forest, k), b.predict(p.forest, k)) for k in range(len(a)))
    n_px = a.rows.size * a.cols.size
    print(f"re-predicting a {a.rows.size}x{a.cols.size} view of 1024x1024x2 ({n_px} px, {len(a)} pieces, "
          f"{p.forest.n_trees} trees, {int((p.forest.left >= 0).sum())} split nodes, {len(p.training_data()[1])} "
          f"labeled px; leaves a tree: median {np.median(leaves):.0f}, max {leaves.max()}, {(leaves > 64).sum()} trees over "
          f"64), {pause:.0f} s pauses, medians of {repeat}:")
    for name, ts in times.items():
        print(f"  {name}: {statistics.median(ts) * 1000:.0f} ms")
    print(f"  kept by the view: {b.kept_bytes() / 2**20:.0f} MiB; same probabilities: {same}")
    whole = sum(one.features(k)[1] is None and not hasattr(one.features(k)[0], "blocks") for k in range(len(one)))
    print(f"  (the 1:1 view: {one.rows.size}x{one.cols.size} px in {len(one)} pieces, {whole} of them whole tiles)")


if __name__ == "__main__":
    if "--view" in sys.argv or "--careless" in sys.argv:
        print(f"machine: {machine()}")
        sys.exit(view_repredict(careless="--careless" in sys.argv))
    sys.exit(main())
