"""A least-recently-used cache of feature arrays (tiles) with a byte budget."""
from __future__ import annotations

import sys
import threading
from collections import OrderedDict

__all__ = ["FeatureCache"]


class FeatureCache:
    """Keep computed feature arrays up to ``max_bytes``, evicting the least recently used.

    Keys identify (image, feature set, tile), never labels, so painting never recomputes
    features. When the size of a new entry is known in advance, room is made before it is
    computed and an evicted array of the same size that nothing else holds is written over:
    freshly allocated memory is slow on the machines we measure (a new 1 GB tile of a
    1000-feature crop cost 3 s of page faults after a pause, the same computation into
    memory already held 1 s).

    Parameters
    ----------
    max_bytes : int
        Budget; an array larger than the whole budget is returned but not kept.
    """

    def __init__(self, max_bytes=4 * 2**30):
        self.max_bytes = int(max_bytes)
        self._d = OrderedDict()
        self._free = []  # evicted arrays kept for reuse while they fit the budget
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0
        self._bytes = 0

    @property
    def nbytes(self):
        """Bytes of the kept entries."""
        with self._lock:
            return self._bytes

    def __contains__(self, key):
        return key in self._d

    def __len__(self):
        return len(self._d)

    def get(self, key, compute, nbytes=None):
        """Return the cached array for ``key``, or compute it and keep it.

        Without ``nbytes``, ``compute()`` makes the array. With ``nbytes`` (the size the result
        will have), room is made first and ``compute(buffer)`` gets a reusable flat float32
        array of that many bytes, or None.
        """
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                self.hits += 1
                return self._d[key]
            buf = None
            if nbytes is not None and nbytes <= self.max_bytes:
                self._make_room(nbytes)
                buf = self._take(nbytes)
        value = compute(buf) if nbytes is not None else compute()
        with self._lock:
            self.misses += 1
            if value.nbytes <= self.max_bytes and key not in self._d:
                self._d[key] = value
                self._bytes += value.nbytes
                self._make_room(0)
        return value

    def _make_room(self, nbytes):
        while self._d and self._bytes + nbytes > self.max_bytes:
            _, old = self._d.popitem(last=False)
            self._bytes -= old.nbytes
            if old.base is not None and old.base.nbytes == old.nbytes:
                self._free.append(old.base)
            elif old.base is None:
                self._free.append(old)
        # spare arrays only while they fit beside what is kept and what comes
        spare = self.max_bytes - self._bytes - nbytes
        while self._free and sum(a.nbytes for a in self._free) > max(spare, 0) + nbytes:
            self._free.pop(0)

    def _take(self, nbytes):
        for i, a in enumerate(self._free):
            # 3 references: the list, the loop variable, getrefcount's argument; more means a
            # view still shows this tile, so it must not be overwritten
            if a.nbytes == nbytes and sys.getrefcount(a) <= 3:
                return self._free.pop(i).reshape(-1)
        self._free.clear()  # none fits: free them before the new array is allocated
        return None

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
        """Drop every kept entry."""
        with self._lock:
            self._d.clear()
            self._free.clear()
            self._bytes = 0
