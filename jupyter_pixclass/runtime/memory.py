"""The memory budget: what this process may use, from the container's limit or ``PIXCLASS_MEMORY_LIMIT``."""
from __future__ import annotations

import os
import re

__all__ = ["parse_bytes", "container_available_bytes", "available_bytes", "default_cache_bytes"]


def _read_int(path):
    try:
        with open(path) as f:
            txt = f.read().strip()
    except OSError:
        return None
    if txt == "max":
        return None
    try:
        v = int(txt)
    except ValueError:
        return None
    return v if 0 < v < 2**60 else None  # cgroup v1 writes a huge number for "no limit"


_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "m": 1e6, "mb": 1e6, "mib": 2**20,
          "g": 1e9, "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12, "tib": 2**40}


def parse_bytes(text, what="a size"):
    """Bytes from ``"2GiB"``, ``"1.5 GB"``, ``"500M"`` or ``"123456"``; a ValueError names ``what``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS:
        raise ValueError(f"{what} must be a number of bytes, optionally with a unit (e.g. 2GiB); got {text!r}")
    return max(int(float(m.group(1)) * _UNITS[unit]), 0)


def container_available_bytes(cgroup_root="/sys/fs/cgroup"):
    """Memory this process's container may still use (cgroup v2, then v1), or None without a limit.

    ``/proc/meminfo`` shows the host's memory inside a container; Binder's 2 GB (server and kernel
    together) is only visible here. ``PIXCLASS_MEMORY_LIMIT`` (bytes, or with a unit: ``2GiB``,
    ``1.5G``, ``500MB``) stands in for a limit, so the tests can run the notebooks as on Binder.
    """
    env = os.environ.get("PIXCLASS_MEMORY_LIMIT")
    if env:
        return parse_bytes(env, "PIXCLASS_MEMORY_LIMIT")
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        limit = _read_int(os.path.join(cgroup_root, limit_file))
        if limit is not None:
            used = _read_int(os.path.join(cgroup_root, usage_file)) or 0
            return max(limit - used, 0)
    return None


def available_bytes():
    """Memory this process may use now: the smaller of ``MemAvailable`` and what the container leaves.

    ``PIXCLASS_MEMORY_LIMIT`` counts as the container's limit (:func:`container_available_bytes`).
    """
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 8 * 2**30
    box = container_available_bytes()
    return avail if box is None else min(avail, box)


def default_cache_bytes():
    """A quarter of the memory available now (:func:`available_bytes`), at most 4 GiB and at least 128 MiB.

    Only the tiles on screen need to stay: a view of 600x600 pixels at 1:1 covers about 400 MB of
    the default 98 features, but a 500x500 IMC crop of 41 channels 1.6 GB of its 1640 (every
    feature of sigma >= 1); with 1 GiB at most, a desktop computed 40 % of it again at every stroke.
    """
    return int(min(4 * 2**30, max(128 * 2**20, available_bytes() // 4)))
