"""Applying a trained project to many files: each by the route its size and format call for."""
from __future__ import annotations

import glob
import os
import pickle
import sys

import numpy as np

from ..features.blocks import block_for_budget
from ..images.atomic import atomic_write, check_not_input
from ..images.checks import check_read_size
from ..images.formats import tiff_other_images
from ..images.ome_zarr import create_ome_zarr, ngff_axes
from ..images.paths import PIL, SUFFIXES, TIFF_FAMILY, ZARR, has_glob, split_inner, stem_of, suffix_of
from ..images.read import load_image
from ..images.write import create_array, write_array
from ..runtime.memory import available_bytes
from .blockwise import predict_blockwise, stream_to_file
from .export import arrange, format_of
from .on_dask import client_of, predict_dask
from .results import (NATURAL_DTYPE, channel_names_for, check_export_args, convert, gzipped, source_from_prob,
                      warn_if_rounded)

__all__ = ["batch_predict", "expand_inputs", "plan_outputs", "choose_route", "BatchError"]

_EXT = {"tiff": "tiff", "tif": "tif", "hdf5": "h5", "h5": "h5", "npy": "npy", "zarr": "zarr", "ome-zarr": "ome.zarr",
        "ome.zarr": "ome.zarr"}


class BatchError(RuntimeError):
    """Some inputs failed; ``.failed`` maps each to its reason, ``.written`` lists the outputs."""

    def __init__(self, failed, written):
        self.failed, self.written = failed, written
        lines = "\n".join(f"  {p}: {r}" for p, r in failed.items())
        super().__init__(f"{len(failed)} of {len(failed) + len(written)} inputs failed:\n{lines}")


def expand_inputs(inputs):
    """Paths, folders and glob patterns -> (sorted unique existing paths, patterns and folders that held no image).

    A TIFF holding several images (a multi-position OME-TIFF) stands for each of them, ``x.ome.tif/N``.

    A folder (not a Zarr store, which is one image) stands for the image files in it, not in its subfolders:
    names with a suffix :func:`.load_image` reads, hidden ones (temporaries) left out.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths, empty = [], []
    for x in inputs:
        x = os.fspath(x)
        if os.path.isdir(x) and suffix_of(x) not in ZARR:
            hits = sorted(os.path.join(x, n) for n in os.listdir(x)
                          if not n.startswith(".") and suffix_of(n) in SUFFIXES)
            if not hits:
                empty.append(x)
            paths += hits
        elif has_glob(x):
            hits = sorted(glob.glob(x))
            if not hits:
                empty.append(x)
            paths += hits
        else:
            paths.append(x)
    seen = set()
    return [p for p in _each_tiff_image(paths) if not (p in seen or seen.add(p))], empty


def _each_tiff_image(paths):
    """``paths`` with a TIFF of several images (a multi-position OME-TIFF) as each of them: ``x.ome.tif/0``,
    ``x.ome.tif/1``, ... (load_image would open only the first)."""
    for p in paths:
        fpath, inner = split_inner(p)
        n = tiff_other_images(fpath) if inner is None and suffix_of(fpath) in TIFF_FAMILY else 0
        yield from ([f"{fpath}/{i}" for i in range(n + 1)] if n else [p])


def _out_path(path, out_dir, source, fmt, template):
    """Where ``path``'s output goes: ``template`` filled in, inside ``out_dir``."""
    ext = _EXT.get(fmt.lower())
    if ext is None:
        raise ValueError(f"unknown format {fmt!r}; choose from {sorted(set(_EXT))}")
    fpath, inner = split_inner(path)
    base = os.path.basename(fpath.rstrip("/\\"))
    stem = stem_of(fpath)
    if inner:
        stem += "_" + inner.replace("/", "_")
    try:
        name = template.format(stem=stem, source=source, ext=ext, name=base)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"name_template {template!r} cannot be filled ({type(e).__name__}: {e}); it may use "
                         "{stem}, {source}, {ext} and {name}") from None
    rel = os.path.normpath(name)
    if os.path.isabs(rel) or rel == ".." or rel.startswith(".." + os.sep):  # -o says where outputs go
        raise ValueError(f"name_template {template!r} gives {name!r}, outside the output folder {out_dir!r}")
    return os.path.join(out_dir, rel)


def batch_predict(project, inputs, out_dir, source="probabilities", dtype="float32", renormalize=False,
                  format="tiff", name_template="{stem}_{source}.{ext}", progress=True, overwrite=False,
                  block=None, axes=None, class_name=None, dataset=None, max_voxels=2**24, raise_on_error=False,
                  scheduler=None, output_axes=None):
    """Apply a trained project to many files.

    Parameters
    ----------
    project : Project
        Trained project.
    inputs : str or list of str
        Paths, folders (their image files) or glob patterns (``"data/*_s2.h5"``).
    out_dir : str
        Output folder (created if missing).
    source, dtype, renormalize : see :meth:`Project.export`.
    format : {"tiff", "hdf5", "npy", "zarr", "ome-zarr"}
        Output format.
    name_template : str
        Output name from ``{stem}``, ``{source}``, ``{ext}`` (and ``{name}``, the input's file name).
    progress : bool
        Show a tqdm progress bar.
    overwrite : bool
        Re-run also inputs whose output exists (outputs are written atomically, so an
        existing output is complete).
    block : tuple of int, optional
        Block size for inputs larger than ``max_voxels`` spatial voxels, which are read lazily
        and predicted block by block.
    raise_on_error : bool
        Raise :class:`BatchError` at the end if any input failed (default: report and go on).
    scheduler : str or dask Client, optional
        A ``dask.distributed`` scheduler address or client: each file is predicted as a dask graph there.
    output_axes : str, optional
        Axis order of the outputs, a reordering of the default (TIFF ``CYX``/``ZCYX``, others
        channel last); ``"YXC"`` writes what ilastik writes for steinbock (``--output_axis_order=yxc``).

    Returns
    -------
    list of str
        Output paths, in input order (skipped-because-complete outputs included).
    """
    from tqdm.auto import tqdm

    project.check_trained()
    check_export_args(source, dtype)
    warn_if_rounded(source, dtype, renormalize)
    if source == "labels":
        raise ValueError("source='labels' belongs to project images; batch exports predictions")
    if source == "mask":  # once, not once per file
        project.class_index(class_name if class_name is not None else 1)
    os.makedirs(out_dir, exist_ok=True)
    paths, empty = expand_inputs(inputs)
    failed = {p: "a folder with no image file in it" if os.path.isdir(p) else "no file matches this pattern"
              for p in empty}
    outs = plan_outputs(paths, out_dir, source, format, name_template, keep=project.input_files())
    written, skipped = [], 0
    client = client_of(scheduler) if scheduler is not None else None
    bar = tqdm(paths, desc="pixclass batch", unit="file", disable=not progress)
    try:
        skipped = _run_files(project, bar, outs, failed, written, overwrite, source, dtype, renormalize, block, axes,
                             class_name, dataset, max_voxels, client, output_axes)
    except KeyboardInterrupt:
        bar.close()
        print(f"pixclass batch: interrupted: {len(written)} of {len(paths)} outputs complete in {out_dir!r} "
              "(nothing partial is left); run the same command again to do the rest", file=sys.stderr)
        raise
    bar.close()
    if progress or failed:
        msg = f"pixclass batch: {len(written) - skipped} written, {skipped} already complete, {len(failed)} failed"
        print(msg, file=sys.stderr)
        for p, r in failed.items():
            print(f"  failed: {p}: {r}", file=sys.stderr)
    if failed and raise_on_error:
        raise BatchError(failed, written)
    return written


def plan_outputs(paths, out_dir, source, fmt, template, keep=()):
    """The output path of every input, checked before anything is written.

    Two inputs that would write one output (the same stem in two folders, a template without
    ``{stem}``), or an output that is one of the inputs or of ``keep`` (the project's own files and
    its images', :meth:`.Project.input_files`), are refused naming both.
    """
    outs, seen = {}, {}
    for p in paths:
        out = _out_path(p, out_dir, source, fmt, template)
        key = os.path.realpath(out)
        if key in seen:
            raise ValueError(f"inputs {seen[key]!r} and {p!r} would both be written to {out!r}: use a name_template "
                             "that tells them apart (e.g. '{stem}_{source}.{ext}' with distinct stems) or "
                             "separate runs")
        seen[key] = p
        outs[p] = check_not_input(out, list(paths) + list(keep), "output")
    return outs


def _run_files(project, bar, outs, failed, written, overwrite, source, dtype, renormalize, block, axes,
               class_name, dataset, max_voxels, client, output_axes=None):
    """Predict each input into its output; returns how many were complete already."""
    skipped = 0
    for p in bar:
        try:
            out = outs[p]
            if os.path.exists(out) and not overwrite:
                written.append(out)
                skipped += 1
                continue
            os.makedirs(os.path.dirname(out), exist_ok=True)  # a template's folder per image: '{stem}/{source}.tif'
            _predict_file(project, p, out, source, dtype, renormalize, block, axes, class_name, dataset,
                          max_voxels, client, output_axes)
            written.append(out)
        except Exception as e:  # one bad file must not stop the rest
            failed[p] = f"{type(e).__name__}: {e}"
    return skipped


def choose_route(n_timepoints, n_voxels, out_suffix, source, client, output_axes, max_voxels):
    """How one input is predicted.

    ``"series"``: every frame of a time series through the fused path, written back with its T
    axis; ``"dask"``: a graph on the client's cluster; ``"stream"``: a large input block by block
    straight into an HDF5/Zarr output (memory stays at one block); ``"blockwise"``: a large input
    (or features) block by block into memory, then written; ``"whole"``: the fused path.
    """
    if n_timepoints > 1:
        return "series"
    if client is not None:
        return "dask"
    large = n_voxels > max_voxels
    if large and out_suffix in (".h5", ".hdf5", ".zarr") and output_axes is None:
        return "stream"
    if large or source == "features":
        return "blockwise"
    return "whole"


def _predict_file(project, path, out, source, dtype, renormalize, block, axes, class_name, dataset, max_voxels,
                  client, output_axes=None):
    """Predict ``path`` into ``out`` by the route :func:`choose_route` picks; the input is opened lazily
    (read block by block) unless it is a PNG or JPEG."""
    img = load_image(path, axes=axes, dataset=dataset, lazy=suffix_of(split_inner(path)[0]) not in PIL)
    project.warn_if_unlike(img, 4)  # this input, from where batch_predict was called
    shape = img.shape_spatial
    fmt = format_of(out)
    route = choose_route(img.n_timepoints, int(np.prod(shape)), suffix_of(out), source, client, output_axes,
                         max_voxels)
    if route == "stream":
        stream_to_file(project, img, out, source, dtype, renormalize, block, None, class_name, None, shape, img.spacing,
                       channel_names=channel_names_for(project, source))
        return
    k = project.class_index(class_name or 1)
    if route == "blockwise":
        res = predict_blockwise(project, img, source=source, block=block, class_name=class_name)
    elif route == "dask":
        res = _on_cluster(project, img, out, source, dtype, renormalize, class_name, client, output_axes)
        if res is None:  # written by the workers
            return
    else:
        if source == "features" and route == "series":
            raise ValueError(f"source='features' of the time series {path!r} (shape {img.data.shape}): "
                             "export features frame by frame")
        res = source_from_prob(project.predict(img), source, k)  # the fused path: no feature stack is held
    t = route == "series"
    data = convert(res, source, dtype, renormalize)
    has_c = res.ndim == len(shape) + 1 + t
    data, out_axes = arrange(data, len(shape), has_c, output_axes, fmt, t=t)
    write_array(out, data, out_axes, spacing=img.spacing, compression=gzipped(source),
                channel_names=channel_names_for(project, source) if has_c else None)


def _on_cluster(project, img, out, source, dtype, renormalize, class_name, client, output_axes):
    """Predict ``img`` as a dask graph on ``client``'s cluster. A Zarr or OME-Zarr output is written by the
    workers, block by block (None comes back); other outputs come back as an array to write."""
    import dask.array as da

    shape, nsp = img.shape_spatial, img.ndim_spatial
    # a block (with its halo and features) within a quarter of the memory budget, as in-process: each
    # worker runs one at a time per thread (PIXCLASS_MEMORY_LIMIT, or the container's limit, sets it)
    chunk = block_for_budget(shape, project.features, img.n_channels, budget=min(2 * 2**30, available_bytes() // 4))
    x = da.from_array(_travelling(img), chunks=tuple(chunk) + (-1,))
    res = predict_dask(project, x, source, img.spacing, class_name)
    if suffix_of(out) not in ZARR or output_axes is not None:
        return client.compute(res).result()
    dt = np.dtype(np.uint8 if source == "mask" else dtype or NATURAL_DTYPE[source])
    res = res.map_blocks(convert, source, dt, renormalize, dtype=dt)
    has_c = res.ndim > nsp
    if format_of(out) == ".ome.zarr":
        method = "mean" if source in ("probabilities", "uncertainty", "features") else "nearest"
        if has_c:
            res = da.moveaxis(res, -1, 0)
        axes = ngff_axes(nsp, has_c)
        with create_ome_zarr(out, res.shape, dt, axes, img.spacing, img.unit,
                             channel_names_for(project, source) if has_c else None, method=method) as level0:
            _store(client, res, level0)
        return None
    with atomic_write(out) as tmp:
        with create_array(tmp, res.shape, dt, "ZYX"[-nsp:] + ("C" if has_c else ""), compression=gzipped(source),
                          channel_names=channel_names_for(project, source) if has_c else None) as target:
            _store(client, res, target)
    return None


def _travelling(img):
    """``img``'s pixels in a form dask can send to workers: a Zarr (or memory-mapped) array left in its file
    travels; an open HDF5 dataset does not, so such an image is read here (if it fits) and sent as an array."""
    if not img.lazy:
        return img.data
    try:
        pickle.dumps(img.data)
        return img.data
    except Exception:  # h5py objects cannot be pickled
        check_read_size(img.data.shape, img.data.dtype, "an HDF5 image sent to a dask cluster (use Zarr or "
                        "OME-Zarr for one larger than memory: workers read their own blocks of it)", img.path)
        return img.data[...]


def _store(client, res, target):
    """Write dask array ``res`` into the Zarr array ``target`` from the workers; dask chunks are made whole
    multiples of the Zarr chunks first, so no two tasks write one chunk."""
    import dask.array as da

    chunks = tuple(max(z, (c // z) * z) for c, z in zip((max(cs) for cs in res.chunks), target.chunks))
    client.compute(da.store(res.rechunk(chunks), target, lock=False, compute=False)).result()
