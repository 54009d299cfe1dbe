"""Synthetic sample data with ground truth, generated locally (no downloads).

The scenes are built to show why thresholding fails: touching nuclei merge under
Otsu, faint nuclei fall below the threshold, and illumination varies across the field.
"""
from __future__ import annotations

import numpy as np
from numba import njit
from scipy import ndimage as ndi

from .images.checks import check_result_size
from .images.image import Image

__all__ = ["nuclei", "imc", "scribbles", "strokes"]


def _smooth_noise(rng, shape, sigma):
    n = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return n / (n.std() + 1e-8)


def _place_nuclei(rng, shape, n, r_mean, cluster_frac=0.5):
    """Centres and radii: isolated nuclei plus clusters of 2-4 touching ones."""
    nd = len(shape)
    C = np.empty((n + 4, nd))
    R = np.empty((n + 4, nd))
    m = 0
    lo = np.full(nd, float(r_mean))
    hi = np.array(shape, np.float64) - r_mean
    # Overlap is only possible within 2.5 * 0.62 * r_mean (radii are at most 1.25 r_mean), so a
    # candidate is checked against the centres in the 3^nd grid cells around it: linear time
    # (checking every centre made imc((500, 500)) take 35 s), and the same scene as before.
    cell = 2.0 * r_mean
    slots = 32  # centres per cell: far more than fit without overlapping
    owner = np.full(tuple(int(s // cell) + 3 for s in shape) + (slots,), -1, np.int64)
    count = np.zeros(owner.shape[:-1], np.int64)
    while m < n:
        c0 = lo + (hi - lo) * rng.random(nd)  # = rng.uniform(lo, hi), without its argument checks
        k = rng.integers(2, 5) if rng.random() < cluster_frac else 1
        c = c0
        for _ in range(k):
            r = r_mean * (0.75 + 0.5 * rng.random(nd))  # = rng.uniform(0.75, 1.25, nd)
            if nd == 3:
                r[0] *= 0.8
            key = (c // cell).astype(np.int64) + 1
            cand = owner[tuple([slice(v - 1, v + 2) for v in key.tolist()])].ravel()
            cand = cand[cand >= 0]
            if cand.size:
                d = np.sqrt((((C[cand] - c) / (R[cand] + r)) ** 2).sum(1))
                # touching is fine (that is the point of a cluster); heavy overlap is not
                if d.min() < 0.62:
                    break
            key = tuple(key)
            owner[key + (count[key],)] = m
            count[key] += 1
            C[m], R[m] = c, r
            m += 1
            step = rng.standard_normal(nd)
            if nd == 3:
                step[0] *= 0.3
            # = step / np.linalg.norm(step) * r.mean() and np.clip, without their call overhead
            c = c + step / np.sqrt(step.dot(step)) * (r.sum() / nd) * 1.75
            c = np.minimum(np.maximum(c, lo), hi)
    return C[:n].copy(), R[:n].copy()


@njit(cache=True)
def _rasterize_kernel(lab, best, centres, radii, ths):  # pragma: no cover - compiled
    # the former numpy loop, nucleus by nucleus, pixel by pixel (no fastmath: the same scene);
    # lab and best are (Z, Y, X), Z = 1 in 2D
    nd = centres.shape[1]
    for i in range(centres.shape[0]):
        c = centres[i]
        rr = radii[i]
        m = rr.max()
        lo = np.zeros(3, np.int64)
        hi = np.ones(3, np.int64)
        for a in range(nd):
            lo[3 - nd + a] = max(int(np.floor(c[a] - m - 1)), 0)
            hi[3 - nd + a] = min(int(np.ceil(c[a] + m + 2)), lab.shape[3 - nd + a])
        cs, sn = np.cos(ths[i]), np.sin(ths[i])
        for z in range(lo[0], hi[0]):
            for yy in range(lo[1], hi[1]):
                for xx in range(lo[2], hi[2]):
                    y = yy - c[nd - 2]
                    x = xx - c[nd - 1]
                    u = (cs * y + sn * x) / rr[nd - 2]
                    v = (-sn * y + cs * x) / rr[nd - 1]
                    d = u ** 2 + v ** 2
                    if nd == 3:
                        d = d + ((z - c[0]) / rr[0]) ** 2
                    if d <= 1.0 and d < np.float64(best[z, yy, xx]):
                        lab[z, yy, xx] = i + 1
                        best[z, yy, xx] = np.float32(d)


def _rasterize(shape, centres, radii, rng, grow=1.0):
    """Instance labels of rotated ellipses/ellipsoids; overlaps go to the nearest centre."""
    lab = np.zeros(shape, np.int32)
    best = np.full(shape, np.inf, np.float32)
    if len(centres):
        ths = rng.uniform(0, np.pi, size=len(centres))  # one angle per nucleus, in order
        rr = np.ascontiguousarray(np.broadcast_to(radii * grow, np.shape(centres)), np.float64)
        vol = (1,) * (3 - len(shape)) + tuple(shape)
        _rasterize_kernel(lab.reshape(vol), best.reshape(vol), np.ascontiguousarray(centres, np.float64), rr, ths)
    return lab


def nuclei(shape=(512, 512), seed=0, noise=0.08, n_nuclei=None):
    """A two-channel fluorescence scene: green cytoplasm and blue DAPI nuclei.

    Parameters
    ----------
    shape : tuple of int
        ``(Y, X)`` for 2D or ``(Z, Y, X)`` for a 3D volume.
    seed : int
        Random seed; the same seed gives the same scene.
    noise : float
        Noise level relative to the bright-nucleus intensity (0.02 clean, 0.15 noisy).
    n_nuclei : int, optional
        Number of nuclei; by default about one per 900 pixels of area (2D).

    Returns
    -------
    image : Image
        ``uint16`` channel-last image, channel 0 cytoplasm (green), channel 1 DAPI (blue).
    truth : dict
        ``"nuclei"``: int32 instance labels; ``"classes"``: uint8 with 1 nucleus,
        2 cytoplasm, 3 background.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 8:
        raise ValueError(f"shape must be (Y, X) or (Z, Y, X) with every side >= 8; got {shape}")
    # ~50 bytes a pixel while the scene is made (2048^2: 0.2 GB): a typo of 100000^2 got the kernel killed
    check_result_size(shape + (50,), np.uint8, "making the scene", f"nuclei{shape}", instead="choose a smaller shape")
    rng = np.random.default_rng(seed)
    area = shape[-1] * shape[-2]
    r_mean = max(3.0, np.sqrt(area) / 40)
    if n_nuclei is None:
        n_nuclei = max(3, int(area / (r_mean**2 * 9.5)))
        if len(shape) == 3:
            n_nuclei = max(3, int(n_nuclei * shape[0] / (2.2 * r_mean)))
    centres, radii = _place_nuclei(rng, shape, n_nuclei, r_mean)
    inst = _rasterize(shape, centres, radii, rng)
    # cells: nuclei grown by ~1.8x, limited by neighbours (watershed-free Voronoi via rasterization)
    cell_rng = np.random.default_rng(seed + 1)
    cells = _rasterize(shape, centres, radii * cell_rng.uniform(1.7, 2.1, size=(len(radii), 1)), cell_rng)
    cells[inst > 0] = inst[inst > 0]

    # per-nucleus brightness: mostly bright, a third faint
    n = len(centres)
    bright = rng.uniform(0.7, 1.0, n + 1)
    faint = rng.random(n + 1) < 0.33
    bright[faint] = rng.uniform(0.18, 0.3, faint.sum())
    bright[0] = 0.0
    chromatin = 1.0 + 0.25 * _smooth_noise(rng, shape, 1.2)
    dapi = bright[inst] * chromatin
    # soft nuclear border and a dimmer rim, as in widefield images
    dapi = ndi.gaussian_filter(dapi.astype(np.float32), 0.8 * max(1.0, r_mean / 12))

    cyto_level = rng.uniform(0.25, 0.5, cells.max() + 1)
    cyto_level[0] = 0.0
    cyto = cyto_level[cells] * (1.0 + 0.3 * _smooth_noise(rng, shape, 2.0))
    cyto[inst > 0] *= 0.3
    cyto = ndi.gaussian_filter(cyto.astype(np.float32), 1.0)

    # uneven illumination: a smooth gradient across the field
    grids = np.meshgrid(*[np.linspace(-1, 1, s, dtype=np.float32) for s in shape], indexing="ij")
    illum = 1.0 - 0.35 * (0.6 * grids[-1] + 0.4 * grids[-2]) - 0.15 * (grids[-1] ** 2 + grids[-2] ** 2)
    bg = 0.04
    out = []
    for ch, amp in ((cyto, 1800.0), (dapi, 3000.0)):
        x = (ch * illum + bg) * amp
        x = x + rng.standard_normal(shape).astype(np.float32) * noise * amp
        x = rng.poisson(np.clip(x, 0, None)).astype(np.float32)  # shot noise
        out.append(np.clip(x, 0, 65535).astype(np.uint16))
    data = np.stack(out, axis=-1)

    classes = np.full(shape, 3, np.uint8)
    classes[cells > 0] = 2
    classes[inst > 0] = 1
    axes = "ZYXC" if len(shape) == 3 else "YXC"
    img = Image(data, axes=axes, name=f"nuclei_seed{seed}", channel_names=["cytoplasm", "DAPI"])
    return img, {"nuclei": inst, "classes": classes, "cells": cells}


IMC_MARKERS = [
    "Histone H3", "Ir191 DNA1", "Ir193 DNA2", "CD45", "E-Cadherin", "panCK", "Vimentin",
    "CD3", "CD20", "CD68", "Ki-67", "SMA", "Collagen I", "CD31", "HLA-DR", "Background",
]


def imc(shape=(250, 250), n_channels=16, seed=0):
    """An imaging-mass-cytometry-like stack: Poisson counts, many channels, with truth.

    Nuclear markers (Histone H3, DNA1, DNA2, Ki-67 in some cells), membrane/cytoplasm
    markers each expressed by a subset of cells, stromal markers in the background, hot
    pixels and low counts, at IMC's coarse 1 µm resolution.

    Parameters
    ----------
    shape : (int, int)
        Spatial size in pixels.
    n_channels : int
        Number of channels (at least 4; names from a typical panel).
    seed : int
        Random seed.

    Returns
    -------
    image : Image
        float32 channel-last image of ion counts.
    truth : dict
        ``"nuclei"`` and ``"cells"`` instances, ``"classes"`` (1 nucleus, 2 cytoplasm, 3 background).
    """
    if n_channels < 4:
        raise ValueError(f"n_channels must be >= 4; got {n_channels}")
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise ValueError(f"imc() makes 2D stacks; got shape {shape}")
    check_result_size(shape + (8 * int(n_channels) + 50,), np.uint8, "making the scene", f"imc{shape}",
                      instead="choose a smaller shape or fewer channels")
    rng = np.random.default_rng(seed)
    r_mean = 3.2
    area = shape[0] * shape[1]
    # tissue: dense cell regions and stroma
    tissue = _smooth_noise(rng, shape, 18) > -0.6
    n = int(area / (r_mean**2 * 7.0))
    centres, radii = _place_nuclei(rng, shape, n * 2, r_mean, cluster_frac=0.7)
    keep = tissue[tuple(np.clip(centres.astype(int).T, 0, np.array(shape)[:, None] - 1))]
    centres, radii = centres[keep][:n], radii[keep][:n]
    inst = _rasterize(shape, centres, radii, rng)
    cells = _rasterize(shape, centres, radii * 2.0, np.random.default_rng(seed + 1))
    cells[inst > 0] = inst[inst > 0]
    k = len(centres) + 1
    names = (IMC_MARKERS * ((n_channels // len(IMC_MARKERS)) + 1))[:n_channels]
    chans = []
    stroma = (~tissue).astype(np.float32) * 0.5 + 0.1
    for ci, name in enumerate(names):
        if name in ("Histone H3", "Ir191 DNA1", "Ir193 DNA2") or (ci >= len(IMC_MARKERS) and ci % 5 == 0):
            level = rng.uniform(6, 25, k)
            img = level[inst] * (inst > 0)
        elif name == "Ki-67":
            level = rng.uniform(3, 12, k) * (rng.random(k) < 0.25)
            img = level[inst] * (inst > 0)
        elif name in ("SMA", "Collagen I", "CD31"):
            img = 4.0 * stroma * (cells == 0)
        elif name == "Background":
            img = np.full(shape, 0.3, np.float32)
        else:
            level = rng.uniform(2, 10, k) * (rng.random(k) < 0.45)
            img = level[cells] * ((cells > 0) & (inst == 0))
            img = img + 0.2 * level[cells] * (inst > 0)
        img = ndi.gaussian_filter(img.astype(np.float32), 0.7) + 0.2
        counts = rng.poisson(img).astype(np.float32)
        hot = rng.random(shape) < 0.0005
        counts[hot] += rng.uniform(20, 80, hot.sum()).astype(np.float32)
        chans.append(counts)
    data = np.stack(chans, axis=-1).astype(np.float32)
    classes = np.full(shape, 3, np.uint8)
    classes[cells > 0] = 2
    classes[inst > 0] = 1
    image = Image(data, axes="YXC", name=f"imc_seed{seed}", channel_names=names)
    return image, {"nuclei": inst, "cells": cells, "classes": classes}


def _class_array(classes):
    """``classes`` as integers; the truth dict of :func:`nuclei` and :func:`imc` gives its ``"classes"``."""
    if isinstance(classes, dict):  # pass the truth itself, as a newcomer does
        if "classes" not in classes:
            raise ValueError(f"a truth dict needs a 'classes' entry; got keys {sorted(classes)[:8]}")
        classes = classes["classes"]
    classes = np.asarray(classes)
    if classes.dtype.kind not in "biu" or classes.ndim not in (2, 3):
        raise ValueError(f"classes should be a 2D or 3D array of class numbers per pixel; got "
                         f"{classes.dtype} of shape {classes.shape}")
    return classes


def _mapped(classes, mapping):
    """``classes`` with truth classes mapped to label values by ``mapping`` (unmapped ones become 0)."""
    if mapping is None:
        return classes
    lut = np.zeros(int(classes.max()) + 1, np.uint8)
    for a, b in mapping.items():
        lut[a] = b
    return lut[classes]


def scribbles(classes, n_strokes=6, length=20, radius=2, seed=0, mapping=None):
    """Brush strokes drawn inside ground-truth regions, as a user would paint them.

    Parameters
    ----------
    classes : ndarray of int, or dict
        Ground-truth class per pixel (0 = none), e.g. ``truth["classes"]``, or the ``truth`` dict itself.
    n_strokes : int
        Strokes per class.
    length : int
        Maximum stroke length in pixels.
    radius : int
        Brush radius; strokes stay at least this far inside their region.
    seed : int
        Random seed.
    mapping : dict, optional
        Map truth classes to label values, e.g. ``{1: 1, 2: 2, 3: 2}`` for nucleus vs rest.

    Returns
    -------
    uint8 labels of the same shape, 0 where unpainted.
    """
    rng = np.random.default_rng(seed)
    classes = _class_array(classes)
    classes = _mapped(classes, mapping)
    out = np.zeros(classes.shape, np.uint8)
    nd = classes.ndim
    ball = ndi.generate_binary_structure(nd, 1)
    for c in np.unique(classes[classes > 0]):
        region = ndi.binary_erosion(classes == c, ball, iterations=radius + 1)
        pts = np.argwhere(region)
        if len(pts) == 0:
            continue
        for p in pts[rng.choice(len(pts), size=min(n_strokes, len(pts)), replace=False)]:
            d = rng.standard_normal(nd)
            if nd == 3:
                d[0] = 0
            d /= np.linalg.norm(d)
            pos = p.astype(float)
            path = np.zeros(classes.shape, bool)
            for _ in range(length):
                q = tuple(np.round(pos).astype(int))
                if any(v < 0 or v >= s for v, s in zip(q, classes.shape)) or not region[q]:
                    break
                path[q] = True
                pos = pos + d
            path = ndi.binary_dilation(path, ball, iterations=radius)
            out[path & (classes == c)] = c
    return out


def strokes(classes, n_strokes=4, length=25, radius=2, seed=0, mapping=None, z=None):
    """Brush strokes as polylines for :meth:`PixelClassifierApp.stroke`, inside truth regions.

    Parameters
    ----------
    classes : ndarray of int, or dict
        Ground-truth class per pixel (2D, or 3D with ``z`` choosing the plane), or the ``truth`` dict.
    n_strokes, length, radius, seed, mapping :
        As in :func:`scribbles`.
    z : int, optional
        Plane of a 3D ``classes`` array.

    Returns
    -------
    list of (points, k)
        ``points`` is ``[(x, y), ...]`` in image pixels, ``k`` the label value to paint.
    """
    rng = np.random.default_rng(seed)
    classes = _class_array(classes)
    if classes.ndim == 3:
        classes = classes[classes.shape[0] // 2 if z is None else z]
    classes = _mapped(classes, mapping)
    out = []
    for c in np.unique(classes[classes > 0]):
        region = ndi.binary_erosion(classes == c, iterations=radius + 1)
        pts = np.argwhere(region)
        if len(pts) == 0:
            continue
        for p in pts[rng.choice(len(pts), size=min(n_strokes, len(pts)), replace=False)]:
            ang = rng.uniform(0, 2 * np.pi)
            d = np.array([np.sin(ang), np.cos(ang)])
            pos, line = p.astype(float), []
            for _ in range(length):
                q = np.round(pos).astype(int)
                if (q < 0).any() or (q >= classes.shape).any() or not region[tuple(q)]:
                    break
                line.append((int(q[1]), int(q[0])))
                pos = pos + d
            if line:
                out.append((line[:: max(1, len(line) // 4)] + [line[-1]], int(c)))
    return out
