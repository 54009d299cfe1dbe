"""A project as plain data: what its file format and the ilastik reader return, and Project assembles."""
from __future__ import annotations

from typing import NamedTuple, Optional

__all__ = ["TrainedFor", "ProjectState"]


class TrainedFor(NamedTuple):
    """What a forest was trained for: the feature set's key, channels, classes, filter dimensions."""

    features_key: tuple
    n_channels: int
    n_classes: int
    ndim: Optional[int]


class ProjectState(NamedTuple):
    """Everything a project holds, as plain values.

    ``images`` is a list of ``(Image, labels)``; labels of a time series have a leading T axis.
    ``forest`` and ``trained`` are both None for an untrained project. ``warnings`` are what a
    reader noticed but could work around; ``source`` names what wrote the file; ``class_weight``
    is the forest's (None or ``"balanced"``, see :func:`..forest.train.train_forest`).
    """

    classes: list
    colors: Optional[list]
    features: object
    images: list
    random_state: int = 0
    n_estimators: int = 100
    forest: object = None
    trained: Optional[TrainedFor] = None
    warnings: tuple = ()
    source: Optional[str] = None
    class_weight: Optional[str] = None
