"""Mouse on a canvas: paint, erase, pan (right/shift drag too), window/level drag, wheel zoom, cursor clicks."""
from __future__ import annotations

import numpy as np
from ipyevents import Event

CLICK_PX = 3  # a press and release closer than this is a click, not a drag


class Mouse:
    """Turns ipyevents mouse events on a canvas of ``app`` into painting and view changes.

    ``pane`` is an orthogonal pane (:class:`.OrthoPane`) or None for the xy canvas. A click
    with the pan tool, or a Ctrl-click with any tool, moves the cursor of the orthogonal views there.
    """

    def __init__(self, app, pane=None):
        self.app, self.pane = app, pane
        self.plane = "xy" if pane is None else pane.plane
        self.drag = None
        canvas = app.canvas_view.canvas if pane is None else pane.canvas
        self.events = Event(source=canvas,
                            watched_events=["mousedown", "mouseup", "mousemove", "wheel", "mouseleave",
                                            "contextmenu"],
                            prevent_default_action=True, wait=10, throttle_or_debounce="throttle")
        self.events.on_dom_event(self.on_event)

    def view(self):
        """The view of the canvas these events come from."""
        return self.app.view if self.pane is None else self.pane.view()

    def _surface(self):
        return self.app.canvas_view if self.pane is None else self.pane

    def on_event(self, ev):
        """Handle one ipyevents mouse event (paint, pan, contrast, zoom, move the cursor)."""
        t = ev.get("type")
        y, x = ev.get("relativeY", 0), ev.get("relativeX", 0)
        if t == "wheel":
            self.app.zoom(1.25 if ev.get("deltaY", 0) < 0 else 1 / 1.25, at=(y, x) if self.pane is None else None)
        elif t == "mousedown":
            self._down(ev, y, x)
        elif t == "mousemove":
            self._surface().draw_cursor(y, x)
            if self.drag is not None:
                self._move(y, x)
        elif t in ("mouseup", "mouseleave"):
            d, self.drag = self.drag, None
            if t == "mouseleave":
                self._surface().clear_cursor()
            if d is None:
                return
            if d["mode"] in ("brush", "eraser"):
                self.app.painter.end()
            elif d["mode"] in ("pan", "cursor") and t == "mouseup" and self._is_click(d["start"], (y, x)):
                self.move_cursor(y, x)

    @staticmethod
    def _is_click(a, b):
        return abs(a[0] - b[0]) < CLICK_PX and abs(a[1] - b[1]) < CLICK_PX

    def move_cursor(self, y, x):
        """Put the cursor of the orthogonal views at display point (``y``, ``x``) of this canvas."""
        a = self.app
        if a.image.ndim_spatial != 3:
            return
        r, c = (int(np.floor(v)) for v in self.view().to_image(y, x))
        voxel = (a.z, r, c) if self.pane is None else self.pane.to_voxel(r, c)
        a.cursor = tuple(int(np.clip(v, 0, n - 1)) for v, n in zip(voxel, a.image.shape_spatial))

    def _down(self, ev, y, x):
        a = self.app
        pan = ev.get("button") == 2 or ev.get("shiftKey") or a.tool == "pan"
        mode = "cursor" if ev.get("ctrlKey") or ev.get("metaKey") else "pan" if pan else a.tool
        self.drag = {"mode": mode, "last": (y, x), "start": (y, x)}
        if mode in ("brush", "eraser"):
            a.painter.begin(self.plane)
            self.drag["k"] = a.current_class if mode == "brush" else 0
            a.painter.segment([self.view().to_image(y, x)], self.drag["k"], a.brush_size, self.plane)
        elif mode == "contrast":
            chans = a.channels.active()
            self.drag["c"] = chans[0] if chans else 0
            self.drag["lim0"] = a.contrast(self.drag["c"])

    def _move(self, y, x):
        a, d = self.app, self.drag
        ly, lx = d["last"]
        d["last"] = (y, x)
        if d["mode"] in ("brush", "eraser"):
            v = self.view()
            a.painter.segment([v.to_image(ly, lx), v.to_image(y, x)], d["k"], a.brush_size, self.plane)
        elif d["mode"] == "pan":  # a pane pans the xy view along its horizontal axis only
            dy, dx = (y - ly, x - lx) if self.pane is None else (0, x - lx) if self.plane == "xz" else (x - lx, 0)
            a.pan(dy, dx)
        elif d["mode"] == "contrast":  # horizontal drag: window width; vertical: level
            lo, hi = d["lim0"]
            sy, sx = d["start"]
            width = max((hi - lo) * float(np.exp((x - sx) / 150.0)), 1e-6)
            level = (hi + lo) / 2 - (y - sy) / a.canvas_size[0] * (hi - lo)
            a.set_contrast(d["c"], level - width / 2, level + width / 2)
