"""Several 3D datasets of one HDF5 file (a time point and channel each) as one array: Imaris and BigDataViewer."""
from __future__ import annotations

import numpy as np

from .lazy import full_key

__all__ = ["Hdf5Parts"]


class Hdf5Parts:
    """3D datasets of one HDF5 file, one a time point and channel, as one ``(T,) C, Z, Y, X`` array read on demand.

    ``parts`` are ``(t, c, dataset name)``, time point major; ``shape`` may be smaller than the
    datasets (Imaris pads them to whole chunks): reads are cropped to it. ``dtype`` other than the
    datasets' reinterprets their bytes (BigDataViewer keeps uint16 as int16). Each read opens the
    file, so nothing stays open and the array travels to dask workers as its path; it reads only
    the time points, channels and region asked for. ``attrs`` (``channel_names``) as a dataset's.
    """

    def __init__(self, path, shape, dtype, parts, attrs=None):
        self.path, self.shape, self.dtype = path, tuple(shape), np.dtype(dtype)
        self.parts = parts
        self.ndim = len(self.shape)
        self.attrs = attrs or {}

    def __getitem__(self, key):
        import h5py

        key = full_key(key, self.shape)  # one entry an axis, bounds checked
        timed = self.ndim == 5
        n_t, n_c = (self.shape[0] if timed else 1), self.shape[-4]
        lead = (key[0] if timed else 0, key[-4])

        def each(k, n):
            return [int(k) % n] if isinstance(k, (int, np.integer)) else list(range(*k.indices(n)))

        ts, cs = each(lead[0], n_t), each(lead[1], n_c)
        # within the image's size: the datasets are padded to whole chunks
        region = tuple(slice(*k.indices(n)) if isinstance(k, slice) else int(k) % n
                       for k, n in zip(key[-3:], self.shape[-3:]))
        one = np.broadcast_to(np.zeros((), np.bool_), self.shape[-3:])[region].shape  # a block's shape
        out = np.empty((len(ts), len(cs)) + one, self.dtype)
        if out.size:
            with h5py.File(self.path, "r") as f:
                for a, t in enumerate(ts):
                    for b, c in enumerate(cs):
                        d = f[self.parts[t * n_c + c][2]]
                        block = d[region]
                        out[a, b] = block if d.dtype == self.dtype else block.view(self.dtype)
        drop = [i for i, k in enumerate(lead) if isinstance(k, (int, np.integer))]
        if not timed:
            drop = sorted(set(drop) | {0})
        return out.reshape([n for i, n in enumerate(out.shape) if i not in drop])
