"""Checks before a file's pixels are read (plain-number dtypes, sizes this process can hold) and as they are read
(values features can be computed from)."""
from __future__ import annotations

import numpy as np

from ..runtime.memory import available_bytes, container_available_bytes, default_cache_bytes

__all__ = ["check_dtype", "check_values", "unlike", "check_read_size", "check_result_size", "result_fits", "MAX_VALUE"]

# features are float32 and hold squares of gradients (the structure tensor): values beyond this overflow them
MAX_VALUE = 1e18


def check_dtype(dtype, source):
    """Refuse dtypes that are not plain numbers (object, structured, strings, dates) before any read.

    Object arrays are how pickled payloads reach numpy, zarr and h5py; structured ones reach
    compiled code with a layout nobody checked.
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{source} has dtype {dtype!s}, not plain numbers (bool, integer or float): refused "
                         "before reading any pixel")
    return dtype


def check_values(data, source, region=""):
    """Refuse pixels features cannot be computed from: NaN, infinite, or beyond ±:data:`MAX_VALUE`.

    Features are float32: a NaN spreads through every filter it reaches, and a forest trained on it
    predicts nothing (a lazy image padded with NaN trained into 0.5 everywhere); the squared
    gradients of values beyond 1e18 overflow. ``region`` names the part read, for images read as
    needed.
    """
    if data.dtype.kind not in "fiu" or data.size == 0 or (data.dtype.kind in "iu" and data.dtype.itemsize < 8):
        return data
    lo, hi = float(np.min(data)), float(np.max(data))  # NaN propagates into both
    if np.isfinite(lo) and np.isfinite(hi) and max(-lo, hi) <= MAX_VALUE:
        return data
    n_nan, n_inf = (int(np.isnan(data).sum()), int(np.isinf(data).sum())) if data.dtype.kind == "f" else (0, 0)
    what = (f"{n_nan} NaN and {n_inf} infinite values" if n_nan or n_inf else
            f"values up to {max(-lo, hi):.3g} (features overflow beyond {MAX_VALUE:.0e})")
    if n_nan or n_inf:  # a region: an image left in its file, perhaps too big to hold: numpy's fix would read it whole
        how = ("write a copy without them (e.g. dask.array.from_zarr(...).map_blocks(np.nan_to_num).to_zarr(...)) "
               "and load that" if region else "replace them (e.g. np.nan_to_num)")
    else:
        how = "rescale them (e.g. divide by a power of ten)"
    raise ValueError(f"{source}{region} of shape {tuple(data.shape)} has {what}; {how} before classifying")


def _named(names):
    return all(not (n.startswith("ch ") and n[3:].isdigit()) for n in names)


def unlike(ref, img, normalized=False):
    """What makes image ``img`` unlike ``ref`` (both :class:`.Image`) for one forest, in sentences: channels
    named otherwise (the same count in another order, or other markers), or pixels of another type unless the
    features are ``normalized`` (a forest's thresholds are intensities). Neither raises an error, and either
    predicts garbage: an 8-bit copy of a 16-bit scene came out background everywhere."""
    out = []
    if img.n_channels != ref.n_channels:  # an error, where the count is checked: nothing to add here
        return out
    if _named(ref.channel_names) and _named(img.channel_names) and list(img.channel_names) != list(ref.channel_names):
        out.append(f"its channels are {img.channel_names}, the project's images have {ref.channel_names}; the forest "
                   "reads channels by position")
    a, b = np.dtype(ref.data.dtype), np.dtype(img.data.dtype)
    if a != b and not (a.kind == b.kind == "f") and not normalized:
        out.append(f"its pixels are {b}, the project's images have {a} pixels; the forest's thresholds are "
                   "intensities, so unless both were scaled alike use FeatureSet(normalize='percentile')")
    return out


def _hold_limit():
    """Bytes one array may take: half the container's memory, else four cache budgets (at least 1 GiB)."""
    box = container_available_bytes()
    return max(4 * default_cache_bytes(), 2**30) if box is None else box // 2


def _result_bytes(shape, dtype):
    return int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize


def _result_limit():
    return max(available_bytes() // 2, 256 * 2**20)  # half of what is free now: a workstation holds more


def result_fits(shape, dtype):
    """Whether a whole-image result of ``shape`` and ``dtype`` passes :func:`check_result_size`."""
    return _result_bytes(shape, dtype) <= _result_limit()


def check_result_size(shape, dtype, what, name, instead=None):
    """Refuse to compute a whole-image result that would not fit in memory, before allocating it.

    Where memory is overcommitted, allocating succeeds and filling it gets the kernel killed; an
    image left in its file may be far larger than memory. The limit is half of what is free now
    (:func:`.available_bytes`: ``PIXCLASS_MEMORY_LIMIT`` and the container's limit count); the
    error says what writes the result instead (``instead``, by default export and batch).
    """
    nbytes, limit = _result_bytes(shape, dtype), _result_limit()
    if nbytes > limit:
        raise ValueError(f"{what} of image {name!r} ({tuple(shape)} {np.dtype(dtype)}, {nbytes / 2**30:.1f} GiB) would "
                         f"not fit in the memory this process may hold at once ({limit / 2**30:.1f} GiB): "
                         + (instead or "write them block by block with project.export(i, 'out.zarr' or '.h5') or "
                            "pc.batch_predict, which never hold them whole"))


def check_read_size(shape, dtype, what, path):
    """Refuse to read what would not fit the memory this process may use: a damaged file declares anything."""
    nbytes = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    limit = _hold_limit()
    if nbytes > limit:
        raise ValueError(f"{path!r}: {what} of shape {tuple(shape)} ({nbytes / 2**30:.1f} GiB) is larger than "
                         f"this process may read at once ({limit / 2**30:.1f} GiB)")
