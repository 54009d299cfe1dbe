"""End to end: a real JupyterLab, a real headless Chromium, a mouse painting on the canvas.

Needs Debian's ``chromium`` (``.ci/install-browser`` installs it). Skipped when no browser
is found, except under CI (``CI=true``), where a missing browser is a failure.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("PIXCLASS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI=true but no chromium found: run .ci/install-browser")
    pytest.skip("no chromium browser (run .ci/install-browser)", allow_module_level=True)

NOTEBOOK_CELLS = [
    "import jupyter_pixclass as pc\n"
    "img, truth = pc.datasets.nuclei((256, 256), seed=1)\n"
    "project = pc.Project(['Nucleus', 'Background'], features=pc.FeatureSet(sigmas=[0.7, 1.6, 3.5]), n_estimators=50)\n"
    "project.add_image(img)\n"
    "app = pc.PixelClassifierApp(project, canvas_size=(512, 512))\n"
    "app",
]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(path):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
                    for c in NOTEBOOK_CELLS],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    d = tmp_path_factory.mktemp("lab")
    _notebook(d / "e2e.ipynb")
    port, token = _free_port(), "pixclass-e2e"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={d}", "--ServerApp.disable_check_xsrf=True",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(d / "cfg"))
    log = open(d / "lab.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=d)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(d / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("jupyter lab did not start in 60 s")
    yield url, token, d
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _layer_stats(page, exclude=None):
    """Mean RGB of the app canvas (ipycanvas composites its layers into one element), read in the page.

    ``exclude`` (x0, y0, x1, y1) in canvas pixels leaves out a box, e.g. around a fresh stroke, so
    what changes is the overlay, not the painted labels.
    """
    return page.evaluate(
        """(ex) => {
        const c = document.querySelector('canvas.pixclass-canvas');
        if (!c || !c.width) return null;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let r = 0, g = 0, b = 0, n = 0;
        for (let i = 0; i < d.length; i += 4) {
            const p = i / 4, x = p % c.width, y = Math.floor(p / c.width);
            if (ex && x >= ex[0] && x <= ex[2] && y >= ex[1] && y <= ex[3]) continue;
            r += d[i]; g += d[i + 1]; b += d[i + 2]; n += 1;
        }
        return [r / n, g / n, b / n];
    }""",
        exclude,
    )


def _wait_for(fn, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = fn()
        if v:
            return v
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _drag(page, box, pts, scale):
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + pts[0][0] * scale, y0 + pts[0][1] * scale)
    page.mouse.down()
    for x, y in pts[1:]:
        page.mouse.move(x0 + x * scale, y0 + y * scale, steps=8)
    page.mouse.up()


def _stroke_points(truth):
    """Two horizontal strokes inside nuclei and one in background, from the scene's truth."""
    from scipy import ndimage as ndi

    nuc = ndi.binary_erosion(truth["classes"] == 1, iterations=3)
    bg = ndi.binary_erosion(truth["classes"] == 3, iterations=6)
    lab, n = ndi.label(nuc)
    sizes = ndi.sum(nuc, lab, range(1, n + 1))
    order = np.argsort(sizes)[::-1]
    strokes = []
    for j in order[:2]:
        ys, xs = np.nonzero(lab == j + 1)
        y = int(np.median(ys))
        row = xs[ys == y]
        strokes.append([(int(row.min()), y), (int(row.max()), y)])
    ys, xs = np.nonzero(bg)
    i = len(ys) // 2
    strokes.append([(int(xs[i]), int(ys[i])), (int(xs[i]) + 3, int(ys[i]))])
    return strokes


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_paint_live_update_in_real_browser(lab, tmp_path, ui):
    """JupyterLab 4 and Notebook 7 serve the same notebook; the app must work in both."""
    from playwright.sync_api import sync_playwright

    import jupyter_pixclass as pc

    url, token, d = lab
    _, truth = pc.datasets.nuclei((256, 256), seed=1)
    nuc1, nuc2, bg = _stroke_points(truth)
    shot = (os.path.join(ROOT, "docs", "app_screenshot.png")
            if os.environ.get("PIXCLASS_UPDATE_SCREENSHOT") and ui == "lab" else str(tmp_path / "app.png"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            path = "lab/tree/e2e.ipynb" if ui == "lab" else "notebooks/e2e.ipynb"
            page.goto(f"{url}/{path}?token={token}", timeout=120_000)
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            page.wait_for_selector(".jp-Cell .cm-content", timeout=120_000)
            time.sleep(2)  # execution requests queue until the kernel is connected
            page.locator(".jp-Cell .cm-content").first.click()
            page.keyboard.press("Shift+Enter")
            page.wait_for_selector("canvas.pixclass-canvas", timeout=180_000)
            _wait_for(lambda: (_layer_stats(page) or [0])[0] > 0 or (_layer_stats(page) or [0, 0, 0])[2] > 0, 60,
                      "the image to be drawn")
            canvas = page.locator("canvas.pixclass-canvas").first
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            scale = 512 / 256
            _drag(page, box, nuc1, scale)  # Nucleus is the selected class at start
            page.locator(".pixclass-class-2 button").first.click()  # select Background
            _drag(page, box, bg, scale)
            time.sleep(1.0)
            before = _layer_stats(page)
            page.get_by_role("button", name="Live Update").click()
            text = lambda: page.locator(".pixclass-app").inner_text()  # noqa: E731
            _wait_for(lambda: "update #1 done" in text(), 120, "the first live update")
            time.sleep(0.5)
            after = _layer_stats(page)
            assert np.abs(np.subtract(after, before)).sum() > 3, (before, after)  # the overlay appeared
            xs, ys = [p[0] * scale for p in nuc2], [p[1] * scale for p in nuc2]
            around = [min(xs) - 30, min(ys) - 30, max(xs) + 30, max(ys) + 30]
            after_ex = _layer_stats(page, around)
            page.locator(".pixclass-class-1 button").first.click()
            _drag(page, box, nuc2, scale)
            _wait_for(lambda: "update #2 done" in text(), 120, "the update after the third stroke")
            time.sleep(0.5)
            changed = _layer_stats(page, around)  # away from the new stroke: only the overlay can differ
            assert np.abs(np.subtract(changed, after_ex)).sum() > 0.05, (after_ex, changed)
            assert "total" in text()
            os.makedirs(os.path.dirname(shot), exist_ok=True)
            page.locator(".pixclass-app").screenshot(path=shot)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            print("lab log:", (d / "lab.log").read_text()[-3000:])
            raise
        finally:
            browser.close()
    assert os.path.getsize(shot) > 10_000
