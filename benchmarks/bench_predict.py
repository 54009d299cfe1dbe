"""Cold prediction of a new 1024x1024 2-channel image, features included.

Ours (default set, 98 features, 100 trees, numba traversal) vs scikit-image's
multiscale_basic_features + predict_segmenter (its default features, a 100-tree
RandomForestClassifier, n_jobs=-1) trained on the same strokes, same run.
"""
import sys
from functools import partial

import numpy as np
from skimage.feature import multiscale_basic_features
from skimage.future import fit_segmenter, predict_segmenter
from sklearn.ensemble import RandomForestClassifier

import jupyter_pixclass as pc
from _common import machine, timeit


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


if __name__ == "__main__":
    sys.exit(main())
