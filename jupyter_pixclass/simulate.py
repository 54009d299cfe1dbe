"""A simulated person labeling: where they look, what they paint, how the classifier improves.

For scripts and notebooks that compare ways of choosing where to label (the app's suggestions
against random places) with the ground truth of a synthetic scene.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .outputs.results import uncertainty_from
from .suggest import default_box, suggest_boxes

__all__ = ["annotate_box", "annotate_classes", "correction_strokes", "correct", "label_rounds", "mean_iou",
           "random_unlabeled_box"]


def _checked(project, i, classes):
    """Image index ``i`` and the true ``classes`` as an array, or a clear error naming the mismatch."""
    i = project.image_index(i)
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
    yy, xx = _stroke_at(truth, y, x, length, radius)
    index = (yy, xx) if z is None else (np.full(yy.size, z), yy, xx)
    project.paint_pixels(i, index, k)
    return k


def annotate_classes(project, i, box, classes, n_classes=2, length=15, radius=1, z=None):
    """What a person who paints the main classes inside ``box`` does: one stroke through each.

    A second simulated annotator (besides :func:`annotate_box`'s, who fixes a mistake): it
    looks at the true classes, not at the overlay, and paints one stroke through the middle
    (the pixel farthest from another class) of each of the ``n_classes`` classes covering most
    of the box. Returns the classes painted, most frequent first.
    """
    i, classes = _checked(project, i, classes)
    y0, x0, y1, x1 = (int(v) for v in box)
    truth = classes if z is None else classes[z]
    inside = truth[y0:y1, x0:x1]
    if inside.size == 0:
        raise ValueError(f"box {tuple(box)} (y0, x0, y1, x1) holds no pixel of image {i}")
    counts = np.bincount(inside.ravel(), minlength=2)
    counts[0] = 0
    painted = []
    for k in np.argsort(-counts, kind="stable")[:int(n_classes)]:
        if counts[k] == 0:
            break
        depth = ndi.distance_transform_edt(np.pad(inside == k, 1))[1:-1, 1:-1]
        dy, dx = np.unravel_index(int(np.argmax(depth)), depth.shape)
        yy, xx = _stroke_at(truth, y0 + int(dy), x0 + int(dx), length, radius)
        project.paint_pixels(i, (yy, xx) if z is None else (np.full(yy.size, z), yy, xx), int(k))
        painted.append(int(k))
    return painted


def _stroke_at(truth, y, x, length, radius):
    """Pixels of a horizontal stroke through (y, x): up to ``length`` long, ``radius`` thick, within one true class."""
    k = truth[y, x]
    xs_run = np.arange(max(0, x - length // 2), min(truth.shape[1], x + length // 2 + 1))
    yy, xx = np.meshgrid(np.arange(y - radius, y + radius + 1), xs_run, indexing="ij")
    keep = (yy >= 0) & (yy < truth.shape[0])
    yy, xx = yy[keep], xx[keep]
    same = truth[yy, xx] == k
    return yy[same], xx[same]


def correction_strokes(prob, classes, n=5, length=15, radius=1, labels=None):
    """Where a person corrects what a 2D overlay shows wrong: up to ``n`` strokes, largest mistake first.

    A person looking at the whole overlay fixes the biggest wrong regions first, one stroke
    each through its middle (the wrong pixel farthest from a right one).

    Parameters
    ----------
    prob : ndarray (H, W, K)
        Class probabilities of the image (class ``k`` in column ``k - 1``).
    classes : ndarray of int (H, W)
        True class per pixel, 0 = unknown (never painted, never counted wrong).
    n, length, radius : int
        Strokes, and each stroke's length and half thickness in pixels.
    labels : ndarray of int (H, W), optional
        Labels already painted: a wrong region that holds one is still painted (the forest has
        not learned it), but the stroke starts on an unlabeled pixel where there is one.

    Returns
    -------
    list of (rows, cols, k)
        Each stroke's pixels and its true class ``k``, biggest mistake first.
    """
    classes = np.asarray(classes)
    if prob.shape[:-1] != classes.shape or classes.ndim != 2:
        raise ValueError(f"probabilities of shape {prob.shape} do not match classes of shape {classes.shape} (2D)")
    wrong = (classes > 0) & (np.argmax(prob, -1) + 1 != classes)
    regions, count = ndi.label(wrong)
    if count == 0:
        return []
    sizes = np.bincount(regions.ravel())[1:]
    depth = ndi.distance_transform_edt(np.pad(wrong, 1))[1:-1, 1:-1]
    if labels is not None:  # an unlabeled start where there is one
        depth = depth + np.where(np.asarray(labels) > 0, 0.0, 0.5)
    boxes = ndi.find_objects(regions)
    out = []
    for r in np.argsort(-sizes, kind="stable")[:int(n)]:
        sl = boxes[r]
        d = np.where(regions[sl] == r + 1, depth[sl], -1.0)
        dy, dx = np.unravel_index(int(np.argmax(d)), d.shape)
        y, x = sl[0].start + int(dy), sl[1].start + int(dx)
        yy, xx = _stroke_at(classes, y, x, length, radius)
        out.append((yy, xx, int(classes[y, x])))
    return out


def correct(project, i, classes, n=5, length=15, radius=1, prob=None):
    """Paint :func:`correction_strokes` on 2D image ``i`` of ``project``: a round of corrections.

    ``prob``: the project's probabilities of image ``i`` when already at hand (else predicted).
    Returns the number of strokes painted (0 when the overlay shows nothing wrong).
    """
    i, classes = _checked(project, i, classes)
    prob = project.predict(i) if prob is None else prob
    strokes = correction_strokes(prob, classes, n, length, radius, labels=project.labels(i))
    for yy, xx, k in strokes:
        project.paint_pixels(i, (yy, xx), k)
    return len(strokes)


def random_unlabeled_box(rng, labels, b, tries=200):
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
            place = random_unlabeled_box(rng, project.labels(i) if z is None else project.labels(i)[z], b)
        annotate_box(project, i, place, classes, at="mistake", z=z, prob=prob)
        project.train()
        prob, now = predicted()
        out.append(now)
    return out
