"""Pixel features: which (:mod:`.spec`), where (:mod:`.blocks`), how (:mod:`.compute`, with the
compiled :mod:`.filters` and :mod:`.rows`), and intensity ranges (:mod:`.normalize`).

``FeatureSet`` and the constants import no compiled code; ``compute_features`` loads the kernels
when first used.
"""
from .spec import DEFAULT_SIGMAS, FAMILIES, FAMILY_TITLES, FeatureSet

__all__ = ["FeatureSet", "FAMILIES", "FAMILY_TITLES", "DEFAULT_SIGMAS", "compute_features"]


def __getattr__(name):
    if name == "compute_features":  # the numba kernels load with it
        from .compute import compute_features

        return compute_features
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
