"""ilastik's six pixel-feature families over a sigma grid, 2D/3D, blockwise.

Arrays are returned channel-last ``(..., F)`` as the API promises, but stored feature-major
(``(F, ...)`` contiguous) underneath: writing 98 planes into an interleaved stack costs
~15 ms a plane at 1024x1024, more than the filtering itself.
"""
from __future__ import annotations

import itertools
import math
import threading

import numpy as np

from .feature_rows import derivative_rows, tensor_rows
from .filters import _reflect_index, filter_axis, gaussian_kernel, kernel_radius, kernels
from .image import as_image
from .threads import run_rows

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


class _Workspace:
    """Scratch stacks for blocks of shape ``.shape``, reused for every sigma, channel and block.

    Fresh multi-MB arrays per filter pass cost page faults, and blocks of varying size leave the
    heap fragmented (resident memory grew by ~0.6 GB a block); the feature planes themselves
    are written in place.
    """

    def __init__(self):
        self.shape, self.bufs = (), {}

    def get(self, name, n):
        size = n * int(np.prod(self.shape, dtype=np.int64))
        buf = self.bufs.get(name)
        if buf is None or buf.size < size:
            self.bufs.pop(name, None)
            buf = self.bufs[name] = np.empty(size, np.float32)
        return buf[:size].reshape((n,) + self.shape)


class ThreadWorkspaces:
    """One :class:`_Workspace` per thread (dask runs blocks on several); pickles empty."""

    def __init__(self):
        self._local = threading.local()

    def get(self):
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = _Workspace()
        return ws

    def __reduce__(self):
        return (ThreadWorkspaces, ())


def _prefix_passes(x, sig, prefixes, dst, ws):
    """Filter ``x`` along its first axes with the orders of each prefix into ``dst``.

    ``prefixes`` are sorted order tuples over axes ``0..L-1``; siblings are adjacent, so the
    last of these passes writes them straight into their place in ``dst``.
    """
    L = len(prefixes[0])

    def rec(arr, depth, prefix):
        orders = sorted({p[depth] for p in prefixes if p[:depth] == prefix})
        if depth == L - 1:
            i0 = prefixes.index(prefix + (orders[0],))
            filter_axis(arr, depth, sig[depth], orders, out=dst[i0:i0 + len(orders)])
            return
        tmp = filter_axis(arr, depth, sig[depth], orders, out=ws.get(f"pass{depth}", len(orders)))
        for o, a in zip(orders, tmp):
            rec(a, depth + 1, prefix + (o,))

    rec(x, 0, ())


def _sigma_features(x, s, fams, rel, out, slot, orow, x0, ws):
    """All families ``fams`` of one sigma for channel ``x`` into ``out`` (F, rows, columns).

    ``slot[family]`` is the family's first plane in ``out``; see :mod:`.feature_rows`.
    """
    nd = x.ndim
    W = x.shape[-1]
    R = x.size // W
    sig = [s * r for r in rel]
    zero = (0,) * nd
    need = set()
    if fams & {"gaussian", "dog"}:
        need.add(zero)
    if fams & {"gradient_magnitude", "structure_tensor_eigenvalues"}:
        need.update(_orders(nd, 1))
    if fams & {"log", "hessian_eigenvalues"}:
        need.update(_orders(nd, 2))
    prefixes = sorted({o[:-1] for o in need})
    derivs = sorted(need, key=lambda o: (prefixes.index(o[:-1]), o[-1]))
    scale = [float(np.prod([rel[a] ** k for a, k in enumerate(o)])) for o in derivs]
    dhalf, dsign = kernels(sig[-1], [o[-1] for o in derivs], scale)
    idx = _reflect_index(W, dhalf.shape[1] - 1)
    firsts = sorted(_orders(nd, 1), reverse=True)  # d/daxis0, d/daxis1, ...
    seconds = [tuple(int(a == i) + int(a == j) for a in range(nd)) for i in range(nd) for j in range(i, nd)]
    pos = {o: e for e, o in enumerate(derivs)}
    roles = np.array([pos.get(o, -1) for o in [zero] + firsts + seconds], np.int64)

    # sources: the input filtered along every axis but the last, one per order prefix (plus
    # DoG's); the pass along axis nd-2 happens row by row inside derivative_rows
    dog = "dog" in fams
    sig_dog = [DOG_RATIO * v for v in sig]
    L = nd - 2
    N = x.shape[-2]
    if L == 0:
        pre = x.reshape((1, 1) + x.shape)
        ysrc = [0] * (len(prefixes) + dog)
    else:
        pre_prefixes = sorted({p[:L] for p in prefixes})
        Q = len(pre_prefixes) + dog
        buf = ws.get("pre", Q)
        _prefix_passes(x, sig, pre_prefixes, buf, ws)
        if dog:
            _prefix_passes(x, sig_dog, [(0,) * L], buf[Q - 1:], ws)
        pre = buf.reshape(Q, R // N, N, W)
        ysrc = [pre_prefixes.index(p[:L]) for p in prefixes] + [Q - 1] * dog
    ykern = [gaussian_kernel(sig[-2], p[-1]) for p in prefixes] + [gaussian_kernel(sig_dog[-2], 0)] * dog
    yr1 = np.array([h.size for h, _ in ykern], np.int64)
    yhalf = np.zeros((len(ykern), yr1.max()), np.float32)
    for k, (h, _) in enumerate(ykern):
        yhalf[k, :h.size] = h
    ysign = np.array([sg for _, sg in ykern], np.float32)
    S = len(ykern)
    if dog:
        dog_half = gaussian_kernel(sig_dog[-1], 0)[0].astype(np.float32)
    else:
        dog_half = np.ones(1, np.float32)
    dog_idx = _reflect_index(W, dog_half.size - 1)

    st = "structure_tensor_eigenvalues" in fams
    P = nd * (nd + 1) // 2
    sig_st = [ST_OUTER * v for v in sig]
    st_half = gaussian_kernel(sig_st[-1], 0)[0].astype(np.float32) if st else np.ones(1, np.float32)
    prods = ws.get("prods", P) if st else np.empty((0,) + x.shape, np.float32)
    slots = np.array([slot.get(f, -1) for f in
                      ("gaussian", "log", "gradient_magnitude", "hessian_eigenvalues", "dog")], np.int64)
    dsrc = np.array([prefixes.index(o[:-1]) for o in derivs], np.int64)
    need = np.where(orow >= 0, 2, 0).astype(np.uint8)
    st_der = np.zeros(len(derivs), np.bool_)
    st_src = np.zeros(S, np.bool_)
    if st:
        # rows the structure tensor's smoothing across rows reaches need their products
        if nd == 2:
            from scipy.ndimage import maximum_filter1d

            near = maximum_filter1d((orow >= 0).astype(np.uint8), 2 * kernel_radius(sig_st[-2]) + 1,
                                    mode="constant") > 0
        else:  # in 3D the products are smoothed along Z over the whole stack
            near = np.ones(R, bool)
        need[(need == 0) & near] = 1
        for o in firsts:
            st_der[pos[o]] = True
            st_src[dsrc[pos[o]]] = True
    todo = np.flatnonzero(need).astype(np.int64)
    run_rows(
        derivative_rows, todo.size, pre, _reflect_index(N, yhalf.shape[1] - 1), np.array(ysrc, np.int64), yhalf, ysign, yr1,
        idx, dsrc, dhalf, dsign, roles, nd, slots, out,
        orow, x0, S - 1 if dog else -1, dog_idx, dog_half, _reflect_index(W, st_half.size - 1), st_half,
        prods.reshape(prods.shape[0], R, W), need, st_src, st_der, todo,
    )
    if st:
        t = prods
        for axis in range(nd - 2):  # 3D: along Z first, as a plain pass over the stack
            t = filter_axis(t, axis + 1, sig_st[axis], [0], out=ws.get("pass0", P)[None])[0]
        half = gaussian_kernel(sig_st[-2], 0)[0].astype(np.float32)
        outs = np.flatnonzero(orow >= 0).astype(np.int64)
        run_rows(tensor_rows, outs.size, t.reshape(P, R // N, N, W), _reflect_index(N, half.size - 1), half, nd, out,
                 slot["structure_tensor_eigenvalues"], orow, x0, outs)


def _rows(a, n_lead):
    """``a`` viewed as (n_lead, rows, last axis) without copying (raises if impossible)."""
    v = a.view()
    v.shape = (n_lead, -1, a.shape[-1])  # setting .shape never copies
    return v


def _channel_features(x, fs, spacing, out, inner, ws):
    """Features of one channel ``x`` (spatial, filter dims) for the ``inner`` part of it.

    ``inner`` holds a slice per axis, or for axes but the last a sorted array of indices: the
    rows a zoomed-out view samples are computed, the others skipped.

    ``out`` is an ndarray (F_channel, inner shape) written in place, or a function
    ``out(j, planes)`` taking each sigma's planes (``planes`` (k, inner shape) belong at
    ``j..j+k-1``) as soon as they exist, so a block's features need not all be held at once.
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
    lead = [np.arange(n)[sel] for sel, n in zip(inner[:-1], x.shape[:-1])]  # slices or index arrays
    lens = [len(v) for v in lead] + [len(range(*inner[-1].indices(x.shape[-1])))]
    orow = np.full(x.shape[:-1], -1, np.int64)
    orow[np.ix_(*lead)] = np.arange(int(np.prod(lens[:-1]))).reshape(lens[:-1])
    orow = orow.ravel()
    x0 = inner[-1].indices(x.shape[-1])[0]
    for s, fams in by_sigma.items():
        if isinstance(out, np.ndarray):
            _sigma_features(x, s, fams, rel, _rows(out, out.shape[0]), {f: index[(f, s)] for f in fams},
                            orow, x0, ws)
            continue
        local, k = {}, 0
        for f in fams:
            local[f] = k
            k += _n_components(f, nd)
        buf = ws.get("planes", k).reshape(k, -1)[:, :int(np.prod(lens))]
        rows = buf.view()
        rows.shape = (k, -1, lens[-1])  # a view (raises rather than copy)
        _sigma_features(x, s, fams, rel, rows, local, orow, x0, ws)
        for f in fams:
            j = local[f]
            out(index[(f, s)], buf[j:j + _n_components(f, nd)].reshape((-1,) + tuple(lens)))


def _features_block(data, fs, spacing, out, inner=None, dst=None, ws=None):
    """All features of a channel-last block ``data``, for its ``inner`` part (the rest is halo).

    ``out`` is a feature-major ndarray of the inner part's shape (F, ...), written in place; or,
    with ``dst`` (spatial slices), any array-like (h5py, zarr, memmap) of the whole image whose
    ``out[(features,) + dst]`` receives the planes sigma by sigma. ``ws`` is a workspace to
    reuse from block to block.
    """
    nsp = data.ndim - 1
    fnd = fs.spatial_ndim(nsp)
    per_c = fs.n_features(1, fnd)
    inner = tuple(inner) if inner is not None else (slice(None),) * nsp
    ws = ws or _Workspace()
    ws.shape = data.shape[:-1] if fnd == nsp else data.shape[1:-1]

    def target(off, sub, where):
        if dst is None:
            return sub(out[off:off + per_c])

        def write(j, planes):
            out[(slice(off + j, off + j + len(planes)),) + where] = planes

        return write

    for c in range(data.shape[-1]):
        x = np.ascontiguousarray(data[..., c], np.float32)
        off = c * per_c
        if fnd == nsp:
            _channel_features(x, fs, spacing, target(off, lambda o: o, dst), inner, ws)
        else:  # plane by plane through a volume
            for zi, z in enumerate(np.arange(x.shape[0])[inner[0]]):
                where = None if dst is None else ((dst[0].start or 0) + zi,) + tuple(dst[1:])
                _channel_features(x[z], fs, spacing[1:], target(off, lambda o, zi=zi: o[:, zi], where),
                                  inner[1:], ws)


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
    if img.n_timepoints > 1:
        raise ValueError(f"image {img.name!r} is a time series of {img.n_timepoints} frames (shape {img.data.shape}): "
                         "compute features frame by frame (image.frames())")
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
        # into our own array in place; into a caller's array-like sigma by sigma (no full copy)
        _features_block(data, fs, img.spacing, out, dst=None if own else (slice(None),) * len(shape))
    else:
        ws = _Workspace()
        for src, dst, inner in iter_blocks(shape, block, fs.halo(), fs_ndim=fnd):
            data = normalized(np.asarray(img.data[src], np.float32), ranges)
            # planes go to out sigma by sigma: no block-sized stack of every feature is held
            _features_block(data, fs, img.spacing, out, inner, dst, ws)
    return np.moveaxis(out, 0, -1) if own else out


def selection_shape(inner, shape):
    """Shape of the part ``inner`` (slices, or index arrays) picks from ``shape``."""
    return tuple(len(np.arange(n)[sel]) if not isinstance(sel, slice) else len(range(*sel.indices(n)))
                 for sel, n in zip(inner, shape))


def features_inner(data, fs, spacing, inner, ranges=None, ws=None, out=None):
    """Features ``(F, ...)`` of the ``inner`` part of a block read with its halo.

    ``inner`` holds a slice per spatial axis, or for axes but the last a sorted index array
    (only those rows are computed). ``ws`` (a ``_Workspace``) lets successive blocks reuse
    scratch memory; ``out`` (contiguous float32 of at least the result's size) receives the
    result instead of a new array.
    """
    data = normalized(np.asarray(data, np.float32), ranges if fs.normalize else None)
    nsp = data.ndim - 1
    F = fs.n_features(data.shape[-1], fs.spatial_ndim(nsp))
    shape = (F,) + selection_shape(inner, data.shape[:-1])
    if out is None:
        out = np.empty(shape, np.float32)
    else:
        out = out.reshape(-1)[:math.prod(shape)].reshape(shape)
    _features_block(data, fs, spacing, out, inner, ws=ws)
    return out


_SIZES = (16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)


def block_for_budget(shape, fs, n_channels, budget=2 * 2**30):
    """The block shape for ``shape`` that wastes least on halos while fitting ``budget`` bytes.

    Counts a block's features (float32, inner part) and the scratch stacks of the block with its
    halo; among the blocks that fit, picks the one with the fewest computed voxels per output
    voxel (a thin block of a volume spends most of its time on the halo).
    """
    nsp = len(shape)
    fnd = fs.spatial_ndim(nsp)
    halo = fs.halo(fnd)
    F = fs.n_features(n_channels, fnd)
    scratch = (18 if fnd == 3 else 6) + n_channels  # workspace stacks, the block's channels, one channel
    halos = [0 if (fnd < nsp and a == 0) else halo for a in range(nsp)]
    options = [sorted({min(b, n) for b in _SIZES} | {n}) for n in shape]
    best, smallest = None, None
    for b in itertools.product(*options):
        inner = math.prod(b)
        ext = math.prod(min(bi + 2 * h, n) for bi, h, n in zip(b, halos, shape))
        need = 4 * (F * inner + scratch * ext)
        smallest = min(smallest or (need, b), (need, b))
        key = (ext / inner, -inner)
        if need <= budget and (best is None or key < best[0]):
            best = (key, b)
    return best[1] if best else smallest[1]  # nothing fits: the smallest block there is


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
