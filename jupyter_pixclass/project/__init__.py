"""The project: the truth code and app share — classes (:mod:`.classes`), images with their labels
(:mod:`.labeling`), features, the forest (:mod:`.project`), its file (:mod:`.format`), and the readers
of other tools' projects (:mod:`.ilastik`), all meeting in a plain :class:`.ProjectState`."""
from .project import Project
from .state import ProjectState, TrainedFor

__all__ = ["Project", "ProjectState", "TrainedFor"]
