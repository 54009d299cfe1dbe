"""Reading images from TIFF, HDF5, NPY, PNG/JPEG and Zarr into a channel-last :class:`.Image`."""
from __future__ import annotations

import os
import warnings

import numpy as np

from ..runtime.memory import available_bytes
from .checks import check_dtype, check_read_size
from .formats import (RGB_NAMES, check_exists, open_h5, open_plain, open_tiff_lazily, open_zarr, tiff_channel_names,
                      tiff_other_images)
from .image import Image, guess_axes
from .lazy import LazyArray, is_array_like
from .ome_zarr import is_ome_zarr, read_ome_zarr
from .imaris import open_ims
from .paths import H5, IMS, PIL, SUFFIXES, TIFF_FAMILY, ZARR, split_inner, suffix_of, stem_of
from .stacks import files_matching, is_pattern, load_stack, open_stack

# formats microscopes write, which Bio-Formats reads and we do not
MICROSCOPE = (".czi", ".nd2", ".lif", ".oib", ".oif", ".vsi", ".mrxs", ".dv", ".zvi", ".lei", ".sld", ".ics",
              ".ids")
__all__ = ["load_image", "as_image", "open_array", "open_lazily", "channel_names_beside", "too_big_to_hold"]

def open_array(path, dataset=None):
    """Open an image file lazily where the format allows it.

    Returns ``(array_like, axes_or_None, spacing_or_None, closer)``; HDF5 and Zarr give
    lazily sliced arrays (h5py / zarr), others an ndarray. ``closer()`` releases the file.
    Errors name the file and, for HDF5/Zarr, list the datasets that exist.
    """
    path, inner = split_inner(path)
    dataset = dataset or inner
    check_exists(path)
    suf = suffix_of(path)
    if suf not in SUFFIXES:
        vendor = suf in MICROSCOPE  # a microscope's own format: say how to get one we read
        raise ValueError(
            f"cannot read {path!r}: unknown suffix {suf or '(none)'!r}; supported: {', '.join(SUFFIXES)}"
            + ("; convert it with bioformats2raw (to OME-Zarr) or Fiji's Bio-Formats (to OME-TIFF)" if vendor else "")
        )
    if suf in IMS:
        if dataset is not None:
            raise ValueError(f"{path!r}: an Imaris file is read as one image (its full resolution); got dataset "
                             f"{dataset!r}")
        opened = open_ims(path)
    elif suf in H5:
        opened = open_h5(path, dataset)
    elif suf in ZARR:
        opened = open_zarr(path, dataset)
    else:
        opened = open_plain(path, suf, _image_number(path, suf, dataset))
    try:
        check_dtype(opened[0].dtype, f"{path!r}" + (f" (dataset {dataset!r})" if dataset else ""))
    except ValueError:
        opened[3]()
        raise
    return opened


def _image_number(path, suf, dataset):
    """Which image of a TIFF ``dataset`` (or ``"x.tif/N"``) asks for: a number; None for other files, which
    then must not be given one."""
    if dataset is None:
        return 0 if suf in TIFF_FAMILY else None
    if suf not in TIFF_FAMILY:
        raise ValueError(f"{path!r} holds one image: dataset {dataset!r} is for HDF5, Zarr and TIFF files")
    if not str(dataset).strip("/").isdigit():
        raise ValueError(f"{path!r}: a TIFF's images are chosen by number (0 for the first); got dataset {dataset!r}")
    return int(str(dataset).strip("/"))


def open_lazily(path, dataset=None):
    """:func:`open_array`, but a TIFF too is opened without reading its pixels (its tiles, strips or runs on demand)."""
    fpath, inner = split_inner(path)
    if suffix_of(fpath) in TIFF_FAMILY:
        check_exists(fpath)
        opened = open_tiff_lazily(fpath, _image_number(fpath, suffix_of(fpath), dataset or inner))
        return opened.array, opened.axes, opened.spacing, opened.close
    return open_array(path, dataset=dataset)


def load_image(path, axes=None, dataset=None, lazy=None):
    """Load an image file into a channel-last :class:`Image`.

    Parameters
    ----------
    path : str, path-like, or a list of them
        ``.tif/.tiff`` (ImageJ and OME axes honoured), ``.h5/.hdf5`` (``"file.h5/group/data"``,
        ``dataset=``, or the only dataset), ``.npy``, ``.png/.jpg``, ``.zarr`` (OME-Zarr multiscale
        images too: axes, scales and channel labels from its metadata, coarser levels as ``levels``).
        A glob pattern (``"slices/z_*.tif"``) reads the 2D images it matches as the planes of one
        volume, in natural order (``z_2`` before ``z_10``), as ``tifffile.imread`` does; lazily
        as a file would be (the planes' files opened as a region reaches them; not PNG/JPEG).
        A list of files reads them so, in the list's order (``Image.files`` names them).
    axes : str, optional
        Letters from ``TZCYX`` overriding the file's own axes, e.g. ``"CYX"`` or ``"ZCYX"`` (for a
        pattern: ``Z`` and then each file's, ``"ZCYX"``).
    dataset : str, optional
        Dataset inside an HDF5 file or Zarr group; for a TIFF holding several images (a multi-position
        OME-TIFF) the number of the one to open, as ``"file.ome.tif/2"`` also says (default the first,
        with a warning that there are more).
    lazy : bool, optional
        ``True`` keeps the pixels in the file (HDF5, Zarr, TIFF through tifffile's Zarr store, NPY
        memory-mapped) and reads only what is asked for (``Image.lazy``); ``False`` reads them all;
        ``None`` (default) is lazy when the pixels would take more than an eighth of the memory
        this process may use (``PIXCLASS_MEMORY_LIMIT``, the container's limit, or what is free).

    Returns
    -------
    Image

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Unknown suffix, corrupt file, axes that do not fit the shape, more than one time point,
        empty or non-finite data, PNG/JPEG asked to be lazy, too large to read at once; the message
        names the file and the shape.
    KeyError
        The HDF5 dataset does not exist (the message lists those that do).
    """
    if isinstance(path, (list, tuple)):  # planes of a volume, one file each, in this order
        if len(path) < 1 or dataset is not None:
            raise ValueError("a list of files is a stack of 2D planes: give at least one, and no dataset")
        return _load_files([os.fspath(p) for p in path], axes, lazy)
    if is_pattern(path) and dataset is None:  # planes of a volume, one file each
        return _load_files(files_matching(os.fspath(path)), axes, lazy, pattern=os.fspath(path))
    fpath, inner = split_inner(path)
    if suffix_of(fpath) in ZARR and dataset is None and inner is None and is_ome_zarr(fpath):
        check_exists(fpath)
        return _load_ome_zarr(fpath, axes, lazy)
    if suffix_of(fpath) in ZARR and dataset is None and inner and is_ome_zarr(os.path.join(fpath, inner)):
        img = _load_ome_zarr(os.path.join(fpath, inner), axes, lazy)  # one image of several: "plate.zarr/0"
        img.name = stem_of(fpath) + "_" + inner.replace("/", "_")  # as batch names its output
        return img
    if suffix_of(fpath) in PIL and lazy:
        raise ValueError(f"{fpath!r}: PNG and JPEG files cannot be read lazily (they are compressed whole)")
    tiff = suffix_of(fpath) in TIFF_FAMILY
    number = _image_number(fpath, suffix_of(fpath), dataset or inner) if tiff else None
    pyramid = []
    header_only = tiff and lazy is not False
    if header_only:  # metadata only, to decide
        check_exists(fpath)
        arr, file_axes, spacing, close, pyramid = open_tiff_lazily(fpath, number)
    else:
        arr, file_axes, spacing, close = open_array(path, dataset=dataset)
    ok = False
    try:
        use_axes = (axes or file_axes or guess_axes(arr.shape)).upper()
        if not (axes or file_axes) and use_axes == "CYX":  # a z-stack saved without axes reads as channels
            warnings.warn(f"{fpath!r} does not say what its axes are: read shape {tuple(arr.shape)} as 'CYX', "
                          f"{arr.shape[0]} channels of one plane; pass axes='ZYX' if they are planes of a volume",
                          stacklevel=2)
        if len(use_axes) != len(arr.shape):
            how = "given" if axes else "from the file"
            raise ValueError(f"axes {use_axes!r} ({how}) do not fit {fpath!r} of shape {tuple(arr.shape)} "
                             f"({len(arr.shape)} dims)")
        if lazy is None:
            lazy = suffix_of(fpath) not in PIL and too_big_to_hold(arr.shape, arr.dtype)
        names = _channel_names_in(arr)
        if lazy:
            data = LazyArray(arr, use_axes, keep=close, where=fpath)
            # shown when zoomed out, as OME-Zarr's levels
            pyramid = [LazyArray(a, use_axes, where=fpath) for a in pyramid]
        else:
            if header_only:  # lazy=False read the pixels above already: once is enough
                close()
                arr, _, _, close = open_array(fpath, dataset=str(number))
            check_read_size(arr.shape, arr.dtype, "the image", fpath)
            try:
                data = np.asarray(arr[...])
            except Exception as e:
                raise ValueError(f"could not read the pixels of {fpath!r} (corrupt or truncated?): {e}") from e
        ok = True
    finally:
        if not (ok and lazy):  # a lazy image keeps its file open
            close()
    nsp = sum(a in "ZYX" for a in use_axes)
    if spacing is not None and len(spacing) != nsp:
        spacing = spacing[-nsp:] if len(spacing) > nsp else None
    n_ch = arr.shape[use_axes.index("C")] if "C" in use_axes else 1
    if (names is None or len(names) != n_ch) and tiff:
        names = tiff_channel_names(fpath, n_ch, number)
    if (names is None or len(names) != n_ch) and suffix_of(fpath) in PIL and use_axes == "YXC" and n_ch == 3:
        names = list(RGB_NAMES[:3])  # PNG and JPEG colour images are decoded to RGB
    if names is None or len(names) != n_ch:
        names = channel_names_beside(fpath, n_ch)
    inner = inner or (str(dataset).strip("/") if dataset is not None else None)
    others = tiff_other_images(fpath) if tiff and inner is None else 0
    if others:  # a multi-position OME-TIFF: say how to reach the rest instead of dropping them without a word
        warnings.warn(f"{fpath!r} holds {others + 1} images; opened the first. '{fpath}/1' (or dataset='1') opens "
                      "the second, and so on", stacklevel=2)
    # the path names the dataset too, so a project that keeps the path reads this one again
    img = Image(data, axes=use_axes, spacing=spacing, path=fpath + (f"/{inner}" if inner else ""),
                name=stem_of(fpath) + (f"_{inner}" if tiff and inner else ""), channel_names=names,
                levels=pyramid if lazy else None)
    img.file_axes = use_axes
    return img


def _load_files(files, axes, lazy, pattern=None):
    """2D files as one volume, in their order: read whole (:func:`.load_stack`), or left in the files
    (:func:`.open_stack`) when asked to or when too big to hold, as a file would be. ``pattern``: the glob they
    came from, kept as the image's ``path`` (a saved project globs it again)."""
    where = pattern or f"the stack of {len(files)} files from {files[0]}"
    if axes is not None and (not axes or axes.upper()[0] != "Z"):
        raise ValueError(f"{where!r}: the files of a stack are the planes of a volume: axes must start with "
                         f"'Z'; got {axes!r}")
    for f in files:
        check_exists(split_inner(f)[0])
    if lazy is None or lazy:
        arr, file_axes, _, close = open_lazily(files[0])  # the header only
        close()
        plane_axes = (axes.upper()[1:] if axes else None) or file_axes
        plane_axes = (plane_axes or guess_axes(arr.shape)).upper()
        if lazy is None:
            lazy = suffix_of(files[0]) not in PIL and too_big_to_hold((len(files),) + tuple(arr.shape), arr.dtype)
        if lazy and suffix_of(files[0]) in PIL:
            raise ValueError(f"{where!r}: PNG and JPEG files cannot be read lazily (they are compressed whole)")
        if lazy and (set(plane_axes) & set("ZT") or len(plane_axes) != arr.ndim):
            raise ValueError(f"{where!r}: {files[0]!r} is not a 2D image (axes {plane_axes}, shape "
                             f"{tuple(arr.shape)}); a stack's files are the planes of one volume")
    if not lazy:
        img = load_stack(files, lambda f, a, lz: load_image(f, axes=a, lazy=lz), axes=axes, source=pattern)
        img.files = None if pattern else tuple(files)
        return img
    first = load_image(files[0], axes=plane_axes, lazy=True)  # its channel names, as a file gives them
    img = open_stack(files, "Z" + plane_axes, open_lazily, where=where)
    img.channel_names, img.path = first.channel_names, pattern
    if pattern:  # a saved project globs the pattern again
        img.files = None
    return img


def too_big_to_hold(shape, dtype):
    """Whether pixels of ``shape`` and ``dtype`` would take more than an eighth of the memory we may use.

    Such an image is left in its file by default (``load_image(lazy=None)``, an ilastik lane).
    """
    return int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize > available_bytes() / 8


def _channel_names_in(arr):
    attrs = getattr(arr, "attrs", {})
    if "channel_names" not in attrs:
        return None
    try:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in np.asarray(attrs["channel_names"]).ravel()]
    except (TypeError, ValueError):
        return None
    return names if all(len(n) <= 255 for n in names) else None


def _load_ome_zarr(path, axes, lazy):
    """An OME-Zarr image: its finest level (lazy, or read), the coarser ones as ``levels``."""
    r = read_ome_zarr(path)
    use_axes = (axes or r.axes).upper()
    if len(use_axes) != len(r.axes):
        raise ValueError(f"axes {use_axes!r} (given) do not fit {path!r} of shape {r.arrays[0].shape}")
    top = r.arrays[0]
    for a in r.arrays:
        check_dtype(a.dtype, f"{path!r}")
    if lazy is None:
        lazy = too_big_to_hold(top.shape, top.dtype)
    if lazy:
        data = LazyArray(top, use_axes, where=path)
        levels = [LazyArray(a, use_axes, where=path) for a in r.arrays[1:]]
    else:
        check_read_size(top.shape, top.dtype, "the finest level", path)
        data, levels = np.asarray(top[...]), []
    img = Image(data, axes=use_axes, spacing=r.spacing, path=path, channel_names=r.channel_names, levels=levels)
    img.unit = r.unit
    img.file_axes = use_axes
    return img


def _truthy(v):
    return str(v).strip().lower() in ("1", "true", "yes")


def channel_names_beside(path, n_channels):
    """Channel names for the stack at ``path`` from a steinbock CSV beside it, or None.

    Looks for ``<stem>_ilastik.csv`` next to the file, then ``panel.csv`` in its folder and the
    folder above (steinbock's panel: ``name`` column, optional ``keep`` and ``ilastik`` columns).
    The first list of names with ``n_channels`` entries wins: for a TIFF the kept rows, all
    rows, the ``ilastik`` rows, then ``mean`` and the ``ilastik`` rows; for HDF5 (steinbock's
    ilastik stacks, which start with the mean of the ``ilastik`` channels) the other way round.
    """
    import csv

    folder = os.path.dirname(os.path.abspath(path))
    stem = stem_of(path)
    for cand in (os.path.join(folder, stem + "_ilastik.csv"), os.path.join(folder, "panel.csv"),
                 os.path.join(os.path.dirname(folder), "panel.csv")):
        if not os.path.isfile(cand):
            continue
        try:
            with open(cand, newline="") as fh:
                rows = list(csv.DictReader(fh))
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        if not rows or "name" not in rows[0]:
            continue
        names = [r["name"] or r.get("channel", "") for r in rows]
        options = [names]
        if "keep" in rows[0]:
            options.insert(0, [n for n, r in zip(names, rows) if _truthy(r["keep"])])
        if "ilastik" in rows[0]:
            il = [n for n, r in zip(names, rows) if _truthy(r["ilastik"])]
            # steinbock writes its ilastik stacks as HDF5 (mean first), the raw stacks as TIFF
            options = [["mean"] + il, il] + options if suffix_of(path) in H5 else options + [il, ["mean"] + il]
        for opt in options:
            if len(opt) == n_channels:
                return opt
    return None


def as_image(x, **load_kwargs):
    """Return ``x`` as an :class:`Image` (Image, channel-last ndarray, a path, or a list of paths: a stack)."""
    if isinstance(x, Image):
        return x
    if isinstance(x, (str, os.PathLike)) or (isinstance(x, (list, tuple)) and x and all(
            isinstance(p, (str, os.PathLike)) for p in x)):
        return load_image(x, **load_kwargs)
    arr = x if is_array_like(x) else np.asarray(x)  # a dask or zarr array is not read here: Image decides
    if len(arr.shape) == 2:
        return Image(arr, axes="YX")
    if len(arr.shape) == 3:
        return Image(arr, axes="YXC")
    if len(arr.shape) == 4:
        return Image(arr, axes="ZYXC")
    raise ValueError(f"an array image must be channel-last (Y, X, C) or (Z, Y, X, C); got shape {tuple(arr.shape)}")

