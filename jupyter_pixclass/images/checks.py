"""Checks before a file's pixels are read: plain-number dtypes, sizes this process can hold."""
from __future__ import annotations

import numpy as np

from ..runtime.memory import container_available_bytes, default_cache_bytes

__all__ = ["check_dtype", "check_read_size"]


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


def check_read_size(shape, dtype, what, path):
    """Refuse to read what would not fit the memory this process may use: a damaged file declares anything."""
    nbytes = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    box = container_available_bytes()
    limit = max(4 * default_cache_bytes(), 2**30) if box is None else box // 2
    if nbytes > limit:
        raise ValueError(f"{path!r}: {what} of shape {tuple(shape)} ({nbytes / 2**30:.1f} GiB) is larger than "
                         f"this process may read at once ({limit / 2**30:.1f} GiB)")
