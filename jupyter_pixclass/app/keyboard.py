"""Keyboard shortcuts while the pointer is over the image, and the help that lists them.

ipyevents listens on the document only while the pointer is over the canvas (focusing it) and
stops the event there; :class:`KeyGuard` marks the canvas so that the notebook's command-mode
keys (B: new cell, O: hide output...) stay quiet in Jupyter Notebook 7 as well as JupyterLab.
"""
from __future__ import annotations

import html

import ipywidgets as W
from ipyevents import Event

from .key_guard import KeyGuard

OVERLAY_CYCLE = ("probabilities", "segmentation", "uncertainty", "none")

# (keys as shown, what they do); the handler below is the single source of behaviour
SHORTCUTS = [
    ("B", "brush"), ("E", "eraser"), ("P", "pan"), ("C", "contrast (drag: window / level)"),
    ("[ / ]", "smaller / larger brush"), ("1 – 9", "select class 1 – 9"),
    ("Ctrl+Z", "undo"), ("Ctrl+Shift+Z, Ctrl+Y", "redo"),
    ("O", "next overlay"), ("U", "uncertainty overlay on / off"), ("L", "labels on / off"),
    ("+ / −", "zoom in / out"), ("0", "fit the image"),
    ("wheel", "zoom at the pointer"), ("right or Shift drag", "pan"),
    ("↑ / ↓, PgUp / PgDn", "volumes: move the plane under the pointer by 1 / 10"),
    ("Ctrl+click (or click with pan)", "volumes: move the cursor of the three views there"),
]
PLANE_AXIS = {"xy": 0, "xz": 1, "yz": 2}  # the axis each pane holds fixed
STEPS = {"ArrowUp": 1, "ArrowDown": -1, "PageUp": 10, "PageDown": -10}


def help_html():
    """The keyboard shortcuts as an HTML table (our own text only)."""
    rows = "".join(f"<tr><td><kbd>{html.escape(k)}</kbd></td><td>{html.escape(v)}</td></tr>" for k, v in SHORTCUTS)
    note = "The notebook's own shortcuts (B: new cell ...) are off while the pointer is over the image."
    return (f"<div class='pixclass-help'><b>Keys (pointer over the image)</b><table>{rows}</table>"
            f"<small>{note}</small></div>")


class Keyboard:
    """Maps key presses over ``app``'s canvases to its actions."""

    def __init__(self, app):
        self.app = app
        self.events = self.attach(app.canvas_view.canvas, "xy")
        self.guard = KeyGuard(selector=".pixclass-canvas", root=".pixclass-app")

    def attach(self, canvas, plane):
        """Listen to keys over ``canvas``, the pane of ``plane`` ("xy", "xz", "yz")."""
        events = Event(source=canvas, watched_events=["keydown"], prevent_default_action=True,
                       ignore_modifier_key_events=True)
        events.on_dom_event(lambda ev: self.on_key(ev, plane))
        return events

    def on_key(self, ev, plane="xy"):
        """Handle one ``keydown`` event dict (``key``, ``ctrlKey``, ``metaKey``, ``shiftKey``) over ``plane``; True if used."""
        a = self.app
        key = str(ev.get("key", ""))
        low = key.lower()
        ctrl = bool(ev.get("ctrlKey") or ev.get("metaKey"))
        if ctrl:
            if low == "z":
                (a.redo if ev.get("shiftKey") else a.undo)()
            elif low == "y":
                a.redo()
            else:
                return False
            return True
        tools = {"b": "brush", "e": "eraser", "p": "pan", "c": "contrast"}
        if low in tools:
            a.tool = tools[low]
        elif key in ("[", "]"):
            step = max(1, round(a.brush_size * 0.25))
            a.brush_size = min(50, max(1, a.brush_size + (step if key == "]" else -step)))
        elif key.isdigit() and key != "0":
            if int(key) <= len(a.project.classes):
                a.current_class = int(key)
        elif low == "o":
            cur = a.overlay if a.overlay in OVERLAY_CYCLE else "probabilities"
            a.overlay = OVERLAY_CYCLE[(OVERLAY_CYCLE.index(cur) + 1) % len(OVERLAY_CYCLE)]
        elif low == "u":
            a.overlay = "probabilities" if a.overlay == "uncertainty" else "uncertainty"
        elif low == "l":
            a.show_labels = not a.show_labels
        elif key in ("+", "="):
            a.zoom(1.5)
        elif key in ("-", "_"):
            a.zoom(1 / 1.5)
        elif key == "0":
            a.fit()
        elif key in STEPS and a.image.ndim_spatial == 3:
            c, axis = list(a.cursor), PLANE_AXIS[plane]
            c[axis] = min(max(c[axis] + STEPS[key], 0), a.image.shape_spatial[axis] - 1)
            a.cursor = tuple(c)
        else:
            return False
        return True


def help_widgets():
    """A "?" toggle and the help panel it shows."""
    button = W.ToggleButton(icon="question", tooltip="keyboard shortcuts", layout=W.Layout(width="36px"))
    panel = W.HTML(help_html(), layout=W.Layout(display="none"))
    button.observe(lambda c: setattr(panel.layout, "display", None if c["new"] else "none"), "value")
    return button, panel
