"""Writing arrays to TIFF, HDF5 (ilastik's layout), NPY and Zarr, atomically."""
from __future__ import annotations

import contextlib
import json
import os

import numpy as np

from .atomic import atomic_write
from .ome_zarr import write_ome_zarr
from .paths import H5, NPY, TIFF, ZARR, is_ome_zarr_name, suffix_of

__all__ = ["write_array", "create_array", "write_in_slabs", "axistags", "SLAB_BYTES"]

SLAB_BYTES = 64 * 2**20


def axistags(axes):
    """ilastik's (vigra's) JSON ``axistags`` for axes letters."""
    flags = {"C": 1, "T": 8}
    return json.dumps(
        {"axes": [{"key": a.lower(), "typeFlags": flags.get(a, 2), "resolution": 0, "description": ""} for a in axes]}
    )


def write_array(path, data, axes, spacing=None, dataset="exported_data", compression=True, channel_names=None):
    """Write ``data`` (with axes letters ``axes``) atomically; format from the suffix.

    TIFF is written as an ImageJ hyperstack when the axes order allows (``ZCYX``, ``CYX``,
    ``YX`` ...), otherwise as a plain TIFF with the axes in its description. HDF5 writes
    ``dataset`` with ilastik-style ``axistags`` and an ``axes`` attribute. NPY writes the array.
    A path named ``.ome.tif`` is an OME-TIFF (OME-XML with channel names and pixel sizes) when the
    axes are in ``TZCYX`` order. ``channel_names`` go into HDF5's ``channel_names``, OME-Zarr's
    channel labels, an OME-TIFF's channels and an ImageJ TIFF's labels, where :func:`.load_image`
    reads them back.
    """
    path = os.fspath(path)
    if is_ome_zarr_name(path):
        return _write_ome_zarr(path, np.asarray(data), axes.upper(), spacing, channel_names)
    suf = suffix_of(path)
    if suf not in TIFF + H5 + NPY + ZARR:
        raise ValueError(f"cannot write {path!r}: unknown suffix {suf!r}; use .tif, .h5 or .npy")
    data = np.asarray(data)
    if len(axes) != data.ndim:
        raise ValueError(f"axes {axes!r} do not fit data of shape {data.shape} for {path!r}")
    with atomic_write(path, suffix=suf) as tmp:
        if suf in TIFF:
            import tifffile

            data = np.ascontiguousarray(data)
            ij_ok = (
                data.dtype in (np.uint8, np.uint16, np.float32)
                and set(axes) <= set("TZCYX")
                and list(axes) == sorted(axes, key="TZCYX".index)
            )
            kw = {}
            if spacing is not None and len(spacing) >= 2:
                kw["resolution"] = (1.0 / spacing[-1], 1.0 / spacing[-2])
            if _is_ome_tiff_name(path) and set(axes) <= set("TZCYX") and list(axes) == sorted(axes, key="TZCYX".index):
                # named .ome.tif: OME-XML with channel names and pixel sizes, as QuPath and Bio-Formats read it
                md = {"axes": axes}
                if channel_names is not None and "C" in axes:
                    md["Channel"] = {"Name": [str(n) for n in channel_names]}
                if spacing is not None:
                    md.update({f"PhysicalSize{a}": float(v) for a, v in zip("ZYX"[-len(spacing):], spacing)})
                tifffile.imwrite(tmp, data, ome=True, metadata=md, **kw)
            elif ij_ok:
                md = {"axes": axes}
                if spacing is not None and len(spacing) == 3:
                    md["spacing"] = spacing[0]
                if channel_names is not None and "C" in axes:  # ImageJ labels planes, channel fastest
                    planes = int(np.prod([n for a, n in zip(axes, data.shape) if a in "TZC"]))
                    md["Labels"] = [str(n) for n in channel_names] * (planes // len(channel_names))
                tifffile.imwrite(tmp, data, imagej=True, metadata=md, **kw)
            else:
                tifffile.imwrite(tmp, data, metadata={"axes": axes}, **kw)
        elif suf in NPY:
            with open(tmp, "wb") as fh:
                np.save(fh, data)
        else:
            with create_array(tmp, data.shape, data.dtype, axes, dataset, spacing=spacing,
                              compression=compression, channel_names=channel_names) as target:
                write_in_slabs(target, data)
    return path


def write_in_slabs(target, data, key=None):
    """``target[key] = data`` (``key``: slices, default the whole) in slabs of ~:data:`SLAB_BYTES` along the
    first axis, each whole chunks of ``target`` along it.

    h5py copies an array that is not contiguous (a whole image's features, channel-last views of
    channel-first stacks) before writing it: a slab's copy is small.
    """
    key = tuple(key) if key is not None else (slice(None),)
    start = key[0].start or 0
    c0 = (getattr(target, "chunks", None) or (1,))[0]  # whole chunks: none is written twice
    step = max(1, SLAB_BYTES // max(data[:1].nbytes, 1)) // c0 * c0 or c0
    for i in range(0, len(data), step):
        n = min(step, len(data) - i)
        target[(slice(start + i, start + i + n),) + key[1:]] = data[i:i + n]


def _is_ome_tiff_name(path):
    return os.fspath(path).lower().endswith((".ome.tif", ".ome.tiff"))


def _write_ome_zarr(path, data, axes, spacing, channel_names):
    """An OME-Zarr pyramid of ``data``: axes put in NGFF's order; classes (8-bit) thinned, other values averaged."""
    order = "".join(a for a in "TCZYX" if a in axes)
    data = np.transpose(data, [axes.index(a) for a in order])
    method = "nearest" if data.dtype.itemsize == 1 else "mean"
    return write_ome_zarr(path, data, order, spacing, channel_names=channel_names, method=method)


@contextlib.contextmanager
def create_array(tmp, shape, dtype, axes, dataset="exported_data", chunks=None, spacing=None, compression=True,
                 channel_names=None):
    """Yield a new HDF5 dataset or Zarr array at ``tmp`` (a temporary of :func:`atomic_write`) to fill.

    What :func:`write_array` writes at once, written block by block (batch streams large outputs
    this way): HDF5 gets ilastik's ``axistags`` and an ``axes`` attribute, Zarr an ``axes``
    attribute; both a ``channel_names`` attribute when given. The file is closed when the block ends.
    """
    if suffix_of(tmp) in ZARR:
        import zarr

        if os.path.isfile(tmp):  # atomic_write made an empty file; Zarr writes a folder
            os.remove(tmp)
        z = zarr.open(tmp, mode="w", shape=shape, dtype=dtype, **({"chunks": chunks} if chunks else {}))
        z.attrs["axes"] = axes
        if channel_names is not None:
            z.attrs["channel_names"] = [str(n) for n in channel_names]
        yield z
        return
    import h5py

    with h5py.File(tmp, "w") as f:
        comp = dict(compression="gzip", compression_opts=1) if compression else {}
        d = f.create_dataset(dataset, shape=shape, dtype=dtype, chunks=chunks, **comp)
        d.attrs["axistags"] = axistags(axes)
        d.attrs["axes"] = axes
        if spacing is not None:
            d.attrs["spacing"] = np.asarray(spacing, float)
        if channel_names is not None:
            d.attrs["channel_names"] = np.array([str(n) for n in channel_names], dtype=object)
        yield d
