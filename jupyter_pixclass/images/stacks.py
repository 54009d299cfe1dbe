"""A volume saved one file a plane (``slices/z_*.tif``), read as one image, as ``tifffile.imread`` reads a pattern."""
from __future__ import annotations

import glob
import os
import re

import numpy as np

from .checks import check_read_size
from .image import Image

__all__ = ["is_pattern", "files_matching", "load_stack"]

_GLOB = re.compile(r"[*?\[]")


def is_pattern(path):
    """Whether ``path`` is a glob pattern (``*``, ``?``, ``[``) rather than a file that exists."""
    p = os.fspath(path)
    return bool(_GLOB.search(p)) and not os.path.exists(p)


def _natural(name):
    # z2 before z10, as tifffile and file browsers order numbered planes
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def files_matching(pattern):
    """The files ``pattern`` matches, in natural order (``z2`` before ``z10``); a FileNotFoundError if none."""
    files = sorted((f for f in glob.glob(os.fspath(pattern)) if os.path.isfile(f) or f.endswith(".zarr")),
                   key=_natural)
    if not files:
        raise FileNotFoundError(f"no image file matches {os.fspath(pattern)!r}")
    return files


def load_stack(pattern, load, axes=None, lazy=None):
    """The 2D images ``pattern`` matches, one plane of a volume each, in natural order.

    ``load(path, axes, lazy)`` reads one file (:func:`.load_image`); every file must hold a 2D image of
    the first one's shape, type and channels. The whole volume's size is checked (:func:`.check_read_size`)
    after the first file, before the others are read. ``axes`` are the volume's (``"ZYX"``, ``"ZYXC"``);
    a stack is read whole, so ``lazy=True`` is refused.
    """
    pattern = os.fspath(pattern)
    if lazy:
        raise ValueError(f"{pattern!r}: a stack of files is read whole, not lazily; write it as one OME-Zarr "
                         f"or HDF5 file to read it region by region")
    if axes is not None and (not axes or axes.upper()[0] != "Z"):
        raise ValueError(f"{pattern!r}: the files of a stack are the planes of a volume: axes must start with "
                         f"'Z'; got {axes!r}")
    files = files_matching(pattern)
    plane_axes = axes.upper()[1:] if axes else None
    first = load(files[0], plane_axes, False)
    if first.ndim_spatial != 2 or "T" in first.axes:
        raise ValueError(f"{pattern!r}: {files[0]!r} is not a 2D image ({first.axes}, shape {first.data.shape}); "
                         f"a stack's files are the planes of one volume")
    shape, dtype = tuple(first.data.shape), first.data.dtype
    try:
        check_read_size((len(files),) + shape, dtype, f"the stack of {len(files)} files", pattern)
    except ValueError as e:
        raise ValueError(f"{e}; write it as one OME-Zarr or HDF5 file to read it region by region") from None
    out = np.empty((len(files),) + shape, dtype)
    out[0] = first.data
    for z, f in enumerate(files[1:], 1):
        img = load(f, plane_axes, False)
        if tuple(img.data.shape) != shape or img.data.dtype != dtype or img.channel_names != first.channel_names:
            raise ValueError(f"{pattern!r}: {f!r} ({img.data.dtype} {tuple(img.data.shape)}, channels "
                             f"{img.channel_names}) is not like {files[0]!r} ({dtype} {shape}, channels "
                             f"{first.channel_names}): a stack's files must be planes of one volume")
        out[z] = img.data
    name = os.path.commonprefix([os.path.splitext(os.path.basename(f))[0] for f in files]).rstrip("_-. ")
    img = Image(out, axes="Z" + first.axes, name=name or "stack", path=pattern, channel_names=first.channel_names)
    img.file_axes = None  # no one file holds it: a saved project keeps its pixels
    return img
