"""Live Update as labels grow: 60 strokes of radius 4-6 on 1024x1024x2, 1 s between strokes.

stroke -> complete overlay (every tree, every piece of the view: app.timings['total'], and the wall
time until wait_idle() returns): median, 95th percentile, and the median of the last 10 strokes
against the first 10; beside it stroke -> first overlay (app.timings['first']: a 20-tree preview
when training is slow). Then accuracy on a held-out image: our forest trained on
all the strokes against scikit-learn's 100-tree forest on the same labels and features, and the
training time of each on those labels. Also the cost of sending one 1024x1024 frame.

``--careless``: then 12 more strokes painted across borders (labels that contradict each other: trees
of ~90 leaves, more than one 64-bit word holds).

Run: python benchmarks/bench_live.py [--careless]
"""
import statistics
import sys
import time

import numpy as np

import jupyter_pixclass as pc
from jupyter_pixclass.app import render
from jupyter_pixclass.forest import train_forest
from _common import careless_strokes, live_sequence, machine, peak_rss_mb, timeit

PAUSE = 1.0


def iou(seg, truth):
    return (seg & truth).sum() / max((seg | truth).sum(), 1)


def main():
    img, truth = pc.datasets.nuclei((1024, 1024), seed=1)
    test, t2 = pc.datasets.nuclei((1024, 1024), seed=2)
    p = pc.Project()
    p.add_image(img)
    app = pc.PixelClassifierApp(p, canvas_size=(600, 600))
    seq = live_sequence(truth["classes"])
    for pts, k, r in seq[:2]:
        app.stroke(pts, k, radius=r)
    time.sleep(3)
    app.live_update = True
    app.wait_idle(300)
    totals, parts, n_lab, full, walls, splits = [], [], [], [], [], []
    for pts, k, r in seq[2:]:
        time.sleep(PAUSE)
        app.stroke(pts, k, radius=r)
        t_w = time.perf_counter()
        app.wait_idle(300)
        walls.append(time.perf_counter() - t_w)  # from after stroke() returned
        totals.append(app.timings["total"])
        parts.append(app.timings)
        full.append(app.timings["first"])
        n_lab.append(int((p.labels(0) > 0).sum()))
        splits.append(int((p.forest.left >= 0).sum()))  # split nodes of the 100 trees: what they learned
    t = np.array(totals)
    med = {k: statistics.median(d[k] for d in parts) for k in parts[0]}
    print(f"machine: {machine()}")
    print(f"live update, 1024x1024x2, default features (98), {p.n_estimators} trees, canvas 600x600, "
          f"60 strokes radius 4-6, {PAUSE:.0f} s apart:")
    print(f"  stroke -> complete overlay sent: median {np.median(t) * 1000:.0f} ms, 95th percentile "
          f"{np.percentile(t, 95) * 1000:.0f} ms, max {t.max() * 1000:.0f} ms")
    print(f"  first 10 strokes median {np.median(t[:10]) * 1000:.0f} ms ({n_lab[9]} labeled px), last 10 "
          f"{np.median(t[-10:]) * 1000:.0f} ms ({n_lab[-1]} labeled px): ratio {np.median(t[-10:]) / np.median(t[:10]):.2f}")
    print(f"  stroke -> first overlay (a preview when one was shown): median "
          f"{np.median(full) * 1000:.0f} ms, 95th percentile {np.percentile(full, 95) * 1000:.0f} ms")
    wl = np.array(walls)
    print(f"  wall time from stroke() returning until wait_idle() returns: median {np.median(wl) * 1000:.0f} ms, "
          f"95th percentile {np.percentile(wl, 95) * 1000:.0f} ms, last 10 / first 10 "
          f"{np.median(wl[-10:]) / np.median(wl[:10]):.2f}")
    print("  median parts: " + ", ".join(f"{k} {v * 1000:.0f}" for k, v in med.items()))
    for name, sl in (("first 10", slice(0, 10)), ("last 10", slice(-10, None))):
        m = {k: statistics.median(d[k] for d in parts[sl]) for k in parts[0]}
        print(f"  {name} parts: " + ", ".join(f"{k} {v * 1000:.0f}" for k, v in m.items()))
    # where the cost grows: per block of 10 strokes, the labels, the forest's size and the parts
    # a tree draws as many pixels as there are labels, up to max_samples: the first strokes' trees grow from fewer
    print("  per 10 strokes (medians): labeled px (the block's median, its end), split nodes of the forest, complete"
          " overlay, train, predict")
    for a in range(0, 60, 10):
        sl = slice(a, a + 10)
        print(f"    strokes {a + 1}-{a + 10}: {np.median(n_lab[sl]):.0f} / {n_lab[a + 9]} px, "
              f"{int(np.median(splits[sl]))} split nodes, total "
              f"{np.median(t[sl]) * 1000:.0f} ms, train {statistics.median(d['train'] for d in parts[sl]) * 1000:.0f}"
              f" ms, predict {statistics.median(d['predict'] for d in parts[sl]) * 1000:.0f} ms")
    print(f"  peak RSS {peak_rss_mb():.0f} MB")
    X, y = p.training_data()  # the 60 strokes' labels, for the accuracy below
    if "--careless" in sys.argv:
        careless(app, p, truth["classes"])
    app.close()

    # accuracy on a held-out image, same labels and features
    gt = t2["classes"] == 1
    ft = np.moveaxis(pc.compute_features(test, p.features), -1, 0).reshape(X.shape[1], -1)
    rows = []
    for name, method in (("jupyter-pixclass (binned)", "binned"), ("scikit-learn RandomForest, all labels", "sklearn")):
        time.sleep(1)
        t0 = time.perf_counter()
        forest, classes = train_forest(X, y, 100, 0, method=method)
        dt = time.perf_counter() - t0
        seg = (classes[forest.predict_proba_fm(ft).argmax(1)] == 1).reshape(gt.shape)
        rows.append((name, dt, iou(seg, gt)))
    print(f"held-out image, forests trained on the same {len(y)} labeled pixels (100 trees):")
    for name, dt, v in rows:
        print(f"  {name}: train {dt:.2f} s, nucleus IoU {v:.4f}")
    print(f"  IoU difference {rows[0][2] - rows[1][2]:+.4f}, training {rows[1][1] / rows[0][1]:.0f}x faster")

    rgb = np.random.default_rng(0).random((1024, 1024, 3)).astype(np.float32)
    rgb8 = render.to_uint8(rgb)
    rgba = np.dstack([rgb8, np.full((1024, 1024), 255, np.uint8)])
    from ipycanvas.utils import binary_image

    t_jpeg, _ = timeit(lambda: render.encode_jpeg(rgb8), repeat=5)
    t_png, _ = timeit(lambda: binary_image(rgba), repeat=3)
    print(f"sending a 1024x1024 frame (noise, worst case): our JPEG {t_jpeg * 1000:.0f} ms; "
          f"ipycanvas default RGBA PNG {t_png * 1000:.0f} ms")


def careless(app, p, classes):
    """12 more strokes painted across borders (each of the class where it starts), 1 s apart: labels that
    contradict each other, and trees with more leaves than one 64-bit word holds."""
    tot, first, parts = [], [], []
    for pts, k in careless_strokes(classes):
        time.sleep(PAUSE)
        app.stroke(pts, k, radius=3)
        app.wait_idle(300)
        tot.append(app.timings["total"])
        first.append(app.timings["first"])
        parts.append(app.timings)
    f = p.forest
    leaves = np.add.reduceat(f.left < 0, f.roots)
    print(f"then 12 careless strokes (across borders, radius 3; {int((p.labels(0) > 0).sum())} labeled px, leaves a "
          f"tree: median {np.median(leaves):.0f}, max {leaves.max()}):")
    print(f"  stroke -> complete overlay: median {np.median(tot) * 1000:.0f} ms, max {max(tot) * 1000:.0f} ms; first "
          f"overlay median {np.median(first) * 1000:.0f} ms")
    print("  median parts: " + ", ".join(f"{k} {statistics.median(d[k] for d in parts) * 1000:.0f}" for k in parts[0]))


if __name__ == "__main__":
    sys.exit(main())
