"""A simulated person labeling: where they look, what they paint, how the classifier improves.

For scripts and notebooks that compare ways of choosing where to label (the app's suggestions
against random places) with the ground truth of a synthetic scene.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .project import uncertainty_from
from .suggest import default_box, suggest_boxes

__all__ = ["annotate_box", "label_rounds", "mean_iou"]


def _checked(project, i, classes):
    """Image index ``i`` and the true ``classes`` as an array, or a clear error naming the mismatch."""
    i = project._img_index(i)
    classes = np.asarray(classes)
    img = project.images[i]
    if classes.shape != img.shape_spatial:
        raise ValueError(f"classes of shape {classes.shape} do not match image {i} ({img.name!r}) "
                         f"of shape {img.shape_spatial}")
    return i, classes


def annotate_box(project, i, box, classes, at="mistake", length=15, radius=1, z=None, prob=None):
    """What a person paints inside ``box`` (y0, x0, y1, x1) of image ``i``: one short stroke.

    A simulated annotator for scripts comparing where to label (for example the app's
    suggestions against random places). ``at="mistake"``: like a person fixing what the overlay
    shows wrong there, through the middle of what the project's forest misclassifies according to
    the true ``classes`` (0 = unknown; the wrong pixel farthest from a right one), or its most
    uncertain pixel when none is wrong; ``at="centre"``:
    through the box's centre. The stroke is a horizontal run of up to ``length`` pixels of the
    true class there, ``radius`` thick, never crossing into another true class. ``prob``: the
    project's probabilities of image ``i`` when already at hand. Returns the class painted (0
    when nothing known was there).
    """
    i, classes = _checked(project, i, classes)
    y0, x0, y1, x1 = (int(v) for v in box)
    H, W = classes.shape[-2:]
    if not (0 <= y0 < y1 and 0 <= x0 < x1 and y0 < H and x0 < W):
        raise ValueError(f"box {tuple(box)} (y0, x0, y1, x1) holds no pixel of image {i} of {H} x {W} pixels")
    truth = classes if z is None else classes[z]
    y, x = (y0 + y1) // 2, (x0 + x1) // 2
    if at == "mistake":
        prob = project.predict(i) if prob is None else prob
        prob = (prob if z is None else prob[z])[y0:y1, x0:x1]
        known = truth[y0:y1, x0:x1] > 0
        wrong = known & (np.argmax(prob, -1) + 1 != truth[y0:y1, x0:x1])
        # a person paints through the middle of what is wrong, not along its edge
        depth = ndi.distance_transform_edt(np.pad(wrong, 1))[1:-1, 1:-1]
        score = np.where(wrong, 2.0 + depth, 0.0) + np.where(known, uncertainty_from(prob), -3.0)
        dy, dx = np.unravel_index(int(np.argmax(score)), score.shape)
        y, x = y0 + int(dy), x0 + int(dx)
    elif at != "centre":
        raise ValueError(f"at={at!r}: use 'mistake' or 'centre'")
    k = int(truth[y, x])
    if k == 0:
        return 0
    xs_run = np.arange(max(0, x - length // 2), min(truth.shape[1], x + length // 2 + 1))
    yy, xx = np.meshgrid(np.arange(y - radius, y + radius + 1), xs_run, indexing="ij")
    keep = (yy >= 0) & (yy < truth.shape[0])
    yy, xx = yy[keep], xx[keep]
    same = truth[yy, xx] == k
    yy, xx = yy[same], xx[same]
    index = (yy, xx) if z is None else (np.full(yy.size, z), yy, xx)
    project.paint_pixels(i, index, k)
    return k


def _random_unlabeled_box(rng, labels, b, tries=200):
    """A random ``b``-pixel box holding no labeled pixel, as suggestions never do (any box if none is found)."""
    H, W = labels.shape[-2:]
    for _ in range(tries):
        y, x = int(rng.integers(0, max(1, H - b + 1))), int(rng.integers(0, max(1, W - b + 1)))
        box = (y, x, min(y + b, H), min(x + b, W))
        if not labels[box[0]:box[2], box[1]:box[3]].any():
            return box
    return box


def mean_iou(segmentation, classes):
    """Mean over the true classes of intersection over union, on pixels whose class is known (> 0)."""
    known = classes > 0
    ks = np.unique(classes[known])
    return float(np.mean([((segmentation == k) & (classes == k)).sum() / ((segmentation == k) | (classes == k))[known].sum()
                          for k in ks]))


def label_rounds(project, i, classes, rounds=8, places="suggested", box=None, seed=0, score=None, z=None):
    """Label image ``i`` for ``rounds`` rounds as a person following a strategy would.

    Each round picks one place, paints one stroke there with :func:`annotate_box`
    (``at="mistake"``: through what the overlay shows wrong) and retrains.

    Parameters
    ----------
    project : Project
        With a few starting labels; it is changed in place.
    i : int
        The image.
    classes : ndarray of int
        True class per pixel (0 = unknown), numbered as the project's classes.
    rounds : int
        Strokes to paint, one per round.
    places : {"suggested", "random"}
        The app's first suggestion (:func:`~jupyter_pixclass.suggest.suggest_boxes`), or a box of
        the same size at a random place holding no labeled pixel (suggestions never hold one either).
    box : int, optional
        Box side; default that of the suggestions.
    seed : int
        Seed of the random places.
    score : callable, optional
        ``score(segmentation) -> float`` of image ``i`` (plane ``z``); default :func:`mean_iou`
        against ``classes``.
    z : int, optional
        The slice of a 3D image.

    Returns
    -------
    list of float
        The score before the first stroke and after each round.
    """
    if places not in ("suggested", "random"):
        raise ValueError(f"places={places!r}: use 'suggested' or 'random'")
    if int(rounds) < 0:
        raise ValueError(f"rounds={rounds}: the number of strokes cannot be negative")
    i, classes = _checked(project, i, classes)
    plane = (lambda a: a) if z is None else (lambda a: a[z])
    if score is None:
        def score(seg):
            return mean_iou(seg, plane(classes))

    def predicted():  # one prediction per round serves the score and the next stroke
        prob = project.predict(i)
        return prob, score(np.argmax(plane(prob), -1) + 1)
    H, W = project.images[i].shape_spatial[-2:]
    b = int(box or default_box(project.features, (H, W)))
    rng = np.random.default_rng(seed)
    if project.forest is None:
        project.train()
    prob, first = predicted()
    out = [first]
    for _ in range(int(rounds)):
        if places == "suggested":
            found = suggest_boxes(project, 1, box=b, z_of=None if z is None else (lambda _: z), images=[i])
            if not found:  # no unlabeled place left
                break
            place = found[0][2]
        else:
            place = _random_unlabeled_box(rng, project.labels(i) if z is None else project.labels(i)[z], b)
        annotate_box(project, i, place, classes, at="mistake", z=z, prob=prob)
        project.train()
        prob, now = predicted()
        out.append(now)
    return out
