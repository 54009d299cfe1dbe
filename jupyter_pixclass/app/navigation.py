"""Which image, time point, slice and channel the canvas shows."""
from __future__ import annotations

import ipywidgets as W


class Navigation(W.VBox):
    """Image chooser, t and z sliders, composite/single channel, above the channel rows."""

    def __init__(self, app):
        self.app = app
        narrow = {"description_width": "60px"}
        self.image = W.Dropdown(description="Image", style=narrow, layout=W.Layout(width="330px"))
        self.t = W.IntSlider(description="t", min=0, max=0, continuous_update=False, style=narrow,
                             tooltip="time point of this series")
        self.z = W.IntSlider(description="z", min=0, max=0, style=narrow, tooltip="slice of the volume")
        self.channel = W.Dropdown(description="Show", options=[("Composite", "composite")], style=narrow,
                                  layout=W.Layout(width="330px"))
        self.image.observe(lambda c: setattr(app, "image_index", c["new"]) if c["new"] is not None else None, "value")
        self.t.observe(lambda c: self.go_to_time(c["new"]), "value")  # frames of a series are images
        W.link((app, "z"), (self.z, "value"))
        W.link((app, "display_channel"), (self.channel, "value"))
        super().__init__([self.image, self.t, self.z, self.channel, app.channels])

    def set_image(self, i):
        """Point the controls at image ``i``; returns its number of slices."""
        a = self.app
        img = a.project.images[i]
        self.image.options = [(f"{j}: {im.name}", j) for j, im in enumerate(a.project.images)]
        self.image.value = i
        self.image.layout.display = None if len(a.project.images) > 1 else "none"
        nz = img.shape_spatial[0] if img.ndim_spatial == 3 else 1
        self.channel.options = [("Composite", "composite")] + [(n, f"ch:{c}") for c, n in enumerate(img.channel_names)]
        a.display_channel = "composite"
        self.z.max = nz - 1
        self.z.layout.display = None if nz > 1 else "none"
        series = getattr(img, "series", None)
        with self.t.hold_trait_notifications():
            self.t.max = series[2] - 1 if series else 0
            self.t.value = series[1] if series else 0
        self.t.layout.display = None if series else "none"
        return nz

    def go_to_time(self, t):
        """Show frame ``t`` of the series the current image belongs to."""
        a = self.app
        series = getattr(a.image, "series", None)
        if not series or series[1] == t:
            return
        for j, im in enumerate(a.project.images):
            s = getattr(im, "series", None)
            if s and s[0] == series[0] and s[2] == series[2] and s[1] == t:
                a.image_index = j
                return
