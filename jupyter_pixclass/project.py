"""The Project: images, classes, labels, feature set and the trained forest."""
from __future__ import annotations

import threading
import time

import numpy as np

from .features import FeatureSet, compute_features
from .forest import train_forest
from .image import as_image
from .label_store import LabelStore
from .pipeline import predict_array
from .tiles import TileEngine

__all__ = ["Project", "PALETTE", "FORMAT", "FORMAT_VERSION"]

PALETTE = ["#e41a1c", "#377eb8", "#4daf4a", "#ff7f00", "#984ea3", "#ffff33", "#a65628", "#f781bf", "#17becf"]
FORMAT = "jupyter-pixclass project"
FORMAT_VERSION = 1


def _feature_major(feats):
    """The contiguous ``(F, ...)`` array behind a channel-last feature view (no copy if possible)."""
    fm = np.moveaxis(feats, -1, 0)
    return fm if fm.flags.c_contiguous else np.ascontiguousarray(fm)


def _check_color(c):
    from matplotlib.colors import to_hex

    try:
        return to_hex(c)
    except ValueError:
        raise ValueError(f"not a colour: {c!r} (use a name like 'red' or a hex '#ff0000')") from None


class Project:
    """Classes, images with their labels, a feature set and a random forest.

    Parameters
    ----------
    classes : list of str
        Class names; label ``k`` (1-based) means ``classes[k-1]``.
    features : FeatureSet, optional
        Default :meth:`FeatureSet.default`.
    colors : list of colour, optional
        One per class (names or hex); default a palette.
    random_state : int
        Seed of the forest: same labels and seed give the same predictions.
    n_estimators : int
        Trees in the forest (ilastik uses 100).
    cache_bytes : int, optional
        Budget of a tile-feature cache for this project's images alone. By default every
        project of the process shares one cache (``tiles.shared_cache``) of a quarter of the
        available memory, at most 1 GiB (the container's limit counts: on Binder's 2 GB,
        512 MB; ``PIXCLASS_MEMORY_LIMIT=2GiB`` sets a limit where there is none). Training, prediction
        and the app hold at most this much of features plus their working set (the tiles on
        screen, one band of rows per thread, the labeled pixels' vectors).

    Examples
    --------
    >>> import jupyter_pixclass as pc
    >>> img, truth = pc.datasets.nuclei((128, 128))
    >>> p = pc.Project(["Nucleus", "Background"])
    >>> i = p.add_image(img)
    >>> p.paint(i, truth["classes"] == 1, 1)   # doctest: +SKIP
    """

    def __init__(self, classes=("Nucleus", "Background"), features=None, colors=None, random_state=0,
                 n_estimators=100, cache_bytes=None):
        self.classes = []
        self.colors = []
        self._features = features if features is not None else FeatureSet.default()
        if not isinstance(self._features, FeatureSet):
            raise TypeError(f"features must be a FeatureSet; got {type(self._features).__name__}")
        self.random_state = random_state
        self.n_estimators = int(n_estimators)
        self.images = []
        self._labels = []
        self.forest = None
        self._trained = None  # (feature key, n_channels, n_classes, filter ndim) the forest was trained for
        self.engine = TileEngine(cache_bytes)
        self.cache = self.engine.cache
        self._store = LabelStore(self.engine, self.features)
        self.version = 0  # bumped on every label/class/feature change (the widget watches it)
        self.schema = 0  # bumped when classes or features change: a forest trained before is stale
        self._lock = threading.RLock()
        colors = list(colors) if colors is not None else [None] * len(classes)
        if len(colors) != len(classes):
            raise ValueError(f"{len(colors)} colours given for {len(classes)} classes")
        for name, c in zip(classes, colors):
            self.add_class(name, c)

    # ----- classes -------------------------------------------------------------------
    def _class_index(self, name):
        if isinstance(name, (int, np.integer)):
            if not 1 <= name <= len(self.classes):
                raise ValueError(f"class index {name} out of range 1..{len(self.classes)}")
            return int(name)
        try:
            return self.classes.index(name) + 1
        except ValueError:
            raise ValueError(f"no class named {name!r}; classes are {self.classes}") from None

    def add_class(self, name, color=None):
        """Add a class; returns its 1-based label value."""
        name = str(name).strip()
        if not name:
            raise ValueError("a class needs a non-empty name")
        if name in self.classes:
            raise ValueError(f"a class named {name!r} exists already")
        if len(self.classes) >= 255:
            raise ValueError("at most 255 classes")
        if color is None:
            used = set(self.colors)
            color = next((c for c in PALETTE if c not in used), PALETTE[len(self.classes) % len(PALETTE)])
        self.classes.append(name)
        self.colors.append(_check_color(color))
        self._changed()
        return len(self.classes)

    def rename_class(self, old, new):
        """Rename class ``old`` (name or 1-based index) to ``new``; labels keep their meaning."""
        k = self._class_index(old)
        new = str(new).strip()
        if not new:
            raise ValueError("a class needs a non-empty name")
        if new in self.classes and self.classes[k - 1] != new:
            raise ValueError(f"a class named {new!r} exists already")
        self.classes[k - 1] = new
        self.version += 1

    def set_color(self, name, color):
        self.colors[self._class_index(name) - 1] = _check_color(color)
        self.version += 1

    def remove_class(self, name):
        """Remove a class and its labels; higher labels shift down; the forest is dropped."""
        k = self._class_index(name)
        with self._lock:
            for img, lab in zip(self.images, self._labels):
                lab[lab == k] = 0
                lab[lab > k] -= 1
                self._store.mark(img)
            del self.classes[k - 1]
            del self.colors[k - 1]
            self._changed()

    # ----- images and labels -----------------------------------------------------------
    def add_image(self, image_or_path, **load_kwargs):
        """Add an image (Image, channel-last array or path); returns its index.

        A time series adds one image per time point, in order, and returns their indices.
        """
        img = as_image(image_or_path, **load_kwargs)
        if img.n_timepoints > 1:
            return [self.add_image(f) for f in img.frames()]
        if self.images and img.n_channels != self.images[0].n_channels:
            raise ValueError(
                f"image {img.name!r} has {img.n_channels} channels but the project's images have "
                f"{self.images[0].n_channels}"
            )
        if any(im.uid == img.uid for im in self.images):  # labels and caches are kept per image entry
            img = img.renewed()
        with self._lock:
            self.images.append(img)
            self._labels.append(np.zeros(img.shape_spatial, np.uint8))
            self._store.mark(img)
        return len(self.images) - 1

    def _img_index(self, i):
        if not isinstance(i, (int, np.integer)) or not 0 <= i < len(self.images):
            raise IndexError(f"image index {i!r} out of range: the project has {len(self.images)} images")
        return int(i)

    def labels(self, i=0):
        """The label array of image ``i`` (uint8, spatial shape; 0 = unlabeled)."""
        return self._labels[self._img_index(i)]

    def set_labels(self, i, labels):
        """Replace the labels of image ``i``."""
        i = self._img_index(i)
        labels = np.asarray(labels)
        shape = self.images[i].shape_spatial
        if labels.shape != shape:
            raise ValueError(f"labels of shape {labels.shape} do not fit image {i} of spatial shape {shape}")
        if labels.size and (labels.min() < 0 or labels.max() > len(self.classes)):
            raise ValueError(
                f"labels hold values {int(labels.min())}..{int(labels.max())}, but only 0..{len(self.classes)} "
                f"exist (classes {self.classes})"
            )
        with self._lock:
            self._labels[i] = labels.astype(np.uint8)
            self._store.mark(self.images[i])
            self.version += 1

    def paint(self, i, mask, k):
        """Set label ``k`` (1-based; 0 erases) where ``mask`` is true in image ``i``."""
        i = self._img_index(i)
        k = int(k)
        if not 0 <= k <= len(self.classes):
            raise ValueError(f"class {k} does not exist (0 erases, 1..{len(self.classes)} are classes)")
        mask = np.asarray(mask, bool)
        if mask.shape != self._labels[i].shape:
            raise ValueError(f"mask of shape {mask.shape} does not fit image {i} of spatial shape {self._labels[i].shape}")
        with self._lock:
            self._labels[i][mask] = k
            self._store.mark(self.images[i], _bbox(mask))
            self.version += 1

    def paint_pixels(self, i, index, k, region=None):
        """Set label ``k`` at ``index`` (a tuple of coordinate arrays) of image ``i``.

        What a brush does: ``region`` (slices), if given, bounds the change for the
        labeled-feature store; otherwise the bounding box of ``index`` is used.
        """
        i = self._img_index(i)
        k = int(k)
        if not 0 <= k <= len(self.classes):
            raise ValueError(f"class {k} does not exist (0 erases, 1..{len(self.classes)} are classes)")
        with self._lock:
            self._labels[i][index] = k
            if region is None:
                region = tuple(slice(int(np.min(c)), int(np.max(c)) + 1) if np.size(c) else slice(0, 0)
                               for c in index)
            self._store.mark(self.images[i], region)
            self.version += 1

    def labels_changed(self, i, region=None):
        """Tell the project that ``labels(i)`` was edited in place (inside ``region``, slices)."""
        i = self._img_index(i)
        with self._lock:
            self._store.mark(self.images[i], region)
            self.version += 1

    def _changed(self):
        self.version += 1
        self.schema += 1
        self.forest = None
        self._trained = None

    @property
    def features(self):
        """The FeatureSet; assigning one is :meth:`set_features` (store and forest follow)."""
        return self._features

    @features.setter
    def features(self, fs):
        self.set_features(fs)

    def set_features(self, fs):
        """Use a new FeatureSet: the labeled-feature store follows and the forest is dropped."""
        if not isinstance(fs, FeatureSet):
            raise TypeError(f"expected a FeatureSet; got {type(fs).__name__}")
        with self._lock:
            self._features = fs
            self._store = LabelStore(self.engine, fs)
            for img in self.images:
                self._store.mark(img)
            self._changed()

    # ----- features, training, prediction ------------------------------------------------
    def feature_names(self):
        n_ch = self.images[0].n_channels if self.images else 1
        nd = self.features.spatial_ndim(self.images[0].ndim_spatial) if self.images else 2
        return self.features.names(n_ch, nd)

    def features_of(self, x, fs=None):
        """Whole-image feature array ``(..., F)`` of image ``x`` (index, Image, array or path).

        Computed on request and not kept: training, prediction and the app work from tiles
        and never need a whole image's features.
        """
        fs = fs or self.features
        img = self._resolve(x)
        return compute_features(img, fs, ranges=self.engine.ranges(img, fs) if fs.normalize else None)

    def _resolve(self, x):
        if isinstance(x, (int, np.integer)):
            return self.images[self._img_index(x)]
        return as_image(x)

    def store(self, fs=None):
        """The labeled-feature store for ``fs`` (default the project's feature set), in sync."""
        with self._lock:
            if fs is None or fs == self.features:
                st = self._store
            else:
                st = LabelStore(self.engine, fs)
                for img in self.images:
                    st.mark(img)
            st.sync(self.images, self._labels)
        return st

    def _training_data(self, fs=None, with_groups=False):
        with self._lock:
            st = self.store(fs)
            data = st.data(self.images, self._labels, with_groups=with_groups)
        if data is None:
            raise ValueError("no labels yet: paint at least one stroke for each of two classes before training")
        y = data[1]
        present = np.unique(y)
        if present.size < 2:
            raise ValueError(
                f"only class {self.classes[present[0] - 1]!r} is labeled; label at least two classes before training"
            )
        return data

    def train(self, n_estimators=None, preview=0, on_preview=None):
        """Train the forest on the labeled pixels of every image; returns ``self``.

        ``preview=n`` with ``on_preview(forest)`` hands over the first ``n`` trees as soon as
        they are grown (the app draws them while the rest grow); the finished forest is the same
        as without a preview. If ``on_preview`` returns False, training stops there and the
        previous forest stays.
        """
        if not self.images:
            raise ValueError("the project has no images: add_image(...) first")
        with self._lock:  # what the forest is trained for, read with the labels it is trained on
            X, y = self._training_data()
            K, schema = len(self.classes), self.schema
            fnd = self.features.spatial_ndim(self.images[0].ndim_spatial)
            trained = (self.features.key(), self.images[0].n_channels, K, fnd)

        def widen(forest, classes):  # forest columns follow the labeled classes; widen to all
            full = np.zeros((forest.value.shape[0], K), np.float32)
            full[:, classes - 1] = forest.value
            forest.value = full
            return forest

        def preview_cb(f, classes):
            if self.schema != schema:  # a class or the features changed while training: stop
                return False
            return on_preview(widen(f, classes))

        cb = None if on_preview is None else preview_cb
        forest, classes = train_forest(X, y, n_estimators or self.n_estimators, self.random_state,
                                       preview=preview, on_preview=cb)
        if forest is None:
            return self
        forest = widen(forest, classes)
        with self._lock:
            if self.schema != schema:  # trained for classes or features that are gone: never installed
                return self
            self.forest = forest
            self._trained = trained
        return self

    def _check_trained(self):
        if self.forest is None:
            raise ValueError("the classifier is not trained: call train() after labeling")
        if self.forest.n_classes != len(self.classes) or self._trained[0] != self.features.key():
            raise ValueError(f"the classifier was trained for {self.forest.n_classes} classes and other features "
                             f"than the project's {len(self.classes)} classes and {len(self.features)} filters: "
                             "call train() again")

    def predict(self, x, features=None):
        """Class probabilities ``float32 (..., K)`` of image ``x`` (index, Image, array or path)."""
        self._check_trained()
        img = self._resolve(x)
        if img.n_timepoints > 1:  # a time series: every frame, stacked along T
            return np.stack([self.predict(f) for f in img.frames()])
        n_ch = self._trained[1]
        if img.n_channels != n_ch:
            raise ValueError(
                f"image {img.name!r} has {img.n_channels} channels but the classifier was trained on {n_ch}"
            )
        self._check_dims(img.shape_spatial, img.name)
        fs = self.features
        if features is not None:
            fm = _feature_major(features)
            p = self.forest.predict_proba_fm(fm.reshape(fm.shape[0], -1))
            return p.reshape(img.shape_spatial + (p.shape[1],))
        if any(img is im for im in self.images):
            p = self._predict_from_tiles(img)
            if p is not None:
                return p
        return predict_array(img.data, fs, img.spacing, self.forest, self.engine.ranges(img, fs))

    def _predict_from_tiles(self, img):
        """Prediction from kept tiles when every tile of ``img`` is kept (else None)."""
        g = self.engine.grid(img, self.features)
        tiles = g.all_tiles()
        fms = [self.engine.cached(img, self.features, t) for t in tiles]
        if any(fm is None for fm in fms):
            return None
        out = np.empty(img.shape_spatial + (self.forest.n_classes,), np.float32)
        for t, fm in zip(tiles, fms):
            p = self.forest.predict_proba_fm(fm.reshape(fm.shape[0], -1))
            out[g.slices(t)] = p.reshape(fm.shape[1:] + (-1,))
        return out

    def _check_dims(self, shape_spatial, name):
        trained = self._trained[3] if len(self._trained) > 3 else None
        fnd = self.features.spatial_ndim(len(shape_spatial))
        if trained is not None and fnd != trained:
            raise ValueError(
                f"the classifier was trained on {trained}D features, but image {name!r} of spatial shape "
                f"{tuple(shape_spatial)} gives {fnd}D features; train with FeatureSet(mode='2d') to apply a 2D "
                "classifier plane by plane to volumes, or train on volumes"
            )

    def segment(self, x):
        """Argmax class per pixel, uint8, 1-based."""
        return (np.argmax(self.predict(x), axis=-1) + 1).astype(np.uint8)

    def uncertainty(self, x):
        """1 - (largest - second-largest probability), float32 in [0, 1]."""
        return uncertainty_from(self.predict(x))

    # ----- sigma tuning ----------------------------------------------------------------
    def feature_importance(self):
        """Mean decrease in impurity per feature name, largest first."""
        self._check_trained()
        names = self.feature_names()
        order = np.argsort(self.forest.importances)[::-1]
        return {names[j]: float(self.forest.importances[j]) for j in order}

    def cross_validate(self, features=None, folds=5, n_estimators=None):
        """Score a candidate FeatureSet on the current labels without changing the project.

        Labeled pixels are grouped spatially (connected strokes; strokes larger than 32 px
        split into 32-px tiles) and whole groups are held out, so neighbouring pixels of one
        stroke are never in train and test at once.

        Returns
        -------
        dict with ``accuracy`` (mean), ``std``, ``scores`` (per fold), ``balanced_accuracy``,
        ``n_features``, ``feature_seconds`` (time to compute the labeled pixels' features) and
        ``seconds_per_megapixel`` (what the candidate costs per million pixels, measured on a
        tile of the first image: the cost of applying it to whole images).
        """
        from sklearn.model_selection import GroupKFold

        fs = features or self.features
        t0 = time.perf_counter()
        X, y, groups = self._training_data(fs, with_groups=True)
        t_feat = time.perf_counter() - t0
        n_groups = np.unique(groups).size
        folds = min(folds, n_groups)
        if folds < 2:
            raise ValueError("cross-validation needs labels in at least two separate places")
        scores, bal = [], []
        for tr, te in GroupKFold(n_splits=folds).split(X, y, groups):
            if np.unique(y[tr]).size < 2:
                continue
            forest, classes = train_forest(X[tr], y[tr], n_estimators or self.n_estimators, self.random_state)
            pred = classes[np.argmax(forest.predict_proba(X[te]), axis=1)]
            scores.append(float((pred == y[te]).mean()))
            bal.append(float(np.mean([(pred[y[te] == c] == c).mean() for c in np.unique(y[te])])))
        n_ch = self.images[0].n_channels
        img = self.images[0]
        tile = tuple(slice(0, min(n, 256)) for n in img.shape_spatial)
        sample = img.data[tile]
        t0 = time.perf_counter()
        compute_features(sample, fs)
        per_mp = (time.perf_counter() - t0) / (sample[..., 0].size / 1e6)
        return {
            "accuracy": float(np.mean(scores)), "std": float(np.std(scores)), "scores": scores,
            "balanced_accuracy": float(np.mean(bal)),
            "n_features": fs.n_features(n_ch, fs.spatial_ndim(self.images[0].ndim_spatial)),
            "feature_seconds": t_feat, "seconds_per_megapixel": per_mp,
        }

    # ----- export / save ------------------------------------------------------------------
    def export(self, x, path, source="probabilities", dtype=None, renormalize=False, axes=None, class_name=None):
        """Write a result of image ``x`` to ``path`` (.tif/.h5/.npy) atomically; see :func:`export.export_array`."""
        from .export import export_result

        return export_result(self, x, path, source=source, dtype=dtype, renormalize=renormalize,
                             axes=axes, class_name=class_name)

    def save(self, path, images="inline"):
        """Save the whole project into one HDF5 file, atomically.

        ``images="inline"`` stores pixel data; ``images="paths"`` stores only the file paths
        of images that came from files (images without a path are stored inline).
        """
        from .persist import save_project

        return save_project(self, path, images=images)

    @classmethod
    def from_ilastik(cls, path, image_root=None):
        """An untrained Project from an ilastik Pixel Classification ``.ilp`` file.

        Classes, colours, images (stored in the project or found on disk; ``image_root`` says
        where external files are now), labels and the feature selection; lanes with a time axis
        become one image per time point. Retrain with :meth:`train`. Executes no code from the
        file (pickled entries are skipped). See :mod:`jupyter_pixclass.ilastik`.
        """
        from .ilastik import read_ilastik

        return read_ilastik(path, image_root=image_root)

    @classmethod
    def load(cls, path):
        """Load a project saved by :meth:`save`; executes no code from the file."""
        from .persist import load_project

        return load_project(path)

    def __repr__(self):
        state = f"trained ({self.forest.n_trees} trees)" if self.forest is not None else "untrained"
        return f"Project(classes={self.classes}, images={len(self.images)}, features={len(self.features)} pairs, {state})"


def uncertainty_from(prob):
    """ilastik's uncertainty 1 - (p_first - p_second) from probabilities ``(..., K)``."""
    if prob.shape[-1] < 2:
        return np.zeros(prob.shape[:-1], np.float32)
    top2 = np.partition(prob, prob.shape[-1] - 2, axis=-1)[..., -2:]
    return (1.0 - (top2[..., 1] - top2[..., 0])).astype(np.float32)


def _bbox(mask):
    """Slices bounding the true pixels of ``mask`` (empty slices if none)."""
    idx = np.nonzero(mask)
    if idx[0].size == 0:
        return tuple(slice(0, 0) for _ in range(mask.ndim))
    return tuple(slice(int(c.min()), int(c.max()) + 1) for c in idx)
