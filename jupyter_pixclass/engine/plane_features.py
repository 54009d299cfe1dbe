"""Features and predictions of the pixels an xz or yz pane of a volume shows, piece by piece.

An orthogonal pane shows one plane across the volume's planes: all rows ``y`` fixed (xz) or all
columns ``x`` fixed (yz). Its features are 3D features at those voxels only: each piece reads
the voxels it shows with the features' halo around them (a slab a few dozen voxels thick, never
the volume) and computes just the rows it shows. Pieces are kept, within a quarter of the tile
cache's budget, while the pane stays where it is, so after a stroke re-predicting the pane is
the forest alone.
"""
from __future__ import annotations

import numpy as np

from ..forest.score import take_blocks
from .view_features import PieceGrid

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

    def full(self):
        """Whether the kept pieces fill their share of the budget."""
        return self._held >= self.max_bytes // 4

    def features(self, k, wanted=None):
        """``(fm (F, M), None)`` for piece ``k``: M voxels in row-major order of the piece (kept ones as
        :class:`..forest.score.PixelBlocks`); ``wanted`` is not used (every piece may be kept)."""
        got = self._feats[k]
        if got is not None:
            return got
        _, ry, rx = self.pieces[k]
        zs, hs = self.rows[ry], self.cols[rx]
        g = self.engine.grid(self.img, self.fs)
        t = (0,) * len(g.shape)  # any tile: the rows and columns asked for say what is read
        if self.plane == "xz":
            fr = self.engine.row_features(self.img, self.fs, t, [zs, np.array([self.pos])],
                                          slice(int(hs[0]), int(hs[-1]) + 1))
            fr = fr[:, :, 0][:, :, hs - hs[0]]
        else:
            fr = self.engine.row_features(self.img, self.fs, t, [zs, hs], slice(self.pos, self.pos + 1))[..., 0]
        got = (np.ascontiguousarray(fr).reshape(fr.shape[0], -1), None)
        if self._held + got[0].nbytes <= self.max_bytes // 4:
            got = (take_blocks(got[0]), None)  # kept: read where they lie at every prediction
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
