"""Opening ilastik Pixel Classification projects (``.ilp``): classes, images, labels, features.

An ``.ilp`` file is HDF5. What is read (ilastik's ``OpDataSelection`` and labeling
serializers are the reference for the layout):

- ``PixelClassification/LabelNames`` and ``LabelColors`` (RGB 0-255): the classes;
- ``Input Data/infos/laneNNNN/Raw Data``: each lane's image, ``location`` ``ProjectInternal``
  (the array is ``Input Data/local_data/<datasetId>``) or ``FileSystem`` (``filePath``, often
  ``file.h5/inner/path``, relative to the project's folder), its axes from the JSON in
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

from .features import FeatureSet
from .image import Image, guess_axes
from .io import _split_inner, open_hdf5_file

__all__ = ["read_ilastik", "FEATURE_IDS"]

FEATURE_IDS = {
    "GaussianSmoothing": "gaussian",
    "LaplacianOfGaussian": "log",
    "GaussianGradientMagnitude": "gradient_magnitude",
    "DifferenceOfGaussians": "dog",
    "StructureTensorEigenvalues": "structure_tensor_eigenvalues",
    "HessianOfGaussianEigenvalues": "hessian_eigenvalues",
}


def _text(x):
    x = x[()] if hasattr(x, "shape") else x
    if isinstance(x, np.ndarray) and x.shape == ():
        x = x.item()
    return x.decode() if isinstance(x, bytes) else str(x)


def _strings(ds):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(ds[()]).ravel()]


def _lane_axes(info, path, lane):
    if "axistags" in info:
        try:
            tags = json.loads(_text(info["axistags"]))
            return "".join(a["key"] for a in tags["axes"]).upper()
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path!r}: the axistags of {lane} are not ilastik's JSON ({e})") from None
    if "axisorder" in info:
        return _text(info["axisorder"]).upper()
    return None


def _parse_block_slice(text, path, where):
    pairs = re.findall(r"(\d+)\s*:\s*(\d+)", text)
    if not pairs or not text.strip().startswith("["):
        raise ValueError(f"{path!r}: blockSlice {text!r} of {where} is not like '[0:10,5:20,0:1]'")
    return tuple(slice(int(a), int(b)) for a, b in pairs)


def _find_external(file_path, ilp_dir, image_root):
    """Where an external lane's file is: the candidates tried, and the first that exists."""
    fpath, inner = _split_inner(file_path)
    bases = [image_root] if image_root else []
    bases.append(ilp_dir)
    cands = []
    if os.path.isabs(fpath):
        cands.append(fpath)
    for b in bases:
        if not os.path.isabs(fpath):
            cands.append(os.path.join(b, fpath))
        cands.append(os.path.join(b, os.path.basename(fpath)))  # a project moved with its data
    seen = []
    for c in cands:
        if c not in seen:
            seen.append(c)
    for c in seen:
        if os.path.exists(c):
            return c + (f"/{inner}" if inner else ""), seen
    return None, seen


def _lane_image(f, info, lane, path, ilp_dir, image_root, missing):
    """The lane's image in ilastik's axis order (numpy array) and its axes letters."""
    location = _text(info["location"]) if "location" in info else "FileSystem"
    axes = _lane_axes(info, path, lane)
    name = _text(info["nickname"]) if "nickname" in info else lane
    if location == "ProjectInternal":
        did = _text(info["datasetId"]) if "datasetId" in info else None
        key = f"Input Data/local_data/{did}"
        if did is None or key not in f:
            missing.append(f"{path}/{key} (data stored in the project)")
            return None
        data = np.asarray(f[key][()])
        if axes is None:
            axes = _axes_attr(f[key])
        return data, axes, name, None
    if "filePath" not in info:
        raise ValueError(f"{path!r}: {lane} has no 'filePath' and is not stored in the project")
    file_path = _text(info["filePath"])
    found, tried = _find_external(file_path, ilp_dir, image_root)
    if found is None:
        missing.append(f"{file_path} (looked for {', '.join(tried)})")
        return None
    raw = _raw_array(found)
    if axes is None or len(axes) != raw.ndim:
        axes = _axes_of_file(found)
    return raw, axes, name, found


def _axes_of_file(path):
    from .io import open_array

    arr, axes, _, close = open_array(path)
    close()
    return axes


def _axes_attr(ds):
    from .io import _axes_from_attrs

    return _axes_from_attrs(ds.attrs)


def _raw_array(path):
    """The file's array as stored (ilastik's axistags describe that order)."""
    from .io import open_array

    arr, _, _, close = open_array(path)
    try:
        return np.asarray(arr[...])
    finally:
        close()


def _labels_of(f, lane_no, shape, axes, path):
    """Label array of a lane in its own axis order (channel axis of length 1)."""
    key = f"PixelClassification/LabelSets/labels{lane_no:03d}"
    lab = np.zeros(tuple(1 if a == "C" else n for a, n in zip(axes, shape)), np.uint8)
    if key not in f:
        return lab
    for bname, block in f[key].items():
        where = f"{key}/{bname}"
        if "blockSlice" not in block.attrs:
            raise ValueError(f"{path!r}: {where} has no blockSlice attribute")
        sl = _parse_block_slice(_text(block.attrs["blockSlice"]), path, where)
        data = np.asarray(block[()])
        if len(sl) != lab.ndim or data.shape != tuple(s.stop - s.start for s in sl):
            raise ValueError(f"{path!r}: {where} of shape {data.shape} does not fit its blockSlice "
                             f"{_text(block.attrs['blockSlice'])} in an image of axes {axes!r} and shape {shape}")
        if any(s.stop > n for s, n in zip(sl, lab.shape)):
            raise ValueError(f"{path!r}: {where} at {_text(block.attrs['blockSlice'])} lies outside the image "
                             f"of shape {lab.shape} (axes {axes!r})")
        lab[sl] = np.where(data > 0, data, lab[sl])  # 0 in a block is unlabeled, not an eraser
    return lab


def _feature_set(f, path, is_3d):
    g = f.get("FeatureSelections")
    if g is None or "SelectionMatrix" not in g or "FeatureIds" not in g or "Scales" not in g:
        return None
    ids = _strings(g["FeatureIds"])
    scales = np.asarray(g["Scales"][()], float).ravel()
    sel = np.asarray(g["SelectionMatrix"][()], bool)
    if sel.shape != (len(ids), len(scales)):
        raise ValueError(f"{path!r}: SelectionMatrix of shape {sel.shape} does not fit {len(ids)} features "
                         f"x {len(scales)} scales")
    unknown = [i for i in ids if i not in FEATURE_IDS]
    if unknown:
        raise ValueError(f"{path!r}: unknown features {unknown} in FeatureSelections/FeatureIds; "
                         f"known are {sorted(FEATURE_IDS)}")
    pairs = [(FEATURE_IDS[ids[i]], float(scales[j])) for i, j in zip(*np.nonzero(sel))]
    if not pairs:
        return None
    mode = "auto"
    if is_3d and "ComputeIn2d" in g:
        in2d = np.asarray(g["ComputeIn2d"][()], bool).ravel()
        used = sorted({j for _, j in zip(*np.nonzero(sel))})
        if in2d.size == len(scales) and in2d[used].all():
            mode = "2d"  # our FeatureSet has one mode: 2D only when every selected scale is
    return FeatureSet(pairs=pairs, mode=mode)


def read_ilastik(path, image_root=None):
    """An untrained :class:`Project` from an ilastik Pixel Classification project file.

    Parameters
    ----------
    path : str
        The ``.ilp`` file.
    image_root : str, optional
        Folder to look for external image files in (instead of, then besides, the project's).

    Returns
    -------
    Project
        Classes, colours, one image per lane (per time point for lanes with ``t``), labels and
        the feature selection; call ``train()`` to retrain on the imported labels.

    Raises
    ------
    FileNotFoundError
        The project is missing, or image data is: one error lists every missing path.
    ValueError
        Not an HDF5 file, not a Pixel Classification project, or a layout we do not understand;
        the message names the file and what is missing.
    """
    from .project import Project

    path = os.fspath(path)
    with open_hdf5_file(path, "ilastik project") as f:
        wf = _text(f["workflowName"]) if "workflowName" in f else None
        if "PixelClassification" not in f or (wf is not None and "PixelClassification" not in wf):
            raise ValueError(f"{path!r} is not an ilastik Pixel Classification project "
                             f"(workflow {wf or 'not recorded'}; no 'PixelClassification' group)")
        if "Input Data/infos" not in f:
            raise ValueError(f"{path!r}: 'Input Data/infos' is missing, so the project lists no images "
                             "(an ilastik layout we do not understand)")
        pc_group = f["PixelClassification"]
        ilp_dir = os.path.dirname(os.path.abspath(path))
        lanes = sorted((k for k in f["Input Data/infos"] if re.fullmatch(r"lane\d+", k)), key=lambda k: int(k[4:]))
        missing, loaded = [], []
        for lane in lanes:
            g = f["Input Data/infos"][lane]
            if "Raw Data" not in g:
                raise ValueError(f"{path!r}: Input Data/infos/{lane} has no 'Raw Data' entry")
            loaded.append((lane, _lane_image(f, g["Raw Data"], lane, path, ilp_dir, image_root, missing)))
        if missing:
            where = f"image_root={image_root!r}" if image_root else "image_root (not given)"
            raise FileNotFoundError(f"{path!r}: image data not found for {len(missing)} lane(s); pass "
                                    f"image_root= to say where the files are now ({where}):\n  "
                                    + "\n  ".join(missing))
        if not loaded:
            raise ValueError(f"{path!r}: the project lists no images (Input Data/infos has no lanes)")
        names = _strings(pc_group["LabelNames"]) if "LabelNames" in pc_group else []
        colors = None
        if "LabelColors" in pc_group:
            rgb = np.asarray(pc_group["LabelColors"][()]).reshape(-1, 3)[:len(names)]
            colors = ["#%02x%02x%02x" % tuple(int(np.clip(v, 0, 255)) for v in c) for c in rgb]
        images = []
        for lane, (data, axes, name, src) in loaded:
            axes = (axes or guess_axes(data.shape)).upper()  # the lane's own order, as blockSlice uses it
            if len(axes) != data.ndim:
                raise ValueError(f"{path!r}: {lane} has axes {axes!r} but its data has shape {data.shape}")
            img = Image(data, axes=axes, name=name, path=src)
            lab = _labels_of(f, int(lane[4:]), data.shape, axes, path)
            images.append((img, _labels_to_ours(lab, axes)))
        n_labels = max(int(lab.max()) for _, lab in images)
        if len(names) < n_labels:
            names += [f"Label {k}" for k in range(len(names) + 1, n_labels + 1)]
            colors = None if colors is None else colors + [None] * (len(names) - len(colors))
        if len(names) < 2:
            names += [f"Label {k}" for k in range(len(names) + 1, 3)]
            colors = None if colors is None else colors + [None] * (len(names) - len(colors))
        fs = _feature_set(f, path, any(img.ndim_spatial == 3 for img, _ in images))
    project = Project(names, features=fs, colors=colors)
    for img, lab in images:
        idx = project.add_image(img)
        frames = idx if isinstance(idx, list) else [idx]
        labs = lab if isinstance(idx, list) else [lab]
        for i, lt in zip(frames, labs):
            project.set_labels(i, lt)
    return project


def _labels_to_ours(lab, axes):
    """Labels in the lane's axis order -> ours: (T,) (Z,) Y, X without the channel axis."""
    axes = axes.upper()
    if "C" in axes:
        lab = np.take(lab, 0, axis=axes.index("C"))
        axes = axes.replace("C", "")
    if "T" in axes and lab.shape[axes.index("T")] == 1:
        lab = np.take(lab, 0, axis=axes.index("T"))
        axes = axes.replace("T", "")
    target = [a for a in "TZYX" if a in axes]
    return np.ascontiguousarray(np.transpose(lab, [axes.index(a) for a in target]))
