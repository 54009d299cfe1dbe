"""One fused path for whole images: a block's features -> forest -> result, buffers reused.

``predict``, ``segment``, ``uncertainty``, ``export``, batch and dask all call
:func:`predict_block`. In 2D a block is done in bands of rows: a band's features go into one
buffer that each thread keeps from call to call, so no ``(F, ...)`` stack of an image is ever
allocated (a fresh 392 MB stack cost 0.4-0.7 s of page faults after an idle pause here).
"""
from __future__ import annotations

import numpy as np

from ..features.blocks import block_for_budget, iter_blocks, selection_shape
from ..features.compute import ThreadWorkspaces, features_inner
from ..features.normalize import normalized

__all__ = ["predict_block", "predict_array", "BAND_BYTES"]

BAND_BYTES = 96 * 2**20  # features of one band of rows (about 250 rows of a 1024-wide image), reused
WHOLE_2D = 2048  # 2D images up to this side are one block (no halo recomputed)
BLOCK_BYTES = 768 * 2**20  # 3D: block features + scratch


_scratch = ThreadWorkspaces()  # each thread's feature scratch and band buffer, kept between calls


def predict_block(block, fs, spacing, forest, inner=None, ranges=None, out=None):
    """Class probabilities ``(..., K)`` of the ``inner`` part of ``block`` (read with its halo).

    ``block`` is channel-last; ``ranges`` the whole image's intensity range when ``fs``
    normalizes. ``out`` (the inner part's shape + (K,)) receives the result if given. In 2D
    the rows go in bands whose features fit :data:`BAND_BYTES`, in a buffer reused across calls.
    """
    block = normalized(np.asarray(block, np.float32), ranges if fs.normalize else None)
    # channel planes contiguous once, so bands read them without copying
    block = np.moveaxis(np.ascontiguousarray(np.moveaxis(block, -1, 0)), 0, -1)
    nsp = block.ndim - 1
    if inner is None:
        inner = (slice(None),) * nsp
    inner = tuple(inner)
    shape = selection_shape(inner, block.shape[:-1])
    F = fs.n_features_for(block.shape[-1], nsp)
    K = forest.n_classes
    if out is None:
        out = np.empty(shape + (K,), np.float32)
    ws = _scratch.get()
    if nsp == 2:
        rows = np.arange(block.shape[0])[inner[0]]
        band = max(8, BAND_BYTES // (4 * F * max(shape[1], 1)))
        for b0 in range(0, rows.size, band):
            sel = rows[b0:b0 + band]
            fm = features_inner(block, fs, spacing, (sel, inner[1]), None, ws,
                                out=ws.flat("band", F * sel.size * shape[1]))
            p = forest.predict_proba_fm(fm.reshape(F, -1))
            out[b0:b0 + sel.size] = p.reshape(sel.size, shape[1], K)
        return out
    fm = features_inner(block, fs, spacing, inner, None, ws, out=ws.flat("band", F * int(np.prod(shape))))
    out[...] = forest.predict_proba_fm(fm.reshape(F, -1)).reshape(shape + (K,))
    return out


def predict_array(data, fs, spacing, forest, ranges=None):
    """Probabilities of a whole channel-last image ``data`` (ndarray), block by block."""
    shape = data.shape[:-1]
    nsp = len(shape)
    fnd = fs.spatial_ndim(nsp)
    out = np.empty(shape + (forest.n_classes,), np.float32)
    if nsp == 2:
        block = tuple(min(s, WHOLE_2D) for s in shape)
    else:
        block = block_for_budget(shape, fs, data.shape[-1], budget=BLOCK_BYTES)
    for src, dst, inner in iter_blocks(shape, block, fs.halos(nsp), fs_ndim=fnd):
        predict_block(data[src], fs, spacing, forest, inner, ranges, out=out[dst])
    return out
