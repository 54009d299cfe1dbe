"""The in-memory image: channel-last data plus axes, name, path and voxel spacing."""
from __future__ import annotations

import copy
import itertools
import os

import numpy as np

from ..runtime.memory import available_bytes
from .checks import check_values
from .lazy import LazyArray, is_array_like, is_lazy
from .paths import stem_of

__all__ = ["Image", "to_channel_last", "guess_axes"]

_ALLOWED = set("TZCYX")
_counter = itertools.count()


def guess_axes(shape):
    """Guess axes letters for data without axis metadata.

    2D is ``YX``; 3D is ``YXC`` when the last axis is short (RGB-like, <= 4) and
    ``CYX`` otherwise (channel stacks such as IMC); 4D is ``ZYXC`` or ``ZCYX`` and 5D
    ``TZYXC`` or ``TZCYX`` by the same rule (``tzyxc``, ilastik's order for data without
    axistags, when the last axis is short). Pass ``axes=`` to :func:`load_image` to override.
    """
    nd = len(shape)
    if nd == 2:
        return "YX"
    if nd == 3:
        return "YXC" if shape[-1] <= 4 else "CYX"
    if nd == 4:
        return "ZYXC" if shape[-1] <= 4 else "ZCYX"
    if nd == 5:
        return "TZYXC" if shape[-1] <= 4 else "TZCYX"
    raise ValueError(f"cannot guess axes for data of shape {tuple(shape)} ({nd} dims); pass axes=")


def _left_where_it_is(data):
    """Whether ``data`` is an array-like (not numpy's) too large to read at once: more than an eighth of memory."""
    if not is_array_like(data):
        return False
    try:
        nbytes = int(np.prod(data.shape, dtype=np.float64)) * np.dtype(data.dtype).itemsize
    except TypeError:  # a dtype numpy does not know
        return False
    return nbytes > available_bytes() / 8


def to_channel_last(data, axes, source="data"):
    """Reorder ``data`` with axes letters ``axes`` to ``YXC`` or ``ZYXC`` (``TYXC``, ``TZYXC``).

    A length-1 ``T`` axis is dropped; a longer one is kept first. A length-1 ``Z`` axis is dropped too: one
    plane is a 2D image (bioformats2raw writes every OME-Zarr ``tczyx``, ilastik 1.x its 2D data ``txyzc``).
    Returns ``(array, new_axes)``.
    """
    axes = axes.upper()
    shape = tuple(data.shape)
    if len(axes) != len(shape) or len(set(axes)) != len(axes) or not set(axes) <= _ALLOWED:
        raise ValueError(
            f"axes {axes!r} do not fit {source} of shape {shape} ({len(shape)} dims): "
            f"give one distinct letter from 'TZCYX' per dimension"
        )
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"axes {axes!r} for {source} of shape {shape} must contain both Y and X")
    for a in "TZ":
        if a in axes and data.shape[axes.index(a)] == 1:  # a view, not a copy
            data, axes = data[(slice(None),) * axes.index(a) + (0,)], axes.replace(a, "")
    if "C" not in axes:
        data = data[..., None]
        axes = axes + "C"
    target = ("T" if "T" in axes else "") + ("ZYXC" if "Z" in axes else "YXC")
    order = [axes.index(a) for a in target]
    return np.transpose(data, order), target


class Image:
    """An image held in memory, channel-last.

    Parameters
    ----------
    data : array_like
        Pixel data whose axes are described by ``axes``. A dask, zarr or h5py array larger than an eighth of
        the memory budget stays where it is, read region by region (:attr:`lazy`), as ``load_image`` leaves a file.
    axes : str
        Letters from ``TZCYX`` naming the axes of ``data`` (default ``"YX"``; a 3D array
        with ``axes="YX"`` is taken as ``YXC``). Data is reordered to ``YXC`` / ``ZYXC``; a time
        series (``T`` longer than 1) to ``TYXC`` / ``TZYXC`` (see :meth:`frames`).
    name : str, optional
        Display name; defaults to the file stem or ``"image N"``.
    spacing : sequence of float, optional
        Voxel size per spatial axis (``(y, x)`` or ``(z, y, x)``), default all 1.
    path : str, optional
        The file this image came from.
    channel_names : list of str, optional
        One name per channel.
    levels : list of array-like, optional
        Coarser versions of the image (an OME-Zarr pyramid, or a pyramidal TIFF left in its file), finest
        first, channel-last.

    ``data`` may be a :class:`.LazyArray`: the pixels stay in the file (``lazy`` is True) and
    everything in the package reads only the parts it needs.

    Examples
    --------
    >>> img = Image(np.zeros((2, 64, 64)), axes="CYX")
    >>> img.axes, img.shape_spatial, img.n_channels
    ('YXC', (64, 64), 2)
    """

    def __init__(self, data, axes="YX", name=None, spacing=None, path=None, channel_names=None, levels=None):
        source = f"{path!r}" if path else "image data"
        given = (axes or "").upper()
        if _left_where_it_is(data):  # a dask, zarr or h5py array larger than an eighth of memory: read as needed
            ax = (axes or guess_axes(data.shape)).upper()
            data = LazyArray(data, "YXC" if ax == "YX" and len(data.shape) == 3 else ax, where=source)
        if is_lazy(data):  # pixels stay in the file, already seen channel-last
            if data.size == 0:
                raise ValueError(f"{source} is empty (shape {data.shape})")
            self.data, self.axes = data, data.axes
        else:
            data = np.asarray(data)
            if data.size == 0:
                raise ValueError(f"{source} is empty (shape {data.shape})")
            if axes is None:
                axes = guess_axes(data.shape)
            if axes.upper() == "YX" and data.ndim == 3:
                axes = "YXC"
            if data.dtype.kind == "c" or data.dtype.kind not in "biuf":
                raise ValueError(f"{source} has unsupported dtype {data.dtype} (shape {data.shape})")
            check_values(data, source)
            if data.dtype == bool:
                data = data.astype(np.uint8)
            self.data, self.axes = to_channel_last(data, axes, source)
        self.levels = list(levels or [])  # coarser versions of the pixels (OME-Zarr, pyramidal TIFF), finest first
        self.unit = None  # of the spacing, when the file says (OME-Zarr)
        self.series = None  # (series name, t, n) for a frame of a time series
        self.file_axes = None  # the axes its file was read with (load_image): a saved project reads it the same way
        self.files = None  # the files of its planes, when a stack of files holds it (images.stacks.open_stack)
        nsp = len(self.axes) - 1 - self.axes.startswith("T")
        if spacing is None:
            spacing = (1.0,) * nsp
        spacing = tuple(float(s) for s in spacing)
        z_dropped = "Z" in (getattr(data, "src_axes", None) or given) and "Z" not in self.axes
        if z_dropped and len(spacing) == nsp + 1:  # the file's (z, y, x) for a plane it kept as a volume
            spacing = spacing[1:]
        if len(spacing) != nsp or any(not np.isfinite(s) or s <= 0 for s in spacing):
            raise ValueError(f"spacing {spacing} must be {nsp} positive numbers for {source} ({self.axes})")
        self.spacing = spacing
        self.path = os.fspath(path) if path is not None else None
        self.uid = next(_counter)  # identity for caches: survives renames, never reused
        if name is None:
            name = stem_of(self.path) if self.path else f"image {self.uid}"
        self.name = name
        if channel_names is not None and len(channel_names) != self.n_channels:
            raise ValueError(
                f"{len(channel_names)} channel names given for {self.n_channels} channels of {source}"
            )
        self.channel_names = list(channel_names) if channel_names is not None else [
            f"ch {i + 1}" for i in range(self.n_channels)
        ]

    def renewed(self):
        """The same pixels (not copied) under a new identity, e.g. the same image added twice."""
        twin = copy.copy(self)
        twin.uid = next(_counter)
        twin.channel_names = list(self.channel_names)
        return twin

    @property
    def n_timepoints(self):
        """Time points of a series (``axes`` starting with ``T``), else 1."""
        return self.data.shape[0] if self.axes.startswith("T") else 1

    def frames(self):
        """One :class:`Image` per time point of a series (the image itself otherwise).

        Each frame remembers where it came from in ``.series``: ``(series name, t, n)``.
        """
        if not self.axes.startswith("T"):
            return [self]
        out = []
        for t in range(self.n_timepoints):
            f = Image(self.data.frame(t) if self.lazy else self.data[t], axes=self.axes[1:], name=f"{self.name} t={t}",
                      spacing=self.spacing, path=self.path, channel_names=self.channel_names)
            f.series = (self.name, t, self.n_timepoints)
            f.file_axes, f.files = self.file_axes, self.files
            out.append(f)
        return out

    @property
    def ndim_spatial(self):
        """Number of spatial axes (2 or 3)."""
        return self.data.ndim - 1 - self.axes.startswith("T")

    @property
    def n_channels(self):
        """Number of channels (``C``)."""
        return self.data.shape[-1]

    @property
    def shape_spatial(self):
        """Spatial shape, ``(Y, X)`` or ``(Z, Y, X)``."""
        return tuple(self.data.shape[self.axes.startswith("T"):-1])

    @property
    def lazy(self):
        """Whether the pixels stay in the file (:class:`.LazyArray`), read only where asked."""
        return is_lazy(self.data)

    @property
    def dtype(self):
        """The pixels' dtype."""
        return self.data.dtype

    @property
    def shape(self):
        """The pixels' shape, channel last as :attr:`axes` says (``image.shape`` as for an array)."""
        return tuple(self.data.shape)

    def __repr__(self):
        return (
            f"Image(name={self.name!r}, axes={self.axes!r}, shape={self.data.shape}, "
            f"dtype={self.data.dtype}, spacing={self.spacing}{', lazy' if self.lazy else ''})"
        )
