"""Turning predictions into files: sources, dtypes, renormalization, axis order."""
from __future__ import annotations

import os

import numpy as np

from .io import check_not_input, _suffix, write_array

__all__ = ["SOURCES", "DTYPES", "export_result", "convert"]

SOURCES = ("probabilities", "simple_segmentation", "uncertainty", "mask", "labels", "features")
DTYPES = ("uint8", "uint16", "float32")
_NATURAL = {"probabilities": "float32", "uncertainty": "float32", "features": "float32",
            "simple_segmentation": "uint8", "labels": "uint8", "mask": "uint8"}


def check_export_args(source, dtype, path=None):
    if source not in SOURCES:
        raise ValueError(f"unknown export source {source!r}; choose from {SOURCES}")
    if dtype is not None and str(np.dtype(dtype) if dtype in DTYPES else dtype) not in DTYPES:
        raise ValueError(f"unknown export dtype {dtype!r}; choose from {DTYPES}")
    if path is not None:
        folder = os.path.dirname(os.path.abspath(os.fspath(path)))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"cannot export to {os.fspath(path)!r}: folder {folder!r} does not exist")
        if _suffix(path) not in (".tif", ".tiff", ".h5", ".hdf5", ".npy"):
            raise ValueError(f"cannot export to {os.fspath(path)!r}: use a .tif, .h5 or .npy suffix")


def convert(data, source, dtype=None, renormalize=False):
    """Cast ``data`` of ``source`` to ``dtype``.

    ``renormalize`` maps [0, 1] (probabilities, uncertainty) or the data's min..max (features)
    onto the full range of an integer dtype, as ilastik's export does. Without it, values are
    rounded and clipped into the dtype's range.
    """
    dtype = np.dtype(dtype or _NATURAL[source])
    if source == "mask":
        return (data > 0).astype(dtype) * (255 if dtype == np.uint8 else 1 if dtype.kind == "f" else np.iinfo(dtype).max)
    if dtype.kind == "f":
        return data.astype(dtype)
    info = np.iinfo(dtype)
    x = data.astype(np.float64) if data.dtype.kind == "f" else data
    if renormalize and source in ("probabilities", "uncertainty", "features"):
        lo, hi = (0.0, 1.0) if source != "features" else (float(x.min()), float(x.max()))
        x = (x - lo) / max(hi - lo, 1e-30) * info.max
    return np.clip(np.rint(x), info.min, info.max).astype(dtype)


def default_axes(ndim_spatial, has_channels, suffix, t=False):
    sp = ("T" if t else "") + "ZYX"[-ndim_spatial:]
    if not has_channels:
        return sp
    # ImageJ hyperstacks keep C before YX; the axis is recorded so load_image reads it back
    if suffix in (".tif", ".tiff"):
        return sp[:-2] + "C" + sp[-2:]
    return sp + "C"


def arrange(data, ndim_spatial, has_channels, axes, suffix, t=False):
    """Reorder channel-last ``data`` (``T`` first with ``t``) to ``axes`` (default per format).

    Returns ``(array, axes)``.
    """
    src = ("T" if t else "") + "ZYX"[-ndim_spatial:] + ("C" if has_channels else "")
    axes = (axes or default_axes(ndim_spatial, has_channels, suffix, t)).upper()
    if sorted(axes) != sorted(src):
        raise ValueError(f"axes {axes!r} must be a reordering of {src!r} for this output of shape {data.shape}")
    return np.transpose(data, [src.index(a) for a in axes]), axes


def result_array(project, x, source, class_name=None):
    """The channel-last (or spatial) array of ``source`` for image ``x``."""
    if source == "probabilities":
        return project.predict(x)
    if source == "simple_segmentation":
        return project.segment(x)
    if source == "uncertainty":
        return project.uncertainty(x)
    if source == "mask":
        k = project._class_index(class_name if class_name is not None else 1)
        return (project.segment(x) == k).astype(np.uint8)
    if source == "labels":
        if not isinstance(x, (int, np.integer)):
            raise ValueError("source='labels' needs the index of a project image")
        return project.labels(x)
    return project.features_of(x)


def export_result(project, x, path, source="probabilities", dtype=None, renormalize=False, axes=None,
                  class_name=None):
    """Compute ``source`` for image ``x`` of ``project`` and write it to ``path`` atomically."""
    check_export_args(source, dtype, path)
    img = project._resolve(x)  # load a path once
    check_not_input(path, [img.path] + [im.path for im in project.images], "export path")
    if img.n_timepoints > 1 and source in ("labels", "features"):
        raise ValueError(f"source={source!r} is not available for the time series {img.name!r}; "
                         "add it to the project (one image per frame) and export frame by frame")
    data = result_array(project, x if isinstance(x, (int, np.integer)) else img, source, class_name)
    t = img.n_timepoints > 1
    has_c = data.ndim == img.ndim_spatial + 1 + t
    data = convert(data, source, dtype, renormalize)
    data, axes = arrange(data, img.ndim_spatial, has_c, axes, _suffix(path), t=t)
    return write_array(path, np.ascontiguousarray(data), axes, spacing=img.spacing)
