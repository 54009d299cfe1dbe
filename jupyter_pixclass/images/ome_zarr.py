"""OME-Zarr (OME-NGFF 0.4 and 0.5): multiscale images read lazily, written as a pyramid of 2x levels.

Read: ``multiscales`` (in the group's attributes, or under ``ome`` for 0.5), its axes (names, types,
units), each level's ``scale`` transform (the finest gives the spacing) and ``omero`` channel
labels. Written: NGFF 0.4 on Zarr format 2 (what napari, ome-zarr-py and BigDataViewer read),
axes ``(t)(c)(z)yx`` with units and scales, levels halving every spatial axis longer than 256
pixels until none is, chunked, into a temporary folder renamed into place (atomic).
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os

import numpy as np

from .atomic import atomic_write

__all__ = ["is_ome_zarr", "read_ome_zarr", "OmeZarrLevels", "write_ome_zarr", "create_ome_zarr", "ngff_axes"]

NGFF_VERSION = "0.4"
MIN_SIDE = 256  # a level's axes are halved until none is longer than this
_ORDER = "TCZYX"  # NGFF's axis order: time, channel, then space


def is_ome_zarr(path):
    """Whether ``path`` is an OME-Zarr image: named ``.ome.zarr``, or a Zarr group holding ``multiscales`` (or
    bioformats2raw's layout, its images in subgroups)."""
    p = os.fspath(path).rstrip("/\\")
    if p.lower().endswith(".ome.zarr"):
        return True
    for meta in (".zattrs", "zarr.json"):
        f = os.path.join(p, meta)
        if os.path.isfile(f):
            try:
                with open(f, encoding="utf-8") as fh:
                    head = fh.read(1 << 20)
            except OSError:
                return False
            return '"multiscales"' in head or '"bioformats2raw.layout"' in head
    return False


class OmeZarrLevels:
    """An OME-Zarr image opened: ``arrays`` (zarr, finest first), ``axes`` (letters), ``spacing`` of the
    spatial axes at the finest level, ``unit`` of space, ``channel_names`` (or None)."""

    def __init__(self, arrays, axes, spacing, unit, channel_names):
        self.arrays, self.axes, self.spacing, self.unit, self.channel_names = arrays, axes, spacing, unit, channel_names


def read_ome_zarr(path, _series=True):
    """Open the OME-Zarr image at ``path`` (its first multiscale image); errors name the file and what is wrong.

    A bioformats2raw layout (what ``bioformats2raw`` and the NGFF converters write: the images in the
    subgroups ``0``, ``1`` ..., listed in ``OME/.zattrs``) gives its first image, as napari's reader does.
    """
    import zarr

    path = os.fspath(path)
    try:
        group = zarr.open_group(path, mode="r")
    except Exception as e:
        raise ValueError(f"could not open {path!r} as a Zarr group: {e}") from e
    attrs = dict(group.attrs)
    meta = attrs.get("ome", attrs)  # NGFF 0.5 nests everything under "ome"
    ms = meta.get("multiscales") if isinstance(meta, dict) else None
    if ms is None and _series and isinstance(meta, dict) and "bioformats2raw.layout" in meta:
        first = _first_series(group)
        if first is None:
            raise ValueError(f"{path!r} has bioformats2raw's layout but no image group ('0', or one listed in OME)")
        return read_ome_zarr(os.path.join(path, first), _series=False)
    if not isinstance(ms, list) or not ms or not isinstance(ms[0], dict):
        raise ValueError(f"{path!r} is a Zarr group without OME-NGFF 'multiscales' metadata")
    ms = ms[0]
    try:
        axes_meta = ms["axes"]
        names = [(a["name"] if isinstance(a, dict) else str(a)).lower() for a in axes_meta]
        datasets = ms["datasets"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path!r}: 'multiscales' lacks {e} (axes and datasets are required)") from None
    letters = "".join({"t": "T", "c": "C", "z": "Z", "y": "Y", "x": "X"}.get(n, "?") for n in names)
    if "?" in letters or len(set(letters)) != len(letters) or "Y" not in letters or "X" not in letters:
        raise ValueError(f"{path!r}: axes {names} are not distinct names from t, c, z, y, x with y and x")
    if not isinstance(datasets, list) or not datasets or len(datasets) > 32:
        raise ValueError(f"{path!r}: 'datasets' should list 1 to 32 levels")
    arrays, scales = [], []
    for d in datasets:
        sub = d.get("path") if isinstance(d, dict) else None
        if not isinstance(sub, str) or sub not in group:
            raise ValueError(f"{path!r}: level {sub!r} listed in 'multiscales' is missing")
        arr = group[sub]
        if not hasattr(arr, "shape") or len(arr.shape) != len(letters):
            raise ValueError(f"{path!r}: level {sub!r} is not an array of {len(letters)} axes ({letters})")
        if arrays and any(a > b for a, b in zip(arr.shape, arrays[-1].shape)):
            raise ValueError(f"{path!r}: level {sub!r} of shape {arr.shape} is larger than the level before it")
        arrays.append(arr)
        scales.append(_scale_of(d, len(letters), path, sub))
    unit = next((a.get("unit") for a in axes_meta if isinstance(a, dict) and a.get("type") == "space"
                 and isinstance(a.get("unit"), str)), None)
    spatial = [i for i, a in enumerate(letters) if a in "ZYX"]
    spacing = tuple(float(scales[0][i]) for i in spatial)
    channels = None
    omero = meta.get("omero") if isinstance(meta, dict) else None
    if isinstance(omero, dict) and isinstance(omero.get("channels"), list):
        labels = [c.get("label") for c in omero["channels"] if isinstance(c, dict)]
        n_c = arrays[0].shape[letters.index("C")] if "C" in letters else 1
        if len(labels) == n_c and all(isinstance(x, str) and len(x) <= 255 for x in labels):
            channels = labels
    return OmeZarrLevels(arrays, letters, spacing, unit, channels)


def _first_series(group):
    """The subgroup holding the first image of a bioformats2raw layout, or None."""
    series = None
    try:
        ome = dict(group["OME"].attrs) if "OME" in group else {}
        series = ome.get("ome", ome).get("series")
    except Exception:  # a damaged OME group: fall back on '0'
        pass
    first = series[0] if isinstance(series, list) and series and isinstance(series[0], str) else "0"
    ok = first in group and not hasattr(group[first], "shape") and "/" not in first and first not in (".", "..")
    return first if ok else None


def _scale_of(d, n, path, sub):
    """The ``scale`` transform of one level (ones when there is none), checked."""
    for t in d.get("coordinateTransformations") or []:
        if isinstance(t, dict) and t.get("type") == "scale":
            s = t.get("scale")
            if not isinstance(s, list) or len(s) != n or not all(isinstance(v, (int, float)) and math.isfinite(v)
                                                                  and v > 0 for v in s):
                raise ValueError(f"{path!r}: the scale of level {sub!r} should be {n} positive numbers; got {s!r}")
            return [float(v) for v in s]
    return [1.0] * n


def ngff_axes(ndim_spatial, has_channels, t=False):
    """Our axes letters of an output in NGFF order: ``(T)(C)(Z)YX``."""
    return ("T" if t else "") + ("C" if has_channels else "") + "ZYX"[-ndim_spatial:]


def _level_shapes(shape, axes):
    """Shapes of every level: each spatial axis longer than MIN_SIDE halved, until none is."""
    shapes = [tuple(shape)]
    while True:
        prev = shapes[-1]
        nxt = tuple((n + 1) // 2 if a in "ZYX" and n > MIN_SIDE else n for a, n in zip(axes, prev))
        if nxt == prev:
            return shapes
        shapes.append(nxt)


def _chunks(shape, axes):
    return tuple(1 if a in "TC" else min(n, 8 if a == "Z" else 256) for a, n in zip(axes, shape))


@contextlib.contextmanager
def create_ome_zarr(path, shape, dtype, axes, spacing=None, unit=None, channel_names=None, method="mean"):
    """Yield the finest level of a new OME-Zarr image at ``path`` to fill; the pyramid is built on exit.

    ``axes`` are in NGFF order (:func:`ngff_axes`); ``spacing`` per spatial axis; ``method`` makes
    coarser levels: ``"mean"`` of 2x blocks (intensities, probabilities) or ``"nearest"`` (classes).
    Written into a temporary folder beside ``path`` and renamed into place when complete.
    """
    import zarr

    shape = tuple(int(n) for n in shape)
    if len(axes) != len(shape) or axes != "".join(a for a in _ORDER if a in axes):
        raise ValueError(f"axes {axes!r} of an OME-Zarr must follow NGFF's order t, c, z, y, x and fit shape {shape}")
    nsp = sum(a in "ZYX" for a in axes)
    spacing = tuple(float(s) for s in spacing) if spacing is not None else (1.0,) * nsp
    shapes = _level_shapes(shape, axes)
    with atomic_write(path, suffix=".zarr") as tmp:
        os.remove(tmp)  # atomic_write made a file; this is a folder
        root = zarr.open_group(tmp, mode="w", zarr_format=2)
        levels = [root.create_array(str(i), shape=s, dtype=dtype, chunks=_chunks(s, axes), fill_value=0)
                  for i, s in enumerate(shapes)]
        yield levels[0]
        for src, dst in zip(levels[:-1], levels[1:]):
            _downsample(src, dst, axes, method)
        root.attrs.update(_metadata(shapes, axes, spacing, unit, channel_names, os.path.basename(path), method))


def write_ome_zarr(path, data, axes, spacing=None, unit=None, channel_names=None, method="mean"):
    """Write ``data`` (axes letters in NGFF order, see :func:`ngff_axes`) as a multiscale OME-Zarr at ``path``."""
    data = np.asarray(data)
    with create_ome_zarr(path, data.shape, data.dtype, axes, spacing, unit, channel_names, method) as level0:
        level0[...] = data
    return os.fspath(path)


def _metadata(shapes, axes, spacing, unit, channel_names, name, method):
    kinds = {"T": "time", "C": "channel"}
    ax = []
    for a in axes:
        entry = {"name": a.lower(), "type": kinds.get(a, "space")}
        if a in "ZYX" and unit:
            entry["unit"] = unit
        ax.append(entry)
    datasets = []
    for i, s in enumerate(shapes):
        factor = [shapes[0][j] / s[j] for j in range(len(s))]
        scale, k = [], 0
        for j, a in enumerate(axes):
            if a in "ZYX":
                scale.append(spacing[k] * factor[j])
                k += 1
            else:
                scale.append(1.0)
        datasets.append({"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    meta = {"multiscales": [{"version": NGFF_VERSION, "name": name, "axes": ax, "datasets": datasets,
                             "type": "local_mean" if method == "mean" else "nearest"}]}
    if channel_names is not None and "C" in axes:
        meta["omero"] = {"channels": [{"label": str(n), "active": True} for n in channel_names]}
    return meta


def _downsample(src, dst, axes, method):
    """``dst`` = ``src`` with every halved axis reduced by 2 (mean or nearest), block by block."""
    factors = [2 if d != s else 1 for s, d in zip(src.shape, dst.shape)]
    step = [c * 8 if a in "YX" else c for c, a in zip(dst.chunks, axes)]  # a few chunks per block
    for start in itertools.product(*[range(0, n, b) for n, b in zip(dst.shape, step)]):
        d_sl = tuple(slice(st, min(st + b, n)) for st, b, n in zip(start, step, dst.shape))
        s_sl = tuple(slice(s.start * f, min(s.stop * f, n)) for s, f, n in zip(d_sl, factors, src.shape))
        block = np.asarray(src[s_sl])
        if method == "nearest":
            out = block[tuple(slice(None, None, f) for f in factors)]
        else:
            out = block.astype(np.float64)
            for ax, f in enumerate(factors):
                if f == 2:
                    if out.shape[ax] % 2:  # an odd edge: repeat the last plane
                        out = np.concatenate([out, np.take(out, [-1], axis=ax)], axis=ax)
                    out = (np.take(out, np.arange(0, out.shape[ax], 2), axis=ax)
                           + np.take(out, np.arange(1, out.shape[ax], 2), axis=ax)) / 2
            out = np.rint(out) if np.dtype(dst.dtype).kind in "iu" else out
        dst[d_sl] = out.astype(dst.dtype)
