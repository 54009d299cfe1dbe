"""Where a saved project's images live: their files as saved (absolute and relative) and found again, the axes
and frame they were read with, and a volume kept as the files of its planes."""
from __future__ import annotations

import os

from ..images.paths import FoundFile, exists, find_file, split_inner
from ..images.read import open_lazily
from ..images.stacks import MAX_FILES, open_stack

__all__ = ["stored_path", "stored_files", "find_image_file", "file_axes_of", "frame_of", "open_saved_stack"]


def stored_path(img_path, project_path):
    """An image's file as saved: absolute, and relative to the project's folder (found again after a move)."""
    if img_path is None:
        return {"path": None}
    outer, inner = split_inner(img_path)
    tail = f"/{inner}" if inner else ""
    out = {"path": os.path.abspath(outer) + tail}
    try:
        out["relpath"] = os.path.relpath(os.path.abspath(outer), os.path.dirname(os.path.abspath(project_path))) + tail
    except ValueError:  # another drive (Windows): no relative path
        pass
    return out


def stored_files(files, project_path):
    """The files of an image kept as a stack of them (``Image.files``), each as :func:`stored_path` saves one;
    ``{}`` for an image of one file."""
    return {} if not files else {"files": [stored_path(f, project_path) for f in files]}


def find_image_file(meta, path, image_root):
    """:class:`.FoundFile` of an image kept as a path: relative to the project first, then absolute or by name."""
    here = os.path.dirname(os.path.abspath(path))
    tried = []
    rel = meta.get("relpath")
    if isinstance(rel, str) and not os.path.isabs(rel):
        cand = os.path.normpath(os.path.join(here, rel))
        if exists(split_inner(cand)[0]):
            return FoundFile(cand, [split_inner(cand)[0]])
        tried.append(split_inner(cand)[0])
    stored = meta["path"]
    if not os.path.isabs(split_inner(stored)[0]):  # written before paths were saved absolute: the folder it ran in
        if exists(split_inner(stored)[0]):
            return FoundFile(stored, tried + [split_inner(stored)[0]])
        tried.append(os.path.abspath(split_inner(stored)[0]))
    found = find_file(stored, [image_root, here])
    return FoundFile(found.path, list(dict.fromkeys(tried + found.tried)))


def file_axes_of(meta, i, path):
    """The axes the image's file was read with (None: what the file says), checked."""
    a = meta.get("file_axes")
    if a is None:
        return None
    if not isinstance(a, str) or not 2 <= len(a) <= 5 or len(set(a)) != len(a) or not set(a) <= set("TZCYX"):
        raise ValueError(f"{path!r}: images/{i} file_axes should be distinct letters of 'TZCYX'; got {str(a)[:40]!r}")
    return a


def frame_of(meta, i, path):
    """``(t, n)`` of an image that is one time point of a series file, or None; checked."""
    fr = meta.get("frame")
    if fr is None:
        return None
    if (not isinstance(fr, list) or len(fr) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in fr)
            or not 0 <= fr[0] < fr[1]):
        raise ValueError(f"{path!r}: images/{i} frame should be [t, n] with 0 <= t < n; got {str(fr)[:40]!r}")
    return tuple(fr)


def open_saved_stack(meta, i, path, image_root, missing):
    """The image ``images/i`` kept as the files of its planes (``meta["files"]``), left in them; None when some
    file is found nowhere (one entry in ``missing`` for the image, the first few names)."""
    files = meta["files"]
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES or not all(
            isinstance(f, dict) and isinstance(f.get("path"), str) for f in files):
        raise ValueError(f"{path!r}: images/{i} files should be a list of 1 to {MAX_FILES} entries with a path each")
    axes = file_axes_of(meta, i, path)
    if axes is None or axes[0] != "Z":
        raise ValueError(f"{path!r}: images/{i} is a stack of files but its file_axes {axes!r} do not start with 'Z'")
    found, lost = [], []
    for f in files:
        got = find_image_file(f, path, image_root)
        (found if got.path is not None else lost).append(got.path or f"{f['path']} (looked for "
                                                                      f"{', '.join(got.tried)})")
    if lost:
        missing.append(f"images/{i} {str(meta.get('name'))[:80]!r}, a stack of {len(files)} files, {len(lost)} not "
                       f"found: " + "; ".join(lost[:3]) + (f"; and {len(lost) - 3} more" if len(lost) > 3 else ""))
        return None
    for f in found:
        if os.path.samefile(split_inner(f)[0], path):
            raise ValueError(f"{path!r}: images/{i} points back at the project file itself")
    return open_stack(found, axes, open_lazily, where=f"images/{i} of {path!r}")
