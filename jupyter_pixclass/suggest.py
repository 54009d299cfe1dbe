"""Where to label next: the brightest windows of the uncertainty overlay, away from labels, spread out.

Plain functions over a Project, used by the app's Suggest button and by scripts. On held-out
scenes no scoring we tried (expected error, expected error without the thin bands along class
borders) beat going where the uncertainty overlay is brightest, and none beat random boxes by
0.03 IoU (benchmarks/RESULTS.md, "Where to label next"); so Suggest is that overlay's best windows,
found for the person on every image at once.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

from .engine.chunked_labels import painted_regions
from .engine.view_features import ViewFeatures
from .outputs.results import uncertainty_from

__all__ = ["suggest_boxes", "Suggestion", "probability_grid", "default_box", "boundary_free"]

class Suggestion(NamedTuple):
    """Where to label next (:func:`suggest_boxes`): the ``image`` index, the slice ``z`` of a volume (else None)
    and the ``box`` ``(y0, x0, y1, x1)`` in image pixels."""

    image: int
    z: object
    box: tuple


GRID_POINTS = 256  # points per side of the sampled grid each image is scored on
BAND = 6  # image pixels: uncertain bands up to about this wide are class borders (boundary_free)


def probability_grid(project, i, z=None, points=GRID_POINTS):
    """Class probabilities on a sampled grid of image ``i``: ``(grid (rows, cols, K), step)``.

    Predicts at most ``points`` x ``points`` pixels through the tile engine (only their
    rows' features), so it costs about as much as a zoomed-out view.
    """
    H, W = project.images[i].shape_spatial[-2:]
    step = max(1, int(np.ceil(max(H, W) / points)))
    return _predicted(project, i, np.arange(0, H, step), np.arange(0, W, step), z), step


def _predicted(project, i, rows, cols, z=None):
    """Class probabilities ``(rows, cols, K)`` at the crossings of ``rows`` and ``cols`` of image ``i``."""
    vf = ViewFeatures(project.engine, project.images[i], project.features, rows, cols, z=z)
    prob = np.zeros((rows.size, cols.size, project.forest.n_classes), np.float32)
    for k in range(len(vf)):
        _, ry, rx = vf.pieces[k]
        prob[ry, rx] = vf.predict(project.forest, k)
    return prob


def _labeled_cells(lab, step):
    """Whether any pixel of each ``step`` x ``step`` cell of 2D labels ``lab`` is labeled: a thin stroke between
    grid points counts. Labels kept in chunks (a lazy image's) are read where painted, never whole."""
    out = np.zeros((-(-lab.shape[0] // step), -(-lab.shape[1] // step)), bool)
    for r in painted_regions(lab):
        ys, xs = np.nonzero(lab[r])
        out[(ys + r[0].start) // step, (xs + r[1].start) // step] = True
    return out


def _best_boxes(score, n, b, step, shape):
    """Up to ``n`` non-overlapping boxes of side ``b`` with the best ``score`` (grid of ``step``): [(score, box)]."""
    H, W = shape
    cells = max(1, b // step)
    out = []
    while len(out) < n:
        best = float(score.max())
        if best < 0:
            break
        r, c = np.unravel_index(int(np.argmax(score)), score.shape)
        y0 = int(np.clip(r * step - b // 2, 0, max(H - b, 0)))
        x0 = int(np.clip(c * step - b // 2, 0, max(W - b, 0)))
        out.append((best, (y0, x0, min(y0 + b, H), min(x0 + b, W))))
        score[max(0, r - 2 * cells):r + 2 * cells + 1, max(0, c - 2 * cells):c + 2 * cells + 1] = -1.0
    return out


def boundary_free(err, step, band=BAND):
    """Expected error ``err`` (grid of spacing ``step`` pixels) without thin uncertain bands.

    Every border between two classes is a band a few pixels wide where the forest is unsure
    whatever it is taught; in crowded tissue those bands fill any box. A grey opening about
    ``band`` pixels wide removes them and keeps regions the forest is unsure about as a whole,
    where a stroke might teach something new. On a grid coarser than 4 pixels a cell a band is
    thinner than a cell and nothing is removed. Suggest does not use it: on held-out scenes it
    did not place boxes better than the plain uncertainty (benchmarks/RESULTS.md).
    """
    if not step > 0 or not band >= 0:
        raise ValueError(f"step={step}, band={band}: the grid step must be positive and the band not negative")
    cells = int(round(band / step))
    return ndi.grey_opening(err, size=cells) if cells > 1 else err


def default_box(features, shape):
    """Box side for suggestions: five times the largest feature scale, 32-128 pixels.

    The largest sigma is the scale of the objects the features were chosen for, so a box holds
    a few of them: small enough to point at one mistake. Boxes much larger than that leave
    little to suggest: a person looking at random places of that size found as much to fix
    (benchmarks/RESULTS.md, "Where to label next").
    """
    sigma = max((s for _, s in features.pairs), default=1.0)
    return int(min(128, max(32, round(5 * sigma)), min(shape[-2:])))


def suggest_boxes(project, n=3, box=None, z_of=None, progress=None, images=None):
    """The ``n`` windows where the uncertainty overlay is brightest, away from labels.

    Parameters
    ----------
    project : Project
        A project with labels (trained first if it has no forest).
    n : int
        How many boxes.
    box : int, optional
        Box side in image pixels; default :func:`default_box` of the project's features.
    z_of : callable, optional
        ``z_of(i)`` gives the slice to score for a 3D image ``i`` (default its middle).
    progress : callable, optional
        ``progress(k, n_images)`` before scoring the k-th image (0-based).
    images : list of int, optional
        Score only these images (default all).

    Returns
    -------
    list of Suggestion
        ``(image, z, box)``: the image index, its slice or None, ``(y0, x0, y1, x1)``; best first. Boxes maximise the mean of ilastik's uncertainty (1 - the difference of the
        two largest probabilities, the overlay key U shows) inside, hold no labeled pixel, and
        never overlap each other. Each image is scored on a grid of at most 256 x 256 points, so
        a suggestion costs about one zoomed-out view per image.
    """
    if int(n) < 0:
        raise ValueError(f"n={n}: the number of boxes cannot be negative")
    if box is not None and int(box) < 1:
        raise ValueError(f"box={box}: the box side must be at least 1 pixel")
    if project.forest is None:
        project.train()
    cands = []
    which = range(len(project.images)) if images is None else [project.image_index(i) for i in images]
    for k, i in enumerate(which):
        if progress is not None:
            progress(k, len(which))
        img = project.images[i]
        H, W = img.shape_spatial[-2:]
        b = int(box or default_box(project.features, (H, W)))
        z = None
        if img.ndim_spatial == 3:
            z = int(z_of(i)) if z_of is not None else img.shape_spatial[0] // 2
        prob, step = probability_grid(project, i, z)
        lab = project.labels(i) if z is None else project.labels(i)[z]
        cells = max(1, b // step)
        score = ndi.uniform_filter(uncertainty_from(prob), cells, mode="nearest")
        # a window holding a labeled pixel is ruled out: that place was taught already
        score[ndi.maximum_filter(_labeled_cells(lab, step).astype(np.uint8), cells + 2) > 0] = -1.0
        cands += [(sc, i, z, bx) for sc, bx in _best_boxes(score, int(n), b, step, (H, W))]
    cands.sort(key=lambda c: -c[0])  # stable: equal scores keep the images' order
    return [Suggestion(i, z, tuple(bx)) for _, i, z, bx in cands[:int(n)]]
