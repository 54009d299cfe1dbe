import numpy as np
import pytest
from skimage.filters import threshold_otsu
from skimage.measure import label

import jupyter_pixclass as pc


def test_nuclei_deterministic_and_shaped():
    a, ta = pc.datasets.nuclei((96, 128), seed=5)
    b, tb = pc.datasets.nuclei((96, 128), seed=5)
    c, _ = pc.datasets.nuclei((96, 128), seed=6)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)
    assert a.data.shape == (96, 128, 2) and a.data.dtype == np.uint16
    assert set(np.unique(ta["classes"])) == {1, 2, 3}
    assert ((ta["nuclei"] > 0) == (ta["classes"] == 1)).all()


def test_otsu_fails_on_nuclei_scene():
    img, truth = pc.datasets.nuclei((384, 384), seed=0)
    dapi = img.data[..., 1].astype(float)
    m = dapi > threshold_otsu(dapi)
    gt = truth["nuclei"] > 0
    # faint nuclei are missed: recall of truth objects with almost no Otsu pixels
    missed = sum(1 for i in range(1, truth["nuclei"].max() + 1) if m[truth["nuclei"] == i].mean() < 0.2)
    assert missed >= 5
    # touching nuclei merge: some Otsu objects cover several true nuclei
    lab = label(m)
    merged = sum(1 for j in range(1, lab.max() + 1) if np.unique(truth["nuclei"][lab == j]).size > 2)
    assert merged >= 3
    assert (m & gt).sum() / (m | gt).sum() < 0.8


def test_nuclei_3d_and_imc():
    v, tv = pc.datasets.nuclei((16, 64, 64), seed=1)
    assert v.axes == "ZYXC" and v.data.shape == (16, 64, 64, 2) and tv["nuclei"].max() > 3
    m, tm = pc.datasets.imc((80, 90), n_channels=12, seed=2)
    assert m.data.shape == (80, 90, 12) and len(m.channel_names) == 12
    assert set(np.unique(tm["classes"])) == {1, 2, 3}
    # nuclear marker is brighter in nuclei than elsewhere
    dna = m.data[..., m.channel_names.index("Ir191 DNA1")]
    assert dna[tm["classes"] == 1].mean() > 3 * dna[tm["classes"] == 3].mean()


def test_scribbles_stay_inside_truth():
    _, t = pc.datasets.nuclei((128, 128), seed=0)
    s = pc.datasets.scribbles(t["classes"], n_strokes=5, seed=1)
    assert set(np.unique(s)) == {0, 1, 2, 3}
    assert (s[s > 0] == t["classes"][s > 0]).all()
    # the truth dict itself, as a newcomer passes it (a TypeError from numpy before)
    assert (pc.datasets.scribbles(t, n_strokes=5, seed=1) == s).all()
    assert pc.datasets.strokes(t, seed=1) == pc.datasets.strokes(t["classes"], seed=1)
    with pytest.raises(ValueError, match="class numbers per pixel; got float64 of shape"):
        pc.datasets.scribbles(np.zeros((8, 8)))


def test_imc_at_steinbock_size():
    img, truth = pc.datasets.imc((500, 500), n_channels=24)
    assert img.data.shape == (500, 500, 24) and truth["nuclei"].max() > 1000
    assert set(np.unique(truth["classes"])) == {1, 2, 3}
    # nuclei never overlap heavily: each instance keeps most of its own pixels
    sizes = np.bincount(truth["nuclei"].ravel())[1:]
    assert (sizes > 0).mean() > 0.95


def test_a_scene_larger_than_memory_is_refused_before_it_is_made():
    # a workshop typo of nuclei((100000, 100000)) got the kernel killed for memory
    with pytest.raises(ValueError, match=r"making the scene .* would not fit .*: choose a smaller shape"):
        pc.datasets.nuclei((100000, 100000))
    with pytest.raises(ValueError, match="fewer channels"):
        pc.datasets.imc((100, 100), n_channels=10**6)
