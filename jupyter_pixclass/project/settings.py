"""The forest's training settings of a Project: its seed, its number of trees, its class weights."""
from __future__ import annotations

import numpy as np

from ..forest.train import check_class_weight

__all__ = ["TrainingSettings", "MAX_TREES", "check_random_state", "check_n_estimators"]

MAX_TREES = 10_000  # a file may declare any number of trees; growing them would allocate it


def _whole(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def check_random_state(v, where="random_state"):
    """``v`` as an int in 0..2**63 - 1, or None; a ValueError naming ``where`` for anything else."""
    if v is None:
        return None
    if not _whole(v) or not 0 <= int(v) < 2**63:
        raise ValueError(f"{where} should be None or a whole number from 0 to 2**63 - 1; got {str(v)[:40]!r}")
    return int(v)


def check_n_estimators(v, where="n_estimators"):
    """``v`` as an int in 1..:data:`MAX_TREES`; a ValueError naming ``where`` for anything else."""
    if not _whole(v) or not 1 <= int(v) <= MAX_TREES:
        raise ValueError(f"{where} should be a whole number from 1 to {MAX_TREES}; got {str(v)[:40]!r}")
    return int(v)


class TrainingSettings:
    """Part of :class:`.Project`: ``random_state``, ``n_estimators`` and ``class_weight``, checked.

    The forest was grown with the settings it was trained at: changing one drops it (as changing the
    classes or the features does), so ``predict`` and ``save`` never pair a forest with settings it
    was not grown by; Live Update trains anew at its next update (a stroke, or ``request_update``).
    """

    @property
    def random_state(self):
        """Seed of the forest: same labels and seed give the same predictions (None: 0)."""
        return self._random_state

    @random_state.setter
    def random_state(self, v):
        self._set_setting("_random_state", check_random_state(v))

    @property
    def n_estimators(self):
        """Trees in the forest, 1 to :data:`MAX_TREES` (ilastik uses 100)."""
        return self._n_estimators

    @n_estimators.setter
    def n_estimators(self, v):
        self._set_setting("_n_estimators", check_n_estimators(v))

    @property
    def class_weight(self):
        """None (the labels' class proportions) or ``"balanced"`` (classes weighed alike)."""
        return self._class_weight

    @class_weight.setter
    def class_weight(self, v):
        self._set_setting("_class_weight", check_class_weight(v))

    def _set_setting(self, name, v):
        with self.lock:
            if getattr(self, name) == v:
                return
            setattr(self, name, v)
            self.version += 1
            self.forest = None
            self.trained_for = None
