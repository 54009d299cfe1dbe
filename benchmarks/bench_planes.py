"""Painting a volume plane by plane: 64 x 512 x 512 x 2 nuclei in memory, 3D features, the three orthogonal views.

A person paints on the xy plane, steps to the next plane (arrow key / z slider), paints there, and now and then
Ctrl-clicks to move the xz and yz panes. Each case pauses 1 s first; times run until ``wait_idle()`` returns (the
complete overlay of every view). For each feature set (the tutorial's sigma 0.3, 1, 3.5, 5 and the default seven
sigmas): Live Update switched on after 2 strokes (3 s pause), then 8 rounds of (a stroke on the shown plane, a step
to the next plane), then 2 cursor moves, then 6 steps of the xz pane to the next row; medians, each step's
time, peak RSS (VmHWM). ``in2d``: the default set with σ 5 and 10 filtered plane by plane (``in_2d``).

Run: python benchmarks/bench_planes.py [tutorial|default|in2d]   (no argument: each, in its own process)
"""
import statistics
import subprocess
import sys
import time

import numpy as np

import jupyter_pixclass as pc
from _common import machine, peak_rss_mb

PAUSE = 1.0
SETS = {"tutorial": [0.3, 1.0, 3.5, 5.0], "default": None, "in2d": None}


def run(name):
    img, truth = pc.datasets.nuclei((64, 512, 512), seed=3)
    fs = pc.FeatureSet.default() if SETS[name] is None else pc.FeatureSet(sigmas=SETS[name])
    if name == "in2d":  # the default set with its two largest scales filtered plane by plane (ilastik's "in 2D")
        fs = pc.FeatureSet(pairs=fs.pairs, in_2d=[5.0, 10.0])
    p = pc.Project(features=fs)
    p.add_image(img)
    app = pc.PixelClassifierApp(p)
    cls = truth["classes"]
    rng = np.random.default_rng(0)

    def stroke(k):  # a short stroke inside a nucleus (1) or the background (2) of the shown plane
        yx = np.argwhere(cls[app.z] == (1 if k == 1 else 3))
        y, x = (int(v) for v in yx[rng.integers(len(yx))])
        app.stroke([(x - 2, y), (x + 2, y)], k, radius=1, plane="xy")

    def timed(action):
        time.sleep(PAUSE)
        action()
        t = time.perf_counter()
        app.wait_idle(600)
        return time.perf_counter() - t

    app.cursor = (24, 256, 256)
    stroke(1)
    stroke(2)
    time.sleep(3)
    t = time.perf_counter()
    app.live_update = True
    app.wait_idle(600)
    first = time.perf_counter() - t
    strokes, steps = [], []
    for i in range(8):
        strokes.append(timed(lambda: stroke(1 + i % 2)))
        steps.append(timed(lambda: setattr(app, "z", app.z + 1)))
    c = app.cursor
    moves = [timed(lambda d=d: setattr(app, "cursor", (app.z, c[1] + d, c[2] + d))) for d in (40, 80)]
    # the xz pane stepped to the next row, as the arrow keys over it do (the yz pane stays)
    pane_steps = [timed(lambda: setattr(app, "cursor", (app.z, app.cursor[1] + 1, app.cursor[2]))) for _ in range(6)]
    F = fs.n_features(2, 3)
    print(f"{name} features ({F}, 3D{', σ 5 and 10 in 2D' if fs.in_2d else ''}), 64 x 512 x 512 x 2, xy view 512 x 512 "
          f"and both panes:")
    print(f"  Live Update on -> complete overlay {first:.2f} s")
    print(f"  stroke on the shown plane -> complete overlay: median {statistics.median(strokes):.2f} s")
    print(f"  step to the next plane -> complete overlay: median {statistics.median(steps):.2f} s, mean "
          f"{statistics.mean(steps):.2f} s, max {max(steps):.2f} s ({', '.join(f'{s:.2f}' for s in steps)})")
    print(f"  cursor moved (both panes anew) -> complete overlay: {', '.join(f'{s:.2f}' for s in moves)} s")
    print(f"  xz pane stepped to the next row -> complete overlay: median {statistics.median(pane_steps):.2f} s, mean "
          f"{statistics.mean(pane_steps):.2f} s ({', '.join(f'{s:.2f}' for s in pane_steps)})")
    print(f"  peak RSS {peak_rss_mb():.0f} MB; cache budget {p.engine.cache.max_bytes / 2**20:.0f} MB")
    app.close()


def main():
    if len(sys.argv) > 1:
        return run(sys.argv[1])
    print(f"machine: {machine()}")
    for name in SETS:
        subprocess.run([sys.executable, __file__, name], check=True)


if __name__ == "__main__":
    sys.exit(main())
