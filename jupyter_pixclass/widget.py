"""PixelClassifierApp: ilastik's training view in a notebook cell.

View state only (zoom, slice, channel display, brush, overlay); the truth (images, labels,
classes, forest) lives in the Project, so code and widget see one object. Training and
prediction run on a worker thread; a newer stroke makes older work stale (generation
counter) and only current results are drawn.
"""
from __future__ import annotations

import os
import threading
import time

import ipywidgets as W
import numpy as np
import traitlets as T
from ipycanvas import MultiCanvas
from ipyevents import Event

from . import render
from .features import FAMILIES, FAMILY_TITLES, DEFAULT_SIGMAS, FeatureSet
from .project import uncertainty_from
from .view_features import ViewFeatures

__all__ = ["PixelClassifierApp"]

TOOLS = ("brush", "eraser", "pan", "contrast")
PREVIEW_TREES = 20  # drawn first when training is slow
PREVIEW_AFTER_S = 0.06  # training slower than this last time: show a preview first


def _disk_offsets(radius):
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    keep = yy**2 + xx**2 <= radius**2 + 1e-9
    return yy[keep], xx[keep]


def _put_encoded(canvas, data, x=0, y=0, fmt="jpeg", quality=85):
    """Send pixels with our own encoding: ipycanvas's default PNG costs ~430 ms at 1024x1024."""
    try:
        from ipycanvas.canvas import COMMANDS

        buf = render.encode_jpeg(data, quality) if fmt == "jpeg" else render.encode_png(data, 1)
        canvas._canvas_manager.send_draw_command(canvas, COMMANDS["putImageData"], [x, y], [buf])
        return len(buf)
    except (ImportError, AttributeError, KeyError):  # ipycanvas internals moved: fall back to its encoder
        canvas.put_image_data(data if data.dtype == np.uint8 else render.to_uint8(data), x, y)
        return 0


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
    Mouse: left-drag paints with the current tool (brush, eraser, pan, contrast: horizontal
    drag = window, vertical = level); right-drag or shift-drag pans; the wheel zooms at the
    cursor. Scripted surface: :meth:`stroke`, ``live_update``, :meth:`wait_idle`, ``timings``.
    """

    live_update = T.Bool(False)
    tool = T.Enum(TOOLS, default_value="brush")
    brush_size = T.Int(3, min=1, max=50)  # radius in image pixels
    current_class = T.Int(1)
    image_index = T.Int(0)
    z = T.Int(0)
    display_channel = T.Unicode("composite")
    overlay = T.Unicode("probabilities")
    overlay_opacity = T.Float(0.45, min=0.0, max=1.0)
    show_labels = T.Bool(True)
    labels_opacity = T.Float(0.8, min=0.0, max=1.0)
    status = T.Unicode("")
    timings = T.Dict()

    def __init__(self, project, canvas_size=(600, 600), **kwargs):
        super().__init__(**kwargs)
        if not project.images:
            raise ValueError("the project has no images: project.add_image(...) before opening the app")
        self.project = project
        self.canvas_size = tuple(int(s) for s in canvas_size)
        self._undo = []
        self._redo = []
        self.suggestions = []  # the last suggest() result
        self._cv = threading.Condition()
        self._gen = 0
        self._pending = False
        self._busy = False
        self._closed = False
        self._stroke_t = time.perf_counter()
        self._vf = None  # ViewFeatures of what the canvas shows
        self._vprob = None  # [(view key, forest), probability grid, pieces done]
        self._trained_version = None  # project.version the forest was trained at
        self._force = False
        self._shown_forest = None  # the forest whose overlay the canvas shows (a preview, or the project's)
        self._last_train_s = 0.0
        self.timings_full = {}  # timings of the last whole-forest overlay (timings: the first overlay)
        self.view_progress = (0, 0)  # pieces of the view predicted, of all
        self._draw_lock = threading.RLock()
        self._drag = None
        self._limits = {}  # image index -> list of (lo, hi)
        self._colors = {}
        self._visible = {}
        self.frames_sent = 0
        self.overlay_frames = 0
        self.n_updates = 0
        self._build()
        self._set_image(0)
        self._worker = threading.Thread(target=self._worker_loop, name="pixclass-live-update", daemon=True)
        self._worker.start()
        self._request_view()  # a trained project shows its prediction at once

    # ------------------------------------------------------------------ layout
    def _build(self):
        h, w = self.canvas_size
        self.canvas = MultiCanvas(4, width=w, height=h, layout=W.Layout(width=f"{w}px", height=f"{h}px"))
        self.canvas.add_class("pixclass-canvas")
        self._events = Event(
            source=self.canvas,
            watched_events=["mousedown", "mouseup", "mousemove", "wheel", "mouseleave", "contextmenu"],
            prevent_default_action=True, wait=10, throttle_or_debounce="throttle",
        )
        self._events.on_dom_event(self._on_event)

        # tools
        self.w_tool = W.ToggleButtons(options=[("Brush", "brush"), ("Eraser", "eraser"), ("Pan", "pan"),
                                               ("Contrast", "contrast")], value=self.tool,
                                      style={"button_width": "70px"})
        self.w_brush = W.IntSlider(value=self.brush_size, min=1, max=50, description="Brush")
        self.w_undo = W.Button(description="Undo", icon="undo", layout=W.Layout(width="80px"))
        self.w_zoom_in = W.Button(icon="search-plus", layout=W.Layout(width="36px"), tooltip="zoom in")
        self.w_zoom_out = W.Button(icon="search-minus", layout=W.Layout(width="36px"), tooltip="zoom out")
        self.w_fit = W.Button(icon="expand", layout=W.Layout(width="36px"), tooltip="fit to window")
        W.link((self, "tool"), (self.w_tool, "value"))
        W.link((self, "brush_size"), (self.w_brush, "value"))
        self.w_undo.on_click(lambda _: self.undo())
        self.w_zoom_in.on_click(lambda _: self.zoom(1.5))
        self.w_zoom_out.on_click(lambda _: self.zoom(1 / 1.5))
        self.w_fit.on_click(lambda _: self.fit())

        # classes
        self.w_classes = W.VBox()
        self.w_add_class = W.Button(description="Add class", icon="plus", layout=W.Layout(width="110px"))
        self.w_add_class.on_click(lambda _: self.add_class())

        # image / slice / channels
        self.w_image = W.Dropdown(description="Image")
        self.w_z = W.IntSlider(description="z", min=0, max=0, continuous_update=True)
        # time: the frames of one series are images of the project; the slider moves between them
        self.w_t = W.IntSlider(description="t", min=0, max=0, continuous_update=False)
        self.w_t.observe(lambda c: self._go_to_time(c["new"]), "value")
        self.w_channel = W.Dropdown(description="Show", options=[("Composite", "composite")])
        self.w_channels = W.VBox()
        W.link((self, "z"), (self.w_z, "value"))
        W.link((self, "display_channel"), (self.w_channel, "value"))
        self.w_image.observe(lambda c: setattr(self, "image_index", c["new"]) if c["new"] is not None else None, "value")

        # overlays
        self.w_overlay = W.Dropdown(description="Overlay", options=[("Probabilities", "probabilities")])
        self.w_opacity = W.FloatSlider(value=self.overlay_opacity, min=0, max=1, step=0.05, description="Opacity")
        self.w_show_labels = W.Checkbox(value=self.show_labels, description="Show labels", indent=False)
        self.w_labels_opacity = W.FloatSlider(value=self.labels_opacity, min=0, max=1, step=0.05, description="Labels α")
        W.link((self, "overlay"), (self.w_overlay, "value"))
        W.link((self, "overlay_opacity"), (self.w_opacity, "value"))
        W.link((self, "show_labels"), (self.w_show_labels, "value"))
        W.link((self, "labels_opacity"), (self.w_labels_opacity, "value"))

        # live update
        self.w_live = W.ToggleButton(description="Live Update", icon="refresh", value=self.live_update)
        self.w_update = W.Button(description="Update now", icon="play")
        self.w_status = W.HTML()
        W.link((self, "live_update"), (self.w_live, "value"))
        self.w_update.on_click(lambda _: self.request_update(force=True))
        T.dlink((self, "status"), (self.w_status, "value"), lambda s: f"<code>{s}</code>")

        # features grid (ilastik style: families x sigma)
        self.w_features = self._feature_grid()

        # export / save
        self.w_exp_source = W.Dropdown(options=["probabilities", "simple_segmentation", "uncertainty", "mask", "features"],
                                       description="Source")
        self.w_exp_dtype = W.Dropdown(options=["float32", "uint16", "uint8"], description="dtype")
        self.w_exp_renorm = W.Checkbox(description="renormalize", indent=False)
        self.w_exp_path = W.Text(description="Path", placeholder="out/probabilities.tif")
        self.w_exp_btn = W.Button(description="Export", icon="download")
        self.w_save_path = W.Text(description="Project", placeholder="project.h5")
        self.w_save_btn = W.Button(description="Save project", icon="save")
        self.w_exp_btn.on_click(lambda _: self._export_clicked())
        self.w_save_btn.on_click(lambda _: self._save_clicked())

        acc = W.Accordion(children=[
            W.VBox([self.w_image, self.w_t, self.w_z, self.w_channel, self.w_channels]),
            W.VBox([self.w_overlay, self.w_opacity, W.HBox([self.w_show_labels]), self.w_labels_opacity]),
            self.w_features,
            W.VBox([self.w_exp_source, self.w_exp_dtype, self.w_exp_renorm, self.w_exp_path, self.w_exp_btn,
                    self.w_save_path, self.w_save_btn]),
        ])
        for i, t in enumerate(["View", "Overlays", "Features", "Export & save"]):
            acc.set_title(i, t)
        acc.selected_index = 0
        side = W.VBox([
            W.HBox([self.w_live, self.w_update]),
            W.HTML("<b>Classes</b>"), self.w_classes, self.w_add_class,
            acc,
        ], layout=W.Layout(width="500px"))
        toolbar = W.HBox([self.w_tool, self.w_brush, self.w_undo, self.w_zoom_in, self.w_zoom_out, self.w_fit])
        self.widget = W.VBox([toolbar, W.HBox([self.canvas, side]), self.w_status])
        self.widget.add_class("pixclass-app")
        self._refresh_classes()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # ------------------------------------------------------------------ classes
    def _refresh_classes(self):
        rows = []
        p = self.project
        for k, (name, color) in enumerate(zip(p.classes, p.colors), start=1):
            sel = W.ToggleButton(value=(k == self.current_class), icon="paint-brush", layout=W.Layout(width="40px"),
                                 tooltip=f"paint {name}")
            txt = W.Text(value=name, continuous_update=False, layout=W.Layout(width="150px"))
            col = W.ColorPicker(value=color, concise=True, layout=W.Layout(width="40px"))
            rm = W.Button(icon="trash", layout=W.Layout(width="36px"), tooltip=f"delete {name} and its labels")
            sel.observe(lambda c, k=k: setattr(self, "current_class", k) if c["new"] else None, "value")
            txt.observe(lambda c, k=k: self._rename(k, c["new"]), "value")
            col.observe(lambda c, k=k: self._recolor(k, c["new"]), "value")
            rm.on_click(lambda _, k=k: self.remove_class(k))
            row = W.HBox([sel, txt, col, rm])
            row.add_class(f"pixclass-class-{k}")
            rows.append(row)
        self.w_classes.children = rows
        opts = [("Probabilities", "probabilities")] + [(f"Probability: {c}", f"probability:{i}")
                                                        for i, c in enumerate(p.classes, start=1)]
        opts += [("Segmentation", "segmentation"), ("Uncertainty", "uncertainty"), ("None", "none")]
        cur = self.overlay if self.overlay in [v for _, v in opts] else "probabilities"
        self.w_overlay.options = opts
        self.overlay = cur
        self.w_overlay.value = cur

    @T.observe("current_class")
    def _on_class(self, change):
        for k, row in enumerate(self.w_classes.children, start=1):
            row.children[0].value = k == change["new"]

    def _rename(self, k, name):
        try:
            self.project.rename_class(k, name)
            self._refresh_classes()
        except ValueError as e:
            self.status = f"rename failed: {e}"
            self._refresh_classes()

    def _recolor(self, k, color):
        self.project.set_color(k, color)
        self._draw_labels()
        self._draw()

    def add_class(self, name=None, color=None):
        """Add a class (default name 'Class N') and select it for painting."""
        name = name or f"Class {len(self.project.classes) + 1}"
        k = self.project.add_class(name, color)
        self._refresh_classes()
        self.current_class = k
        return k

    def remove_class(self, k):
        """Delete a class and its labels (the forest is retrained on the rest)."""
        self.project.remove_class(k)
        self._undo.clear()
        self._redo.clear()
        self.current_class = min(self.current_class, max(1, len(self.project.classes)))
        self._vprob = None
        self._refresh_classes()
        self._draw_labels()
        self._draw()
        self.request_update()

    # ------------------------------------------------------------------ features grid
    def _feature_grid(self):
        fs = self.project.features
        sigmas = sorted(set(DEFAULT_SIGMAS) | set(fs.sigmas))
        self._fcheck = {}
        cells = [W.Label("")] + [W.Label(f"σ={s:g}") for s in sigmas]
        for f in FAMILIES:
            cells.append(W.Label(FAMILY_TITLES[f], layout=W.Layout(width="170px")))
            for s in sigmas:
                cb = W.Checkbox(value=(f, round(s, 6)) in fs.pairs, indent=False, layout=W.Layout(width="30px"))
                self._fcheck[(f, s)] = cb
                cells.append(cb)
        grid = W.GridBox(cells, layout=W.Layout(grid_template_columns=f"170px repeat({len(sigmas)}, 34px)"))
        self.w_feat_norm = W.Checkbox(value=fs.normalize == "percentile", indent=False,
                                      description="normalize each image (1–99.8th percentile)")
        self.w_feat_apply = W.Button(description="Apply features", icon="check")
        self.w_feat_info = W.HTML()
        self.w_feat_apply.on_click(lambda _: self.apply_feature_grid())
        self._update_feature_info()
        return W.VBox([grid, self.w_feat_norm, W.HBox([self.w_feat_apply, self.w_feat_info])])

    def _update_feature_info(self):
        img = self.project.images[0]
        fs = self.project.features
        n = fs.n_features(img.n_channels, fs.spatial_ndim(img.ndim_spatial))
        self.w_feat_info.value = f"{n} features ({len(fs.pairs)} filters x {img.n_channels} channels)"

    def apply_feature_grid(self):
        """Set the project's FeatureSet from the checked boxes and retrain."""
        pairs = [k for k, cb in self._fcheck.items() if cb.value]
        if not pairs:
            self.status = "select at least one feature"
            return
        self.project.set_features(FeatureSet(pairs=pairs, mode=self.project.features.mode,
                                             normalize="percentile" if self.w_feat_norm.value else None))
        self._vprob = None
        self._update_feature_info()
        self._draw()
        self.request_update()

    # ------------------------------------------------------------------ images & channels
    @property
    def image(self):
        return self.project.images[self.image_index]

    def _set_image(self, i):
        img = self.project.images[i]
        self.w_image.options = [(f"{j}: {im.name}", j) for j, im in enumerate(self.project.images)]
        self.w_image.value = i
        self.w_image.layout.display = None if len(self.project.images) > 1 else "none"
        nz = img.shape_spatial[0] if img.ndim_spatial == 3 else 1
        self._ready = False  # no drawing while the view is half set up
        self.view = render.View(img.shape_spatial[-2:], self.canvas_size)
        if i not in self._limits:
            self._limits[i] = [render.auto_contrast(img.data[..., c]) for c in range(img.n_channels)]
            self._colors[i] = [render.CHANNEL_COLORS[c % len(render.CHANNEL_COLORS)] for c in range(img.n_channels)]
            if img.n_channels == 1:
                self._colors[i] = ["#ffffff"]
            self._visible[i] = [c < 3 for c in range(img.n_channels)]
        self.w_channel.options = [("Composite", "composite")] + [(n, f"ch:{c}") for c, n in enumerate(img.channel_names)]
        self.display_channel = "composite"
        self._build_channel_controls()
        self.w_z.max = nz - 1
        self.w_z.layout.display = None if nz > 1 else "none"
        series = getattr(img, "series", None)
        with self.w_t.hold_trait_notifications():
            self.w_t.max = series[2] - 1 if series else 0
            self.w_t.value = series[1] if series else 0
        self.w_t.layout.display = None if series else "none"
        self.z = nz // 2
        self._vprob = None
        self._ready = True
        self._draw_labels()
        self._draw()

    def _go_to_time(self, t):
        """Show frame ``t`` of the series the current image belongs to."""
        series = getattr(self.image, "series", None)
        if not series or series[1] == t:
            return
        for j, im in enumerate(self.project.images):
            s = getattr(im, "series", None)
            if s and s[0] == series[0] and s[2] == series[2] and s[1] == t:
                self.image_index = j
                return

    def _build_channel_controls(self):
        i, img = self.image_index, self.image
        rows = []
        dmin, dmax = float(img.data.min()), float(img.data.max())
        for c, name in enumerate(img.channel_names):
            vis = W.Checkbox(value=self._visible[i][c], indent=False, layout=W.Layout(width="24px"))
            col = W.ColorPicker(value=self._colors[i][c], concise=True, layout=W.Layout(width="36px"))
            lo, hi = self._limits[i][c]
            rng = W.FloatRangeSlider(value=(lo, hi), min=dmin, max=dmax if dmax > dmin else dmin + 1,
                                     step=max((dmax - dmin) / 1000, 1e-6), description=name[:12],
                                     continuous_update=False, readout=False,
                                     style={"description_width": "70px"}, layout=W.Layout(width="230px"))
            val = W.Label(f"{lo:.4g} – {hi:.4g}", layout=W.Layout(width="100px"))
            auto = W.Button(description="auto", layout=W.Layout(width="62px"), tooltip="percentiles 0.5-99.5")
            reset = W.Button(description="reset", layout=W.Layout(width="66px"), tooltip="full data range")
            vis.observe(lambda ch, c=c: self._set_visible(c, ch["new"]), "value")
            col.observe(lambda ch, c=c: self._set_channel_color(c, ch["new"]), "value")
            rng.observe(lambda ch, c=c: self.set_contrast(c, *ch["new"]), "value")
            auto.on_click(lambda _, c=c: self.auto_contrast(c))
            reset.on_click(lambda _, c=c: self.reset_contrast(c))
            rows.append(W.HBox([vis, col, rng, val, auto, reset]))
        self._range_sliders = [r.children[2] for r in rows]
        self._range_labels = [r.children[3] for r in rows]
        self.w_channels.children = rows

    def _set_visible(self, c, v):
        self._visible[self.image_index][c] = v
        self._draw()

    def _set_channel_color(self, c, color):
        self._colors[self.image_index][c] = color
        self._draw()

    def contrast(self, c):
        """(lo, hi) display limits of channel ``c`` of the current image."""
        return self._limits[self.image_index][c]

    def set_contrast(self, c, lo, hi):
        """Set the display window of channel ``c``."""
        lo, hi = float(lo), float(hi)
        if hi <= lo:
            hi = lo + 1e-6
        self._limits[self.image_index][c] = (lo, hi)
        sl = self._range_sliders[c]
        self._range_labels[c].value = f"{lo:.4g} – {hi:.4g}"
        if tuple(sl.value) != (lo, hi):
            with sl.hold_trait_notifications():
                sl.value = (max(lo, sl.min), min(hi, sl.max))
        self._draw()

    def auto_contrast(self, c):
        self.set_contrast(c, *render.auto_contrast(self.image.data[..., c]))

    def reset_contrast(self, c):
        d = self.image.data[..., c]
        self.set_contrast(c, float(d.min()), float(d.max()))

    def _active_channels(self):
        if self.display_channel.startswith("ch:"):
            return [int(self.display_channel[3:])]
        return [c for c in range(self.image.n_channels) if self._visible[self.image_index][c]]

    @T.observe("image_index")
    def _on_image(self, change):
        if 0 <= change["new"] < len(self.project.images) and change["new"] != change["old"]:
            self._set_image(change["new"])
            self.request_update()
            self._request_view()

    @T.observe("z", "display_channel", "overlay", "overlay_opacity")
    def _on_view_trait(self, change):
        if change["name"] == "z":
            self._draw_labels()
            self._request_view()
        self._draw()

    @T.observe("show_labels", "labels_opacity")
    def _on_labels_trait(self, change):
        self._draw_labels()

    # ------------------------------------------------------------------ view
    def zoom(self, factor, at=None):
        self.view.zoom(factor, at)
        self._view_changed()

    def fit(self):
        self.view.fit()
        self._view_changed()

    def pan(self, dy, dx):
        self.view.pan(dy, dx)
        self._view_changed()

    def _view_changed(self):
        self._draw_labels()
        self._draw()
        self._request_view()

    def _request_view(self):
        """Fill the new view in the background (nothing to do without a forest)."""
        if self.project.forest is not None or self.live_update:
            with self._cv:
                self._gen += 1
                self._pending = True
                self._cv.notify_all()

    def _plane(self, arr):
        """The current z plane of a spatial(+channels) array."""
        return arr[self.z] if self.image.ndim_spatial == 3 else arr

    # ------------------------------------------------------------------ drawing
    def _view_key(self):
        return (self.image_index, self.z if self.image.ndim_spatial == 3 else None, self.view.origin,
                self.view.scale, self.view.size, self.project.features.key())

    def _view_features(self):
        """The ViewFeatures of the current view (made anew when the view moved)."""
        key = self._view_key()
        vf = self._vf
        if vf is None or vf.key != key:
            ys, xs, iny, inx = self.view.indices()
            if key != self._view_key():  # moved meanwhile: the next update takes the new view
                return vf
            vf = ViewFeatures(self.project.engine, self.image, self.project.features, ys[iny], xs[inx],
                              z=key[1])
            vf.key = key
            self._vf = vf
        return vf

    def _view_probabilities(self):
        """Probabilities at the displayed pixels ``(h, w, K)`` and where they are ready, or None."""
        vp, vf = self._vprob, self._vf
        if vp is None or vf is None or vp[0] != (self._view_key(), self._shown_forest):
            return None
        _, _, iny, inx = self.view.indices()
        grid, done = vp[1], vp[2]
        ready = np.zeros(grid.shape[:2], bool)
        for k in np.flatnonzero(done):
            _, ry, rx = vf.pieces[k]
            ready[ry, rx] = True
        h, w = self.view.size
        prob = np.zeros((h, w, grid.shape[-1]), np.float32)
        valid = np.zeros((h, w), bool)
        iy, ix = np.flatnonzero(iny), np.flatnonzero(inx)
        sub = np.ix_(iy, ix)
        prob[sub] = grid[np.ix_(vf.row_of, vf.col_of)]
        valid[sub] = ready[np.ix_(vf.row_of, vf.col_of)]
        return prob, valid

    def frame(self, with_overlay=True):
        """The RGB float frame the image layer shows (image composite + overlay)."""
        img = self.image
        plane = self._plane(img.data)
        chans = self._active_channels()
        ys, xs, _, _ = self.view.indices()
        data = plane[np.ix_(ys, xs, chans)]  # only the shown channels (IMC stacks have 25+)
        limits = [self._limits[self.image_index][c] for c in chans]
        colors = [self._colors[self.image_index][c] for c in chans]
        if len(chans) == 1 and self.display_channel.startswith("ch:"):
            colors = ["#ffffff"]  # a single channel is shown in grey
        rgb = render.composite(data, limits, colors)
        ov = self.overlay
        pv = self._view_probabilities() if with_overlay and ov != "none" else None
        if pv is not None:
            prob, valid = pv
            rgb_plain = rgb
            cols = self.project.colors
            if ov == "probabilities":
                over = render.probability_rgb(prob, cols)
                rgb = render.blend(rgb, over, self.overlay_opacity)
            elif ov.startswith("probability:"):
                k = int(ov.split(":")[1]) - 1
                if k < prob.shape[-1]:
                    over = np.broadcast_to(render.hex_to_rgb(cols[k]), rgb.shape)
                    rgb = render.blend(rgb, over, prob[..., k] * self.overlay_opacity)
            elif ov == "segmentation":
                rgb = render.blend(rgb, render.segmentation_rgb(np.argmax(prob, -1) + 1, cols), self.overlay_opacity)
            elif ov == "uncertainty":
                rgb = render.blend(rgb, render.uncertainty_rgb(uncertainty_from(prob)), self.overlay_opacity)
            rgb = np.where(valid[..., None], rgb, rgb_plain)  # parts not predicted yet show the image
        rgb = rgb * self.view.inside()[..., None]
        return rgb

    def _draw(self, with_overlay=True):
        if not getattr(self, "_ready", False):
            return
        with self._draw_lock:
            rgb = self.frame(with_overlay)
            _put_encoded(self.canvas[0], rgb, fmt="jpeg")
            self.frames_sent += 1

    def _draw_labels(self):
        if not getattr(self, "_ready", False):
            return
        with self._draw_lock:
            layer = self.canvas[2]
            if not self.show_labels:
                layer.clear()
                return
            lab = self.view.sample(self._plane(self.project.labels(self.image_index)))
            lab = np.where(self.view.inside(), lab, 0)
            rgba = render.labels_rgba(lab, self.project.colors, self.labels_opacity)
            layer.clear()
            if lab.any():
                _put_encoded(layer, rgba, fmt="png")

    # ------------------------------------------------------------------ painting
    def stroke(self, points, k, radius=3, image=None, z=None):
        """Paint class ``k`` (0 erases) along ``[(x, y), ...]`` in image pixels, like a brush drag.

        Triggers a live update when ``live_update`` is on.
        """
        if image is not None and image != self.image_index:
            self.image_index = image
        if z is not None and z != self.z:
            self.z = z
        pts = [(float(y), float(x)) for x, y in points]
        self._begin_stroke()
        self._paint_segment(pts, int(k), radius)
        self._end_stroke()

    def _begin_stroke(self):
        lab = self.project.labels(self.image_index)
        self._stroke_before = self._plane(lab).copy()  # undo snapshot of the plane

    def _paint_segment(self, pts, k, radius):
        """Stamp a disk of ``radius`` along the polyline ``pts`` [(y, x), ...] in image pixels."""
        if not 0 <= k <= len(self.project.classes):
            raise ValueError(f"class {k} does not exist (0 erases, 1..{len(self.project.classes)} are classes)")
        lab = self.project.labels(self.image_index)
        plane = self._plane(lab)
        H, Wd = plane.shape
        dy, dx = _disk_offsets(radius)
        centres = [pts[0]]
        for (y0, x0), (y1, x1) in zip(pts[:-1], pts[1:]):
            n = int(np.ceil(max(abs(y1 - y0), abs(x1 - x0)) / max(radius * 0.5, 0.5))) + 1
            centres += list(zip(np.linspace(y0, y1, n), np.linspace(x0, x1, n)))
        c = np.round(np.array(centres)).astype(np.int64)
        yy = (c[:, 0:1] + dy[None]).ravel()
        xx = (c[:, 1:2] + dx[None]).ravel()
        ok = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < Wd)
        yy, xx = yy[ok], xx[ok]
        index = (yy, xx) if self.image.ndim_spatial == 2 else (np.full(yy.size, self.z), yy, xx)
        self.project.paint_pixels(self.image_index, index, k)
        # immediate feedback in the browser: draw the same segment on the label layer
        if self.show_labels:
            layer = self.canvas[2]
            s = self.view.scale
            disp = [self.view.to_display(y, x) for y, x in pts]
            with self._draw_lock:
                if k == 0:
                    self._draw_labels()
                    return
                layer.global_alpha = self.labels_opacity
                layer.stroke_style = self.project.colors[k - 1]
                layer.fill_style = self.project.colors[k - 1]
                layer.line_width = max(1.0, (2 * radius + 1) * s)
                layer.line_cap = "round"
                layer.line_join = "round"
                if len(disp) == 1:
                    layer.fill_circle(disp[0][1], disp[0][0], max(0.5, (radius + 0.5) * s))
                else:
                    layer.stroke_lines([(x, y) for y, x in disp])
                layer.global_alpha = 1.0

    def _end_stroke(self):
        before = getattr(self, "_stroke_before", None)
        if before is not None:
            self._undo.append((self.image_index, self.z if self.image.ndim_spatial == 3 else None, before))
            del self._undo[:-50]
            self._redo.clear()  # a new stroke ends the redo history, as in every editor
            self._stroke_before = None
        self._stroke_t = time.perf_counter()
        if self.live_update:
            self.request_update()

    def undo(self):
        """Undo the last stroke (returns False when there is none)."""
        return self._swap(self._undo, self._redo, "undo")

    def redo(self):
        """Redo the last undone stroke (returns False when there is none)."""
        return self._swap(self._redo, self._undo, "redo")

    def _swap(self, src, dst, verb):
        """Restore the label plane saved on ``src``; save what it replaces on ``dst``."""
        if not src:
            self.status = f"nothing to {verb}"
            return False
        i, z, saved = src.pop()
        lab = self.project.labels(i)
        with self.project._lock:
            plane = lab if z is None else lab[z]
            dst.append((i, z, plane.copy()))
            plane[...] = saved
            changed = None if z is None else (slice(z, z + 1),) + (slice(None),) * (lab.ndim - 1)
            self.project.labels_changed(i, changed)
        if i == self.image_index:
            self._draw_labels()
        self._stroke_t = time.perf_counter()
        if self.live_update:
            self.request_update()
        return True

    def suggest(self, n=3, box=None):
        """Where a new stroke would teach the forest most: ``[(image, z or None, (y0, x0, y1, x1)), ...]``.

        Boxes of about ``box`` pixels (default an eighth of the image side, 32-128) where the
        forest is most uncertain on average (ilastik's uncertainty), away from existing labels,
        spread over the images (no two boxes overlap), best first. Predicts a sampled grid of
        each image (at most ~256x256 points) through the tile engine, so it costs about as
        much as a zoomed-out view.
        """
        from scipy import ndimage as ndi

        from .project import uncertainty_from
        from .view_features import ViewFeatures

        p = self.project
        if p.forest is None:
            p.train()
        cands = []
        for i, img in enumerate(p.images):
            H, Wd = img.shape_spatial[-2:]
            b = int(box or min(128, max(32, min(H, Wd) // 8)))
            step = max(1, int(np.ceil(max(H, Wd) / 256)))
            rows, cols = np.arange(0, H, step), np.arange(0, Wd, step)
            z = (self.z if i == self.image_index else img.shape_spatial[0] // 2) if img.ndim_spatial == 3 else None
            vf = ViewFeatures(p.engine, img, p.features, rows, cols, z=z)
            unc = np.zeros((rows.size, cols.size), np.float32)
            for k in range(len(vf)):
                _, ry, rx = vf.pieces[k]
                unc[ry, rx] = uncertainty_from(vf.predict(p.forest, k))
            lab = p.labels(i) if z is None else p.labels(i)[z]
            labeled = lab[np.ix_(rows, cols)] > 0
            cells = max(1, b // step)
            score = ndi.uniform_filter(unc, cells, mode="nearest")
            # away from what is labeled already: a labeled pixel within a box's reach rules it out
            near = ndi.maximum_filter(labeled.astype(np.uint8), 2 * cells + 1) > 0
            score[near] = -1.0
            cands.append((i, z, b, step, score))
        out = []
        while len(out) < n:
            best = max(((s.max(), i, z, b, st, s) for i, z, b, st, s in cands), key=lambda c: c[0], default=None)
            if best is None or best[0] < 0:
                break
            _, i, z, b, st, s = best
            r, c = np.unravel_index(int(np.argmax(s)), s.shape)
            H, Wd = p.images[i].shape_spatial[-2:]
            y0 = int(np.clip(r * st - b // 2, 0, max(H - b, 0)))
            x0 = int(np.clip(c * st - b // 2, 0, max(Wd - b, 0)))
            out.append((i, z, (y0, x0, min(y0 + b, H), min(x0 + b, Wd))))
            # no other box overlapping this one
            cells = max(1, b // st)
            s[max(0, r - 2 * cells):r + 2 * cells + 1, max(0, c - 2 * cells):c + 2 * cells + 1] = -1.0
        self.suggestions = out
        return out

    # ------------------------------------------------------------------ mouse
    def _on_event(self, ev):
        t = ev.get("type")
        x, y = ev.get("relativeX", 0), ev.get("relativeY", 0)
        if t == "wheel":
            self.zoom(1.25 if ev.get("deltaY", 0) < 0 else 1 / 1.25, at=(y, x))
            return
        if t == "mousedown":
            pan = ev.get("button") == 2 or ev.get("shiftKey") or self.tool == "pan"
            mode = "pan" if pan else self.tool
            self._drag = {"mode": mode, "last": (y, x), "start": (y, x)}
            if mode in ("brush", "eraser"):
                self._begin_stroke()
                k = self.current_class if mode == "brush" else 0
                self._drag["k"] = k
                self._paint_segment([self.view.to_image(y, x)], k, self.brush_size)
            elif mode == "contrast":
                chans = self._active_channels()
                self._drag["c"] = chans[0] if chans else 0
                self._drag["lim0"] = self.contrast(self._drag["c"])
            return
        if t == "mousemove":
            self._draw_cursor(y, x)
            d = self._drag
            if d is None:
                return
            ly, lx = d["last"]
            d["last"] = (y, x)
            if d["mode"] in ("brush", "eraser"):
                self._paint_segment([self.view.to_image(ly, lx), self.view.to_image(y, x)], d["k"], self.brush_size)
            elif d["mode"] == "pan":
                self.pan(y - ly, x - lx)
            elif d["mode"] == "contrast":
                lo, hi = d["lim0"]
                wdt, lvl = hi - lo, (hi + lo) / 2
                sy, sx = d["start"]
                wdt = max(wdt * float(np.exp((x - sx) / 150.0)), 1e-6)
                lvl = lvl - (y - sy) / self.canvas_size[0] * (hi - lo)
                self.set_contrast(d["c"], lvl - wdt / 2, lvl + wdt / 2)
            return
        if t in ("mouseup", "mouseleave"):
            d, self._drag = self._drag, None
            if t == "mouseleave":
                self.canvas[3].clear()
            if d is not None and d["mode"] in ("brush", "eraser"):
                self._end_stroke()

    def _draw_cursor(self, y, x):
        layer = self.canvas[3]
        with self._draw_lock:
            layer.clear()
            if self.tool in ("brush", "eraser"):
                layer.stroke_style = "#ffffff" if self.tool == "brush" else "#ff4040"
                layer.line_width = 1
                layer.stroke_circle(x, y, max(2.0, (self.brush_size + 0.5) * self.view.scale))

    # ------------------------------------------------------------------ live update
    @T.observe("live_update")
    def _on_live(self, change):
        if change["new"]:
            self.request_update()

    def request_update(self, force=False):
        """Retrain and repredict in the background (skipped while Live Update is off unless ``force``)."""
        if not (self.live_update or force):
            return
        with self._cv:
            self._force = self._force or force
            self._gen += 1
            self._pending = True
            self._cv.notify_all()

    def wait_idle(self, timeout=30):
        """Block until the background update has finished and the view is complete (raises TimeoutError)."""
        with self._cv:
            ok = self._cv.wait_for(lambda: not self._pending and not self._busy, timeout)
        if not ok:
            raise TimeoutError(f"live update still running after {timeout} s")
        return self

    def _current(self, gen):
        return gen == self._gen and not self._closed

    def _warm_up(self):
        """Load the compiled kernels (numba's disk cache) before the first stroke needs them."""
        from .features import compute_features

        from .forest import train_forest

        img = self.project.images[0]
        tiny = np.zeros((8,) * (img.ndim_spatial - 1) + (24, 24, img.n_channels), np.float32)
        try:
            compute_features(tiny, self.project.features)
            X = np.random.default_rng(0).random((64, 4), np.float32)
            forest, _ = train_forest(X, np.arange(64) % 2 + 1, 2)
            forest.predict_proba_fm(np.ascontiguousarray(X.T), np.arange(8))
            forest.predict_proba_fm(np.ascontiguousarray(X.T))
        except Exception:  # only a warm-up: the real call reports any problem
            pass

    def _worker_loop(self):
        self._warm_up()
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                self._pending = False
                self._busy = True
                gen = self._gen
            try:
                self._update(gen)
            except ValueError as e:  # e.g. only one class labeled yet: tell the user, keep running
                self.status = f"waiting: {e}"
            except Exception as e:  # never let the worker die silently
                self.status = f"update failed: {type(e).__name__}: {e}"
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _update(self, gen):
        """One background update: labeled features, training, then the view piece by piece.

        When training took long last time, the first ``PREVIEW_TREES`` trees are drawn as soon
        as they exist and the status says so; the whole forest's overlay replaces them.
        """
        t0 = self._stroke_t
        tm = {"features": 0.0, "train": 0.0, "predict": 0.0, "render": 0.0}
        p = self.project
        version = p.version
        retrain = (self.live_update or self._force) and (p.forest is None or version != self._trained_version)
        shown = []
        if retrain:
            self.status = "features of the labeled pixels…"
            t = time.perf_counter()
            p.store()
            tm["features"] += time.perf_counter() - t
            if not self._current(gen):
                return

            def on_preview(forest):
                if not self._current(gen):
                    return False
                tm["train"] = time.perf_counter() - t
                if self._fill_view(gen, tm, forest):
                    self._finish(tm, t0, forest, f"preview of {forest.n_trees} trees; growing the other "
                                                 f"{p.n_estimators - forest.n_trees}…")
                    shown.append(dict(self.timings))
                return self._current(gen)

            use_preview = self._last_train_s > PREVIEW_AFTER_S and p.n_estimators > 2 * PREVIEW_TREES
            try:
                self.status = "training…"
                t = time.perf_counter()
                p.train(preview=PREVIEW_TREES if use_preview else 0, on_preview=on_preview if use_preview else None)
                if not self._current(gen):
                    return
                self._trained_version = version
                self._force = False
                self._last_train_s = time.perf_counter() - t
                tm = {"features": tm["features"], "train": self._last_train_s, "predict": 0.0, "render": 0.0}
            except ValueError:
                if self.live_update and p.forest is None:  # no forest yet: have the view's features ready
                    self._fill_view(gen, tm)
                raise
        if p.forest is None or not self._current(gen):
            return
        if not self._fill_view(gen, tm):
            return
        self._finish(tm, t0, p.forest, "done")
        self.overlay_frames += 1
        self.n_updates += 1
        self.timings_full = dict(self.timings)
        if shown:  # what the person waited for is the preview's overlay
            self.timings = shown[0]

    def _finish(self, tm, t0, forest, what):
        """Draw the view's overlay and report the timings."""
        t = time.perf_counter()
        self._draw()
        tm["render"] = time.perf_counter() - t
        tm["total"] = time.perf_counter() - t0
        self.timings = dict(tm)
        n_lab = self.project.store().n_labeled()
        self.status = (f"update #{self.n_updates + 1} {what}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in tm.items())
                       + f" | {forest.n_trees} trees on {n_lab} labeled px")

    def _fill_view(self, gen, tm, forest=None):
        """Predict the view's pieces from the centre out, drawing as they finish.

        Returns False when the work became stale (a newer stroke, or the view moved).
        """
        p = self.project
        forest = forest or p.forest
        vf = self._view_features()
        if vf is None or vf.key != self._view_key():
            return False
        if forest is None:  # features only, ready for the first forest
            for k in range(len(vf)):
                if not self._current(gen) or self._vf is not vf:
                    return False
                self.status = f"features of the view: {k}/{len(vf)} tiles"
                vf.features(k)
            return True
        key = (vf.key, forest)
        self._shown_forest = forest
        vp = self._vprob
        if vp is None or vp[0] != key:
            K = forest.n_classes
            vp = self._vprob = [key, np.zeros((vf.rows.size, vf.cols.size, K), np.float32),
                                np.zeros(len(vf), bool)]
        last_draw = time.perf_counter()
        for k in range(len(vf)):
            if vp[2][k]:
                continue
            if not self._current(gen) or self._vf is not vf:
                return False
            t = time.perf_counter()
            vf.features(k)
            t1 = time.perf_counter()
            prob = vf.predict(forest, k)
            _, ry, rx = vf.pieces[k]
            vp[1][ry, rx] = prob
            vp[2][k] = True
            t2 = time.perf_counter()
            tm["features"] += t1 - t
            tm["predict"] += t2 - t1
            done = int(vp[2].sum())
            self.view_progress = (done, len(vf))
            if done < len(vf):
                self.status = f"predicting the view: {done}/{len(vf)} tiles"
                if t2 - last_draw > 0.25:  # a large view fills in as it goes
                    self._draw()
                    last_draw = time.perf_counter()
        self.view_progress = (len(vf), len(vf))
        return True

    def close(self):
        """Stop the worker and close the widgets."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self.widget.close()

    # ------------------------------------------------------------------ export / save buttons
    def _path_action(self, text, hint, verb, action):
        """Run ``action(path)`` for the path typed in ``text``; report the outcome in the status line."""
        path = text.value.strip()
        if not path:
            self.status = hint
            return
        try:
            self.status = action(path)
        except Exception as e:  # shown to the user; nothing is written on failure (atomic writes)
            self.status = f"{verb} failed: {e}"

    def _export_clicked(self):
        def export(path):
            if self.project.forest is None and self.w_exp_source.value != "features":
                self.project.train()
            out = self.project.export(self.image_index, path, source=self.w_exp_source.value,
                                      dtype=self.w_exp_dtype.value, renormalize=self.w_exp_renorm.value)
            return f"exported {self.w_exp_source.value} to {os.path.abspath(out)}"

        self._path_action(self.w_exp_path, "export: type a path ending in .tif, .h5 or .npy", "export", export)

    def _save_clicked(self):
        self._path_action(self.w_save_path, "save: type a project path ending in .h5", "save",
                          lambda path: f"saved project to {os.path.abspath(self.project.save(path))}")
