"""Opening each file format without reading its pixels: TIFF (also as a Zarr store), HDF5, Zarr, NPY, PNG/JPEG."""
from __future__ import annotations

import itertools
import json
import os

from typing import NamedTuple

import numpy as np

from .bdv import is_bdv, open_bdv
from .lazy import MappedArray
from .paths import NPY, TIFF_FAMILY

__all__ = ["RGB_NAMES", "check_exists", "axes_from_attrs", "open_plain", "open_tiff_lazily", "OpenedTiff",
           "tiff_channel_names", "tiff_series", "tiff_other_images", "open_hdf5_file", "open_h5", "open_zarr",
           "check_zarr_chunks"]

RGB_NAMES = ("red", "green", "blue", "alpha")  # the channels of an RGB(A) TIFF, PNG or JPEG

# tifffile names axes more finely than we do; map to TZCYX.
_TIFF_AXES = {"S": "C", "E": "C", "L": "C", "H": "C", "I": "Z", "Q": "?", "R": "?", "V": "?", "A": "?"}


def check_exists(path):
    """A FileNotFoundError naming ``path`` (and its folder when that is missing too) unless it exists."""
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
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as e:  # JSON nested too deep
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


def open_plain(path, suf, series=0):
    """A TIFF (its image number ``series``), NPY (memory-mapped), PNG or JPEG file:
    ``(array, axes or None, spacing or None, closer)``."""
    if suf in TIFF_FAMILY:
        try:
            data, axes, spacing = _read_tiff(path, series)
        except ValueError:  # already names the file, the size or the image number
            raise
        except Exception as e:  # a damaged file's tags raise many different types
            raise ValueError(f"could not read {path!r} as {suf} (corrupt or truncated?): {e}") from e
        return data, axes, spacing, lambda: None
    try:
        if suf in NPY:
            data, axes, spacing = np.load(path, allow_pickle=False, mmap_mode="r"), None, None
            if data.flags.c_contiguous and data.size:  # mapped per read, not kept (see MappedArray)
                data = MappedArray(path, data.offset, data.shape, data.dtype)
        else:
            from PIL import Image as PILImage

            with PILImage.open(path) as im:
                im.load()
                if im.mode not in ("1", "L", "I", "I;16", "F", "RGB"):  # alpha dropped; CMYK JPEGs as RGB
                    im = im.convert("L" if im.mode in ("LA", "La") else "RGB")
                data = np.asarray(im)
            axes, spacing = ("YXC" if data.ndim == 3 else "YX"), None
    except Exception as e:  # corrupt or truncated files raise many different types
        raise ValueError(f"could not read {path!r} as {suf} (corrupt or truncated?): {e}") from e
    return data, axes, spacing, lambda: None


def _read_tiff(path, index=0):
    import tifffile

    from .checks import check_read_size

    try:
        tf = tifffile.TiffFile(path)
    except Exception as e:  # corrupt or truncated files raise many different types
        raise ValueError(f"could not read {path!r} as .tif (corrupt or truncated?): {e}") from e
    with tf:
        series = tiff_series(tf, index, path)
        check_read_size(series.shape, series.dtype, "the image", path)  # before reading what the file declares
        try:
            data = series.asarray()
        except Exception as e:
            raise ValueError(f"could not read {path!r} as .tif (corrupt or truncated?): {e}") from e
        axes = _tiff_axes(series)
        spacing = _tiff_spacing(tf, series)
    return data, axes, spacing


def tiff_series(tf, index, path):
    """Image number ``index`` (a tifffile series) of the open TIFF ``tf``; an error naming ``path`` and the count."""
    try:
        n = len(tf.series)
    except Exception as e:  # a damaged file's page structure raises many different types
        raise ValueError(f"could not read {path!r} as .tif (corrupt or truncated?): {e}") from e
    if not 0 <= int(index) < n:
        raise ValueError(f"{path!r} holds {n} image{'s' if n != 1 else ''} (0..{n - 1}); there is no image {index}")
    return tf.series[int(index)]


def tiff_other_images(path):
    """How many images beyond the first a TIFF holds (multi-position OME-TIFFs), not counting a slide scan's
    label, macro and thumbnail images; 0 if it cannot tell."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            if tf.is_svs or tf.is_ndpi or tf.is_qpi or tf.is_scn:
                return 0
            return len(tf.series) - 1
    except Exception:  # only a note: the read itself reports a bad file
        return 0


class OpenedTiff(NamedTuple):
    """A TIFF opened by :func:`open_tiff_lazily`: nothing read yet."""

    array: object  # series 0, finest level, as a Zarr array over its strips or tiles
    axes: object  # letters of TZCYX, or None when the file does not say
    spacing: object  # voxel size per spatial axis, or None
    close: object  # closes the file
    levels: list  # the coarser levels of a pyramid, finest first (Zarr arrays; empty if none)


def open_tiff_lazily(path, index=0):
    """Image (series) ``index`` of a TIFF through tifffile's Zarr store, with its pyramid's coarser levels:
    an :class:`OpenedTiff`."""
    import tifffile
    import zarr

    try:
        tf = tifffile.TiffFile(path)
    except Exception as e:
        raise ValueError(f"could not read {path!r} as .tif (corrupt or truncated?): {e}") from e
    try:
        series = tiff_series(tf, index, path)
    except ValueError:
        tf.close()
        raise
    try:
        arr = _mapped(path, series, index)
        if arr is None:
            arr = zarr.open(series.aszarr(level=0), mode="r")
        return OpenedTiff(arr, _tiff_axes(series), _tiff_spacing(tf, series), tf.close, _coarser_levels(series, arr))
    except Exception as e:
        tf.close()
        raise ValueError(f"could not open {path!r} as a tiled or striped TIFF: {e}") from e


def _mapped(path, series, index=0):
    """Series ``index`` memory-mapped where its pixels lie uncompressed in one run (ImageJ and Fiji write them so),
    or None.

    tifffile's Zarr store makes a strip one chunk, and ImageJ writes a plane as one strip: reading a
    256^2 tile of a 12288^2 plane read the whole plane (1.6 s, 0.6 GB); mapped, only its rows are read.
    """
    import tifffile

    try:
        if series.dataoffset is None or series.levels[0].keyframe.compression != 1:
            return None
        mm = tifffile.memmap(path, series=index, mode="r")
    except Exception:  # not contiguous after all, or a layout memmap refuses: the Zarr store reads it
        return None
    return MappedArray(path, mm.offset, mm.shape, mm.dtype) if tuple(mm.shape) == tuple(series.shape) else None


def _coarser_levels(series, top):
    """Zarr arrays of a pyramidal TIFF's coarser levels (OME-TIFF SubIFDs, QPTIFF ...), finest first.

    A level is kept only when it has the finest level's axes and non-spatial sizes, each spatial size
    no larger than the level before; a pyramid that does not fit is ignored, never guessed at.
    """
    import zarr

    out, prev = [], tuple(top.shape)
    axes = series.axes
    for i in range(1, len(getattr(series, "levels", []) or [])):
        try:
            lv = series.levels[i]
            if lv.axes != axes or len(lv.shape) != len(prev):
                break
            shape = tuple(lv.shape)
            if any((a in "YX" and n > p) or (a not in "YX" and n != p) for a, n, p in zip(axes, shape, prev)):
                break
            out.append(zarr.open(series.aszarr(level=i), mode="r"))
            prev = shape
        except Exception:  # an odd pyramid: the finest level alone is still right
            break
    return out


def _tiff_axes(series):
    axes = "".join(_TIFF_AXES.get(a, a) for a in series.axes)
    if "?" in axes or not set(axes) <= set("TZCYX"):
        return None  # no usable metadata: let the shape decide (or the caller's axes=)
    return axes


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


def tiff_channel_names(path, n_channels, index=0):
    """The channel names a TIFF's metadata gives, or None.

    An OME-TIFF's ``Channel Name`` attributes (Bio-Formats, QuPath, tifffile), an ImageJ
    hyperstack's ``Labels`` (one per plane, channel fastest: kept when every plane of a channel
    has the same label), or :data:`RGB_NAMES` for an 8-bit interleaved RGB(A) TIFF. Names longer than 255 characters,
    or a count that does not fit, give None.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            names = None
            if tf.is_ome:
                import xml.etree.ElementTree as ET

                pixels = [e for e in ET.fromstring(tf.ome_metadata).iter() if e.tag.endswith("Pixels")]
                px = pixels[index]  # image number index's
                names = [ch.get("Name") for ch in px if ch.tag.endswith("Channel")]
            elif tf.is_imagej:
                labels = list((tf.imagej_metadata or {}).get("Labels") or [])
                if labels and len(labels) % n_channels == 0:
                    per_channel = [set(labels[c::n_channels]) for c in range(n_channels)]
                    names = [next(iter(s)) if len(s) == 1 else None for s in per_channel]
            else:  # tifffile marks any (3 | 4, y, x) stack RGB, planar: interleaved 8-bit is a photograph or scan
                pg = tiff_series(tf, index, path).keyframe
                colour = pg.photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR)  # JPEG slides
                rgb = colour and pg.planarconfig == tifffile.PLANARCONFIG.CONTIG
                if rgb and pg.dtype == np.uint8 and pg.samplesperpixel == n_channels in (3, 4):
                    names = list(RGB_NAMES[:n_channels])  # alpha last
    except Exception:  # names are a nicety: never fail a load over them
        return None
    if not names or len(names) != n_channels or not all(isinstance(n, str) and 0 < len(n) <= 255 for n in names):
        return None
    return [str(n) for n in names]


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


def open_h5(path, dataset):
    """One dataset of an HDF5 file, open (not read): ``(dataset, axes, spacing, closer)``."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"could not read {path!r} as HDF5 (corrupt or truncated?): {e}") from e
    if dataset is None and is_bdv(f):  # BigDataViewer's layout: every time point and view at full resolution
        try:
            arr, axes, spacing = open_bdv(f, path)
        finally:
            f.close()
        return arr, axes, spacing, lambda: None
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


def open_zarr(path, dataset):
    """One array of a Zarr store, open (not read): ``(array, axes, spacing, closer)``."""
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
