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


SPAN_READ = 1 << 24  # values of a lazy image's span read whole for a pane (32 MB of uint16); larger: strided


def section_pixels(img, axis, pos, rows, cols, chans, scales):
    """The pixels a pane shows: ``rows`` x ``cols`` x channels ``chans`` of the plane through ``pos``.

    ``axis`` is the spatial axis held at ``pos`` (0: an xy plane, 1: xz, 2: yz; None for a 2D
    image); ``rows`` index the plane's first remaining axis, ``cols`` its second. Only the shown
    channels are read (IMC stacks have 25+). Of an image left in its file, only the pane's span
    is read, from the coarsest level of its pyramid whose pixels are still no larger than a
    display pixel (``scales``: display pixels per image pixel along rows and columns).
    """
    nsp = img.ndim_spatial
    v_ax, h_ax = [a for a in range(nsp) if a != axis]
    if not img.lazy:
        plane = img.data if axis is None else img.data[(slice(None),) * axis + (int(pos),)]
        return plane[np.ix_(rows, cols, chans)]
    src, f = img.data, [1] * nsp
    for level in img.levels:
        g = [max(1, round(a / b)) for a, b in zip(img.shape_spatial, level.shape[:-1])]
        if g[v_ax] * scales[0] <= 1 and g[h_ax] * scales[1] <= 1:
            src, f = level, g
    rl, cl = np.minimum(rows // f[v_ax], src.shape[v_ax] - 1), np.minimum(cols // f[h_ax], src.shape[h_ax] - 1)
    # a span too large to read whole (without a pyramid level that fits, a zoomed-out view spans the
    # image: 50 000^2 x 2 is 9.3 GiB): shown rows (columns) lie at least g apart, so every g-th is
    # read and each shown one comes from the row at most g - 1 before it, inside its display pixel
    span = (int(rl.max()) - int(rl.min()) + 1) * (int(cl.max()) - int(cl.min()) + 1) * len(chans)
    gr, gc = (_stride(rl), _stride(cl)) if span > SPAN_READ else (1, 1)
    key = [0] * nsp
    key[v_ax] = slice(int(rl.min()), int(rl.max()) + 1, gr)
    key[h_ax] = slice(int(cl.min()), int(cl.max()) + 1, gc)
    if axis is not None:
        key[axis] = min(int(pos) // f[axis], src.shape[axis] - 1)
    block = src[tuple(key) + (np.asarray(chans, np.int64),)]
    return block[np.ix_((rl - rl.min()) // gr, (cl - cl.min()) // gc, np.arange(len(chans)))]


def _stride(ix):
    """The smallest gap between the distinct indices ``ix`` (1 when there are fewer than two)."""
    d = np.diff(np.unique(ix))
    return max(1, int(d.min())) if d.size else 1


def view_pixels(img, z, ys, xs, chans, scale):
    """The pixels the xy view shows: rows ``ys``, columns ``xs``, channels ``chans`` of plane ``z`` (None in 2D)."""
    return section_pixels(img, None if z is None else 0, z, ys, xs, chans, (scale, scale))


CANVAS_LIMITS = (16, 8192)  # display pixels a side: a typo of 100000 asked the browser for 30 GB of canvas


def check_canvas_size(canvas_size):
    """``canvas_size`` as ``(height, width)`` whole numbers within :data:`CANVAS_LIMITS`, else a ValueError."""
    lo, hi = CANVAS_LIMITS
    try:
        h, w = canvas_size
        ok = all(float(v) == int(v) and lo <= int(v) <= hi for v in (h, w))
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"canvas_size {canvas_size!r} should be (height, width) in display pixels, each {lo}..{hi}")
    return int(h), int(w)


def draw_crosshair(layer, at, size):
    """Thin lines through display point ``at`` (y, x) across a layer of ``size`` (h, w): the cursor of the orthoviews."""
    y, x = at
    layer.stroke_style = "rgba(255, 255, 255, 0.55)"
    layer.line_width = 1
    layer.stroke_lines([(0, y), (size[1], y)])
    layer.stroke_lines([(x, 0), (x, size[0])])


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
        return self.with_overlay(rgb, a.prediction.probabilities() if with_overlay else None, self._inside)

    def with_overlay(self, rgb, pv, inside):
        """``rgb`` with the overlay of ``pv`` (probabilities, where ready) where ready; black outside ``inside``."""
        a = self.app
        if pv is not None and a.overlay != "none" and pv[0].shape[-1] == len(a.project.classes):  # else stale
            over = self.overlaid(rgb, pv[0], a.overlay)
            rgb = over if pv[1].all() else np.where(pv[1][..., None], over, rgb)  # unpredicted parts: the image
            return rgb * inside
        return rgb

    def channel_style(self):
        """``(channels, limits, colours)`` shown now: what a composite of the current image needs."""
        a = self.app
        chans = list(a.channels.active())
        limits = tuple(tuple(np.ravel(a.channels.limits[a.image_index][c]).tolist()) for c in chans)
        colors = tuple(a.channels.colors[a.image_index][c] for c in chans)
        if len(chans) == 1 and a.display_channel.startswith("ch:"):
            colors = ("#ffffff",)  # a single channel is shown in grey
        return chans, limits, colors

    def _composite(self):
        """The shown channels' composite of the view, outside the image black (kept while nothing it shows changes).

        Every overlay frame of Live Update redraws the same image pixels; composing them again
        cost about a third of a frame.
        """
        a = self.app
        chans, limits, colors = self.channel_style()
        key = (a.image.uid, a.z if a.image.ndim_spatial == 3 else None, a.view.origin, a.view.scale,
               a.view.size, tuple(chans), limits, colors)
        if self._comp_key != key:
            ys, xs, _, _ = a.view.indices()
            data = view_pixels(a.image, a.z if a.image.ndim_spatial == 3 else None, ys, xs, chans, a.view.scale)
            self._inside = a.view.inside()[..., None]
            self._comp = render.composite(data, limits, colors) * self._inside
            self._comp_key = key
        return self._comp

    def overlaid(self, rgb, prob, ov):
        """``rgb`` under overlay ``ov`` (probabilities, probability:k, segmentation, uncertainty) of ``prob``."""
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
            if a.ortho.visible():
                z, y, x = a.cursor
                draw_crosshair(layer, a.view.to_display(y + 0.5, x + 0.5), a.canvas_size)
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
