"""Brush strokes on the project's labels in any pane (xy, xz, yz), with undo and redo of whole strokes."""
from __future__ import annotations

import numpy as np

HISTORY = 50  # strokes kept for undo


def disk_offsets(radius):
    """Row and column offsets of the pixels of a disk of ``radius``."""
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    keep = yy**2 + xx**2 <= radius**2 + 1e-9
    return yy[keep], xx[keep]


def stroke_pixels(pts, radius, shape):
    """Pixels ``(rows, cols)`` inside ``shape`` covered by disks of ``radius`` along the polyline ``pts`` [(y, x)]."""
    dy, dx = disk_offsets(radius)
    centres = [pts[0]]
    for (y0, x0), (y1, x1) in zip(pts[:-1], pts[1:]):
        n = int(np.ceil(max(abs(y1 - y0), abs(x1 - x0)) / max(radius * 0.5, 0.5))) + 1
        centres += list(zip(np.linspace(y0, y1, n), np.linspace(x0, x1, n)))
    c = np.round(np.array(centres)).astype(np.int64)
    yy = (c[:, 0:1] + dy[None]).ravel()
    xx = (c[:, 1:2] + dx[None]).ravel()
    ok = (yy >= 0) & (yy < shape[0]) & (xx >= 0) & (xx < shape[1])
    return yy[ok], xx[ok]


PLANES = {"xy": ("x", "y"), "xz": ("x", "z"), "yz": ("y", "z")}  # a pane's (horizontal, vertical) axes


def plane_shape(img, plane):
    """(rows, columns) of ``plane`` of image ``img``: xy (y, x), xz (z, x), yz (z, y)."""
    shape = img.shape_spatial
    if plane == "xy":
        return shape[-2:]
    return (shape[0], shape[2]) if plane == "xz" else (shape[0], shape[1])


def box_key(app, plane, rows, cols):
    """The index (ints and slices) of the box around pixels ``rows``, ``cols`` of ``plane`` of ``app``'s image."""
    box = (slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1))
    if app.image.ndim_spatial == 2:
        return box
    z, y, x = app.cursor
    return {"xy": (app.z,) + box, "xz": (box[0], y, box[1]), "yz": box + (x,)}[plane]


def check_stroke(app, points, k, radius, image=None, z=None, plane="xy"):
    """``(points (n, 2) float, radius, k)`` of a scripted stroke, or ``ValueError`` naming the bad value.

    An image index, slice, class or radius out of range (radius 1..512), an unknown plane, or a
    point outside the pane's plane is refused before anything changes.
    """
    n_img = len(app.project.images)
    if image is not None and not (isinstance(image, (int, np.integer)) and 0 <= image < n_img):
        raise ValueError(f"image {image!r} does not exist: the project has {n_img} images (0..{n_img - 1})")
    img = app.project.images[app.image_index if image is None else int(image)]
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        raise ValueError(f"radius {radius!r} is not a number") from None
    if not 1 <= radius <= 512:
        raise ValueError(f"radius {radius!r} is outside 1..512 pixels")
    k = app.project.label_value(k)
    if plane not in PLANES:
        raise ValueError(f"plane {plane!r} is not one of {', '.join(PLANES)}")
    if plane != "xy" and img.ndim_spatial != 3:
        raise ValueError(f"plane {plane!r} needs a volume; image {img.name!r} is 2D")
    pts = np.asarray(points, float).reshape(-1, 2) if len(points) else np.zeros((0, 2))
    if not len(pts):
        raise ValueError("a stroke needs at least one point [(x, y), ...]")
    h, w = plane_shape(img, plane)
    inside = np.isfinite(pts).all(1) & (pts >= 0).all(1) & (pts[:, 0] <= w - 1) & (pts[:, 1] <= h - 1)
    if not inside.all():
        bad = tuple(float(c) for c in pts[np.flatnonzero(~inside)[0]])
        where = f"image {img.name!r}" if plane == "xy" else f"the {plane} plane of image {img.name!r}"
        raise ValueError(f"point ({', '.join(PLANES[plane])}) = {bad} lies outside {where} of {w} x {h} pixels")
    if z not in (None, 0) and img.ndim_spatial != 3:
        raise ValueError(f"z {z!r} is for volumes; image {img.name!r} is 2D")
    if z is not None and img.ndim_spatial == 3 and not (
            isinstance(z, (int, np.integer)) and 0 <= z < img.shape_spatial[0]):
        raise ValueError(f"z {z!r} is outside 0..{img.shape_spatial[0] - 1} of image {img.name!r}")
    return pts, radius, k


class Painter:
    """Paints ``app``'s current image in one of its panes; a stroke is one undo step.

    A stroke keeps, for undo, the labels of the box around each of its segments as they were
    before it: the labels it can change, not a whole plane (a plane of an 8192^2 image is 64 MB,
    and 50 strokes are kept).
    """

    def __init__(self, app):
        self.app = app
        self.undo_stack = []
        self.redo_stack = []
        self._before = None  # [(box, labels there before the segment)] of the stroke being painted
        self.plane = "xy"
        self.numbering = app.project.numbering  # the label numbering the history was kept in

    def _history_valid(self):
        """Whether the history's labels mean what they did; a class removed (even by a script) clears it."""
        if self.app.project.numbering == self.numbering:
            return True
        self.clear()
        return False

    def begin(self, plane="xy"):
        """Start a stroke on ``plane``."""
        self.plane = plane
        self._before = []

    def segment(self, pts, k, radius, plane=None):
        """Stamp a disk of ``radius`` along ``pts`` [(row, column), ...] of the pane's plane with class ``k``.

        Rows and columns are the plane's: (y, x) on xy, (z, x) on xz, (z, y) on yz; 0 erases.
        """
        a = self.app
        plane = plane or self.plane
        n = len(a.project.classes)
        if not 0 <= k <= n:
            raise ValueError(f"class {k} does not exist (0 erases, 1..{n} are classes)")
        rr, cc = stroke_pixels(pts, radius, plane_shape(a.image, plane))
        if self._before is not None and rr.size:
            key = box_key(a, plane, rr, cc)
            self._before.append((key, np.array(a.project.labels(a.image_index)[key])))
        if a.image.ndim_spatial == 2:
            index = (rr, cc)
        else:
            z, y, x = a.cursor
            index = {"xy": lambda: (np.full(rr.size, a.z), rr, cc), "xz": lambda: (rr, np.full(rr.size, y), cc),
                     "yz": lambda: (rr, cc, np.full(rr.size, x))}[plane]()
        a.project.paint_pixels(a.image_index, index, k)
        if plane == "xy":
            a.canvas_view.draw_segment(pts, k, radius)  # immediate feedback in the browser
        else:
            a.ortho.panes[plane].draw_labels()

    def end(self):
        """End a stroke: push it on the undo stack and retrain."""
        a = self.app
        if self._before is not None:
            self._history_valid()
            self.undo_stack.append((a.image_index, self._before))
            del self.undo_stack[:-HISTORY]
            self.redo_stack.clear()  # a new stroke ends the redo history, as in every editor
            self._before = None
            a.ortho.draw_labels()  # a stroke on one pane crosses the others
            if self.plane != "xy":
                a.canvas_view.draw_labels()
        a.live.labels_edited()

    def clear(self):
        """Forget the undo and redo history."""
        self.undo_stack.clear()
        self.redo_stack.clear()
        self.numbering = self.app.project.numbering

    def undo(self):
        """Undo the last stroke; False when there is none."""
        return self._swap(self.undo_stack, self.redo_stack, "undo")

    def redo(self):
        """Redo the last undone stroke; False when there is none."""
        return self._swap(self.redo_stack, self.undo_stack, "redo")

    def _swap(self, src, dst, verb):
        """Restore the label boxes saved on ``src``; save what they replace on ``dst``."""
        a = self.app
        with a.project.lock:  # one step for training: it never sees half a stroke
            if not self._history_valid():
                a.status = f"nothing to {verb}: a class was removed, so the labels undo kept mean other classes now"
                return False
            if not src:
                a.status = f"nothing to {verb}"
                return False
            i, saved = src.pop()
            lab = a.project.labels(i)
            dst.append((i, [(key, np.array(lab[key])) for key, _ in saved]))  # all read before any is put back
            for key, values in reversed(saved):  # a later segment's box saw the earlier segments painted
                a.project.replace_labels(i, values, where=key)
        if i == a.image_index:
            a.canvas_view.draw_labels()
            a.ortho.draw_labels()
        a.live.labels_edited()
        return True
