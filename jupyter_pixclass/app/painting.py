"""Brush strokes on the project's labels, with undo and redo of whole strokes."""
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


class Painter:
    """Paints ``app``'s current image/slice; a stroke is one undo step (the plane before it is kept)."""

    def __init__(self, app):
        self.app = app
        self.undo_stack = []
        self.redo_stack = []
        self._before = None

    def begin(self):
        """Start a stroke: remember the plane for undo."""
        a = self.app
        self._before = a.plane(a.project.labels(a.image_index)).copy()

    def segment(self, pts, k, radius):
        """Stamp a disk of ``radius`` along ``pts`` [(y, x), ...] in image pixels with class ``k`` (0 erases)."""
        a = self.app
        n = len(a.project.classes)
        if not 0 <= k <= n:
            raise ValueError(f"class {k} does not exist (0 erases, 1..{n} are classes)")
        yy, xx = stroke_pixels(pts, radius, a.image.shape_spatial[-2:])
        index = (yy, xx) if a.image.ndim_spatial == 2 else (np.full(yy.size, a.z), yy, xx)
        a.project.paint_pixels(a.image_index, index, k)
        a.canvas_view.draw_segment(pts, k, radius)  # immediate feedback in the browser

    def end(self):
        """End a stroke: push it on the undo stack and retrain."""
        a = self.app
        if self._before is not None:
            self.undo_stack.append((a.image_index, a.z if a.image.ndim_spatial == 3 else None, self._before))
            del self.undo_stack[:-HISTORY]
            self.redo_stack.clear()  # a new stroke ends the redo history, as in every editor
            self._before = None
        a.live.labels_edited()

    def clear(self):
        """Forget the undo and redo history."""
        self.undo_stack.clear()
        self.redo_stack.clear()

    def undo(self):
        """Undo the last stroke; False when there is none."""
        return self._swap(self.undo_stack, self.redo_stack, "undo")

    def redo(self):
        """Redo the last undone stroke; False when there is none."""
        return self._swap(self.redo_stack, self.undo_stack, "redo")

    def _swap(self, src, dst, verb):
        """Restore the label plane saved on ``src``; save what it replaces on ``dst``."""
        a = self.app
        if not src:
            a.status = f"nothing to {verb}"
            return False
        i, z, saved = src.pop()
        dst.append((i, z, a.project.replace_labels(i, saved, z)))
        if i == a.image_index:
            a.canvas_view.draw_labels()
        a.live.labels_edited()
        return True
