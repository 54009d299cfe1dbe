"""After classification: split touching nuclei with a watershed, measure objects."""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["watershed", "object_table"]


def watershed(probabilities, class_index=1, threshold=0.5, seeds="distance", min_distance=None,
              smooth=1.0, min_size=None, spacing=None):
    """Instances of one class, touching objects split by a seeded watershed.

    Parameters
    ----------
    probabilities : ndarray
        ``(..., K)`` probabilities as :meth:`Project.predict` returns (2D or 3D).
    class_index : int
        1-based class to split (as labels count).
    threshold : float
        Foreground is where that class's probability exceeds ``threshold``.
    seeds : {"distance", "probability"}
        Seeds at maxima of the (smoothed) distance transform of the foreground, or of the
        smoothed class probability.
    min_distance : int, optional
        Minimum seed separation in pixels; default a quarter of the typical object diameter
        estimated from the distance transform (at least 2).
    smooth : float
        Gaussian sigma applied to the seed map to merge noise maxima.
    min_size : int, optional
        Remove objects smaller than this (default ``min_distance**ndim / 2``).
    spacing : sequence of float, optional
        Voxel size, for an anisotropic distance transform.

    Returns
    -------
    int32 ndarray of the spatial shape, 0 background and 1..N objects.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed as sk_watershed

    probabilities = np.asarray(probabilities)
    K = probabilities.shape[-1]
    if probabilities.ndim not in (3, 4) or not 2 <= K <= 255:
        raise ValueError(f"probabilities of shape {probabilities.shape} should be (Y, X, K) or (Z, Y, X, K) with "
                         "K >= 2 classes, as Project.predict returns; for one class's map p, pass "
                         "np.stack([p, 1 - p], -1)")
    if not 1 <= class_index <= K:
        raise ValueError(f"class_index {class_index} out of range 1..{K} for probabilities of shape {probabilities.shape}")
    # a map of one class (no K axis) looks like (..., K): its last axis would be taken for classes
    sample = probabilities.reshape(-1, K)[:: max(1, probabilities.size // K // 4096)]
    if not np.allclose(sample.sum(axis=1, dtype=np.float64), 1.0, atol=1e-3):
        hint = (f"; saved as {probabilities.dtype} (renormalized), divide by {np.iinfo(probabilities.dtype).max} first"
                if probabilities.dtype.kind in "iu" else "")
        raise ValueError(f"probabilities of shape {probabilities.shape} do not sum to 1 over their last axis (the "
                         f"{K} classes): pass what Project.predict returns; for one class's map p, pass "
                         f"np.stack([p, 1 - p], -1){hint}")
    p = probabilities[..., class_index - 1].astype(np.float32)
    fg = p > threshold
    fg = ndi.binary_opening(fg, iterations=1)
    fg = ndi.binary_fill_holes(fg)
    if not fg.any():
        return np.zeros(p.shape, np.int32)
    dist = ndi.distance_transform_edt(fg, sampling=spacing)
    if min_distance is None:
        inner = dist[dist > 0]
        min_distance = max(2, int(round(np.percentile(inner, 95) * 0.5)))
    smap = dist if seeds == "distance" else p * fg
    if seeds not in ("distance", "probability"):
        raise ValueError(f"seeds must be 'distance' or 'probability'; got {seeds!r}")
    if smooth:
        smap = ndi.gaussian_filter(smap.astype(np.float32), smooth)
    comp, _ = ndi.label(fg)
    peaks = peak_local_max(smap, min_distance=min_distance, labels=comp, exclude_border=False)
    markers = np.zeros(p.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # components without a peak (tiny ones) still get one seed each
    missing = np.setdiff1d(np.unique(comp[comp > 0]), np.unique(comp[markers > 0]))
    if missing.size:
        for j, c in enumerate(missing, start=len(peaks) + 1):
            idx = np.argmax(np.where(comp == c, smap, -np.inf))
            markers.flat[idx] = j
    lab = sk_watershed(-smap, markers, mask=fg).astype(np.int32)
    if min_size is None:
        min_size = max(1, int(min_distance ** p.ndim / 2))
    sizes = np.bincount(lab.ravel())
    small = np.flatnonzero(sizes < min_size)
    small = small[small > 0]
    if small.size:
        lab[np.isin(lab, small)] = 0
    # renumber 1..N
    ids = np.unique(lab)
    lut = np.zeros(lab.max() + 1, np.int32)
    lut[ids] = np.arange(ids.size)
    return lut[lab]


def object_table(instances, image, block_bytes=64 * 2**20):
    """Per-object measurements: label, area, centroid, mean intensity per channel.

    Read slab by slab along the first spatial axis, so a lazy image (and instances in a file: a
    zarr, h5py or memory-mapped array) is never read whole and memory stays near ``block_bytes``.

    Parameters
    ----------
    instances : array-like of int
        Instance labels (spatial shape), 0 for background: an ndarray or anything sliceable.
    image : Image or ndarray
        Channel-last image of the same spatial shape.
    block_bytes : int
        About how much working memory one slab may take.

    Returns
    -------
    dict of column name -> 1D array (``pandas.DataFrame(table)`` makes it a frame), one row per
    label present, in increasing order; area (the volume in 3D) and centroids in pixels, as
    scikit-image's ``regionprops``. Where the image's ``spacing`` says how large a pixel is (a TIFF's
    resolution, OME pixel sizes), also ``area_physical`` and ``centroid_<axis>_physical`` in its
    unit (``image.unit``), as ``regionprops(..., spacing=image.spacing)`` gives them.
    """
    from .images.read import as_image

    img = as_image(image)
    shape = tuple(img.shape_spatial)
    if tuple(getattr(instances, "shape", ())) != shape:
        instances = np.asarray(instances)
        if instances.shape != shape:
            raise ValueError(f"instances of shape {instances.shape} do not fit image of spatial shape {shape}")
    if np.dtype(instances.dtype).kind not in "iub":
        raise ValueError(f"instances must hold integer labels; got dtype {np.dtype(instances.dtype)}")
    nd, n_ch = len(shape), img.n_channels
    # per pixel: the slab's labels and inverse index, a float64 weight, the image's channels
    per_px = 40 + 8 * n_ch
    rows = max(1, int(block_bytes) // max(per_px * int(np.prod(shape[1:], dtype=np.int64)), 1))
    labels, sums = np.zeros(0, np.int64), np.zeros((1 + nd + n_ch, 0))
    for a in range(0, shape[0], rows):
        sl = slice(a, min(a + rows, shape[0]))
        lab = np.asarray(instances[sl])
        if not lab.size:
            continue
        lo, hi = int(lab.min()), int(lab.max())
        if lo < 0:
            raise ValueError(f"instances hold a negative label ({lo}); labels are 0 or more")
        if hi > np.iinfo(np.int64).max:
            raise ValueError(f"instances hold a label too large for int64 ({hi})")
        dense = hi - lo < 2 * lab.size + 65536
        if dense:  # labels as offsets: a table no larger than the slab
            inv, n = (lab.reshape(-1) - lo).astype(np.intp), hi - lo + 1
        else:  # sparse, huge label values: number them (a sort, 6x slower)
            u, inv = np.unique(lab, return_inverse=True)
            inv, n = inv.reshape(-1), u.size
        part = [np.bincount(inv, minlength=n).astype(np.float64)]
        for ax in range(nd):  # coordinate sums, for the centroids
            coord = np.arange(lab.shape[ax], dtype=np.float64) + (a if ax == 0 else 0)
            coord = np.broadcast_to(coord.reshape([-1 if i == ax else 1 for i in range(nd)]), lab.shape)
            part.append(np.bincount(inv, weights=coord.reshape(-1), minlength=n))
        data = np.asarray(img.data[sl])
        for c in range(n_ch):
            part.append(np.bincount(inv, weights=data[..., c].reshape(-1), minlength=n))
        part = np.array(part)
        if dense:  # the labels present
            present = np.flatnonzero(part[0])
            u, part = present.astype(np.int64) + lo, part[:, present]
        u = np.asarray(u, np.int64)
        merged = np.union1d(labels, u)
        acc = np.zeros((sums.shape[0], merged.size))
        acc[:, np.searchsorted(merged, labels)] += sums
        acc[:, np.searchsorted(merged, u)] += part
        labels, sums = merged, acc
    keep = labels != 0
    labels, sums = labels[keep], sums[:, keep]
    area = sums[0]
    out = {"label": labels, "area": area}
    for j, name in enumerate("zyx"[-nd:]):
        out[f"centroid_{name}"] = sums[1 + j] / area
    for c, name in enumerate(img.channel_names):
        out[f"mean_intensity_{name}"] = sums[1 + nd + c] / area
    spacing = tuple(float(v) for v in img.spacing)
    if any(v != 1.0 for v in spacing):  # the file says how large a pixel is: sizes as a person reports them
        out["area_physical"] = area * float(np.prod(spacing))
        for j, name in enumerate("zyx"[-nd:]):
            out[f"centroid_{name}_physical"] = out[f"centroid_{name}"] * spacing[j]
    return out
