"""Where to label next: following the app's suggestions against labeling at random places.

A simulated person (``pc.simulate.label_rounds``) starts from two scribbles per class and paints one
short stroke per round through what the overlay shows wrong, then retrains. Strategy "suggested"
looks only at the first box ``suggest_boxes`` proposes; "random" at a box of the same size at a
random place. Same scenes, same starting scribbles, same annotator, same number of strokes.
Scores: nucleus IoU (nuclei scenes) or mean IoU over nucleus / cytoplasm / background (IMC crops
prepared as steinbock does: mean channel x100, x2 upscale, 500x500). Accuracy only, no timing.

Run: python benchmarks/bench_suggest.py [--quick]
"""
import sys
import time

import numpy as np

import jupyter_pixclass as pc
from jupyter_pixclass.simulate import label_rounds
from jupyter_pixclass.suggest import default_box

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
            p = pc.Project(classes, features=features, n_estimators=50, random_state=0)
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
    print(f"  suggestions ahead after {marks[-1]} strokes in {wins} of {len(s)} scenes; "
          f"mean gain {np.mean(s[:, -1] - r[:, -1]):+.3f}")


def main():
    quick = "--quick" in sys.argv
    t0 = time.time()
    c, b = compare(lambda s: nuclei_scene(512, s), range(3 if quick else 8), 8)
    report("nuclei 512^2 x 2 channels, nucleus IoU", c, b, [0, 2, 4, 8])
    c, b = compare(lambda s: nuclei_scene(1024, s), range(2 if quick else 5), 8)
    report("nuclei 1024^2 x 2 channels, nucleus IoU", c, b, [0, 2, 4, 8])
    c, b = compare(imc_scene, range(2 if quick else 10), 6)
    report("IMC 500^2 crops x 17 channels (680 features), mean IoU of 3 classes", c, b, [0, 2, 4, 6])
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
