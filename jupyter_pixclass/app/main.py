"""PixelClassifierApp: ilastik's training view in a notebook cell, composed of small components.

View state only (zoom, slice, channel display, brush, overlay) lives here as traits; the truth
(images, labels, classes, forest) lives in the Project, so code and widget see one object.
"""
from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
import traitlets as T

from ..suggest import suggest_boxes
from . import render
from .canvas_view import CanvasView, check_canvas_size
from .channels import ChannelControls
from .export_panel import ExportPanel
from .feature_grid import FeatureGrid
from .keyboard import Keyboard
from .live_updater import LiveUpdater
from .mouse import Mouse
from .navigation import Navigation
from .ortho_views import OrthoViews
from .overlays import OverlayControls
from .painting import Painter, check_stroke
from .palette import ClassPalette
from .progress import ProgressPanel
from .style import style_widget
from .suggestions import SuggestionPanel
from .toolbar import TOOLS, Toolbar
from .view_prediction import ViewPrediction

SIDE_WIDTH = "400px"


class PixelClassifierApp(T.HasTraits):
    """Paint labels, watch the forest's prediction update, export — inside a notebook.

    Parameters
    ----------
    project : Project
        The project to label and train; add images to it first.
    canvas_size : (int, int)
        Canvas height and width in screen pixels.

    Notes
    -----
    Mouse: left-drag uses the current tool (brush, eraser, pan, contrast: horizontal drag =
    window, vertical = level); right-drag or shift-drag pans; the wheel zooms at the cursor.
    Keys over the image: see :data:`keyboard.SHORTCUTS` (the "?" button lists them).
    Scripted surface: :meth:`stroke`, ``live_update``, :meth:`wait_idle`, ``timings``,
    :meth:`suggest`, :meth:`undo`, :meth:`redo`.

    Volumes are shown in orthogonal views (``orthoviews``, on by default for a 3D image): the xy
    canvas and, below it, xz and yz panes through ``cursor`` (z, y, x). A click with the pan tool
    or a Ctrl-click on any pane moves the cursor there; the arrow keys move the plane of the pane
    under the pointer; painting works on every pane (``stroke(..., plane="xz")``).
    """

    live_update = T.Bool(False)
    tool = T.Enum(TOOLS, default_value="brush")
    brush_size = T.Int(3, min=1, max=50)  # radius in image pixels
    current_class = T.Int(1)
    image_index = T.Int(0)
    z = T.Int(0)
    orthoviews = T.Bool(False)
    cursor = T.Tuple(T.Int(), T.Int(), T.Int(), default_value=(0, 0, 0))
    display_channel = T.Unicode("composite")
    overlay = T.Unicode("probabilities")
    overlay_opacity = T.Float(0.45, min=0.0, max=1.0)
    show_labels = T.Bool(True)
    labels_opacity = T.Float(0.8, min=0.0, max=1.0)
    overlay_stale = T.Bool(False)  # an update that will change the overlay is pending or running
    status = T.Unicode("")
    timings = T.Dict()

    def __init__(self, project, canvas_size=(600, 600), **kwargs):
        super().__init__(**kwargs)
        if not project.images:
            raise ValueError("the project has no images: project.add_image(...) before opening the app")
        self.project = project
        if "orthoviews" not in kwargs and project.images:  # ilastik's three views for a volume
            self.orthoviews = project.images[0].ndim_spatial == 3
        self.canvas_size = check_canvas_size(canvas_size)
        self.suggestions = []  # the last suggest() result
        self.timings_full = {}  # the same as timings, for scripts written when timings held the preview's
        self.view_progress = (0, 0)  # pieces of the view predicted, of all
        self.overlay_frames = self.n_updates = 0
        self.view = render.View(project.images[0].shape_spatial[-2:], self.canvas_size)
        self.canvas_view = CanvasView(self)
        self.prediction = ViewPrediction(self)
        self.live = LiveUpdater(self)
        self.painter = Painter(self)
        self.mouse = Mouse(self)
        self.keyboard = Keyboard(self)
        self.toolbar = Toolbar(self)
        self.overlays = OverlayControls(self)
        self.palette = ClassPalette(self)
        self.channels = ChannelControls(self)
        self.navigation = Navigation(self)
        self.feature_grid = FeatureGrid(self)
        self.export_panel = ExportPanel(self)
        self.progress_panel = ProgressPanel(self)
        self.suggest_panel = SuggestionPanel(self)
        self.ortho = OrthoViews(self)
        self._build()
        self._set_image(0)
        self.live.request_view()  # a trained project shows its prediction at once

    # ------------------------------------------------------------------ layout
    def _build(self):
        self.w_live = W.ToggleButton(description="Live Update", icon="refresh", value=self.live_update,
                                     tooltip="retrain and repredict the view after every stroke")
        self.w_update = W.Button(description="Update now", icon="play", tooltip="train and predict once")
        self.w_status = W.HTML(layout=W.Layout(width="auto"))
        self.w_status.add_class("pixclass-status")
        W.link((self, "live_update"), (self.w_live, "value"))
        self.w_update.on_click(lambda _: self.request_update(force=True))
        T.dlink((self, "status"), (self.w_status, "value"), lambda s: f"<code>{html.escape(s)}</code>")  # names come from files: text only

        sections = [("View", self.navigation),
                    ("Overlays", self.overlays), ("Features", self.feature_grid),
                    ("Export & save", self.export_panel)]
        acc = W.Accordion(children=[w for _, w in sections], selected_index=0)
        for i, (title, _) in enumerate(sections):
            acc.set_title(i, title)
        side = W.VBox([W.HBox([self.w_live, self.w_update]), self.progress_panel, self.palette,
                       W.HTML("<b>Where to label next</b>"), self.suggest_panel, acc],
                      layout=W.Layout(width=SIDE_WIDTH, min_width=SIDE_WIDTH))
        main = W.HBox([W.VBox([self.canvas_view.canvas, self.w_status, self.ortho],
                              layout=W.Layout(width=f"{max(self.canvas_size)}px")), side])
        main.add_class("pixclass-wrap")
        self.widget = W.VBox([style_widget(), self.keyboard.guard, self.toolbar, self.toolbar.help_panel, main])
        self.widget.add_class("pixclass-app")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # ------------------------------------------------------------------ images, slices, time
    @property
    def image(self):
        """The image shown."""
        return self.project.images[self.image_index]

    def plane(self, arr):
        """The current z plane of a spatial(+channels) array."""
        return arr[self.z] if self.image.ndim_spatial == 3 else arr

    def _set_image(self, i):
        img = self.project.images[i]
        self.canvas_view.ready = False  # no drawing while the view is half set up
        self.view = render.View(img.shape_spatial[-2:], self.canvas_size)
        self.channels.set_image(i)
        nz = self.navigation.set_image(i)
        h, w = img.shape_spatial[-2:]
        self.cursor = (nz // 2, h // 2, w // 2)
        self.z = nz // 2
        self.prediction.reset()
        self.ortho.reset()
        self.canvas_view.ready = True
        self.ortho.show()
        self._redraw()

    @T.validate("image_index")
    def _check_image_index(self, proposal):
        i, n = proposal["value"], len(self.project.images)
        if n and not 0 <= i < n:
            raise T.TraitError(f"image_index {i} is not an image of the project: 0..{n - 1}")
        return i

    @T.observe("image_index")
    def _on_image(self, change):
        if 0 <= change["new"] < len(self.project.images) and change["new"] != change["old"]:
            self._set_image(change["new"])
            self.request_update()
            self.live.request_view()

    @T.observe("z", "display_channel", "overlay", "overlay_opacity", "show_labels", "labels_opacity")
    def _on_view_trait(self, change):
        if change["name"] in ("z", "show_labels", "labels_opacity"):
            self.canvas_view.draw_labels()
        if change["name"] == "z":
            if self.cursor[0] != change["new"] and self.image.ndim_spatial == 3:
                self.cursor = (change["new"],) + tuple(self.cursor[1:])
            self.canvas_view.draw_marks()
            self.live.request_view()
        if change["name"] in ("show_labels", "labels_opacity"):
            self.ortho.draw_labels()
        else:
            self.canvas_view.draw()
            self.ortho.draw()

    @T.validate("cursor")
    def _check_cursor(self, proposal):
        c = tuple(proposal["value"])
        shape = self.image.shape_spatial if self.project.images else ()
        shape = shape if len(shape) == 3 else (1,) + tuple(shape)
        if any(not 0 <= v < n for v, n in zip(c, shape)):
            raise T.TraitError(f"cursor (z, y, x) = {c} lies outside image {self.image.name!r} of shape {shape}")
        return c

    @T.observe("cursor")
    def _on_cursor(self, change):
        if change["new"][0] != self.z:
            self.z = change["new"][0]  # the xy pane shows the cursor's plane
        self.canvas_view.draw_marks()
        self.ortho.draw_all()
        old = change["old"] if isinstance(change["old"], tuple) else None
        if old is None or change["new"][1:] != old[1:]:
            self.live.request_view()

    @T.observe("orthoviews")
    def _on_orthoviews(self, change):
        if getattr(self, "ortho", None) is None:  # set while the app is being made
            return
        self.ortho.show()
        self.canvas_view.draw_marks()
        self.live.request_view()

    def _redraw(self):
        self.canvas_view.draw_labels()
        self.canvas_view.draw_marks()
        self.canvas_view.draw()
        self.ortho.draw_all()

    # ------------------------------------------------------------------ view
    def zoom(self, factor, at=None):
        """Zoom by ``factor`` (a positive number) at display point ``at`` (y, x), default the centre."""
        if not isinstance(factor, (int, float, np.integer, np.floating)) or not 0 < factor < np.inf:
            raise ValueError(f"zoom factor {factor!r} is not a positive number")  # NaN left the view blank
        self.view.zoom(factor, at)
        self._view_changed()

    def fit(self):
        """Show the whole image."""
        self.view.fit()
        self._view_changed()

    def pan(self, dy, dx):
        """Move the view as a drag of (dy, dx) display pixels would."""
        self.view.pan(dy, dx)
        self._view_changed()

    def show_box(self, y0, x0, y1, x1):
        """Zoom and pan so the image box fills about half the canvas, centred."""
        h, w = self.canvas_size
        scale = float(np.clip(0.5 * min(h / max(y1 - y0, 1), w / max(x1 - x0, 1)), self.view.fit_scale(), 32.0))
        self.view.scale = scale
        self.view.origin = ((y0 + y1) / 2 - h / 2 / scale, (x0 + x1) / 2 - w / 2 / scale)
        self.view.clamp()
        self._view_changed()

    def _view_changed(self):
        self._redraw()  # the panes follow the xy view's zoom and pan
        self.live.request_view()

    def frame(self, with_overlay=True):
        """The RGB float frame the image layer shows (image composite + overlay)."""
        return self.canvas_view.frame(with_overlay)

    # ------------------------------------------------------------------ classes & features
    def add_class(self, name=None, color=None):
        """Add a class (default name 'Class N') and select it for painting."""
        k = self.project.add_class(name or f"Class {len(self.project.classes) + 1}", color)
        self.palette.refresh()
        self.current_class = k
        return k

    def remove_class(self, k):
        """Delete a class and its labels (the forest is retrained on the rest)."""
        self.project.remove_class(k)
        self.painter.clear()
        self.current_class = min(self.current_class, max(1, len(self.project.classes)))
        self.prediction.reset()
        self.ortho.reset()
        self.palette.refresh()
        self._redraw()
        self.request_update()

    def apply_feature_grid(self):
        """Set the project's FeatureSet from the checked boxes and retrain."""
        fs = self.feature_grid.feature_set()
        if fs is None:
            self.status = "select at least one feature"
            return
        self.project.set_features(fs)
        self.prediction.reset()
        self.ortho.reset()
        self.feature_grid.update_info()
        self.canvas_view.draw()
        self.request_update()

    # ------------------------------------------------------------------ contrast
    def contrast(self, c):
        """(lo, hi) display window of channel ``c`` of the current image."""
        return self.channels.limits[self.image_index][c]

    def set_contrast(self, c, lo, hi):
        """Set the display window of channel ``c``."""
        lo, hi = float(lo), float(hi)
        self.channels.set_window(c, lo, max(hi, lo + 1e-6))

    def auto_contrast(self, c):
        """Window channel ``c`` to its 0.5-99.5th percentiles."""
        self.set_contrast(c, *render.auto_contrast(self.channels.values(self.image, c)))

    def reset_contrast(self, c):
        """Window channel ``c`` to its full data range (of a sample, for an image left in its file)."""
        d = self.channels.values(self.image, c)
        self.set_contrast(c, float(d.min()), float(d.max()))

    # ------------------------------------------------------------------ painting
    def stroke(self, points, k, radius=3, image=None, z=None, plane="xy"):
        """Paint class ``k`` (0 erases) along ``points`` in image pixels, like a brush drag.

        ``plane`` is the pane painted on, through the cursor: "xy" takes ``[(x, y), ...]`` (on
        plane ``z``, default the shown one), "xz" ``[(x, z), ...]`` at the cursor's y, "yz"
        ``[(y, z), ...]`` at the cursor's x. Raises ``ValueError`` naming the value for an image
        index, slice, class, radius (1..512) or plane out of range, or a point outside the
        plane; nothing changes then.
        """
        pts, radius, k = check_stroke(self, points, k, radius, image, z, plane)
        if image is not None and image != self.image_index:
            self.image_index = image
        if z is not None and z != self.z:
            self.z = z
        self.painter.begin(plane)
        self.painter.segment([(float(v), float(h)) for h, v in pts], k, radius, plane)
        self.painter.end()

    def undo(self):
        """Undo the last stroke (returns False when there is none)."""
        return self.painter.undo()

    def redo(self):
        """Redo the last undone stroke (returns False when there is none)."""
        return self.painter.redo()

    # ------------------------------------------------------------------ suggestions
    def suggest(self, n=3, box=None, progress=None):
        """Where a new stroke would teach the forest most: ``[(image, z or None, (y0, x0, y1, x1)), ...]``.

        See :func:`jupyter_pixclass.suggest.suggest_boxes`; 3D images are scored on the shown
        slice (the current image) or their middle slice. The boxes are drawn on the canvas.
        The Suggest button runs this on the live-update thread, with ``progress`` per image.
        """
        z_of = lambda i: self.z if i == self.image_index else self.project.images[i].shape_spatial[0] // 2  # noqa
        self.suggestions = suggest_boxes(self.project, n=n, box=box, z_of=z_of, progress=progress)
        self.suggest_panel.show(self.suggestions)
        self.canvas_view.draw_marks()
        self.live.request_view()  # suggest may have trained the forest: show it
        return self.suggestions

    def go_to_suggestion(self, j):
        """Show suggestion ``j`` (0-based): its image and slice, zoomed so the box is in the middle."""
        i, z, box = self.suggestions[j]
        self.image_index = i
        if z is not None:
            self.z = z
        self.show_box(*box)

    # ------------------------------------------------------------------ live update
    @T.observe("live_update")
    def _on_live(self, change):
        if change["new"]:
            self.request_update()

    def request_update(self, force=False):
        """Retrain and repredict in the background (skipped while Live Update is off unless ``force``)."""
        self.live.request(force)

    def wait_idle(self, timeout=30):
        """Block until the background update has finished and the view is complete (raises TimeoutError)."""
        self.live.wait_idle(timeout)
        return self

    def close(self):
        """Stop the worker and close the widgets."""
        self.live.close()
        self.widget.close()
