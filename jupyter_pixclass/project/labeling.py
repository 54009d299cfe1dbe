"""Editing the labels of a project's images: painting, replacing, undoing, in step with the feature store."""
from __future__ import annotations

import numbers

import numpy as np

from ..engine.chunked_labels import ChunkedLabels

__all__ = ["Labeling"]


class Labeling:
    """Part of :class:`.Project`: every change to ``labels(i)`` marks the labeled-feature store and
    bumps ``version`` under the project's lock, so a Live Update in flight never trains on half a stroke."""

    def labels(self, i=0):
        """The label array of image ``i`` (uint8, spatial shape; 0 = unlabeled)."""
        return self._labels[self.image_index(i)]

    def set_labels(self, i, labels, copy=True):
        """Replace the labels of image ``i`` (an array, or :class:`.ChunkedLabels` for a lazy image).

        ``copy=False`` keeps a ``uint8`` array as it is, not a copy (a project read from a file
        hands over its own: a volume's labels are as many bytes as it has voxels); strokes then
        paint into it.
        """
        i = self.image_index(i)
        if not isinstance(labels, ChunkedLabels):
            labels = np.asarray(labels)
            if labels.dtype.kind not in "biuf":
                raise ValueError(f"labels should be numbers (0 = unlabeled, k = class k); got dtype {labels.dtype}")
            if labels.dtype.kind == "f" and labels.size and not (np.isfinite(labels).all()
                                                                 and (labels == np.round(labels)).all()):
                # a cast would make 2.5 a 2, and NaN whatever the platform gives
                raise ValueError("labels hold values that are not whole numbers (NaN, inf or fractions): "
                                 "give 0 where unlabeled and k for class k")
        shape = self.images[i].shape_spatial
        if labels.shape != shape:
            raise ValueError(f"labels of shape {labels.shape} do not fit image {i} of spatial shape {shape}")
        if labels.size and (labels.min() < 0 or labels.max() > len(self.classes)):
            raise ValueError(
                f"labels hold values {int(labels.min())}..{int(labels.max())}, but only 0..{len(self.classes)} "
                f"exist (classes {self.classes})"
            )
        with self.lock:
            if isinstance(labels, ChunkedLabels):
                lab = labels if self.images[i].lazy else np.asarray(labels)
            else:
                lab = labels.astype(np.uint8, copy=copy)
                lab = ChunkedLabels.from_dense(lab) if self.images[i].lazy else lab
            self._labels[i] = lab
            self._store.mark(self.images[i])
            self.version += 1

    def paint(self, i, mask, k):
        """Set label ``k`` (1-based; 0 erases) where ``mask`` is true in image ``i``."""
        i = self.image_index(i)
        k = self.label_value(k)
        mask = np.asarray(mask, bool)
        if mask.shape != self._labels[i].shape:
            raise ValueError(f"mask of shape {mask.shape} does not fit image {i} of spatial shape {self._labels[i].shape}")
        with self.lock:
            self._labels[i][mask] = k
            self._store.mark(self.images[i], _bbox(mask))
            self.version += 1

    def paint_pixels(self, i, index, k, region=None):
        """Set label ``k`` at ``index`` (a tuple of coordinate arrays) of image ``i``.

        What a brush does: ``region`` (slices), if given, bounds the change for the
        labeled-feature store; otherwise the bounding box of ``index`` is used.
        """
        i = self.image_index(i)
        k = self.label_value(k)
        with self.lock:
            self._labels[i][index] = k
            if region is None:
                region = tuple(slice(int(np.min(c)), int(np.max(c)) + 1) if np.size(c) else slice(0, 0)
                               for c in index)
            self._store.mark(self.images[i], region)
            self.version += 1

    def labels_changed(self, i, region=None):
        """Tell the project that ``labels(i)`` was edited in place (inside ``region``, slices)."""
        i = self.image_index(i)
        with self.lock:
            self._store.mark(self.images[i], region)
            self.version += 1

    def replace_labels(self, i, values, z=None, where=None):
        """Put ``values`` into the labels of image ``i``; returns what was there.

        ``z`` replaces plane ``z`` of a volume; ``where`` (ints and slices, e.g. ``(slice(None), y)``
        for the xz plane through row ``y``) any plane or box; neither: everything. Undo and redo
        swap whole planes this way, atomically with respect to training.
        """
        i = self.image_index(i)
        if where is None:
            where = (Ellipsis,) if z is None else (int(z),)
        where = tuple(where)
        v = np.asarray(values)
        if v.size and (v.min() < 0 or v.max() > len(self.classes)):  # e.g. kept from before a class was removed
            raise ValueError(f"labels hold values {int(v.min())}..{int(v.max())}, but only 0..{len(self.classes)} "
                             f"exist (classes {self.classes})")
        with self.lock:
            lab = self._labels[i]
            before = np.array(lab[where])
            lab[where] = values
            region = None
            if Ellipsis not in where:
                region = tuple(slice(w, w + 1) if isinstance(w, (int, np.integer)) else w for w in where)
                region += (slice(None),) * (lab.ndim - len(region))
            self._store.mark(self.images[i], region)
            self.version += 1
        return before

    def label_value(self, k):
        """``k`` as a label value, checked: 0 erases, 1..K are classes, or a class's name."""
        if isinstance(k, str):
            return self.class_index(k)
        if isinstance(k, bool) or not isinstance(k, numbers.Real) or not float(k).is_integer():
            raise ValueError(f"class {k!r} is neither a class number (0 erases, 1..{len(self.classes)}) nor a name")
        k = int(k)
        if not 0 <= k <= len(self.classes):
            raise ValueError(f"class {k} does not exist (0 erases, 1..{len(self.classes)} are classes)")
        return k


def _bbox(mask):
    """Slices bounding the true pixels of ``mask`` (empty slices if none)."""
    idx = np.nonzero(mask)
    if idx[0].size == 0:
        return tuple(slice(0, 0) for _ in range(mask.ndim))
    return tuple(slice(int(c.min()), int(c.max()) + 1) for c in idx)
