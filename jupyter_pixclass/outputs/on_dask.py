"""Prediction as a dask graph: blocks with halos, on any scheduler (a ``dask.distributed`` cluster too)."""
from __future__ import annotations

import numpy as np

from ..features.normalize import channel_ranges, image_sample
from .blockwise import block_fn

__all__ = ["predict_dask", "client_of"]


def predict_dask(project, array, source="probabilities", spacing=None, class_name=None):
    """The prediction of a channel-last dask array as a lazy dask array.

    Built like ``dask.array.map_overlap``: blocks are extended by the feature halo (not at the
    image border, where the filters mirror the image as whole-image filtering does), predicted,
    and trimmed, so the result equals in-process prediction and runs on any dask scheduler,
    including a ``dask.distributed`` cluster. Chunks thinner than the halo are widened.
    """
    import dask.array as da

    project.check_trained()
    array = da.asarray(array)
    nsp = array.ndim - 1
    fs = project.features
    fnd = fs.spatial_ndim(nsp)
    if array.numblocks[-1] != 1:
        array = array.rechunk({nsp: -1})
    project.check_input(array.shape[-1], array.shape[:nsp], "dask array")
    depth = dict(enumerate(fs.halos(nsp)))  # none across planes filtered plane by plane
    depth[nsp] = 0
    # overlap needs every chunk at least as deep as the halo: widen thin chunks
    new_chunks = {}
    for i in range(nsp):
        ch, n = array.chunks[i], array.shape[i]
        if depth[i] and len(ch) > 1 and min(ch) < depth[i]:
            size = max(depth[i], max(ch))
            sizes = [size] * (n // size)
            rem = n - sum(sizes)
            if rem and rem < depth[i]:
                sizes[-1] += rem
            elif rem:
                sizes.append(rem)
            new_chunks[i] = tuple(sizes)
    if new_chunks:
        array = array.rechunk(new_chunks)
    spacing = tuple(spacing) if spacing is not None else (1.0,) * nsp
    ranges = channel_ranges(image_sample(array)) if fs.normalize else None
    fn = block_fn(project.forest, fs, spacing, source, project.class_index(class_name or 1), ranges)
    K = len(project.classes)
    g = da.overlap.overlap(array, depth=depth, boundary="none")
    if source in ("probabilities", "features"):
        n_out = K if source == "probabilities" else fs.n_features(array.shape[-1], fnd)
        out = g.map_blocks(lambda b: fn(b.astype(np.float32)), chunks=g.chunks[:nsp] + ((n_out,),), dtype=np.float32)
        return da.overlap.trim_internal(out, depth, boundary="none")
    dtype = np.float32 if source == "uncertainty" else np.uint8
    out = g.map_blocks(lambda b: fn(b.astype(np.float32)), chunks=g.chunks[:nsp], drop_axis=nsp, dtype=dtype)
    return da.overlap.trim_internal(out, {i: depth[i] for i in range(nsp)}, boundary="none")


def client_of(scheduler):
    """A ``dask.distributed`` Client: ``scheduler`` itself, or one connected to its address."""
    from dask.distributed import Client

    return scheduler if isinstance(scheduler, Client) else Client(scheduler)
