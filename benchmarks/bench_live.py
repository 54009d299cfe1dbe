"""Live Update latency: stroke -> updated overlay sent (app.timings['total']), 1024x1024x2.

Default features already computed (cached), 100 trees, 600x600 canvas; median over 20 strokes.
Also: the cost of sending one 1024x1024 frame with our JPEG vs ipycanvas's default PNG encoding.
"""
import statistics
import sys

import numpy as np

import jupyter_pixclass as pc
from jupyter_pixclass import render
from _common import machine, timeit


def main():
    img, truth = pc.datasets.nuclei((1024, 1024), seed=1)
    p = pc.Project()
    p.add_image(img)
    p.features_of(0)  # "with the default features already computed"
    app = pc.PixelClassifierApp(p, canvas_size=(600, 600))
    strokes = pc.datasets.strokes(truth["classes"], n_strokes=12, length=30, mapping={1: 1, 2: 2, 3: 2}, seed=0)
    nuc = [s for s in strokes if s[1] == 1]
    bg = [s for s in strokes if s[1] == 2]
    app.stroke(*nuc.pop())
    app.stroke(*bg.pop())
    app.live_update = True
    app.wait_idle(120)
    totals, parts = [], []
    order = [s for pair in zip(nuc, bg) for s in pair] * 2
    for pts, k in order[:20]:
        app.stroke(pts, k, radius=2)
        app.wait_idle(120)
        totals.append(app.timings["total"])
        parts.append(app.timings)
    med = {k: statistics.median(t[k] for t in parts) for k in parts[0]}
    print(f"machine: {machine()}")
    print(f"live update, 1024x1024x2, default features cached, {p.forest.n_trees} trees, canvas 600x600, 20 strokes:")
    print(f"  median total (stroke -> overlay sent): {statistics.median(totals) * 1000:.0f} ms "
          f"(min {min(totals) * 1000:.0f}, max {max(totals) * 1000:.0f})")
    print("  median parts: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in med.items()))
    print(f"  labeled pixels at the end: {int((p.labels(0) > 0).sum())}")
    app.close()

    rgb = np.random.default_rng(0).random((1024, 1024, 3)).astype(np.float32)
    rgb8 = render.to_uint8(rgb)
    rgba = np.dstack([rgb8, np.full((1024, 1024), 255, np.uint8)])
    from ipycanvas.utils import binary_image

    t_jpeg, _ = timeit(lambda: render.encode_jpeg(rgb8), repeat=5)
    t_png, _ = timeit(lambda: binary_image(rgba), repeat=3)
    t_png1, _ = timeit(lambda: render.encode_png(rgba, 1), repeat=3)
    print(f"sending a 1024x1024 frame (noise, worst case): our JPEG {t_jpeg * 1000:.0f} ms; "
          f"ipycanvas default RGBA PNG {t_png * 1000:.0f} ms; PNG level 1 {t_png1 * 1000:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
