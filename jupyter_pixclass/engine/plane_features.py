"""Features and predictions of the pixels an xz or yz pane of a volume shows, piece by piece.

An orthogonal pane shows one plane across the volume's planes: all rows ``y`` fixed (xz) or all
columns ``x`` fixed (yz). Its features are 3D features at those voxels only: each piece reads
the voxels it shows with the features' halo around them (a slab a few dozen voxels thick, never
the volume) and computes just the rows it shows. Pieces are kept in the tile cache, within a
quarter of its budget, so after a stroke re-predicting the pane is the forest alone, and stepping
the pane to the next row or column (the arrow keys) computes the following ones with it.
"""
from __future__ import annotations

import numpy as np

from ..forest.score import take_blocks
from .view_features import PLANE_AHEAD, PieceGrid

__all__ = ["PlaneFeatures", "PANE_AXES"]

# the pane's fixed axis, its vertical axis and its horizontal axis, in the volume's (z, y, x)
PANE_AXES = {"xz": (1, 0, 2), "yz": (2, 0, 1)}
# a piece is a slab of at most 64 planes x (2 halo + 1) x (512 + 2 halo) voxels (8 MB of two channels at
# sigma 3.5): each piece reads its own halo, and chunks of the file it touches are decompressed whole
PIECE_PLANES = 64
PIECE_SIDE = 512


class PlaneFeatures(PieceGrid):
    """The grid ``rows x cols`` of the plane through ``pos`` on the fixed axis of ``plane``.

    Parameters
    ----------
    engine : TileEngine
    img : Image
        A volume.
    fs : FeatureSet
    plane : {"xz", "yz"}
    pos : int
        The fixed coordinate: y of an xz pane, x of a yz pane.
    rows, cols : int arrays
        Plane (z) of each display row; column (xz) or row (yz) of each display column.

    Attributes ``rows``/``row_of``, ``cols``/``col_of``, ``identity`` and ``pieces`` (tile, row
    slice, column slice) mean what they mean for :class:`.ViewFeatures`.
    """

    def __init__(self, engine, img, fs, plane, pos, rows, cols):
        if plane not in PANE_AXES:
            raise ValueError(f"plane {plane!r} is not one of {sorted(PANE_AXES)}")
        self.engine, self.img, self.fs, self.plane, self.pos = engine, img, fs, plane, int(pos)
        self.key = None
        self._set_grid(rows, cols)
        # pieces as wide in the volume as in the pane's display: zoomed out, 512 shown columns span
        # thousands of the volume's, and a slab that wide took GBs to filter (a 200 x 8192^2 volume: 4 GB)
        self._set_pieces(_runs(self.rows, PIECE_PLANES), _runs(self.cols, PIECE_SIDE))
        self._held, self.max_bytes = 0, engine.cache.max_bytes
        self._kept = {}  # piece -> bytes of it the cache keeps
        # positions computed with this one when a person steps the pane (all its pieces within its share)
        pane = sum(self._section(self.rows[ry], self.cols[rx])[2] for _, ry, rx in self.pieces)
        self.ahead = int(min(PLANE_AHEAD, max(0, self.max_bytes // 4 // max(pane, 1) - 1)))

    def full(self):
        """Whether the kept pieces fill their share of the budget."""
        return self._held >= self.max_bytes // 4

    def _section(self, zs, hs):
        """The piece of planes ``zs`` by columns (xz) or rows (yz) ``hs`` as ``(axis, selection, bytes)`` for
        :meth:`.TileEngine.section_features` (an xz pane's columns as their span)."""
        F = self.fs.n_features_for(self.img.n_channels, 3)
        if self.plane == "xz":
            span = slice(int(hs[0]), int(hs[-1]) + 1)
            return 1, (zs, None, span), 4 * F * zs.size * (span.stop - span.start)
        return 2, (zs, hs, None), 4 * F * zs.size * hs.size

    def features(self, k, wanted=None):
        """``(fm (F, M), idx or None)`` for piece ``k``: the forest reads columns ``idx`` of ``fm`` (M voxels in
        row-major order of the piece); ``wanted`` is not used (every piece may be kept).

        A piece is kept in the tile cache (within a quarter of its budget for the pane), so stepping the
        pane to a neighbouring row (xz) or column (yz) computes the next ones with it
        (:meth:`.TileEngine.section_features`). Zoomed out across an xz pane's columns (a span would hold
        more than is shown), or without room in the cache's share, the shown voxels are kept here as
        :class:`..forest.score.PixelBlocks` while they fit, else computed for this use only.
        """
        got = self._feats[k]
        _, ry, rx = self.pieces[k]
        zs, hs = self.rows[ry], self.cols[rx]
        axis, sel, nbytes = self._section(zs, hs)
        eng, img, fs = self.engine, self.img, self.fs
        if got is not None and got[0] is not None:  # the shown voxels, kept here
            return got
        if got is not None:  # kept in the cache
            fm = eng.section_cached(img, fs, axis, self.pos, sel)
            if fm is not None:
                return fm.reshape(fm.shape[0], -1), got[1]
            self._feats[k] = None  # evicted meanwhile: computed again
            self._held -= self._kept.pop(k)
        dense = axis == 2 or hs.size == hs[-1] - hs[0] + 1  # an xz pane's span of columns holds only those shown
        if dense and self._held + nbytes <= self.max_bytes // 4:
            fm = eng.section_features(img, fs, axis, self.pos, sel, self.ahead)
            got = (fm.reshape(fm.shape[0], -1), None)
            if eng.section_cached(img, fs, axis, self.pos, sel) is fm:
                self._feats[k] = (None, None)
                self._kept[k] = fm.nbytes
                self._held += fm.nbytes
            return got
        t = (0,) * 3  # any tile: the rows and columns asked for say what is read
        if self.plane == "xz":
            fr = eng.row_features(img, fs, t, [zs, np.array([self.pos])], sel[2])
            fr = fr[:, :, 0][:, :, hs - hs[0]]
        else:
            fr = eng.row_features(img, fs, t, [zs, hs], slice(self.pos, self.pos + 1))[..., 0]
        got = (np.ascontiguousarray(fr).reshape(fr.shape[0], -1), None)
        if self._held + got[0].nbytes <= self.max_bytes // 4:
            got = (take_blocks(got[0]), None)  # the shown voxels kept: read where they lie at every prediction
            self._feats[k] = got
            self._held += got[0].nbytes
        return got


def _runs(pos, most):
    """The sorted distinct positions ``pos`` in the fewest runs of near-equal span in the volume, each
    spanning at most ``most`` of its positions (so holding at most ``most``): [(start, stop), ...]."""
    if pos.size == 0:
        return []
    span = int(pos[-1] - pos[0]) + 1
    r = -(-span // most)
    cuts = np.searchsorted(pos, pos[0] + np.linspace(0, span, r + 1)[1:-1].round()).tolist()
    b = [0, *cuts, pos.size]
    return [(a, c) for a, c in zip(b[:-1], b[1:]) if c > a]
