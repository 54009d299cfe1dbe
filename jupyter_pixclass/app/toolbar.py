"""The tool bar: tools, brush size, undo/redo, zoom, Suggest and help."""
from __future__ import annotations

import ipywidgets as W

from .keyboard import help_widgets

TOOLS = ("brush", "eraser", "pan", "contrast")


def _icon(icon, tip, on_click):
    b = W.Button(icon=icon, tooltip=tip, layout=W.Layout(width="36px"))
    b.on_click(lambda _: on_click())
    return b


class Toolbar(W.HBox):
    """Linked to ``app``'s ``tool`` and ``brush_size``; wraps onto a second line when narrow."""

    def __init__(self, app):
        self.app = app
        self.tool = W.ToggleButtons(options=[("Brush", "brush"), ("Eraser", "eraser"), ("Pan", "pan"),
                                             ("Contrast", "contrast")],
                                    icons=["paint-brush", "eraser", "hand-paper-o", "adjust"],
                                    tooltips=["paint the selected class (B)", "erase labels (E)",
                                              "move the view (P; right or Shift drag)",
                                              "drag: horizontal window, vertical level (C)"],
                                    style={"button_width": "auto"})
        self.brush = W.IntSlider(min=1, max=50, description="Size", tooltip="brush radius in image pixels ([ and ])",
                                 style={"description_width": "36px"}, layout=W.Layout(width="200px"))
        self.undo = _icon("undo", "undo the last stroke (Ctrl+Z)", app.undo)
        self.redo = _icon("repeat", "redo (Ctrl+Shift+Z or Ctrl+Y)", app.redo)
        self.zoom_in = _icon("search-plus", "zoom in (+)", lambda: app.zoom(1.5))
        self.zoom_out = _icon("search-minus", "zoom out (−)", lambda: app.zoom(1 / 1.5))
        self.fit = _icon("expand", "fit the image (0)", app.fit)
        self.help, self.help_panel = help_widgets()
        W.link((app, "tool"), (self.tool, "value"))
        W.link((app, "brush_size"), (self.brush, "value"))
        super().__init__([self.tool, self.brush, self.undo, self.redo, self.zoom_in, self.zoom_out, self.fit,
                          self.help])
        self.add_class("pixclass-wrap")
