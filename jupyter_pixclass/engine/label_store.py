"""The feature vectors of labeled pixels, kept per image tile in step with the labels.

Training reads this store and never recomputes an image: when labels change in a region, the
tiles of that region are rescanned, vectors of pixels that stay labeled are kept, and only
newly labeled pixels get features (from a kept tile, or computed for their rows). The class a
pixel belongs to is read from the labels at training time, so relabeling, class removal and
undo cost no features. ilastik keeps a feature matrix per block for the same reason
(``OpFeatureMatrixCache``).
"""
from __future__ import annotations

import threading

import numpy as np

from ..forest.bins import transpose_into
from .chunked_labels import painted_regions, take_flat

__all__ = ["LabelStore", "LabeledRows", "spatial_groups"]


class LabelStore:
    """Features of the labeled pixels of every image, for one feature set.

    Parameters
    ----------
    engine : TileEngine
        Where features come from.
    fs : FeatureSet
        The feature set the vectors belong to.
    """

    def __init__(self, engine, fs):
        self.engine = engine
        self.fs = fs
        self._tiles = {}  # (image uid, tile) -> (flat pixel indices, sorted; (n, F) float32)
        self._dirty = {}  # image uid -> list of regions (tuples of slices); None: the whole image
        self._lock = threading.RLock()
        self.computed = 0  # feature vectors computed so far (tests read it)

    def mark(self, img, region=None):
        """Note that labels of ``img`` changed inside ``region`` (slices; None: anywhere)."""
        with self._lock:
            if region is None:
                self._dirty[img.uid] = None
            elif self._dirty.get(img.uid, []) is not None:
                self._dirty.setdefault(img.uid, []).append(tuple(region))

    def sync(self, images, labels):
        """Bring the vectors in line with ``labels`` (one array per image); returns new vectors."""
        new = 0
        with self._lock:
            for img, lab in zip(images, labels):
                if img.uid not in self._dirty:
                    continue
                regions = self._dirty.pop(img.uid)
                g = self.engine.grid(img, self.fs)
                if regions is None:  # anywhere: where labels may be, and every tile holding some now
                    regions = painted_regions(lab) + [g.slices(k[1]) for k in self._tiles if k[0] == img.uid]
                tiles = sorted({t for r in regions for t in g.tiles_in(r)})
                for t in tiles:
                    new += self._sync_tile(img, lab, g, t)
        self.computed += new
        return new

    def _sync_tile(self, img, lab, g, t):
        sl = g.slices(t)
        local = np.nonzero(lab[sl])
        key = (img.uid, t)
        if local[0].size == 0:
            self._tiles.pop(key, None)
            return 0
        coords = tuple(c + s.start for c, s in zip(local, sl))
        pos = np.ravel_multi_index(coords, lab.shape)  # sorted: C order within the tile
        F = self.fs.n_features_for(img.n_channels, lab.ndim)
        old_pos, old_X = self._tiles.get(key, (np.zeros(0, np.int64), np.zeros((0, F), np.float32)))
        X = np.empty((pos.size, F), np.float32)
        j = np.clip(np.searchsorted(old_pos, pos), 0, max(old_pos.size - 1, 0))
        have = (old_pos.size > 0) & (old_pos[j] == pos) if old_pos.size else np.zeros(pos.size, bool)
        X[have] = old_X[j[have]]
        miss = ~have
        if miss.any():
            X[miss] = self.engine.at_points(img, self.fs, tuple(c[miss] for c in coords))
        self._tiles[key] = (pos, X)
        return int(miss.sum())

    def n_labeled(self):
        """How many labeled pixels have features here."""
        with self._lock:
            return sum(p.size for p, _ in self._tiles.values())

    @property
    def nbytes(self):
        """Bytes the stored features and positions take."""
        with self._lock:
            return sum(p.nbytes + x.nbytes for p, x in self._tiles.values())

    def data(self, images, labels, with_groups=False, lazy=False):
        """``(X, y)`` of every labeled pixel (and spatial groups with ``with_groups``).

        Rows come image by image in the order of the pixels in the image (C order), whatever
        order strokes came in and however the image is cut into tiles (which follows the memory
        budget), so the same labels always give the same training set. With ``lazy``, ``X`` is a
        :class:`LabeledRows`: rows are copied only when taken (a trainer that draws from some of
        them copies those).
        """
        self.sync(images, labels)
        blocks, ys, gs = [], [], []
        gid = 0
        with self._lock:
            for img, lab in zip(images, labels):
                tiles = [self._tiles[k] for k in self._tiles if k[0] == img.uid]
                if not tiles:
                    continue
                pos = np.concatenate([t[0] for t in tiles])
                order = np.argsort(pos, kind="stable")
                blocks.extend(rows for _, rows in tiles)
                ys.append(take_flat(lab, pos[order]))
                if with_groups:
                    groups = spatial_groups(np.asarray(lab)).reshape(-1)
                    gs.append(groups[pos[order]] + gid)
                    gid += int(groups.max()) + 1
                blocks.append(order)  # marks the image's end: its rows' order
            if not ys:
                return None
            X = LabeledRows(blocks)
        X = X if lazy else np.asarray(X)
        y = np.concatenate(ys)
        return (X, y, np.concatenate(gs)) if with_groups else (X, y)


class LabeledRows:
    """The labeled pixels' feature vectors in training order, copied only when taken.

    ``rows[idx]`` (int indices) copies those rows; ``np.asarray(rows)`` all of them. Built by
    :meth:`LabelStore.data` from each image's tile blocks followed by the order of its pixels. A
    snapshot: a stroke during training replaces the store's tile arrays, it never writes into them.
    """

    def __init__(self, blocks):
        self._blocks, self._dest = [], []  # tile blocks (n, F) and the training row of each of their rows
        n = 0
        cur = []
        for b in blocks:
            if b.ndim == 2:
                cur.append(b)
                continue
            # an image's blocks are done: its i-th row in pixel order is row b[i] of its blocks one after another
            dest = np.empty(b.size, np.int64)
            dest[b] = np.arange(n, n + b.size)
            a = 0
            for rows in cur:
                self._blocks.append(rows)
                self._dest.append(dest[a:a + len(rows)])
                a += len(rows)
            n += b.size
            cur = []
        first = self._blocks[0]
        self.shape = (n, first.shape[1])
        self.dtype = first.dtype

    def __len__(self):
        return self.shape[0]

    def _slots(self, idx):
        """The rows ``idx`` picks (numpy's rules, checked) and each row's place among them (-1: not taken),
        or None for the places when a row is picked twice."""
        idx = np.arange(self.shape[0])[idx]  # any index numpy takes, checked against the rows there are
        at = np.full(self.shape[0], -1, np.int64)
        at[idx] = np.arange(idx.size)
        return idx, (at if np.count_nonzero(at >= 0) == idx.size else None)

    def __getitem__(self, idx):
        idx, at = self._slots(idx)
        if at is None:  # a row taken twice: each distinct row once, then repeated
            u, inv = np.unique(idx, return_inverse=True)
            return self[u][inv]
        out = np.empty((idx.size, self.shape[1]), self.dtype)
        for rows, dest in zip(self._blocks, self._dest):
            k = at[dest]
            take = k >= 0
            out[k[take]] = rows[take]
        return out

    def feature_major(self, idx=None):
        """Rows ``idx`` (increasing or not; None: all) as a feature-major float32 array ``(F, len(idx))``.

        What a trainer reads, made straight from the tile blocks: no ``(N, F)`` copy on the way.
        """
        if idx is None:
            out = np.empty((self.shape[1], self.shape[0]), np.float32)
            return transpose_into(out, self._blocks, self._dest)
        idx, at = self._slots(idx)
        if at is None:
            u, inv = np.unique(idx, return_inverse=True)
            return self.feature_major(u)[:, inv]
        out = np.empty((self.shape[1], idx.size), np.float32)
        return transpose_into(out, self._blocks, [at[dest] for dest in self._dest])

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, self.dtype)
        for rows, dest in zip(self._blocks, self._dest):  # every row straight to its place: one copy
            out[dest] = rows
        return out if dtype is None else out.astype(dtype, copy=False)


def spatial_groups(lab, tile=32):
    """Group id per pixel: connected labeled regions, cut into ``tile``-sized tiles."""
    from scipy import ndimage as ndi

    comp, _ = ndi.label(lab > 0, structure=np.ones((3,) * lab.ndim))
    grids = np.meshgrid(*[np.arange(s) // tile for s in lab.shape], indexing="ij")
    tid = np.zeros(lab.shape, np.int64)
    for g, s in zip(grids, lab.shape):
        tid = tid * (s // tile + 1) + g
    key = comp.astype(np.int64) * (tid.max() + 1) + tid
    _, inv = np.unique(key, return_inverse=True)
    return inv.reshape(lab.shape)
