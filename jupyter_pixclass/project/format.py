"""The project file: one HDF5 file of plain arrays and JSON (never pickle), written and read as a ProjectState."""
from __future__ import annotations

import json
import os

import numpy as np

from ..engine.chunked_labels import ChunkedLabels
from ..features.spec import FeatureSet
from ..forest.model import Forest
from ..forest.train import check_class_weight
from ..images.atomic import atomic_write, check_not_input
from ..images.checks import check_dtype, check_read_size
from ..images.image import Image
from ..images.paths import split_inner
from ..images.formats import open_hdf5_file
from ..images.read import load_image
from .classes import MAX_NAME
from .image_files import file_axes_of, find_image_file, frame_of, open_saved_stack, stored_files, stored_path
from .settings import check_n_estimators, check_random_state
from .state import ProjectState, TrainedFor

__all__ = ["FORMAT", "FORMAT_VERSION", "save_project", "read_project"]

FORMAT = "jupyter-pixclass project"
FORMAT_VERSION = 2
# version 2 adds scales filtered in 2D (``in_2d`` in the feature set); a file without them is written as version 1,
# which earlier versions read: one that has them they would filter in 3D, silently, so they refuse it
# every dataset compressed and checksummed (HDF5's Fletcher-32 filter): a flipped bit in a forest's
# thresholds or feature numbers would still be a valid forest that predicts garbage; with the
# checksum, reading it fails and says so (files written before it load as they are)
MAX_JSON = 1 << 20  # characters of one JSON attribute
STORED = {"compression": "gzip", "compression_opts": 1, "fletcher32": True}


def save_project(state, path, images="inline"):
    """Write ``state`` (a :class:`ProjectState`) to ``path`` atomically; returns the path.

    ``images="inline"`` stores pixel data; ``"paths"`` only the paths of images read from files
    by :func:`.load_image` (others are stored inline); a lazy image is always kept as its path.
    """
    import h5py

    if images not in ("inline", "paths"):
        raise ValueError(f"images must be 'inline' or 'paths'; got {images!r}")
    path = os.fspath(path)
    inputs = [im.path for im, _ in state.images] + [f for im, _ in state.images for f in im.files or ()]
    check_not_input(path, inputs, "project path")
    for i, (im, _) in enumerate(state.images):  # kept as a path, or not at all: refused before a byte is written
        if im.lazy and im.path is None and not im.files:
            raise ValueError(f"image {i} ({im.name!r}, {im.shape}) is an array read as needed (dask, zarr) with no file "
                             "the project could name: write it to a file first (e.g. its_array.to_zarr('x.zarr'), "
                             "or pc.io.write_array) and add pc.load_image('x.zarr') instead")
    check_class_weight(state.class_weight)  # before writing: a file its own loader would refuse is lost work
    with atomic_write(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION if state.features.in_2d else 1
            meta = {
                "classes": state.classes, "colors": state.colors,
                "features": state.features.to_dict(), "random_state": state.random_state,
                "n_estimators": state.n_estimators, "class_weight": state.class_weight,
            }
            f.attrs["meta"] = json.dumps(meta)
            g = f.create_group("images")
            for i, (img, lab) in enumerate(state.images):
                gi = g.create_group(str(i))
                gi.attrs["meta"] = json.dumps({
                    "name": img.name, "axes": img.axes, "spacing": list(img.spacing),
                    "channel_names": img.channel_names, "lazy": img.lazy, **stored_path(img.path, path),
                    **stored_files(img.files if img.lazy else None, path),
                    "file_axes": img.file_axes, "frame": list(img.series[1:]) if img.series else None,
                })
                # a lazy image: its path, never a copy; "paths" keeps the path of an image read from its file as it
                # is (load_image gave file_axes), not of pixels derived from it (preprocess, an .ilp lane's order)
                if not img.lazy and (images == "inline" or img.path is None or img.file_axes is None):
                    gi.create_dataset("data", data=img.data, **STORED)
                _write_labels(gi, lab)
            if state.forest is not None:
                fg = f.create_group("forest")
                for k, v in state.forest.to_arrays().items():
                    fg.create_dataset(k, data=v, **STORED)
                tr = state.trained
                fg.attrs["n_features"] = state.forest.n_features
                fg.attrs["trained"] = json.dumps({"n_channels": tr.n_channels, "n_classes": tr.n_classes,
                                                  "ndim": tr.ndim, "features": state.features.to_dict()})
    return path


def _write_labels(g, lab):
    """Labels as a gzip dataset; chunked labels as a chunked dataset holding only their painted chunks."""
    if not isinstance(lab, ChunkedLabels):
        g.create_dataset("labels", data=lab, **STORED)
        return
    # HDF5 refuses a chunk larger than the data: a lazy image narrower than a chunk (a strip, a few planes)
    chunks = tuple(min(c, n) for c, n in zip(lab.chunk, lab.shape))
    d = g.create_dataset("labels", shape=lab.shape, dtype=np.uint8, chunks=chunks, fillvalue=0, **STORED)
    for box in lab.chunk_slices():
        d[box] = lab[box]


def _read_labels(g, path, shape, lazy):
    """The labels of an image: an array, or for a lazy image :class:`.ChunkedLabels` read chunk by chunk."""
    if not lazy:
        return _array(g, "labels", path, "iu", shape=shape)
    if "labels" not in g or not hasattr(g["labels"], "shape"):
        raise ValueError(f"{path!r}: {g.name}/labels is missing")
    ds = g["labels"]
    check_dtype(ds.dtype, f"{path!r} dataset {ds.name!r}")
    if ds.dtype.kind not in "iu" or tuple(ds.shape) != tuple(shape):
        raise ValueError(f"{path!r}: {ds.name} ({ds.dtype}, shape {ds.shape}) does not fit the image's {tuple(shape)}")
    if ds.chunks is None:
        check_read_size(ds.shape, ds.dtype, ds.name, path)
        return ChunkedLabels.from_dense(np.asarray(_checked_read(ds, ..., path), np.uint8))
    out = ChunkedLabels(shape, ds.chunks)
    for j in range(ds.id.get_num_chunks()):  # only the chunks written
        off = ds.id.get_chunk_info(j).chunk_offset
        box = tuple(slice(o, min(o + c, n)) for o, c, n in zip(off, ds.chunks, shape))
        out[box] = _checked_read(ds, box, path)
    return out


def _array(g, key, path, kinds="biuf", shape=None):
    """``g[key]`` read after its kind, dtype and (if given) shape are checked."""
    if key not in g:
        raise ValueError(f"{path!r}: {g.name}/{key} is missing")
    ds = g[key]
    if not hasattr(ds, "shape"):
        raise ValueError(f"{path!r}: {ds.name} should be a dataset but is a group")
    check_dtype(ds.dtype, f"{path!r} dataset {ds.name!r}")
    if ds.dtype.kind not in kinds:
        raise ValueError(f"{path!r}: {ds.name} has dtype {ds.dtype}; expected {kinds!r} kinds")
    if shape is not None and tuple(ds.shape) != tuple(shape):
        raise ValueError(f"{path!r}: {ds.name} of shape {ds.shape} does not fit the expected {tuple(shape)}")
    return _checked_read(ds, ..., path)


def _checked_read(ds, box, path):
    """``ds[box]``; a failed checksum or decompression becomes an error naming the file and dataset."""
    try:
        return ds[box]
    except OSError as e:
        raise ValueError(f"{path!r}: {ds.name} cannot be read: its checksum or compression fails, so the file was "
                         f"damaged after it was written ({e})") from None


def _json(attrs, key, path, where, kind=dict):
    """The JSON ``kind`` in attribute ``key`` of ``where``, checked."""
    if key not in attrs:
        raise ValueError(f"{path!r}: the attribute {key!r} of {where} is missing")
    raw = attrs[key]
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        raise ValueError(f"{path!r}: the attribute {key!r} of {where} should be JSON text; got {type(raw).__name__}")
    if len(raw) > MAX_JSON:  # what we write is a few kB: more is damage, kept out of the parser and the app
        raise ValueError(f"{path!r}: the attribute {key!r} of {where} is {len(raw)} characters of JSON; at most "
                         f"{MAX_JSON} are read")
    try:
        v = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path!r}: the attribute {key!r} of {where} is not JSON ({e})") from None
    except RecursionError:  # nested deeper than the parser's stack: nothing we wrote
        raise ValueError(f"{path!r}: the attribute {key!r} of {where} is JSON nested too deeply") from None
    if not isinstance(v, kind):
        raise ValueError(f"{path!r}: the attribute {key!r} of {where} should be a JSON {kind.__name__}")
    return v


def read_project(path, image_root=None):
    """The :class:`ProjectState` of a file written by :func:`save_project`; every entry is checked first.

    An image kept as a path is looked for relative to the project's folder (the project moved with
    its data), at its absolute path, then under ``image_root`` and the project's folder by name
    (:func:`.find_file`); images found nowhere raise one FileNotFoundError listing each and where it
    was looked for.

    Nothing is executed (no pickle, no object arrays); shapes are checked against the image they
    belong to before they are read; the forest is validated as a whole and must match the saved
    classes, channels and feature set; the metadata's entries are checked for type and range, and
    datasets written with a checksum are verified as they are read. Every error names the file.
    """
    try:
        return _read(os.fspath(path), image_root)
    except MemoryError:
        raise ValueError(f"{os.fspath(path)!r}: not enough memory to read what the project declares") from None


def _read(path, image_root):
    missing, forest, trained = [], None, None
    with open_hdf5_file(path, "project file") as f:
        fmt = f.attrs.get("format")  # anything at all: an array would not compare as one value
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8", "replace")
        if not isinstance(fmt, str) or fmt != FORMAT:
            raise ValueError(f"{path!r} is an HDF5 file but not a jupyter-pixclass project")
        try:
            ver = int(f.attrs.get("format_version", -1))
        except (TypeError, ValueError):
            raise ValueError(f"{path!r}: format_version {f.attrs.get('format_version')!r} is not a number") from None
        if ver > FORMAT_VERSION:
            raise ValueError(
                f"{path!r} was saved in project format {ver}, newer than this version reads "
                f"({FORMAT_VERSION}): upgrade jupyter-pixclass"
            )
        try:
            meta = _meta(_json(f.attrs, "meta", path, "the file"), path)
            classes, colors = meta["classes"], meta["colors"]
            features = FeatureSet.from_dict(meta["features"])
            if "images" not in f or hasattr(f["images"], "shape"):
                raise ValueError(f"{path!r}: the group 'images' is missing")
            keys = list(f["images"])
            if any(not k.isdigit() or len(k) > 6 for k in keys):
                raise ValueError(f"{path!r}: images are named {keys[:5]}; expected 0, 1, 2, ...")
            opened = {}  # a series file read once for all its frames
            images = [_image(f["images"][i], i, path, image_root, missing, opened) for i in sorted(keys, key=int)]
            if not missing and "forest" in f:
                forest, trained = _forest(f["forest"], images, classes, features, path)
        except (KeyError, OSError, TypeError, IndexError, AttributeError) as e:
            raise ValueError(f"{path!r} is damaged or incomplete: {type(e).__name__}: {e}") from e
        except ValueError as e:
            if path in str(e):
                raise
            raise ValueError(f"{path!r} is damaged: {e}") from e
    if missing:
        where = f"image_root={os.fspath(image_root)!r}" if image_root else "image_root (not given)"
        raise FileNotFoundError(f"{path!r}: the file of {len(missing)} image(s) was not found; pass image_root= "
                                f"(--image-root) to say where the files are now ({where}):\n  " + "\n  ".join(missing))
    class_weight = check_class_weight(meta.get("class_weight"), f"{path!r}: class_weight")
    return ProjectState(classes, colors, features, images, meta["random_state"], meta["n_estimators"],
                        forest, trained, source=FORMAT, class_weight=class_weight)


def _meta(meta, path):
    """The file's ``meta``, each entry checked: a wrong type or value gets an error naming it."""
    def bad(what, v):
        raise ValueError(f"{path!r}: meta {what}; got {str(v)[:80]!r}")

    for key in ("classes", "features"):
        if key not in meta:
            raise ValueError(f"{path!r}: meta has no {key!r}")
    classes = meta["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes) or len(classes) > 255:
        bad("'classes' should be a list of at most 255 names", classes)
    if any(len(c) > MAX_NAME for c in classes):
        bad(f"'classes' should be names of at most {MAX_NAME} characters", max(classes, key=len))
    colors = meta.get("colors")
    if colors is not None and (not isinstance(colors, list) or len(colors) != len(classes)
                               or not all(c is None or isinstance(c, str) for c in colors)):
        bad(f"'colors' should be null or {len(classes)} colour names, one per class", colors)
    if not isinstance(meta["features"], dict):
        bad("'features' should be a JSON object (a feature set)", meta["features"])
    # the Project's own checks, naming the file (JSON gives ints, floats, strings, lists and null)
    rs = check_random_state(meta.get("random_state", 0), f"{path!r}: meta 'random_state'")
    n = check_n_estimators(meta.get("n_estimators", 100), f"{path!r}: meta 'n_estimators'")
    return dict(meta, colors=colors, random_state=rs, n_estimators=n)


def _image(gi, i, path, image_root, missing, opened):
    """``(Image, labels)`` of ``images/i``: pixels stored inline, or read from the path stored.

    An image whose file is found nowhere is added to ``missing`` and gives None.
    """
    im = _json(gi.attrs, "meta", path, f"images/{i}")
    if "data" in gi:
        data = gi["data"]
        if not hasattr(data, "shape"):
            raise ValueError(f"{path!r}: images/{i}/data should be a dataset")
        check_dtype(data.dtype, f"{path!r} dataset images/{i}/data")
        check_read_size(data.shape, data.dtype, f"images/{i}/data", path)
        img = Image(_checked_read(data, ..., path), axes=im["axes"], name=im["name"], spacing=im["spacing"],
                    path=im["path"], channel_names=im["channel_names"])
    elif "files" in im:  # a volume kept as the files of its planes
        img = open_saved_stack(im, i, path, image_root, missing)
        if img is None:
            return None
        img.name = str(im["name"])
        names, sp = im.get("channel_names"), im.get("spacing")  # as saved: the files may not say
        if isinstance(names, list) and len(names) == img.n_channels and all(isinstance(n, str) for n in names):
            img.channel_names = [n[:MAX_NAME] for n in names]
        if isinstance(sp, list) and len(sp) == img.ndim_spatial and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf") for v in sp):
            img.spacing = tuple(float(v) for v in sp)
    else:
        if not isinstance(im.get("path"), str):
            raise ValueError(f"{path!r}: images/{i} holds neither pixels nor a path")
        found = find_image_file(im, path, image_root)
        if found.path is None:
            missing.append(f"images/{i} {str(im.get('name'))[:80]!r}: {im['path']} (looked for "
                           f"{', '.join(found.tried)})")
            return None
        if os.path.exists(split_inner(found.path)[0]) and os.path.samefile(split_inner(found.path)[0], path):
            raise ValueError(f"{path!r}: images/{i} points back at the project file itself")
        axes, frame = file_axes_of(im, i, path), frame_of(im, i, path)
        key = (found.path, axes, im.get("lazy") is True)
        if key not in opened:
            opened[key] = load_image(found.path, axes=axes, lazy=True if key[2] else None)
        img = opened[key]
        if frame is not None:  # one time point of a series file
            if img.n_timepoints != frame[1]:
                raise ValueError(f"{path!r}: images/{i} is frame {frame[0]} of {frame[1]}, but {found.path!r} "
                                 f"now holds {img.n_timepoints} time point(s)")
            img = img.frames()[frame[0]]
        else:
            img = img.renewed()  # the same file kept twice: two entries, each with its own name
        img.name = str(im["name"])
    if img.n_timepoints > 1:
        raise ValueError(f"{path!r}: images/{i} is a time series; a project holds one image per frame")
    return img, _read_labels(gi, path, img.shape_spatial, img.lazy)


def _forest(fg, images, classes, features, path):
    """``(Forest, TrainedFor)`` from the group ``forest``, checked against the images, classes and features."""
    if hasattr(fg, "shape"):
        raise ValueError(f"{path!r}: 'forest' should be a group")
    tr = _json(fg.attrs, "trained", path, "forest")
    try:
        n_features = int(fg.attrs["n_features"])
        n_ch, n_cls = int(tr["n_channels"]), int(tr["n_classes"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path!r}: forest attributes n_features / trained are missing or not numbers") from None
    if not images:
        raise ValueError(f"{path!r}: a forest is stored but no image")
    if n_ch != images[0][0].n_channels:
        raise ValueError(f"{path!r}: the forest was trained on {n_ch} channels; the images have "
                         f"{images[0][0].n_channels}")
    fnd = features.spatial_ndim(images[0][0].ndim_spatial)
    want = features.n_features(n_ch, fnd)
    if n_features != want:
        raise ValueError(f"{path!r}: the forest expects {n_features} features, the saved feature set gives {want}")
    if "features" in tr and FeatureSet.from_dict(tr["features"]) != features:
        raise ValueError(f"{path!r}: the forest was trained on another feature set than the one saved "
                         "(the file was edited after training)")
    if n_cls != len(classes):
        raise ValueError(f"{path!r}: the forest was trained for {n_cls} classes; the project has {len(classes)}")
    arrays = {k: _array(fg, k, path, "iuf" if k in ("threshold", "value", "importances") else "iu")
              for k in Forest.ARRAYS}
    if arrays["value"].ndim != 2 or arrays["value"].shape[1] != len(classes):
        raise ValueError(f"{path!r}: forest/value of shape {arrays['value'].shape} does not have one column per "
                         f"class ({len(classes)})")
    try:
        forest = Forest.from_arrays(arrays, n_features)
    except ValueError as e:
        raise ValueError(f"{path!r}: {e}") from e
    ndim = tr.get("ndim")
    if ndim is not None and (isinstance(ndim, bool) or ndim not in (2, 3)):
        raise ValueError(f"{path!r}: the forest's filter dimensions (ndim) should be 2, 3 or null; got "
                         f"{str(ndim)[:40]!r}")
    return forest, TrainedFor(features.key(), n_ch, n_cls, ndim)
