"""Shared helpers: repeated timing (median; this 2-core machine is noisy) and peak memory."""
import os
import platform
import resource
import statistics
import time

import numpy as np


def timeit(fn, repeat=5, warmup=1):
    """Median and min wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts)


def peak_rss_mb():
    """Peak resident memory of this process since start or the last :func:`reset_peak_rss`."""
    try:
        with open("/proc/self/status") as f:
            hwm = [line for line in f if line.startswith("VmHWM:")][0]
        return int(hwm.split()[1]) / 1024
    except (OSError, IndexError):  # not Linux: ru_maxrss (KiB) cannot be reset
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss():
    """Start measuring peak memory from now (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def machine():
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}"
