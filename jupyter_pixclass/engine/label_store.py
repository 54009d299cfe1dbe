"""The feature vectors of labeled pixels, kept per image tile in step with the labels.

Training reads this store and never recomputes an image: when labels change in a region, the
tiles of that region are rescanned, vectors of pixels that stay labeled are kept, and only
newly labeled pixels get features (from a kept tile, or computed for their rows). The class a
pixel belongs to is read from the labels at training time, so relabeling, class removal and
undo cost no features. ilastik keeps a feature matrix per block for the same reason
(``OpFeatureMatrixCache``).

The store holds at most ``max_bytes`` of features (:data:`STORE_BYTES`). Beyond that, e.g. a
ground-truth mask set as labels, each class over its share keeps the labeled pixels whose
position hashes below a threshold (half, a quarter ... of them): a sample that depends on the
labels alone, never on the order they came in. Trainers draw from the sample and weigh the classes
by every label (``class_counts``).
"""
from __future__ import annotations

import threading

import numpy as np

from ..forest.bins import transpose_into
from .chunked_labels import painted_regions, take_flat

__all__ = ["LabelStore", "LabeledRows", "spatial_groups", "pixel_hash", "STORE_BYTES", "KEY_SHIFT"]

STORE_BYTES = 256 * 2**20  # features of labeled pixels a store holds: 680 000 pixels of 98 features
KEY_SHIFT = 44  # a labeled pixel's key: its image's place << KEY_SHIFT, plus its place in the image (16 T pixels)
_KEEP_BELOW = np.array([2**64 - 1] + [2**(64 - j) - 1 for j in range(1, 64)], np.uint64)  # level j keeps 2^-j


def pixel_hash(pos):
    """A uniform 64-bit hash (splitmix64) of flat pixel positions: which labeled pixels a full store keeps."""
    z = np.asarray(pos, np.int64).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class LabelStore:
    """Features of the labeled pixels of every image, for one feature set.

    Parameters
    ----------
    engine : TileEngine
        Where features come from.
    fs : FeatureSet
        The feature set the vectors belong to.
    max_bytes : int, optional
        Features held at most (default :data:`STORE_BYTES`); beyond, a sample of each class.
    """

    def __init__(self, engine, fs, max_bytes=None):
        self.engine = engine
        self.fs = fs
        self.max_bytes = int(STORE_BYTES if max_bytes is None else max_bytes)
        self._tiles = {}  # (image uid, tile) -> (flat pixel indices, sorted; (n, F) float32): the pixels kept
        self._all = {}  # (image uid, tile) -> every labeled pixel's flat index, sorted
        self._level = np.zeros(256, np.int64)  # per label value: keep 2^-level of its pixels (0: all)
        #: labeled pixels per label value while a sample is kept (None: every labeled pixel is here)
        self.class_counts = None
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

    def sync(self, images, labels, everywhere=False):
        """Bring the vectors in line with ``labels`` (one array per image); returns new vectors.

        ``everywhere`` checks every tile's sample against the labels (a class removed renumbers
        labels without marking them); otherwise only the tiles marked, unless the sample's levels change.
        """
        new = 0
        with self._lock:
            by_uid = {img.uid: (img, lab) for img, lab in zip(images, labels)}
            dirty = []
            for img, lab in zip(images, labels):
                if img.uid not in self._dirty:
                    continue
                regions = self._dirty.pop(img.uid)
                g = self.engine.grid(img, self.fs)
                if regions is None:  # anywhere: where labels may be, and every tile holding some now
                    regions = painted_regions(lab) + [g.slices(k[1]) for k in self._all if k[0] == img.uid]
                for t in sorted({t for r in regions for t in g.tiles_in(r)}):
                    self._rescan(img, lab, g, t)
                    dirty.append((img.uid, t))
            level = self._levels(images, by_uid)
            if (everywhere and level.any()) or (level != self._level).any():  # the sample changes: every tile
                dirty += [k for k in self._all if k[0] in by_uid]  # those emptied just now stay: dropped there
            self._level = level
            for key in dict.fromkeys(dirty):
                new += self._fill(*by_uid[key[0]], key)
        self.computed += new
        return new

    def _rescan(self, img, lab, g, t):
        """Every labeled pixel of tile ``t``, as sorted flat indices."""
        sl = g.slices(t)
        local = np.nonzero(lab[sl])
        if local[0].size == 0:
            self._all.pop((img.uid, t), None)
            return
        coords = tuple(c + s.start for c, s in zip(local, sl))
        self._all[(img.uid, t)] = np.ravel_multi_index(coords, lab.shape)  # sorted: C order within the tile

    def _levels(self, images, by_uid):
        """Per label value, the level of its sample: 0 while every labeled pixel fits ``max_bytes``."""
        F = max((self.fs.n_features_for(img.n_channels, img.ndim_spatial) for img in images), default=1)
        rows = self.max_bytes // (4 * F + 8)  # features and position of one pixel
        if sum(p.size for k, p in self._all.items() if k[0] in by_uid) <= rows:
            self.class_counts = None
            return np.zeros(256, np.int64)
        counts = np.zeros(256, np.int64)
        for key, pos in self._all.items():
            if key[0] in by_uid:
                counts += np.bincount(take_flat(by_uid[key[0]][1], pos), minlength=256)
        counts[0] = 0
        share = max(rows // max(int(np.count_nonzero(counts)), 1), 1)  # each class's rows
        level = np.zeros(256, np.int64)
        over = counts > share
        level[over] = np.ceil(np.log2(counts[over] / share)).astype(np.int64)
        self.class_counts = counts
        return np.minimum(level, 63)

    def _fill(self, img, lab, key):
        """Features of the pixels tile ``key`` keeps: the labeled ones, or their sample; returns those computed."""
        pos = self._all.get(key)
        if pos is None:
            self._tiles.pop(key, None)
            return 0
        if self._level.any():
            pos = pos[pixel_hash(pos) <= _KEEP_BELOW[self._level[take_flat(lab, pos)]]]
            if pos.size == 0:
                self._tiles.pop(key, None)
                return 0
        F = self.fs.n_features_for(img.n_channels, lab.ndim)
        old_pos, old_X = self._tiles.get(key, (np.zeros(0, np.int64), np.zeros((0, F), np.float32)))
        if old_pos.size == pos.size and np.array_equal(old_pos, pos):  # kept as it was: no copy
            return 0
        coords = np.unravel_index(pos, lab.shape)
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
        """How many labeled pixels there are (:meth:`n_kept` of them have features here)."""
        with self._lock:
            return sum(p.size for p in self._all.values())

    def n_kept(self):
        """How many labeled pixels have features here: all of them, or a sample beyond ``max_bytes``."""
        with self._lock:
            return sum(p.size for p, _ in self._tiles.values())

    @property
    def nbytes(self):
        """Bytes the stored features and positions take."""
        with self._lock:
            return sum(p.nbytes + x.nbytes for p, x in self._tiles.values()) + sum(
                p.nbytes for p in self._all.values())

    def data(self, images, labels, with_groups=False, lazy=False, with_keys=False):
        """``(X, y)`` of every labeled pixel (and spatial groups with ``with_groups``, then keys with
        ``with_keys``); beyond ``max_bytes``, of each class's sample (:attr:`class_counts` then counts every
        labeled pixel).

        A pixel's key is its image's place among ``images`` times 2**44 plus its place in the image (C
        order): what the trainer draws it by (:func:`..forest.train.row_keys`).

        Rows come image by image in the order of the pixels in the image (C order), whatever
        order strokes came in and however the image is cut into tiles (which follows the memory
        budget), so the same labels always give the same training set. With ``lazy``, ``X`` is a
        :class:`LabeledRows`: rows are copied only when taken (a trainer that draws from some of
        them copies those).
        """
        self.sync(images, labels, everywhere=True)
        blocks, ys, gs, ks = [], [], [], []
        gid = 0
        with self._lock:
            for i, (img, lab) in enumerate(zip(images, labels)):
                tiles = [self._tiles[k] for k in self._tiles if k[0] == img.uid]
                if not tiles:
                    continue
                pos = np.concatenate([t[0] for t in tiles])
                order = np.argsort(pos, kind="stable")
                blocks.extend(rows for _, rows in tiles)
                ys.append(take_flat(lab, pos[order]))
                ks.append(pos[order].astype(np.uint64) + np.uint64(i << KEY_SHIFT))
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
        return (X, y) + ((np.concatenate(gs),) if with_groups else ()) + ((np.concatenate(ks),) if with_keys else ())


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
