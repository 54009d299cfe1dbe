"""The project's classes: names, colours, the label value of each."""
from __future__ import annotations

import colorsys
import itertools

import numpy as np

from ..engine.chunked_labels import relabel

__all__ = ["ClassList", "PALETTE", "MAX_NAME", "check_color", "check_class_name", "next_color"]

MAX_NAME = 255  # characters of a class name: a name from a file is shown on a button, never megabytes of it
PALETTE = ["#e41a1c", "#377eb8", "#4daf4a", "#ff7f00", "#984ea3", "#ffff33", "#a65628", "#f781bf", "#17becf"]


def next_color(used):
    """A colour for a new class: the first of :data:`PALETTE` not in ``used``, then hues a golden angle apart
    (a tenth class repeated the first's red, so the overlay could not tell them apart)."""
    taken = {str(c).lower() for c in used}
    for c in PALETTE:
        if c not in taken:
            return c
    for k in itertools.count():
        rgb = colorsys.hsv_to_rgb((0.05 + k * 0.618034) % 1.0, 0.85 if k % 2 else 0.6, 0.95 if k % 3 else 0.75)
        c = "#" + "".join(f"{round(v * 255):02x}" for v in rgb)
        if c not in taken:
            return c


def check_class_name(name):
    """``name`` as a class name: text, stripped, 1 to :data:`MAX_NAME` characters; a ValueError otherwise."""
    name = str(name).strip()
    if not name:
        raise ValueError("a class needs a non-empty name")
    if len(name) > MAX_NAME:
        raise ValueError(f"a class name is at most {MAX_NAME} characters; got {len(name)} ({name[:40]!r}...)")
    return name


def check_color(c):
    """``c`` (a name like 'red' or a hex) as ``#rrggbb``; a ValueError for anything else."""
    from matplotlib.colors import to_hex

    try:
        return to_hex(c)
    except ValueError:
        raise ValueError(f"not a colour: {c!r} (use a name like 'red' or a hex '#ff0000')") from None


class ClassList:
    """Part of :class:`.Project`: ``classes`` and ``colors``, kept in step with the labels.

    Label ``k`` (1-based) means ``classes[k - 1]``; removing a class relabels the images and
    drops the forest (:meth:`_changed`).
    """

    #: bumped when label values are renumbered (a class removed): labels kept from before, e.g. an undo
    #: history, now mean other classes or none
    numbering = 0

    def class_index(self, name):
        """The 1-based label value of class ``name`` (a name, or an index checked against the classes)."""
        if isinstance(name, (int, np.integer)):
            if not 1 <= name <= len(self.classes):
                raise ValueError(f"class index {name} out of range 1..{len(self.classes)}")
            return int(name)
        try:
            return self.classes.index(name) + 1
        except ValueError:
            raise ValueError(f"no class named {name!r}; classes are {self.classes}") from None

    def add_class(self, name, color=None):
        """Add a class; returns its 1-based label value."""
        name = check_class_name(name)
        if name in self.classes:
            raise ValueError(f"a class named {name!r} exists already")
        if len(self.classes) >= 255:
            raise ValueError("at most 255 classes")
        if color is None:
            color = next_color(self.colors)
        self.classes.append(name)
        self.colors.append(check_color(color))
        self._changed()
        return len(self.classes)

    def add_classes(self, names, colors=None):
        """Add classes ``names`` (a list of names; ``colors`` one per class, or None for the palette)."""
        if isinstance(names, (str, bytes)):  # a single name would become one class per character
            raise TypeError(f"classes must be a list of names, not one string; got {names[:40]!r}"
                            f" (for one class: [{names[:40]!r}])")
        names = list(names)
        colors = list(colors) if colors is not None else [None] * len(names)
        if len(colors) != len(names):
            raise ValueError(f"{len(colors)} colours given for {len(names)} classes")
        for name, c in zip(names, colors):
            self.add_class(name, c)

    def rename_class(self, old, new):
        """Rename class ``old`` (name or 1-based index) to ``new``; labels keep their meaning."""
        k = self.class_index(old)
        new = check_class_name(new)
        if new in self.classes and self.classes[k - 1] != new:
            raise ValueError(f"a class named {new!r} exists already")
        self.classes[k - 1] = new
        self.version += 1

    def set_color(self, name, color):
        """Give class ``name`` (name or 1-based index) the colour ``color``."""
        self.colors[self.class_index(name) - 1] = check_color(color)
        self.version += 1

    def remove_class(self, name):
        """Remove a class and its labels; higher labels shift down; the forest is dropped."""
        k = self.class_index(name)
        with self.lock:
            lut = np.arange(256)  # class k's labels go, the ones above move down
            lut[k] = 0
            lut[k + 1:] -= 1
            for img, lab in zip(self.images, self._labels):
                relabel(lab, lut)
                self._store.mark(img)
            del self.classes[k - 1]
            del self.colors[k - 1]
            self.numbering += 1
            self._changed()
