"""Pixels that stay in their file: a channel-last view of an HDF5, Zarr, TIFF or NPY array.

Reading goes through ``__getitem__`` only: each request is translated to the file's own axis order,
read (HDF5, Zarr and tifffile's Zarr store read just the chunks it touches; :class:`MappedArray` the
runs of an uncompressed TIFF or NPY it touches), and transposed. Nothing here reads a whole array
unless asked for all of it.
"""
from __future__ import annotations

import itertools
import os

import numpy as np

from .checks import check_dtype, check_values

__all__ = ["LazyArray", "MappedArray", "ArrayShape", "is_lazy", "is_array_like", "full_key"]

_SPATIAL = "ZYX"


def is_lazy(data):
    """Whether ``data`` is a :class:`LazyArray` (pixels left in the file)."""
    return isinstance(data, LazyArray)


def is_array_like(data):
    """Whether ``data`` is an array of another library (dask, zarr, h5py): ``shape``, ``dtype`` and slicing, not
    numpy's and not ours, so ``np.asarray`` would read all of it."""
    return not isinstance(data, np.ndarray) and not is_lazy(data) and all(
        hasattr(data, a) for a in ("shape", "dtype", "__getitem__"))


class ArrayShape:
    """``ndim`` and ``size`` from ``shape``: what the package's own array-likes share with ndarrays."""

    shape = ()

    @property
    def ndim(self):
        """Number of axes."""
        return len(self.shape)

    @property
    def size(self):
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))


class LazyArray(ArrayShape):
    """``source`` (axes letters ``axes`` from ``TZCYX``) seen as ``(T,)(Z,)Y,X,C``, read on demand.

    Parameters
    ----------
    source : array-like
        h5py dataset, zarr array, numpy memmap: anything with ``shape``, ``dtype`` and basic slicing.
    axes : str
        The source's axes. A missing ``C`` becomes a channel axis of length 1; a ``T`` or ``Z`` of length
        1 is dropped; ``fixed`` pins axes to one index (a frame of a series).
    keep : object, optional
        What must stay open while this array is used (an h5py File).
    where : str, optional
        The file, named by an error when a read fails (a damaged file is found only when read).
    """

    def __init__(self, source, axes, keep=None, fixed=None, where=None):
        axes = axes.upper()
        if len(axes) != len(source.shape) or len(set(axes)) != len(axes) or not set(axes) <= set("TZCYX"):
            raise ValueError(f"axes {axes!r} do not fit {repr(where) if where else 'an array'} of shape "
                             f"{tuple(source.shape)}: give one distinct letter from 'TZCYX' per dimension")
        check_dtype(source.dtype, "the array")
        self.source, self.src_axes, self.keep, self.where = source, axes, keep, where
        self.fixed = dict(fixed or {})
        for a in "TZ":  # one time point is not a series, one plane not a volume (as to_channel_last)
            if a in axes and source.shape[axes.index(a)] == 1:
                self.fixed.setdefault(a, 0)
        order = [a for a in "T" + _SPATIAL if a in axes and a not in self.fixed] + ["C"]
        self.axes = "".join(order)
        self.shape = tuple(source.shape[axes.index(a)] if a in axes else 1 for a in order)
        self.dtype = np.dtype(np.uint8) if source.dtype == bool else np.dtype(source.dtype)

    @property
    def nbytes(self):
        """Bytes of all the pixels (what reading them all would take)."""
        return self.size * self.dtype.itemsize

    def frame(self, t):
        """Time point ``t`` of a series, still in the file."""
        return LazyArray(self.source, self.src_axes, self.keep, dict(self.fixed, T=int(t)), self.where)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        key = full_key(key, self.shape)
        per_axis = dict(zip(self.axes, key))
        src_key, picks, kept = [], [], []
        for a in self.src_axes:
            if a in self.fixed:
                src_key.append(self.fixed[a])
                continue
            k = per_axis[a]
            if isinstance(k, np.ndarray):  # read the span, pick in memory (h5py takes one list at most)
                lo, hi = (int(k.min()), int(k.max()) + 1) if k.size else (0, 0)
                src_key.append(slice(lo, hi))
                picks.append((a, k - lo))
                kept.append(a)
            else:
                src_key.append(k)
                if isinstance(k, slice):
                    kept.append(a)
        try:
            block = np.asarray(self.source[tuple(src_key)])
        except MemoryError:
            raise
        except Exception as e:  # h5py, zarr and tifffile each raise their own on a damaged or truncated file
            raise ValueError(f"could not read {self.where or 'the file'!r} (damaged or truncated?): "
                             f"{type(e).__name__}: {e}") from e
        for a, idx in picks:
            block = np.take(block, idx, axis=kept.index(a))
        if block.dtype == bool:
            block = block.astype(np.uint8)
        order = [a for a in self.axes if a in kept]
        block = np.transpose(block, [kept.index(a) for a in order])
        if "C" not in self.src_axes:  # add the channel axis, then apply its key
            block = block[..., None][..., per_axis["C"]]
        # as an image in memory is checked whole: a NaN here would spread through the features (a forest
        # trained on a NaN-padded image predicted 0.5 everywhere)
        return check_values(block, repr(self.where or "the file"), f" (the region {_region(key)})")

    def __getstate__(self):  # a dask worker gets the array, not the handle kept open here
        return {k: v for k, v in self.__dict__.items() if k != "keep"}

    def __array__(self, dtype=None, copy=None):
        out = self[...]
        return out if dtype is None else out.astype(dtype)

    def astype(self, dtype, copy=True):
        """All pixels as ``dtype`` (reads the whole array: for small images only)."""
        return self[...].astype(dtype)

    def __repr__(self):
        return f"LazyArray(shape={self.shape}, dtype={self.dtype}, axes={self.axes!r}, in {type(self.source).__name__})"


def _region(key):
    """A read's key as ``0:64, 0:64, :``."""
    def one(k):
        if isinstance(k, slice):
            return f"{'' if k.start is None else k.start}:{'' if k.stop is None else k.stop}"
        return f"{len(k)} picked" if isinstance(k, np.ndarray) else str(k)
    return ", ".join(one(k) for k in key)


class MappedArray:
    """An uncompressed C-order array at ``offset`` in a file, read region by region with ``os.pread``.

    A memory map would keep every page it touched in this process's resident memory: a zoomed-out
    view reading every 20th row of a 576 MB image mapped most of it (peak 1.15 GB against 0.71 GB for
    the same image tiled). Here each run of the region along its last axes is one read into a copy.
    """

    def __init__(self, path, offset, shape, dtype):
        self.path, self.offset = os.fspath(path), int(offset)
        self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        key = full_key(key, self.shape)
        if any(isinstance(k, np.ndarray) for k in key):
            raise IndexError("a file read region by region takes ints and slices")
        sel = [(k, k + 1, 1) if isinstance(k, int) else (k.start, max(k.start, k.stop), k.step) for k in key]
        squeeze = [isinstance(k, int) for k in key]
        k = self.ndim - 1  # axes k.. are read as one run: those after k whole, k itself a span
        while k > 0 and sel[k] == (0, self.shape[k], 1):
            k -= 1
        a, b, step = sel[k]
        tail = self.shape[k + 1:]
        run = (b - a) * int(np.prod(tail, dtype=np.int64))
        strides = np.cumprod((1,) + self.shape[:0:-1])[::-1]  # elements, C order
        lead = [range(*s) for s in sel[:k]]
        out = np.empty([len(r) for r in lead] + [b - a] + list(tail), self.dtype)
        if out.size:
            size = self.dtype.itemsize
            with open(self.path, "rb") as fh:
                for pos, idx in zip(np.ndindex(*out.shape[:k]), itertools.product(*lead)):
                    at = self.offset + (int(np.dot(idx, strides[:k])) + a * int(strides[k])) * size
                    raw = _read_at(fh, run * size, at)
                    if len(raw) != run * size:
                        raise ValueError(f"{self.path!r} is truncated: {len(raw)} bytes at {at}, {run * size} expected")
                    out[pos] = np.frombuffer(raw, self.dtype).reshape(out.shape[k:])
        out = out[(slice(None),) * k + (slice(None, None, step),)]
        return out.reshape([n for n, q in zip(out.shape, squeeze) if not q]) if any(squeeze) else out


def _read_at(fh, n, at):
    """``n`` bytes of the open file ``fh`` from byte ``at`` (``os.pread`` where the system has it: Windows has not)."""
    if hasattr(os, "pread"):
        return os.pread(fh.fileno(), n, at)
    fh.seek(at)
    return fh.read(n)


def full_key(key, shape):
    """``key`` as one entry per axis: ints, slices, or 1-D int arrays (negative ints wrapped, checked)."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = next(j for j, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1:]
    key = key + (slice(None),) * (len(shape) - len(key))
    if len(key) != len(shape):
        raise IndexError(f"too many indices for an array of shape {shape}")
    out = []
    for k, n in zip(key, shape):
        if isinstance(k, (int, np.integer)):
            k = int(k) + n if k < 0 else int(k)
            if not 0 <= k < n:
                raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
        elif isinstance(k, slice):
            if k.step is not None and k.step < 1:
                raise IndexError(f"a step of {k.step}: files are read front to back (use a positive step)")
            k = slice(*k.indices(n))
        else:
            k = np.asarray(k)
            if k.dtype == bool:
                k = np.flatnonzero(k)
            k = np.where(k < 0, k + n, k).astype(np.int64)
            if k.ndim != 1 or (k.size and (k.min() < 0 or k.max() >= n)):
                raise IndexError(f"index array out of bounds for an axis of size {n}")
        out.append(k)
    return tuple(out)
