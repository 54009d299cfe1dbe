"""Tuning the feature set: cross-validation of a candidate on the labels, grouped by place."""
from __future__ import annotations

import time

import numpy as np

from ..features.compute import compute_features
from ..forest.train import train_forest

__all__ = ["cross_validate"]


def cross_validate(project, features=None, folds=5, n_estimators=None):
    """Score a candidate FeatureSet on ``project``'s labels without changing the project.

    Labeled pixels are grouped spatially (connected strokes; strokes larger than 32 px
    split into 32-px tiles) and whole groups are held out, so neighbouring pixels of one
    stroke are never in train and test at once.

    Returns
    -------
    dict with ``accuracy`` (mean), ``std``, ``scores`` (per fold), ``balanced_accuracy``,
    ``n_features``, ``feature_seconds`` (time to compute the labeled pixels' features) and
    ``seconds_per_megapixel`` (what the candidate costs per million pixels, measured on a
    tile of the first image: the cost of applying it to whole images).
    """
    from sklearn.model_selection import GroupKFold

    fs = features or project.features
    t0 = time.perf_counter()
    X, y, groups, keys = project.training_data(fs, with_groups=True, with_keys=True)
    t_feat = time.perf_counter() - t0
    n_groups = np.unique(groups).size
    folds = min(folds, n_groups)
    if folds < 2:
        raise ValueError("cross-validation needs labels in at least two separate places")
    scores, bal = [], []
    for tr, te in GroupKFold(n_splits=folds).split(X, y, groups):
        if np.unique(y[tr]).size < 2:
            continue
        forest, classes = train_forest(X[tr], y[tr], n_estimators or project.n_estimators, project.random_state,
                                       class_weight=project.class_weight, keys=keys[tr])
        pred = classes[np.argmax(forest.predict_proba(X[te]), axis=1)]
        scores.append(float((pred == y[te]).mean()))
        bal.append(float(np.mean([(pred[y[te] == c] == c).mean() for c in np.unique(y[te])])))
    n_ch = project.images[0].n_channels
    img = project.images[0]
    tile = tuple(slice(0, min(n, 256)) for n in img.shape_spatial)
    sample = img.data[tile]
    t0 = time.perf_counter()
    compute_features(sample, fs)
    per_mp = (time.perf_counter() - t0) / (sample[..., 0].size / 1e6)
    return {
        "accuracy": float(np.mean(scores)), "std": float(np.std(scores)), "scores": scores,
        "balanced_accuracy": float(np.mean(bal)),
        "n_features": fs.n_features_for(n_ch, project.images[0].ndim_spatial),
        "feature_seconds": t_feat, "seconds_per_megapixel": per_mp,
    }
