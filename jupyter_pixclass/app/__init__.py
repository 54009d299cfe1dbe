"""The notebook app: components composed by :class:`PixelClassifierApp`.

Engine modules never import from here; each module below is one part of the window.
"""
from .main import PixelClassifierApp

__all__ = ["PixelClassifierApp"]
