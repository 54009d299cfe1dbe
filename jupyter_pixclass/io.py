"""Reading and writing image files: the public names, ``pc.io.load_image``, ``pc.io.write_array`` ...

The code lives in :mod:`jupyter_pixclass.images`; this module keeps the names scripts use.
"""
from .images.atomic import atomic_write, check_not_input
from .images.paths import SUFFIXES
from .images.read import load_image, open_array
from .images.write import write_array

__all__ = ["load_image", "open_array", "write_array", "atomic_write", "check_not_input", "SUFFIXES"]
