"""Where to label next, on held-out scenes: following Suggest, the uncertainty overlay's brightest windows, random boxes.

Scenes none of Suggest's settings were chosen on (nuclei seeds 33000-33007, 512 x 512, noise 0.08-0.20;
IMC crops seeds 34000-34007 prepared as steinbock does: mean channel x100, x2 upscale, 500 x 500).
From the same first scribbles (2 per class), 4 rounds; in each round a person looks at 3 boxes of
the default size, paints in each, and the forest (100 trees) is retrained. Places: "suggested"
(``suggest_boxes(n=3)``), "uncertainty map" (the 3 most uncertain non-overlapping windows of
ilastik's uncertainty, computed here from the full probability map, holding no label), "random"
(boxes holding no label). Two annotators: "mistake" (``simulate.annotate_box``: one stroke through
the biggest mistake in the box) and "classes" (``simulate.annotate_classes``: one stroke through each
of the two main true classes in the box). Same strokes per round for every strategy. Scores: nucleus
IoU, or mean IoU of nucleus / cytoplasm / background. Accuracy only, no timing.

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
from scipy import ndimage as ndi

from jupyter_pixclass.outputs.results import uncertainty_from
from jupyter_pixclass.simulate import annotate_box, annotate_classes, mean_iou, random_unlabeled_box
from jupyter_pixclass.suggest import default_box, suggest_boxes

NUCLEI_FEATURES = pc.FeatureSet(sigmas=[0.3, 1.0, 3.5, 5.0])  # notebook 01's choice
IMC_FEATURES = pc.FeatureSet.default().select(min_sigma=1.0)  # steinbock's: every family, sigma >= 1


def nuclei_scene(size, seed):
    img, truth = pc.datasets.nuclei((size, size), seed=seed, noise=0.08 + 0.12 * (seed % 8) / 7)
    cls = np.where(truth["classes"] == 1, 1, 2).astype(np.uint8)
    score = lambda seg: ((seg == 1) & (cls == 1)).sum() / ((seg == 1) | (cls == 1)).sum()  # noqa: E731
    return img, cls, ["Nucleus", "Background"], NUCLEI_FEATURES, score


def imc_scene(seed):
    raw, truth = pc.datasets.imc((300, 300), n_channels=16, seed=seed)
    prepared = pc.preprocess.upscale(pc.preprocess.add_mean_channel(raw, scale=100), factor=2)
    (crop, (y0, x0)), = pc.preprocess.crops(prepared, size=500, n=1, seed=seed)
    cls = np.repeat(np.repeat(truth["classes"], 2, 0), 2, 1)[y0:y0 + 500, x0:x0 + 500]
    return crop, cls, ["Nucleus", "Cytoplasm", "Background"], IMC_FEATURES, None


def uncertain_windows(prob, n, b, labels=None):
    """The ``n`` most uncertain ``b``-pixel windows of the uncertainty overlay, not overlapping.

    What a person reading the overlay (key U) does: go where it is brightest. ``labels``: leave
    out windows holding a labeled pixel (as Suggest and the random places do)."""
    score = ndi.uniform_filter(uncertainty_from(prob), b, mode="nearest")
    H, W = score.shape
    if labels is not None:
        score[ndi.maximum_filter((labels > 0).astype(np.uint8), b) > 0] = -1
    out = []
    while len(out) < n and score.max() >= 0:
        y, x = np.unravel_index(int(np.argmax(score)), score.shape)
        y0, x0 = int(np.clip(y - b // 2, 0, H - b)), int(np.clip(x - b // 2, 0, W - b))
        out.append((y0, x0, y0 + b, x0 + b))
        score[max(0, y - b):y + b, max(0, x - b):x + b] = -1
    return out


def held_out(make_scene, seeds, rounds=4, per_round=3):
    """Score per round for each (annotator, places): a person looks at ``per_round`` boxes a round."""
    out = {}
    for seed in seeds:
        img, cls, classes, features, score = make_scene(seed)
        score = score or (lambda seg: mean_iou(seg, cls))
        start = pc.datasets.scribbles(cls, n_strokes=2, seed=seed)
        for annotator in ("mistake", "classes"):
            for places in ("suggested", "uncertainty map", "random"):
                p = pc.Project(classes, features=features, random_state=0)
                p.set_labels(p.add_image(img), start)
                b = default_box(features, img.shape_spatial)
                rng = np.random.default_rng(seed)
                p.train()
                prob = p.predict(0)
                curve = [score(np.argmax(prob, -1) + 1)]
                for _ in range(rounds):
                    if places == "suggested":
                        boxes = [bx for _, _, bx in suggest_boxes(p, per_round, box=b)]
                    elif places == "uncertainty map":
                        boxes = uncertain_windows(prob, per_round, b)
                    else:
                        boxes = [random_unlabeled_box(rng, p.labels(0), b) for _ in range(per_round)]
                    for bx in boxes:
                        if annotator == "mistake":
                            annotate_box(p, 0, bx, cls, at="mistake", prob=prob)
                        else:
                            annotate_classes(p, 0, bx, cls)
                    p.train()
                    prob = p.predict(0)
                    curve.append(score(np.argmax(prob, -1) + 1))
                out.setdefault((annotator, places), []).append(curve)
        print(f"  scene {seed}: " + "; ".join(f"{a}/{pl} {c[-1][-1]:.3f}" for (a, pl), c in out.items()), flush=True)
    return {k: np.array(v) for k, v in out.items()}, b


def report(name, curves, box):
    n = next(iter(curves.values())).shape
    print(f"\n**{name}**: box {box} px, {n[0]} held-out scenes, {n[1] - 1} rounds of 3 boxes; "
          f"score after each round (mean over scenes)\n")
    print("| annotator | places | " + " | ".join(f"round {r}" for r in range(n[1])) +
          " | vs uncertainty map, last round: mean (scenes ahead) | vs random |")
    print("|---|---|" + "---|" * n[1] + "---|---|")
    for (annotator, places), c in curves.items():
        m, r = curves[(annotator, "uncertainty map")], curves[(annotator, "random")]
        dm, dr = c[:, -1] - m[:, -1], c[:, -1] - r[:, -1]
        print(f"| {annotator} | {places} | " + " | ".join(f"{v:.3f}" for v in c.mean(0)) +
              f" | {dm.mean():+.3f} ({int((dm > 0).sum())} of {len(dm)}) | {dr.mean():+.3f} ({int((dr > 0).sum())} of {len(dr)}) |")


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
    c, b = held_out(lambda s: nuclei_scene(512, s), range(33000, 33002 if quick else 33008))
    report("nuclei 512^2 x 2 channels, nucleus IoU", c, b)
    c, b = held_out(imc_scene, range(34000, 34001 if quick else 34008))
    report("IMC 500^2 crops x 17 channels (680 features), mean IoU of 3 classes", c, b)
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
