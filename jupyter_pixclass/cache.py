"""A least-recently-used cache of feature arrays (tiles) with a byte budget."""
from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["FeatureCache"]


class FeatureCache:
    """Keep computed feature arrays up to ``max_bytes``, evicting the least recently used.

    Keys identify (image, feature set), never labels, so painting never recomputes features.

    Parameters
    ----------
    max_bytes : int
        Budget; an array larger than the whole budget is returned but not kept.
    """

    def __init__(self, max_bytes=4 * 2**30):
        self.max_bytes = int(max_bytes)
        self._d = OrderedDict()
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0
        self._bytes = 0

    @property
    def nbytes(self):
        with self._lock:
            return self._bytes

    def __contains__(self, key):
        return key in self._d

    def __len__(self):
        return len(self._d)

    def get(self, key, compute):
        """Return the cached array for ``key``, or ``compute()`` it and keep it."""
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                self.hits += 1
                return self._d[key]
        value = compute()
        with self._lock:
            self.misses += 1
            if value.nbytes <= self.max_bytes and key not in self._d:
                self._d[key] = value
                self._bytes += value.nbytes
                while self._bytes > self.max_bytes:
                    self._bytes -= self._d.popitem(last=False)[1].nbytes
        return value

    def peek(self, key):
        """The cached array for ``key`` (marked as recently used), or None; computes nothing."""
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                self.hits += 1
                return self._d[key]
        return None

    def discard(self, match):
        """Drop entries whose key satisfies ``match(key)``."""
        with self._lock:
            for k in [k for k in self._d if match(k)]:
                self._bytes -= self._d.pop(k).nbytes

    def clear(self):
        with self._lock:
            self._d.clear()
            self._bytes = 0
