"""End to end: a real JupyterLab, a real headless Chromium, a mouse painting on the canvas.

Needs Debian's ``chromium`` (``.ci/install-browser`` installs it). Skipped when no browser
is found, except under CI (``CI=true``), where a missing browser is a failure.
"""
import contextlib
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


def _notebook(path, cells=NOTEBOOK_CELLS):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
                    for c in cells],
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


def _press(page, key):
    """Press ``key`` with the pointer over the image."""
    _at(page, 20, 20)
    page.keyboard.press(key)


def _shot(page, path):
    """Screenshot the whole app (the page made tall enough for it, then put back to 1280x900)."""
    page.set_viewport_size({"width": 1280, "height": 2000})
    time.sleep(0.5)
    page.locator(".pixclass-app").screenshot(path=path)
    page.set_viewport_size({"width": 1280, "height": 900})
    time.sleep(0.5)


def _canvas_box(page):
    """The canvas's box on screen now (clicks on the side panel may have scrolled the page)."""
    canvas = page.locator("canvas.pixclass-canvas").first
    canvas.scroll_into_view_if_needed()
    return canvas.bounding_box()


def _at(page, x, y):
    """Move the mouse to canvas pixel (x, y)."""
    box = _canvas_box(page)
    page.mouse.move(box["x"] + x, box["y"] + y)


def _drag(page, pts, scale, button="left", steps=8):
    """A mouse drag through image points ``pts`` [(x, y)] shown at ``scale`` canvas pixels per pixel."""
    box = _canvas_box(page)
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + pts[0][0] * scale, y0 + pts[0][1] * scale)
    page.mouse.down(button=button)
    for x, y in pts[1:]:
        page.mouse.move(x0 + x * scale, y0 + y * scale, steps=steps)
    page.mouse.up(button=button)


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


def _pixel(page, x, y):
    """RGB of the app canvas at canvas pixel (x, y)."""
    return page.evaluate(
        """([x, y]) => Array.from(document.querySelector('canvas.pixclass-canvas')
            .getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3))""", [int(x), int(y)])


def _yellow_pixels(page):
    """How many canvas pixels are the suggestion boxes' yellow (#ffd400)."""
    return page.evaluate(
        """() => { const c = document.querySelector('canvas.pixclass-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 240 && d[i + 1] > 190 && d[i + 1] < 230 && d[i + 2] < 40) n++;
        return n; }""")


CUT_OFF = """() => {
    const out = [];
    for (const el of document.querySelectorAll('.pixclass-app *')) {
        if (el.offsetParent === null || el.clientWidth === 0) continue;  // hidden
        const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
        // text inputs scroll what is typed into them, as every text field does: not counted
        if (!own && !['BUTTON', 'SELECT', 'LABEL'].includes(el.tagName)) continue;
        if (el.scrollWidth > el.clientWidth) out.push((el.innerText || el.value || el.title || el.tagName).slice(0, 40));
    }
    return out;
}"""


MARKUP = "<b>x</b><img src=x onerror=\"window.pixclassInjected=1\">"
RENDERED_MARKUP = """() => (window.pixclassInjected ? ['script ran'] : []).concat(
    Array.from(document.querySelectorAll('.pixclass-app img[onerror], .pixclass-app b'))
        .filter(e => e.tagName === 'IMG' || e.textContent === 'x').map(e => e.outerHTML.slice(0, 80)))"""


def _no_text_cut_off(page, where):
    cut = page.evaluate(CUT_OFF)
    assert not cut, f"text cut off ({where}): {cut}"


def _selected_class(page):
    return page.evaluate("""() => { const r = document.querySelector('.pixclass-app .pixclass-row-selected');
        return r ? Array.from(r.classList).find(c => /^pixclass-class-\\d+$/.test(c)) : null; }""")


def _readout(page, label):
    """The readout text of the slider described by ``label`` in the app."""
    return page.evaluate("""(label) => { for (const s of document.querySelectorAll('.pixclass-app .widget-slider')) {
        const l = s.querySelector('.widget-label'); if (l && l.innerText.trim() === label)
            return s.querySelector('.widget-readout').innerText; } return null; }""", label)


def _open_section(page, title):
    header = page.locator(".pixclass-app [class*='Collapse-header']").filter(has_text=title).first
    if "Collapse-open" not in (header.locator("xpath=..").get_attribute("class") or ""):
        header.click()
    time.sleep(0.5)


@contextlib.contextmanager
def _page(pw, tmp_path, d, height):
    """A browser page; on failure a screenshot and the end of JupyterLab's log, and the browser closed either way."""
    browser = _launch(pw)
    page = browser.new_page(viewport={"width": 1280, "height": height})
    try:
        yield page
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"))
        print("lab log:", (d / "lab.log").read_text()[-3000:])
        raise
    finally:
        browser.close()


def _launch(pw):
    return pw.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
              "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"],
    )


def open_app(page, url, token, ui, notebook="e2e.ipynb", workspace=None):
    """Open ``notebook`` in JupyterLab or Notebook 7, run its first cell, wait for the image; the canvas box.

    ``workspace`` opens JupyterLab in a workspace of that name: only this notebook, not the tabs an earlier
    test left open (their hidden cells would match the selectors).
    """
    path = f"lab/tree/{notebook}" if ui == "lab" else f"notebooks/{notebook}"
    if workspace and ui == "lab":
        path = f"lab/workspaces/{workspace}/tree/{notebook}"
    page.goto(f"{url}/{path}?token={token}", timeout=120_000)
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    page.wait_for_selector(".jp-Cell .cm-content", timeout=120_000)
    time.sleep(2)  # execution requests queue until the kernel is connected
    page.locator(".jp-Cell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector("canvas.pixclass-canvas", timeout=180_000)
    _wait_for(lambda: (_layer_stats(page) or [0])[0] > 0 or (_layer_stats(page) or [0, 0, 0])[2] > 0, 60,
              "the image to be drawn")
    try:  # JupyterLab's "get notified about news?" toast would cover part of the page
        page.get_by_role("button", name="No", exact=True).click(timeout=3000)
    except Exception:
        pass
    return _canvas_box(page)


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_person_uses_the_app_in_a_real_browser(lab, tmp_path, ui):
    """JupyterLab 4 and Notebook 7 serve the same notebook; every control is used as a person would."""
    from playwright.sync_api import sync_playwright

    import jupyter_pixclass as pc

    url, token, d = lab
    _, truth = pc.datasets.nuclei((256, 256), seed=1)
    nuc1, nuc2, bg = _stroke_points(truth)
    docs = os.path.join(ROOT, "docs") if os.environ.get("PIXCLASS_UPDATE_SCREENSHOT") and ui == "lab" else None
    shots = docs or str(tmp_path)
    export_path = d / f"exported_{ui}.tif"
    export16 = d / f"exported16_{ui}.tif"
    with sync_playwright() as pw:
        browser = _launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            open_app(page, url, token, ui)
            scale = 512 / 256
            app_text = lambda: page.locator(".pixclass-app").inner_text()  # noqa: E731
            # command mode, where B would add a cell and O hide the output if the notebook saw the keys
            page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first.click()
            n_cells = page.locator(".jp-Notebook .jp-Cell").count()
            _no_text_cut_off(page, "at start")

            # classes are chosen by clicking their names; the chosen row is highlighted
            page.locator(".pixclass-class-2 .pixclass-class-name").click()
            _wait_for(lambda: _selected_class(page) == "pixclass-class-2", 10, "class 2 selected")
            page.locator(".pixclass-class-1 .pixclass-class-name").click()
            _wait_for(lambda: _selected_class(page) == "pixclass-class-1", 10, "class 1 selected")
            _drag(page, nuc1, scale)
            page.locator(".pixclass-class-2 .pixclass-class-name").click()
            _wait_for(lambda: _selected_class(page) == "pixclass-class-2", 10, "class 2 selected")
            _drag(page, bg, scale)
            (bx, by), (bx2, _) = bg[0], bg[1]
            time.sleep(1.0)
            red = _pixel(page, nuc1[0][0] * scale + 6, nuc1[0][1] * scale)
            blue = _pixel(page, bx * scale + 2, by * scale)
            assert red[0] > red[2] and blue[2] > blue[0], (red, blue)  # Nucleus red, Background blue

            # keys over the image: classes, eraser, brush, brush size (and JupyterLab's own keys stay quiet)
            _press(page, "1")
            _wait_for(lambda: _selected_class(page) == "pixclass-class-1", 10, "class 1 selected")
            _press(page, "2")
            _wait_for(lambda: _selected_class(page) == "pixclass-class-2", 10, "class 2 selected")
            _press(page, "1")
            _press(page, "e")
            _drag(page, [(bx - 3, by), (bx2 + 3, by)], scale)  # erase the background stroke
            time.sleep(1.0)
            erased = _pixel(page, bx * scale + 2, by * scale)
            assert erased[2] < blue[2] - 40, (blue, erased)
            _press(page, "b")
            size = _readout(page, "Size")
            _press(page, "]")
            _wait_for(lambda: _readout(page, "Size") != size, 10, "a larger brush")
            _press(page, "Control+z")  # the erased stroke comes back
            bluer = lambda: _pixel(page, bx * scale + 2, by * scale)[2] > erased[2] + 30  # noqa: E731
            _wait_for(bluer, 10, "undo")
            _press(page, "Control+Shift+z")  # and goes again
            _wait_for(lambda: not bluer(), 10, "redo")
            _press(page, "Control+z")
            _wait_for(bluer, 10, "undo again")
            # keys over the image went to the app only: B did not insert a cell (Notebook 7 listens
            # before widgets; the app's KeyGuard marks the canvas so it leaves them alone)
            assert page.locator(".jp-Notebook .jp-Cell").count() == n_cells
            page.locator(".pixclass-class-1 .pixclass-class-name").click()
            _wait_for(lambda: _selected_class(page) == "pixclass-class-1", 10, "class 1 selected")

            # Live Update: the overlay appears, and a new stroke changes it away from the stroke
            before = _layer_stats(page)
            page.get_by_role("button", name="Live Update").click()
            _wait_for(lambda: "update #1 done" in app_text(), 120, "the first live update")
            _wait_for(lambda: "up to date" in app_text(), 30, "the overlay marked up to date")
            time.sleep(0.5)
            after = _layer_stats(page)
            assert np.abs(np.subtract(after, before)).sum() > 3, (before, after)
            xs, ys = [p[0] * scale for p in nuc2], [p[1] * scale for p in nuc2]
            around = [min(xs) - 30, min(ys) - 30, max(xs) + 30, max(ys) + 30]
            after_ex = _layer_stats(page, around)
            _drag(page, nuc2, scale)
            _wait_for(lambda: "update #2 done" in app_text(), 120, "the update after the third stroke")
            time.sleep(0.5)
            changed = _layer_stats(page, around)
            assert np.abs(np.subtract(changed, after_ex)).sum() > 0.05, (after_ex, changed)
            _shot(page, os.path.join(shots, "app_live_update.png"))

            # overlays by key and by the dropdown
            fitted = _layer_stats(page)
            overlay = page.locator(".pixclass-app select").filter(has_text="Segmentation").first
            _press(page, "o")  # O: next overlay
            _wait_for(lambda: np.abs(np.subtract(_layer_stats(page), fitted)).sum() > 1, 20, "the segmentation overlay")
            seg = _layer_stats(page)
            _press(page, "u")  # U: uncertainty
            _wait_for(lambda: np.abs(np.subtract(_layer_stats(page), seg)).sum() > 1, 20, "the uncertainty overlay")
            _shot(page, os.path.join(shots, "app_uncertainty.png"))
            _open_section(page, "Overlays")
            overlay.select_option("Probabilities")
            _wait_for(lambda: np.abs(np.subtract(_layer_stats(page), fitted)).sum() < 0.5, 20, "probabilities again")
            _no_text_cut_off(page, "overlays open")

            # zoom with the wheel and +, pan with a right drag, back with 0
            _at(page, 256, 256)
            page.mouse.wheel(0, -200)
            _wait_for(lambda: np.abs(np.subtract(_layer_stats(page), fitted)).sum() > 0.5, 20, "wheel zoom")
            zoomed = _layer_stats(page)
            _press(page, "+")
            _wait_for(lambda: np.abs(np.subtract(_layer_stats(page), zoomed)).sum() > 0.3, 20, "+ zoom")
            zoomed = _layer_stats(page)
            _drag(page, [(300, 300), (200, 220)], 1, button="right", steps=6)
            _wait_for(lambda: np.abs(np.subtract(_layer_stats(page), zoomed)).sum() > 0.3, 20, "a pan")
            _press(page, "0")
            _wait_for(lambda: np.abs(np.subtract(_layer_stats(page), fitted)).sum() < 0.5, 30, "fit again")

            # window/level: the contrast tool dragged to the right widens the window, the image darkens
            _open_section(page, "View")
            window = page.locator(".pixclass-app .widget-label").filter(has_text="–").first.inner_text()
            plain = _layer_stats(page)
            labeled = lambda: int(app_text().split(" trees on ")[1].split()[0])  # noqa: E731
            n_labeled = labeled()
            _at(page, 200, 200)  # keys act while the pointer is over the image
            _press(page, "c")
            _drag(page, [(200, 200), (330, 200)], 1, steps=6)
            _wait_for(lambda: sum(_layer_stats(page)) < sum(plain) - 1, 20, "a wider window")
            assert page.locator(".pixclass-app .widget-label").filter(has_text="–").first.inner_text() != window
            time.sleep(1.0)
            assert labeled() == n_labeled  # the contrast drag painted nothing
            _press(page, "b")
            _no_text_cut_off(page, "view section open")


            # Suggest: yellow boxes on the canvas; following one zooms there
            page.get_by_role("button", name="Suggest").click()
            _wait_for(lambda: "3 places in yellow" in app_text(), 120, "suggestions")
            _wait_for(lambda: _yellow_pixels(page) > 200, 20, "the boxes drawn")
            _shot(page, os.path.join(shots, "app_suggestions.png"))
            boxed = _layer_stats(page)
            page.locator(".pixclass-suggestion-1").click()
            _wait_for(lambda: np.abs(np.subtract(_layer_stats(page), boxed)).sum() > 0.5, 30, "the view to move")
            _wait_for(lambda: _yellow_pixels(page) > 400, 20, "the followed box, larger")

            # export from the panel, then load the file
            _open_section(page, "Export & save")
            page.locator(".pixclass-app input[placeholder='out/probabilities.tif']").fill(str(export_path))
            page.locator(".pixclass-app input[placeholder='out/probabilities.tif']").press("Enter")
            page.locator(".pixclass-app button[title=\"export the shown image's result\"]").click()
            _wait_for(lambda: "exported probabilities" in app_text(), 120, "the export")
            _no_text_cut_off(page, "export section open")
            # as 16-bit integers: renormalize ticks itself (else the probabilities would round to 0 and 1)
            renorm = page.locator(".pixclass-app .widget-checkbox:has-text('renormalize') input[type=checkbox]")
            assert not renorm.is_checked()
            page.locator(".pixclass-app .widget-dropdown:has(label:text-is('dtype')) select").select_option("uint16")
            _wait_for(lambda: renorm.is_checked(), 20, "renormalize ticked for uint16 probabilities")
            page.locator(".pixclass-app input[placeholder='out/probabilities.tif']").fill(str(export16))
            page.locator(".pixclass-app input[placeholder='out/probabilities.tif']").press("Enter")
            page.locator(".pixclass-app button[title=\"export the shown image's result\"]").click()
            _wait_for(lambda: f"exported probabilities to {export16}" in app_text(), 120, "the 16-bit export")
            page.locator(".pixclass-app button[title='keyboard shortcuts']").click()
            _wait_for(lambda: "Ctrl+Shift+Z" in app_text(), 10, "the help")
            _no_text_cut_off(page, "help open")
            assert page.locator(".jp-Notebook .jp-Cell").count() == n_cells  # no key made a cell
            assert page.locator(".pixclass-app canvas").first.is_visible()  # nor hid the output (O)

            # a name that looks like markup is shown as text: in the palette, and in the status line
            # when a rename fails over it (a class name may come from an .ilp or a saved project)
            page.get_by_role("button", name="Add class").click()
            _wait_for(lambda: page.locator(".pixclass-class-3").count() == 1, 30, "a third class")
            page.locator(".pixclass-class-3 button[title^='rename']").click()
            edit = page.locator(".pixclass-class-3 input.widget-input")
            edit.fill(MARKUP)
            edit.press("Enter")
            name3 = lambda: page.locator(".pixclass-class-3 .pixclass-class-name").inner_text().strip()  # noqa: E731
            _wait_for(lambda: name3() == MARKUP, 30, "the literal name in the palette")
            page.locator(".pixclass-class-1 button[title^='rename']").click()
            edit = page.locator(".pixclass-class-1 input.widget-input")
            edit.fill(MARKUP)
            edit.press("Enter")
            _wait_for(lambda: "rename failed" in app_text(), 30, "the failed rename in the status line")
            assert app_text().count(MARKUP) >= 2, app_text()[-400:]
            assert page.evaluate(RENDERED_MARKUP) == []
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            print("app text:", page.locator(".pixclass-app").inner_text()[-600:])
            print("lab log:", (d / "lab.log").read_text()[-3000:])
            raise
        finally:
            browser.close()
    prob = pc.load_image(export_path).data
    assert prob.shape == (256, 256, 2) and np.allclose(prob.sum(-1), 1, atol=1e-3)
    p16 = pc.load_image(export16).data
    assert p16.dtype == np.uint16 and np.abs(p16.astype(np.int64).sum(-1) - 65535).max() <= 2  # not 0s and 1s


ORTHO_CELLS = [
    "import numpy as np\n"
    "import jupyter_pixclass as pc\n"
    "vol, _ = pc.datasets.nuclei((16, 64, 96), seed=3)\n"
    "project = pc.Project(['Nucleus', 'Background'], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)\n"
    "project.add_image(vol)\n"
    "app = pc.PixelClassifierApp(project, canvas_size=(384, 384))\n"
    "app.cursor = (8, 20, 48)\n"
    "app",
    "np.save('ortho_labels.npy', np.asarray(project.labels(0)))",
    "np.save('ortho_in2d.npy', np.array(project.features.in_2d + (project.features.n_features_for(2, 3),)))",
]


def test_painting_on_the_xz_pane_in_a_real_browser(lab, tmp_path):
    """A volume opens in three views; a drag on the xz pane labels voxels of that plane, in 3D."""
    from playwright.sync_api import sync_playwright

    url, token, d = lab
    _notebook(d / "ortho.ipynb", ORTHO_CELLS)
    out = d / "ortho_labels.npy"
    with sync_playwright() as pw:
        with _page(pw, tmp_path, d, 1200) as page:
            open_app(page, url, token, "lab", notebook="ortho.ipynb", workspace="ortho")
            pane = page.locator("canvas.pixclass-pane-xz").first
            pane.scroll_into_view_if_needed()
            _wait_for(lambda: pane.is_visible(), 30, "the xz pane")
            box = pane.bounding_box()
            s = 4  # the xy view fits 96 x 64 pixels in 384: 4 display pixels a pixel, planes as far apart
            page.mouse.move(box["x"] + 20 * s + 2, box["y"] + 4 * s + 2)
            page.mouse.down()
            page.mouse.move(box["x"] + 60 * s + 2, box["y"] + 4 * s + 2, steps=10)
            page.mouse.up()
            time.sleep(1.0)
            page.locator(".jp-Cell .cm-content").nth(1).click()
            page.keyboard.press("Shift+Enter")
            _wait_for(out.exists, 60, "the labels saved by the second cell")
            # the feature grid of a volume: ilastik's "in 2D" row; σ 1 ticked there and applied
            _open_section(page, "Features")
            tip = "[title='σ = 1 plane by plane (in 2D)']"
            box2d = page.locator(f".pixclass-app {tip} input[type=checkbox], .pixclass-app input{tip}").first
            box2d.scroll_into_view_if_needed()
            assert box2d.is_visible() and not box2d.is_checked()
            box2d.click()
            page.locator(".pixclass-app button").filter(has_text="Apply features").click()
            _wait_for(lambda: "16 features" in page.locator(".pixclass-app").inner_text(), 60, "16 features applied")
            page.locator(".jp-Cell .cm-content").nth(2).click()
            page.keyboard.press("Shift+Enter")
            _wait_for((d / "ortho_in2d.npy").exists, 60, "the feature set saved by the third cell")
    time.sleep(0.5)
    assert np.load(d / "ortho_in2d.npy").tolist() == [1.0, 16.0]  # σ 1 in 2D: 2 x (1 + 1 + 1 + 1 + 2 + 2) features
    lab3d = np.load(out)
    z, y, x = np.nonzero(lab3d)
    assert lab3d.shape == (16, 64, 96) and set(y) == {20}  # the cursor's row: the plane of the xz pane
    assert set(np.unique(lab3d[z, y, x])) == {1}
    assert z.min() >= 1 and z.max() <= 7 and x.min() <= 21 and x.max() >= 59  # along x at plane 4, brush 3


ZOOMED_OUT_CELLS = [
    "import numpy as np\n"
    "import jupyter_pixclass as pc\n"
    "img, truth = pc.datasets.nuclei((640, 640), seed=2)\n"
    "project = pc.Project(['Nucleus', 'Background'], features=pc.FeatureSet(sigmas=[1.0, 3.5]), n_estimators=20)\n"
    "project.add_image(img)\n"
    "app = pc.PixelClassifierApp(project, canvas_size=(384, 384))\n"
    "app.live_update = True\n"
    "app",
    "app.wait_idle(120)\n"
    "prob, valid = app.prediction.probabilities()\n"
    "ys, xs, iny, inx = app.view.indices()\n"
    "want = project.predict(0)[np.ix_(ys[iny], xs[inx])]\n"
    "np.save('zoomed_out.npy', np.array([np.abs(prob[np.ix_(iny, inx)] - want).max(), valid.all(), "
    "app.prediction.vf.kept_bytes(), project.store().n_labeled(), app.view.scale]))",
]


def test_live_update_of_a_zoomed_out_view_in_a_real_browser(lab, tmp_path):
    """A 640² image on a 384² canvas: the view keeps its shown pixels' features (in blocks) and, after strokes
    painted with the mouse, Live Update's overlay is the whole forest's prediction at the pixels shown."""
    from playwright.sync_api import sync_playwright

    import jupyter_pixclass as pc

    url, token, d = lab
    _notebook(d / "zoomed.ipynb", ZOOMED_OUT_CELLS)
    out = d / "zoomed_out.npy"
    _, truth = pc.datasets.nuclei((640, 640), seed=2)
    nuc1, nuc2, bg = _stroke_points(truth)
    scale = 384 / 640
    with sync_playwright() as pw:
        with _page(pw, tmp_path, d, 900) as page:
            open_app(page, url, token, "lab", notebook="zoomed.ipynb", workspace="zoomed")
            page.locator(".pixclass-class-1 .pixclass-class-name").click()
            _drag(page, nuc1, scale)
            _drag(page, nuc2, scale)
            page.locator(".pixclass-class-2 .pixclass-class-name").click()
            _wait_for(lambda: _selected_class(page) == "pixclass-class-2", 10, "class 2 selected")
            _drag(page, [bg[0], (bg[0][0] + 30, bg[0][1])], scale)
            app_text = lambda: page.locator(".pixclass-app").inner_text()  # noqa: E731
            _wait_for(lambda: "whole forest" in app_text(), 120, "the whole forest's overlay")
            page.locator(".jp-Cell .cm-content").nth(1).click()
            page.keyboard.press("Shift+Enter")
            _wait_for(out.exists, 120, "the check saved by the second cell")
    time.sleep(0.5)
    diff, all_valid, kept, n_labeled, view_scale = np.load(out)
    assert 0.5 <= view_scale < 1 and kept > 0  # zoomed out, not sampled: the shown pixels kept in blocks
    assert n_labeled > 20 and all_valid
    assert diff < 1e-5  # the overlay is the whole forest's prediction at the pixels shown


MANY_CHANNELS_CELLS = [
    "import jupyter_pixclass as pc\n"
    "img, truth = pc.datasets.imc((96, 96), n_channels=16, seed=3)\n"
    "fs = pc.FeatureSet(sigmas=[1.0, 15.0, 20.0, 30.0, 40.0])  # eleven scales in the grid with ilastik's seven\n"
    "project = pc.Project(['Nucleus', 'Cytoplasm', 'Background'], features=fs)\n"
    "project.add_image(pc.preprocess.add_mean_channel(img))\n"
    "app = pc.PixelClassifierApp(project, canvas_size=(256, 256))\n"
    "app",
]

CHANNEL_ROWS = """() => Array.from(document.querySelectorAll('.pixclass-app .pixclass-channel-row')).map(r => {
    const b = r.getBoundingClientRect();
    // the lowest edge of the row's own controls (checkbox, name, histogram, buttons, window slider)
    const parts = r.querySelectorAll('.widget-inline-hbox, .widget-image, button, .widget-label');
    const inner = Math.max(...Array.from(parts).map(e => e.getBoundingClientRect().bottom));
    return [b.top, b.bottom, inner, r.innerText.split('\\n')[0].trim()]; })"""


def test_many_channels_each_get_a_whole_row_in_a_real_browser(lab, tmp_path):
    """17 channels (an IMC stack with its mean): the View section's list scrolls, and no row is squeezed over the
    next (rows in a height-capped column used to shrink until their sliders and names overlapped); eleven scales
    in the feature grid scroll under the rows' names, which stay in view."""
    from playwright.sync_api import sync_playwright

    url, token, d = lab
    _notebook(d / "channels.ipynb", MANY_CHANNELS_CELLS)
    with sync_playwright() as pw:
        with _page(pw, tmp_path, d, 1400) as page:
            open_app(page, url, token, "lab", notebook="channels.ipynb", workspace="channels")
            _open_section(page, "View")
            rows = _wait_for(lambda: page.evaluate(CHANNEL_ROWS), 30, "the channel rows")
            assert len(rows) == 17 and rows[0][3] == "mean"
            for top, bottom, inner, name in rows:  # its controls within the row, and so above the next row
                need = inner - top
                assert inner <= bottom + 1, f"row {name!r}: {bottom - top:.0f} px, its controls need {need:.0f}"
            _no_text_cut_off(page, "17 channels")  # names as long as "Ir191 DNA1" and "Collagen I" fit
            page.locator(".pixclass-app .pixclass-channel-row").last.scroll_into_view_if_needed()
            assert page.locator(".pixclass-app .pixclass-channel-row").last.is_visible()
            # eleven σ columns in the feature grid: scrolled to the last, the rows' names scrolled away with them
            _open_section(page, "Features")
            last = page.locator(".pixclass-app .widget-gridbox input[type=checkbox]").last
            assert last.is_checked()  # Hessian EV at σ 40, in the project's set
            last.scroll_into_view_if_needed()
            section = page.locator(".pixclass-app [class*='Collapse-header']").filter(has_text="Features").locator("..")
            box, panel = last.bounding_box(), section.bounding_box()
            name = page.locator(".pixclass-app .widget-gridbox .widget-label").filter(has_text="Hessian EV")
            name = name.bounding_box()
            assert panel["x"] <= box["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"] + 1, (box, panel)
            assert panel["x"] <= name["x"] and name["x"] + name["width"] <= box["x"], (name, box)  # beside its row
            last.click()
            _wait_for(lambda: not last.is_checked(), 10, "the σ 40 box to be unticked by a click")


PLANES_CELLS = [
    "import numpy as np\n"
    "import jupyter_pixclass as pc\n"
    "vol, truth = pc.datasets.nuclei((24, 128, 160), seed=3)\n"
    "project = pc.Project(['Nucleus', 'Background'], features=pc.FeatureSet(sigmas=[1.0, 2.0]), n_estimators=10)\n"
    "project.add_image(vol)\n"
    "app = pc.PixelClassifierApp(project, canvas_size=(384, 384))\n"
    "app.cursor = (12, 64, 80)\n"
    "for k, c in ((1, 1), (2, 3)):  # a stroke in a nucleus and one in the background of plane 12\n"
    "    y, x = np.argwhere(truth['classes'][12] == c)[0]\n"
    "    app.stroke([(int(x), int(y)), (int(x) + 1, int(y))], k, radius=1)\n"
    "app.live_update = True\n"
    "app",
    "def check(name):\n"
    "    app.wait_idle(120)\n"
    "    prob, valid = app.prediction.probabilities()\n"
    "    ys, xs, iny, inx = app.view.indices()\n"
    "    want = project.predict(0)[app.z][np.ix_(ys[iny], xs[inx])]\n"
    "    np.save(name, np.array([app.z, project.engine.rows_computed, valid[np.ix_(iny, inx)].all(),\n"
    "                            np.abs(prob[np.ix_(iny, inx)] - want).max(), app.prediction.vf.planes_kept]))\n"
    "check('plane_13.npy')",
    "check('plane_14.npy')",
]


def test_stepping_through_planes_in_a_real_browser(lab, tmp_path):
    """ArrowUp over the xy view steps the shown plane of a volume; the first step computes the next plane with
    it, so the second step computes nothing; each overlay is the whole forest's prediction on its plane."""
    from playwright.sync_api import sync_playwright

    url, token, d = lab
    _notebook(d / "planes.ipynb", PLANES_CELLS)
    with sync_playwright() as pw:
        with _page(pw, tmp_path, d, 1200) as page:
            open_app(page, url, token, "lab", notebook="planes.ipynb", workspace="planes")
            app_text = lambda: page.locator(".pixclass-app").inner_text()  # noqa: E731
            _wait_for(lambda: "whole forest" in app_text(), 120, "the whole forest's overlay")
            for cell, name in ((1, "plane_13.npy"), (2, "plane_14.npy")):
                _press(page, "ArrowUp")  # the pointer over the xy view: the next plane
                time.sleep(0.5)
                page.locator(".jp-Cell .cm-content").nth(cell).click()
                page.keyboard.press("Shift+Enter")
                _wait_for((d / name).exists, 120, f"{name} saved by the notebook")
    time.sleep(0.5)
    z13, rows13, valid13, diff13, kept = np.load(d / "plane_13.npy")
    z14, rows14, valid14, diff14, _ = np.load(d / "plane_14.npy")
    assert (z13, z14) == (13, 14) and kept
    assert rows14 == rows13  # plane 14 came with plane 13: the step computed nothing
    assert valid13 and valid14 and diff13 < 1e-5 and diff14 < 1e-5
