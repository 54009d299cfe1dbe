"""A volume saved one file a plane (``slices/z_*.tif``), read as one image, as ``tifffile.imread`` reads a pattern."""
from __future__ import annotations

import glob
import os
import re

import numpy as np

from .checks import check_read_size
from .image import Image, guess_axes
from .lazy import LazyArray, full_key
from .paths import has_glob, stem_of

__all__ = ["is_pattern", "files_matching", "load_stack", "open_stack", "stack_name", "FileStack", "plane_in",
           "MAX_FILES"]

# files of one stack a file may name (an ilastik project, ours): more is damage, not a volume someone made
MAX_FILES = 100_000

def is_pattern(path):
    """Whether ``path`` is a glob pattern (``*``, ``?``, ``[``) rather than a file that exists."""
    p = os.fspath(path)
    return has_glob(p) and not os.path.exists(p)


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


def stack_name(files):
    """A stack's name: what its files' names share (``cells_z`` of ``cells_z0.tif``, ``cells_z1.tif``, ...)."""
    return os.path.commonprefix([stem_of(f) for f in files]).rstrip("_-. ") or "stack"


def _one(shape):
    """A zero-byte stand-in array of ``shape`` (for the shapes of views: a header may declare anything)."""
    return np.broadcast_to(np.zeros((), np.bool_), tuple(shape))


def plane_in(arr, axes, want, name):
    """``arr`` (of letters ``axes``) in the order of ``want``: letters ``want`` lacks dropped where they
    are one long, missing ones added as axes of one; views, not copies."""
    for a in axes:
        if a not in want:
            if arr.shape[axes.index(a)] != 1:
                raise ValueError(f"{name!r} has axes {axes!r} (shape {tuple(arr.shape)}), which do not fit "
                                 f"{want!r}")
            arr, axes = arr[(slice(None),) * axes.index(a) + (0,)], axes.replace(a, "")
    for a in want:
        if a not in axes:
            arr, axes = arr[..., None], axes + a
    return np.transpose(arr, [axes.index(a) for a in want])


class FileStack:
    """Files of one shape, one after another along a first axis, as one array read on demand.

    ``opener(path) -> (array, axes, spacing, close)`` opens a file without reading its pixels
    (:func:`.open_lazily`). Indexing opens only the files it reaches and reads only the region
    asked for; nothing stays open, so the array travels to dask workers as its file names.
    """

    def __init__(self, files, opener, file_shape, dtype, file_axes):
        self.files, self.opener = tuple(files), opener
        self.file_shape, self.file_axes, self.dtype = tuple(file_shape), file_axes, np.dtype(dtype)
        self.shape = (len(self.files),) + self.file_shape
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        key = full_key(key, self.shape)  # one entry an axis, bounds checked
        one = isinstance(key[0], (int, np.integer))
        planes = []
        for i in [int(key[0])] if one else range(*key[0].indices(len(self.files))):
            arr, _, _, close = self.opener(self.files[i])
            try:
                if tuple(arr.shape) != self.file_shape or arr.dtype != self.dtype:
                    raise ValueError(f"{self.files[i]!r} holds {arr.dtype} {tuple(arr.shape)}, not {self.dtype} "
                                     f"{self.file_shape} as {self.files[0]!r}: a stack's files must be planes of "
                                     f"one volume")
                planes.append(np.asarray(arr[key[1:]]))
            finally:
                close()
        if one:
            return planes[0]
        if not planes:
            return np.empty((0,) + _one(self.file_shape)[key[1:]].shape, self.dtype)
        return np.stack(planes)


def load_stack(files, load, axes=None, source=None):
    """``files``, 2D images, as the planes of one volume, in their order, read whole.

    ``load(path, axes, lazy)`` reads one file (:func:`.load_image`); every file must hold a 2D image of
    the first one's shape, type and channels. The whole volume's size is checked (:func:`.check_read_size`)
    after the first file, before the others are read. ``axes`` are the volume's (``"ZYX"``, ``"ZYXC"``);
    ``source`` (a glob pattern, or None) is the image's ``path`` and what errors name.
    """
    pattern = source or f"the stack of {len(files)} files from {files[0]}"
    plane_axes = axes.upper()[1:] if axes else None
    first = load(files[0], plane_axes, False)
    if first.ndim_spatial != 2 or "T" in first.axes:
        raise ValueError(f"{pattern!r}: {files[0]!r} is not a 2D image ({first.axes}, shape {first.data.shape}); "
                         f"a stack's files are the planes of one volume")
    shape, dtype = tuple(first.data.shape), first.data.dtype
    try:
        check_read_size((len(files),) + shape, dtype, f"the stack of {len(files)} files", pattern)
    except ValueError as e:
        raise ValueError(f"{e}; load_image(..., lazy=True) leaves it in its files") from None
    out = np.empty((len(files),) + shape, dtype)
    out[0] = first.data
    for z, f in enumerate(files[1:], 1):
        img = load(f, plane_axes, False)
        if tuple(img.data.shape) != shape or img.data.dtype != dtype or img.channel_names != first.channel_names:
            raise ValueError(f"{pattern!r}: {f!r} ({img.data.dtype} {tuple(img.data.shape)}, channels "
                             f"{img.channel_names}) is not like {files[0]!r} ({dtype} {shape}, channels "
                             f"{first.channel_names}): a stack's files must be planes of one volume")
        out[z] = img.data
    img = Image(out, axes="Z" + first.axes, name=stack_name(files), path=source, channel_names=first.channel_names)
    img.file_axes = None  # no one file holds it: a saved project keeps its pixels
    return img


def open_stack(files, axes, opener, where=None):
    """``files`` (the planes of a volume, in order) as one image left in them: a region reads only the files it
    reaches (:class:`FileStack`).

    ``axes`` are the stack's letters: ``Z`` for the files' order, then each file's own (``"ZYX"``, ``"ZYXC"``);
    None takes the first file's. ``opener`` opens a file without reading its pixels (:func:`.open_lazily`). The
    image remembers its ``files`` and ``file_axes``, so a saved project names the files and opens them again.
    """
    arr, own, _, close = opener(files[0])  # the header only
    close()
    axes = (axes or "Z" + (own or guess_axes(arr.shape))).upper()
    if axes[0] != "Z" or len(axes) != len(arr.shape) + 1 or set(axes[1:]) & set("ZT"):
        raise ValueError(f"{where or files[0]!r}: a stack of axes {axes!r} cannot hold {files[0]!r} of shape "
                         f"{tuple(arr.shape)}: its files must be the 2D planes of one volume, along 'Z'")
    src = FileStack(files, opener, arr.shape, arr.dtype, axes[1:])
    img = Image(LazyArray(src, axes, where=where or files[0]), name=stack_name(files))
    img.files, img.file_axes = tuple(files), axes
    return img
