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
    if not 1 <= class_index <= K:
        raise ValueError(f"class_index {class_index} out of range 1..{K} for probabilities of shape {probabilities.shape}")
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


def object_table(instances, image):
    """Per-object measurements: label, area, centroid, mean intensity per channel.

    Parameters
    ----------
    instances : ndarray of int
        Instance labels (spatial shape).
    image : Image or ndarray
        Channel-last image of the same spatial shape.

    Returns
    -------
    dict of column name -> 1D array (``pandas.DataFrame(table)`` makes it a frame).
    """
    from skimage.measure import regionprops_table

    from .images.read import as_image

    img = as_image(image)
    instances = np.asarray(instances)
    if instances.shape != img.shape_spatial:
        raise ValueError(f"instances of shape {instances.shape} do not fit image of spatial shape {img.shape_spatial}")
    t = regionprops_table(instances.astype(np.int32), intensity_image=img.data.astype(np.float32),
                          properties=("label", "area", "centroid", "intensity_mean"))
    out = {"label": t["label"], "area": t["area"]}
    axes = "zyx"[-img.ndim_spatial:]
    for j, a in enumerate(axes):
        out[f"centroid_{a}"] = t[f"centroid-{j}"]
    for c, name in enumerate(img.channel_names):
        key = f"intensity_mean-{c}" if f"intensity_mean-{c}" in t else "intensity_mean"
        out[f"mean_intensity_{name}"] = t[key]
    return out
