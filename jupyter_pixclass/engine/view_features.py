"""Features and predictions of the pixels a view shows, tile by tile from the centre.

A view shows a grid of image pixels: one image row per display row and one column per display
column (nearest neighbour), at most the canvas's size however large the image. The grid is cut
along tile borders into pieces, ordered from the view's centre outwards. A piece's features
are a kept tile (zoomed in: the view's tiles are the ones strokes land in) or just the sampled
rows of a tile (zoomed out: a fraction of the tile's cost); they stay while the view stays,
so after a stroke re-predicting the view is the forest alone. What stays is bounded by the tile
cache's budget: a view of many channels whose features pass it keeps the pieces nearest the
centre and recomputes the rest each time. A plane of a volume whose 3D tiles are too deep to keep
is kept in the cache plane by plane, and stepping to the next plane computes the following ones
with it (:meth:`.TileEngine.section_features`).
"""
from __future__ import annotations

import numpy as np

from ..forest.score import take_blocks

__all__ = ["ViewFeatures", "PieceGrid"]

SPARSE_BELOW = 0.5  # a view showing fewer than this share of the rows it spans samples tiles
WIDE = 4  # tiles side by side in one piece of a sampled view
PLANE_PIECE = 256  # side of a piece of one plane of a volume whose 3D tiles span many planes
# what a view keeps itself, a share of the cache budget: a zoomed-out 600 x 600 canvas's 98 features are 141 MB,
# over a quarter of Binder's 512 MB, and the pieces left out were computed again at every update (~370 ms)
VIEW_SHARE = 3
# planes of a volume computed with the one shown when a person steps to the next (TileEngine.section_features):
# one, so the step that computes costs about what a step did (two made it ~30 % slower for a third free step;
# benchmarks/RESULTS.md, "Painting a volume plane by plane")
PLANE_AHEAD = 1


class PieceGrid:
    """What a canvas shows as a grid of image rows by columns, cut in ``pieces`` (tile, row slice, column slice).

    ``rows``/``cols`` are the distinct image rows and columns shown, ``row_of``/``col_of`` which of them
    each display row and column shows, ``identity`` whether each is shown once. Subclasses give
    ``features(k)`` and keep ``_feats``.
    """

    def _set_grid(self, rows, cols):
        self.rows, self.row_of = np.unique(np.asarray(rows, np.int64), return_inverse=True)
        self.cols, self.col_of = np.unique(np.asarray(cols, np.int64), return_inverse=True)
        # every display row and column its own image row and column: the grid is the view as it is
        self.identity = self.rows.size == self.row_of.size and self.cols.size == self.col_of.size

    def _set_pieces(self, ys, xs, tile_of=lambda y0, x0: None):
        """Pieces of the row cuts ``ys`` by the column cuts ``xs`` (``(start, stop)`` pairs), nearest the
        view's centre first, each with ``tile_of(y0, x0)``; none of them has features yet."""
        cy = self.rows.mean() if self.rows.size else 0
        cx = self.cols.mean() if self.cols.size else 0
        pieces = []
        for y0, y1 in ys:
            for x0, x1 in xs:
                my = (self.rows[y0] + self.rows[y1 - 1]) / 2
                mx = (self.cols[x0] + self.cols[x1 - 1]) / 2
                pieces.append(((my - cy) ** 2 + (mx - cx) ** 2, tile_of(y0, x0), slice(y0, y1), slice(x0, x1)))
        pieces.sort(key=lambda p: p[0])
        self.pieces = [p[1:] for p in pieces]
        self._feats = [None] * len(self.pieces)

    def __len__(self):
        return len(self.pieces)

    def n_ready(self):
        """How many pieces have their features kept."""
        return sum(f is not None for f in self._feats)

    def transient(self, k):
        """Whether piece ``k``'s features would be computed for one use and not kept (no room left)."""
        return False

    def predict(self, forest, k, features=None):
        """Probabilities ``(n rows, n cols, K)`` of piece ``k`` (from ``features(k)`` when given)."""
        fm, idx = features if features is not None else self.features(k)
        _, ry, rx = self.pieces[k]
        p = forest.predict_proba_fm(fm, idx)
        return p.reshape(ry.stop - ry.start, rx.stop - rx.start, -1)


class ViewFeatures(PieceGrid):
    """The pixel grid ``rows x cols`` of plane ``z`` of ``img``, in pieces.

    Parameters
    ----------
    engine : TileEngine
    img : Image
    fs : FeatureSet
    rows, cols : int arrays
        Image row (column) of each display row (column) inside the image.
    z : int, optional
        Plane of a volume.
    """

    def __init__(self, engine, img, fs, rows, cols, z=None):
        self.engine, self.img, self.fs, self.z = engine, img, fs, z
        self._set_grid(rows, cols)
        g = engine.grid(img, fs)
        ty, tx = g.tile[-2], g.tile[-1]
        # zoomed far out, tiles are only sampled (rows computed, nothing kept): pieces of several
        # tiles share their halos (a 256-pixel tile reads 1.5x its width at sigma 10)
        span = int(self.rows[-1] - self.rows[0] + 1) if self.rows.size else 0
        self.sparse = self.rows.size < SPARSE_BELOW * span
        # one plane of 3D tiles many planes deep: no tile is kept for it, so pieces need not follow
        # the tiles (32 x 64 pixels for 3D features of a tall volume); wide pieces read the halo once
        self.plane_rows = z is not None and g.tile[0] > 1
        if self.sparse:
            ty, tx = ty * WIDE, tx * WIDE
        if self.plane_rows:
            ty, tx = max(ty, PLANE_PIECE), max(tx, PLANE_PIECE)
        yb = _cuts(self.rows, ty)
        xb = _cuts(self.cols, tx)
        plane = () if z is None else (int(z // g.tile[0]),)
        self._set_pieces(yb, xb, lambda y0, x0: plane + (int(self.rows[y0] // g.tile[-2]),
                                                         int(self.cols[x0] // g.tile[-1])))
        self._held, self._tile_bytes, self.max_bytes = 0, 0, engine.cache.max_bytes
        self._scratch = None  # where pieces it cannot keep are computed, one after the other
        self._kept_in_cache = {}  # piece -> bytes of its features the cache keeps (a tile or a plane)
        # a plane of such a volume is kept in the cache, and stepping to the next plane computes the
        # following ones with it (TileEngine.section_features) while they fit in half of the budget
        self.ahead = 0
        self.planes_kept = self.plane_rows and not self.sparse  # zoomed out, the shown pixels are kept (below)
        if self.planes_kept and self.cols.size:
            plane = self._plane_bytes(self.rows, self.cols)
            self.ahead = int(min(PLANE_AHEAD, max(0, self.max_bytes // 2 // max(plane, 1) - 1)))

    def kept_bytes(self):
        """Bytes of features the view keeps itself (sampled rows, shown pixels), at most a third of the budget."""
        return self._held

    def full(self):
        """Whether the view's features fill the budget (more would evict what it keeps)."""
        return self._tile_bytes + self._held >= self.max_bytes

    def features(self, k, wanted=None):
        """``(fm (F, M), idx or None)`` for piece ``k``: the forest reads columns ``idx`` of ``fm``.

        ``wanted`` (bool, one per feature: :meth:`.Forest.used_features`): for a piece the view
        cannot keep (:meth:`transient`), only those are computed and the others are 0, so only a
        forest reading no other feature may predict from the result, before the next such call
        (which writes into the same buffer).

        A piece that is a kept tile is looked up in the tile cache each time (holding it here
        too would keep it after the cache let it go: twice the budget); sampled rows and a zoomed-out
        view's shown pixels are kept here as :class:`..forest.score.PixelBlocks` (``np.asarray``
        makes them ``(F, M)``), within a third of the budget (:data:`VIEW_SHARE`).
        """
        got = self._feats[k]
        eng, img, fs = self.engine, self.img, self.fs
        t, ry, rx = self.pieces[k]
        ys, xs = self.rows[ry], self.cols[rx]
        if got is not None and got[0] is None:  # a kept tile or plane: its features live in the cache
            fm = eng.section_cached(img, fs, 0, self.z, (None, ys, _span(xs))) if self.planes_kept \
                else eng.cached(img, fs, t)
            if fm is not None:
                return fm.reshape(fm.shape[0], -1), got[1]
            self._feats[k] = got = None  # evicted meanwhile: computed again
            self._tile_bytes -= self._kept_in_cache.pop(k)
        if got is not None:
            return got
        lead = [ys] if self.z is None else [np.array([self.z]), ys]
        if self.planes_kept and self._tile_bytes + self._held + self._plane_bytes(ys, xs) <= self.max_bytes:
            fm = eng.section_features(img, fs, 0, self.z, (None, ys, _span(xs)), self.ahead)
            w = fm.shape[-1]
            idx = (np.arange(ys.size)[:, None] * w + (xs - xs[0])[None, :]).ravel()
            got = (fm.reshape(fm.shape[0], -1), None if idx.size == fm[0].size else idx)
            if eng.section_cached(img, fs, 0, self.z, (None, ys, _span(xs))) is fm:
                self._feats[k] = (None, got[1])
                self._kept_in_cache[k] = fm.nbytes
                self._tile_bytes += fm.nbytes
            return got
        if wanted is not None and self.transient(k):
            # computed for one forest's use and dropped: what it reads (IMC crops of 1000 features: ~15 %
            # of them, in ~60 % of the (channel, sigma) passes)
            cols = slice(int(xs[0]), int(xs[-1]) + 1)
            n = wanted.size * ys.size * (cols.stop - cols.start)
            if self._scratch is None or self._scratch.size < n:
                # one buffer for them all, used before the next is computed: fresh memory for every tile
                # cost page faults at every stroke (the VMs we measure are slow at them after a pause)
                self._scratch = np.empty(n, np.float32)
            fr = eng.row_features(img, fs, t, lead, cols, wanted=wanted, out=self._scratch)
            w = fr.shape[-1]
            return (np.ascontiguousarray(fr).reshape(fr.shape[0], -1),
                    (np.arange(ys.size)[:, None] * w + (xs - xs[0])[None, :]).ravel())
        fm = None if self.sparse or self.plane_rows else eng.cached(img, fs, t)
        if fm is None and not self.sparse and self._mostly_covers(t, ys, xs) and self._room_for(t):
            fm = eng.tile_features(img, fs, t)  # kept: strokes land here, panning back is free
        # else, with the view's kept tiles filling the budget, this one is computed for this use
        # only: kept, it would evict one of them, the next the next, and every update computed
        # every tile again (an LRU read in a cycle: 3.5 s a stroke for notebook 02's crop on Binder)
        if fm is not None:
            o = eng.grid(img, fs).origin(t)
            loc = [ys - o[-2], xs - o[-1]]
            idx = (loc[0][:, None] * fm.shape[-1] + loc[1][None, :]).ravel()
            if self.z is not None:
                idx = idx + (self.z - o[0]) * fm.shape[-1] * fm.shape[-2]
            whole = idx.size == fm[0].size and (idx.size == 0 or (idx[0] == 0 and (np.diff(idx) == 1).all()))
            got = (fm.reshape(fm.shape[0], -1), None if whole else idx)
            held = self._held + got[0].shape[0] * idx.size * got[0].itemsize
            if not whole and held <= self.max_bytes // VIEW_SHARE:
                # zoomed out: keep the shown pixels' features in blocks the forest reads where they
                # lie; picking them out of the tile after every stroke read the tile's whole rows (a
                # 600 x 600 view of 1024 x 1024: predicting it ~100 ms, 77-79 ms kept feature-major,
                # 53-59 ms in blocks, benchmarks/bench_predict.py --view)
                got = (take_blocks(got[0], idx), None)
                self._feats[k] = got
                self._held += got[0].nbytes
                return got
            if eng.cached(img, fs, t) is fm:
                self._feats[k] = (None, got[1])
                self._kept_in_cache[k] = fm.nbytes
                self._tile_bytes += fm.nbytes
                return got
        else:
            cols = slice(int(xs[0]), int(xs[-1]) + 1)
            fr = eng.row_features(img, fs, t, lead, cols)  # (F, [1,] n rows, width)
            w = fr.shape[-1]
            fr = np.ascontiguousarray(fr).reshape(fr.shape[0], -1)
            got = (fr, (np.arange(ys.size)[:, None] * w + (xs - xs[0])[None, :]).ravel())
            size = fr.shape[0] * got[1].size * fr.itemsize
            if self._held + size <= self.max_bytes // VIEW_SHARE \
                    and self._tile_bytes + self._held + size <= self.max_bytes:
                got = (take_blocks(*got), None)  # kept: read where they lie at every prediction
                self._feats[k] = got
                self._held += got[0].nbytes
            return got
        if self._held + got[0].nbytes <= self.max_bytes // VIEW_SHARE:
            self._feats[k] = got
            self._held += got[0].nbytes
        return got

    def transient(self, k):
        """Whether piece ``k`` is a tile the view cannot keep: its kept tiles fill the budget."""
        t, ry, rx = self.pieces[k]
        if self._feats[k] is not None or self.sparse or self.plane_rows \
                or not self._mostly_covers(t, self.rows[ry], self.cols[rx]):
            return False
        return self.engine.cached(self.img, self.fs, t) is None and not self._room_for(t)

    def _plane_bytes(self, ys, xs):
        """Bytes of the features of plane rows ``ys`` across columns ``xs[0]..xs[-1]``."""
        return 4 * self.fs.n_features_for(self.img.n_channels, 3) * ys.size * int(xs[-1] - xs[0] + 1)

    def _room_for(self, t):
        """Whether tile ``t`` fits beside what the view keeps, within the cache's budget."""
        return self._tile_bytes + self._held + self.engine.tile_nbytes(self.img, self.fs, t) <= self.max_bytes

    def _mostly_covers(self, t, ys, xs):
        """Whether the piece shows at least half of tile ``t``'s rows and columns."""
        shape = self.engine.grid(self.img, self.fs).tile_shape(t)
        return ys.size >= 0.5 * shape[-2] and xs.size >= 0.5 * shape[-1] and (self.z is None or shape[0] == 1)


def _span(xs):
    """The columns ``xs[0]..xs[-1]`` as a slice."""
    return slice(int(xs[0]), int(xs[-1]) + 1)


def _cuts(sorted_idx, tile):
    """Runs of ``sorted_idx`` that fall in one tile: [(start, stop), ...] positions."""
    if sorted_idx.size == 0:
        return []
    t = sorted_idx // tile
    b = np.flatnonzero(np.diff(t)) + 1
    starts = np.concatenate([[0], b])
    stops = np.concatenate([b, [sorted_idx.size]])
    return list(zip(starts.tolist(), stops.tolist()))
