"""Predicting a file block by block in bounded memory, into an array or streamed into an output file."""
from __future__ import annotations

import functools
import os

import numpy as np

from ..features.blocks import block_for_budget, iter_blocks
from ..features.compute import ThreadWorkspaces, features_inner
from ..features.normalize import channel_ranges, image_sample, sample_slices
from ..images.atomic import atomic_write
from ..images.image import Image, guess_axes, to_channel_last
from ..images.ome_zarr import create_ome_zarr, ngff_axes
from ..images.paths import is_ome_zarr_name
from ..images.read import open_array
from ..images.write import create_array, write_in_slabs
from ..runtime.memory import available_bytes
from .predict import predict_block
from .results import NATURAL_DTYPE, convert, gzipped, source_from_prob

__all__ = ["block_fn", "file_reader", "predict_blockwise", "stream_to_file"]


def block_fn(forest, fs, spacing, source, class_index, ranges=None):
    """Per-block work shared by the in-process and dask paths: features -> forest -> source.

    ``ranges`` carries the whole image's intensity range when the features normalize, so every
    block is normalized as the whole image would be.
    """

    scratch = ThreadWorkspaces()  # feature scratch memory reused from block to block

    def fn(block, inner=None):
        """Result for ``block`` (read with its halo); with ``inner``, only for that part of it."""
        if inner is None:
            inner = (slice(None),) * (block.ndim - 1)
        if source == "features":
            return np.moveaxis(features_inner(block, fs, spacing, inner, ranges, scratch.get()), 0, -1)
        return source_from_prob(predict_block(block, fs, spacing, forest, inner, ranges), source, class_index)

    return fn


def file_reader(arr, axes):
    """``(read, spatial shape)``: ``read(slices)`` reads spatial slices of a lazily opened array whose
    axes are ``axes`` (a length-1 ``T`` allowed) as a channel-last ndarray."""
    if "T" in axes and arr.shape[axes.index("T")] != 1:
        raise ValueError(f"input of shape {tuple(arr.shape)} has {arr.shape[axes.index('T')]} time points (axes {axes!r})")
    sp = [a for a in "ZYX" if a in axes]

    def read(slices):
        key = tuple(0 if a == "T" else slice(None) if a == "C" else slices[sp.index(a)] for a in axes)
        return to_channel_last(np.asarray(arr[key]), axes.replace("T", ""))[0]

    return read, tuple(arr.shape[axes.index(a)] for a in sp)


def predict_blockwise(project, path, out=None, source="probabilities", block=None, axes=None, class_name=None,
                      dataset=None):
    """Predict one file, or a lazy :class:`.Image`, block by block, reading only each block and its halo.

    Working memory is about one block's features (``block`` voxels x F x 4 bytes) and scratch for
    the block with its halo, plus the output; by default ``block`` is the shape that wastes least
    on halos within a quarter of the memory this process may use, at most 2 GB
    (:func:`.features.blocks.block_for_budget`, :func:`.runtime.memory.available_bytes`). ``out`` may be an
    array-like of the output shape (an h5py/zarr dataset) to write into; otherwise an ndarray is
    returned. Equal to whole-image prediction.
    """
    if source != "features":  # features need no forest
        project.check_trained()
    if isinstance(path, Image):
        img = path
        return _predict_blocks(project, img.data.__getitem__, img.shape_spatial, img.n_channels, img.spacing, img.name,
                               out, source, block, class_name, lambda: image_sample(img.data))
    arr, file_axes, spacing, close = open_array(path, dataset=dataset)
    try:
        ax = (axes or file_axes or guess_axes(arr.shape)).upper()
        if len(ax) != len(arr.shape):
            raise ValueError(f"axes {ax!r} do not fit {os.fspath(path)!r} of shape {tuple(arr.shape)}")
        read, shape = file_reader(arr, ax)
        n_ch = arr.shape[ax.index("C")] if "C" in ax else 1
        nsp = len(shape)
        spacing = tuple(spacing[-nsp:]) if spacing is not None and len(spacing) >= nsp else (1.0,) * nsp
        return _predict_blocks(project, read, shape, n_ch, spacing, os.fspath(path), out, source, block, class_name,
                               lambda: read(sample_slices(shape)))
    finally:
        close()


def _predict_blocks(project, read, shape, n_ch, spacing, name, out, source, block, class_name, sample):
    """``source`` of the image ``read(slices)`` returns (channel-last), block by block into ``out``."""
    if source != "features":
        project.check_input(n_ch, shape, name)
    fs = project.features
    fnd = fs.spatial_ndim(len(shape))
    if block is None:  # a quarter of the memory we may use, at most 2 GB: a dask worker's share too
        block = block_for_budget(shape, fs, n_ch, budget=min(2 * 2**30, available_bytes() // 4))
    ranges = channel_ranges(sample()) if fs.normalize else None
    fn = block_fn(project.forest, fs, spacing, source, project.class_index(class_name or 1), ranges)
    if out is None:
        out = np.zeros(shape + _tail(project, source, n_ch, fnd), NATURAL_DTYPE[source])
    for src, dst, inner in iter_blocks(shape, block, fs.halos(len(shape)), fs_ndim=fnd):
        out[dst] = fn(np.asarray(read(src), np.float32), inner)
    return out


def _tail(project, source, n_channels, fnd):
    """The axes a result has after the spatial ones: classes, features, or none."""
    return {"probabilities": (len(project.classes),),
            "features": (project.features.n_features(n_channels, fnd),)}.get(source, ())


class _ConvertingSink:
    """Array-like target that converts each block to the export dtype as it is written (channels moved first
    for an OME-Zarr, whose axes are ``c, z, y, x``)."""

    def __init__(self, target, source, dtype, renormalize, channels_first=False):
        self.target, self.source, self.dtype, self.renormalize = target, source, dtype, renormalize
        self.channels_first = channels_first

    def __setitem__(self, key, value):
        value = convert(value, self.source, self.dtype, self.renormalize)
        if self.channels_first and value.ndim > len(key):
            value, key = np.moveaxis(value, -1, 0), (slice(None),) + tuple(key)
        write_in_slabs(self.target, value, key)  # a block of channel-last features was copied whole by h5py


def stream_to_file(project, path, out, source, dtype, renormalize, block, axes, class_name, dataset, shape,
                   spacing=None, channel_names=None):
    """Predict ``path`` (or a lazy :class:`.Image`) block by block straight into the HDF5, Zarr or OME-Zarr
    file ``out``, written atomically.

    Memory stays at one block's features whatever the input's size; ``shape`` is its spatial shape;
    ``channel_names`` name the output's channels in the file.
    """
    if source == "features" and renormalize:
        raise ValueError("renormalize needs the global range of the features: not available block by block")
    fnd = project.features.spatial_ndim(len(shape))
    n_ch = path.n_channels if isinstance(path, Image) else project.trained_for.n_channels  # features: untrained
    tail = _tail(project, source, n_ch, fnd)
    dt = np.dtype(np.uint8 if source == "mask" else dtype or NATURAL_DTYPE[source])
    run = functools.partial(predict_blockwise, project, path, source=source, block=block, axes=axes,
                            class_name=class_name, dataset=dataset)
    if is_ome_zarr_name(out):
        spacing = spacing if spacing is not None else getattr(path, "spacing", None)
        method = "mean" if source in ("probabilities", "uncertainty", "features") else "nearest"
        with create_ome_zarr(out, tail + shape, dt, ngff_axes(len(shape), bool(tail)), spacing,
                             getattr(path, "unit", None), channel_names if tail else None, method=method) as level0:
            run(out=_ConvertingSink(level0, source, dt, renormalize, channels_first=bool(tail)))
        return
    out_axes = "ZYX"[-len(shape):] + ("C" if tail else "")
    with atomic_write(out) as tmp:
        with create_array(tmp, shape + tail, dt, out_axes, chunks=tuple(min(s, 64) for s in shape) + tail,
                          compression=gzipped(source), channel_names=channel_names if tail else None) as target:
            run(out=_ConvertingSink(target, source, dt, renormalize))
