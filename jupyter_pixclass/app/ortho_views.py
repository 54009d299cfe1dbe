"""Orthogonal views of a volume, as in ilastik: xz and yz panes through ``app.cursor`` below the xy canvas.

Each pane follows the xy view's zoom and pan along its horizontal axis (x for xz, y for yz) and
draws planes ``aspect`` = z spacing / in-plane spacing display rows apart, so a volume with
planes 4 µm apart and 1 µm pixels looks as it is. Live Update predicts the panes after the xy
view (:class:`.PlaneFeatures`: 3D features of the shown voxels only, never the volume).
"""
from __future__ import annotations

import ipywidgets as W
import numpy as np
from ipycanvas import MultiCanvas

from ..engine.plane_features import PANE_AXES, PlaneFeatures
from . import render
from .canvas_view import CURSOR, IMAGE, LABELS, MARKS, draw_crosshair, put_encoded, section_pixels
from .mouse import Mouse
from .view_prediction import ViewPrediction

__all__ = ["OrthoViews", "OrthoPane", "PanePrediction"]

MIN_HEIGHT = 96  # display rows: a pane thinner than this is hard to paint on


class PanePrediction(ViewPrediction):
    """Probabilities of what one orthogonal pane shows (a :class:`.ViewPrediction` of its plane)."""

    def __init__(self, app, pane):
        super().__init__(app)
        self.pane = pane

    def view(self):
        """The pane's view of its plane."""
        return self.pane.view()

    def key(self):
        """What the pane shows: image, plane, position, origin, scales, size and features."""
        a, v = self.app, self.view()
        return (a.image_index, self.pane.plane, self.pane.position(), v.origin, v.scale, v.aspect, v.size,
                a.project.features.key())

    def make_features(self, rows, cols, key):
        """Features of the shown voxels: planes ``rows`` by columns (xz) or rows (yz) ``cols``."""
        a = self.app
        return PlaneFeatures(a.project.engine, a.image, a.project.features, self.pane.plane, self.pane.position(),
                             rows, cols)

    def draw(self):
        """Draw the pane."""
        self.pane.draw()


class OrthoPane:
    """The ``plane`` ("xz" or "yz") through the cursor: a four-layer canvas like the xy one."""

    def __init__(self, app, plane, height):
        self.app, self.plane = app, plane
        self.axis, _, self.h_axis = PANE_AXES[plane]
        width = app.canvas_size[1] if plane == "xz" else app.canvas_size[0]  # the xy view's x (y) span
        self.size = (int(height), int(width))
        self.canvas = MultiCanvas(4, width=self.size[1], height=self.size[0],
                                  layout=W.Layout(width=f"{self.size[1]}px", height=f"{self.size[0]}px"))
        self.canvas.add_class("pixclass-canvas")
        self.canvas.add_class(f"pixclass-pane-{plane}")
        self.caption = W.HTML()
        self.prediction = PanePrediction(app, self)
        self.mouse = Mouse(app, self)
        self.keys = app.keyboard.attach(self.canvas, plane)
        self._top = 0.0  # first plane shown (moves only when the cursor's plane leaves the pane)
        self._comp_key = self._comp = self._inside = None

    def resize(self, height):
        """Make the pane ``height`` display rows tall (a new volume; a third of the canvas left planes of a thin
        stack above a black band)."""
        if int(height) == self.size[0]:
            return
        self.size = (int(height), self.size[1])
        self.canvas.height = self.size[0]
        self.canvas.layout.height = f"{self.size[0]}px"
        self._top, self._comp_key = 0.0, None
        self.prediction.reset()

    def position(self):
        """The fixed coordinate: the cursor's y (xz) or x (yz)."""
        return int(self.app.cursor[self.axis])

    def view(self):
        """A :class:`render.View` of the plane (rows: z; columns: x or y) at the xy view's zoom."""
        a = self.app
        img = a.image
        shape, sp = img.shape_spatial, img.spacing
        xy = a.view
        h_origin = xy.origin[1] if self.plane == "xz" else xy.origin[0]
        v = render.View((shape[0], shape[self.h_axis]), self.size, origin=(self._top, h_origin), scale=xy.scale,
                        aspect=sp[0] / sp[self.h_axis])
        shown = self.size[0] / v.scales[0]  # planes the pane has room for
        z = a.cursor[0]
        if shown >= shape[0]:
            top = 0.0
        elif not (self._top <= z and z + 1 <= self._top + shown):
            top = float(np.clip(z + 0.5 - shown / 2, 0, shape[0] - shown))
        else:
            top = self._top
        self._top = top
        v.origin = (top, h_origin)
        return v

    def to_voxel(self, row, col):
        """The voxel (z, y, x) at the pane's image position (``row``, ``col``), the rest from the cursor."""
        z, y, x = self.app.cursor
        return (row, y, col) if self.plane == "xz" else (row, col, x)

    def _plane_index(self):
        return (slice(None),) * self.axis + (self.position(),)

    def draw(self):
        """Draw the plane's image composite and the overlay."""
        a = self.app
        if not a.ortho.visible() or not a.canvas_view.ready:
            return
        v = self.view()
        chans, limits, colors = a.canvas_view.channel_style()
        key = (a.image.uid, self.position(), v.origin, v.scale, v.aspect, tuple(chans), limits, colors)
        if self._comp_key != key:
            ys, xs, _, _ = v.indices()
            data = section_pixels(a.image, self.axis, self.position(), ys, xs, chans, v.scales)
            self._inside = v.inside()[..., None]
            self._comp = render.composite(data, limits, colors) * self._inside
            self._comp_key = key
        rgb = a.canvas_view.with_overlay(self._comp, self.prediction.probabilities(), self._inside)
        with a.canvas_view.lock:
            put_encoded(self.canvas[IMAGE], rgb, fmt="jpeg")
        self.caption.value = (f"<small>{self.plane} through {'y' if self.plane == 'xz' else 'x'} = "
                              f"{self.position()}</small>")  # numbers only: no name of a file here

    def draw_labels(self):
        """Draw the labels of the plane."""
        a = self.app
        if not a.ortho.visible() or not a.canvas_view.ready:
            return
        v = self.view()
        with a.canvas_view.lock:
            layer = self.canvas[LABELS]
            layer.clear()
            if not a.show_labels:
                return
            lab = np.asarray(a.project.labels(a.image_index)[self._plane_index()])
            lab = np.where(v.inside(), v.sample(lab), 0)
            if lab.any():
                put_encoded(layer, render.labels_rgba(lab, a.project.colors, a.labels_opacity), fmt="png")

    def draw_marks(self):
        """The cursor's lines: its plane (z) across, its x (xz) or y (yz) down."""
        a = self.app
        if not a.ortho.visible():
            return
        z, y, x = a.cursor
        with a.canvas_view.lock:
            layer = self.canvas[MARKS]
            layer.clear()
            draw_crosshair(layer, self.view().to_display(z + 0.5, (x if self.plane == "xz" else y) + 0.5), self.size)

    def draw_cursor(self, y, x):
        """The brush outline at display (``y``, ``x``)."""
        a = self.app
        with a.canvas_view.lock:
            layer = self.canvas[CURSOR]
            layer.clear()
            if a.tool in ("brush", "eraser"):
                layer.stroke_style = "#ffffff" if a.tool == "brush" else "#ff4040"
                layer.line_width = 1
                layer.stroke_circle(x, y, max(2.0, (a.brush_size + 0.5) * self.view().scale))

    def clear_cursor(self):
        """Remove the brush outline."""
        with self.app.canvas_view.lock:
            self.canvas[CURSOR].clear()

    def draw_segment(self, pts, k, radius):
        """Feedback for a brush segment: the plane's labels drawn again (a pane is small)."""
        self.draw_labels()


class OrthoViews(W.VBox):
    """The xz and yz panes of ``app``; shown while ``app.orthoviews`` is on and the image is a volume."""

    def __init__(self, app):
        self.app = app
        height = max(MIN_HEIGHT, app.canvas_size[0] // 3)
        self.panes = {p: OrthoPane(app, p, height) for p in ("xz", "yz")}
        super().__init__([w for p in self.panes.values() for w in (p.caption, p.canvas)])
        self.add_class("pixclass-orthoviews")

    def visible(self):
        """Whether the panes are shown."""
        a = self.app
        return bool(a.orthoviews) and a.image.ndim_spatial == 3

    def height(self):
        """The panes' height for the current volume: its planes at the xy view's fit zoom (and their aspect),
        within ``MIN_HEIGHT`` and a third of the canvas (beyond it a pane scrolls with the cursor's plane)."""
        a = self.app
        cap = max(MIN_HEIGHT, a.canvas_size[0] // 3)
        shape, sp = a.image.shape_spatial, a.image.spacing
        fit = min(a.canvas_size[0] / shape[1], a.canvas_size[1] / shape[2])
        need = max(shape[0] * sp[0] / sp[p.h_axis] for p in self.panes.values()) * fit
        return int(np.clip(np.ceil(need), MIN_HEIGHT, cap))

    def show(self):
        """Show or hide the panes as ``visible()`` says, sized to the volume, and draw them."""
        self.layout.display = None if self.visible() else "none"
        if self.visible():
            h = self.height()
            for p in self.panes.values():
                p.resize(h)
        self.draw_all()

    def predictions(self):
        """The panes' :class:`PanePrediction` objects while shown, else none."""
        return [p.prediction for p in self.panes.values()] if self.visible() else []

    def reset(self):
        """Forget the panes' probabilities (classes or features changed)."""
        for p in self.panes.values():
            p.prediction.reset()

    def draw(self):
        """Draw every pane's image and overlay."""
        for p in self.panes.values():
            p.draw()

    def draw_labels(self):
        """Draw every pane's labels."""
        for p in self.panes.values():
            p.draw_labels()

    def draw_all(self):
        """Draw every layer of every pane."""
        for p in self.panes.values():
            p.draw()
            p.draw_labels()
            p.draw_marks()
