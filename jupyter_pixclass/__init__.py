"""jupyter-pixclass: ilastik-style interactive pixel classification in Jupyter.

>>> import jupyter_pixclass as pc
"""
from . import datasets, io, postprocess, preprocess, simulate, suggest
from .features import FeatureSet
from .features.compute import compute_features
from .images import Image, load_image
from .outputs.batch import batch_predict
from .project import Project

__version__ = "0.1.0"

__all__ = ["Image", "load_image", "FeatureSet", "compute_features", "Project", "batch_predict",
           "datasets", "preprocess", "postprocess", "simulate", "suggest", "io", "PixelClassifierApp"]


def __getattr__(name):
    # the widget pulls in ipywidgets/ipycanvas: load it only when asked for
    if name == "PixelClassifierApp":
        from .app import PixelClassifierApp

        return PixelClassifierApp
    raise AttributeError(f"module 'jupyter_pixclass' has no attribute {name!r}")
