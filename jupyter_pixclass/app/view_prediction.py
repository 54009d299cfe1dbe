"""The prediction of what the canvas shows: the view's features and probabilities, piece by piece."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np

from ..engine.view_features import ViewFeatures


class HeadStart(NamedTuple):
    """A preview's pieces kept for the whole forest: its ``n`` trees' grid and pieces, the ``rest`` to add."""

    n: int
    rest: object
    grid: np.ndarray
    done: np.ndarray


@dataclass
class Filling:
    """The probability grid of ``forest`` on the view ``view_key``, piece by piece."""

    view_key: tuple
    forest: object
    grid: np.ndarray
    done: np.ndarray
    head: Optional[HeadStart] = None

    def is_of(self, view_key, forest):
        """Whether this is the grid of ``forest`` on the view ``view_key``."""
        return self.view_key == view_key and self.forest is forest


class ViewPrediction:
    """Features and probabilities at the displayed pixels of ``app``'s current view.

    ``vf`` is the :class:`ViewFeatures` of the view (made anew when the view moves);
    ``grid``/``done`` hold the probabilities of the pieces predicted so far by ``forest``.
    """

    def __init__(self, app):
        self.app = app
        self.vf = None
        self.state = None  # the Filling of the view's grid
        self.shown_forest = None  # whose overlay the canvas shows (a preview or the project's)

    def key(self):
        """What the view shows: image, plane, origin, scale, size and features."""
        a = self.app
        return (a.image_index, a.z if a.image.ndim_spatial == 3 else None, a.view.origin,
                a.view.scale, a.view.size, a.project.features.key())

    def reset(self):
        """Forget the probabilities (classes or features changed)."""
        self.state = None

    def view(self):
        """The :class:`render.View` whose pixels this predicts (the xy canvas's)."""
        return self.app.view

    def draw(self):
        """Draw the canvas this predicts for."""
        self.app.canvas_view.draw()

    def make_features(self, rows, cols, key):
        """Features of the view's grid: image rows ``rows`` and columns ``cols`` of the shown plane."""
        a = self.app
        return ViewFeatures(a.project.engine, a.image, a.project.features, rows, cols, z=key[1])

    def features(self):
        """The features of the current view (made anew when the view moved)."""
        key = self.key()
        vf = self.vf
        if vf is None or vf.key != key:
            ys, xs, iny, inx = self.view().indices()
            if key != self.key():  # moved meanwhile: the next update takes the new view
                return vf
            vf = self.make_features(ys[iny], xs[inx], key)
            vf.key = key
            self.vf = vf
        return vf

    def start(self, vf, forest):
        """The probability grid of ``forest`` on ``vf`` (kept when it is the one already filling).

        When the grid filling so far is that of a preview of ``forest`` (its first trees), the
        preview's pieces are kept as a head start: only the other trees are predicted there.
        """
        self.shown_forest = forest
        s = self.state
        if s is None or not s.is_of(vf.key, forest):
            head = None
            if s is not None and s.view_key == vf.key and s.done.any() and s.forest is not forest \
                    and forest.starts_with(s.forest):
                n = s.forest.n_trees
                if n == forest.n_trees:  # the same trees again (undo then redo): its pieces are this forest's
                    self.state = Filling(vf.key, forest, s.grid, s.done.copy(), s.head)
                    return self.state
                head = HeadStart(n, forest.subset(n, forest.n_trees), s.grid, s.done.copy())
            self.state = Filling(vf.key, forest, np.zeros((vf.rows.size, vf.cols.size, forest.n_classes), np.float32),
                                 np.zeros(len(vf), bool), head)
        return self.state

    def predict_piece(self, k, features=None):
        """Probabilities of piece ``k`` by the forest being filled in (``features``: ``vf.features(k)``)."""
        s, vf = self.state, self.vf
        _, ry, rx = vf.pieces[k]
        if s.head is None or not s.head.done[k]:
            s.grid[ry, rx] = vf.predict(s.forest, k, features)
        else:  # the forest's mean is the preview's trees' and the others', weighed by their number
            h = s.head
            s.grid[ry, rx] = (h.grid[ry, rx] * h.n + vf.predict(h.rest, k, features) * h.rest.n_trees) / s.forest.n_trees
        s.done[k] = True

    def complete(self):
        """Whether the current view's overlay is fully predicted by the project's forest."""
        s = self.state
        return (s is not None and self.vf is not None and s.is_of(self.key(), self.app.project.forest)
                and bool(s.done.all()))

    def probabilities(self):
        """Probabilities at the displayed pixels ``(h, w, K)`` and where they are ready, or None."""
        s, vf = self.state, self.vf
        if s is None or vf is None or not s.is_of(self.key(), self.shown_forest):
            return None
        view = self.view()
        _, _, iny, inx = view.indices()
        grid, done = s.grid, s.done
        h, w = view.size
        if done.all() and iny.all() and inx.all() and vf.identity:  # the usual frame: the grid as it is
            return grid, np.ones((h, w), bool)
        ready = np.zeros(grid.shape[:2], bool)
        for k in np.flatnonzero(done):
            _, ry, rx = vf.pieces[k]
            ready[ry, rx] = True
        prob = np.zeros((h, w, grid.shape[-1]), np.float32)
        valid = np.zeros((h, w), bool)
        sub = np.ix_(np.flatnonzero(iny), np.flatnonzero(inx))
        prob[sub] = grid[np.ix_(vf.row_of, vf.col_of)]
        valid[sub] = ready[np.ix_(vf.row_of, vf.col_of)]
        return prob, valid
