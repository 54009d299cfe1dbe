"""In a real browser: mouse-up -> the overlay's pixels change, 10 strokes on 1024x1024x2.

JupyterLab 4 in headless Chromium (as tests/test_e2e_browser.py starts it), Live Update on,
default features, 600x600 canvas showing the whole image. Each stroke is a real mouse drag
inside a nucleus or background (class chosen by clicking its name); the clock starts at
mouse-up; the page checks the canvas at every animation frame and stamps each change of a pixel
away from the stroke: the first (what a person sees first) and the last until the kernel reports
the whole forest's overlay sent, plus 0.3 s (the complete overlay on screen). The kernel-side figure
of the same update (app.timings['total'], stroke -> frame sent) is read from the status line.
1 s pause between strokes; medians reported.

Run: python benchmarks/bench_browser.py
"""
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import test_e2e_browser as E  # noqa: E402

import jupyter_pixclass as pc  # noqa: E402

CELL = (
    "import jupyter_pixclass as pc\n"
    "img, truth = pc.datasets.nuclei((1024, 1024), seed=1)\n"
    "project = pc.Project()\n"
    "project.add_image(img)\n"
    "app = pc.PixelClassifierApp(project, canvas_size=(600, 600))\n"
    "app"
)

# In the page, once per animation frame: a checksum of every 3rd pixel of every 3rd row of the canvas, leaving
# out the stroke's box and the "updating..." tag a stale overlay carries; each change is stamped with Date.now()
# (the clock Python's time.time() reads). Reading the canvas from Python between sleeps took ~15 ms a read and
# found a change 40-110 ms after the frame was drawn (the draw calls were timed with a hook, a scratch check).
WATCH = """(ex) => { window.__changes = []; window.__watching = true; let last = null;
    const c = document.querySelector('canvas.pixclass-canvas'), g = c.getContext('2d');
    const tick = () => { if (!window.__watching) return;
        const d = g.getImageData(0, 0, c.width, c.height).data; let s = 0;
        for (let y = 0; y < c.height; y += 3) { if (y <= 30) continue;
            for (let x = 0; x < c.width; x += 3) {
                if (x >= ex[0] && x <= ex[2] && y >= ex[1] && y <= ex[3]) continue;
                const i = 4 * (y * c.width + x); s = (s * 31 + d[i] * 3 + d[i + 1] * 5 + d[i + 2] * 7) % 1000000007; } }
        if (last !== null && s !== last) window.__changes.push(Date.now());
        last = s; requestAnimationFrame(tick); };
    tick(); }"""


def main():
    _, truth = pc.datasets.nuclei((1024, 1024), seed=1)
    strokes = pc.datasets.strokes(truth["classes"], n_strokes=16, length=60, radius=4,
                                  mapping={1: 1, 2: 2, 3: 2}, seed=3)
    nuc = [s for s in strokes if s[1] == 1]
    bg = [s for s in strokes if s[1] == 2]
    order = [s for pair in zip(nuc, bg) for s in pair][:12]
    d = Path(tempfile.mkdtemp())
    E.NOTEBOOK_CELLS[:] = [CELL]
    E._notebook(d / "bench.ipynb")
    gen = E.lab.__wrapped__(type("F", (), {"mktemp": staticmethod(lambda name: d)})())
    url, token, _ = next(gen)
    scale = 600 / 1024
    browser_ms, complete_ms, kernel_ms = [], [], []
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = E._launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        E.open_app(page, url, token, "lab", notebook="bench.ipynb")
        status = lambda: page.locator(".pixclass-status").inner_text()  # noqa: E731
        last = status()
        for j, (pts, k) in enumerate(order):
            page.locator(f".pixclass-class-{k} .pixclass-class-name").click()
            E._wait_for(lambda: E._selected_class(page) == f"pixclass-class-{k}", 10, "the class")
            xs, ys = [p[0] * scale for p in pts], [p[1] * scale for p in pts]
            ex = [min(xs) - 12, min(ys) - 12, max(xs) + 12, max(ys) + 12]
            if j >= 2:
                page.evaluate(WATCH, ex)
            if j == 1:
                page.get_by_role("button", name="Live Update").click()
            E._drag(page, pts[::4] + [pts[-1]], scale, steps=2)
            t_up = time.time()
            if j >= 2:
                # every change until the kernel says the whole forest's overlay was sent, and 0.3 s more
                E._wait_for(lambda: " done, whole forest" in status() and status() != last, 120, "the update")
                time.sleep(0.3)
                changes = page.evaluate("window.__watching = false; window.__changes")
                changes = [c / 1000 - t_up for c in changes if c / 1000 >= t_up]
                if not changes:
                    raise RuntimeError("the overlay did not change")
                browser_ms.append(changes[0] * 1000)
                complete_ms.append(changes[-1] * 1000)
            if j >= 1:  # wait for this stroke's complete update
                E._wait_for(lambda: " done, whole forest" in status() and status() != last, 120, "the update")
                last = status()
            if j >= 2:
                kernel_ms.append(float(last.split("total ")[1].split(" ms")[0]))
                print(f"stroke {j}: browser first change {browser_ms[-1]:.0f} ms, last change {complete_ms[-1]:.0f} ms;"
                      f" kernel total {kernel_ms[-1]:.0f} ms" + (" (a preview first)" if "preview was shown" in last
                                                                  else ""), flush=True)
            time.sleep(1.0)  # a person's pause between strokes
        browser.close()
    next(gen, None)
    print(json.dumps({"strokes": len(browser_ms), "browser_first_median_ms": statistics.median(browser_ms),
                      "browser_first_max_ms": max(browser_ms),
                      "browser_complete_median_ms": statistics.median(complete_ms),
                      "browser_complete_max_ms": max(complete_ms),
                      "kernel_total_median_ms": statistics.median(kernel_ms)}))


if __name__ == "__main__":
    main()
