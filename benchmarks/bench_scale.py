"""Live Update at scale, as a person uses it (1 s between strokes, 3 s before cold calls).

1. One large 2-channel uint16 image (1024², 4096², 8192²) in the app, 600x600 canvas, viewed at
   1:1 in the middle: time from switching Live Update on to the first overlay; 20 strokes:
   stroke -> overlay sent; then fit the whole image in the view: time until it is complete.
2. Twelve steinbock-like crops 500x500 x 25 channels (mean channel + 24), sigma >= 1 (1000
   features): 3 strokes per class on every crop, switching crops.
3. Cold predict of a new 1024²x2 image after a 3 s pause vs scikit-image's
   multiscale_basic_features + predict_segmenter after the same pause.
Peak memory from the OS (VmHWM), reset before each case. Run one case per process:
``python benchmarks/bench_scale.py large 8192`` | ``imc`` | ``predict``; ``file 8192``: case 1 with the image
written to a tiled TIFF (``imagej 8192``: as ImageJ writes it, one strip a plane) and opened with ``pc.load_image`` (left in the file when larger than an eighth of the
memory budget: ``PIXCLASS_MEMORY_LIMIT=2GiB`` budgets as on Binder); ``pyramid 16384``: the image as a tiled
OME-TIFF with ``pyramid 16384 3`` or without ``pyramid 16384 0`` a pyramid (SubIFD levels, as bfconvert writes),
left in the file: opening the app fitted, then 5 times zoom in 4x and fit again after a 3 s pause, until the view
is drawn (Live Update off).
"""
import os
import statistics
import sys
import time

import numpy as np

import jupyter_pixclass as pc
from _common import current_rss_mb, machine, peak_rss_mb, reset_peak_rss

PAUSE = 1.0  # between strokes
COLD = 3.0  # before a cold call


def big_scene(side):
    """A side x side nuclei scene: a 2048 (or smaller) scene tiled, to make it quickly."""
    base = min(side, 2048)
    img, truth = pc.datasets.nuclei((base, base), seed=7)
    reps = side // base
    data = np.tile(img.data, (reps, reps, 1))
    classes = np.tile(truth["classes"], (reps, reps))
    return pc.Image(data, axes="YXC", name=f"scene{side}"), classes


def stroke_at(classes, cls, rng, centre, half, erode=5):
    """A short stroke of ``cls`` (truth class) within ``half`` pixels of ``centre`` (y, x)."""
    from scipy import ndimage as ndi

    y0, x0 = centre
    win = classes[y0 - half:y0 + half, x0 - half:x0 + half]
    ok = ndi.binary_erosion(win == cls, iterations=erode)
    pts = np.argwhere(ok)
    y, x = pts[rng.integers(len(pts))]
    ang = rng.uniform(0, np.pi)
    line = []
    for t in range(0, 12, 3):
        yy, xx = int(y + t * np.sin(ang)), int(x + t * np.cos(ang))
        if 0 <= yy < win.shape[0] and 0 <= xx < win.shape[1] and ok[yy, xx]:
            line.append((xx + x0 - half, yy + y0 - half))
    return line or [(x + x0 - half, y + y0 - half)]


def large(side, from_file=False, tiled=True):
    img, classes = big_scene(side)
    if from_file:  # as a user opens a file: a TIFF, lazy when larger than an eighth of the budget
        import tempfile

        import tifffile

        path = os.path.join(tempfile.mkdtemp(), f"scene{side}.tif")
        # tiled, or as ImageJ and Fiji save a hyperstack: uncompressed, one strip a plane
        tifffile.imwrite(path, np.moveaxis(img.data, -1, 0), imagej=True, metadata={"axes": "CYX"},
                         tile=(256, 256) if tiled else None)
        img = pc.load_image(path)
        print(f"{path}: lazy {img.lazy} (memory limit {os.environ.get('PIXCLASS_MEMORY_LIMIT', 'none set')})")
    p = pc.Project(["Nucleus", "Background"])
    p.add_image(img)
    reset_peak_rss()
    base = current_rss_mb()
    app = pc.PixelClassifierApp(p, canvas_size=(600, 600))
    app.zoom(1.0 / app.view.scale, at=(300, 300))  # 1:1 in the middle
    centre = (side // 2, side // 2)
    rng = np.random.default_rng(0)
    mapping = {1: 1, 2: 2, 3: 2}
    app.stroke(stroke_at(classes, 1, rng, centre, 280), 1, radius=4)
    app.stroke(stroke_at(classes, 3, rng, centre, 280), 2, radius=4)
    time.sleep(COLD)
    t = time.perf_counter()
    app.live_update = True
    app.wait_idle(300)
    first = time.perf_counter() - t
    totals, parts = [], []
    for i in range(20):
        time.sleep(PAUSE)
        cls = [1, 3, 2][i % 3]
        app.stroke(stroke_at(classes, cls, rng, centre, 280), mapping[cls], radius=4)
        app.wait_idle(300)
        totals.append(app.timings["total"])
        parts.append(app.timings)
    time.sleep(COLD)
    t = time.perf_counter()
    app.fit()
    app.wait_idle(600)
    fit = time.perf_counter() - t
    n_pieces = len(app.prediction.vf)
    peak = peak_rss_mb()
    med = {k: statistics.median(d[k] for d in parts) for k in parts[0]}
    print(f"{side}x{side}x2 uint16, default features (98), canvas 600x600, 1:1 view:")
    print(f"  first overlay after Live Update on: {first:.2f} s")
    print(f"  20 strokes, stroke -> overlay sent: median {statistics.median(totals) * 1000:.0f} ms "
          f"(min {min(totals) * 1000:.0f}, max {max(totals) * 1000:.0f}); median parts: "
          + ", ".join(f"{k} {v * 1000:.0f}" for k, v in med.items()))
    print(f"  fit the whole image: complete in {fit:.1f} s ({n_pieces} pieces); "
          f"labeled pixels {p.store().n_labeled()}; peak RSS {peak:.0f} MB (of which {base:.0f} MB before the app: "
          f"the image, the scene's truth, imports); cache budget {p.engine.cache.max_bytes / 2**20:.0f} MB")
    app.close()


def pyramid_file(side, levels):
    """The scene as a tiled OME-TIFF with ``levels`` coarser SubIFD levels (halving), written once."""
    import tempfile

    import tifffile

    path = os.path.join(tempfile.gettempdir(), f"pixclass_scene{side}_{levels}.ome.tif")
    if not os.path.exists(path):
        img, _ = big_scene(side)
        full = np.ascontiguousarray(np.moveaxis(img.data, -1, 0))
        with tifffile.TiffWriter(path + ".part", ome=True, bigtiff=True) as w:
            w.write(full, subifds=levels, tile=(256, 256), metadata={"axes": "CYX"})
            for k in range(1, levels + 1):
                w.write(np.ascontiguousarray(full[:, :: 2**k, :: 2**k]), subfiletype=1, tile=(256, 256))
        os.replace(path + ".part", path)
    return path


def pyramid(side, levels):
    """A tiled OME-TIFF left in its file, browsed zoomed out (Live Update off)."""
    import subprocess

    # written by a child process, so this one never held the whole image
    subprocess.run([sys.executable, __file__, "pyramid-write", str(side), str(levels)], check=True)
    path = pyramid_file(side, levels)
    time.sleep(COLD)
    reset_peak_rss()
    im = pc.load_image(path, lazy=True)
    p = pc.Project(["Nucleus", "Background"])
    p.add_image(im)
    t = time.perf_counter()
    app = pc.PixelClassifierApp(p, canvas_size=(600, 600))
    app.wait_idle(600)
    opened = time.perf_counter() - t
    times = []
    for _ in range(5):
        time.sleep(COLD)
        t = time.perf_counter()
        app.zoom(4.0)
        app.wait_idle(600)
        app.fit()
        app.wait_idle(600)
        times.append(time.perf_counter() - t)
    print(f"{side}x{side}x2 uint16 OME-TIFF, {len(im.levels)} coarser levels read: app opened fitted in {opened:.2f} s; "
          f"zoom in 4x and fit again: median {statistics.median(times):.2f} s "
          f"({', '.join(f'{x:.2f}' for x in times)}); peak RSS {peak_rss_mb():.0f} MB")
    app.close()


def imc():
    crops = []
    for s in range(12):  # steinbock: mean channel x100 prepended, x2 upscale, 500x500 crops
        im, truth = pc.datasets.imc((250, 250), n_channels=24, seed=s)
        im = pc.preprocess.upscale(pc.preprocess.add_mean_channel(im), 2)
        crops.append((im, np.kron(truth["classes"], np.ones((2, 2), np.uint8))))
    fs = pc.FeatureSet.default().select(min_sigma=1)
    p = pc.Project(["Nucleus", "Cytoplasm", "Background"], features=fs)
    for im, _ in crops:
        p.add_image(im)
    reset_peak_rss()
    app = pc.PixelClassifierApp(p, canvas_size=(600, 600))
    rng = np.random.default_rng(1)
    totals, switches, parts = [], [], []
    for i, (_, classes) in enumerate(crops):
        time.sleep(PAUSE)
        t = time.perf_counter()
        app.image_index = i
        if i == 0:
            app.live_update = True
        app.wait_idle(300)
        switches.append(time.perf_counter() - t)
        for rep in range(3):
            for cls in (1, 2, 3):
                time.sleep(PAUSE)
                app.stroke(stroke_at(classes, cls, rng, (250, 250), 240, erode=3), cls, radius=2)
                app.wait_idle(300)
                if app.project.forest is not None and "done" in app.status:
                    totals.append(app.timings["total"])
                    parts.append(dict(app.timings, crop=i))
    peak = peak_rss_mb()
    F = fs.n_features(25, 2)
    print(f"12 crops 500x500x25, sigma >= 1 ({F} features), 3 strokes per class per crop, canvas 600x600:")
    print(f"  stroke -> overlay sent: median {statistics.median(totals) * 1000:.0f} ms, "
          f"max {max(totals) * 1000:.0f} ms ({len(totals)} strokes with an overlay)")
    med = {k: statistics.median(d[k] for d in parts) for k in parts[0] if k != "crop"}
    print("  median parts: " + ", ".join(f"{k} {v * 1000:.0f}" for k, v in med.items()))
    print("  slowest stroke: " + ", ".join(f"{k} {v * 1000:.0f}" if k != "crop" else f"crop {v}"
                                          for k, v in max(parts, key=lambda d: d["total"]).items()))
    print(f"  switching crops -> view complete: median {statistics.median(switches):.2f} s, max {max(switches):.2f} s")
    print(f"  labeled pixels {p.store().n_labeled()}; peak RSS {peak:.0f} MB; cache budget {p.engine.cache.max_bytes / 2**20:.0f} MB")
    app.close()


def predict():
    from functools import partial

    from skimage.feature import multiscale_basic_features
    from skimage.future import fit_segmenter, predict_segmenter
    from sklearn.ensemble import RandomForestClassifier

    train, t1 = pc.datasets.nuclei((1024, 1024), seed=1)
    tests = [pc.datasets.nuclei((1024, 1024), seed=s)[0] for s in (2, 3, 4, 5, 6)]
    labels = pc.datasets.scribbles(t1["classes"], n_strokes=15, mapping={1: 1, 2: 2, 3: 2}, seed=0)
    p = pc.Project(n_estimators=100, random_state=0)
    p.set_labels(p.add_image(train), labels)
    p.train()
    fe = partial(multiscale_basic_features, channel_axis=-1)
    clf = fit_segmenter(labels, fe(train.data.astype(np.float32)),
                        RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0))
    ours, sk = [], []
    for test in tests:
        time.sleep(COLD)
        t = time.perf_counter()
        p.predict(test)
        ours.append(time.perf_counter() - t)
        time.sleep(COLD)
        t = time.perf_counter()
        predict_segmenter(fe(test.data.astype(np.float32)), clf)
        sk.append(time.perf_counter() - t)
    feat_ours, feat_sk = [], []
    for test in tests[:3]:
        time.sleep(COLD)
        t = time.perf_counter()
        pc.compute_features(test, p.features)
        feat_ours.append(time.perf_counter() - t)
        time.sleep(COLD)
        t = time.perf_counter()
        fe(test.data.astype(np.float32))
        feat_sk.append(time.perf_counter() - t)
    o, s = statistics.median(ours), statistics.median(sk)
    fo, fsk = statistics.median(feat_ours) / 98, statistics.median(feat_sk) / 48
    print("cold calls after a 3 s pause, 1024x1024x2, medians of 5 (features: 3):")
    print(f"  predict: ours {o:.2f} s (98 features, 100 trees) vs scikit-image mbf + predict_segmenter {s:.2f} s "
          f"(48 features, 100 trees): {s / o:.1f}x")
    print(f"  features: ours {fo * 1000:.2f} ms/feature vs scikit-image {fsk * 1000:.2f} ms/feature: {fsk / fo:.1f}x "
          f"per feature; peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    print(f"machine: {machine()}")
    case = sys.argv[1] if len(sys.argv) > 1 else "large"
    if case in ("large", "file", "imagej"):
        for side in ([int(a) for a in sys.argv[2:]] or [1024, 4096, 8192]):
            large(side, from_file=case != "large", tiled=case == "file")
    elif case == "pyramid-write":
        pyramid_file(int(sys.argv[2]), int(sys.argv[3]))
    elif case == "pyramid":
        pyramid(int(sys.argv[2]) if len(sys.argv) > 2 else 16384, int(sys.argv[3]) if len(sys.argv) > 3 else 3)
    elif case == "imc":
        imc()
    else:
        predict()
