"""The files a Project came from and reads, and writing it or its results without overwriting them."""
from __future__ import annotations

import os

from ..images.atomic import check_not_input

__all__ = ["ProjectFiles"]


class ProjectFiles:
    """Part of :class:`.Project`: its own file, the ``.ilp`` it was imported from, and what it reads.

    An export, a batch output or a save never lands on a file the project reads: its images' files,
    the ``.ilp`` it came from (another tool's file), or its own project file (a save may replace
    that one, as ilastik's *Save* does; an export may not).
    """

    #: our project file: the one it was loaded from or last saved to (None for a new project)
    path = None
    #: the ilastik ``.ilp`` it was imported from (None if it was not)
    ilastik_path = None

    def input_files(self):
        """Every file the project reads or came from: its images' files, :attr:`path`, :attr:`ilastik_path`.

        Returns
        -------
        list of str
            Paths as they were given (an HDF5 image as ``file.h5/inner``); none of them is written to
            by :meth:`export` or :func:`.batch_predict`.
        """
        found = [im.path for im in self.images if im.path is not None]
        found += [f for im in self.images for f in im.files or ()]  # a volume kept as the files of its planes
        return found + [p for p in (self.path, self.ilastik_path) if p is not None]

    def export(self, x, path, source="probabilities", dtype=None, renormalize=False, axes=None, class_name=None):
        """Write a result of image ``x`` to ``path`` atomically: see :func:`.outputs.export.export_result`."""
        from ..outputs.export import export_result

        return export_result(self, x, path, source=source, dtype=dtype, renormalize=renormalize,
                             axes=axes, class_name=class_name)

    def save(self, path, images="inline"):
        """Save the whole project into one HDF5 file, atomically; it becomes :attr:`path`.

        ``images="inline"`` stores pixel data; ``images="paths"`` stores only the file paths of
        images read from files as they are (pixels made from them, e.g. by :mod:`.preprocess`, are
        stored inline); an image left in its file (``lazy``) is always kept as its path, found again
        by :meth:`load` relative to the project's folder. The file may be the project's own (saved
        again); never one of its images nor the ``.ilp`` it came from.
        """
        from .format import save_project

        check_not_input(path, [self.ilastik_path], "project path")
        out = save_project(self.state(), path, images=images)
        self.path = os.fspath(out)
        return out
