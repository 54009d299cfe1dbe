import numpy as np
import pytest

import jupyter_pixclass as pc
from jupyter_pixclass import suggest
from jupyter_pixclass.suggest import boundary_free, suggest_boxes


def _probs(err):
    """Three-class probabilities whose top is 1 - ``err`` (``err`` up to 2/3)."""
    return np.stack([1 - err, err / 2, err / 2], -1)


def _borders_and_a_blob(n=256):
    """Expected error as in crowded tissue: thin unsure borders on the left, one unsure region on the right."""
    err = np.zeros((n, n), np.float32)
    left = err[:, : n // 2]
    left[::4, :] = 0.6  # a border every 4 pixels: a dense net of 1-pixel bands
    left[:, ::4] = 0.6
    err[100:124, 180:204] = 0.4  # a 24-pixel region the forest is unsure about as a whole
    return err


def test_boundary_free_removes_thin_bands_and_keeps_regions():
    err = _borders_and_a_blob()
    out = boundary_free(err, step=1)
    assert out[:, :128].max() == 0  # every band of the net is gone
    np.testing.assert_array_equal(out[100:124, 180:204], err[100:124, 180:204])  # the region stays whole
    # on a coarse grid a band is narrower than one grid cell: nothing to open
    np.testing.assert_array_equal(boundary_free(err, step=16), err)
    with pytest.raises(ValueError, match="step=0"):
        boundary_free(err, step=0)


def _two_unsure_regions(n=256):
    """Three-class probabilities: region A split between two classes, region B spread over three.

    A is what the uncertainty overlay shows brightest (1 - (0.5 - 0.5) = 1); by the expected
    error 1 - max, B (0.6) would come before A (0.5)."""
    prob = np.zeros((n, n, 3), np.float32)
    prob[..., 0] = 1
    prob[40:64, 40:64] = (0.5, 0.5, 0.0)
    prob[160:184, 180:204] = (0.4, 0.3, 0.3)
    return prob


def _project(shape, lab_at=()):
    img = np.zeros(shape, np.uint16)
    p = pc.Project(["Nucleus", "Background", "Other"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=3)
    p.add_image(img)
    lab = np.zeros(shape, np.uint8)
    lab[shape[0] - 3, 0:3], lab[shape[0] - 3, 10:13], lab[shape[0] - 3, 20:23] = 1, 2, 3
    for y, x in lab_at:
        lab[y, x] = 1
    p.set_labels(0, lab)
    return p


def test_suggestions_are_the_uncertainty_overlays_brightest_windows(monkeypatch):
    prob = _two_unsure_regions()
    monkeypatch.setattr(suggest, "probability_grid", lambda project, i, z=None: (prob, 1))
    (i, z, (y0, x0, y1, x1)), second = suggest_boxes(_project((256, 256)), 2, box=32)
    assert (i, z) == (0, None) and y0 <= 40 and y1 >= 64 and x0 <= 40 and x1 >= 64  # A first
    _, _, (y0, x0, y1, x1) = second
    assert y0 <= 160 and y1 >= 184 and x0 <= 180 and x1 >= 204  # then B


def test_a_window_holding_a_label_is_left_out(monkeypatch):
    prob = _two_unsure_regions()
    monkeypatch.setattr(suggest, "probability_grid", lambda project, i, z=None: (prob, 1))
    (_, _, (y0, x0, y1, x1)), = suggest_boxes(_project((256, 256), [(52, 52)]), 1, box=32)
    assert y0 <= 160 and y1 >= 184 and x0 <= 180 and x1 >= 204  # A holds a labeled pixel: B


def _net_and_blob(n=1280):
    """Full-size expected error: a small dense net of borders (every 3 px) and one unsure region elsewhere."""
    err = np.zeros((n, n), np.float32)
    net = err[200:280, 200:280]
    net[::3, :] = 0.6
    net[:, ::3] = 0.6
    err[600:624, 900:924] = 0.4
    return err


def test_a_thin_stroke_between_grid_points_keeps_boxes_away(monkeypatch):
    img = np.zeros((1280, 1280), np.uint16)
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=3)
    p.add_image(img)
    lab = np.zeros(img.shape, np.uint8)
    lab[1270, 0:3], lab[1270, 10:13] = 1, 2
    lab[611, 880:940] = 1  # one row, between the grid's rows (every 5 px), through the unsure region
    p.set_labels(0, lab)
    err = _net_and_blob()
    err[200:280, 200:280] = 0
    monkeypatch.setattr(suggest, "_predicted", lambda project, i, rows, cols, z=None: _probs(err[np.ix_(rows, cols)]))
    for _, _, (y0, x0, y1, x1) in suggest_boxes(p, 3, box=32):
        assert not (y0 <= 611 < y1 and x1 > 880 and x0 < 940)


def test_an_image_left_in_its_file_is_read_where_painted(monkeypatch, tmp_path):
    # a lazy image keeps its labels in chunks: the windows holding a label come from the painted chunks
    img = np.zeros((1280, 1280), np.uint16)
    np.save(tmp_path / "img.npy", img[..., None])
    lab = np.zeros(img.shape, np.uint8)
    lab[1270, 0:3], lab[1270, 10:13] = 1, 2
    lab[611, 880:940] = 1
    err = _net_and_blob()
    err[200:280, 200:280] = 0
    monkeypatch.setattr(suggest, "_predicted", lambda project, i, rows, cols, z=None: _probs(err[np.ix_(rows, cols)]))
    boxes = {}
    for lazy in (False, True):
        p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=3)
        p.add_image(pc.load_image(tmp_path / "img.npy", lazy=lazy))
        p.set_labels(0, lab)
        assert type(p.labels(0)).__name__ == ("ChunkedLabels" if lazy else "ndarray")
        boxes[lazy] = suggest_boxes(p, 3, box=32)
    assert boxes[True] == boxes[False]
    assert all(not (y0 <= 611 < y1 and x1 > 880 and x0 < 940) for _, _, (y0, x0, y1, x1) in boxes[True])
