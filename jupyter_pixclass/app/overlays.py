"""Overlay controls: what is drawn over the image (probabilities, one class, segmentation, uncertainty)."""
from __future__ import annotations

import ipywidgets as W


class OverlayControls(W.VBox):
    """Overlay kind and opacity, painted labels on/off and their opacity, linked to ``app``'s traits."""

    def __init__(self, app):
        self.app = app
        narrow = {"description_width": "70px"}
        self.kind = W.Dropdown(description="Overlay", options=[("Probabilities", "probabilities")],
                               style=narrow, layout=W.Layout(width="330px"))
        self.opacity = W.FloatSlider(min=0, max=1, step=0.05, description="Opacity", style=narrow,
                                     layout=W.Layout(width="330px"))
        self.show_labels = W.Checkbox(description="Show labels (L)", indent=False)
        self.labels_opacity = W.FloatSlider(min=0, max=1, step=0.05, description="Labels α", style=narrow,
                                            layout=W.Layout(width="330px"))
        super().__init__([self.kind, self.opacity, self.show_labels, self.labels_opacity])
        self.set_classes(app.project.classes)
        W.link((app, "overlay"), (self.kind, "value"))
        W.link((app, "overlay_opacity"), (self.opacity, "value"))
        W.link((app, "show_labels"), (self.show_labels, "value"))
        W.link((app, "labels_opacity"), (self.labels_opacity, "value"))

    def set_classes(self, classes):
        """Offer one "Probability: <class>" per class; keep the chosen overlay when it still exists."""
        opts = [("Probabilities", "probabilities")] + [(f"Probability: {c}", f"probability:{i}")
                                                        for i, c in enumerate(classes, start=1)]
        opts += [("Segmentation", "segmentation"), ("Uncertainty", "uncertainty"), ("None", "none")]
        cur = self.app.overlay if self.app.overlay in [v for _, v in opts] else "probabilities"
        self.kind.options = opts
        self.app.overlay = cur
        self.kind.value = cur
