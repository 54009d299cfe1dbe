"""The app's components: class palette, keys, histograms, progress, suggestions (no browser)."""
import numpy as np
import pytest

import jupyter_pixclass as pc
from jupyter_pixclass.app.keyboard import SHORTCUTS, help_html



def key(app, k, **mods):
    return app.keyboard.on_key({"type": "keydown", "key": k, **mods})


def test_clicking_a_class_name_selects_and_highlights_it(app, scene, stroke_points):
    rows = app.palette.rows.children
    assert app.current_class == 1 and "pixclass-row-selected" in rows[0]._dom_classes
    rows[1].name.click()
    assert app.current_class == 2
    assert "pixclass-row-selected" in rows[1]._dom_classes and "pixclass-row-selected" not in rows[0]._dom_classes
    assert rows[1].name.icon == "paint-brush" and rows[0].name.icon == ""
    _, truth = scene
    _, _, bg = stroke_points
    app.stroke(bg, app.current_class)
    assert app.project.labels(0)[bg[0][1], bg[0][0]] == 2  # what was clicked is what gets painted


def test_rename_by_pencil_or_double_click(app):
    row = app.palette.rows.children[0]
    assert row.edit.layout.display == "none"
    row.pencil.click()
    assert row.edit.layout.display is None and row.name.layout.display == "none"
    row.edit.value = "Nuclei"
    assert app.project.classes[0] == "Nuclei"
    row = app.palette.rows.children[0]  # rows are rebuilt with the new name
    assert row.name.description == "Nuclei" and row.edit.layout.display == "none"
    row._dbl._handle_mouse_msg(None, {"event": "dom_event", "type": "dblclick"}, None)  # as the browser sends it
    assert row.edit.layout.display is None


@pytest.mark.parametrize("k,tool", [("b", "brush"), ("E", "eraser"), ("p", "pan"), ("c", "contrast")])
def test_tool_keys(app, k, tool):
    app.tool = "pan" if tool != "pan" else "brush"
    assert key(app, k) and app.tool == tool


def test_brush_size_class_and_view_keys(app):
    app.brush_size = 8
    key(app, "]")
    assert app.brush_size == 10
    key(app, "[")
    key(app, "[")
    assert app.brush_size == 6
    app.brush_size = 1
    key(app, "[")
    assert app.brush_size == 1
    key(app, "2")
    assert app.current_class == 2
    key(app, "7")  # no such class: nothing changes
    assert app.current_class == 2
    key(app, "1")
    assert app.current_class == 1
    s = app.view.scale
    key(app, "+")
    assert app.view.scale == pytest.approx(1.5 * s)
    key(app, "-")
    key(app, "-")
    assert app.view.scale < s
    key(app, "0")
    assert app.view.scale == s and app.view.origin == (0.0, 0.0)
    assert not key(app, "x")  # not a shortcut: left alone


def test_overlay_and_label_keys(app):
    assert app.overlay == "probabilities"
    seen = []
    for _ in range(4):
        key(app, "o")
        seen.append(app.overlay)
    assert seen == ["segmentation", "uncertainty", "none", "probabilities"]
    key(app, "u")
    assert app.overlay == "uncertainty"
    key(app, "U")
    assert app.overlay == "probabilities"
    key(app, "l")
    assert not app.show_labels
    key(app, "l")
    assert app.show_labels


def test_undo_redo_keys(app, scene, stroke_points):
    _, truth = scene
    nuc, _, bg = stroke_points
    lab = app.project.labels(0)
    app.stroke(nuc, 1)
    app.stroke(bg, 2)
    key(app, "z", ctrlKey=True)
    assert not (lab == 2).any() and (lab == 1).any()
    key(app, "Z", ctrlKey=True, shiftKey=True)
    assert (lab == 2).any()
    key(app, "z", metaKey=True)  # Cmd on a Mac
    assert not (lab == 2).any()
    key(app, "y", ctrlKey=True)
    assert (lab == 2).any()


def test_help_lists_every_shortcut(app):
    text = help_html()
    for keys, what in SHORTCUTS:
        assert what in text
    assert app.toolbar.help_panel.layout.display == "none"
    app.toolbar.help.value = True
    assert app.toolbar.help_panel.layout.display is None


def test_key_guard_marks_the_canvas_inside_this_app(app):
    """The invisible guard finds this app's canvas by class (the browser side is tested end to end)."""
    guard = app.keyboard.guard
    assert guard in app.widget.children and guard.layout.display == "none"
    assert guard.selector == ".pixclass-canvas" and "pixclass-canvas" in app.canvas_view.canvas._dom_classes
    assert guard.root == ".pixclass-app" and "pixclass-app" in app.widget._dom_classes
    assert "data-lm-suppress-shortcuts" in guard._esm


def test_every_icon_button_has_a_tooltip(app):
    import ipywidgets as W

    def walk(w):
        yield w
        for c in getattr(w, "children", ()):
            yield from walk(c)

    icons = [w for w in walk(app.widget) if isinstance(w, (W.Button, W.ToggleButton)) and w.icon]
    assert len(icons) > 10
    assert all(w.tooltip for w in icons), [w.icon for w in icons if not w.tooltip]
    assert all(app.toolbar.tool.tooltips)


def test_channel_histogram_shows_the_window(app):
    from PIL import Image
    import io

    row = app.channels.children[1]
    before = np.asarray(Image.open(io.BytesIO(row.hist.value)))
    assert before.shape == (24, 100, 3)  # drawn at the size it is shown
    lo, hi = app.contrast(1)
    app.set_contrast(1, lo, lo + (hi - lo) / 4)
    after = np.asarray(Image.open(io.BytesIO(row.hist.value)))
    assert not np.array_equal(before, after)
    assert row.readout.value.startswith(f"{lo:.3g}"[:3]) and "–" in row.readout.value
    assert row.range.value[1] == pytest.approx(lo + (hi - lo) / 4)


def test_histogram_picture_marks_the_window():
    from jupyter_pixclass.app import render

    counts, lo, hi = render.histogram(np.arange(1000.0), bins=10)
    assert counts.sum() == 1000 and (lo, hi) == (0.0, 999.0)
    pic = render.histogram_rgb(counts, (lo, hi), (250, 750), "#ff0000", size=(20, 101))
    assert (pic[:, 25] == [255, 0, 0]).all() and (pic[:, 75] == [255, 0, 0]).all()
    assert pic[0, 50, 0] > pic[0, 10, 0]  # the window is lighter than outside it


def test_progress_and_stale_marker_follow_the_update(app, scene, stroke_points):
    _, truth = scene
    nuc, nuc2, bg = stroke_points
    stages, stale = [], []
    app.progress_panel.stage.observe(lambda c: stages.append(c["new"]), "value")
    app.observe(lambda c: stale.append(c["new"]), "overlay_stale")
    app.stroke(nuc, 1)
    app.stroke(bg, 2)
    app.live_update = True
    app.wait_idle(60)
    assert {"training", "done"} <= set(stages) and app.progress_panel.bar.value == 1.0
    assert stale[0] is True and app.overlay_stale is False and "up to date" in app.progress_panel.marker.value
    app.live.request()
    assert app.overlay_stale and "updating" in app.progress_panel.marker.value
    app.wait_idle(60)
    assert not app.overlay_stale


def test_a_view_only_update_is_timed_from_the_zoom_not_the_last_stroke(app, scene, stroke_points):
    import time

    _, truth = scene
    nuc, _, bg = stroke_points
    app.stroke(nuc, 1)
    app.stroke(bg, 2)
    app.live_update = True
    app.wait_idle(60)
    time.sleep(1.0)  # a person looks before zooming
    t = time.perf_counter()
    app.zoom(2.0)
    app.wait_idle(60)
    assert app.timings["train"] == 0.0  # nothing retrained: the view alone
    assert app.timings["total"] <= time.perf_counter() - t


def test_export_from_the_panel_shows_progress(app, scene, tmp_path, stroke_points):
    _, truth = scene
    nuc, _, bg = stroke_points
    app.stroke(nuc, 1)
    app.stroke(bg, 2)
    stages = []
    app.progress_panel.stage.observe(lambda c: stages.append(c["new"]), "value")
    app.export_panel.source.value = "simple_segmentation"
    app.export_panel.path.value = str(tmp_path / "seg.h5")
    app.export_panel.export.click()
    assert stages[:3] == ["export: training…", "export: computing simple_segmentation…", "done"]
    seg = pc.load_image(tmp_path / "seg.h5").data
    assert set(np.unique(seg)) <= {1, 2}


def test_suggest_button_draws_boxes_and_going_there_moves_the_view(scene):
    img, truth = scene
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0, 3.5]), n_estimators=20)
    p.add_image(img)
    p.add_image(pc.datasets.nuclei((120, 140), seed=9)[0])
    p.set_labels(0, pc.datasets.scribbles(truth["classes"], n_strokes=2, mapping={1: 1, 2: 2, 3: 2}))
    app = pc.PixelClassifierApp(p, canvas_size=(200, 200))
    stages = []
    app.progress_panel.stage.observe(lambda c: stages.append(c["new"]), "value")
    try:
        app.suggest_panel.button.click()  # runs on the live-update thread
        app.wait_idle(60)
        assert not app.suggest_panel.button.disabled
        assert "suggest: scoring image 2 of 2…" in stages and stages[-1] == "done"
        assert len(app.suggestions) == 3 and "3 places in yellow" in app.suggest_panel.info.value
        buttons = app.suggest_panel.list.children
        assert len(buttons) == 3 and all(b.tooltip.startswith("image ") for b in buttons)
        for j, (i, z, (y0, x0, y1, x1)) in enumerate(app.suggestions):
            buttons[j].click()
            assert app.image_index == i
            (dy0, dx0), (dy1, dx1) = app.view.to_display(y0, x0), app.view.to_display(y1, x1)
            assert -1 <= dy0 < dy1 <= 201 and -1 <= dx0 < dx1 <= 201  # the whole box is on the canvas
            assert app.view.scale > app.view.fit_scale() and dy1 - dy0 >= 80  # zoomed in on it
    finally:
        app.close()


def test_suggest_button_without_labels_says_why_and_stays_usable(app):
    app.suggest_panel.button.click()
    app.wait_idle(30)
    assert app.status.startswith("suggest: ") and "label" in app.status
    assert not app.suggest_panel.button.disabled and app.suggestions == []


def test_suggest_stops_for_a_new_stroke(scene):
    img, truth = scene
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    for _ in range(3):
        p.add_image(img)
    p.set_labels(0, pc.datasets.scribbles(truth["classes"], n_strokes=2, mapping={1: 1, 2: 2, 3: 2}))
    app = pc.PixelClassifierApp(p, canvas_size=(200, 200))
    try:
        app.wait_idle(30)
        scored = []

        def on_stage(c):
            if c["new"].startswith("suggest: scoring image 1 "):
                scored.append(c["new"])
                app.live.request_view()  # what a zoom does while Suggest runs
        app.progress_panel.stage.observe(on_stage, "value")
        app.suggest_panel.button.click()
        app.wait_idle(60)
        assert scored and app.suggestions == [] and "press Suggest again" in app.suggest_panel.info.value
        assert not app.suggest_panel.button.disabled
    finally:
        app.close()


def test_suggest_boxes_in_3d_use_the_shown_slice():
    from jupyter_pixclass.suggest import suggest_boxes

    v, t = pc.datasets.nuclei((10, 64, 64), seed=4)
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    p.add_image(v)
    p.set_labels(0, pc.datasets.scribbles(t["classes"], n_strokes=2, mapping={1: 1, 2: 2, 3: 2}))
    out = suggest_boxes(p, n=2, box=16, z_of=lambda i: 7)
    assert [z for _, z, _ in out] == [7, 7] and all(b[2] - b[0] == 16 for _, _, b in out)
    assert out[0].z == 7 and out[0].image == 0 and out[0].box == out[0][2]  # named, and still a tuple
    empty = pc.Project(features=pc.FeatureSet(sigmas=[1.0]))
    empty.add_image(v)
    with pytest.raises(ValueError, match="box=0"):
        suggest_boxes(p, n=1, box=0)
    with pytest.raises(ValueError, match="n=-1"):
        suggest_boxes(p, n=-1)
    with pytest.raises(ValueError, match="label"):  # nothing labeled: nothing to be unsure about yet
        suggest_boxes(empty, n=1)


def test_suggest_boxes_can_score_some_images_only(scene):
    from jupyter_pixclass.suggest import suggest_boxes

    img, truth = scene
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    p.add_image(img)
    p.add_image(pc.datasets.nuclei((120, 140), seed=9)[0])
    p.set_labels(0, pc.datasets.scribbles(truth["classes"], n_strokes=2, mapping={1: 1, 2: 2, 3: 2}))
    seen = []
    out = suggest_boxes(p, n=2, images=[1], progress=lambda k, n: seen.append((k, n)))
    assert [i for i, _, _ in out] == [1, 1] and seen == [(0, 1)]
    with pytest.raises(IndexError, match="image index 5"):
        suggest_boxes(p, n=1, images=[5])


HOSTILE = "<img src=x onerror=alert(1)>"


def _widgets(w):
    yield w
    for c in getattr(w, "children", ()):
        yield from _widgets(c)


def test_names_from_files_reach_the_page_as_text(scene):
    # a class name from an .ilp or a saved project, and a rename that fails with it, never become markup
    import ipywidgets as W

    img, _ = scene
    p = pc.Project([HOSTILE, "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
    p.add_image(img)
    a = pc.PixelClassifierApp(p, canvas_size=(200, 200))
    try:
        a.palette.rename(2, HOSTILE)  # fails: the name exists; the message quotes it
        assert HOSTILE in a.status
        a.suggest_panel.info.value = f"suggest: {HOSTILE}"
        html_widgets = [w for w in _widgets(a.widget) if isinstance(w, (W.HTML, W.HTMLMath))]
        assert html_widgets, "the walk found the status line"
        for w in html_widgets:
            assert "<img" not in w.value, f"raw markup in {type(w).__name__}: {w.value[:80]}"
        assert any("&lt;img" in w.value for w in html_widgets)  # shown, escaped
    finally:
        a.close()


def test_stroke_refuses_bad_values_and_stays_usable(app, scene, stroke_points):
    _, truth = scene
    _, nuc, _ = stroke_points
    for kw, msg in (({"image": 5}, "image 5 does not exist"), ({"radius": -2}, "radius -2.0 is outside 1..512"),
                    ({"radius": 1e5}, "radius 100000.0 is outside"), ({"k": 7}, "class 7 does not exist"),
                    ({"k": 1.5}, "class 1.5 is neither"), ({"k": "Nope"}, "no class named 'Nope'")):
        args = {"k": 1, **kw}
        with pytest.raises(ValueError, match=msg):
            app.stroke(nuc, **args)
    with pytest.raises(ValueError, match=r"point \(x, y\) = \(500.0, 3.0\) lies outside"):
        app.stroke([(3, 3), (500, 3)], 1)
    assert app.image_index == 0 and not app.project.labels(0).any()
    app.stroke(nuc, "Nucleus")  # still usable; a class by its name, as class_index takes it
    assert app.project.labels(0).any() and set(np.unique(app.project.labels(0))) == {0, 1}
