"""Progress of what runs (features, training, the view's prediction, exports) and overlay freshness."""
from __future__ import annotations

import ipywidgets as W


class ProgressPanel(W.VBox):
    """A progress bar with the running stage, and a marker saying whether the overlay is up to date."""

    def __init__(self, app):
        self.app = app
        self.bar = W.FloatProgress(value=0.0, min=0.0, max=1.0, layout=W.Layout(width="150px"))
        self.stage = W.Label("idle", layout=W.Layout(width="auto"))
        self.marker = W.HTML(layout=W.Layout(width="auto"))
        super().__init__([W.HBox([self.bar, self.stage]), self.marker])
        self.add_class("pixclass-progress")
        app.observe(lambda c: self.show_marker(), ["overlay_stale", "overlay"])
        self.show_marker()

    def show(self, stage, fraction):
        """Show ``stage`` (e.g. "training") at ``fraction`` in [0, 1]; ``None`` fraction keeps the bar."""
        if fraction is not None:
            self.bar.value = float(min(max(fraction, 0.0), 1.0))
        self.bar.bar_style = "success" if stage in ("done", "idle") else "info"
        self.stage.value = stage

    def show_marker(self):
        """Say whether the overlay is up to date."""
        a = self.app
        if a.overlay == "none" or a.project.forest is None and not a.overlay_stale:
            self.marker.value = ""
        elif a.overlay_stale:
            self.marker.value = "<span class='pixclass-stale'>⟳ overlay updating…</span>"
        else:
            self.marker.value = "<span class='pixclass-fresh'>✓ overlay up to date</span>"
        a.canvas_view.draw_marks()
