"""The Project: images, classes, labels, feature set and the trained forest."""
from __future__ import annotations

import os
import threading
import warnings
import weakref

import numpy as np

from ..engine.chunked_labels import labels_for
from ..engine.label_store import LabelStore
from ..engine.tiles import TileEngine
from ..features.compute import compute_features
from ..features.spec import FeatureSet
from ..forest.train import check_class_weight, train_forest
from ..images.checks import check_result_size, unlike
from ..images.read import as_image
from ..outputs.predict import predict_array
from ..outputs.results import uncertainty_from
from .classes import ClassList
from .files import ProjectFiles
from .labeling import Labeling
from .settings import TrainingSettings, check_n_estimators, check_random_state
from .state import ProjectState, TrainedFor

__all__ = ["Project"]


class Project(ClassList, Labeling, TrainingSettings, ProjectFiles):
    """Classes, images with their labels, a feature set and a random forest.

    The class list (:class:`.ClassList`), label editing (:class:`.Labeling`), the training settings
    (:class:`.TrainingSettings`) and the files it came from and writes (:class:`.ProjectFiles`) are
    written in modules of their own; here are the images, features, training and prediction.

    Parameters
    ----------
    classes : list of str
        Class names; label ``k`` (1-based) means ``classes[k-1]``.
    features : FeatureSet, optional
        Default :meth:`FeatureSet.default`.
    colors : list of colour, optional
        One per class (names or hex); default a palette.
    random_state : int
        Seed of the forest: same labels and seed give the same predictions. Changing it, or
        ``n_estimators`` or ``class_weight``, later drops the forest (retrain).
    n_estimators : int
        Trees in the forest, 1 to 10 000 (ilastik uses 100).
    class_weight : {None, "balanced"}
        None: probabilities follow the labels' class proportions. ``"balanced"``: classes weigh
        alike, so a stroke rarely squeezes a class with few labels (priors then equal).
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
                 n_estimators=100, cache_bytes=None, class_weight=None):
        self.classes = []
        self.colors = []
        self._features = features if features is not None else FeatureSet.default()
        if not isinstance(self._features, FeatureSet):
            raise TypeError(f"features must be a FeatureSet; got {type(self._features).__name__}")
        self._random_state = check_random_state(random_state)
        self._n_estimators = check_n_estimators(n_estimators)
        self._class_weight = check_class_weight(class_weight)
        self.images = []
        self._labels = []
        self.forest = None
        self.trained_for = None  # TrainedFor: what the forest was trained for
        self.engine = TileEngine(cache_bytes)
        self._store = LabelStore(self.engine, self.features)
        self.version = 0  # bumped on every label/class/feature change (the widget watches it)
        self.schema = 0  # bumped when classes or features change: a forest trained before is stale
        self.lock = threading.RLock()  # held while labels, classes or features change
        self._said = weakref.WeakSet()  # images warn_if_unlike has looked at
        self.add_classes(classes, colors)

    # ----- images and labels -----------------------------------------------------------
    def add_image(self, image_or_path, **load_kwargs):
        """Add an image (Image, channel-last array or path); returns its index.

        A time series adds one image per time point, in order, and returns their indices.
        """
        img = as_image(image_or_path, **load_kwargs)
        if img.n_timepoints > 1:
            return [self.add_image(f) for f in img.frames()]
        if self.images and img.n_channels != self.images[0].n_channels:
            raise ValueError(f"image {img.name!r} has {img.n_channels} channels but the project's images have "
                             f"{self.images[0].n_channels}")
        self.warn_if_unlike(img)  # one forest learns from both
        self.features.check_images(self.images + [img])
        if any(im.uid == img.uid for im in self.images):  # labels and caches are kept per image entry
            img = img.renewed()
        with self.lock:
            self.images.append(img)
            self._labels.append(labels_for(img))
            self._store.mark(img)
        return len(self.images) - 1

    def image_index(self, i):
        """``i`` as an index into :attr:`images`, checked."""
        if not isinstance(i, (int, np.integer)) or not 0 <= i < len(self.images):
            raise IndexError(f"image index {i!r} out of range: the project has {len(self.images)} images")
        return int(i)

    def _changed(self):
        self.version += 1
        self.schema += 1
        self.forest = None
        self.trained_for = None

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
        fs.check_images(self.images)
        with self.lock:
            self._features = fs
            self._store = LabelStore(self.engine, fs)
            for img in self.images:
                self._store.mark(img)
            self._changed()

    # ----- features, training, prediction ------------------------------------------------
    def feature_names(self):
        """Readable names of the features, in the order the forest sees them."""
        n_ch = self.images[0].n_channels if self.images else 1
        nd = self.features.spatial_ndim(self.images[0].ndim_spatial) if self.images else 2
        return self.features.names(n_ch, nd)

    def features_of(self, x, fs=None):
        """Whole-image feature array ``(..., F)`` of image ``x`` (index, Image, array or path).

        Computed on request and not kept: training, prediction and the app work from tiles
        and never need a whole image's features.
        """
        fs = fs or self.features
        img = self.resolve_image(x)
        return compute_features(img, fs, ranges=self.engine.ranges(img, fs) if fs.normalize else None)

    def resolve_image(self, x):
        """The :class:`.Image` that ``x`` names: an index into :attr:`images`, an Image, an array or a path."""
        if isinstance(x, (int, np.integer)):
            return self.images[self.image_index(x)]
        img = as_image(x)
        if not any(img is im for im in self.images):  # predicted or exported by a forest of the project's images
            self.warn_if_unlike(img, 3)
        return img

    def warn_if_unlike(self, img, stacklevel=2):
        """Warn once per image when ``img`` is unlike the project's first (:func:`.unlike`): one forest reads both."""
        if img not in self._said:
            self._said.add(img)
            for said in unlike(self.images[0], img, bool(self.features.normalize)) if self.images else []:
                warnings.warn(f"image {img.path or img.name!r}: {said}", UserWarning, stacklevel=stacklevel + 1)

    def store(self, fs=None):
        """The labeled-feature store for ``fs`` (default the project's feature set), in sync."""
        with self.lock:
            if fs is None or fs == self.features:
                st = self._store
            else:
                st = LabelStore(self.engine, fs)
                for img in self.images:
                    st.mark(img)
            st.sync(self.images, self._labels)
        return st

    def training_data(self, fs=None, with_groups=False, lazy=False, with_keys=False):
        """``(X, y)`` of every labeled pixel for ``fs`` (spatial groups with ``with_groups``, keys with ``with_keys``).

        ``lazy``: X is a :class:`.LabeledRows`, copied as rows are taken. Beyond the store's budget, a sample
        of each class (:class:`.LabelStore`). Raises a ValueError when fewer than two classes are labeled."""
        with self.lock:
            st = self.store(fs)
            data = st.data(self.images, self._labels, with_groups=with_groups, lazy=lazy, with_keys=with_keys)
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
        with self.lock:  # what the forest is trained for, read with the labels it is trained on
            X, y, keys = self.training_data(lazy=True, with_keys=True)  # rows copied as taken; drawn by key
            counts = self._store.class_counts  # every label's class, where the store keeps a sample
            K, schema = len(self.classes), self.schema
            fnd = self.features.spatial_ndim(self.images[0].ndim_spatial)
            trained = TrainedFor(self.features.key(), self.images[0].n_channels, K, fnd)

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
                                       preview=preview, on_preview=cb, class_weight=self.class_weight,
                                       class_counts=counts, keys=keys)
        if forest is None:
            return self
        forest = widen(forest, classes)
        with self.lock:
            if self.schema != schema:  # trained for classes or features that are gone: never installed
                return self
            self.forest = forest
            self.trained_for = trained
        return self

    def check_trained(self):
        """Raise a ValueError unless the forest is trained for the current classes and features."""
        if self.forest is None:
            raise ValueError("the classifier is not trained: call train() after labeling")
        if self.forest.n_classes != len(self.classes) or self.trained_for.features_key != self.features.key():
            raise ValueError(f"the classifier was trained for {self.forest.n_classes} classes and other features "
                             f"than the project's {len(self.classes)} classes and {len(self.features)} filters: "
                             "call train() again")

    def predict(self, x, features=None):
        """Class probabilities ``float32 (..., K)`` of image ``x`` (index, Image, array or path)."""
        self.check_trained()
        img = self.resolve_image(x)
        check_result_size(img.data.shape[:-1] + (self.forest.n_classes,), np.float32, "the probabilities", img.name)
        if img.n_timepoints > 1:  # a time series: every frame, stacked along T
            return np.stack([self.predict(f) for f in img.frames()])
        self.check_input(img.n_channels, img.shape_spatial, img.name)
        fs = self.features
        if features is not None:
            fm = np.ascontiguousarray(np.moveaxis(features, -1, 0))  # a view of channel-last features: no copy
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

    def check_input(self, n_channels, shape_spatial, name):
        """Raise a ValueError naming ``name`` unless the trained forest applies to an image of
        ``n_channels`` channels and spatial shape ``shape_spatial``."""
        self.check_trained()
        n_ch = self.trained_for.n_channels
        if n_channels != n_ch:
            raise ValueError(f"image {name!r} has {n_channels} channels but the classifier was trained on {n_ch}")
        trained = self.trained_for.ndim
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

    def feature_importance(self):
        """Mean decrease in impurity per feature name, largest first."""
        self.check_trained()
        names = self.feature_names()
        order = np.argsort(self.forest.importances)[::-1]
        return {names[j]: float(self.forest.importances[j]) for j in order}

    def cross_validate(self, features=None, folds=5, n_estimators=None):
        """Score a candidate FeatureSet on the current labels; see :func:`.tuning.cross_validate`."""
        from .tuning import cross_validate

        return cross_validate(self, features, folds, n_estimators)

    # ----- files: export and save are in files.ProjectFiles ------------------------------
    def state(self):
        """The project as a plain :class:`.ProjectState` (its arrays are the project's own, not copies)."""
        with self.lock:
            return ProjectState(list(self.classes), list(self.colors), self.features,
                                list(zip(self.images, self._labels)), self.random_state, self.n_estimators,
                                self.forest, self.trained_for, class_weight=self.class_weight)

    @classmethod
    def from_state(cls, state):
        """A Project assembled from a :class:`.ProjectState`: classes, images with their labels, a forest."""
        p = cls(state.classes, features=state.features, colors=state.colors, random_state=state.random_state,
                n_estimators=state.n_estimators, class_weight=state.class_weight)
        for img, lab in state.images:
            idx = p.add_image(img)
            for i, lt in zip(*((idx, lab) if isinstance(idx, list) else ([idx], [lab]))):
                p.set_labels(i, lt, copy=False)  # the state's own arrays: no second copy of a volume's labels
        if state.forest is not None:
            p.forest, p.trained_for = state.forest, state.trained
        return p

    @classmethod
    def from_ilastik(cls, path, image_root=None):
        """An untrained Project from an ilastik Pixel Classification ``.ilp`` file.

        Classes, colours, images (stored in the project or found on disk; ``image_root`` says
        where external files are now), labels and the feature selection (the default grid, with a
        warning, when none is selected); lanes with a time axis become one image per time point.
        Retrain with :meth:`train`. Executes no code from the file (pickled entries are skipped).

        Raises
        ------
        FileNotFoundError
            The project is missing, or image data is: one error lists every missing path.
        ValueError
            Not an HDF5 file, not a Pixel Classification project, damaged, or a layout we do not
            understand; the message names the file and what is wrong.
        """
        from .ilastik import read_ilastik_state

        state = read_ilastik_state(path, image_root=image_root)
        for w in state.warnings:
            warnings.warn(f"{os.fspath(path)!r}: {w}", stacklevel=2)
        p = _assembled(state, path)
        p.ilastik_path = os.fspath(path)  # another tool's file: never written to
        return p

    @classmethod
    def load(cls, path, image_root=None):
        """Load a project saved by :meth:`save`; executes no code from the file.

        Images kept as paths are found relative to the project's folder, at their absolute path, or
        by name under ``image_root`` (where the files are now); one error lists every one missing.
        """
        from .format import read_project

        p = _assembled(read_project(path, image_root=image_root), path)
        p.path = os.fspath(path)
        return p

    def __repr__(self):
        state = f"trained ({self.forest.n_trees} trees)" if self.forest is not None else "untrained"
        return f"Project(classes={self.classes}, images={len(self.images)}, features={len(self.features)} pairs, {state})"


def _assembled(state, path):
    """``Project.from_state(state)``; an error names the file the state came from."""
    try:
        return Project.from_state(state)
    except ValueError as e:
        raise ValueError(f"{os.fspath(path)!r}: {e}") from None
