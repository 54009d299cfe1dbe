"""Mouse on the canvas: paint, erase, pan (right/shift drag too), window/level drag, wheel zoom."""
from __future__ import annotations

import numpy as np
from ipyevents import Event


class Mouse:
    """Turns ipyevents mouse events on ``app``'s canvas into painting and view changes."""

    def __init__(self, app):
        self.app = app
        self.drag = None
        self.events = Event(source=app.canvas_view.canvas,
                            watched_events=["mousedown", "mouseup", "mousemove", "wheel", "mouseleave",
                                            "contextmenu"],
                            prevent_default_action=True, wait=10, throttle_or_debounce="throttle")
        self.events.on_dom_event(self.on_event)

    def on_event(self, ev):
        """Handle one ipyevents mouse event (paint, pan, contrast, zoom)."""
        t = ev.get("type")
        y, x = ev.get("relativeY", 0), ev.get("relativeX", 0)
        if t == "wheel":
            self.app.zoom(1.25 if ev.get("deltaY", 0) < 0 else 1 / 1.25, at=(y, x))
        elif t == "mousedown":
            self._down(ev, y, x)
        elif t == "mousemove":
            self.app.canvas_view.draw_cursor(y, x)
            if self.drag is not None:
                self._move(y, x)
        elif t in ("mouseup", "mouseleave"):
            d, self.drag = self.drag, None
            if t == "mouseleave":
                self.app.canvas_view.clear_cursor()
            if d is not None and d["mode"] in ("brush", "eraser"):
                self.app.painter.end()

    def _down(self, ev, y, x):
        a = self.app
        pan = ev.get("button") == 2 or ev.get("shiftKey") or a.tool == "pan"
        mode = "pan" if pan else a.tool
        self.drag = {"mode": mode, "last": (y, x), "start": (y, x)}
        if mode in ("brush", "eraser"):
            a.painter.begin()
            self.drag["k"] = a.current_class if mode == "brush" else 0
            a.painter.segment([a.view.to_image(y, x)], self.drag["k"], a.brush_size)
        elif mode == "contrast":
            chans = a.channels.active()
            self.drag["c"] = chans[0] if chans else 0
            self.drag["lim0"] = a.contrast(self.drag["c"])

    def _move(self, y, x):
        a, d = self.app, self.drag
        ly, lx = d["last"]
        d["last"] = (y, x)
        if d["mode"] in ("brush", "eraser"):
            a.painter.segment([a.view.to_image(ly, lx), a.view.to_image(y, x)], d["k"], a.brush_size)
        elif d["mode"] == "pan":
            a.pan(y - ly, x - lx)
        elif d["mode"] == "contrast":  # horizontal drag: window width; vertical: level
            lo, hi = d["lim0"]
            sy, sx = d["start"]
            width = max((hi - lo) * float(np.exp((x - sx) / 150.0)), 1e-6)
            level = (hi + lo) / 2 - (y - sy) / a.canvas_size[0] * (hi - lo)
            a.set_contrast(d["c"], level - width / 2, level + width / 2)
