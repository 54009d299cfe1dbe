"""Shared helpers: repeated timing (median; this 2-core machine is noisy) and peak memory."""
import os
import platform
import resource
import statistics
import time

import numpy as np


def timeit(fn, repeat=5, warmup=1, pause=0.0):
    """Median and min wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs, ``pause`` s before each."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        time.sleep(pause)
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


def live_strokes(classes):
    """bench_live's strokes on a 1024 x 1024 scene's truth ``classes``: nucleus and background alternating,
    ``[(points, k), ...]`` for ``PixelClassifierApp.stroke``."""
    import jupyter_pixclass as pc

    strokes = pc.datasets.strokes(classes, n_strokes=40, length=90, radius=6, mapping={1: 1, 2: 2, 3: 2}, seed=0)
    nuc = [s for s in strokes if s[1] == 1]
    bg = [s for s in strokes if s[1] == 2]
    return [s for pair in zip(nuc, bg) for s in pair]


def live_sequence(classes, n=60):
    """bench_live's painting: two first strokes of radius 5, then ``n`` of radius 4-6 (a second pass 7 px beside
    the first), as ``[(points, k, radius), ...]`` for ``PixelClassifierApp.stroke``."""
    order = live_strokes(classes)
    rng = np.random.default_rng(0)
    seq = [(pts, k, 5) for pts, k in order[:2]]
    for i in range(n):
        pts, k = order[2 + i % (len(order) - 2)]
        shift = 0 if i < len(order) - 2 else 7
        seq.append(([(x + shift, y) for x, y in pts], k, int(rng.integers(4, 7))))
    return seq


def careless_strokes(classes, n=12, seed=0):
    """Strokes of 40 px in random directions from random places, each of the class where it starts:
    a person painting across borders. ``[(points, k), ...]`` (nucleus 1, anything else 2)."""
    rng = np.random.default_rng(seed)
    h, w = classes.shape
    out = []
    for _ in range(n):
        y, x = int(rng.integers(40, h - 40)), int(rng.integers(40, w - 40))
        a = rng.uniform(0, 2 * np.pi)
        out.append(([(x, y), (x + 40 * np.cos(a), y + 40 * np.sin(a))], 1 if classes[y, x] == 1 else 2))
    return out
