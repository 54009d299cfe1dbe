"""ilastik's six pixel-feature families over a sigma grid, 2D/3D, blockwise.

Arrays are returned channel-last ``(..., F)`` as the API promises, but stored feature-major
(``(F, ...)`` contiguous) underneath: writing 98 planes into an interleaved stack costs
~15 ms a plane at 1024x1024, more than the filtering itself.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .filters import derivatives, gradient_products, kernel_radius, smooth_stack, sym_eigvals
from .image import as_image

__all__ = ["FeatureSet", "compute_features", "FAMILIES", "DEFAULT_SIGMAS"]

FAMILIES = (
    "gaussian",
    "log",
    "gradient_magnitude",
    "dog",
    "structure_tensor_eigenvalues",
    "hessian_eigenvalues",
)
FAMILY_TITLES = {
    "gaussian": "Gaussian Smoothing",
    "log": "Laplacian of Gaussian",
    "gradient_magnitude": "Gaussian Gradient Magnitude",
    "dog": "Difference of Gaussians",
    "structure_tensor_eigenvalues": "Structure Tensor Eigenvalues",
    "hessian_eigenvalues": "Hessian of Gaussian Eigenvalues",
}
DEFAULT_SIGMAS = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)
DOG_RATIO = 0.66  # ilastik: G(sigma) - G(0.66 sigma)
ST_OUTER = 0.5  # ilastik: structure tensor outer scale = 0.5 sigma


def _n_components(family, ndim):
    return ndim if family in ("structure_tensor_eigenvalues", "hessian_eigenvalues") else 1


class FeatureSet:
    """A selection of (filter family, sigma) pairs, as in ilastik's feature grid.

    Parameters
    ----------
    sigmas : sequence of float, optional
        Scales in pixels (default ilastik's 0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0).
    families : sequence of str, optional
        Any of :data:`FAMILIES` (default all six).
    mode : {"auto", "2d", "3d"}
        ``"auto"`` filters volumes in 3D; ``"2d"`` filters each plane of a volume.
    pairs : sequence of (family, sigma), optional
        Exact pairs instead of the full ``families x sigmas`` grid.
    normalize : {None, "percentile"}
        ``"percentile"`` maps each channel of each image from its 1st..99.8th percentile onto
        [0, 1] before filtering, so a classifier trained on dim images applies to bright ones
        (ilastik uses raw intensities: the default, ``None``, does too).

    Examples
    --------
    >>> fs = FeatureSet(sigmas=[1.0, 3.5], families=["gaussian", "log"])
    >>> fs.names(n_channels=1, ndim=2)
    ['Gaussian Smoothing σ=1.0 [ch 1]', 'Gaussian Smoothing σ=3.5 [ch 1]', \
'Laplacian of Gaussian σ=1.0 [ch 1]', 'Laplacian of Gaussian σ=3.5 [ch 1]']
    """

    def __init__(self, sigmas=None, families=None, mode="auto", pairs=None, normalize=None):
        if mode not in ("auto", "2d", "3d"):
            raise ValueError(f"mode must be 'auto', '2d' or '3d'; got {mode!r}")
        if normalize not in (None, "percentile"):
            raise ValueError(f"normalize must be None or 'percentile'; got {normalize!r}")
        self.mode = mode
        self.normalize = normalize
        if pairs is None:
            sigmas = DEFAULT_SIGMAS if sigmas is None else sigmas
            families = FAMILIES if families is None else families
            pairs = [(f, s) for f in families for s in sigmas]
        clean = set()
        for f, s in pairs:
            if f not in FAMILIES:
                raise ValueError(f"unknown feature family {f!r}; choose from {FAMILIES}")
            s = float(s)
            if not (s > 0 and math.isfinite(s)):
                raise ValueError(f"sigma must be a positive number; got {s} for {f!r}")
            clean.add((f, round(s, 6)))
        if not clean:
            raise ValueError("a FeatureSet needs at least one (family, sigma) pair")
        self.pairs = sorted(clean, key=lambda p: (FAMILIES.index(p[0]), p[1]))

    @classmethod
    def default(cls):
        """ilastik's grid: all six families at every sigma, sigma 0.3 for smoothing only."""
        pairs = [(f, s) for f in FAMILIES for s in DEFAULT_SIGMAS if s >= 0.5 or f == "gaussian"]
        return cls(pairs=pairs)

    @property
    def sigmas(self):
        return sorted({s for _, s in self.pairs})

    @property
    def families(self):
        return [f for f in FAMILIES if any(p[0] == f for p in self.pairs)]

    def select(self, min_sigma=None, max_sigma=None, families=None):
        """A new set keeping pairs with ``min_sigma <= sigma <= max_sigma`` of ``families``."""
        keep = [
            (f, s)
            for f, s in self.pairs
            if (min_sigma is None or s >= min_sigma - 1e-9)
            and (max_sigma is None or s <= max_sigma + 1e-9)
            and (families is None or f in families)
        ]
        if not keep:
            raise ValueError(
                f"no features left after select(min_sigma={min_sigma}, max_sigma={max_sigma}, families={families})"
            )
        return FeatureSet(pairs=keep, mode=self.mode, normalize=self.normalize)

    def spatial_ndim(self, image_ndim):
        """Dimensionality the filters run in for an image of ``image_ndim`` spatial axes."""
        if self.mode == "3d" and image_ndim != 3:
            raise ValueError(f"mode='3d' needs a 3D image; this one has {image_ndim} spatial axes")
        return 2 if (self.mode == "2d" or image_ndim == 2) else 3

    def n_features(self, n_channels=1, ndim=2):
        """Number of features for ``n_channels`` channels in ``ndim`` filter dimensions."""
        return n_channels * sum(_n_components(f, ndim) for f, _ in self.pairs)

    def names(self, n_channels=1, ndim=2):
        """Readable feature names in the order :func:`compute_features` returns them."""
        out = []
        for c in range(n_channels):
            for f, s in self.pairs:
                k = _n_components(f, ndim)
                for j in range(k):
                    t = FAMILY_TITLES[f]
                    if k > 1:
                        t = t[:-1] + f" {j + 1}"  # "Eigenvalues" -> "Eigenvalue 1"
                    out.append(f"{t} σ={s:g} [ch {c + 1}]")
        return out

    def halo(self, ndim=2):
        """Pixels of context a block needs so blockwise results equal whole-image ones."""
        h = 0
        for f, s in self.pairs:
            r = kernel_radius(s)
            if f == "structure_tensor_eigenvalues":
                r += kernel_radius(ST_OUTER * s)
            h = max(h, r)
        return h

    def to_dict(self):
        return {"pairs": [[f, s] for f, s in self.pairs], "mode": self.mode, "normalize": self.normalize}

    @classmethod
    def from_dict(cls, d):
        return cls(pairs=[tuple(p) for p in d["pairs"]], mode=d.get("mode", "auto"), normalize=d.get("normalize"))

    def key(self):
        """Hashable identity (for caches)."""
        return (tuple(self.pairs), self.mode, self.normalize)

    def __eq__(self, other):
        return isinstance(other, FeatureSet) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __len__(self):
        return len(self.pairs)

    def __repr__(self):
        norm = f", normalize={self.normalize!r}" if self.normalize else ""
        return (f"FeatureSet({len(self.pairs)} pairs, families={self.families}, sigmas={self.sigmas}, "
                f"mode={self.mode!r}{norm})")


def _orders(ndim, order):
    return [o for o in itertools.product(range(order + 1), repeat=ndim) if sum(o) == order]


def _sigma_planes(x, s, fams, rel):
    """Yield ``(family, planes)`` for one sigma, freeing intermediates as soon as they are used.

    A generator, so each family's planes can be handed on (and dropped) before the next family
    allocates: in 3D blocks this keeps about a third of the arrays alive at once.
    """
    nd = x.ndim
    zero = (0,) * nd
    need = set()
    if fams & {"gaussian", "dog"}:
        need.add(zero)
    if fams & {"gradient_magnitude", "structure_tensor_eigenvalues"}:
        need.update(_orders(nd, 1))
    if "log" in fams:
        need.update(o for o in _orders(nd, 2) if max(o) == 2)
    if "hessian_eigenvalues" in fams:
        need.update(_orders(nd, 2))
    sig = [s * r for r in rel]
    d = derivatives(x, sig, need, scale=rel)
    if "hessian_eigenvalues" in fams:
        # upper triangle in (axis i, axis j) order, i <= j
        elems = []
        for i in range(nd):
            for j in range(i, nd):
                o = [0] * nd
                o[i] += 1
                o[j] += 1
                elems.append(d[tuple(o)])
        planes = sym_eigvals(elems)
        del elems
        yield "hessian_eigenvalues", list(planes)
        del planes
    if "log" in fams:
        pure = [d[o] for o in _orders(nd, 2) if max(o) == 2]
        log = np.add(pure[0], pure[1])
        for extra in pure[2:]:
            log += extra
        del pure
        yield "log", [log]
        del log
    for o in [o for o in d if sum(o) == 2]:
        del d[o]
    if fams & {"gradient_magnitude", "structure_tensor_eigenvalues"}:
        firsts = [d.pop(o) for o in sorted(_orders(nd, 1), reverse=True)]
        mag, prods = gradient_products(firsts)
        del firsts
        if "gradient_magnitude" in fams:
            yield "gradient_magnitude", [mag]
        del mag
        if "structure_tensor_eigenvalues" in fams:
            elems = smooth_stack(prods, [ST_OUTER * v for v in sig])
            del prods
            planes = sym_eigvals(list(elems))
            del elems
            yield "structure_tensor_eigenvalues", list(planes)
            del planes
    if "gaussian" in fams:
        yield "gaussian", [d[zero]]
    if "dog" in fams:
        g2 = derivatives(x, [DOG_RATIO * v for v in sig], {zero})[zero]
        yield "dog", [np.subtract(d[zero], g2, out=g2)]


def _channel_features(x, fs, spacing, emit):
    """Features of one channel ``x`` (spatial array in filter dims); ``emit(j, plane)`` takes each.

    Planes are handed over as soon as they exist, so blockwise callers can crop the halo away
    at once instead of holding every feature of the extended block.
    """
    nd = x.ndim
    smin = min(spacing)
    rel = [smin / s for s in spacing]  # sigma in units of the finest axis
    index, base = {}, 0
    for f, s in fs.pairs:  # position of each (family, sigma) in names() order
        index[(f, s)] = base
        base += _n_components(f, nd)
    by_sigma = {}
    for f, s in fs.pairs:
        by_sigma.setdefault(s, set()).add(f)
    for s, fams in by_sigma.items():
        for f, planes in _sigma_planes(x, s, fams, rel):
            for j, p in enumerate(planes):
                emit(index[(f, s)] + j, p)
            del planes


def _features_block(data, fs, spacing, out, inner=None):
    """All features of a channel-last block ``data`` into feature-major ``out`` (F, ...).

    With ``inner`` (spatial slices), only that part of each plane is written: ``out`` then has
    the inner block's shape (the halo is cropped plane by plane).
    """
    nsp = data.ndim - 1
    fnd = fs.spatial_ndim(nsp)
    per_c = fs.n_features(1, fnd)
    inner = tuple(inner) if inner is not None else (slice(None),) * nsp
    for c in range(data.shape[-1]):
        x = data[..., c]
        off = c * per_c
        if fnd == nsp:
            def emit(j, p, off=off):
                out[off + j] = p[inner]

            _channel_features(x, fs, spacing, emit)
        else:  # plane by plane through a volume
            zsl = range(x.shape[0])[inner[0]]
            for zi, z in enumerate(zsl):
                def emit(j, p, off=off, zi=zi):
                    out[off + j, zi] = p[inner[1:]]

                _channel_features(x[z], fs, spacing[1:], emit)


PERCENTILES = (1.0, 99.8)


def channel_ranges(read_sample):
    """Per-channel (lo, hi) intensity range for ``normalize="percentile"``.

    ``read_sample`` is a channel-last array (a strided sample of the image is enough).
    """
    x = np.asarray(read_sample, np.float32).reshape(-1, read_sample.shape[-1])
    if x.shape[0] > 2**22:
        x = x[:: x.shape[0] // 2**22 + 1]
    lo, hi = np.percentile(x, PERCENTILES, axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)
    return np.stack([lo, hi], axis=1).astype(np.float32)


def sample_slices(shape_spatial, max_values=2**22):
    """Strided slices that pick at most about ``max_values`` pixels, the same for every reader."""
    n = int(np.prod(shape_spatial, dtype=np.int64))
    step = max(1, int(np.ceil((n / max_values) ** (1 / len(shape_spatial)))))
    return (slice(None, None, step),) * len(shape_spatial)


def image_sample(data):
    """A strided sample of a channel-last array (ndarray, zarr, dask) for percentiles."""
    return np.asarray(data[sample_slices(data.shape[:-1])])


def normalized(data, ranges):
    """``data`` (channel-last float32) mapped from ``ranges`` (C, 2) onto [0, 1] per channel."""
    if ranges is None:
        return data
    lo, hi = ranges[:, 0], ranges[:, 1]
    return (data - lo) / (hi - lo)


def compute_features(image, fs=None, block=None, out=None, ranges=None):
    """Compute the pixel features of ``image``.

    Parameters
    ----------
    image : Image, ndarray (channel-last) or path
    fs : FeatureSet, optional
        Default :meth:`FeatureSet.default`.
    block : int or tuple of int, optional
        Compute in spatial blocks of this size with a halo of ``fs.halo()`` pixels;
        the result equals whole-image filtering, and working memory scales with the block.
    out : array-like, optional
        Where to write, shape ``(F,) + spatial shape`` (feature-major; e.g. an h5py dataset
        or memmap). When given, it is returned as is.
    ranges : ndarray (C, 2), optional
        Intensity range per channel for ``fs.normalize``; default from the whole image, so
        blocks of one image are normalized alike.

    Returns
    -------
    ndarray
        float32 ``(..., F)`` in the order of ``fs.names(n_channels, ndim)``; a channel-last
        view of a feature-major array.
    """
    img = as_image(image)
    fs = fs or FeatureSet.default()
    fnd = fs.spatial_ndim(img.ndim_spatial)
    F = fs.n_features(img.n_channels, fnd)
    shape = img.shape_spatial
    own = out is None
    if own:
        out = np.empty((F,) + shape, np.float32)
    elif tuple(out.shape) != (F,) + shape:
        raise ValueError(f"out has shape {tuple(out.shape)}; expected {(F,) + shape} (features first)")
    if fs.normalize and ranges is None:
        ranges = channel_ranges(image_sample(img.data))
    if not fs.normalize:
        ranges = None
    if block is None:
        data = normalized(img.data.astype(np.float32, copy=False), ranges)
        if own:
            _features_block(data, fs, img.spacing, out)
        else:
            tmp = np.empty((F,) + shape, np.float32)
            _features_block(data, fs, img.spacing, tmp)
            out[...] = tmp
    else:
        for src, dst, inner in iter_blocks(shape, block, fs.halo(), fs_ndim=fnd):
            data = normalized(img.data[src].astype(np.float32), ranges)
            # planes go straight to their place in out: no block-sized feature stack is held
            _features_block(data, fs, img.spacing, _Window(out, dst), inner)
    return np.moveaxis(out, 0, -1) if own else out


class _Window:
    """``out[j, ...]`` restricted to a spatial window: ``_Window(out, dst)[j] = plane`` and
    ``[j, z] = plane`` write into ``out[(j,) + dst]``."""

    def __init__(self, out, dst):
        self.out, self.dst = out, tuple(dst)

    def __setitem__(self, key, value):
        key = key if isinstance(key, tuple) else (key,)
        j, rest = key[0], key[1:]
        win = list(self.dst)
        for i, k in enumerate(rest):  # an index into the window's first axes (plane-by-plane z)
            win[i] = self.dst[i].start + k
        self.out[(j,) + tuple(win)] = value


def features_inner(data, fs, spacing, inner, ranges=None):
    """Features ``(F, ...)`` of the ``inner`` part of a block read with its halo."""
    data = normalized(np.asarray(data, np.float32), ranges if fs.normalize else None)
    nsp = data.ndim - 1
    F = fs.n_features(data.shape[-1], fs.spatial_ndim(nsp))
    out = np.empty((F,) + tuple(len(range(*sl.indices(n))) for sl, n in zip(inner, data.shape[:-1])), np.float32)
    _features_block(data, fs, spacing, out, inner)
    return out


def iter_blocks(shape, block, halo, fs_ndim=None):
    """Yield ``(source, dest, inner)`` slice tuples tiling ``shape`` in blocks with a halo.

    ``source`` reads the block plus halo (clipped at the borders), ``dest`` is where the
    block goes in the full array, ``inner`` is the block's place inside the source read.
    In plane-by-plane mode (``fs_ndim`` 2 on a volume) no halo is needed along Z.
    """
    nd = len(shape)
    if np.isscalar(block):
        block = (int(block),) * nd
    block = tuple(int(b) for b in block)
    if len(block) != nd or min(block) < 1:
        raise ValueError(f"block {block} does not fit spatial shape {shape}")
    halos = [halo] * nd
    if fs_ndim is not None and fs_ndim < nd:
        halos[0] = 0
    for starts in itertools.product(*[range(0, n, b) for n, b in zip(shape, block)]):
        src, dst, inner = [], [], []
        for st, b, n, h in zip(starts, block, shape, halos):
            e = min(st + b, n)
            s0, s1 = max(st - h, 0), min(e + h, n)
            src.append(slice(s0, s1))
            dst.append(slice(st, e))
            inner.append(slice(st - s0, st - s0 + (e - st)))
        yield tuple(src), tuple(dst), tuple(inner)
