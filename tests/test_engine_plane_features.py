"""PlaneFeatures: the xz and yz planes of a volume equal the whole volume's features there, read in slabs."""
import numpy as np
import pytest

import jupyter_pixclass as pc
from jupyter_pixclass.engine.plane_features import PlaneFeatures
from jupyter_pixclass.engine.tiles import TileEngine
from jupyter_pixclass.features.compute import compute_features


class Counting:
    """An array that records the largest block read from it."""

    def __init__(self, arr):
        self.arr, self.shape, self.dtype, self.ndim, self.largest = arr, arr.shape, arr.dtype, arr.ndim, 0

    def __getitem__(self, key):
        out = np.asarray(self.arr[key])
        self.largest = max(self.largest, out.size)
        return out


def _assemble(pf, n_features):
    out = np.full((n_features, pf.rows.size, pf.cols.size), np.nan, np.float32)
    for k in range(len(pf)):
        fm, idx = pf.features(k)
        assert idx is None
        _, ry, rx = pf.pieces[k]
        out[:, ry, rx] = np.asarray(fm).reshape(n_features, ry.stop - ry.start, rx.stop - rx.start)
    return out


@pytest.mark.parametrize("mode", ["3d", "2d", "σ 1.6 in 2D"])
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (3.0, 1.0, 0.8)])
def test_panes_equal_the_whole_volume(mode, spacing):
    rng = np.random.default_rng(1)
    img = pc.Image(rng.random((70, 40, 300, 2)).astype(np.float32), axes="ZYXC", spacing=spacing)
    fs = pc.FeatureSet(sigmas=[0.7, 1.6], mode=mode) if len(mode) == 2 else pc.FeatureSet(sigmas=[0.7, 1.6],
                                                                                            in_2d=[1.6])
    whole = compute_features(img, fs)  # (Z, Y, X, F)
    eng = TileEngine(cache_bytes=2**28)
    for plane, pos in (("xz", 13), ("yz", 277)):
        n_h = 300 if plane == "xz" else 40
        rows, cols = np.arange(70), np.arange(0, n_h, 2)  # every other column, as a zoomed-out pane shows them
        pf = PlaneFeatures(eng, img, fs, plane, pos, rows, cols)
        assert len(pf) == 2  # cut into two slabs of 35 planes
        got = _assemble(pf, whole.shape[-1])
        ref = np.moveaxis(whole[:, pos] if plane == "xz" else whole[:, :, pos], -1, 0)[:, rows][:, :, cols]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_a_pane_reads_slabs_never_the_volume():
    rng = np.random.default_rng(2)
    data = Counting(rng.random((64, 200, 200, 1)).astype(np.float32))
    img = pc.Image(np.zeros((2, 1, 1, 1), np.float32), axes="ZYXC")  # a volume (one plane would be 2D)
    img.data = data  # any array-like with shape and slicing is read this way
    fs = pc.FeatureSet(sigmas=[1.0, 2.0])
    eng = TileEngine(cache_bytes=2**28)
    for plane in ("xz", "yz"):
        pf = PlaneFeatures(eng, img, fs, plane, 100, np.arange(64), np.arange(200))
        for k in range(len(pf)):
            pf.features(k)
    halo = fs.halo(3)
    assert 0 < data.largest <= 64 * (2 * halo + 1) * 200  # one slab across the planes, as thick as the halo
    with pytest.raises(ValueError, match="plane 'xy' is not one of"):
        PlaneFeatures(eng, img, fs, "xy", 0, np.arange(3), np.arange(3))


def test_a_zoomed_out_pane_reads_slabs_no_wider_than_at_full_size():
    # 512 shown columns of 4096: each piece spans at most 512 of the volume's columns (a slab across all
    # of them took 4 GB to filter on a 200 x 8192^2 volume)
    rng = np.random.default_rng(3)
    data = Counting(rng.random((64, 30, 4096, 1)).astype(np.float32))
    img = pc.Image(np.zeros((2, 1, 1, 1), np.float32), axes="ZYXC")  # a volume (one plane would be 2D)
    img.data = data
    fs = pc.FeatureSet(sigmas=[1.0])
    pf = PlaneFeatures(TileEngine(cache_bytes=2**28), img, fs, "xz", 15, np.arange(64), np.arange(0, 4096, 8))
    got = _assemble(pf, fs.n_features_for(1, 3))
    halo = fs.halo(3)
    assert len(pf) == 8 and 0 < data.largest <= 64 * (2 * halo + 1) * (512 + 2 * halo)
    ref = np.moveaxis(compute_features(pc.Image(data.arr, axes="ZYXC"), fs)[:, 15], -1, 0)[:, :, ::8]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("plane", ["xz", "yz"])
def test_stepping_a_pane_computes_the_next_positions_with_it(plane):
    """A pane's pieces are kept in the cache; stepping it to a neighbouring row (xz) or column (yz) computes
    the next one with it, so the step after computes nothing; each equals the whole volume's features."""
    rng = np.random.default_rng(2)
    img = pc.Image(rng.random((30, 40, 50, 2)).astype(np.float32), axes="ZYXC")
    fs = pc.FeatureSet(sigmas=[0.7, 1.6])
    whole = compute_features(img, fs)  # (Z, Y, X, F)
    eng = TileEngine(cache_bytes=2**28)
    F = whole.shape[-1]
    computed = []
    for pos in (10, 11, 12, 13, 14, 20):
        before = eng.rows_computed
        if plane == "xz":
            pf = PlaneFeatures(eng, img, fs, "xz", pos, np.arange(30), np.arange(50))
            want = np.moveaxis(whole[:, pos], -1, 0)  # (F, Z, X)
        else:
            pf = PlaneFeatures(eng, img, fs, "yz", pos, np.arange(30), np.arange(40))
            want = np.moveaxis(whole[:, :, pos], -1, 0)  # (F, Z, Y)
        got = _assemble(pf, F)
        computed.append(eng.rows_computed - before)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert pf.ahead == 1
    # rows computed: 30 planes x 1 row (xz) or x 40 rows (yz, each row as wide as the positions computed)
    one = 30 if plane == "xz" else 30 * 40
    two = 2 * one if plane == "xz" else one  # yz: two columns of the same rows
    assert computed == [one, two, 0, two, 0, one]


def test_a_zoomed_out_xz_pane_keeps_its_shown_voxels():
    """Every other column shown: the pane keeps the shown voxels' features (not a span of columns twice as wide
    in the cache), so predicting it again after a stroke computes nothing."""
    rng = np.random.default_rng(3)
    img = pc.Image(rng.random((20, 30, 80, 2)).astype(np.float32), axes="ZYXC")
    fs = pc.FeatureSet(sigmas=[0.7, 1.6])
    eng = TileEngine(cache_bytes=2**28)
    pf = PlaneFeatures(eng, img, fs, "xz", 12, np.arange(20), np.arange(0, 80, 2))
    first = _assemble(pf, fs.n_features_for(2, 3))
    before = eng.rows_computed
    np.testing.assert_array_equal(_assemble(pf, fs.n_features_for(2, 3)), first)
    assert eng.rows_computed == before and pf.n_ready() == len(pf)
    whole = np.moveaxis(compute_features(img, fs)[:, 12][:, 0:80:2], -1, 0)
    np.testing.assert_allclose(first, whole, rtol=1e-5, atol=1e-5 * np.abs(whole).max())


def test_an_xy_plane_reads_across_planes_only_what_its_3d_scales_need():
    # a scale filtered in 2D needs no planes around the one shown: the slab is as thick as the 3D scales' halo
    rng = np.random.default_rng(3)
    vol = rng.random((64, 90, 100, 1)).astype(np.float32)
    data = Counting(vol)
    img = pc.Image(np.zeros((2, 1, 1, 1), np.float32), axes="ZYXC")
    img.data = data
    fs = pc.FeatureSet(sigmas=[1.0, 8.0], in_2d=[8.0])
    assert fs.halos(3) == (pc.FeatureSet(sigmas=[1.0]).halo(), fs.halo(), fs.halo()) and fs.halos(2) == (fs.halo(),) * 2
    assert pc.FeatureSet(sigmas=[1.0, 8.0], mode="2d").halos(3) == (0, fs.halo(), fs.halo())
    got = TileEngine(cache_bytes=2**28).section_features(img, fs, 0, 32, (None, np.arange(90), slice(0, 100)))
    assert data.largest <= (2 * fs.halos(3)[0] + 1) * 90 * 100 < (2 * fs.halo() + 1) * 90 * 100
    ref = compute_features(pc.Image(vol, axes="ZYXC"), fs)[32]
    np.testing.assert_allclose(np.asarray(got).reshape(-1, 90, 100), np.moveaxis(ref, -1, 0), rtol=1e-5, atol=1e-5)
