"""Arrays to display pixels: view sampling (chunked labels read chunk by chunk), channel composites, overlays, encoding."""
from __future__ import annotations

import io

import numpy as np

from ..engine.chunked_labels import ChunkedLabels

__all__ = ["View", "auto_contrast", "composite", "probability_rgb", "segmentation_rgb", "uncertainty_rgb",
           "labels_rgba", "blend", "encode_jpeg", "encode_png", "hex_to_rgb", "CHANNEL_COLORS",
           "NAMED_COLORS", "channel_colors"]

CHANNEL_COLORS = ["#00ff00", "#0080ff", "#ff0000", "#ff00ff", "#ffff00", "#00ffff", "#ffffff"]
# a channel named for its colour (an RGB image's, as the readers name them) is shown in it
NAMED_COLORS = {"red": "#ff0000", "green": "#00ff00", "blue": "#0000ff", "cyan": "#00ffff", "magenta": "#ff00ff",
                "yellow": "#ffff00", "gray": "#ffffff", "grey": "#ffffff", "alpha": "#ffffff"}


def channel_colors(names):
    """Display colours of channels ``names``: white for a single channel; a channel named for a colour
    (``red``, ``green``, ``blue`` of an RGB image) in that colour, so a photograph looks as it is; the
    others :data:`CHANNEL_COLORS` in turn."""
    if len(names) == 1:
        return ["#ffffff"]
    return [NAMED_COLORS.get(str(n).strip().lower(), CHANNEL_COLORS[c % len(CHANNEL_COLORS)])
            for c, n in enumerate(names)]


def hex_to_rgb(c):
    """``#rrggbb`` as three floats in [0, 1]."""
    c = c.lstrip("#")
    return np.array([int(c[i : i + 2], 16) for i in (0, 2, 4)], np.float32) / 255.0


class View:
    """Which image pixels a canvas of ``size`` (h, w) shows: top-left ``origin`` and ``scale``.

    ``scale`` is display pixels per image pixel along columns; rows are ``aspect`` times taller
    (an xz pane of a volume whose planes lie farther apart than its pixels). Sampling is
    nearest-neighbour at pixel centres, so what is drawn costs display pixels, not image pixels.
    """

    def __init__(self, image_shape, size, origin=(0.0, 0.0), scale=None, aspect=1.0):
        self.image_shape = tuple(image_shape)
        self.size = tuple(int(s) for s in size)
        self.aspect = float(aspect)
        self.scale = float(scale) if scale else self.fit_scale()
        self.origin = tuple(float(o) for o in origin)

    @property
    def scales(self):
        """Display pixels per image pixel along rows and along columns."""
        return self.scale * self.aspect, self.scale

    def fit_scale(self):
        """The scale at which the whole image fits the canvas."""
        return min(self.size[0] / (self.image_shape[0] * self.aspect), self.size[1] / self.image_shape[1])

    def fit(self):
        """Show the whole image."""
        self.scale = self.fit_scale()
        self.origin = (0.0, 0.0)

    def zoom(self, factor, at=None):
        """Zoom by ``factor`` keeping display point ``at`` (y, x) fixed."""
        at = at if at is not None else (self.size[0] / 2, self.size[1] / 2)
        new = float(np.clip(self.scale * factor, self.fit_scale() * 0.5, 32.0))
        iy, ix = self.to_image(*at)
        self.scale = new
        sy, sx = self.scales
        self.origin = (iy - at[0] / sy, ix - at[1] / sx)
        self.clamp()

    def pan(self, dy, dx):
        """Move the view by a display-pixel drag (dy, dx)."""
        sy, sx = self.scales
        self.origin = (self.origin[0] - dy / sy, self.origin[1] - dx / sx)
        self.clamp()

    def clamp(self):
        """Keep the view's origin where some of the image stays visible."""
        o = []
        for a, s in enumerate(self.scales):
            room = self.image_shape[a] - self.size[a] / s
            o.append(float(np.clip(self.origin[a], min(0, room), max(0, room))))
        self.origin = tuple(o)

    def to_image(self, y, x):
        """Display (y, x) -> image (y, x), floats."""
        sy, sx = self.scales
        return self.origin[0] + y / sy, self.origin[1] + x / sx

    def to_display(self, y, x):
        """Display coordinates of image position (``y``, ``x``)."""
        sy, sx = self.scales
        return (y - self.origin[0]) * sy, (x - self.origin[1]) * sx

    def indices(self):
        """Image row and column index per display row/column, and masks of those inside the image."""
        out = []
        for a, s in enumerate(self.scales):
            out.append(np.floor(self.origin[a] + (np.arange(self.size[a]) + 0.5) / s).astype(np.int64))
        ys, xs = out
        iny = (ys >= 0) & (ys < self.image_shape[0])
        inx = (xs >= 0) & (xs < self.image_shape[1])
        return np.clip(ys, 0, self.image_shape[0] - 1), np.clip(xs, 0, self.image_shape[1] - 1), iny, inx

    def sample(self, arr):
        """``arr[ys][:, xs]`` for a 2D(+channels) array: what the canvas shows of it.

        Labels kept in chunks (a lazy image's) are read chunk by chunk, never as whole rows.
        """
        ys, xs, _, _ = self.indices()
        if isinstance(arr, ChunkedLabels):
            return arr.grid(ys, xs)
        return arr[ys][:, xs]

    def inside(self):
        """Which display pixels show a pixel of the image, ``(h, w)`` bool."""
        _, _, iny, inx = self.indices()
        return iny[:, None] & inx[None, :]

    def state(self):
        """Origin and scale, to restore the view later."""
        return {"origin": self.origin, "scale": self.scale}


def auto_contrast(x, low=0.5, high=99.5):
    """Contrast limits from percentiles (ignoring a constant image)."""
    x = np.asarray(x)
    if x.size > 2**20:  # a strided sample is enough for percentiles
        x = x.ravel()[:: x.size // 2**20 + 1]
    lo, hi = np.percentile(x, [low, high])
    if hi <= lo:
        lo, hi = float(x.min()), float(x.max())
        hi = hi if hi > lo else lo + 1
    return float(lo), float(hi)


def composite(data, limits, colors, visible=None):
    """RGB float32 in [0, 1] from channel-last ``data`` (h, w, C).

    Each visible channel is windowed to its ``limits`` (lo, hi) and tinted by its colour;
    tints add up and clip, as in napari's additive blending.
    """
    h, w, C = data.shape
    out = np.zeros((h, w, 3), np.float32)
    for c in range(C):
        if visible is not None and not visible[c]:
            continue
        lo, hi = limits[c]
        v = np.clip((data[..., c].astype(np.float32) - lo) / max(hi - lo, 1e-12), 0, 1)
        out += v[..., None] * hex_to_rgb(colors[c])
    return np.clip(out, 0, 1, out=out)


def probability_rgb(prob, colors):
    """Class colours weighted by probability (h, w, K) -> RGB."""
    cols = np.stack([hex_to_rgb(c) for c in colors])
    return np.clip(prob.astype(np.float32) @ cols, 0, 1)


def segmentation_rgb(seg, colors):
    """Colour of the argmax class (seg is 1-based; 0 black)."""
    lut = np.vstack([np.zeros(3, np.float32)] + [hex_to_rgb(c) for c in colors])
    return lut[seg]


def uncertainty_rgb(unc):
    """Uncertainty in [0, 1] on a dark-to-bright colour map (matplotlib's magma)."""
    from matplotlib import colormaps

    lut = colormaps["magma"](np.linspace(0, 1, 256))[:, :3].astype(np.float32)
    return lut[np.clip((unc * 255).astype(np.int32), 0, 255)]


def blend(base, over, alpha):
    """``base`` with ``over`` on top at opacity ``alpha`` (scalar or per pixel)."""
    a = np.asarray(alpha, np.float32)
    if a.ndim == 2:
        a = a[..., None]
    return base * (1 - a) + over * a


def labels_rgba(labels, colors, alpha=1.0):
    """uint8 RGBA of painted labels: class colours, transparent where 0."""
    lut = np.zeros((len(colors) + 1, 4), np.uint8)
    for i, c in enumerate(colors, start=1):
        lut[i, :3] = (hex_to_rgb(c) * 255).astype(np.uint8)
        lut[i, 3] = int(round(alpha * 255))
    return lut[labels]


def to_uint8(rgb):
    """Floats in [0, 1] as uint8 display values."""
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def encode_jpeg(rgb, quality=85):
    """JPEG bytes of an RGB image (float [0, 1] or uint8): ~13 ms for 1024x1024 here."""
    from PIL import Image as PILImage

    if rgb.dtype != np.uint8:
        rgb = to_uint8(rgb)
    f = io.BytesIO()
    PILImage.fromarray(rgb).save(f, "JPEG", quality=quality)
    return f.getvalue()


def encode_png(rgba, level=1):
    """PNG bytes at a low compression level (level 6, PIL's default, is ~5x slower)."""
    from PIL import Image as PILImage

    f = io.BytesIO()
    PILImage.fromarray(rgba).save(f, "PNG", compress_level=level)
    return f.getvalue()


def histogram(x, bins=64, max_samples=2**20):
    """Counts of ``x`` in ``bins`` equal bins over its range: ``(counts, lo, hi)``; strided sample when large."""
    x = np.asarray(x)
    if x.size > max_samples:
        x = x.ravel()[:: x.size // max_samples + 1]
    lo, hi = float(x.min()), float(x.max())
    hi = hi if hi > lo else lo + 1
    counts, _ = np.histogram(x, bins=bins, range=(lo, hi))
    return counts, lo, hi


def histogram_rgb(counts, data_range, window, color="#ffffff", size=(24, 100)):
    """A small uint8 RGB picture of a histogram (log counts) with the display ``window`` drawn on it.

    The window (lo, hi) is a lighter band with lines at its ends in the channel's ``color``;
    ``data_range`` (lo, hi) is what the x axis spans.
    """
    h, w = size
    out = np.full((h, w, 3), 40, np.uint8)
    d0, d1 = data_range
    xs = lambda v: int(np.clip(round((v - d0) / max(d1 - d0, 1e-12) * (w - 1)), 0, w - 1))  # noqa: E731
    a, b = xs(window[0]), xs(window[1])
    out[:, a : b + 1] = 70
    levels = np.log1p(counts.astype(np.float64))
    levels = levels / levels.max() if levels.max() > 0 else levels
    heights = np.round(np.interp(np.linspace(0, len(counts) - 1, w), np.arange(len(counts)), levels) * (h - 2))
    bars = np.arange(h)[::-1, None] < heights[None, :]
    out[bars] = 190
    col = (hex_to_rgb(color) * 255).astype(np.uint8)
    out[:, a] = col
    out[:, b] = col
    return out
