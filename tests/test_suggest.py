import numpy as np

import jupyter_pixclass as pc
from jupyter_pixclass import suggest
from jupyter_pixclass.suggest import boundary_free, suggest_boxes


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
    prob = np.stack([1 - err, err], -1)
    monkeypatch.setattr(suggest, "probability_grid", lambda project, i, z=None: (prob, 1))
    (i, z, (y0, x0, y1, x1)), = suggest_boxes(p, 1, box=32)
    assert (i, z) == (0, None) and x0 >= 128  # the unsure region, not the net of borders
    assert y0 <= 100 and y1 >= 124 and x0 <= 180 and x1 >= 204
