"""Running compiled row kernels on every core.

The kernels are compiled with ``nogil=True`` and take a ``(lo, hi)`` range of rows, so plain
threads run them in parallel. numba's own ``parallel=True`` did the same at the same speed but
added ~9 s of compilation to a first session (22 s instead of 13 s before the first prediction).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["run_rows", "set_threads", "get_threads"]

_state = {"n": os.cpu_count() or 1, "pool": None}
_lock = threading.Lock()


def get_threads():
    """Number of threads the kernels use."""
    return _state["n"]


def set_threads(n=None):
    """Use ``n`` threads for the kernels (``None``: one per core)."""
    n = int(n or os.cpu_count() or 1)
    if n < 1:
        raise ValueError(f"thread count must be at least 1; got {n}")
    with _lock:
        _state["n"] = n
        old, _state["pool"] = _state["pool"], None
    if old is not None:
        old.shutdown(wait=False)


def _forget_pool():
    # a forked child has none of the parent's threads: start a fresh pool there when needed
    _state["pool"] = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _pool():
    with _lock:
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(max(_state["n"] - 1, 1), thread_name_prefix="pixclass")
        return _state["pool"]


def run_rows(kernel, n, *args):
    """Run ``kernel(lo, hi, *args)`` over rows ``0..n-1`` split evenly among the threads.

    The calling thread takes the first part itself, so callers that are themselves pool
    threads (dask workers) never wait on a queue they block.
    """
    k = min(get_threads(), n)
    if k <= 1:
        if n > 0:
            kernel(0, n, *args)
        return
    bounds = [n * i // k for i in range(k + 1)]
    pool = _pool()
    futures = [pool.submit(kernel, bounds[i], bounds[i + 1], *args) for i in range(1, k)]
    try:
        kernel(bounds[0], bounds[1], *args)
    finally:
        for f in futures:
            f.result()
