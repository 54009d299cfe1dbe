"""Cutting images into blocks with halos, and the block shape that fits a memory budget."""
from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = ["selection_shape", "block_for_budget", "iter_blocks"]


def selection_shape(inner, shape):
    """Shape of the part ``inner`` (slices, or index arrays) picks from ``shape``."""
    return tuple(len(np.arange(n)[sel]) if not isinstance(sel, slice) else len(range(*sel.indices(n)))
                 for sel, n in zip(inner, shape))


_SIZES = (16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)


def block_for_budget(shape, fs, n_channels, budget=2 * 2**30):
    """The block shape for ``shape`` that wastes least on halos while fitting ``budget`` bytes.

    Counts a block's features (float32, inner part) and the scratch stacks of the block with its
    halo; among the blocks that fit, picks the one with the fewest computed voxels per output
    voxel (a thin block of a volume spends most of its time on the halo).
    """
    nsp = len(shape)
    fnd = fs.spatial_ndim(nsp)
    F = fs.n_features(n_channels, fnd)
    scratch = (18 if fnd == 3 else 6) + n_channels  # workspace stacks, the block's channels, one channel
    halos = fs.halos(nsp)
    options = [sorted({min(b, n) for b in _SIZES} | {n}) for n in shape]
    best, smallest = None, None
    for b in itertools.product(*options):
        inner = math.prod(b)
        ext = math.prod(min(bi + 2 * h, n) for bi, h, n in zip(b, halos, shape))
        need = 4 * (F * inner + scratch * ext)
        smallest = min(smallest or (need, b), (need, b))
        key = (ext / inner, -inner)
        if need <= budget and (best is None or key < best[0]):
            best = (key, b)
    return best[1] if best else smallest[1]  # nothing fits: the smallest block there is


def iter_blocks(shape, block, halo, fs_ndim=None):
    """Yield ``(source, dest, inner)`` slice tuples tiling ``shape`` in blocks with a halo.

    ``source`` reads the block plus halo (clipped at the borders), ``dest`` is where the
    block goes in the full array, ``inner`` is the block's place inside the source read.
    ``halo``: pixels, or a number per axis (``FeatureSet.halos``). In plane-by-plane mode
    (``fs_ndim`` 2 on a volume) no halo is needed along Z.
    """
    nd = len(shape)
    if np.isscalar(block):
        block = (int(block),) * nd
    block = tuple(int(b) for b in block)
    if len(block) != nd or min(block) < 1:
        raise ValueError(f"block {block} does not fit spatial shape {shape}")
    halos = [int(halo)] * nd if np.isscalar(halo) else [int(h) for h in halo]
    if len(halos) != nd:
        raise ValueError(f"{len(halos)} halos for {nd} axes")
    if fs_ndim is not None and fs_ndim < nd:
        halos[0] = 0
    for starts in itertools.product(*[range(0, n, b) for n, b in zip(shape, block)]):
        src, dst, inner = [], [], []
        for st, b, n, h in zip(starts, block, shape, halos):
            e = min(st + b, n)
            s0, s1 = max(st - h, 0), min(e + h, n)
            src.append(slice(s0, s1))
            dst.append(slice(st, e))
            inner.append(slice(st - s0, st - s0 + (e - st)))
        yield tuple(src), tuple(dst), tuple(inner)
