"""The Suggest button: boxes where a new stroke would teach the forest most, and going to them."""
from __future__ import annotations

import ipywidgets as W


class SuggestionPanel(W.VBox):
    """"Suggest" computes boxes (see :func:`jupyter_pixclass.suggest.suggest_boxes`); one button per box."""

    def __init__(self, app):
        self.app = app
        self.button = W.Button(description="Suggest", icon="lightbulb-o",
                               tooltip="mark where a new stroke would teach the classifier most",
                               layout=W.Layout(width="110px"))
        self.button.on_click(lambda _: self.suggest_clicked())
        self.list = W.HBox(layout=W.Layout(flex_flow="row wrap"))
        self.info = W.HTML(layout=W.Layout(width="auto"))
        self.info.add_class("pixclass-help")
        super().__init__([W.HBox([self.button, self.info]), self.list])

    def suggest_clicked(self):
        a = self.app
        try:
            a.progress_panel.show("suggest: scoring the images…", 0.3)
            boxes = a.suggest()
            a.progress_panel.show("done", 1.0)
        except ValueError as e:  # e.g. nothing labeled yet
            a.status = f"suggest: {e}"
            a.progress_panel.show("idle", 0.0)
            return
        self.info.value = (f"{len(boxes)} places in yellow: paint what you see there" if boxes
                           else "nothing to suggest: every unsure place is labeled already")

    def show(self, boxes):
        """One button per box; clicking it moves the view there."""
        buttons = []
        for n, (i, z, (y0, x0, y1, x1)) in enumerate(boxes, start=1):
            where = f"image {i}" + (f", z {z}" if z is not None else "") + f", y {y0}–{y1}, x {x0}–{x1}"
            b = W.Button(description=f"Go to {n}", icon="crosshairs", tooltip=where, layout=W.Layout(width="96px"))
            b.add_class(f"pixclass-suggestion-{n}")
            b.on_click(lambda _, j=n - 1: self.app.go_to_suggestion(j))
            buttons.append(b)
        self.list.children = buttons
