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
        self.info = W.Label(layout=W.Layout(width="auto"))  # text: messages may hold names
        self.info.add_class("pixclass-help")
        super().__init__([W.HBox([self.button, self.info]), self.list])

    def suggest_clicked(self):
        """Score the images on the live-update thread (the kernel stays free), then show the boxes."""
        a = self.app
        self.button.disabled = True
        a.progress_panel.show("suggest: waiting for the update…", 0.05)

        def progress(k, n):
            if a.live.pending:  # a stroke or a new view waits: it goes first, the boxes would be stale
                raise InterruptedError("stopped for your last change; press Suggest again")
            a.progress_panel.show(f"suggest: scoring image {k + 1} of {n}…", 0.1 + 0.9 * k / max(n, 1))

        def job():
            try:
                boxes = a.suggest(progress=progress)
                a.progress_panel.show("done", 1.0)
                self.info.value = (f"{len(boxes)} places in yellow: paint what you see there" if boxes
                                   else "nothing to suggest: every unsure place is labeled already")
            finally:
                self.button.disabled = False

        def failed(e):
            if not isinstance(e, (ValueError, InterruptedError)):  # e.g. nothing labeled yet: said as is
                e = f"{type(e).__name__}: {e}"
            a.status = self.info.value = f"suggest: {e}"
            a.progress_panel.show("idle", 0.0)

        a.live.run(job, failed)

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
