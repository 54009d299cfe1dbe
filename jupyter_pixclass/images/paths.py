"""File names: the format a suffix says, the stem of a name, ``file.h5/inner/dataset`` paths."""
from __future__ import annotations

import glob
import os
import re
from typing import NamedTuple

__all__ = ["TIFF", "TIFF_FAMILY", "H5", "NPY", "PIL", "ZARR", "IMS", "SUFFIXES", "split_inner", "suffix_of", "stem_of",
           "is_ome_zarr_name", "FoundFile", "candidate_paths", "has_glob", "exists", "find_file"]

TIFF = (".tif", ".tiff")
# TIFFs under other names, read as TIFF (tifffile reads them): BigTIFF, Zeiss LSM, MetaMorph STK, Aperio SVS,
# Hamamatsu NDPI, Akoya QPTIFF, Leica SCN
TIFF_FAMILY = TIFF + (".btf", ".tf8", ".tf2", ".lsm", ".stk", ".svs", ".ndpi", ".qptiff", ".scn")
H5 = (".h5", ".hdf5", ".hdf")
NPY = (".npy",)
PIL = (".png", ".jpg", ".jpeg")
ZARR = (".zarr",)
IMS = (".ims",)  # Imaris: HDF5 in Bitplane's layout
SUFFIXES = TIFF_FAMILY + H5 + NPY + PIL + ZARR + IMS  # what load_image reads
_DOUBLE = (".ome.tif", ".ome.tiff", ".ome.zarr")  # one format, two dots


# "x.ome.tif/2": a TIFF's image by number
_TIFF_IMAGE = re.compile(rf"({'|'.join(re.escape(t) for t in TIFF_FAMILY)})[/\\](\d+)[/\\]?$", re.IGNORECASE)


def split_inner(path):
    """Split ``"file.h5/group/data"`` into ``("file.h5", "group/data")`` (``None`` without an inner part);
    ``"file.ome.tif/2"`` into ``("file.ome.tif", "2")``: a TIFF's images (series) by number."""
    s = os.fspath(path)
    m = re.search(r"(\.h5|\.hdf5|\.hdf|\.zarr)(/|\\|$)", s, flags=re.IGNORECASE)
    if m and m.end(1) < len(s):
        return s[: m.end(1)], s[m.end(1) + 1 :].strip("/") or None
    m = _TIFF_IMAGE.search(s)
    if m:
        return s[: m.end(1)], m.group(2)
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


class FoundFile(NamedTuple):
    """Where :func:`find_file` found a file: ``path`` (None if nowhere) and every candidate ``tried``."""

    path: str | None
    tried: list


def has_glob(path):
    """Whether ``path`` holds a glob pattern's wildcards (``*``, ``?``, ``[``)."""
    return any(ch in os.fspath(path) for ch in "*?[")


def exists(path):
    """Whether ``path`` exists, or, for a glob pattern of files (a volume one file a plane), whether it matches."""
    p = os.fspath(path)
    return os.path.exists(p) or (has_glob(p) and bool(glob.glob(p)))


def candidate_paths(fpath, bases):
    """Where :func:`find_file` looks for ``fpath``, in order: itself if absolute; under each folder of
    ``bases`` (None skipped) if relative, and its base name there."""
    cands = [fpath] if os.path.isabs(fpath) else []
    for b in bases:
        if b is None or os.fspath(b) == "":
            continue
        if not os.path.isabs(fpath):
            cands.append(os.path.join(os.fspath(b), fpath))
        cands.append(os.path.join(os.fspath(b), os.path.basename(fpath.rstrip("/\\"))))
    return list(dict.fromkeys(cands))


def find_file(file_path, bases):
    """Where a file that another file names is now, as ilastik looks for a lane's file.

    Tried in order: ``file_path`` itself if absolute; then for each folder of ``bases`` (None
    skipped) ``file_path`` under it if relative, and its base name there (a project moved with
    its data). An HDF5/Zarr inner path (``file.h5/group/data``) is kept on what is found.

    Returns
    -------
    FoundFile
        ``path`` is the first candidate that exists, or None; ``tried`` lists them all.
    """
    fpath, inner = split_inner(file_path)
    tried = candidate_paths(fpath, bases)
    for c in tried:
        if exists(c):
            return FoundFile(c + (f"/{inner}" if inner else ""), tried)
    return FoundFile(None, tried)
