"""Features of image tiles, computed on demand and kept in one byte-budget LRU for all images.

A tile's features are computed from the tile read with a halo of ``FeatureSet.halo()``
pixels (mirrored only at the image border), so they equal whole-image features. What asks for
features asks for the pixels it needs: the view for the pixels it shows, the labeled-feature
store for labeled pixels. A tile is computed whole, and kept, when a request covers at least
half of its rows; a sparser request (a view zoomed far out, a thin stroke) computes just those
rows of the tile and keeps nothing.
"""
from __future__ import annotations

import functools
import itertools
import math
import threading
import weakref

import numpy as np

from ..features.blocks import block_for_budget
from ..features.compute import ThreadWorkspaces, features_inner
from ..features.normalize import channel_ranges, image_sample
from ..runtime.memory import default_cache_bytes
from .cache import FeatureCache

__all__ = ["TileGrid", "TileEngine", "shared_cache", "TILE_2D"]

TILE_2D = 256  # 2D tile side: 25 MB of the default 98 features; the halo at sigma 10 doubles the reads
TILE_2D_BYTES = 64 * 2**20  # at most this many bytes of features in a 2D tile (a 25-channel IMC crop has 1000)
TILE_3D_BYTES = 256 * 2**20  # budget for a 3D tile's features and scratch (block_for_budget)
DENSE_FRACTION = 0.5  # compute (and keep) a whole tile when a request covers this share of its rows


_SHARED = {"cache": None}
_SHARED_LOCK = threading.Lock()
_ENGINES = itertools.count()


def _of_engine(token, key):
    """Whether a cache ``key`` is one of engine ``token``'s (keys start with the engine's token)."""
    return key[0] == token


def shared_cache():
    """The tile cache every project made without ``cache_bytes`` shares, of :func:`default_cache_bytes`.

    One budget for the process: a notebook that opens a second project (or ten, as a benchmark
    loop does) stays within it instead of adding a budget per project.
    """
    with _SHARED_LOCK:
        if _SHARED["cache"] is None:
            _SHARED["cache"] = FeatureCache(default_cache_bytes())
        return _SHARED["cache"]


class TileGrid:
    """A regular grid of ``tile``-shaped tiles over ``shape`` (the last ones may be smaller)."""

    def __init__(self, shape, tile):
        self.shape = tuple(int(s) for s in shape)
        self.tile = tuple(int(min(t, s)) for t, s in zip(tile, self.shape))
        self.counts = tuple(-(-s // t) for s, t in zip(self.shape, self.tile))

    def slices(self, t):
        """The image slices of tile ``t`` (a tuple of tile indices)."""
        return tuple(slice(i * b, min((i + 1) * b, s)) for i, b, s in zip(t, self.tile, self.shape))

    def origin(self, t):
        """The first pixel of tile ``t``."""
        return tuple(i * b for i, b in zip(t, self.tile))

    def tile_shape(self, t):
        """The shape of tile ``t`` (tiles at the far edges may be smaller)."""
        return tuple(sl.stop - sl.start for sl in self.slices(t))

    def tiles_in(self, region):
        """Tiles overlapping ``region`` (a tuple of slices), in C order."""
        ranges = []
        for sl, b, s in zip(region, self.tile, self.shape):
            a, e, _ = sl.indices(s)
            if e <= a:
                return []
            ranges.append(range(a // b, (e - 1) // b + 1))
        return list(itertools.product(*ranges))

    def all_tiles(self):
        """Every tile of the grid, in C order."""
        return list(itertools.product(*[range(c) for c in self.counts]))


class TileEngine:
    """Tile features on demand for every image of a project, in one LRU of ``cache_bytes``.

    Parameters
    ----------
    cache_bytes : int, optional
        Budget of a tile cache of its own; by default the engine uses :func:`shared_cache`,
        one budget for all projects of the process.
    tile : int
        Side of 2D tiles (smaller where a tile's features would pass ``TILE_2D_BYTES`` or a
        quarter of ``cache_bytes``).
    tile_bytes_3d : int
        3D tiles are the blocks that waste least on halos within this many bytes of features
        and scratch (:func:`.features.block_for_budget`).
    """

    def __init__(self, cache_bytes=None, tile=TILE_2D, tile_bytes_3d=TILE_3D_BYTES):
        self.cache = shared_cache() if cache_bytes is None else FeatureCache(cache_bytes)
        # this engine's tiles leave the shared cache with it: a closed project's features do not
        # sit in the budget until the LRU reaches them
        self._token = next(_ENGINES)
        weakref.finalize(self, self.cache.discard, functools.partial(_of_engine, self._token))
        self.tile = int(tile)
        self.tile_bytes_3d = int(tile_bytes_3d)
        self._grids = {}
        self._ranges = {}
        self._ws = ThreadWorkspaces()
        self._lock = threading.Lock()
        self.rows_computed = 0  # tile rows computed sparsely (tests and benchmarks read these)

    # ----- geometry -------------------------------------------------------------------
    def grid(self, img, fs):
        """The tile grid of image ``img`` under feature set ``fs``."""
        key = (img.uid, fs.key())
        g = self._grids.get(key)
        if g is None:
            shape = img.shape_spatial
            fnd = fs.spatial_ndim(len(shape))
            # an axis up to twice the tile side is one tile: a 500x500 crop is read once, not
            # as four tiles that each recompute a halo; but a tile's features stay within
            # TILE_2D_BYTES and a quarter of the cache, or many channels make one tile of a
            # crop bigger than the whole budget (680 MB for 17 channels)
            F = fs.n_features(img.n_channels, fnd)
            cap = min(TILE_2D_BYTES, max(self.cache.max_bytes // 4, 2**20))
            limit = max(int(math.sqrt(cap / (4 * F))), 32)
            side = [s if s <= 2 * self.tile else self.tile for s in shape[-2:]]
            side = [b if b <= limit else -(-s // -(-s // limit)) for b, s in zip(side, shape[-2:])]
            if len(shape) == 2:
                tile = tuple(side)
            elif fnd == 2:  # plane by plane: no halo along Z, one plane a tile
                tile = (1,) + tuple(side)
            else:
                tile = block_for_budget(shape, fs, img.n_channels, budget=self.tile_bytes_3d)
            g = self._grids[key] = TileGrid(shape, tile)
        return g

    def ranges(self, img, fs):
        """Per-channel intensity range of ``img`` for ``fs.normalize`` (None without)."""
        if not fs.normalize:
            return None
        r = self._ranges.get(img.uid)
        if r is None:
            r = self._ranges[img.uid] = channel_ranges(image_sample(img.data))
        return r

    def _read(self, img, fs, sl, rows=None):
        """The block of region ``sl`` (slices) with its halo, and where the wanted part lies.

        ``rows``: index arrays (image coordinates) for the axes but the last, or None for the
        whole region. Only the span of the wanted rows (plus halo) is read.
        """
        g = self.grid(img, fs)
        nsp = len(g.shape)
        halos = fs.halos(nsp)
        src, inner = [], []
        for a, s in enumerate(sl):
            lo, hi = s.start, s.stop
            if rows is not None and a < nsp - 1:
                lo, hi = int(rows[a][0]), int(rows[a][-1]) + 1
            ha = halos[a]
            s0, s1 = max(lo - ha, 0), min(hi + ha, g.shape[a])
            src.append(slice(s0, s1))
            if rows is not None and a < nsp - 1:
                inner.append(np.asarray(rows[a], np.int64) - s0)
            else:
                inner.append(slice(lo - s0, hi - s0))
        return np.asarray(img.data[tuple(src)], np.float32), tuple(inner)

    # ----- features -------------------------------------------------------------------
    def cached(self, img, fs, t):
        """Tile ``t``'s features ``(F, *tile shape)`` if kept, else None (nothing computed)."""
        return self.cache.peek((self._token, img.uid, fs.key(), tuple(t)))

    def tile_nbytes(self, img, fs, t):
        """Bytes of tile ``t``'s features (float32)."""
        g = self.grid(img, fs)
        return 4 * fs.n_features_for(img.n_channels, len(g.shape)) * math.prod(g.tile_shape(t))

    def tile_features(self, img, fs, t):
        """Tile ``t``'s features ``(F, *tile shape)``, computed whole and kept in the LRU."""

        g = self.grid(img, fs)

        def compute(buf):
            data, inner = self._read(img, fs, g.slices(t))
            return features_inner(data, fs, img.spacing, inner, self.ranges(img, fs), self._ws.get(), out=buf)

        key = (self._token, img.uid, fs.key(), tuple(t))  # the engine's token first: engines share one cache
        return self.cache.get(key, compute, nbytes=self.tile_nbytes(img, fs, t))

    def row_features(self, img, fs, t, rows, cols=None, wanted=None, out=None):
        """Features ``(F, n_0, ..., width)`` of tile ``t`` at the given rows only.

        ``rows`` are sorted index arrays in image coordinates, one per axis but the last (their
        grid is computed); the tile's whole width comes back, or the columns ``cols`` (a slice
        of the image, which may reach past the tile: a view zoomed out reads wide strips).
        Nothing is kept. ``wanted`` (bool, one per feature): only those are computed, the others 0;
        ``out``: a float32 buffer of at least the result's size to write it into.
        """
        sl = self.grid(img, fs).slices(t)
        if cols is not None:
            sl = sl[:-1] + (cols,)
        data, inner = self._read(img, fs, sl, rows)
        out = features_inner(data, fs, img.spacing, inner, self.ranges(img, fs), self._ws.get(), out, wanted)
        self.rows_computed += math.prod(len(r) for r in rows)
        return out

    def _section_key(self, img, fs, axis, pos, sel):
        rest = tuple((v.start, v.stop) if isinstance(v, slice) else v.tobytes() for a, v in enumerate(sel) if a != axis)
        return (self._token, img.uid, fs.key(), "section", int(axis), int(pos), rest)

    def section_cached(self, img, fs, axis, pos, sel):
        """The kept features of a section of a volume (:meth:`section_features`), or None (nothing computed)."""
        return self.cache.peek(self._section_key(img, fs, axis, pos, _selection(sel, axis)))

    def section_features(self, img, fs, axis, pos, sel, ahead=0):
        """Features ``(F, n0, n1, width)`` of a section of a volume across ``axis`` at ``pos``, kept in the LRU.

        ``sel`` gives the other axes' voxels: sorted index arrays for axes 0 and 1, a slice for axis 2
        (its entry on ``axis`` is not read; that axis has length 1 in the result): an xy plane is
        ``axis=0``, an xz pane ``axis=1``, a yz pane ``axis=2``. When position ``pos`` is not kept but a
        neighbouring one of the same section is (a person stepping through planes), up to ``ahead``
        more positions onwards are computed with it and kept: the structure tensor's products are
        needed ~4 sigma either side of what is wanted, so two or three xy planes of the default 3D
        features cost ~1.1 times one, and the next step is free.
        """
        sel = _selection(sel, axis)
        got = self.cache.peek(self._section_key(img, fs, axis, pos, sel))
        if got is not None:
            return got
        g = self.grid(img, fs)
        size = g.shape[axis]
        lo = hi = int(pos)
        if ahead > 0 and pos > 0 and self._section_key(img, fs, axis, pos - 1, sel) in self.cache:
            hi = min(size - 1, pos + ahead)
        elif ahead > 0 and pos + 1 < size and self._section_key(img, fs, axis, pos + 1, sel) in self.cache:
            lo = max(0, pos - ahead)
        F = fs.n_features_for(img.n_channels, 3)
        lens = [1 if a == axis else (len(v) if a < 2 else len(range(*v.indices(g.shape[2])))) for a, v in
                enumerate(sel)]
        n = F * math.prod(lens)

        def fetch(a, b, out=None):  # positions a..b of the axis
            s = list(sel)
            s[axis] = slice(a, b + 1) if axis == 2 else np.arange(a, b + 1)
            return self.row_features(img, fs, (0,) * 3, s[:2], s[2], out=out)

        if lo == hi:  # into memory the cache hands back when it has some
            return self.cache.get(self._section_key(img, fs, axis, pos, sel), lambda buf: fetch(lo, lo, buf),
                                  nbytes=4 * n)
        # the positions together into this thread's scratch, then each into the cache's memory: fresh
        # memory costs page faults after a pause (a step computing five planes of a 512 x 512 view with a
        # fresh array for each plane took 7.3 s, so 6.1 s)
        fr = fetch(lo, hi, self._ws.get().flat("slab", n * (hi - lo + 1)))
        for p in range(lo, hi + 1):
            def copy(buf, i=p - lo):
                dst = np.empty((F, *lens), np.float32) if buf is None else buf[:n].reshape((F, *lens))
                dst[:] = fr[(slice(None),) * (axis + 1) + (slice(i, i + 1),)]
                return dst

            kept = self.cache.get(self._section_key(img, fs, axis, p, sel), copy, nbytes=4 * n)
            got = kept if p == pos else got
        return got

    def wants_whole(self, img, fs, t, rows):
        """Whether a request for ``rows`` of tile ``t`` should compute and keep the whole tile."""
        shape = self.grid(img, fs).tile_shape(t)
        n_rows = math.prod(shape[:-1])
        return math.prod(len(r) for r in rows) >= DENSE_FRACTION * n_rows

    def at_points(self, img, fs, coords):
        """Features ``(N, F)`` at the pixels ``coords`` (one int array per spatial axis).

        Grouped by tile: a kept tile is read; a tile whose rows the points mostly cover is
        computed whole and kept; otherwise only the rows holding points are computed.
        """
        coords = [np.asarray(c, np.int64) for c in coords]
        g = self.grid(img, fs)
        F = fs.n_features_for(img.n_channels, len(g.shape))
        n = coords[0].size
        out = np.empty((n, F), np.float32)
        if n == 0:
            return out
        tid = np.ravel_multi_index(tuple(c // b for c, b in zip(coords, g.tile)), g.counts)
        order = np.argsort(tid, kind="stable")
        bounds = np.flatnonzero(np.diff(tid[order])) + 1
        for grp in np.split(order, bounds):
            t = np.unravel_index(tid[grp[0]], g.counts)
            o = g.origin(t)
            local = [c[grp] - oa for c, oa in zip(coords, o)]
            fm = self.cached(img, fs, t)
            rows = [np.unique(c[grp]) for c in coords[:-1]]
            if fm is None and self.wants_whole(img, fs, t, rows):
                fm = self.tile_features(img, fs, t)
            if fm is not None:
                out[grp] = fm[(slice(None),) + tuple(local)].T
                continue
            fr = self.row_features(img, fs, t, rows)
            pos = [np.searchsorted(r, c[grp]) for r, c in zip(rows, coords[:-1])]
            out[grp] = fr[(slice(None),) + tuple(pos) + (local[-1],)].T
        return out


def _selection(sel, axis):
    """``sel`` with contiguous int64 index arrays for axes 0 and 1 (the entry on ``axis`` left as None)."""
    return tuple(None if a == axis else (v if a == 2 else np.ascontiguousarray(v, np.int64))
                 for a, v in enumerate(sel))
