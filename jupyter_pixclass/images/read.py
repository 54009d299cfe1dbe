"""Reading images from TIFF, HDF5, NPY, PNG/JPEG and Zarr into a channel-last :class:`.Image`."""
from __future__ import annotations

import itertools
import json
import os

import numpy as np

from .checks import check_dtype
from .image import Image, guess_axes
from .paths import H5, NPY, SUFFIXES, TIFF, ZARR, split_inner, suffix_of, stem_of

__all__ = ["load_image", "as_image", "open_array", "open_hdf5_file", "axes_from_attrs", "channel_names_beside",
           "check_zarr_chunks"]

# tifffile names axes more finely than we do; map to TZCYX.
_TIFF_AXES = {"S": "C", "E": "C", "L": "C", "H": "C", "I": "Z", "Q": "?", "R": "?", "V": "?", "A": "?"}


def _check_exists(path):
    if not os.path.exists(path):
        parent = os.path.dirname(os.path.abspath(path))
        hint = "" if os.path.isdir(parent) else f" (folder {parent!r} does not exist either)"
        raise FileNotFoundError(f"no such image file: {os.fspath(path)!r}{hint}")


def _h5_datasets(f):
    names = []
    f.visititems(lambda n, o: names.append(n) if hasattr(o, "shape") else None)
    return names


def axes_from_attrs(attrs, source="the array"):
    """Axes from an ``axes`` attribute, ilastik/vigra ``axistags`` or OME-NGFF ``multiscales``."""
    try:
        return _axes_unchecked(attrs)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        raise ValueError(f"{source}: its axis metadata (axes / axistags / multiscales) is unreadable: "
                         f"{type(e).__name__}: {e}") from None


def _axes_unchecked(attrs):
    if "axes" in attrs:
        a = attrs["axes"]
        if isinstance(a, bytes):
            a = a.decode()
        if isinstance(a, str):
            return a.upper()
        if isinstance(a, (list, tuple)):  # OME-NGFF style list of dicts/strings
            return "".join((x["name"] if isinstance(x, dict) else str(x))[0].upper() for x in a)
    if "axistags" in attrs:
        tags = attrs["axistags"]
        tags = json.loads(tags.decode() if isinstance(tags, bytes) else tags)
        return "".join(t["key"].upper() for t in tags["axes"])
    if "multiscales" in attrs:
        ms = attrs["multiscales"][0]
        return "".join(a["name"][0].upper() if isinstance(a, dict) else a[0].upper() for a in ms["axes"])
    return None


def open_array(path, dataset=None):
    """Open an image file lazily where the format allows it.

    Returns ``(array_like, axes_or_None, spacing_or_None, closer)``; HDF5 and Zarr give
    lazily sliced arrays (h5py / zarr), others an ndarray. ``closer()`` releases the file.
    Errors name the file and, for HDF5/Zarr, list the datasets that exist.
    """
    path, inner = split_inner(path)
    dataset = dataset or inner
    _check_exists(path)
    suf = suffix_of(path)
    if suf not in SUFFIXES:
        raise ValueError(
            f"cannot read {path!r}: unknown suffix {suf or '(none)'!r}; supported: {', '.join(SUFFIXES)}"
        )
    if suf in H5:
        opened = _open_h5(path, dataset)
    elif suf in ZARR:
        opened = _open_zarr(path, dataset)
    else:
        opened = _open_plain(path, suf)
    try:
        check_dtype(opened[0].dtype, f"{path!r}" + (f" (dataset {dataset!r})" if dataset else ""))
    except ValueError:
        opened[3]()
        raise
    return opened


def _open_plain(path, suf):
    try:
        if suf in TIFF:
            data, axes, spacing = _read_tiff(path)
        elif suf in NPY:
            data, axes, spacing = np.load(path, allow_pickle=False, mmap_mode="r"), None, None
        else:
            from PIL import Image as PILImage

            with PILImage.open(path) as im:
                im.load()
                if im.mode in ("RGBA", "LA", "P", "PA"):
                    im = im.convert("RGB" if im.mode in ("RGBA", "P", "PA") else "L")
                data = np.asarray(im)
            axes, spacing = ("YXC" if data.ndim == 3 else "YX"), None
    except Exception as e:  # corrupt or truncated files raise many different types
        raise ValueError(f"could not read {path!r} as {suf} (corrupt or truncated?): {e}") from e
    return data, axes, spacing, lambda: None


def _read_tiff(path):
    import tifffile

    with tifffile.TiffFile(path) as tf:
        series = tf.series[0]
        data = series.asarray()
        axes = "".join(_TIFF_AXES.get(a, a) for a in series.axes)
        spacing = _tiff_spacing(tf, series)
    if "?" in axes or not set(axes) <= set("TZCYX"):
        axes = None  # no usable metadata: let the shape decide (or the caller's axes=)
    return data, axes, spacing


def _tiff_spacing(tf, series):
    try:
        if tf.is_ome:
            import xml.etree.ElementTree as ET

            root = ET.fromstring(tf.ome_metadata)
            px = next(e for e in root.iter() if e.tag.endswith("Pixels"))
            sp = [float(px.get(f"PhysicalSize{a}", 1.0)) for a in "ZYX"]
            return tuple(sp) if "Z" in series.axes else tuple(sp[1:])
        page = tf.pages[0]
        sp_yx = []
        for tag in ("YResolution", "XResolution"):
            t = page.tags.get(tag)
            num, den = t.value if t is not None else (1, 1)
            sp_yx.append(den / num if num else 1.0)
        if tf.is_imagej:
            z = float(tf.imagej_metadata.get("spacing", 1.0))
            return (z, *sp_yx) if "Z" in series.axes else tuple(sp_yx)
        if page.tags.get("XResolution") is not None:
            return tuple(sp_yx)
    except Exception:  # spacing is a nicety: never fail a load over it
        pass
    return None


def open_hdf5_file(path, what):
    """Open the HDF5 file ``path`` for reading; errors name it and say it is not ``what``."""
    import h5py

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such {what}: {path!r}")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path!r} is not a readable {what} (not an HDF5 file, or truncated): {e}") from None


def _open_h5(path, dataset):
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"could not read {path!r} as HDF5 (corrupt or truncated?): {e}") from e
    names = _h5_datasets(f)
    if dataset is None:
        if len(names) != 1:
            f.close()
            raise ValueError(
                f"{path!r} holds {len(names)} datasets {names}; choose one with "
                f"dataset= or '{os.path.basename(path)}/<dataset>'"
            )
        dataset = names[0]
    if dataset not in f or not hasattr(f[dataset], "shape"):
        f.close()
        raise KeyError(f"no dataset {dataset!r} in {path!r}; datasets there: {names}")
    d = f[dataset]
    try:
        axes = axes_from_attrs(d.attrs, f"{path!r} dataset {dataset!r}")
    except ValueError:
        f.close()
        raise
    spacing = tuple(float(s) for s in d.attrs["spacing"]) if "spacing" in d.attrs else None
    return d, axes, spacing, f.close


def _open_zarr(path, dataset):
    import zarr

    try:
        z = zarr.open(path, mode="r")
    except Exception as e:
        raise ValueError(f"could not read {path!r} as Zarr: {e}") from e
    if hasattr(z, "shape") and dataset is None:
        check_zarr_chunks(z, repr(path))
        return z, axes_from_attrs(dict(z.attrs), repr(path)), None, lambda: None
    names = []
    if not hasattr(z, "shape"):
        names = [k for k, _ in z.arrays()] if hasattr(z, "arrays") else list(z.array_keys())
    if dataset is None:
        if len(names) != 1:
            raise ValueError(f"{path!r} holds {len(names)} arrays {names}; choose one with dataset=")
        dataset = names[0]
    try:
        arr = z[dataset]
        arr.shape
    except Exception:
        raise KeyError(f"no array {dataset!r} in {path!r}; arrays there: {names}") from None
    check_zarr_chunks(arr, f"{path!r} (array {dataset!r})")
    axes = axes_from_attrs(dict(arr.attrs), repr(path)) or axes_from_attrs(dict(z.attrs), repr(path))
    return arr, axes, None, lambda: None


def check_zarr_chunks(arr, what):
    """Refuse a Zarr array with missing chunks whose contents it leaves undefined.

    The Zarr specs define a missing chunk as the array's ``fill_value`` (zarr 3 leaves chunks
    that hold only the fill value unwritten by default, so such files are valid). An array
    whose ``fill_value`` is null (Zarr v2) leaves them undefined: zarr would read zeros, so a
    deleted or never-written chunk there is damage and is refused, naming the chunk.
    """
    if arr.fill_value is not None:
        return
    try:
        have, total = arr.nchunks_initialized, arr.nchunks
    except Exception as e:
        raise ValueError(f"could not list the chunks of {what}: {e}") from e
    if have >= total:
        return
    missing = None
    root = getattr(arr.store, "root", None)
    if root is not None:  # a local store: name the first missing chunk file
        for coords in itertools.product(*(range(n) for n in arr.cdata_shape)):
            key = arr.metadata.encode_chunk_key(coords)
            if not os.path.exists(os.path.join(os.fspath(root), arr.path, key)):
                missing = f"chunk {key!r} (chunk index {coords})"
                break
    raise ValueError(
        f"{what} is missing {total - have} of its {total} chunks"
        + (f", first {missing}" if missing else "")
        + "; its fill_value is null, so their pixels are undefined (damaged or partly written array)"
    )


def load_image(path, axes=None, dataset=None):
    """Load an image file into a channel-last :class:`Image`.

    Parameters
    ----------
    path : str or path-like
        ``.tif/.tiff`` (ImageJ and OME axes honoured), ``.h5/.hdf5`` (``"file.h5/group/data"``,
        ``dataset=``, or the only dataset), ``.npy``, ``.png/.jpg``, ``.zarr``.
    axes : str, optional
        Letters from ``TZCYX`` overriding the file's own axes, e.g. ``"CYX"`` or ``"ZCYX"``.
    dataset : str, optional
        Dataset inside an HDF5 file or Zarr group.

    Returns
    -------
    Image

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Unknown suffix, corrupt file, axes that do not fit the shape, more than one time point,
        empty or non-finite data; the message names the file and the shape.
    KeyError
        The HDF5 dataset does not exist (the message lists those that do).
    """
    fpath, _ = split_inner(path)
    arr, file_axes, spacing, close = open_array(path, dataset=dataset)
    names = None
    try:
        try:
            data = np.asarray(arr[...])
        except Exception as e:
            raise ValueError(f"could not read the pixels of {fpath!r} (corrupt or truncated?): {e}") from e
        attrs = getattr(arr, "attrs", {})
        if "channel_names" in attrs:
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in np.asarray(attrs["channel_names"]).ravel()]
    finally:
        close()
    use_axes = (axes or file_axes or guess_axes(data.shape)).upper()
    if len(use_axes) != data.ndim:
        how = "given" if axes else "from the file"
        raise ValueError(
            f"axes {use_axes!r} ({how}) do not fit {fpath!r} of shape {data.shape} ({data.ndim} dims)"
        )
    nsp = sum(a in "ZYX" for a in use_axes)
    if spacing is not None and len(spacing) != nsp:
        spacing = spacing[-nsp:] if len(spacing) > nsp else None
    n_ch = data.shape[use_axes.index("C")] if "C" in use_axes else 1
    if names is None or len(names) != n_ch:
        names = channel_names_beside(fpath, n_ch)
    return Image(data, axes=use_axes, spacing=spacing, path=fpath, channel_names=names)


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
    """Return ``x`` as an :class:`Image` (Image, channel-last ndarray, or path)."""
    if isinstance(x, Image):
        return x
    if isinstance(x, (str, os.PathLike)):
        return load_image(x, **load_kwargs)
    arr = np.asarray(x)
    if arr.ndim == 2:
        return Image(arr, axes="YX")
    if arr.ndim == 3:
        return Image(arr, axes="YXC")
    if arr.ndim == 4:
        return Image(arr, axes="ZYXC")
    raise ValueError(f"an array image must be channel-last (Y, X, C) or (Z, Y, X, C); got shape {arr.shape}")
