"""Exporting a result of a project's image to a file: sources, dtypes, renormalization, axis order."""
from __future__ import annotations

import numpy as np

from ..images.atomic import check_not_input
from ..images.checks import result_fits
from ..images.ome_zarr import ngff_axes
from ..images.paths import H5, ZARR, is_ome_zarr_name, suffix_of
from ..images.write import write_array
from .blockwise import predict_blockwise, stream_to_file
from .results import channel_names_for, check_export_args, convert, gzipped, warn_if_rounded

__all__ = ["export_result", "arrange", "default_axes", "result_array", "format_of"]


def default_axes(ndim_spatial, has_channels, suffix, t=False):
    """The axes an output gets unless asked otherwise: TIFF ``(T)(Z)CYX``, OME-Zarr (``suffix``
    ``".ome.zarr"``) NGFF's ``(T)C(Z)YX``, others channel last."""
    sp = ("T" if t else "") + "ZYX"[-ndim_spatial:]
    if suffix == ".ome.zarr":
        return ngff_axes(ndim_spatial, has_channels, t)
    if not has_channels:
        return sp
    # ImageJ hyperstacks keep C before YX; the axis is recorded so load_image reads it back
    if suffix in (".tif", ".tiff"):
        return sp[:-2] + "C" + sp[-2:]
    return sp + "C"


def arrange(data, ndim_spatial, has_channels, axes, suffix, t=False):
    """Reorder channel-last ``data`` (``T`` first with ``t``) to ``axes`` (default per format).

    Returns ``(array, axes)``.
    """
    src = ("T" if t else "") + "ZYX"[-ndim_spatial:] + ("C" if has_channels else "")
    axes = (axes or default_axes(ndim_spatial, has_channels, suffix, t)).upper()
    if sorted(axes) != sorted(src):
        raise ValueError(f"axes {axes!r} must be a reordering of {src!r} for this output of shape {data.shape}")
    return np.transpose(data, [src.index(a) for a in axes]), axes


def result_array(project, x, source, class_name=None):
    """The channel-last (or spatial) array of ``source`` for image ``x``."""
    if source == "probabilities":
        return project.predict(x)
    if source == "simple_segmentation":
        return project.segment(x)
    if source == "uncertainty":
        return project.uncertainty(x)
    if source == "mask":
        k = project.class_index(class_name if class_name is not None else 1)
        return (project.segment(x) == k).astype(np.uint8)
    if source == "labels":
        if not isinstance(x, (int, np.integer)):
            raise ValueError("source='labels' needs the index of a project image")
        return project.labels(x)
    return project.features_of(x)


def export_result(project, x, path, source="probabilities", dtype=None, renormalize=False, axes=None,
                  class_name=None):
    """Compute ``source`` for image ``x`` of ``project`` and write it to ``path`` atomically."""
    check_export_args(source, dtype, path)
    warn_if_rounded(source, dtype, renormalize, stacklevel=4)  # the user's call of Project.export
    img = project.resolve_image(x)  # load a path once
    check_not_input(path, [img.path] + project.input_files(), "export path")
    if img.n_timepoints > 1 and source in ("labels", "features"):
        raise ValueError(f"source={source!r} is not available for the time series {img.name!r}; "
                         "add it to the project (one image per frame) and export frame by frame")
    fmt = format_of(path)
    lazy = img.lazy and source not in ("labels", "features")
    streams = fmt in H5 + ZARR + (".ome.zarr",) and axes is None and img.n_timepoints == 1
    if streams and source != "labels" and (lazy or not _whole_fits(project, img, source)):
        # block by block into the file: the image is never read whole, the result never held whole
        stream_to_file(project, img, path, source, dtype, renormalize, None, None, class_name, None,
                       img.shape_spatial, img.spacing, channel_names=channel_names_for(project, source))
        return path
    if lazy:  # a series frame by frame: its T axis is no spatial axis of a block (that crashed in the filters)
        data = np.stack([predict_blockwise(project, f, source=source, class_name=class_name) for f in img.frames()])
        data = data if img.n_timepoints > 1 else data[0]
    else:
        data = result_array(project, x if isinstance(x, (int, np.integer)) else img, source, class_name)
    t = img.n_timepoints > 1
    has_c = data.ndim == img.ndim_spatial + 1 + t
    data = convert(data, source, dtype, renormalize)
    data, axes = arrange(data, img.ndim_spatial, has_c, axes, fmt, t=t)
    return write_array(path, data, axes, spacing=img.spacing, compression=gzipped(source),
                       channel_names=channel_names_for(project, source) if has_c else None)


def _whole_fits(project, img, source):
    """Whether ``source`` for all of ``img`` fits in memory at once (else it goes to a file block by block)."""
    per_pixel = {"probabilities": len(project.classes),
                 "features": project.features.n_features_for(img.n_channels, img.ndim_spatial)}.get(source, 1)
    return result_fits(tuple(img.shape_spatial) + (per_pixel,), np.float32)


def format_of(path):
    """The output format a path names: its suffix, or ``".ome.zarr"``."""
    return ".ome.zarr" if is_ome_zarr_name(path) else suffix_of(path)
