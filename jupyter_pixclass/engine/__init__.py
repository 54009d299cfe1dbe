"""The interactive engine: features of tiles on demand in one byte budget (:mod:`.tiles`, :mod:`.cache`),
the labeled pixels' features (:mod:`.label_store`) and what a view shows (:mod:`.view_features`)."""
from .label_store import LabelStore
from .tiles import TileEngine, shared_cache
from .view_features import ViewFeatures

__all__ = ["TileEngine", "shared_cache", "LabelStore", "ViewFeatures"]
