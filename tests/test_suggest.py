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


def test_suggestions_go_to_what_the_forest_has_not_learned_not_to_borders(monkeypatch):
    img, truth = pc.datasets.nuclei((256, 256), seed=3)
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
    p.add_image(img)
    lab = np.zeros(img.shape_spatial, np.uint8)
    lab[250:253, 0:20] = 2
    lab[tuple(np.argwhere(truth["classes"] == 1)[0])] = 1
    p.set_labels(0, lab)
    err = _borders_and_a_blob()
    assert err[:32, :32].mean() > err[96:128, 176:208].mean()  # by plain mean the net would win
    prob = _probs(err)
    monkeypatch.setattr(suggest, "probability_grid", lambda project, i, z=None: (prob, 1))
    (i, z, (y0, x0, y1, x1)), = suggest_boxes(p, 1, box=32)
    assert (i, z) == (0, None) and x0 >= 128  # the unsure region, not the net of borders
    assert y0 <= 100 and y1 >= 124 and x0 <= 180 and x1 >= 204


def _net_and_blob(n=1280):
    """Full-size expected error: a small dense net of borders (every 3 px) and one unsure region elsewhere."""
    err = np.zeros((n, n), np.float32)
    net = err[200:280, 200:280]
    net[::3, :] = 0.6
    net[:, ::3] = 0.6
    err[600:624, 900:924] = 0.4
    return err


def test_large_images_score_their_best_candidates_again_in_detail(monkeypatch):
    img = np.zeros((1280, 1280), np.uint16)  # over 1024 px: a grid cell (5 px) is as wide as a border band
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=3)
    p.add_image(img)
    lab = np.zeros(img.shape, np.uint8)
    lab[1270, 0:3], lab[1270, 10:13] = 1, 2
    p.set_labels(0, lab)
    err = _net_and_blob()
    monkeypatch.setattr(suggest, "_predicted", lambda project, i, rows, cols, z=None: _probs(err[np.ix_(rows, cols)]))
    (_, _, (y0, x0, y1, x1)), = suggest_boxes(p, 1, box=32)
    assert y0 <= 600 and y1 >= 624 and x0 <= 900 and x1 >= 924  # the unsure region
    monkeypatch.setattr(suggest, "REFINE", 1)  # the coarse grid alone would send the person to the net
    (_, _, (y0, x0, y1, x1)), = suggest_boxes(p, 1, box=32)
    assert 200 - 32 <= y0 <= 280 and 200 - 32 <= x0 <= 280


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
