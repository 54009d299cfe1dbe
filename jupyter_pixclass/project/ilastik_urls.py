"""An ilastik lane that names an OME-Zarr image by URL (ilastik 1.4.1's ``MultiscaleUrlDatasetInfo``).

ilastik keeps the URL (``file:///data/cells.ome.zarr``, or ``https://...``; perhaps ending in one
level, ``.../cells.ome.zarr/1``) in ``url`` and ``filePath``, and the level it shows and labels in
``working_scale``: a ``path`` of the image's ``multiscales`` datasets, or ``""`` for the coarsest
level (``OMEZarrStore.lowest_resolution_key``). Labels are in that level's pixels, so that level is
the lane's image. Nothing is fetched over a network: a web URL is looked for on disk by its name.
"""
from __future__ import annotations

import os
import re
from typing import NamedTuple
from urllib.parse import unquote, urlparse

from ..images.ome_zarr import read_ome_zarr

__all__ = ["UrlLane", "parse_lane_url", "level_path"]


class UrlLane(NamedTuple):
    """Where a URL lane's image is: ``store`` (a local path, or the web URL's path to look for by
    name), the level ``scale`` the URL itself ends in (or None), and ``remote`` (True for a web URL)."""

    store: str
    scale: str | None
    remote: bool


_ZARR = re.compile(r"\.zarr$", re.IGNORECASE)


def parse_lane_url(url):
    """A lane's URL as a :class:`UrlLane`; a ValueError for what is not a ``file``, ``http(s)`` or ``s3`` URL."""
    u = urlparse(url)
    if u.scheme not in ("file", "http", "https", "s3", "gs"):
        raise ValueError(f"its URL {url[:200]!r} is not a file:, http(s): or s3: address")
    path = unquote(u.path)
    if u.scheme == "file" and re.match(r"^/[A-Za-z]:/", path):  # file:///C:/data on Windows
        path = path[1:]
    if u.scheme == "s3" or u.scheme == "gs":
        path = "/" + u.netloc + path
    parts = path.rstrip("/").split("/")
    at = max((i for i, p in enumerate(parts) if _ZARR.search(p)), default=None)
    if at is None:
        raise ValueError(f"its URL {url[:200]!r} names no '.zarr' store")
    scale = "/".join(parts[at + 1:]) or None
    return UrlLane("/".join(parts[:at + 1]), scale, u.scheme != "file")


def level_path(store, scale, working_scale):
    """The level the lane shows, as a path in ``store``: ``working_scale``, else the level the URL ends in, else
    the coarsest, as ilastik picks it; a ValueError naming the levels if it is not one of them."""
    arrays = read_ome_zarr(store).arrays
    names = [a.path.strip("/").rsplit("/", 1)[-1] for a in arrays]  # the multiscales' dataset paths
    want = working_scale or scale
    if not want:
        return arrays[-1].path.strip("/")
    if want not in names:
        raise ValueError(f"its level {want!r} is not one of the levels {names} of {os.path.basename(store)!r}")
    return arrays[names.index(want)].path.strip("/")
