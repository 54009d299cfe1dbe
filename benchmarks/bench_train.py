"""Where training time goes as labels grow, and what our own compiled pieces buy over numpy's.

The labels are bench_live.py's: strokes of radius 4-6 painted with the app's brush on a 1024x1024x2
nuclei scene (seed 1), default features (98); snapshots after 10 and 60 strokes (~6.6k and ~27k
labeled pixels). Each figure is the median of 7 calls with a 1 s pause before each (a person
between strokes; fresh memory is slow here after a pause), on all cores:
- bin edges: ``forest_train.bin_edges`` (a radix sort and a heap of the widest gaps, compiled)
  against the same rule written with ``np.sort``/``np.argpartition`` (``numpy_edges`` below: what
  the trainer used before), on the same rows;
- binning (edges + bins of every labeled pixel), growing 100 trees, and ``train_forest`` whole;
- scikit-learn's ``RandomForestClassifier`` (100 trees, all cores) on the same labels, once;
- whether the cost follows the number of labels or what they teach: the first 10 strokes, all 60,
  and all 60 thinned to as many pixels as the first 10 (``complexity`` below).

``--many``: many labels (``many_labels`` below): 400 strokes of a radius-6 brush on a 2048x2048x2 scene
(~185k labeled pixels), ``Project.training_data()`` and training with the label pool
(``forest.train.LABEL_POOL``) and without, scikit-learn's forest on the same labels once, peak RSS, and the held-out nucleus IoU of both on three 1024x1024 scenes,
forest seeds 0-5.

``--careless``: growing 100 trees (one thread and all cores, 1 s pauses, medians of 9) on three label sets:
bench_live's first 10 strokes, all 60, and all 60 plus its 12 careless strokes painted across borders
(``_common.careless_strokes``: labels that contradict each other, trees of ~90 leaves); the leaves a tree.

Run: python benchmarks/bench_train.py [--many | --careless]
"""
import sys
import time

import numpy as np

import jupyter_pixclass as pc
from jupyter_pixclass.forest import train_forest
from jupyter_pixclass.forest.bins import EDGE_SAMPLE, bin_edges
from jupyter_pixclass.forest.train import Binned, fit_binned_forest
from _common import careless_strokes, live_sequence, machine, peak_rss_mb, timeit

PAUSE = 1.0


def numpy_edges(X, n_bins=256, sample=EDGE_SAMPLE, seed=0, n_gaps=64):
    """bin_edges' rule with numpy's sort and partition, row by row of the feature-major sample."""
    if X.shape[0] > sample:
        X = X[np.sort(np.random.default_rng(seed).choice(X.shape[0], sample, replace=False))]
    srt = np.sort(np.ascontiguousarray(X.T), axis=1)
    n, n_q = srt.shape[1], n_bins - 1 - n_gaps
    cand = [srt[:, (np.arange(1, n_q + 1) * n) // (n_q + 1)]]
    gaps = np.diff(srt, axis=1)
    wide = np.argpartition(-gaps, n_gaps - 1, axis=1)[:, :n_gaps]
    lower = np.take_along_axis(srt, wide, axis=1)
    cand.append(np.where(np.take_along_axis(gaps, wide, axis=1) > 0, lower, np.inf).astype(np.float32))
    cand = np.sort(np.concatenate(cand, axis=1), axis=1)
    drop = cand >= srt[:, -1:]
    drop[:, 1:] |= cand[:, 1:] == cand[:, :-1]
    cand[drop] = np.inf
    cand.sort(axis=1)
    return cand[:, :n_bins - 1]


def labels_as_painted(careless=False):
    """(X, y) after 10 and after 60 of bench_live's strokes (and after its 12 careless ones)."""
    img, truth = pc.datasets.nuclei((1024, 1024), seed=1)
    p = pc.Project()
    p.add_image(img)
    app = pc.PixelClassifierApp(p, canvas_size=(600, 600))
    snaps = []
    for i, (pts, k, r) in enumerate(live_sequence(truth["classes"])):
        app.stroke(pts, k, radius=r)
        if i - 2 in (9, 59):
            snaps.append(p.training_data())
    for pts, k in careless_strokes(truth["classes"]) if careless else ():
        app.stroke(pts, k, radius=3)
    if careless:
        snaps.append(p.training_data())
    app.close()
    return snaps


def growing(snaps):
    """Growing 100 trees on each label set, one thread and all cores."""
    from jupyter_pixclass.runtime.threads import get_threads, set_threads

    n = get_threads()
    names = ("first 10 strokes", "all 60 strokes", "all 60 and 12 careless strokes")
    print(f"growing 100 trees (forest seed 0), medians of 9 with {PAUSE:.0f} s pauses:")
    for name, (X, y) in zip(names, snaps):
        _, yi = np.unique(y, return_inverse=True)
        b = Binned(X, yi, 0)
        f = fit_binned_forest(X, yi, 100, 0, binned=b).forest(X.shape[1])
        leaves = np.add.reduceat(f.left < 0, f.roots)
        ts = []
        for threads in (1, n):
            set_threads(threads)
            ts.append(timeit(lambda: fit_binned_forest(X, yi, 100, 0, binned=b), repeat=9, pause=PAUSE)[0] * 1000)
        set_threads(n)
        print(f"  {name}: {len(y)} labeled pixels, leaves a tree median {np.median(leaves):.0f}; one thread "
              f"{ts[0]:.0f} ms, {n} threads {ts[1]:.0f} ms")


def median_ms(fn):
    return timeit(fn, repeat=7, pause=PAUSE)[0] * 1000


def many_labels(seeds=range(6), test_seeds=(2, 3, 4)):
    """Training cost and held-out accuracy with ~185k labeled pixels, with and without the label pool."""
    from skimage.draw import disk

    from jupyter_pixclass.forest.train import LABEL_POOL

    img, truth = pc.datasets.nuclei((2048, 2048), seed=11)
    lab = np.zeros(img.shape_spatial, np.uint8)
    for pts, k in pc.datasets.strokes(truth["classes"], n_strokes=200, length=90, radius=6,
                                      mapping={1: 1, 2: 2, 3: 2}, seed=3):
        for x, y in pts:
            lab[disk((y, x), 6, shape=lab.shape)] = k
    p = pc.Project()
    p.set_labels(p.add_image(img), lab)
    X, y = p.training_data()
    print(f"{len(y)} labeled pixels on 2048x2048x2 ({np.bincount(y)[1:].tolist()} per class), {X.shape[1]} "
          f"features; the labeled features and training (what Project.train does) after {PAUSE:.0f} s pauses, "
          f"medians of 7:")
    times = {}
    for pool in (LABEL_POOL, None):
        times[pool] = median_ms(lambda: train_forest(*p.training_data(lazy=True), 100, 0, pool=pool))
        print(f"  pool {pool}: {times[pool]:.0f} ms")
    # the named peer, after the same pause, on the same labels (once: it takes about a minute)
    time.sleep(PAUSE)
    t = time.perf_counter()
    train_forest(*p.training_data(), 100, 0, method="sklearn")
    t_sk = (time.perf_counter() - t) * 1000
    print(f"  scikit-learn's RandomForestClassifier (100 trees, all cores), the same call: {t_sk:.0f} ms, "
          f"{t_sk / times[LABEL_POOL]:.0f}x the time with the pool")
    print(f"  peak RSS (VmHWM) {peak_rss_mb():.0f} MB")
    for ts in test_seeds:
        test, t2 = pc.datasets.nuclei((1024, 1024), seed=ts)
        gt = t2["classes"] == 1
        ft = np.ascontiguousarray(np.moveaxis(pc.compute_features(test, p.features), -1, 0).reshape(X.shape[1], -1))
        row = {}
        for pool in (LABEL_POOL, None):
            ious = []
            for s in seeds:
                forest, classes = train_forest(X, y, 100, s, pool=pool)
                seg = (classes[forest.predict_proba_fm(ft).argmax(1)] == 1).reshape(gt.shape)
                ious.append((seg & gt).sum() / (seg | gt).sum())
            row[pool] = ious
        d = np.array(row[LABEL_POOL]) - np.array(row[None])
        print(f"  held-out scene {ts}: IoU with the pool {np.mean(row[LABEL_POOL]):.4f} (sd "
              f"{np.std(row[LABEL_POOL], ddof=1):.4f}), without {np.mean(row[None]):.4f} (sd "
              f"{np.std(row[None], ddof=1):.4f}); difference {d.mean():+.4f}")


def main():
    print(f"machine: {machine()}")
    if "--many" in sys.argv:
        return many_labels()
    if "--careless" in sys.argv:
        return growing(labels_as_painted(careless=True))
    snaps = labels_as_painted()
    for X, y in snaps:
        _, yi = np.unique(y, return_inverse=True)
        ours, _ = bin_edges(X)
        ref = numpy_edges(X)
        same = np.array_equal(ours, np.where(np.isfinite(ref), ref, np.inf))
        b = Binned(X, yi, 0)
        t_np = median_ms(lambda: numpy_edges(X))
        t_ours = median_ms(lambda: bin_edges(X))
        t_bin = median_ms(lambda: Binned(X, yi, 0))
        t_grow = median_ms(lambda: fit_binned_forest(X, yi, 100, 0, binned=b))
        t_all = median_ms(lambda: train_forest(X, y, 100, 0))
        time.sleep(PAUSE)
        t = time.perf_counter()
        train_forest(X, y, 100, 0, method="sklearn")
        t_sk = (time.perf_counter() - t) * 1000
        print(f"{len(y)} labeled pixels, {X.shape[1]} features:")
        print(f"  bin edges: numpy sort {t_np:.0f} ms, ours {t_ours:.0f} ms ({t_np / t_ours:.1f}x), identical {same}")
        print(f"  binning (edges + bins) {t_bin:.0f} ms, growing 100 trees {t_grow:.0f} ms, train_forest {t_all:.0f} ms; "
              f"scikit-learn {t_sk:.0f} ms ({t_sk / t_all:.0f}x)")
    complexity(snaps)


def complexity(snaps):
    """Does the cost follow the number of labels, or what they teach? Three label sets of the same
    scene: the first 10 strokes (~6.6k pixels), all 60 (~27k), and all 60 thinned to every 4th pixel
    (~6.8k pixels spread over every stroke). Nodes per tree, growing 100 trees, and predicting a
    600 x 600 view (100 trees, features computed beforehand) after 1 s pauses."""
    img, _ = pc.datasets.nuclei((1024, 1024), seed=1)
    feats = pc.compute_features(img, pc.FeatureSet.default())[212:812, 212:812]
    view = np.ascontiguousarray(np.moveaxis(feats, -1, 0).reshape(feats.shape[-1], -1))
    (X10, y10), (X60, y60) = snaps
    sets = {"first 10 strokes": (X10, y10), "all 60 strokes": (X60, y60),
            "all 60 strokes, every 4th pixel": (X60[::4], y60[::4])}
    print("cost against what the labels teach (forest seed 0):")
    for name, (X, y) in sets.items():
        _, yi = np.unique(y, return_inverse=True)
        b = Binned(X, yi, 0)
        forest, _ = train_forest(X, y, 100, 0)
        nodes = np.diff(np.append(forest.roots, forest.left.size))
        t_grow = median_ms(lambda: fit_binned_forest(X, yi, 100, 0, binned=b))
        t_pred = median_ms(lambda: forest.predict_proba_fm(view))
        print(f"  {name}: {len(y)} labeled pixels, median {np.median(nodes):.0f} nodes a tree; growing 100 trees "
              f"{t_grow:.0f} ms, predicting the view {t_pred:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
