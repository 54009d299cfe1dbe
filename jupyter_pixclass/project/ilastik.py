"""Opening ilastik Pixel Classification projects (``.ilp``): classes, images, labels, features.

An ``.ilp`` file is HDF5. What is read (ilastik's ``OpDataSelection`` and labeling
serializers are the reference for the layout):

- ``PixelClassification/LabelNames`` and ``LabelColors`` (RGB 0-255): the classes;
- ``Input Data/infos/laneNNNN/Raw Data``: each lane's image, ``location`` ``ProjectInternal``
  (the array is ``Input Data/local_data/<datasetId>``) or ``FileSystem`` (``filePath``, often
  ``file.h5/inner/path``, relative to the project's folder; several files joined by the path
  separator, or a glob pattern, for a stack: :mod:`.ilastik_stacks`), its axes from the JSON in
  ``axistags`` or the older ``axisorder`` string;
- ``PixelClassification/LabelSets/labelsNNN/blockNNNN``: label blocks of lane NNN, each placed by
  its ``blockSlice`` attribute (``"[329:396,288:494,0:1]"``, in the lane's axis order); 0 is
  unlabeled;
- ``FeatureSelections/FeatureIds``, ``Scales``, ``SelectionMatrix`` (families x scales) and
  ``ComputeIn2d``: the feature set.

The project comes back untrained: ilastik's forest was trained on vigra's filters, ours on our
own, so it is retrained from the imported labels. Nothing is unpickled: entries ilastik pickles
(``ClassifierFactory``, ``Bookmarks``, ...) are never read.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

from ..features.spec import MAX_SIGMA, FeatureSet
from ..images.checks import check_dtype, check_read_size
from ..images.image import Image, guess_axes
from ..images.paths import find_file, split_inner
from ..images.formats import axes_from_attrs, open_hdf5_file
from ..images.lazy import LazyArray
from ..images.read import open_lazily, too_big_to_hold
from .ilastik_entries import chunked_labels_of, first_of, labels_of, labels_to_ours, strings, text
from .ilastik_stacks import MAX_STACK_FILES, find_stack_files, is_stack, open_big_stack, read_stack
from .ilastik_urls import level_path, parse_lane_url
from .classes import check_class_name
from .state import ProjectState

__all__ = ["read_ilastik_state", "FEATURE_IDS"]

FEATURE_IDS = {
    "GaussianSmoothing": "gaussian",
    "LaplacianOfGaussian": "log",
    "GaussianGradientMagnitude": "gradient_magnitude",
    "DifferenceOfGaussians": "dog",
    "StructureTensorEigenvalues": "structure_tensor_eigenvalues",
    "HessianOfGaussianEigenvalues": "hessian_eigenvalues",
}


def _lane_axes(info, path, lane):
    if "axistags" in info:
        try:
            tags = json.loads(text(info["axistags"], path, f"the axistags of {lane}"))
            axes = "".join(a["key"] for a in tags["axes"]).upper()
        except (ValueError, KeyError, TypeError, RecursionError) as e:  # RecursionError: JSON nested too deep
            raise ValueError(f"{path!r}: the axistags of {lane} are not ilastik's JSON ({e})") from None
    elif "axisorder" in info:
        axes = text(info["axisorder"], path, f"the axisorder of {lane}").upper()
    else:
        return None
    if not axes or len(set(axes)) != len(axes) or not set(axes) <= set("TZYXC"):
        raise ValueError(f"{path!r}: {lane} has axes {axes[:20]!r}; expected distinct letters of 'tzyxc'")
    return axes


_LOCATIONS = {  # ilastik's DatasetInfo classes (``__class__``, 1.3.3 on) -> where the pixels are
    "ProjectInternalDatasetInfo": "ProjectInternal",
    "FilesystemDatasetInfo": "FileSystem",
    "RelativeFilesystemDatasetInfo": "FileSystem",
    "MultiscaleUrlDatasetInfo": "Url",  # an OME-Zarr image by URL (ilastik 1.4.1)
}


def _location(info, lane, path):
    if "__class__" in info:
        cls = text(info["__class__"], path, f"the __class__ of {lane}")
        if cls not in _LOCATIONS:
            raise ValueError(f"{path!r}: {lane} is a {cls}, which we cannot open (we read "
                             f"{', '.join(sorted(_LOCATIONS))})")
        return _LOCATIONS[cls]
    if "location" in info:
        loc = text(info["location"], path, f"the location of {lane}")
        if loc not in ("ProjectInternal", "FileSystem"):
            raise ValueError(f"{path!r}: {lane} has location {loc!r}; we read 'ProjectInternal' and 'FileSystem'")
        return loc
    return "FileSystem"


def _lane_image(f, info, lane, path, ilp_dir, image_root, missing):
    """The lane's image in ilastik's axis order (numpy array), its axes letters, name and source."""
    location = _location(info, lane, path)
    axes = _lane_axes(info, path, lane)
    name = text(info["nickname"], path, f"the nickname of {lane}") if "nickname" in info else lane
    if location == "ProjectInternal":
        if "datasetId" not in info:
            raise ValueError(f"{path!r}: {lane} is stored in the project but names no datasetId")
        did = text(info["datasetId"], path, f"the datasetId of {lane}")
        key = f"Input Data/local_data/{did}"
        if key not in f:  # image_root cannot help here: the project file itself lacks the pixels
            raise ValueError(f"{path!r}: {lane} is stored in the project as {key!r}, which the file does not hold")
        ds = f[key]
        if not hasattr(ds, "shape"):
            raise ValueError(f"{path!r}: {key} should be a dataset but is a group")
        check_dtype(ds.dtype, f"{path!r} dataset {key!r}")
        check_read_size(ds.shape, ds.dtype, f"the image of {lane} ({key})", path)
        data = np.asarray(ds[()])
        if axes is None:
            axes = axes_from_attrs(dict(ds.attrs), f"{path!r} dataset {key!r}")
        return data, axes, name, None
    if location == "Url":
        found = _url_lane(info, lane, path, [image_root, ilp_dir], missing)
        return None if found is None else _file_lane(found, axes, name, path)
    if "filePath" not in info:
        raise ValueError(f"{path!r}: {lane} has no 'filePath' and is not stored in the project")
    # a stack's filePath names every file: thousands of planes of a light-sheet volume
    file_path = text(info["filePath"], path, f"the filePath of {lane}", limit=MAX_STACK_FILES * 256)
    if is_stack(file_path) and not os.path.exists(file_path):
        return _stack_lane(file_path, axes, name, lane, path, [image_root, ilp_dir], missing)
    found, tried = find_file(file_path, [image_root, ilp_dir])
    if found is None:
        missing.append(f"{file_path} (looked for {', '.join(tried)})")
        return None
    if os.path.samefile(split_inner(found)[0], path):
        raise ValueError(f"{path!r}: {lane} points back at the project file itself ({file_path!r})")
    return _file_lane(found, axes, name, path)


def _url_lane(info, lane, path, bases, missing):
    """Where a URL lane's level is on disk (``store.zarr/level``), or None (noted in ``missing``)."""
    url = text(info["url"] if "url" in info else info["filePath"], path, f"the url of {lane}")
    try:
        where = parse_lane_url(url)
    except ValueError as e:
        raise ValueError(f"{path!r}: {lane}: {e}") from None
    # a web address is not fetched (nothing here reaches a network): its store is looked for by name
    found, tried = find_file(os.path.basename(where.store) if where.remote else where.store, bases)
    if found is None:
        missing.append(f"{url} (" + ("a web address, not fetched: download the store and pass image_root; "
                                     if where.remote else "") + f"looked for {', '.join(tried)})")
        return None
    ws = info.get("working_scale")
    if ws is not None and hasattr(ws, "dtype") and ws.dtype.kind in "iu" and ws.shape == () and ws[()] == 0:
        ws = ""  # ilastik 1.4.1b13 wrote the level as a number, 0 for the default
    ws = "" if ws is None else text(ws, path, f"the working_scale of {lane}")
    try:
        return f"{found}/{level_path(found, where.scale, ws)}"
    except ValueError as e:
        raise ValueError(f"{path!r}: {lane}: {e}") from None


def _file_lane(found, axes, name, path):
    """A lane's image file at ``found``: in memory, or left in its file when too big to hold."""
    arr, file_axes, _, close = open_lazily(found)  # nothing read before its size is known
    try:
        if axes is None or len(axes) != arr.ndim:
            axes = file_axes
        ax = (axes or guess_axes(arr.shape)).upper()
        if too_big_to_hold(arr.shape, arr.dtype) and len(ax) == arr.ndim and _one_image(ax, arr.shape):
            # read tile by tile, as ilastik does
            img = Image(LazyArray(arr, ax, keep=close, where=found), name=name, path=found)
            img.file_axes = ax
            close = None  # the image keeps the file open
            return img, ax, name, found
        check_read_size(arr.shape, arr.dtype, f"the image {found!r}", path)
        return np.asarray(arr[...]), axes, name, found  # the file's order: ilastik's axistags describe it
    finally:
        if close is not None:
            close()


def _stack_lane(file_path, axes, name, lane, path, bases, missing):
    """A lane of several files (ilastik's "Add Volume from Stack..."): read whole, or left in its files when too big
    to hold; None when some are missing."""
    try:
        found = find_stack_files(file_path, bases)
    except ValueError as e:
        raise ValueError(f"{path!r}: {lane}: {e}") from None
    if found.missing or not found.files:  # one entry for the lane: its missing files, the first few named
        lost = found.missing or [f"{file_path[:200]} (no files)"]
        missing.append(f"a stack, {len(lost)} of its names not found: " + "; ".join(lost[:3])
                       + (f"; and {len(lost) - 3} more" if len(lost) > 3 else ""))
        return None
    for f in found.files:
        if os.path.samefile(split_inner(f)[0], path):
            raise ValueError(f"{path!r}: {lane} points back at the project file itself ({f!r})")
    where = f"{lane} ({len(found.files)} files from {found.files[0]!r})"
    img = open_big_stack(found.files, axes, f"{where} of {path!r}")
    if img is not None:  # left in its files, which a saved project names
        img.name = name
        return img, (axes or img.file_axes).upper(), name, None
    stack = read_stack(found.files, axes, where, path)
    return stack.data, stack.axes, name, None  # no one file to reopen: a saved project keeps the pixels


def _one_image(axes, shape):
    """Whether a lane of ``axes`` and ``shape`` is one image with its planes as they are (no time points, and
    not ilastik 1.x's 2D image stored with a z axis of one plane): the ones left in their file."""
    return all(shape[axes.index(a)] > 1 for a in "Z" if a in axes) and all(
        shape[axes.index(a)] == 1 for a in "T" if a in axes)


def _feature_set(f, path, is_3d, warn):
    """The selected features, or None when the project selects none (the caller says so); what cannot be kept
    as ilastik had it is added to ``warn``."""
    g = f.get("FeatureSelections")
    if g is None or hasattr(g, "shape") or "SelectionMatrix" not in g or "FeatureIds" not in g or "Scales" not in g:
        return None
    ids = strings(g["FeatureIds"], path, "FeatureSelections/FeatureIds", limit=64)
    sc, sm = g["Scales"], g["SelectionMatrix"]
    if not hasattr(sc, "shape") or sc.dtype.kind not in "iuf" or sc.size > 64:
        raise ValueError(f"{path!r}: FeatureSelections/Scales should be at most 64 numbers")
    scales = np.asarray(sc[()], float).ravel()
    if not np.isfinite(scales).all() or (scales <= 0).any() or (scales > MAX_SIGMA).any():
        raise ValueError(f"{path!r}: FeatureSelections/Scales {scales.tolist()} are not all in (0, {MAX_SIGMA:g}]")
    if not hasattr(sm, "shape") or sm.shape != (len(ids), len(scales)) or sm.dtype.kind not in "biu":
        raise ValueError(f"{path!r}: SelectionMatrix of shape {getattr(sm, 'shape', None)} does not fit "
                         f"{len(ids)} features x {len(scales)} scales")
    sel = np.asarray(sm[()]).astype(bool)
    unknown = [i for i in ids if i not in FEATURE_IDS]
    if unknown:
        raise ValueError(f"{path!r}: unknown features {unknown} in FeatureSelections/FeatureIds; "
                         f"known are {sorted(FEATURE_IDS)}")
    pairs = [(FEATURE_IDS[ids[i]], float(scales[j])) for i, j in zip(*np.nonzero(sel))]
    if not pairs:
        return None
    mode, flat = "auto", ()
    if is_3d and "ComputeIn2d" in g:
        cid = g["ComputeIn2d"]
        if not hasattr(cid, "shape") or cid.dtype.kind not in "biu" or cid.size > 64:  # read only when it is small
            raise ValueError(f"{path!r}: FeatureSelections/ComputeIn2d should be at most 64 flags; got "
                             f"{getattr(cid, 'dtype', type(cid).__name__)} of shape {getattr(cid, 'shape', None)}")
        in2d = np.asarray(cid[()], bool).ravel()
        used = sorted({j for _, j in zip(*np.nonzero(sel))})
        if in2d.size != len(scales):
            warn.append(f"FeatureSelections/ComputeIn2d has {in2d.size} entries for {len(scales)} scales; every "
                        f"scale is filtered in 3D")
        elif in2d[used].all():
            mode = "2d"  # every selected scale plane by plane: the whole set is
        else:  # ilastik ticks "in 2D" where a scale's kernel outgrows a thin volume
            flat = [float(scales[j]) for j in used if in2d[j]]
    return FeatureSet(pairs=pairs, mode=mode, in_2d=flat)


def _is_pixel_classification(f, path):
    # ilastik writes "Pixel Classification" (with a space) from 1.2 on; "Object Classification (from
    # pixel classification)" holds a pixel classification stage in the same groups
    wf = text(f["workflowName"], path, "workflowName") if "workflowName" in f else None
    if "PixelClassification" not in f or hasattr(f["PixelClassification"], "shape"):
        return False, wf
    low = (wf or "").replace(" ", "").lower()
    # Autocontext's first stage is a pixel classification in the same groups (the second is PixelClassification01)
    return wf is None or "pixelclassification" in low or "autocontext" in low, wf


def _lane_infos(f, path):
    """``[(lane name, lane number, the Raw Data info group)]`` in lane order."""
    infos = f["Input Data/infos"]
    if hasattr(infos, "shape"):
        raise ValueError(f"{path!r}: 'Input Data/infos' should be a group of lanes")
    out = []
    for k in infos:
        m = re.fullmatch(r"lane(\d{1,6})", k)
        if m is None:
            continue
        g = infos[k]
        if "Raw Data" in g:
            info = g["Raw Data"]
        elif "location" in g or "filePath" in g:  # before role names, the lane group was the info
            info = g
        else:
            raise ValueError(f"{path!r}: Input Data/infos/{k} has no 'Raw Data' entry")
        if hasattr(info, "shape"):
            raise ValueError(f"{path!r}: Input Data/infos/{k}/Raw Data should be a group")
        out.append((k, int(m.group(1)), info))
    return sorted(out, key=lambda t: t[1])


def _has_role(lane_group, role):
    """Whether a lane sets data for ``role`` (ilastik writes an empty group for a role left unset)."""
    g = lane_group.get(role) if hasattr(lane_group, "keys") else None
    return g is not None and hasattr(g, "keys") and len(g) > 0


def read_ilastik_state(path, image_root=None):
    """What an ilastik Pixel Classification project holds, as plain data (no Project built).

    Returns
    -------
    ProjectState
        ``classes`` (names), ``colors`` (hex or None), ``features`` (the selection, or the default
        grid with a warning when the project selects none), ``images`` (list of ``(Image, labels)``;
        labels in our layout: ``(T,) (Z,) Y, X``), ``source`` (the workflow name ilastik wrote) and
        ``warnings``; untrained (ilastik's forest was trained on vigra's filters, ours on our own).
    """
    path = os.fspath(path)
    with open_hdf5_file(path, "ilastik project") as f:
        try:
            return _read_state(f, path, image_root)
        except FileNotFoundError:
            raise
        except (KeyError, TypeError, AttributeError, IndexError, OSError, UnicodeDecodeError) as e:
            raise ValueError(f"{path!r} is damaged or not a layout we read: {type(e).__name__}: {e}") from None
        except MemoryError:
            raise ValueError(f"{path!r}: not enough memory to read what the project declares") from None


def _read_state(f, path, image_root):
    ok, wf = _is_pixel_classification(f, path)
    if not ok:
        raise ValueError(f"{path!r} is not an ilastik Pixel Classification project "
                         f"(workflow {wf or 'not recorded'!r}"
                         + ("" if "PixelClassification" in f else "; no 'PixelClassification' group") + ")")
    warn = []
    if "autocontext" in (wf or "").replace(" ", "").lower():  # what of the project comes, and what does not
        second = f.get("PixelClassification01")
        names2 = strings(second["LabelNames"], path, "PixelClassification01/LabelNames") \
            if second is not None and not hasattr(second, "shape") and "LabelNames" in second else []
        warn.append(f"an Autocontext project ({wf}): its first stage is imported (classes, labels, features); its "
                    f"second stage{' (classes ' + ', '.join(map(repr, names2)) + ')' if names2 else ''}, trained on "
                    "the first stage's probabilities, is not")
    pc_group = f["PixelClassification"]
    names = strings(pc_group["LabelNames"], path, "PixelClassification/LabelNames") \
        if "LabelNames" in pc_group else []
    if len(set(names)) != len(names):
        raise ValueError(f"{path!r}: PixelClassification/LabelNames holds a name twice: {names}")
    for n in names:
        try:
            check_class_name(n)
        except ValueError as e:
            raise ValueError(f"{path!r}: PixelClassification/LabelNames: {e}") from None
    colors = None
    if "LabelColors" in pc_group:
        lc = pc_group["LabelColors"]
        if not hasattr(lc, "shape") or lc.dtype.kind not in "iuf" or lc.size > 3 * 255 or lc.size % 3:
            raise ValueError(f"{path!r}: PixelClassification/LabelColors should be rows of 3 numbers (RGB "
                             f"0-255); got {getattr(lc, 'dtype', type(lc).__name__)} of shape "
                             f"{getattr(lc, 'shape', None)}")
        rgb = np.nan_to_num(np.asarray(lc[()], float).reshape(-1, 3)[:len(names)])
        colors = ["#%02x%02x%02x" % tuple(int(np.clip(v, 0, 255)) for v in c) for c in rgb]
        colors += [None] * (len(names) - len(colors))
    lanes = _lane_infos(f, path) if "Input Data/infos" in f else []
    if "Input Data/infos" not in f:
        warn.append("the project lists no images ('Input Data/infos' is missing)")
    ilp_dir = os.path.dirname(os.path.abspath(path))
    missing, loaded = [], []
    for lane, no, info in lanes:
        if len(info) == 0:  # ilastik's way of writing a lane whose data was never set
            warn.append(f"{lane} has no data set in ilastik; skipped")
            continue
        loaded.append((lane, no, _lane_image(f, info, lane, path, ilp_dir, image_root, missing)))
    masked = [lane for lane, _, _ in lanes if _has_role(f["Input Data/infos"][lane], "Prediction Mask")]
    if masked:  # ilastik left the pixels outside the mask unpredicted (probabilities 0 in its exports)
        warn.append(f"{', '.join(masked)} {'has' if len(masked) == 1 else 'have'} a Prediction Mask in ilastik; it is "
                    f"not read here: every pixel is predicted")
    if missing:
        where = f"image_root={image_root!r}" if image_root else "image_root (not given)"
        raise FileNotFoundError(f"{path!r}: image data not found for {len(missing)} lane(s); pass "
                                f"image_root= to say where the files are now ({where}):\n  "
                                + "\n  ".join(missing))
    images = []
    for lane, no, (data, axes, name, src) in loaded:
        if isinstance(data, Image):  # left in its file: labels kept as the chunks the blocks paint
            keep = "".join(a for a in "ZYX" if a in axes)
            sizes = dict(zip(data.data.src_axes, data.data.source.shape))  # the lane's shape, its axes in its order
            shape = tuple(sizes.get(a, 1) for a in axes)
            images.append((data, chunked_labels_of(f, no, shape, axes, path, len(names), keep)))
            continue
        axes = (axes or guess_axes(data.shape)).upper()  # the lane's own order, as blockSlice uses it
        if len(axes) != data.ndim:
            raise ValueError(f"{path!r}: {lane} has axes {axes!r} but its data has shape {data.shape}")
        lab = labels_of(f, no, data.shape, axes, path, len(names))
        if "Z" in axes and data.shape[axes.index("Z")] == 1:  # ilastik 1.x stored 2D lanes as txyzc
            z = axes.index("Z")
            data, lab, axes = first_of(data, z), first_of(lab, z), axes.replace("Z", "")
        try:
            img = Image(data, axes=axes, name=name, path=src)
        except ValueError as e:
            raise ValueError(f"{path!r}: the image of {lane}: {e}") from None
        images.append((img, labels_to_ours(lab, axes)))
    n_labels = max((int(lab.max()) for _, lab in images), default=0)
    if len(names) < max(n_labels, 2):
        extra = [f"Label {k}" for k in range(len(names) + 1, max(n_labels, 2) + 1)]
        extra = [e if e not in names else f"{e} ({len(names) + i + 1})" for i, e in enumerate(extra)]
        names = names + extra
        colors = None if colors is None else colors + [None] * (len(names) - len(colors))
    fs = _feature_set(f, path, any(img.ndim_spatial == 3 for img, _ in images), warn)
    if fs is None:
        warn.append("the project selects no features yet; using the default grid (FeatureSet.default())")
        fs = FeatureSet.default()
    return ProjectState(names, colors, fs, images, warnings=tuple(warn), source=wf)
