"""The canvas: image composite with the overlay, painted labels, suggestion boxes, brush cursor."""
from __future__ import annotations

import threading

import ipywidgets as W
import numpy as np
from ipycanvas import MultiCanvas

from ..outputs.results import uncertainty_from
from . import render

IMAGE, LABELS, MARKS, CURSOR = range(4)  # canvas layers, bottom to top


def put_encoded(canvas, data, x=0, y=0, fmt="jpeg", quality=85):
    """Send pixels with our own encoding: ipycanvas's default PNG costs ~430 ms at 1024x1024."""
    try:
        from ipycanvas.canvas import COMMANDS

        buf = render.encode_jpeg(data, quality) if fmt == "jpeg" else render.encode_png(data, 1)
        canvas._canvas_manager.send_draw_command(canvas, COMMANDS["putImageData"], [x, y], [buf])
        return len(buf)
    except (ImportError, AttributeError, KeyError):  # ipycanvas internals moved: fall back to its encoder
        canvas.put_image_data(data if data.dtype == np.uint8 else render.to_uint8(data), x, y)
        return 0


def view_pixels(img, z, ys, xs, chans, scale):
    """The pixels a view shows: rows ``ys``, columns ``xs``, channels ``chans`` of plane ``z`` (None in 2D).

    Only the shown channels are read (IMC stacks have 25+). Of an image left in its file, only the
    view's span is read, from the coarsest level of its pyramid whose pixels are still no larger
    than a display pixel (``scale``: display pixels per image pixel).
    """
    if not img.lazy:
        plane = img.data if z is None else img.data[z]
        return plane[np.ix_(ys, xs, chans)]
    src, f = img.data, [1] * img.ndim_spatial
    for level in img.levels:
        g = [max(1, round(a / b)) for a, b in zip(img.shape_spatial, level.shape[:-1])]
        if g[-1] * scale <= 1 and g[-2] * scale <= 1:
            src, f = level, g
    yl, xl = np.minimum(ys // f[-2], src.shape[-3] - 1), np.minimum(xs // f[-1], src.shape[-2] - 1)
    lead = () if z is None else (min(z // f[0], src.shape[0] - 1),)
    block = src[lead + (slice(int(yl.min()), int(yl.max()) + 1), slice(int(xl.min()), int(xl.max()) + 1),
                        np.asarray(chans, np.int64))]
    return block[np.ix_(yl - yl.min(), xl - xl.min(), np.arange(len(chans)))]


class CanvasView:
    """Draws ``app``'s state on a four-layer MultiCanvas; all drawing goes through one lock."""

    def __init__(self, app):
        self.app = app
        h, w = app.canvas_size
        self.canvas = MultiCanvas(4, width=w, height=h, layout=W.Layout(width=f"{w}px", height=f"{h}px"))
        self.canvas.add_class("pixclass-canvas")
        self.lock = threading.RLock()
        self.ready = False  # no drawing while the view is half set up
        self.frames_sent = 0
        self._comp_key, self._comp, self._inside = None, None, None

    def frame(self, with_overlay=True):
        """The RGB float frame the image layer shows (image composite + overlay)."""
        a = self.app
        rgb = self._composite()
        ov = a.overlay
        pv = a.prediction.probabilities() if with_overlay and ov != "none" else None
        if pv is not None and pv[0].shape[-1] == len(a.project.classes):  # else made before a class change
            over = self._overlaid(rgb, pv[0], ov)
            rgb = over if pv[1].all() else np.where(pv[1][..., None], over, rgb)  # unpredicted parts: the image
            return rgb * self._inside
        return rgb

    def _composite(self):
        """The shown channels' composite of the view, outside the image black (kept while nothing it shows changes).

        Every overlay frame of Live Update redraws the same image pixels; composing them again
        cost about a third of a frame.
        """
        a = self.app
        chans = list(a.channels.active())
        limits = [tuple(np.ravel(a.channels.limits[a.image_index][c]).tolist()) for c in chans]
        colors = [a.channels.colors[a.image_index][c] for c in chans]
        if len(chans) == 1 and a.display_channel.startswith("ch:"):
            colors = ["#ffffff"]  # a single channel is shown in grey
        key = (a.image.uid, a.z if a.image.ndim_spatial == 3 else None, a.view.origin, a.view.scale,
               a.view.size, tuple(chans), tuple(limits), tuple(colors))
        if self._comp_key != key:
            ys, xs, _, _ = a.view.indices()
            data = view_pixels(a.image, a.z if a.image.ndim_spatial == 3 else None, ys, xs, chans, a.view.scale)
            self._inside = a.view.inside()[..., None]
            self._comp = render.composite(data, limits, colors) * self._inside
            self._comp_key = key
        return self._comp

    def _overlaid(self, rgb, prob, ov):
        a = self.app
        cols, alpha = a.project.colors, a.overlay_opacity
        if ov == "probabilities":
            return render.blend(rgb, render.probability_rgb(prob, cols), alpha)
        if ov.startswith("probability:"):
            k = int(ov.split(":")[1]) - 1
            if k < prob.shape[-1]:
                over = np.broadcast_to(render.hex_to_rgb(cols[k]), rgb.shape)
                return render.blend(rgb, over, prob[..., k] * alpha)
        if ov == "segmentation":
            return render.blend(rgb, render.segmentation_rgb(np.argmax(prob, -1) + 1, cols), alpha)
        if ov == "uncertainty":
            return render.blend(rgb, render.uncertainty_rgb(uncertainty_from(prob)), alpha)
        return rgb

    def draw(self, with_overlay=True):
        """Draw the image and the overlay of the current view."""
        if not self.ready:
            return
        with self.lock:
            put_encoded(self.canvas[IMAGE], self.frame(with_overlay), fmt="jpeg")
            self.frames_sent += 1

    def draw_labels(self):
        """Draw the labels layer of the current view."""
        if not self.ready:
            return
        a = self.app
        with self.lock:
            layer = self.canvas[LABELS]
            layer.clear()
            if not a.show_labels:
                return
            lab = a.view.sample(a.plane(a.project.labels(a.image_index)))
            lab = np.where(a.view.inside(), lab, 0)
            if lab.any():
                put_encoded(layer, render.labels_rgba(lab, a.project.colors, a.labels_opacity), fmt="png")

    def draw_segment(self, pts, k, radius):
        """Immediate feedback for a brush segment ``pts`` [(y, x)] in image pixels (0 = eraser: redraw)."""
        a = self.app
        if not a.show_labels:
            return
        if k == 0:
            self.draw_labels()
            return
        layer, s = self.canvas[LABELS], a.view.scale
        disp = [a.view.to_display(y, x) for y, x in pts]
        with self.lock:
            layer.global_alpha = a.labels_opacity
            layer.stroke_style = layer.fill_style = a.project.colors[k - 1]
            layer.line_width = max(1.0, (2 * radius + 1) * s)
            layer.line_cap = layer.line_join = "round"
            if len(disp) == 1:
                layer.fill_circle(disp[0][1], disp[0][0], max(0.5, (radius + 0.5) * s))
            else:
                layer.stroke_lines([(x, y) for y, x in disp])
            layer.global_alpha = 1.0

    def draw_marks(self):
        """Suggestion boxes on the shown image/slice, numbered; an "updating…" tag on a stale overlay."""
        if not self.ready:
            return
        a = self.app
        with self.lock:
            layer = self.canvas[MARKS]
            layer.clear()
            layer.line_width = 2
            layer.font = "bold 14px sans-serif"
            for n, (i, z, (y0, x0, y1, x1)) in enumerate(a.suggestions, start=1):
                if i != a.image_index or (z is not None and z != a.z):
                    continue
                (dy0, dx0), (dy1, dx1) = a.view.to_display(y0, x0), a.view.to_display(y1, x1)
                layer.stroke_style = layer.fill_style = "#ffd400"
                layer.stroke_rect(dx0, dy0, dx1 - dx0, dy1 - dy0)
                layer.fill_text(str(n), dx0 + 4, dy0 + 16)
            if a.overlay_stale and a.overlay != "none":
                layer.fill_style = "rgba(0, 0, 0, 0.6)"
                layer.fill_rect(4, 4, 92, 22)
                layer.fill_style = "#ffb74d"
                layer.fill_text("updating…", 10, 20)

    def draw_cursor(self, y, x):
        """Draw the brush outline at image position (``y``, ``x``)."""
        a = self.app
        with self.lock:
            layer = self.canvas[CURSOR]
            layer.clear()
            if a.tool in ("brush", "eraser"):
                layer.stroke_style = "#ffffff" if a.tool == "brush" else "#ff4040"
                layer.line_width = 1
                layer.stroke_circle(x, y, max(2.0, (a.brush_size + 0.5) * a.view.scale))

    def clear_cursor(self):
        """Remove the brush outline."""
        with self.lock:
            self.canvas[CURSOR].clear()
