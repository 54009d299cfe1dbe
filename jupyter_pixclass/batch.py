"""Applying a trained project to many files: block by block in bounded memory, or on dask."""
from __future__ import annotations

import glob
import os
import sys

import numpy as np

from .export import arrange, check_export_args, convert
from .features import (ThreadWorkspaces, block_for_budget, channel_ranges, compute_features, features_inner,
                       image_sample, iter_blocks, sample_slices)
from .image import guess_axes
from .io import _split_inner, atomic_write, check_not_input, open_array, write_array
from .pipeline import predict_block, source_from_prob

__all__ = ["batch_predict", "predict_blockwise", "predict_dask", "BatchError"]

_EXT = {"tiff": "tiff", "tif": "tif", "hdf5": "h5", "h5": "h5", "npy": "npy", "zarr": "zarr"}


class BatchError(RuntimeError):
    """Some inputs failed; ``.failed`` maps each to its reason, ``.written`` lists the outputs."""

    def __init__(self, failed, written):
        self.failed, self.written = failed, written
        lines = "\n".join(f"  {p}: {r}" for p, r in failed.items())
        super().__init__(f"{len(failed)} of {len(failed) + len(written)} inputs failed:\n{lines}")


def expand_inputs(inputs):
    """Paths and glob patterns -> (sorted unique existing paths, patterns that matched nothing)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths, empty = [], []
    for x in inputs:
        x = os.fspath(x)
        if any(ch in x for ch in "*?["):
            hits = sorted(glob.glob(x))
            if not hits:
                empty.append(x)
            paths += hits
        else:
            paths.append(x)
    seen = set()
    return [p for p in paths if not (p in seen or seen.add(p))], empty


def _block_fn(forest, fs, spacing, source, class_index, ranges=None):
    """Per-block work shared by the in-process and dask paths: features -> forest -> source.

    ``ranges`` carries the whole image's intensity range when the features normalize, so every
    block is normalized as the whole image would be.
    """

    scratch = ThreadWorkspaces()  # feature scratch memory reused from block to block

    def fn(block, inner=None):
        """Result for ``block`` (read with its halo); with ``inner``, only for that part of it."""
        if inner is None:
            inner = (slice(None),) * (block.ndim - 1)
        if source == "features":
            return np.moveaxis(features_inner(block, fs, spacing, inner, ranges, scratch.get()), 0, -1)
        return source_from_prob(predict_block(block, fs, spacing, forest, inner, ranges), source, class_index)

    return fn


def _reader(arr, axes):
    """Read spatial slices of a lazily opened array with file ``axes`` as channel-last ndarray."""
    sp = [a for a in "ZYX" if a in axes]

    def read(slices):
        key = []
        for a in axes:
            if a == "T":
                key.append(0)
            elif a == "C":
                key.append(slice(None))
            else:
                key.append(slices[sp.index(a)])
        block = np.asarray(arr[tuple(key)])
        ax = "".join(a for a in axes if a != "T")
        if "C" not in ax:
            block, ax = block[..., None], ax + "C"
        return np.transpose(block, [ax.index(a) for a in "".join(sp) + "C"])

    shape = tuple(arr.shape[axes.index(a)] for a in sp)
    if "T" in axes and arr.shape[axes.index("T")] != 1:
        raise ValueError(f"input of shape {tuple(arr.shape)} has {arr.shape[axes.index('T')]} time points (axes {axes!r})")
    return read, shape


def predict_blockwise(project, path, out=None, source="probabilities", block=None, axes=None, class_name=None,
                      dataset=None):
    """Predict one file block by block, reading HDF5/Zarr lazily.

    Working memory is about one block's features (``block`` voxels x F x 4 bytes) and scratch for
    the block with its halo, plus the output; by default ``block`` is the shape that wastes least
    on halos within about 2 GB (:func:`.features.block_for_budget`). ``out`` may be an
    array-like of the output shape (an h5py/zarr dataset) to write into; otherwise an ndarray is
    returned. Equal to whole-image prediction.
    """
    project._check_trained()
    arr, file_axes, spacing, close = open_array(path, dataset=dataset)
    try:
        ax = (axes or file_axes or guess_axes(arr.shape)).upper()
        if len(ax) != len(arr.shape):
            raise ValueError(f"axes {ax!r} do not fit {os.fspath(path)!r} of shape {tuple(arr.shape)}")
        read, shape = _reader(arr, ax)
        n_ch = arr.shape[ax.index("C")] if "C" in ax else 1
        if n_ch != project._trained[1]:
            raise ValueError(f"{os.fspath(path)!r} has {n_ch} channels but the classifier was trained on {project._trained[1]}")
        nsp = len(shape)
        spacing = tuple(spacing[-nsp:]) if spacing is not None and len(spacing) >= nsp else (1.0,) * nsp
        project._check_dims(shape, os.fspath(path))
        fs = project.features
        fnd = fs.spatial_ndim(nsp)
        if block is None:
            block = block_for_budget(shape, fs, n_ch)
        k = project._class_index(class_name) if class_name is not None else 1
        ranges = None
        if fs.normalize:
            ranges = channel_ranges(read(sample_slices(shape)))
        fn = _block_fn(project.forest, fs, spacing, source, k, ranges)
        K = len(project.classes)
        tail = {"probabilities": (K,), "features": (fs.n_features(n_ch, fnd),)}.get(source, ())
        dtype = np.float32 if source in ("probabilities", "uncertainty", "features") else np.uint8
        if out is None:
            out = np.zeros(shape + tail, dtype)
        for src, dst, inner in iter_blocks(shape, block, fs.halo(fnd), fs_ndim=fnd):
            out[dst] = fn(read(src).astype(np.float32), inner)
        return out
    finally:
        close()


def predict_dask(project, array, source="probabilities", spacing=None, class_name=None):
    """The prediction of a channel-last dask array as a lazy dask array.

    Built like ``dask.array.map_overlap``: blocks are extended by the feature halo (not at the
    image border, where the filters mirror the image as whole-image filtering does), predicted,
    and trimmed, so the result equals in-process prediction and runs on any dask scheduler,
    including a ``dask.distributed`` cluster. Chunks thinner than the halo are widened.
    """
    import dask.array as da

    project._check_trained()
    array = da.asarray(array)
    nsp = array.ndim - 1
    fs = project.features
    fnd = fs.spatial_ndim(nsp)
    if array.numblocks[-1] != 1:
        array = array.rechunk({nsp: -1})
    project._check_dims(array.shape[:nsp], "dask array")
    if array.shape[-1] != project._trained[1]:
        raise ValueError(f"array has {array.shape[-1]} channels but the classifier was trained on {project._trained[1]}")
    h = fs.halo(fnd)
    depth = {i: (0 if (fnd < nsp and i == 0) else h) for i in range(nsp)}
    depth[nsp] = 0
    # overlap needs every chunk at least as deep as the halo: widen thin chunks
    new_chunks = {}
    for i in range(nsp):
        ch, n = array.chunks[i], array.shape[i]
        if depth[i] and len(ch) > 1 and min(ch) < depth[i]:
            size = max(depth[i], max(ch))
            sizes = [size] * (n // size)
            rem = n - sum(sizes)
            if rem and rem < depth[i]:
                sizes[-1] += rem
            elif rem:
                sizes.append(rem)
            new_chunks[i] = tuple(sizes)
    if new_chunks:
        array = array.rechunk(new_chunks)
    spacing = tuple(spacing) if spacing is not None else (1.0,) * nsp
    k = project._class_index(class_name) if class_name is not None else 1
    ranges = channel_ranges(image_sample(array)) if fs.normalize else None
    fn = _block_fn(project.forest, fs, spacing, source, k, ranges)
    K = len(project.classes)
    g = da.overlap.overlap(array, depth=depth, boundary="none")
    if source in ("probabilities", "features"):
        n_out = K if source == "probabilities" else fs.n_features(array.shape[-1], fnd)
        out = g.map_blocks(lambda b: fn(b.astype(np.float32)), chunks=g.chunks[:nsp] + ((n_out,),), dtype=np.float32)
        return da.overlap.trim_internal(out, depth, boundary="none")
    dtype = np.float32 if source == "uncertainty" else np.uint8
    out = g.map_blocks(lambda b: fn(b.astype(np.float32)), chunks=g.chunks[:nsp], drop_axis=nsp, dtype=dtype)
    return da.overlap.trim_internal(out, {i: depth[i] for i in range(nsp)}, boundary="none")


def _out_path(path, out_dir, source, fmt, template):
    ext = _EXT.get(fmt.lower())
    if ext is None:
        raise ValueError(f"unknown format {fmt!r}; choose from {sorted(set(_EXT))}")
    fpath, inner = _split_inner(path)
    base = os.path.basename(fpath.rstrip("/\\"))
    stem = base[: -len(".ome.tif")] if base.lower().endswith(".ome.tif") else os.path.splitext(base)[0]
    if inner:
        stem += "_" + inner.replace("/", "_")
    return os.path.join(out_dir, template.format(stem=stem, source=source, ext=ext, name=base))


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
        Paths or glob patterns (``"data/*_s2.h5"``).
    out_dir : str
        Output folder (created if missing).
    source, dtype, renormalize : see :meth:`Project.export`.
    format : {"tiff", "hdf5", "npy", "zarr"}
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

    project._check_trained()
    check_export_args(source, dtype)
    if source == "labels":
        raise ValueError("source='labels' belongs to project images; batch exports predictions")
    os.makedirs(out_dir, exist_ok=True)
    paths, empty = expand_inputs(inputs)
    failed = {p: "no file matches this pattern" for p in empty}
    outs = plan_outputs(paths, out_dir, source, format, name_template)
    written, skipped = [], 0
    client = _client(scheduler) if scheduler is not None else None
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


def plan_outputs(paths, out_dir, source, fmt, template):
    """The output path of every input, checked before anything is written.

    Two inputs that would write one output (the same stem in two folders, a template without
    ``{stem}``), or an output that is one of the inputs, are refused naming both.
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
        outs[p] = check_not_input(out, paths, "output")
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
            _predict_file(project, p, out, source, dtype, renormalize, block, axes, class_name, dataset,
                          max_voxels, client, output_axes)
            written.append(out)
        except Exception as e:  # one bad file must not stop the rest
            failed[p] = f"{type(e).__name__}: {e}"
    return skipped


class _ConvertingSink:
    """Array-like target that converts each block to the export dtype as it is written."""

    def __init__(self, target, source, dtype, renormalize):
        self.target, self.source, self.dtype, self.renormalize = target, source, dtype, renormalize
        self.shape = target.shape

    def __setitem__(self, key, value):
        self.target[key] = convert(value, self.source, self.dtype, self.renormalize)


def _predict_to_file(project, path, out, source, dtype, renormalize, block, axes, class_name, dataset, shape):
    from .export import _NATURAL
    from .io import _axistags

    if source == "features" and renormalize:
        raise ValueError("renormalize needs the global range of the features: not available block by block")
    fnd = project.features.spatial_ndim(len(shape))
    tail = {"probabilities": (len(project.classes),),
            "features": (project.features.n_features(project._trained[1], fnd),)}.get(source, ())
    out_axes = "ZYX"[-len(shape):] + ("C" if tail else "")
    dt = np.dtype(dtype or _NATURAL[source])
    if source == "mask":
        dt = np.dtype(np.uint8)
    with atomic_write(out) as tmp:
        if out.lower().endswith(".zarr"):
            import zarr

            os.remove(tmp)
            target = zarr.open(tmp, mode="w", shape=shape + tail, dtype=dt)
            target.attrs["axes"] = out_axes
            predict_blockwise(project, path, out=_ConvertingSink(target, source, dt, renormalize), source=source,
                              block=block, axes=axes, class_name=class_name, dataset=dataset)
        else:
            import h5py

            with h5py.File(tmp, "w") as f:
                chunks = tuple(min(s, 64) for s in shape) + tail
                d = f.create_dataset("exported_data", shape=shape + tail, dtype=dt, chunks=chunks,
                                     compression="gzip", compression_opts=1)
                d.attrs["axistags"] = _axistags(out_axes)
                d.attrs["axes"] = out_axes
                predict_blockwise(project, path, out=_ConvertingSink(d, source, dt, renormalize), source=source,
                                  block=block, axes=axes, class_name=class_name, dataset=dataset)


def _client(scheduler):
    from dask.distributed import Client

    return scheduler if isinstance(scheduler, Client) else Client(scheduler)


def _predict_file(project, path, out, source, dtype, renormalize, block, axes, class_name, dataset, max_voxels,
                  client, output_axes=None):
    arr, file_axes, spacing, close = open_array(path, dataset=dataset)
    try:
        ax = (axes or file_axes or guess_axes(arr.shape)).upper()
        shape = tuple(arr.shape[ax.index(a)] for a in "ZYX" if a in ax)
        n_t = arr.shape[ax.index("T")] if "T" in ax and len(ax) == len(arr.shape) else 1
    finally:
        close()
    nsp = len(shape)
    if n_t > 1:  # a movie: every frame through the fused path, written back with its T axis
        from .io import load_image

        img = load_image(path, axes=axes, dataset=dataset)
        if source == "features":
            raise ValueError(f"source='features' of the time series {path!r} (shape {img.data.shape}): "
                             "export features frame by frame")
        k = project._class_index(class_name) if class_name is not None else 1
        res = source_from_prob(project.predict(img), source, k)
        data = convert(res, source, dtype, renormalize)
        suffix = os.path.splitext(out)[1].lower()
        data, out_axes = arrange(data, nsp, res.ndim == nsp + 2, output_axes,
                                 ".tif" if suffix in (".tif", ".tiff") else suffix, t=True)
        write_array(out, np.ascontiguousarray(data), out_axes)
        return
    if client is not None:
        import dask.array as da

        from .io import load_image

        img = load_image(path, axes=axes, dataset=dataset)
        chunk = (max(64, shape[0] // 2),) * nsp if nsp == 2 else (max(16, shape[0] // 2), 256, 256)
        x = da.from_array(img.data, chunks=chunk + (-1,))
        res = client.compute(predict_dask(project, x, source, img.spacing, class_name)).result()
    elif (int(np.prod(shape)) > max_voxels and os.path.splitext(out)[1].lower() in (".h5", ".hdf5", ".zarr")
          and output_axes is None):
        # stream blocks into the output file: memory stays at one block's features
        _predict_to_file(project, path, out, source, dtype, renormalize, block, axes, class_name, dataset, shape)
        return
    elif int(np.prod(shape)) > max_voxels or source == "features":
        res = predict_blockwise(project, path, source=source, block=block, axes=axes, class_name=class_name,
                                dataset=dataset)
    else:
        from .io import load_image

        img = load_image(path, axes=axes, dataset=dataset)
        k = project._class_index(class_name) if class_name is not None else 1
        if source == "features":
            res = compute_features(img, project.features)
        else:  # the fused path: no feature stack of the image is held
            res = source_from_prob(project.predict(img), source, k)
    has_c = res.ndim == nsp + 1
    data = convert(res, source, dtype, renormalize)
    suffix = os.path.splitext(out)[1].lower()
    data, out_axes = arrange(data, nsp, has_c, output_axes, ".tif" if suffix in (".tif", ".tiff") else suffix)
    write_array(out, np.ascontiguousarray(data), out_axes)
