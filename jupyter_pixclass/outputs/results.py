"""What a prediction turns into: sources (probabilities, segmentation, uncertainty, mask ...) and dtypes."""
from __future__ import annotations

import os
import warnings

import numpy as np

from ..images.paths import suffix_of

__all__ = ["SOURCES", "DTYPES", "NATURAL_DTYPE", "uncertainty_from", "source_from_prob", "check_export_args",
           "warn_if_rounded", "convert", "channel_names_for", "gzipped"]

SOURCES = ("probabilities", "simple_segmentation", "uncertainty", "mask", "labels", "features")
DTYPES = ("uint8", "uint16", "float32")
NATURAL_DTYPE = {"probabilities": "float32", "uncertainty": "float32", "features": "float32",
                 "simple_segmentation": "uint8", "labels": "uint8", "mask": "uint8"}


def uncertainty_from(prob):
    """ilastik's uncertainty 1 - (p_first - p_second) from probabilities ``(..., K)``."""
    if prob.shape[-1] < 2:
        return np.zeros(prob.shape[:-1], np.float32)
    top2 = np.partition(prob, prob.shape[-1] - 2, axis=-1)[..., -2:]
    return (1.0 - (top2[..., 1] - top2[..., 0])).astype(np.float32)


def source_from_prob(p, source, class_index=1):
    """Turn probabilities ``(..., K)`` into ``source`` (see :meth:`Project.export`)."""
    if source == "probabilities":
        return p
    if source == "simple_segmentation":
        return (np.argmax(p, -1) + 1).astype(np.uint8)
    if source == "uncertainty":
        return uncertainty_from(p)
    if source == "mask":
        return (np.argmax(p, -1) + 1 == class_index).astype(np.uint8)
    raise ValueError(f"source {source!r} cannot be computed blockwise from probabilities")


def check_export_args(source, dtype, path=None):
    """Refuse an unknown source or dtype, and an export path whose folder or suffix will not do."""
    if source not in SOURCES:
        raise ValueError(f"unknown export source {source!r}; choose from {SOURCES}")
    if dtype is not None and str(np.dtype(dtype) if dtype in DTYPES else dtype) not in DTYPES:
        raise ValueError(f"unknown export dtype {dtype!r}; choose from {DTYPES}")
    if path is not None:
        folder = os.path.dirname(os.path.abspath(os.fspath(path)))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"cannot export to {os.fspath(path)!r}: folder {folder!r} does not exist")
        if suffix_of(path) not in (".tif", ".tiff", ".h5", ".hdf5", ".npy", ".zarr"):
            raise ValueError(f"cannot export to {os.fspath(path)!r}: use a .tif, .h5, .npy, .zarr or .ome.zarr suffix")


def warn_if_rounded(source, dtype, renormalize, stacklevel=3):
    """Warn when probabilities or uncertainty would be written as integers without ``renormalize``:
    values in [0, 1] round to 0 and 1, a segmentation where the user asked for probabilities.
    ``stacklevel`` as :func:`warnings.warn`'s, counted from the caller of this function's caller."""
    if source in ("probabilities", "uncertainty") and not renormalize and dtype is not None \
            and np.dtype(dtype).kind in "iu":
        warnings.warn(f"{source} lie in [0, 1]: as {np.dtype(dtype)} without renormalize=True they round to 0 and 1; "
                      f"pass renormalize=True to map them onto 0..{np.iinfo(np.dtype(dtype)).max} as ilastik's "
                      f"export does", UserWarning, stacklevel=stacklevel)


def convert(data, source, dtype=None, renormalize=False):
    """Cast ``data`` of ``source`` to ``dtype``.

    ``renormalize`` maps [0, 1] (probabilities, uncertainty) or the data's min..max (features)
    onto the full range of an integer dtype, as ilastik's export does. Without it, values are
    rounded and clipped into the dtype's range.
    """
    dtype = np.dtype(dtype or NATURAL_DTYPE[source])
    if source == "mask":
        return (data > 0).astype(dtype) * (255 if dtype == np.uint8 else 1 if dtype.kind == "f" else np.iinfo(dtype).max)
    if dtype.kind == "f":
        return data.astype(dtype, copy=False)  # a copy of a whole image's features would double the export's memory
    info = np.iinfo(dtype)
    if data.dtype.kind == "u":  # classes, labels: whole numbers, capped at what both dtypes hold (clipping
        # a uint8 at 65 535 casts the bound to uint8 first, which numpy warns about as an overflow)
        return np.minimum(data, min(info.max, np.iinfo(data.dtype).max)).astype(dtype)
    x = data.astype(np.float64) if data.dtype.kind == "f" else data
    if renormalize and source in ("probabilities", "uncertainty", "features"):
        lo, hi = (0.0, 1.0) if source != "features" else (float(x.min()), float(x.max()))
        x = (x - lo) / max(hi - lo, 1e-30) * info.max
    return np.clip(np.rint(x), info.min, info.max).astype(dtype)


def gzipped(source):
    """Whether an HDF5 output of ``source`` is gzip-compressed: all but features.

    Features are smooth filter responses whose low bits are noise to zlib: a 1024 x 1024 x 98 stack
    kept 95 % of its size and took 11.8 s to write against 1.0 s uncompressed, probabilities shrink
    to 7 % in 0.08 s for 2048 x 2048 x 2 (benchmarks/RESULTS.md, "Exporting features").
    """
    return source != "features"


def channel_names_for(project, source):
    """The names of the channels ``source`` writes: the class names for probabilities, else None.

    Written into the output (HDF5 ``channel_names``, OME-Zarr's channel labels, an ImageJ TIFF's
    labels), so napari, Fiji or :func:`.load_image` show ``Nucleus`` where they showed ``ch 1``.
    """
    return list(project.classes) if source == "probabilities" else None
