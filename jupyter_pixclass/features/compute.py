"""Computing features: every family of one sigma from shared Gaussian derivative passes, 2D/3D, blockwise.

Arrays are returned channel-last ``(..., F)`` as the API promises, but stored feature-major
(``(F, ...)`` contiguous) underneath: writing 98 planes into an interleaved stack costs
~15 ms a plane at 1024x1024, more than the filtering itself.
"""
from __future__ import annotations

import itertools
import math
import threading

import numpy as np

from ..images.checks import check_result_size
from ..images.read import as_image
from ..runtime.threads import run_rows
from .blocks import block_for_budget, iter_blocks, selection_shape
from .filters import filter_axis
from .kernels import gaussian_kernel, kernel_radius, kernels, reflect_index
from .normalize import channel_ranges, image_sample, normalized
from .rows import RowPlan, derivative_rows, tensor_rows
from .spec import DOG_RATIO, ST_OUTER, FeatureSet, n_components

__all__ = ["compute_features", "features_inner", "Workspace", "ThreadWorkspaces"]

def _orders(ndim, order):
    return [o for o in itertools.product(range(order + 1), repeat=ndim) if sum(o) == order]


class Workspace:
    """Scratch stacks for blocks of shape ``.shape``, reused for every sigma, channel and block.

    Fresh multi-MB arrays per filter pass cost page faults, and blocks of varying size leave the
    heap fragmented (resident memory grew by ~0.6 GB a block); the feature planes themselves
    are written in place.
    """

    def __init__(self):
        self.shape, self.bufs = (), {}

    def get(self, name, n):
        """``n`` float32 planes of ``.shape``, kept under ``name`` (grown when too small)."""
        return self.flat(name, n * int(np.prod(self.shape, dtype=np.int64))).reshape((n,) + self.shape)

    def flat(self, name, size):
        """A flat float32 buffer of ``size`` values, kept under ``name`` (grown when too small)."""
        buf = self.bufs.get(name)
        if buf is None or buf.size < size:
            self.bufs.pop(name, None)
            buf = self.bufs[name] = np.empty(size, np.float32)
        return buf[:size]


class ThreadWorkspaces:
    """One :class:`Workspace` per thread (dask runs blocks on several); pickles empty."""

    def __init__(self):
        self._local = threading.local()

    def get(self):
        """This thread's :class:`Workspace`."""
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = Workspace()
        return ws

    def __reduce__(self):
        return (ThreadWorkspaces, ())


def _prefix_passes(x, sig, prefixes, dst, ws, span=None):
    """Filter ``x`` along its first axes with the orders of each prefix into ``dst``.

    ``prefixes`` are sorted order tuples over axes ``0..L-1``; siblings are adjacent, so the
    last of these passes writes them straight into their place in ``dst``. ``span`` limits the
    first pass's output to those positions (the planes a request needs).
    """
    L = len(prefixes[0])

    def rec(arr, depth, prefix):
        orders = sorted({p[depth] for p in prefixes if p[:depth] == prefix})
        sp = span if depth == 0 else None
        if depth == L - 1:
            i0 = prefixes.index(prefix + (orders[0],))
            filter_axis(arr, depth, sig[depth], orders, out=dst[i0:i0 + len(orders)], span=sp)
            return
        tmp = filter_axis(arr, depth, sig[depth], orders, out=ws.get(f"pass{depth}", len(orders)), span=sp)
        for o, a in zip(orders, tmp):
            rec(a, depth + 1, prefix + (o,))

    rec(x, 0, ())


def _sigma_features(x, s, fams, rel, out, slot, orow, x0, ws):
    """All families ``fams`` of one sigma for channel ``x`` into ``out`` (F, rows, columns).

    ``slot[family]`` is the family's first plane in ``out``; see :mod:`.rows`.
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
    idx = reflect_index(W, dhalf.shape[1] - 1)
    firsts = sorted(_orders(nd, 1), reverse=True)  # d/daxis0, d/daxis1, ...
    seconds = [tuple(int(a == i) + int(a == j) for a in range(nd)) for i in range(nd) for j in range(i, nd)]
    pos = {o: e for e, o in enumerate(derivs)}
    roles = np.array([pos.get(o, -1) for o in [zero] + firsts + seconds], np.int64)

    # sources: the input filtered along every axis but the last, one per order prefix (plus
    # DoG's); the pass along axis nd-2 happens row by row inside derivative_rows
    dog = "dog" in fams
    sig_dog = [DOG_RATIO * v for v in sig]
    st = "structure_tensor_eigenvalues" in fams
    sig_st = [ST_OUTER * v for v in sig]
    L = nd - 2
    N = x.shape[-2]
    if L == 0:
        pre = x.reshape((1, 1) + x.shape)
        ysrc = [0] * (len(prefixes) + dog)
    else:
        # only the planes holding wanted rows (and, for the structure tensor, those its smoothing
        # across planes reaches) leave the pass across planes: a plane of a volume costs a plane
        Z = x.shape[0]
        zs = np.flatnonzero((orow >= 0).reshape(Z, -1).any(1))
        r_st = kernel_radius(sig_st[0]) if st else 0
        z0, z1 = (max(0, int(zs[0]) - r_st), min(Z, int(zs[-1]) + r_st + 1)) if zs.size else (0, 1)
        orow = orow.reshape(Z, -1)[z0:z1].ravel()
        R = (z1 - z0) * (R // Z)
        pre_prefixes = sorted({p[:L] for p in prefixes})
        Q = len(pre_prefixes) + dog
        buf = ws.flat("pre", Q * R * W).reshape((Q, z1 - z0) + x.shape[1:])
        # the structure tensor's gradients need orders 0 and 1 across planes on every plane kept; the
        # other orders and DoG only on the planes wanted (at sigma 10 they were 41 planes for one)
        wz = (int(zs[0]) - z0, int(zs[-1]) + 1 - z0) if zs.size else (0, 1)
        n_all = sum(p[0] <= 1 for p in pre_prefixes) if st else len(pre_prefixes)
        _prefix_passes(x, sig, pre_prefixes[:n_all], buf[:n_all], ws, span=(z0, z1))
        for q in range(n_all, len(pre_prefixes)):  # one order each: a contiguous run of planes of buf
            _prefix_passes(x, sig, pre_prefixes[q:q + 1], buf[q:q + 1, wz[0]:wz[1]], ws,
                           span=(z0 + wz[0], z0 + wz[1]))
        if dog:
            _prefix_passes(x, sig_dog, [(0,) * L], buf[Q - 1:, wz[0]:wz[1]], ws, span=(z0 + wz[0], z0 + wz[1]))
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
    dog_idx = reflect_index(W, dog_half.size - 1)

    P = nd * (nd + 1) // 2
    st_half = gaussian_kernel(sig_st[-1], 0)[0].astype(np.float32) if st else np.ones(1, np.float32)
    prods = ws.flat("prods", P * R * W).reshape(P, R, W) if st else np.empty((0, R, W), np.float32)
    slots = np.array([slot.get(f, -1) for f in
                      ("gaussian", "log", "gradient_magnitude", "hessian_eigenvalues", "dog")], np.int64)
    dsrc = np.array([prefixes.index(o[:-1]) for o in derivs], np.int64)
    need = np.where(orow >= 0, 2, 0).astype(np.uint8)
    st_der = np.zeros(len(derivs), np.bool_)
    st_src = np.zeros(S, np.bool_)
    if st:
        # rows the structure tensor's smoothing across rows reaches need their products
        # (in 3D they are smoothed across the planes kept above first, then across rows: a row's products
        # are needed within both reaches of a wanted row; a halo row beyond them was computed for nothing,
        # 2/3 of an xz pane's rows at sigma 10)
        from scipy.ndimage import maximum_filter

        reach = [1] * (3 - nd) + [2 * kernel_radius(v) + 1 for v in sig_st[:-1]]  # (planes, rows)
        near = maximum_filter((orow >= 0).reshape(-1, N).astype(np.uint8), reach, mode="constant").ravel() > 0
        need[(need == 0) & near] = 1
        for o in firsts:
            st_der[pos[o]] = True
            st_src[dsrc[pos[o]]] = True
    todo = np.flatnonzero(need).astype(np.int64)
    plan = RowPlan(
        pre=pre, yidx=reflect_index(N, yhalf.shape[1] - 1), ysrc=np.array(ysrc, np.int64), yhalf=yhalf, ysign=ysign,
        yr1=yr1, idx=idx, dsrc=dsrc, dhalf=dhalf, dsign=dsign, roles=roles, nd=nd, slots=slots, out=out, orow=orow,
        x0=x0, dog_src=S - 1 if dog else -1, dog_idx=dog_idx, dog_half=dog_half,
        st_idx=reflect_index(W, st_half.size - 1), st_half=st_half, prods=prods.reshape(prods.shape[0], R, W),
        need=need, st_src=st_src, st_der=st_der, todo=todo)
    run_rows(derivative_rows, todo.size, plan)
    if st:
        t = prods
        A = R // N
        if L:  # 3D: along Z first, over the planes kept, into the planes wanted (wz) only (the products exist on
            # ~2 sigma of planes either side; smoothing all of them when one plane is wanted computed 4 sigma + 1)
            t = filter_axis(t.reshape(P, A, N, W), 1, sig_st[0], [0], span=wz,
                            out=ws.flat("pass0", P * (wz[1] - wz[0]) * N * W).reshape(1, P, wz[1] - wz[0], N, W))[0]
            A = wz[1] - wz[0]
            orow = orow.reshape(-1, N)[wz[0]:wz[1]].ravel()
        half = gaussian_kernel(sig_st[-2], 0)[0].astype(np.float32)
        outs = np.flatnonzero(orow >= 0).astype(np.int64)
        run_rows(tensor_rows, outs.size, t.reshape(P, A, N, W), reflect_index(N, half.size - 1), half, nd, out,
                 slot["structure_tensor_eigenvalues"], orow, x0, outs)


def _rows(a, n_lead):
    """``a`` viewed as (n_lead, rows, last axis) without copying (raises if impossible)."""
    v = a.view()
    v.shape = (n_lead, -1, a.shape[-1])  # setting .shape never copies
    return v


def _channel_features(x, layout, spacing, out, inner, ws, pairs):
    """Features of one channel ``x`` (spatial, filter dims) for the ``inner`` part of it.

    ``inner`` holds a slice per axis, or for axes but the last a sorted array of indices: the
    rows a zoomed-out view samples are computed, the others skipped.

    ``out`` is an ndarray (F_channel, inner shape) written in place, or a function
    ``out(j, planes)`` taking each sigma's planes (``planes`` (k, inner shape) belong at
    ``j..j+k-1``) as soon as they exist, so a block's features need not all be held at once.
    ``pairs``: the ``(family, sigma)`` computed, at the rows of ``out`` that ``layout`` (``FeatureSet.layout``)
    gives them, ``x.ndim`` dimensional each.
    """
    nd = x.ndim
    smin = min(spacing)
    rel = [smin / s for s in spacing]  # sigma in units of the finest axis
    index = {p: at for p, (at, _) in layout.items()}  # position of each (family, sigma) in names() order
    by_sigma = {}
    for f, s in pairs:
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
            k += n_components(f, nd)
        buf = ws.get("planes", k).reshape(k, -1)[:, :int(np.prod(lens))]
        rows = buf.view()
        rows.shape = (k, -1, lens[-1])  # a view (raises rather than copy)
        _sigma_features(x, s, fams, rel, rows, local, orow, x0, ws)
        for f in fams:
            j = local[f]
            out(index[(f, s)], buf[j:j + n_components(f, nd)].reshape((-1,) + tuple(lens)))


def _features_block(data, fs, spacing, out, inner=None, dst=None, ws=None, wanted=None):
    """All features of a channel-last block ``data``, for its ``inner`` part (the rest is halo).

    ``out`` is a feature-major ndarray of the inner part's shape (F, ...), written in place; or,
    with ``dst`` (spatial slices), any array-like (h5py, zarr, memmap) of the whole image whose
    ``out[(features,) + dst]`` receives the planes sigma by sigma. ``ws`` is a workspace to
    reuse from block to block. ``wanted`` (bool, one per feature): only the ``(family, sigma)`` of
    each channel holding a wanted feature are computed; the other rows of ``out`` are left alone.
    """
    nsp = data.ndim - 1
    fnd = fs.spatial_ndim(nsp)
    per_c = fs.n_features(1, fnd)
    layout = fs.layout(fnd)  # each (family, sigma)'s rows within a channel's
    inner = tuple(inner) if inner is not None else (slice(None),) * nsp
    ws = ws or Workspace()

    def target(off, sub, where):
        if dst is None:
            return sub(out[off:off + per_c])

        def write(j, planes):
            out[(slice(off + j, off + j + len(planes)),) + where] = planes

        return write

    for c in range(data.shape[-1]):
        off = c * per_c
        pairs = [p for p, (a, k) in layout.items() if wanted is None or wanted[off + a:off + a + k].any()]
        if not pairs:
            continue
        x = np.ascontiguousarray(data[..., c], np.float32)
        # in a volume filtered in 3D, the in_2d scales go plane by plane as mode="2d" filters every one
        flat = [p for p in pairs if fs.pair_ndim(p[1], fnd) < nsp]
        if len(flat) < len(pairs):
            ws.shape = data.shape[:-1]  # the scratch stacks take the shape of what is filtered
            _channel_features(x, layout, spacing, target(off, lambda o: o, dst), inner, ws,
                              [p for p in pairs if p not in flat])
        if flat:
            ws.shape = data.shape[1:-1]
            for zi, z in enumerate(np.arange(x.shape[0])[inner[0]]):
                where = None if dst is None else ((dst[0].start or 0) + zi,) + tuple(dst[1:])
                _channel_features(x[z], layout, spacing[1:], target(off, lambda o, zi=zi: o[:, zi], where),
                                  inner[1:], ws, flat)


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
        A lazy image (pixels left in the file) is always read in blocks.
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
        check_result_size((F,) + shape, np.float32, "the features", img.name)
        out = np.empty((F,) + shape, np.float32)
    elif tuple(out.shape) != (F,) + shape:
        raise ValueError(f"out has shape {tuple(out.shape)}; expected {(F,) + shape} (features first)")
    if fs.normalize and ranges is None:
        ranges = channel_ranges(image_sample(img.data))
    if not fs.normalize:
        ranges = None
    if block is None and img.lazy:  # pixels in a file: read block by block, never whole
        block = block_for_budget(shape, fs, img.n_channels, budget=256 * 2**20)
    if block is None:
        data = normalized(img.data.astype(np.float32, copy=False), ranges)
        # into our own array in place; into a caller's array-like sigma by sigma (no full copy)
        _features_block(data, fs, img.spacing, out, dst=None if own else (slice(None),) * len(shape))
    else:
        ws = Workspace()
        for src, dst, inner in iter_blocks(shape, block, fs.halos(len(shape)), fs_ndim=fnd):
            data = normalized(np.asarray(img.data[src], np.float32), ranges)
            # planes go to out sigma by sigma: no block-sized stack of every feature is held
            _features_block(data, fs, img.spacing, out, inner, dst, ws)
    return np.moveaxis(out, 0, -1) if own else out


def features_inner(data, fs, spacing, inner, ranges=None, ws=None, out=None, wanted=None):
    """Features ``(F, ...)`` of the ``inner`` part of a block read with its halo.

    ``inner`` holds a slice per spatial axis, or for axes but the last a sorted index array
    (only those rows are computed). ``ws`` (a ``Workspace``) lets successive blocks reuse
    scratch memory; ``out`` (contiguous float32 of at least the result's size) receives the
    result instead of a new array. ``wanted`` (bool, one per feature): only what those need is
    computed, the other features are 0 (a forest that reads only the wanted ones predicts the same).
    """
    data = normalized(np.asarray(data, np.float32), ranges if fs.normalize else None)
    nsp = data.ndim - 1
    F = fs.n_features_for(data.shape[-1], nsp)
    shape = (F,) + selection_shape(inner, data.shape[:-1])
    if wanted is not None:
        wanted = np.asarray(wanted, bool)
        if wanted.shape != (F,):
            raise ValueError(f"wanted has shape {wanted.shape}; {F} features need ({F},)")
    if out is None:
        out = (np.empty if wanted is None else np.zeros)(shape, np.float32)
    else:
        out = out.reshape(-1)[:math.prod(shape)].reshape(shape)
        if wanted is not None:
            out[~wanted] = 0  # the wanted rows are written below
    _features_block(data, fs, spacing, out, inner, ws=ws, wanted=wanted)
    return out
