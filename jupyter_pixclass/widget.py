"""Kept for ``from jupyter_pixclass.widget import PixelClassifierApp``; the app lives in :mod:`.app`."""
from .app import PixelClassifierApp

__all__ = ["PixelClassifierApp"]
