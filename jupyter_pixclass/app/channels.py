"""Channel display: which channels, their colours, and a display window over a small histogram."""
from __future__ import annotations

import ipywidgets as W

from ..features.normalize import image_sample
from . import render


def _fmt(v):
    """Compact numbers for the window readout (integers when large, never scientific below 1e6)."""
    return f"{v:.0f}" if 100 <= abs(v) < 1e6 else f"{v:.3g}"


class ChannelRow(W.VBox):
    """One channel: visible, colour, name, histogram with the window; window slider and readout."""

    def __init__(self, controls, c, name, color, visible, window, data_range, counts):
        self.counts, self.data_range = counts, data_range
        self.visible = W.Checkbox(value=visible, indent=False, layout=W.Layout(width="22px"),
                                  tooltip=f"show {name} in the composite")
        self.color = W.ColorPicker(value=color, concise=True, layout=W.Layout(width="36px"),
                                   tooltip=f"colour of {name}")
        self.name = W.Label(name, tooltip=f"{name}: histogram of log counts, display window marked",
                            layout=W.Layout(width="96px"))
        self.hist = W.Image(format="png", layout=W.Layout(width="100px", height="24px", flex="0 0 100px"))
        self.auto = W.Button(icon="magic", tooltip="auto window: 0.5-99.5th percentile", layout=W.Layout(width="36px"))
        self.reset = W.Button(icon="arrows-h", tooltip="full data range", layout=W.Layout(width="36px"))
        lo, hi = data_range
        self.range = W.FloatRangeSlider(value=window, min=lo, max=hi, step=max((hi - lo) / 1000, 1e-6),
                                        continuous_update=False, readout=False, layout=W.Layout(width="230px"),
                                        tooltip=f"display window of {name}")
        self.readout = W.Label(layout=W.Layout(width="auto"))
        # flex 0 0 auto: in the list's scrolling column a row keeps its height; shrinking, 20 rows overlapped
        super().__init__([W.HBox([self.visible, self.color, self.name, self.hist, self.auto, self.reset]),
                          W.HBox([self.range, self.readout])], layout=W.Layout(flex="0 0 auto"))
        self.add_class("pixclass-channel-row")
        self.visible.observe(lambda ch: controls.set_visible(c, ch["new"]), "value")
        self.color.observe(lambda ch: controls.set_color(c, ch["new"]), "value")
        self.range.observe(lambda ch: controls.app.set_contrast(c, *ch["new"]), "value")
        self.auto.on_click(lambda _: controls.app.auto_contrast(c))
        self.reset.on_click(lambda _: controls.app.reset_contrast(c))
        self.show_window(window)

    def show_window(self, window):
        """Show the contrast ``window`` ``(lo, hi)`` on the slider and the histogram."""
        lo, hi = window
        self.readout.value = f"{_fmt(lo)} – {_fmt(hi)}"
        rgb = render.histogram_rgb(self.counts, self.data_range, window, self.color.value)
        self.hist.value = render.encode_png(rgb)
        if tuple(self.range.value) != (lo, hi):
            with self.range.hold_trait_notifications():
                self.range.value = (max(lo, self.range.min), min(hi, self.range.max))


class ChannelControls(W.VBox):
    """Per-image channel display state (windows, colours, visibility) and its rows."""

    def __init__(self, app):
        self.app = app
        self.limits, self.colors, self.visible = {}, {}, {}  # image index -> one entry per channel
        self._hist = {}  # image index -> [(counts, lo, hi)] per channel
        self._samples = {}  # image uid -> a sample of a lazy image's pixels
        super().__init__(layout=W.Layout(max_height="420px", overflow_y="auto"))

    def values(self, img, c):
        """Channel ``c``'s values of ``img`` for contrast and histograms: all of them, or for an image left in
        its file a sample of evenly spaced blocks of its coarsest level (read once, kept per image)."""
        if not img.lazy:
            return img.data[..., c]
        if img.uid not in self._samples:
            self._samples[img.uid] = image_sample(img.levels[-1] if img.levels else img.data)
        return self._samples[img.uid][..., c]

    def set_image(self, i):
        """One row per channel of the app's current image."""
        img = self.app.project.images[i]
        if i not in self.limits:
            names = [n.strip().lower() for n in img.channel_names]
            self.limits[i] = [render.auto_contrast(self.values(img, c)) for c in range(img.n_channels)]
            rgb = [names.index(n) for n in ("red", "green", "blue") if n in names]
            if len(rgb) == 3:  # one window for the three, so a photograph keeps its colour balance
                common = (min(self.limits[i][c][0] for c in rgb), max(self.limits[i][c][1] for c in rgb))
                for c in rgb:
                    self.limits[i][c] = common
            self.colors[i] = render.channel_colors(img.channel_names)
            self.visible[i] = [c < 3 and names[c] != "alpha" for c in range(img.n_channels)]
            self._hist[i] = [render.histogram(self.values(img, c)) for c in range(img.n_channels)]
        self.children = [ChannelRow(self, c, name, self.colors[i][c], self.visible[i][c], self.limits[i][c],
                                    h[1:], h[0]) for c, (name, h) in enumerate(zip(img.channel_names, self._hist[i]))]

    def active(self):
        """The channels the canvas shows."""
        a = self.app
        if a.display_channel.startswith("ch:"):
            return [int(a.display_channel[3:])]
        return [c for c, v in enumerate(self.visible[a.image_index]) if v]

    def set_visible(self, c, v):
        """Show (``v`` true) or hide channel ``c`` in the composite."""
        self.visible[self.app.image_index][c] = v
        self.app.canvas_view.draw()

    def set_color(self, c, color):
        """Draw channel ``c`` in ``color``."""
        self.colors[self.app.image_index][c] = color
        self.children[c].show_window(self.limits[self.app.image_index][c])
        self.app.canvas_view.draw()

    def set_window(self, c, lo, hi):
        """Set channel ``c``'s contrast window to ``lo..hi``."""
        self.limits[self.app.image_index][c] = (lo, hi)
        self.children[c].show_window((lo, hi))
        self.app.canvas_view.draw()
