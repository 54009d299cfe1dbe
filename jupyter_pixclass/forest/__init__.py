"""The random forest: flat arrays (:mod:`.model`), their compiled scorer (:mod:`.score`, its tables in
:mod:`.bitvectors`), and the trainer (:mod:`.train`: binning in :mod:`.bins`, growing in :mod:`.grow`)."""
from .model import Forest
from .train import TrainedForest, train_forest

__all__ = ["Forest", "train_forest", "TrainedForest"]
