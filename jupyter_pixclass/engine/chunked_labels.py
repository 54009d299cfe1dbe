"""Labels of an image too large to hold: only the chunks a person painted exist, so memory follows the strokes.

A volume of 192 x 2048 x 2048 needs 805 MB as one uint8 array and a few MB as the chunks its
strokes touch. :class:`ChunkedLabels` answers the reads and writes labels get (regions by slices,
brush coordinates, masks) and gives the painted chunks to the labeled-feature store and the file.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..images.checks import check_result_size
from ..images.lazy import ArrayShape

__all__ = ["ChunkedLabels", "labels_for", "relabel", "take_flat", "painted_regions"]

CHUNK_2D = (256, 256)
CHUNK_3D = (16, 256, 256)  # 1 MB a chunk


def labels_for(img):
    """Empty labels for ``img``: a uint8 array, or :class:`ChunkedLabels` when its pixels stay in the file."""
    if img.lazy:
        return ChunkedLabels(img.shape_spatial)
    return np.zeros(img.shape_spatial, np.uint8)


def relabel(lab, lut):
    """Map every label value ``v`` of ``lab`` (array or chunked) to ``lut[v]``, in place."""
    if isinstance(lab, ChunkedLabels):
        lab.relabel(lut)
    else:
        lab[...] = lut[lab]


def take_flat(lab, pos):
    """Labels at C-order flat positions ``pos``."""
    if isinstance(lab, ChunkedLabels):
        return lab.take_flat(pos)
    return lab.reshape(-1)[pos]


def painted_regions(lab):
    """Slices of the parts of ``lab`` that may hold labels: the painted chunks, or the whole array."""
    if isinstance(lab, ChunkedLabels):
        return lab.chunk_slices()
    return [tuple(slice(0, n) for n in lab.shape)]


class ChunkedLabels(ArrayShape):
    """uint8 labels of ``shape`` kept as the chunks that hold any (0 elsewhere).

    Supports what labels get: ``lab[slices]`` (a dense copy), ``lab[slices] = values``,
    ``lab[coordinate arrays] = k`` (a brush), ``lab[bool mask] = k``, ``np.asarray(lab)`` (dense:
    small images only). A chunk written back to all zeros is dropped.
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, shape, chunk=None):
        self.shape = tuple(int(n) for n in shape)
        self.chunk = tuple(chunk or (CHUNK_3D if len(self.shape) == 3 else CHUNK_2D))[-len(self.shape):]
        self.chunks = {}  # chunk index -> uint8 array of that chunk's (clipped) shape

    @classmethod
    def from_dense(cls, labels, chunk=None):
        """Chunked labels holding ``labels`` (only chunks with a label are kept)."""
        out = cls(labels.shape, chunk)
        out[(slice(None),) * labels.ndim] = labels
        return out

    @property
    def nbytes(self):
        """Bytes the painted chunks take."""
        return sum(c.nbytes for c in self.chunks.values())

    def _chunk_box(self, idx):
        return tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(idx, self.chunk, self.shape))

    def chunk_slices(self):
        """Slices of every painted chunk."""
        return [self._chunk_box(i) for i in sorted(self.chunks)]

    def _region(self, key):
        """``key`` (ints and slices) as bounding slices (step 1) and the picks to apply after reading them."""
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - len(key) + 1) + key[i + 1:]
        key = key + (slice(None),) * (self.ndim - len(key))
        box, pick = [], []
        for k, n in zip(key, self.shape):
            if isinstance(k, (int, np.integer)):
                k = int(k) + n if k < 0 else int(k)
                if not 0 <= k < n:
                    raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
                box.append(slice(k, k + 1))
                pick.append(0)
            elif isinstance(k, slice):
                a, b, s = k.indices(n)
                if s < 1:
                    raise IndexError("labels are read with a positive step")
                box.append(slice(a, max(a, b)))
                pick.append(slice(None, None, s))
            else:
                raise IndexError(f"chunked labels take ints and slices here; got {type(k).__name__}")
        return tuple(box), tuple(pick)

    def _overlaps(self, box):
        """(chunk index, slices in the chunk, slices in the box) of every chunk ``box`` touches."""
        ranges = [range(s.start // c, (s.stop - 1) // c + 1) if s.stop > s.start else range(0)
                  for s, c in zip(box, self.chunk)]
        for idx in itertools.product(*ranges):
            cb = self._chunk_box(idx)
            lo = [max(s.start, c.start) for s, c in zip(box, cb)]
            hi = [min(s.stop, c.stop) for s, c in zip(box, cb)]
            yield (idx, tuple(slice(a - c.start, b - c.start) for a, b, c in zip(lo, hi, cb)),
                   tuple(slice(a - s.start, b - s.start) for a, b, s in zip(lo, hi, box)))

    def __getitem__(self, key):
        box, pick = self._region(key)
        out = np.zeros(tuple(s.stop - s.start for s in box), np.uint8)
        for idx, in_chunk, in_box in self._overlaps(box):
            c = self.chunks.get(idx)
            if c is not None:
                out[in_box] = c[in_chunk]
        return out[pick]

    def __setitem__(self, key, value):
        if isinstance(key, np.ndarray) and key.dtype == bool:  # a mask of the whole shape
            if key.shape != self.shape:
                raise ValueError(f"mask of shape {key.shape} does not fit labels of shape {self.shape}")
            coords = np.nonzero(key)
            value = value if np.ndim(value) == 0 else np.asarray(value)[key]
            return self._set_points(coords, value)
        if isinstance(key, tuple) and key and all(isinstance(k, np.ndarray) and k.dtype != bool for k in key):
            return self._set_points(tuple(np.asarray(k, np.int64).ravel() for k in key), value)
        box, pick = self._region(key)
        if any(p != slice(None, None, 1) and p != slice(None) and p != 0 for p in pick):
            raise IndexError("labels are written without steps")
        value = np.asarray(value, np.uint8)
        ints = [a for a, p in enumerate(pick) if isinstance(p, int)]
        if value.ndim == len(box) - len(ints):  # a plane across the first axis: (z, x) of (z, y, x)
            value = np.expand_dims(value, tuple(ints))
        full = np.broadcast_to(value, tuple(s.stop - s.start for s in box))
        for idx, in_chunk, in_box in self._overlaps(box):
            part = full[in_box]
            c = self.chunks.get(idx)
            if c is None:
                if not part.any():
                    continue
                c = self.chunks[idx] = np.zeros(tuple(s.stop - s.start for s in self._chunk_box(idx)), np.uint8)
            c[in_chunk] = part
            if not c.any():
                del self.chunks[idx]

    def _set_points(self, coords, value):
        if not coords or coords[0].size == 0:
            return
        for c, n in zip(coords, self.shape):
            if c.min() < 0 or c.max() >= n:
                raise IndexError(f"label coordinates outside the shape {self.shape}")
        value = np.broadcast_to(np.asarray(value, np.uint8), coords[0].shape)
        cid = np.stack([c // k for c, k in zip(coords, self.chunk)], axis=1)
        keys, inv = np.unique(cid, axis=0, return_inverse=True)
        for j, idx in enumerate(map(tuple, keys)):
            sel = np.flatnonzero(inv.ravel() == j)
            cb = self._chunk_box(idx)
            local = tuple(coords[a][sel] - cb[a].start for a in range(self.ndim))
            c = self.chunks.get(idx)
            if c is None:
                if not value[sel].any():
                    continue
                c = self.chunks[idx] = np.zeros(tuple(s.stop - s.start for s in cb), np.uint8)
            c[local] = value[sel]
            if not c.any():
                del self.chunks[idx]

    def take_flat(self, pos):
        """Labels at C-order flat positions ``pos``."""
        coords = np.unravel_index(np.asarray(pos, np.int64), self.shape)
        out = np.zeros(np.size(pos), np.uint8)
        cid = np.stack([c // k for c, k in zip(coords, self.chunk)], axis=1) if out.size else np.zeros((0, self.ndim))
        for j, idx in enumerate(map(tuple, np.unique(cid, axis=0))):
            c = self.chunks.get(idx)
            if c is None:
                continue
            sel = np.flatnonzero((cid == np.array(idx)).all(1))
            cb = self._chunk_box(idx)
            out[sel] = c[tuple(coords[a][sel] - cb[a].start for a in range(self.ndim))]
        return out

    def grid(self, rows, cols):
        """``lab[rows][:, cols]`` of 2D labels, reading only the painted chunks.

        What a zoomed-out view shows of labels far larger than memory: indexing by the rows first
        would make a dense (rows, width) copy.
        """
        if self.ndim != 2:
            raise ValueError(f"grid() reads 2D labels; these have shape {self.shape}")
        rows, cols = np.asarray(rows, np.int64).ravel(), np.asarray(cols, np.int64).ravel()
        for name, ix, n in (("row", rows, self.shape[0]), ("column", cols, self.shape[1])):
            if ix.size and (ix.min() < 0 or ix.max() >= n):
                raise IndexError(f"{name} indices {int(ix.min())}..{int(ix.max())} outside 0..{n - 1}")
        out = np.zeros((rows.size, cols.size), np.uint8)
        (cy, cx), cr, cc = self.chunk, rows // self.chunk[0], cols // self.chunk[1]
        for (iy, ix), c in self.chunks.items():
            sy, sx = np.flatnonzero(cr == iy), np.flatnonzero(cc == ix)
            if sy.size and sx.size:
                out[np.ix_(sy, sx)] = c[np.ix_(rows[sy] - iy * cy, cols[sx] - ix * cx)]
        return out

    def relabel(self, lut):
        """Every value ``v`` becomes ``lut[v]``, chunk by chunk (chunks left empty are dropped)."""
        lut = np.asarray(lut, np.uint8)
        for idx in list(self.chunks):
            c = self.chunks[idx] = lut[self.chunks[idx]]
            if not c.any():
                del self.chunks[idx]

    def any(self):
        """Whether anything is painted."""
        return bool(self.chunks)

    def max(self):
        """The largest label value (0 when nothing is painted)."""
        return max((int(c.max()) for c in self.chunks.values()), default=0)

    def min(self):
        """0: unpainted pixels are 0 (labels are never negative)."""
        return 0

    def __array__(self, dtype=None, copy=None):
        out = self[(slice(None),) * self.ndim]
        return out if dtype is None else out.astype(dtype)

    # ``labels > 0``, ``labels == k`` as on an array: the whole labels, if they fit in memory
    __hash__ = object.__hash__

    def _whole(self):
        try:
            check_result_size(self.shape, np.uint8, "the labels", "left in its file")
        except ValueError:
            raise ValueError(f"labels of shape {self.shape} are too large to compare whole: read them where painted, "
                             "e.g. sum(np.count_nonzero(labels[r] == k) for r in painted_regions(labels)) "
                             "(jupyter_pixclass.engine.chunked_labels.painted_regions)") from None
        return np.asarray(self)

    def __gt__(self, other):
        return self._whole() > other

    def __ge__(self, other):
        return self._whole() >= other

    def __lt__(self, other):
        return self._whole() < other

    def __le__(self, other):
        return self._whole() <= other

    def __eq__(self, other):
        return self._whole() == (np.asarray(other) if isinstance(other, ChunkedLabels) else other)

    def __ne__(self, other):
        return self._whole() != (np.asarray(other) if isinstance(other, ChunkedLabels) else other)

    def __repr__(self):
        return f"ChunkedLabels(shape={self.shape}, {len(self.chunks)} chunks painted, {self.nbytes / 2**20:.1f} MB)"
