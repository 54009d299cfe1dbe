"""The orthogonal views of a volume: cursor, painting on xz and yz, Live Update of the three planes."""
import numpy as np
import pytest
import traitlets as T

import jupyter_pixclass as pc
from jupyter_pixclass.app.canvas_view import section_pixels


@pytest.fixture(scope="module")
def volume():
    return pc.datasets.nuclei((24, 96, 128), seed=2)


@pytest.fixture(params=[(), (2.5,)], ids=["3D", "σ 2.5 in 2D"])
def app3d(volume, request):
    img, _ = volume
    fs = pc.FeatureSet(sigmas=[1.0, 2.5], in_2d=request.param)
    p = pc.Project(["Nucleus", "Background"], features=fs, n_estimators=30)
    p.add_image(img)
    a = pc.PixelClassifierApp(p, canvas_size=(300, 300))
    yield a
    a.close()


def _points(cls_plane, k, n=3):
    """``n`` (horizontal, vertical) points of class ``k`` in a (vertical, horizontal) plane of classes."""
    at = np.argwhere(cls_plane == k)
    return [(int(h), int(v)) for v, h in at[:: max(1, len(at) // n)][:n]]


def test_volumes_open_in_three_views_around_a_cursor(app3d, app):
    a = app3d
    assert a.orthoviews and a.cursor == (12, 48, 64) and a.z == 12
    assert a.ortho.layout.display is None and set(a.ortho.panes) == {"xz", "yz"}
    assert not app.orthoviews and app.ortho.layout.display == "none"  # a 2D image: the xy canvas only
    a.z = 5
    assert a.cursor == (5, 48, 64)  # the xy pane shows the cursor's plane
    a.cursor = (10, 40, 50)
    assert a.z == 10 and a.ortho.panes["xz"].position() == 40 and a.ortho.panes["yz"].position() == 50
    with pytest.raises(T.TraitError, match=r"cursor \(z, y, x\) = \(30, 1, 1\) lies outside"):
        a.cursor = (30, 1, 1)
    a.orthoviews = False
    assert a.ortho.layout.display == "none" and a.ortho.predictions() == []


@pytest.mark.parametrize("plane", ["xz", "yz"])
def test_a_stroke_on_a_pane_paints_the_voxels_of_that_plane(app3d, volume, plane):
    a, cls = app3d, volume[1]["classes"]
    a.cursor = (10, 40, 50)
    sec = cls[:, 40, :] if plane == "xz" else cls[:, :, 50]
    pts = _points(sec, 1)
    a.stroke(pts, 1, radius=1, plane=plane)
    lab = np.asarray(a.project.labels(0))
    z, y, x = np.nonzero(lab)
    if plane == "xz":
        assert set(y) == {40}
        assert all(lab[v, 40, h] == 1 for h, v in pts)
    else:
        assert set(x) == {50}
        assert all(lab[v, h, 50] == 1 for h, v in pts)
    assert lab.sum() == len(z)  # a disk of radius 1 around each point, in that plane only
    painted = lab.copy()
    assert a.undo() and not np.asarray(a.project.labels(0)).any()
    assert a.redo() and (np.asarray(a.project.labels(0)) == painted).all()
    with pytest.raises(ValueError, match=rf"point \(.*\) = \(500.0, 3.0\) lies outside the {plane} plane"):
        a.stroke([(500, 3)], 1, plane=plane)
    with pytest.raises(ValueError, match="plane 'xx' is not one of"):
        a.stroke(pts, 1, plane="xx")


def test_planes_on_a_2d_image_are_refused(app):
    with pytest.raises(ValueError, match="plane 'xz' needs a volume"):
        app.stroke([(3, 3)], 1, plane="xz")


def test_live_update_predicts_the_three_planes(app3d, volume):
    a, cls = app3d, volume[1]["classes"]
    a.cursor = (10, 40, 50)
    a.stroke(_points(cls[:, 40, :], 1), 1, radius=1, plane="xz")
    a.stroke(_points(cls[:, 40, :], 3), 2, radius=1, plane="xz")
    a.stroke(_points(cls[10], 3), 2, radius=1)  # and one on the xy pane
    a.live_update = True
    a.wait_idle(120)
    p = a.project
    whole = p.predict(0)
    n_xy = len(a.prediction.vf)
    assert a.view_progress[1] == n_xy + sum(len(q.vf) for q in a.ortho.predictions())  # the panes are in the update
    for plane, pane in a.ortho.panes.items():
        prob, ready = pane.prediction.probabilities()
        v = pane.view()
        zs, hs, inz, inh = v.indices()
        inside = inz[:, None] & inh[None, :]
        assert ready[inside].all()  # the whole pane is predicted when wait_idle returns
        ref = (whole[:, 40] if plane == "xz" else whole[:, :, 50])[zs][:, hs]
        np.testing.assert_allclose(prob[inside], ref[inside], atol=1e-5)
        assert pane.prediction.complete()
    # moving the cursor moves the panes; their overlay follows
    a.cursor = (10, 60, 20)
    a.wait_idle(120)
    prob, ready = a.ortho.panes["xz"].prediction.probabilities()
    zs, xs, _, _ = a.ortho.panes["xz"].view().indices()
    np.testing.assert_allclose(prob[ready], whole[:, 60][zs][:, xs][ready], atol=1e-5)


def test_panes_are_drawn_with_the_z_spacing(volume):
    img, _ = volume
    aniso = pc.Image(img.data, axes="ZYXC", spacing=(3.0, 1.0, 1.0))
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    p.add_image(aniso)
    a = pc.PixelClassifierApp(p, canvas_size=(300, 300))
    try:
        a.cursor = (7, 30, 90)
        for plane, pane in a.ortho.panes.items():
            v = pane.view()
            sy, sx = v.scales
            assert v.aspect == 3.0 and sy == pytest.approx(3 * sx) and sx == a.view.scale
            zs, hs, inz, inh = v.indices()
            # a plane takes three times the display rows of a pixel: 3 rows per plane at this zoom
            assert np.bincount(zs[inz]).max() == pytest.approx(3 * a.view.scale, abs=1)
            shown = section_pixels(aniso, pane.axis, pane.position(), zs, hs, [0, 1], v.scales)
            sec = aniso.data[:, 30] if plane == "xz" else aniso.data[:, :, 90]
            np.testing.assert_array_equal(shown, sec[zs][:, hs])
    finally:
        a.close()


def test_panes_are_as_tall_as_the_volume_needs():
    """A thin stack's panes end where its planes end (a third of the canvas left a black band below them);
    a deep or anisotropic one gets up to a third of the canvas, and switching images sizes them again."""
    thin, _ = pc.datasets.nuclei((12, 96, 96), seed=3)
    deep = pc.Image(np.zeros((200, 48, 48, 2), np.uint16), axes="ZYXC")
    aniso = pc.Image(thin.data, axes="ZYXC", spacing=(1.5, 0.75, 0.75))
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    for im in (thin, deep, aniso):
        p.add_image(im)
    a = pc.PixelClassifierApp(p, canvas_size=(600, 600))
    try:
        # planes x aspect x the fit zoom (600 / 96 or 600 / 48): 75, 2500 and 150 rows; at least 96, at most 200
        for i, want, depth in ((0, 96, 75), (1, 200, 2500), (2, 150, 150), (0, 96, 75)):
            a.image_index = i
            for pane in a.ortho.panes.values():
                assert pane.size[0] == want and pane.canvas.height == want and pane.canvas.layout.height == f"{want}px"
                zs, _, inz, _ = pane.view().indices()
                assert abs(inz.sum() - min(want, depth)) <= 1  # rows showing planes: the deep stack scrolls
                assert pane._comp.shape[0] == want
    finally:
        a.close()


def test_the_mouse_and_keys_on_the_panes(app3d):
    a = app3d
    a.cursor = (10, 40, 50)
    xz = a.ortho.panes["xz"]
    v = xz.view()
    (dz, dx) = v.to_display(6 + 0.5, 70 + 0.5)
    a.current_class = 2
    xz.mouse.on_event({"type": "mousedown", "button": 0, "relativeY": dz, "relativeX": dx})
    d2 = v.to_display(6 + 0.5, 80 + 0.5)
    xz.mouse.on_event({"type": "mousemove", "relativeY": d2[0], "relativeX": d2[1]})
    xz.mouse.on_event({"type": "mouseup", "relativeY": d2[0], "relativeX": d2[1]})
    lab = np.asarray(a.project.labels(0))
    assert lab[6, 40, 70] == 2 and lab[6, 40, 80] == 2 and lab[6, 40, 75] == 2 and set(np.nonzero(lab)[1]) == {40}
    # a Ctrl-click moves the cursor to the voxel under the pointer
    yz = a.ortho.panes["yz"]
    dz, dy = yz.view().to_display(3 + 0.5, 20 + 0.5)
    for t in ("mousedown", "mouseup"):
        yz.mouse.on_event({"type": t, "ctrlKey": True, "relativeY": dz, "relativeX": dy})
    assert a.cursor == (3, 20, 50) and a.z == 3
    # keys over a pane move its plane: the yz pane's x, the xy pane's z
    a.keyboard.on_key({"key": "ArrowUp"}, "yz")
    a.keyboard.on_key({"key": "PageDown"}, "xy")
    assert a.cursor == (0, 20, 51)
    assert int(np.asarray(a.project.labels(0)).sum()) == 2 * lab.astype(bool).sum()  # keys painted nothing


def test_the_feature_grid_of_a_volume_has_an_in_2d_row(app3d, app):
    assert app.feature_grid.in_2d == {}  # a 2D image: no such row
    g = app3d.feature_grid
    for key, cb in g.checks.items():
        cb.value = key in {("gaussian", 1.0), ("hessian_eigenvalues", 5.0)}
    for s, cb in g.in_2d.items():
        cb.value = s == 5.0
    app3d.apply_feature_grid()
    fs = app3d.project.features
    assert fs.pairs == [("gaussian", 1.0), ("hessian_eigenvalues", 5.0)] and fs.in_2d == (5.0,)
    assert "6 features" in g.info.value  # 2 channels x (1 + 2 eigenvalues in the plane)


def test_the_feature_grid_names_scales_wider_than_a_thin_volume():
    vol, _ = pc.datasets.nuclei((8, 48, 56), seed=2)
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0, 2.5]), n_estimators=5)
    p.add_image(vol)
    a = pc.PixelClassifierApp(p, canvas_size=(200, 200))
    try:  # sigma 2.5's kernel reaches 10 planes either side of a plane: beyond the 8 there are
        assert 'σ 2.5 in 3D reaches beyond all 8 planes: its "in 2D" box' in a.feature_grid.info.value
        a.feature_grid.in_2d[2.5].value = True
        a.apply_feature_grid()
        assert a.project.features.in_2d == (2.5,) and "reach" not in a.feature_grid.info.value
    finally:
        a.close()
