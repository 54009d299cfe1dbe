"""Imaris files (``.ims``): HDF5 in Bitplane's "Imaris 5.5" layout, read without Imaris or Bio-Formats.

The full-resolution pixels of time point t and channel c are ``/DataSet/ResolutionLevel 0/TimePoint t/
Channel c/Data``, a (Z, Y, X) dataset padded to whole chunks; the image's size is in the attributes
``X``, ``Y``, ``Z`` of ``/DataSetInfo/Image`` (written as arrays of one-character strings, ``[b'5', b'1',
b'2']``), its extent in ``ExtMin0..2`` / ``ExtMax0..2`` (x, y, z, in ``Unit``), each channel's name in
``/DataSetInfo/Channel c`` ``Name``. Coarser resolution levels are not read.
"""
from __future__ import annotations

import re

import numpy as np

from .hdf5_parts import Hdf5Parts

__all__ = ["open_ims"]

_MAX_PARTS = 4096  # time points x channels: more is damage, not an acquisition


def _attr_text(attrs, key):
    """An Imaris attribute as text: an array of one-character byte strings, or one string."""
    v = attrs.get(key)
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, str):
        return v
    a = np.asarray(v).ravel()
    if a.size > 1024:
        return None
    return "".join(x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in a)


def _attr_number(attrs, key, path, kind=float):
    t = _attr_text(attrs, key)
    try:
        return kind(t.strip())
    except (AttributeError, ValueError):
        raise ValueError(f"{path!r}: DataSetInfo/Image attribute {key} is {t!r}, not a number") from None


def open_ims(path):
    """An Imaris file's full-resolution image, open (not read): ``(Hdf5Parts, axes, spacing, closer)``.

    Axes ``CZYX``, or ``TCZYX`` with more than one time point; spacing (z, y, x) from the extent;
    the channels' names as the array's ``channel_names`` attribute. Errors name the file.
    """
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"could not read {path!r} as an Imaris (HDF5) file (corrupt or truncated?): {e}") from e
    with f:
        info = f.get("DataSetInfo/Image")
        level = f.get("DataSet/ResolutionLevel 0")
        if info is None or level is None or hasattr(level, "shape"):
            raise ValueError(f"{path!r} is not an Imaris 5.5 file (no DataSetInfo/Image or DataSet/ResolutionLevel 0)")
        size = tuple(_attr_number(info.attrs, k, path, int) for k in ("Z", "Y", "X"))
        if min(size) < 1:
            raise ValueError(f"{path!r}: image size (z, y, x) {size} is not positive")
        times = sorted((int(m.group(1)), k) for k in level if (m := re.fullmatch(r"TimePoint (\d{1,6})", k)))
        if not times or len(times) > _MAX_PARTS:
            raise ValueError(f"{path!r}: {len(times)} time points under DataSet/ResolutionLevel 0")
        chans = sorted((int(m.group(1)), k) for k in level[times[0][1]]
                       if (m := re.fullmatch(r"Channel (\d{1,6})", k)))
        if not chans or len(times) * len(chans) > _MAX_PARTS:
            raise ValueError(f"{path!r}: {len(chans)} channels in {len(times)} time points is not an image we read")
        parts, dtype = [], None
        for t, tk in times:
            for c, ck in chans:
                name = f"DataSet/ResolutionLevel 0/{tk}/{ck}/Data"
                d = f.get(name)
                if d is None or not hasattr(d, "shape") or len(d.shape) != 3:
                    raise ValueError(f"{path!r}: {name} is missing or not a 3D dataset")
                if any(n < s for n, s in zip(d.shape, size)):
                    raise ValueError(f"{path!r}: {name} of shape {d.shape} is smaller than the image {size}")
                if dtype is not None and d.dtype != dtype:
                    raise ValueError(f"{path!r}: {name} is {d.dtype}, the first channel {dtype}")
                dtype = d.dtype
                parts.append((t, c, name))
        spacing = None
        try:
            ext = [(_attr_number(info.attrs, f"ExtMin{i}", path), _attr_number(info.attrs, f"ExtMax{i}", path))
                   for i in (2, 1, 0)]
            spacing = tuple(abs(hi - lo) / n for (lo, hi), n in zip(ext, size))
            if not all(np.isfinite(s) and s > 0 for s in spacing):
                spacing = None
        except ValueError:
            pass  # no extent: pixels
        names = []
        for c, _ in chans:
            g = f.get(f"DataSetInfo/Channel {c}")
            n = _attr_text(g.attrs, "Name") if g is not None and not hasattr(g, "shape") else None
            names.append(n.strip() if n and n.strip() and len(n) <= 255 else f"ch {c + 1}")
        if len(set(names)) != len(names):
            names = [f"{n} ({i + 1})" for i, n in enumerate(names)]
    shape = ((len(times),) if len(times) > 1 else ()) + (len(chans),) + size
    arr = Hdf5Parts(path, shape, dtype, parts, {"channel_names": names})
    return arr, ("T" if len(times) > 1 else "") + "CZYX", spacing, lambda: None
