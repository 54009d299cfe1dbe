"""BigDataViewer HDF5 files (Fiji's BigStitcher, MultiView Reconstruction, pybdv, npy2bdv): their full resolution.

Time point t of view setup s at level 0 is the (Z, Y, X) dataset ``t{t:05d}/s{s:02d}/0/cells``; each setup
lists its levels in ``s{s:02d}/resolutions``. BigDataViewer keeps 16-bit pixels as ``int16`` (Java has no
unsigned type): they are read as the ``uint16`` they are. Setups of one shape are channels; a
``<stem>.xml`` beside the file (BigDataViewer's description of it) gives their names and the voxel size.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ElementTree

import numpy as np

from .hdf5_parts import Hdf5Parts

__all__ = ["is_bdv", "open_bdv"]

_MAX_XML = 8 * 2**20  # a description of thousands of setups is smaller: more is not BigDataViewer's
_MAX_PARTS = 4096


def is_bdv(f):
    """Whether the open HDF5 file ``f`` is in BigDataViewer's layout (``s00/resolutions`` and ``t00000/s00/0``)."""
    return "s00/resolutions" in f and "t00000/s00/0/cells" in f


def _described(path, n_setups):
    """Setup names and the voxel size (z, y, x) from the ``.xml`` beside ``path``; (None, None) without one."""
    xml = os.path.splitext(path)[0] + ".xml"
    try:
        if not os.path.isfile(xml) or os.path.getsize(xml) > _MAX_XML:
            return None, None
        root = ElementTree.parse(xml).getroot()  # expat refuses exponential entity expansion
    except (ElementTree.ParseError, OSError, ValueError):
        return None, None  # only a description: the pixels are read without it
    setups = {}
    for vs in root.iter("ViewSetup"):
        try:
            sid = int((vs.findtext("id") or "").strip())
        except ValueError:
            continue
        size = (vs.findtext("voxelSize/size") or "").split()
        setups[sid] = ((vs.findtext("name") or "").strip()[:255], size)
    names = [setups.get(s, ("", []))[0] or None for s in range(n_setups)]
    spacing = None
    try:
        xyz = [float(v) for v in setups.get(0, ("", []))[1]]
        if len(xyz) == 3 and all(np.isfinite(v) and v > 0 for v in xyz):
            spacing = (xyz[2], xyz[1], xyz[0])
    except ValueError:
        pass
    return (names if all(names) and len(set(names)) == len(names) else None), spacing


def open_bdv(f, path):
    """The open BigDataViewer file ``f`` at ``path``: ``(Hdf5Parts, axes, spacing)``, level 0 of every time
    point and setup; axes ``CZYX`` (``TCZYX`` with several time points). Errors name the file."""
    times = sorted(int(m.group(1)) for k in f if (m := re.fullmatch(r"t(\d{5})", k)))
    setups = sorted(int(m.group(1)) for k in f if (m := re.fullmatch(r"s(\d{2,3})", k)))
    if not times or not setups or len(times) * len(setups) > _MAX_PARTS:
        raise ValueError(f"{path!r}: {len(times)} time points and {len(setups)} view setups in BigDataViewer's "
                         f"layout is not an image we read")
    parts, shape, dtype = [], None, None
    for ti, t in enumerate(times):
        for ci, s in enumerate(setups):
            name = f"t{t:05d}/s{s:02d}/0/cells"
            d = f.get(name)
            if d is None or not hasattr(d, "shape") or len(d.shape) != 3:
                raise ValueError(f"{path!r}: {name} is missing or not a 3D dataset")
            if shape is not None and (tuple(d.shape) != shape or d.dtype != dtype):
                raise ValueError(f"{path!r}: {name} is {d.dtype} {tuple(d.shape)}, the first view {dtype} {shape}: "
                                 f"views of other shapes (tiles, angles) are not channels; open one with "
                                 f"dataset='{name}'")
            shape, dtype = tuple(d.shape), d.dtype
            parts.append((ti, ci, name))
    names, spacing = _described(path, len(setups))
    view = np.dtype(np.uint16) if dtype == np.int16 else dtype  # Java's int16 holds uint16 pixels
    full = ((len(times),) if len(times) > 1 else ()) + (len(setups),) + shape
    arr = Hdf5Parts(path, full, view, parts, {"channel_names": names or [f"ch {i + 1}" for i in range(len(setups))]})
    return arr, ("T" if len(times) > 1 else "") + "CZYX", spacing  # one plane deep: a 2D image (Image drops Z)
