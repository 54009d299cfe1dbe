"""Per-channel intensity ranges for ``FeatureSet(normalize="percentile")``."""
from __future__ import annotations

import itertools

import numpy as np

from ..images.lazy import is_lazy

__all__ = ["PERCENTILES", "channel_ranges", "sample_slices", "sample_blocks", "image_sample", "normalized"]

PERCENTILES = (1.0, 99.8)


def channel_ranges(read_sample):
    """Per-channel (lo, hi) intensity range for ``normalize="percentile"``.

    ``read_sample`` is a channel-last array (a strided sample of the image is enough).
    """
    x = np.asarray(read_sample, np.float32).reshape(-1, read_sample.shape[-1])
    if x.shape[0] > 2**22:
        x = x[:: x.shape[0] // 2**22 + 1]
    lo, hi = np.percentile(x, PERCENTILES, axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)
    return np.stack([lo, hi], axis=1).astype(np.float32)


def sample_slices(shape_spatial, max_values=2**22):
    """Strided slices that pick at most about ``max_values`` pixels, the same for every reader."""
    n = int(np.prod(shape_spatial, dtype=np.int64))
    step = max(1, int(np.ceil((n / max_values) ** (1 / len(shape_spatial)))))
    return (slice(None, None, step),) * len(shape_spatial)


def sample_blocks(shape_spatial, per_axis=4, side=128, side_z=8):
    """Up to ``per_axis`` evenly spaced blocks along each axis (``side`` pixels, ``side_z`` planes for Z of a
    volume), as tuples of slices: a sample that touches a few chunks of a file, not every one."""
    nd = len(shape_spatial)
    ranges = []
    for a, n in enumerate(shape_spatial):
        b = min(n, side_z if (nd == 3 and a == 0) else side)
        starts = sorted({int(round(v)) for v in np.linspace(0, n - b, min(per_axis, max(1, n // b)))})
        ranges.append([slice(s, s + b) for s in starts])
    return [tuple(c) for c in itertools.product(*ranges)]


def image_sample(data):
    """A sample of a channel-last array for percentiles: strided for arrays in memory (ndarray, dask);
    for pixels left in a file (:class:`.LazyArray`), evenly spaced blocks (:func:`sample_blocks`)."""
    if is_lazy(data):
        return np.concatenate([np.asarray(data[b]).reshape(-1, data.shape[-1]) for b in sample_blocks(data.shape[:-1])])
    return np.asarray(data[sample_slices(data.shape[:-1])])


def normalized(data, ranges):
    """``data`` (channel-last float32) mapped from ``ranges`` (C, 2) onto [0, 1] per channel."""
    if ranges is None:
        return data
    lo, hi = ranges[:, 0], ranges[:, 1]
    return (data - lo) / (hi - lo)
