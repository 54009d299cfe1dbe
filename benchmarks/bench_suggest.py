"""Where to label next: following the app's suggestions against labeling at random places.

A simulated person (``pc.simulate.label_rounds``) starts from two scribbles per class and paints one
short stroke per round through what the overlay shows wrong, then retrains (the default 100 trees). Strategy "suggested"
looks only at the first box ``suggest_boxes`` proposes; "random" at a box of the same size at a
random place. Same scenes, same starting scribbles, same annotator, same number of strokes.
Scores: nucleus IoU (nuclei scenes) or mean IoU over nucleus / cytoplasm / background (IMC crops
prepared as steinbock does: mean channel x100, x2 upscale, 500x500). Accuracy only, no timing.

``--cost``: what Suggest costs on a dozen steinbock-like crops (500x500x25, sigma >= 1, 100 trees), after a
3 s pause as a person waits before clicking, against what a scikit-image user does to find the same places:
``multiscale_basic_features`` + ``predict_segmenter`` (scikit-learn's forest on the same labeled pixels) over
every crop, then the uncertainty map. Peak memory from the OS (VmHWM).

Run: python benchmarks/bench_suggest.py [--quick | --cost]
"""
import sys
import time

import numpy as np

import jupyter_pixclass as pc
from jupyter_pixclass.simulate import label_rounds
from jupyter_pixclass.suggest import default_box, suggest_boxes

NUCLEI_FEATURES = pc.FeatureSet(sigmas=[0.3, 1.0, 3.5, 5.0])  # notebook 01's choice
IMC_FEATURES = pc.FeatureSet.default().select(min_sigma=1.0)  # steinbock's: every family, sigma >= 1


def nuclei_scene(size, seed):
    img, truth = pc.datasets.nuclei((size, size), seed=seed)
    cls = np.where(truth["classes"] == 1, 1, 2).astype(np.uint8)
    score = lambda seg: ((seg == 1) & (cls == 1)).sum() / ((seg == 1) | (cls == 1)).sum()  # noqa: E731
    return img, cls, ["Nucleus", "Background"], NUCLEI_FEATURES, score


def imc_scene(seed):
    raw, truth = pc.datasets.imc((300, 300), n_channels=16, seed=seed)
    prepared = pc.preprocess.upscale(pc.preprocess.add_mean_channel(raw, scale=100), factor=2)
    (crop, (y0, x0)), = pc.preprocess.crops(prepared, size=500, n=1, seed=seed)
    cls = np.repeat(np.repeat(truth["classes"], 2, 0), 2, 1)[y0:y0 + 500, x0:x0 + 500]
    return crop, cls, ["Nucleus", "Cytoplasm", "Background"], IMC_FEATURES, None


def compare(make_scene, seeds, rounds):
    curves = {"suggested": [], "random": []}
    for seed in seeds:
        img, cls, classes, features, score = make_scene(seed)
        start = pc.datasets.scribbles(cls, n_strokes=2, seed=seed)
        for places in curves:
            p = pc.Project(classes, features=features, random_state=0)  # the default 100 trees, as a user has them
            p.set_labels(p.add_image(img), start)
            curves[places].append(label_rounds(p, 0, cls, rounds=rounds, places=places, seed=seed, score=score))
    return {k: np.array(v) for k, v in curves.items()}, default_box(features, img.shape_spatial)


def report(name, curves, box, marks):
    s, r = curves["suggested"], curves["random"]
    wins = int((s[:, -1] > r[:, -1]).sum())
    print(f"\n{name}: box {box} px, {len(s)} scenes; score after N strokes (mean; worst scene)")
    print("  places     " + "".join(f"{'N=' + str(n):>15s}" for n in marks))
    for k, c in curves.items():
        print(f"  {k:9s}  " + "".join(f"{c[:, n].mean():8.3f} ({c[:, n].min():.2f})" for n in marks))
    d = s[:, -1] - r[:, -1]
    print(f"  suggestions ahead after {marks[-1]} strokes in {wins} of {len(s)} scenes; "
          f"mean gain {d.mean():+.3f} (standard error {d.std(ddof=1) / np.sqrt(d.size):.3f}); "
          f"mean gain over strokes 1-{marks[-1]} {np.mean(s[:, 1:] - r[:, 1:]):+.3f}")


def cost():
    import statistics

    from _common import peak_rss_mb, reset_peak_rss
    from skimage.feature import multiscale_basic_features
    from skimage.future import predict_segmenter
    from sklearn.ensemble import RandomForestClassifier

    p = pc.Project(["Nucleus", "Cytoplasm", "Background"], features=IMC_FEATURES, n_estimators=100, random_state=0)
    for s in range(12):
        im, t = pc.datasets.imc((500, 500), n_channels=24, seed=s)
        i = p.add_image(pc.preprocess.add_mean_channel(im, 100))
        if s < 3:
            p.set_labels(i, pc.datasets.scribbles(t["classes"], n_strokes=3, seed=s))
    p.train()
    ours = []
    for _ in range(3):
        time.sleep(3)
        reset_peak_rss()
        t0 = time.perf_counter()
        boxes = suggest_boxes(p, 3)
        ours.append(time.perf_counter() - t0)
        ours_mb = peak_rss_mb()
    # the peer: features of every crop, a forest on the same labeled pixels, every crop's uncertainty
    feats = lambda im: multiscale_basic_features(im.data, channel_axis=-1, sigma_min=1, sigma_max=10)  # noqa: E731
    X, y = [], []
    for i in range(3):
        f, lab = feats(p.images[i]), p.labels(i)
        X.append(f[lab > 0]), y.append(lab[lab > 0])
    clf = RandomForestClassifier(100, n_jobs=-1, random_state=0).fit(np.concatenate(X), np.concatenate(y))
    peer = []
    reset_peak_rss()
    for i in range(12):
        time.sleep(3)
        t0 = time.perf_counter()
        f = feats(p.images[i])
        prob = clf.predict_proba(f.reshape(-1, f.shape[-1])).reshape(f.shape[:2] + (-1,))
        unc = 1 - prob.max(-1)
        peer.append(time.perf_counter() - t0)
        del f, prob, unc
    peer_mb = peak_rss_mb()
    m = statistics.median(ours)
    print(f"Suggest over 12 crops 500x500x25: median {m:.1f} s of {len(ours)} (min {min(ours):.1f}), peak {ours_mb:.0f} MB;"
          f" boxes {boxes}")
    print(f"skimage features + sklearn forest, uncertainty of every crop: {sum(peer):.1f} s "
          f"({statistics.median(peer):.1f} s per crop), peak {peer_mb:.0f} MB; ratio {sum(peer) / m:.1f}x")


def main():
    if "--cost" in sys.argv:
        return cost()
    quick = "--quick" in sys.argv
    t0 = time.time()
    c, b = compare(lambda s: nuclei_scene(512, s), range(3 if quick else 8), 8)
    report("nuclei 512^2 x 2 channels, nucleus IoU", c, b, [0, 2, 4, 8])
    c, b = compare(lambda s: nuclei_scene(1024, s), range(2 if quick else 5), 8)
    report("nuclei 1024^2 x 2 channels, nucleus IoU", c, b, [0, 2, 4, 8])
    c, b = compare(imc_scene, range(2 if quick else 20), 6)
    report("IMC 500^2 crops x 17 channels (680 features), mean IoU of 3 classes", c, b, [0, 2, 4, 6])
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
