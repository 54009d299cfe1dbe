"""Which features: ilastik's six filter families over a sigma grid (the spec alone, no compiled code)."""
from __future__ import annotations

import math
import numbers

from .kernels import kernel_radius

__all__ = ["FeatureSet", "FAMILIES", "FAMILY_TITLES", "DEFAULT_SIGMAS", "MAX_SIGMA", "n_components"]

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
# A filter's cost grows with its kernel (4 sigma each side), not with the image: sigma 1e7 from a damaged project
# file kept a 512 x 512 image busy for hours. 100 pixels is beyond any scale ilastik's dialog offers.
MAX_SIGMA = 100.0


def _halo(pairs):
    """Pixels of context the ``(family, sigma)`` pairs need (the structure tensor smooths its products too)."""
    h = 0
    for f, s in pairs:
        r = kernel_radius(s)
        if f == "structure_tensor_eigenvalues":
            r += kernel_radius(ST_OUTER * s)
        h = max(h, r)
    return h


def n_components(family, ndim):
    """Planes a family gives per channel in ``ndim`` dimensions (eigenvalues: one per axis)."""
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
    in_2d : sequence of float, optional
        Sigmas filtered plane by plane in a volume while the others are filtered in 3D, as
        ilastik's "in 2D" column: a scale whose kernel outgrows a thin stack, or planes far apart.
        Their eigenvalue families give two values (in the plane), and their names end "in 2D".
        Only sigmas of the set count; nothing changes for 2D images or with ``mode="2d"``.

    Examples
    --------
    >>> fs = FeatureSet(sigmas=[1.0, 3.5], families=["gaussian", "log"])
    >>> fs.names(n_channels=1, ndim=2)
    ['Gaussian Smoothing σ=1.0 [ch 1]', 'Gaussian Smoothing σ=3.5 [ch 1]', \
'Laplacian of Gaussian σ=1.0 [ch 1]', 'Laplacian of Gaussian σ=3.5 [ch 1]']
    """

    def __init__(self, sigmas=None, families=None, mode="auto", pairs=None, normalize=None, in_2d=()):
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
            if s > MAX_SIGMA:
                raise ValueError(f"sigma {s:g} for {f!r} is larger than {MAX_SIGMA:g} pixels; for coarser scales, "
                                 f"downsample the image first")
            clean.add((f, round(s, 6)))
        if not clean:
            raise ValueError("a FeatureSet needs at least one (family, sigma) pair")
        self.pairs = sorted(clean, key=lambda p: (FAMILIES.index(p[0]), p[1]))
        in_2d = in_2d.tolist() if hasattr(in_2d, "tolist") else in_2d  # a numpy array of sigmas
        if not isinstance(in_2d, (list, tuple, set, frozenset)):
            raise ValueError(f"in_2d should be a list of sigmas; got {str(in_2d)[:40]!r}")
        flat = set()
        for s in in_2d:
            if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s) or s <= 0:
                raise ValueError(f"in_2d holds sigmas (positive numbers); got {str(s)[:40]!r}")
            flat.add(round(float(s), 6))
        self.in_2d = tuple(sorted(flat & {s for _, s in self.pairs}))  # a scale not in the set changes nothing

    @classmethod
    def default(cls):
        """ilastik's grid: all six families at every sigma, sigma 0.3 for smoothing only."""
        pairs = [(f, s) for f in FAMILIES for s in DEFAULT_SIGMAS if s >= 0.5 or f == "gaussian"]
        return cls(pairs=pairs)

    @property
    def sigmas(self):
        """The distinct sigmas of the set, increasing."""
        return sorted({s for _, s in self.pairs})

    @property
    def families(self):
        """The families of the set, in :data:`FAMILIES` order."""
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
        return FeatureSet(pairs=keep, mode=self.mode, normalize=self.normalize, in_2d=self.in_2d)

    def spatial_ndim(self, image_ndim):
        """Dimensionality the filters run in for an image of ``image_ndim`` spatial axes."""
        if self.mode == "3d" and image_ndim != 3:
            raise ValueError(f"mode='3d' needs a 3D image; this one has {image_ndim} spatial axes")
        return 2 if (self.mode == "2d" or image_ndim == 2) else 3

    def check_images(self, images):
        """Check that ``images`` (with ``name`` and ``ndim_spatial``) give features of one dimensionality.

        One forest learns from all of a project's images, so their features must be alike: 2D images
        and volumes mix only when volumes are filtered plane by plane (``mode="2d"``).

        Raises
        ------
        ValueError
            Naming an image of each dimensionality and how to mix them.
        """
        seen = {}
        for img in images:
            seen.setdefault(self.spatial_ndim(img.ndim_spatial), img)
        if len(seen) > 1:
            a, b = seen[2], seen[3]
            raise ValueError(f"image {b.name!r} is a volume filtered in 3D, but image {a.name!r} is 2D: one forest "
                             f"cannot learn from both. Filter volumes plane by plane (FeatureSet(..., mode='2d')) to "
                             f"mix them, or keep them in separate projects")

    def pair_ndim(self, sigma, ndim):
        """Dimensionality a scale is filtered in when the set filters in ``ndim`` (2 for an ``in_2d`` sigma)."""
        return 2 if ndim == 3 and round(float(sigma), 6) in self.in_2d else ndim

    def layout(self, ndim):
        """``{(family, sigma): (first row, rows)}`` of one channel's features in ``ndim`` filter dimensions."""
        out, at = {}, 0
        for f, s in self.pairs:
            k = n_components(f, self.pair_ndim(s, ndim))
            out[(f, s)] = (at, k)
            at += k
        return out

    def n_features(self, n_channels=1, ndim=2):
        """Number of features for ``n_channels`` channels in ``ndim`` filter dimensions."""
        return n_channels * sum(n_components(f, self.pair_ndim(s, ndim)) for f, s in self.pairs)

    def n_features_for(self, n_channels, image_ndim):
        """Number of features of an image of ``n_channels`` channels and ``image_ndim`` spatial axes."""
        return self.n_features(n_channels, self.spatial_ndim(image_ndim))

    def names(self, n_channels=1, ndim=2):
        """Readable feature names in the order :func:`compute_features` returns them."""
        out = []
        for c in range(n_channels):
            for f, s in self.pairs:
                flat = self.pair_ndim(s, ndim) < ndim
                k = n_components(f, 2 if flat else ndim)
                for j in range(k):
                    t = FAMILY_TITLES[f]
                    if k > 1:
                        t = t[:-1] + f" {j + 1}"  # "Eigenvalues" -> "Eigenvalue 1"
                    out.append(f"{t} σ={s:g}{' in 2D' if flat else ''} [ch {c + 1}]")
        return out

    def halo(self, ndim=2):
        """Pixels of context a block needs so blockwise results equal whole-image ones."""
        return _halo(self.pairs)

    def halos(self, n_spatial):
        """:meth:`halo` per spatial axis of an image of ``n_spatial`` axes: none across the planes of a volume
        filtered plane by plane, and across them only what the scales filtered in 3D need (not ``in_2d``'s)."""
        h = self.halo()
        if n_spatial < 3:
            return (h,) * n_spatial
        across = 0 if self.spatial_ndim(3) < 3 else _halo([p for p in self.pairs if p[1] not in self.in_2d])
        return (across, h, h)

    def to_dict(self):
        """The set as JSON-ready data (see :meth:`from_dict`)."""
        d = {"pairs": [[f, s] for f, s in self.pairs], "mode": self.mode, "normalize": self.normalize}
        if self.in_2d:
            d["in_2d"] = list(self.in_2d)
        return d

    @classmethod
    def from_dict(cls, d):
        """The set :meth:`to_dict` wrote; pairs are checked as in the constructor."""
        return cls(pairs=[tuple(p) for p in d["pairs"]], mode=d.get("mode", "auto"), normalize=d.get("normalize"),
                   in_2d=d.get("in_2d", ()))

    def key(self):
        """Hashable identity (for caches)."""
        # sets without in_2d keep the key they always had (saved forests name the key they were trained on)
        return (tuple(self.pairs), self.mode, self.normalize) + ((self.in_2d,) if self.in_2d else ())

    def __eq__(self, other):
        return isinstance(other, FeatureSet) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __len__(self):
        return len(self.pairs)

    def __repr__(self):
        norm = (f", normalize={self.normalize!r}" if self.normalize else "") + (
            f", in_2d={list(self.in_2d)}" if self.in_2d else "")
        return (f"FeatureSet({len(self.pairs)} pairs, families={self.families}, sigmas={self.sigmas}, "
                f"mode={self.mode!r}{norm})")
