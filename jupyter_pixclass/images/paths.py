"""File names: the format a suffix says, the stem of a name, ``file.h5/inner/dataset`` paths."""
from __future__ import annotations

import os
import re

__all__ = ["TIFF", "H5", "NPY", "PIL", "ZARR", "SUFFIXES", "split_inner", "suffix_of", "stem_of", "is_ome_zarr_name"]

TIFF = (".tif", ".tiff")
H5 = (".h5", ".hdf5", ".hdf")
NPY = (".npy",)
PIL = (".png", ".jpg", ".jpeg")
ZARR = (".zarr",)
SUFFIXES = TIFF + H5 + NPY + PIL + ZARR
_DOUBLE = (".ome.tif", ".ome.tiff", ".ome.zarr")  # one format, two dots


def split_inner(path):
    """Split ``"file.h5/group/data"`` into ``("file.h5", "group/data")`` (``None`` without an inner part)."""
    s = os.fspath(path)
    m = re.search(r"(\.h5|\.hdf5|\.hdf|\.zarr)(/|\\|$)", s, flags=re.IGNORECASE)
    if m and m.end(1) < len(s):
        return s[: m.end(1)], s[m.end(1) + 1 :].strip("/") or None
    return s, None


def suffix_of(path):
    """The lower-case suffix that names the format (``.ome.tif`` is ``.tif``, ``.ome.zarr`` is ``.zarr``)."""
    low = os.fspath(path).rstrip("/\\").lower()
    for d in _DOUBLE:
        if low.endswith(d):
            return "." + d.rsplit(".", 1)[1]
    return os.path.splitext(low)[1]


def stem_of(path):
    """The file name without its suffix (``a.ome.tif`` -> ``a``)."""
    base = os.path.basename(os.fspath(path).rstrip("/\\"))
    for d in _DOUBLE:
        if base.lower().endswith(d):
            return base[: -len(d)]
    return os.path.splitext(base)[0]


def is_ome_zarr_name(path):
    """Whether ``path`` is named as an OME-Zarr image (``.ome.zarr``): written as a multiscale pyramid."""
    return os.fspath(path).rstrip("/\\").lower().endswith(".ome.zarr")
