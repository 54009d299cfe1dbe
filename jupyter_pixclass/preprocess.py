"""Image preparation steps of the steinbock IMC workflow: mean channel, upscaling, crops."""
from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np

from .images.checks import check_result_size
from .images.image import Image
from .images.read import as_image

__all__ = ["add_mean_channel", "upscale", "crops", "Crop", "SavedCrop"]


class Crop(NamedTuple):
    """A crop (:func:`crops`): the ``image`` and the ``origin`` ``(y0, x0)`` of its top left pixel in the source."""

    image: Image
    origin: tuple


class SavedCrop(NamedTuple):
    """A crop written to a file (:func:`crops` with ``out_dir``): ``image``, ``origin`` ``(y0, x0)`` and ``path``."""

    image: Image
    origin: tuple
    path: str


def _positive_int(what, v):
    """``v`` as an int, if it is a whole number of at least 1."""
    import numbers

    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not float(v).is_integer() or v < 1:
        raise ValueError(f"{what} must be a positive integer; got {v!r}")
    return int(v)


def _wrap(like, data, **changes):
    """Return ``data`` as the same kind of object as ``like`` (Image or ndarray)."""
    if not isinstance(like, Image):
        return data
    kw = dict(axes=like.axes, name=like.name, spacing=like.spacing, path=like.path,
              channel_names=like.channel_names)
    kw.update(changes)
    return Image(data, **kw)


def add_mean_channel(image, scale=100):
    """Insert the mean of all channels times ``scale`` as channel 0.

    The result is clipped to the input dtype's range (e.g. 0..65535 for ``uint16``) and cast
    back to it, as steinbock does before ilastik training.

    Parameters
    ----------
    image : Image or ndarray
        Channel-last image.
    scale : float
        Factor applied to the channel mean.

    Returns
    -------
    Image or ndarray
        Same kind as the input, with one more channel.
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.number)) or not math.isfinite(scale):
        raise ValueError(f"scale must be a finite number; got {scale!r}")  # NaN made a channel of garbage
    data = image.data if isinstance(image, Image) else np.asarray(image)
    mean = data.astype(np.float64).mean(axis=-1) * scale
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        mean = np.clip(np.rint(mean), info.min, info.max)
    elif np.issubdtype(data.dtype, np.floating):
        info = np.finfo(data.dtype)
        mean = np.clip(mean, info.min, info.max)
    out = np.concatenate([mean.astype(data.dtype)[..., None], data], axis=-1)
    if isinstance(image, Image):
        return _wrap(image, out, channel_names=["mean"] + image.channel_names)
    return out


def upscale(image, factor=2, order=0):
    """Upscale the spatial (Y, X) axes by an integer ``factor``.

    ``order=0`` repeats pixels (nearest neighbour, keeps counts as they are);
    ``order=1`` interpolates linearly. Z is left alone. Spacing is divided by ``factor``.
    """
    factor = _positive_int("factor", factor)  # 2.5 was taken as 2
    data = image.data if isinstance(image, Image) else np.asarray(image)
    shape = tuple(n * factor if a in (data.ndim - 3, data.ndim - 2) else n for a, n in enumerate(data.shape))
    check_result_size(shape, data.dtype, f"upscaled by {factor}", getattr(image, "name", "the array"),
                      instead="upscale crops of it instead (preprocess.crops, then upscale each)")
    yx = (data.ndim - 3, data.ndim - 2)
    if order == 0:
        out = np.repeat(np.repeat(data, factor, axis=yx[0]), factor, axis=yx[1])
    else:
        from scipy import ndimage as ndi

        zoom = [1.0] * data.ndim
        zoom[yx[0]] = zoom[yx[1]] = factor
        out = ndi.zoom(data.astype(np.float32), zoom, order=order, mode="nearest", grid_mode=True)
        out = out.astype(data.dtype) if data.dtype.kind == "f" else np.clip(np.rint(out), 0, None).astype(data.dtype)
    if isinstance(image, Image):
        sp = list(image.spacing)
        sp[-1] /= factor
        sp[-2] /= factor
        return _wrap(image, out, spacing=tuple(sp))
    return out


def crops(image, size=500, out_dir=None, n=None, seed=0):
    """Cut ``size`` x ``size`` crops for labeling.

    By default the image is tiled (the last row/column of crops is shifted inward so every
    crop is full size); with ``n`` given, ``n`` random crops are drawn as steinbock does.

    Parameters
    ----------
    image : Image, ndarray or path
    size : int
        Side length in pixels (smaller images give one crop of the whole image).
    out_dir : str, optional
        If given, each crop is written there as ``{name}_y{Y}_x{X}.h5`` (dataset ``"data"``,
        axes and channel names recorded), and the paths are returned alongside.
    n : int, optional
        Number of random crops instead of a tiling.
    seed : int
        Seed for random crops.

    Returns
    -------
    list of Crop
        ``(image, origin)``; with ``out_dir``, :class:`SavedCrop` ``(image, origin, path)``.
    """
    size = _positive_int("size", size)  # 0 gave "range() arg 3 must not be zero"
    n = None if n is None else _positive_int("n", n)
    img = as_image(image)
    H, W = img.shape_spatial[-2:]
    sy, sx = min(size, H), min(size, W)

    def starts(n_total, s):
        st = list(range(0, max(n_total - s, 0) + 1, s))
        if st[-1] + s < n_total:
            st.append(n_total - s)
        return st

    if n is None:
        offsets = [(y, x) for y in starts(H, sy) for x in starts(W, sx)]
    else:
        rng = np.random.default_rng(seed)
        offsets = [(int(rng.integers(0, H - sy + 1)), int(rng.integers(0, W - sx + 1))) for _ in range(n)]
    out = []
    for y, x in offsets:
        data = img.data[..., y : y + sy, x : x + sx, :]
        crop = Image(np.ascontiguousarray(data), axes=img.axes, name=f"{img.name}_y{y}_x{x}",
                     spacing=img.spacing, channel_names=img.channel_names)
        if out_dir is not None:
            from .images.write import write_array

            os.makedirs(out_dir, exist_ok=True)
            p = os.path.join(out_dir, crop.name + ".h5")
            write_array(p, crop.data, crop.axes, spacing=crop.spacing, dataset="data",
                        channel_names=crop.channel_names)  # read back by load_image
            crop.path = p
            out.append(SavedCrop(crop, (y, x), p))
        else:
            out.append(Crop(crop, (y, x)))
    return out
