"""An ilastik lane made from a stack of files ("Add Volume from Stack..."), read as one image.

ilastik keeps such a lane's ``filePath`` as the files joined by the path separator of the machine
that wrote it (``:`` on Linux and macOS, ``;`` on Windows; ilastik 1.4's ``DatasetInfo.expand_path``),
or, before 1.4, as a glob pattern (``slices/*.tif``); the files lie one after another along the
lane's first axis (its axistags: ``zyxc`` for a z-stack of 2D images, ``tzyxc`` for volumes in time).
"""
from __future__ import annotations

import glob
import os
import re
from typing import NamedTuple

import numpy as np

from ..images.checks import check_read_size
from ..images.paths import candidate_paths, find_file, has_glob, split_inner
from ..images.image import guess_axes
from ..images.read import open_array, open_lazily, too_big_to_hold
from ..images.stacks import MAX_FILES, open_stack, plane_in

__all__ = ["stack_parts", "is_stack", "find_stack_files", "read_stack", "open_big_stack", "StackFiles", "Stack",
           "MAX_STACK_FILES"]

MAX_STACK_FILES = MAX_FILES  # more than this many is not a stack someone made in ilastik's dialog
# ':' separates files except after a lone drive letter ("C:/data") or before "//" (a URL) or a port number
_COLON = re.compile(r"(?<!^[A-Za-z])(?<!:[A-Za-z]):(?!//|\d{1,5}\b)")


def stack_parts(file_path):
    """The file names a lane's ``filePath`` joins: one for a single file (``[file_path]``)."""
    s = os.fspath(file_path)
    parts = s.split(";") if ";" in s else _COLON.split(s)
    return [p.strip() for p in parts if p.strip()]


def is_stack(file_path):
    """Whether ``filePath`` names several files, or a glob pattern of them, rather than one file."""
    parts = stack_parts(file_path)
    return len(parts) > 1 or has_glob(parts[0]) if parts else False


class StackFiles(NamedTuple):
    """Where a stack's files are now: ``files`` in stack order, ``missing`` the names (with where
    they were looked for) that were not found."""

    files: list
    missing: list


def _posix(part):
    # a project written on Windows names its files with backslashes
    return part.replace("\\", "/") if os.sep == "/" and "\\" in part and not os.path.exists(part) else part


def find_stack_files(file_path, bases):
    """Each file of a stack lane, looked for as :func:`.find_file` does (the name as written, under
    each folder of ``bases``, its base name there); a glob pattern is expanded where it first
    matches, its matches sorted, as ilastik sorts them."""
    files, missing = [], []
    for part in (_posix(p) for p in stack_parts(file_path)):
        outer, inner = split_inner(part)
        if inner is not None and has_glob(inner):
            raise ValueError(f"the stack {part!r} globs the datasets inside a file, which we do not read; "
                             f"save the stack as one file and add that")
        if not has_glob(outer):
            found, tried = find_file(part, bases)
            if found is None:
                missing.append(f"{part} (looked for {', '.join(tried)})")
            else:
                files.append(found)
            continue
        found, tried = [], []
        for cand in candidate_paths(outer, bases):
            tried.append(cand)
            found = sorted(glob.glob(cand))
            if found:
                break
        if not found:
            missing.append(f"{part} (no file matches {', '.join(dict.fromkeys(tried))})")
        files += [f + (f"/{inner}" if inner else "") for f in found]
        if len(files) > MAX_STACK_FILES:
            break
    if len(files) > MAX_STACK_FILES:
        raise ValueError(f"the stack {file_path[:120]!r} names more than {MAX_STACK_FILES} files")
    return StackFiles(files, missing)


class Stack(NamedTuple):
    """A stack read whole: ``data`` in the order of ``axes`` (the lane's, or ``Z`` and the files')."""

    data: np.ndarray
    axes: str


def read_stack(files, lane_axes, where, path):
    """The files of a stack, one after another along the lane's first axis, as one array.

    Every file must hold an image of the first one's shape and type; the whole stack's size is
    checked against the memory this process may read (:func:`.check_read_size`) from the first
    file's header, before any pixels are read. ``lane_axes`` (ilastik's axistags, e.g. ``"ZYXC"``)
    orders the result; without them the files lie along ``Z``.
    """
    arr, axes, _, close = open_lazily(files[0])  # the header only
    close()
    axes = (axes or guess_axes(arr.shape)).upper()
    shape0, dtype = tuple(arr.shape), arr.dtype
    if lane_axes:  # the files lie along the lane's first axis, as ilastik's stack reader puts them
        seq, want = lane_axes[0], lane_axes[1:]
    else:
        seq, want = ("Z" if "Z" not in axes else "T"), axes
    # the shape of one file in the lane's order, from a zero-byte stand-in (a header may declare anything)
    plane = plane_in(np.broadcast_to(np.zeros((), np.bool_), shape0), axes, want, files[0]).shape
    try:
        check_read_size((len(files),) + plane, dtype, f"the stack of {len(files)} files of {where}", path)
    except ValueError as e:  # a stack of volumes, or in time (a z-stack of planes is left in its files)
        raise ValueError(f"{e}; write the stack as one OME-Zarr or HDF5 file, which is read region by "
                         f"region, and add that to the project") from None
    out = np.empty((len(files),) + plane, dtype)
    for i, name in enumerate(files):
        arr, a, _, close = open_array(name)  # TIFF, PNG: read whole at once, as tifffile.imread would
        try:
            a = (a or guess_axes(arr.shape)).upper()
            if arr.dtype != dtype or tuple(arr.shape) != shape0 or a != axes:
                raise ValueError(f"{path!r}: {where} stacks files of different images: {name!r} holds "
                                 f"{arr.dtype} {tuple(arr.shape)} ({a}), {files[0]!r} {dtype} {shape0} ({axes})")
            out[i] = plane_in(np.asarray(arr[...]), axes, want, name)
        finally:
            close()
    return Stack(out, seq + want)


def open_big_stack(files, lane_axes, where):
    """A z-stack of 2D files too big to read whole, left in its files (:func:`.open_stack`), as ilastik reads
    it plane by plane; None when it fits in memory (:func:`.too_big_to_hold`) or is not laid out so (the lane's
    first axis ``Z``, every axis of a file also the lane's): :func:`read_stack` reads or refuses those."""
    arr, axes, _, close = open_lazily(files[0])  # the header only
    close()
    axes = (axes or guess_axes(arr.shape)).upper()
    lane = (lane_axes or "Z" + axes).upper()
    if not too_big_to_hold((len(files),) + tuple(arr.shape), arr.dtype):
        return None
    if lane[0] != "Z" or len(axes) != len(arr.shape) or not set(axes) <= set(lane[1:]) or set(axes) & set("ZT"):
        return None
    return open_stack(files, "Z" + axes, open_lazily, where=where)
