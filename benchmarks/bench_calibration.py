"""Calibration under imbalanced labels: Brier score and log loss on held-out pixels, ours vs scikit-learn.

Three 256x256 nuclei scenes (seeds 100-102, noise 0.15), features sigma 1 and 3.5; labeled pixels drawn at
random, 7:1 and 27:1 background to nucleus; both forests (100 trees, random_state 0) on the same features and
labels; scored on every other pixel. Accuracy only, no timing.

Run: python benchmarks/bench_calibration.py
"""
import numpy as np

import jupyter_pixclass as pc
from jupyter_pixclass.forest import train_forest


def main():
    fs = pc.FeatureSet(sigmas=[1.0, 3.5])
    for n_nuc, n_bg in ((400, 2800), (300, 8000)):
        print(f"{n_bg / n_nuc:.1f}:1 background:nucleus labels")
        for seed in range(3):
            img, truth = pc.datasets.nuclei((256, 256), seed=100 + seed, noise=0.15)
            y = np.where(truth["classes"] == 1, 1, 2).ravel()
            F = pc.compute_features(img, fs).reshape(y.size, -1)
            rng = np.random.default_rng(seed)
            tr = np.concatenate([rng.choice(np.flatnonzero(y == 1), n_nuc, replace=False),
                                 rng.choice(np.flatnonzero(y == 2), n_bg, replace=False)])
            te = np.setdiff1d(np.arange(y.size), tr)
            row = []
            for m in ("binned", "sklearn"):
                # ours draws each labeled pixel by its place in the image, as Project.train does
                f, c = train_forest(F[tr], y[tr], 100, 0, method=m, **({"keys": tr} if m == "binned" else {}))
                P = f.predict_proba_fm(np.ascontiguousarray(F[te].T))
                onehot = (y[te][:, None] == c[None, :]).astype(float)
                brier = ((P - onehot) ** 2).sum(1).mean() / 2
                ll = -np.log(np.clip((P * onehot).sum(1), 1e-3, 1)).mean()
                row.append(f"{m}: Brier {brier:.4f}, log loss {ll:.4f}")
            print(f"  scene {100 + seed}: " + "; ".join(row))


if __name__ == "__main__":
    main()
