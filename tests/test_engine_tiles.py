"""Tile features equal whole-image features; sparse rows; the LRU budget; the view's pieces."""
import numpy as np
import pytest

import jupyter_pixclass as pc
from jupyter_pixclass.engine.cache import FeatureCache
from jupyter_pixclass.engine.tiles import TILE_2D_BYTES, TileEngine, TileGrid, default_cache_bytes
from jupyter_pixclass.engine.view_features import ViewFeatures


def whole(img, fs):
    return np.moveaxis(pc.compute_features(img, fs), -1, 0)


FS2 = pc.FeatureSet(sigmas=[0.7, 1.6, 3.5])


@pytest.mark.parametrize("shape,fs,tile", [
    ((150, 170), FS2, 64),  # 2D, tiles cut at the borders (150 = 2*64 + 22)
    ((150, 170), pc.FeatureSet.default(), 48),  # halo of sigma 10 + structure tensor > tile
    ((20, 40, 50), pc.FeatureSet(sigmas=[1.0, 2.0]), 16),  # true 3D
    ((9, 60, 70), pc.FeatureSet(sigmas=[1.0, 3.5], mode="2d"), 24),  # plane by plane
])
def test_tiles_equal_whole_image(shape, fs, tile):
    img, _ = pc.datasets.nuclei(shape, seed=2)
    eng = TileEngine(2**30, tile=tile, tile_bytes_3d=2**20)
    ref = whole(img, fs)
    g = eng.grid(img, fs)
    assert len(g.all_tiles()) > 1
    for t in g.all_tiles():
        np.testing.assert_allclose(eng.tile_features(img, fs, t), ref[(slice(None),) + g.slices(t)],
                                   rtol=1e-5, atol=1e-4 * np.abs(ref).max())


def test_sparse_rows_and_points_equal_whole_image():
    img, _ = pc.datasets.nuclei((130, 140), seed=3)
    fs = pc.FeatureSet.default()
    eng = TileEngine(2**30, tile=64)
    ref = whole(img, fs)
    rows = [np.array([64, 70, 71, 127])]
    got = eng.row_features(img, fs, (1, 1), rows)
    np.testing.assert_array_equal(got, ref[:, rows[0], 64:128])  # same kernels, same reads: exact
    assert len(eng.cache) == 0  # sparse requests keep nothing
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, 130, 50), rng.integers(0, 140, 50)
    np.testing.assert_array_equal(eng.at_points(img, fs, (ys, xs)), ref[:, ys, xs].T)
    # a request covering most rows of a tile computes and keeps the whole tile
    yy, xx = np.meshgrid(np.arange(0, 64), np.arange(0, 3), indexing="ij")
    eng.at_points(img, fs, (yy.ravel(), xx.ravel()))
    assert eng.cached(img, fs, (0, 0)) is not None


def test_3d_points_and_percentile_normalization():
    img, _ = pc.datasets.nuclei((12, 40, 44), seed=1)
    fs = pc.FeatureSet(sigmas=[1.0, 2.0], normalize="percentile")
    eng = TileEngine(2**30, tile=16, tile_bytes_3d=2**19)
    assert len(eng.grid(img, fs).all_tiles()) > 1
    ref = whole(img, fs)
    pts = (np.array([0, 5, 11, 6]), np.array([3, 20, 39, 16]), np.array([0, 43, 10, 17]))
    np.testing.assert_allclose(eng.at_points(img, fs, pts), ref[(slice(None),) + pts].T, rtol=1e-5, atol=1e-5)


def test_lru_budget_and_buffer_reuse():
    img, _ = pc.datasets.nuclei((128, 128), seed=4)
    fs = pc.FeatureSet(sigmas=[1.0])
    F = fs.n_features(2, 2)
    one = 4 * F * 32 * 32
    eng = TileEngine(int(2.5 * one), tile=32)
    for t in eng.grid(img, fs).all_tiles():
        eng.tile_features(img, fs, t)
    assert len(eng.cache) == 2 and eng.cache.nbytes <= 2.5 * one
    ref = whole(img, fs)
    t = (0, 0)  # evicted long ago: computed again (into a reused buffer), still exact
    np.testing.assert_allclose(eng.tile_features(img, fs, t), ref[:, :32, :32], rtol=1e-5, atol=1e-3)


def test_cache_does_not_overwrite_an_array_in_use():
    c = FeatureCache(max_bytes=4000)
    held = c.get("a", lambda buf: np.ones(1000, np.float32) if buf is None else buf.reshape(1000), nbytes=4000)
    held[:] = 7
    c.get("b", lambda buf: np.zeros(1000, np.float32) if buf is None else buf.reshape(1000) * 0, nbytes=4000)
    assert (held == 7).all()  # "a" was evicted but is still held here: never reused
    assert "a" not in c and "b" in c


def test_default_budget_and_grid():
    b = default_cache_bytes()
    assert 128 * 2**20 <= b <= 4 * 2**30
    g = TileGrid((300, 520), (256, 256))
    assert g.counts == (2, 3) and g.tile_shape((1, 2)) == (44, 8)
    assert g.tiles_in((slice(250, 260), slice(0, 10))) == [(0, 0), (1, 0)]
    assert g.tiles_in((slice(0, 0), slice(0, 10))) == []
    eng = TileEngine(512 * 2**20, tile=256)
    crop = pc.Image(np.zeros((500, 500, 2), np.float32))
    assert eng.grid(crop, FS2).tile == (500, 500)  # up to twice the tile side: one tile


def test_a_tile_of_many_channels_stays_within_its_byte_cap():
    # a 17-channel IMC crop with every sigma >= 1 feature: one 500x500 tile would be 680 MB
    fs = pc.FeatureSet.default().select(min_sigma=1.0)
    imc = pc.Image(np.zeros((500, 500, 17), np.float32))
    for budget, cap in [(512 * 2**20, TILE_2D_BYTES), (64 * 2**20, 16 * 2**20)]:
        g = TileEngine(budget).grid(imc, fs)
        assert 4 * fs.n_features(17, 2) * g.tile[0] * g.tile[1] <= cap
        assert g.tile[0] == g.tile[1] and g.counts[0] * g.tile[0] - 500 < g.counts[0]  # near-even cuts, no slivers


@pytest.mark.parametrize("scale", [1.0, 0.7, 0.2])
def test_view_pieces_cover_the_view_exactly(scale):
    img, _ = pc.datasets.nuclei((300, 330), seed=5)
    fs = FS2
    eng = TileEngine(2**30, tile=64)
    from jupyter_pixclass.app.render import View

    v = View(img.shape_spatial, (120, 100), scale=scale)
    v.origin = (40.0, 50.0) if scale == 1.0 else (0.0, 0.0)
    ys, xs, iny, inx = v.indices()
    vf = ViewFeatures(eng, img, fs, ys[iny], xs[inx])
    assert vf.sparse == (scale < 0.5)
    ref = whole(img, fs)
    # pieces tile the grid, centre first
    seen = np.zeros((vf.rows.size, vf.cols.size), int)
    for k, (t, ry, rx) in enumerate(vf.pieces):
        seen[ry, rx] += 1
        fm, idx = vf.features(k)
        got = fm if idx is None else fm[:, idx]
        want = ref[:, vf.rows[ry]][:, :, vf.cols[rx]].reshape(ref.shape[0], -1)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * np.abs(ref).max())
    assert (seen == 1).all()
    centre = np.array([vf.rows.mean(), vf.cols.mean()])
    d = [np.hypot(*(np.array([vf.rows[ry].mean(), vf.cols[rx].mean()]) - centre)) for _, ry, rx in vf.pieces]
    assert d[0] == min(d)


@pytest.mark.parametrize("budget", [2**30, 8 * 2**20])
def test_a_zoomed_out_view_keeps_its_pixels_features_side_by_side_within_a_third_of_the_budget(budget):
    """Zoomed out (but not sampled), a piece's shown pixels are copied out of its tile once, in blocks the forest
    reads where they lie, so predicting after a stroke reads only them; what the view keeps stays within a third
    of the cache's budget (VIEW_SHARE)."""
    from jupyter_pixclass.forest.score import PixelBlocks

    img, _ = pc.datasets.nuclei((256, 256), seed=4)
    eng = TileEngine(budget, tile=64)
    rows = np.unique((np.arange(180) / 0.7).astype(np.int64))  # every 1.4th row and column
    vf = ViewFeatures(eng, img, FS2, rows, rows)
    ref = whole(img, FS2)
    compact = 0
    for k, (t, ry, rx) in enumerate(vf.pieces):
        fm, idx = vf.features(k)
        compact += isinstance(fm, PixelBlocks)
        assert (idx is None) == isinstance(fm, PixelBlocks)
        want = ref[:, vf.rows[ry]][:, :, vf.cols[rx]].reshape(ref.shape[0], -1)
        np.testing.assert_allclose(np.asarray(fm) if idx is None else fm[:, idx], want, rtol=1e-5,
                                   atol=1e-4 * np.abs(ref).max())
    assert 0 < vf.kept_bytes() <= budget // 3
    if budget == 2**30:
        assert compact == len(vf)  # room for all: every piece side by side
    else:
        assert 0 < compact < len(vf)  # the pieces nearest the centre, the rest read from their tiles


def test_a_view_at_1_to_1_larger_than_the_budget_keeps_its_centre_tiles_from_update_to_update():
    """A 1:1 view whose tiles pass the budget keeps the tiles nearest its centre and computes the rest for each
    use. Kept in the LRU as they came, each new tile evicted the oldest, the next the next: every update
    computed every tile again (notebook 02's 17-channel crop under Binder's budget: 3.5 s a stroke)."""
    img, _ = pc.datasets.nuclei((256, 256), seed=4)
    eng = TileEngine(1, tile=64)
    tile = eng.tile_nbytes(img, FS2, (0, 0))
    eng.cache.max_bytes = 6 * tile + tile // 2  # room for 6 of the 16 tiles
    rows = np.arange(256)
    vf = ViewFeatures(eng, img, FS2, rows, rows)
    ref = whole(img, FS2)
    for update in range(3):
        misses = eng.cache.misses
        for k, (t, ry, rx) in enumerate(vf.pieces):
            fm, idx = vf.features(k)
            want = ref[:, vf.rows[ry]][:, :, vf.cols[rx]].reshape(ref.shape[0], -1)
            np.testing.assert_allclose(fm if idx is None else fm[:, idx], want, rtol=1e-5,
                                       atol=1e-4 * np.abs(ref).max())
        # the first update computes the 6 it keeps; later ones find them (the other 10 never enter the cache)
        assert eng.cache.misses - misses == (6 if update == 0 else 0)
        assert eng.cache.nbytes <= eng.cache.max_bytes
    kept = [vf.pieces[k][0] for k in range(len(vf)) if eng.cached(img, FS2, vf.pieces[k][0]) is not None]
    assert kept == [vf.pieces[k][0] for k in range(6)]  # the centre's
    # a piece it cannot keep computes only what a forest reads (the rest 0); a kept one gives every feature
    assert [vf.transient(k) for k in range(len(vf))] == [False] * 6 + [True] * 10
    wanted = np.arange(ref.shape[0]) % 5 == 1
    for k in (0, 9):
        fm, idx = vf.features(k, wanted)
        _, ry, rx = vf.pieces[k]
        want = ref[:, vf.rows[ry]][:, :, vf.cols[rx]].reshape(ref.shape[0], -1)
        got = fm if idx is None else fm[:, idx]
        np.testing.assert_allclose(got[wanted], want[wanted], rtol=1e-5, atol=1e-4 * np.abs(ref).max())
        computed = got[~wanted].any(axis=1)  # besides the wanted: the other eigenvalue of a wanted pair
        assert computed.all() if k == 0 else computed.sum() <= wanted.sum()


def test_take_blocks_keeps_the_columns_asked_for_and_checks_them():
    from jupyter_pixclass.forest.score import BLOCK, PixelBlocks, take_blocks

    X = np.arange(3 * 600, dtype=np.float32).reshape(3, 600)
    idx = np.r_[599, 0, 0, np.arange(1, 300)]
    for cols, want in ((idx, X[:, idx]), (None, X)):
        b = take_blocks(X, cols)
        assert b.shape == want.shape and b.blocks.shape == (-(-want.shape[1] // BLOCK), 3, BLOCK)
        np.testing.assert_array_equal(np.asarray(b), want)
        np.testing.assert_array_equal(b.blocks[1, :, 5], want[:, BLOCK + 5])  # pixel i: block i // BLOCK
    assert take_blocks(X, np.zeros(0, int)).shape == (3, 0)
    with pytest.raises(IndexError, match="outside the 600 columns"):
        take_blocks(X, [600])
    with pytest.raises(IndexError):
        take_blocks(X, [-1])
    with pytest.raises(ValueError, match="do not fit"):
        PixelBlocks(np.zeros((1, 3, BLOCK), np.float32), BLOCK + 1)


def test_projects_share_one_budget_unless_given_their_own():
    from jupyter_pixclass.engine.tiles import shared_cache

    a, b = pc.Project(), pc.Project()
    assert a.engine.cache is b.engine.cache is shared_cache()
    c = pc.Project(cache_bytes=10**6)
    assert c.engine.cache is not a.engine.cache and c.engine.cache.max_bytes == 10**6


def test_a_view_does_not_keep_tiles_the_cache_let_go():
    import gc
    import weakref

    img, _ = pc.datasets.nuclei((256, 256), seed=3)
    fs = pc.FeatureSet(sigmas=[1.0, 2.0])
    eng = TileEngine(64 * 2**20, tile=64)
    vf = ViewFeatures(eng, img, fs, np.arange(256), np.arange(256))
    first = [vf.features(k) for k in range(len(vf))]
    assert vf.n_ready() == len(vf) == 16 and len(eng.cache) == 16
    alive = weakref.ref(first[0][0].base if first[0][0].base is not None else first[0][0])
    del first
    eng.cache.clear()  # the budget went to other work
    gc.collect()
    assert alive() is None  # the view held no second copy beyond the budget
    again = vf.features(0)  # and computes the tile again when asked
    np.testing.assert_allclose(again[0], eng.tile_features(img, fs, vf.pieces[0][0]).reshape(again[0].shape[0], -1))


def test_a_closed_projects_tiles_leave_the_shared_budget():
    import gc

    img, _ = pc.datasets.nuclei((128, 128), seed=4)
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]))
    p.add_image(img)
    shared = p.engine.cache
    before = shared.nbytes
    p.engine.tile_features(p.images[0], p.features, (0, 0))
    assert shared.nbytes > before
    del p
    gc.collect()
    assert shared.nbytes == before


@pytest.mark.parametrize("zs", [[5], [0, 9], [11]])
def test_3d_rows_of_a_few_planes_equal_the_whole_volume(zs):
    """A plane of a volume (an xy pane) is filtered across planes only where it lies: the same features."""
    img, _ = pc.datasets.nuclei((12, 40, 44), seed=4)
    fs = pc.FeatureSet(sigmas=[0.7, 1.6, 3.5])  # the structure tensor smooths across planes too
    eng = TileEngine(2**30, tile=64, tile_bytes_3d=2**30)
    ref = whole(img, fs)
    rows = [np.array(zs), np.array([0, 7, 20, 39])]
    got = eng.row_features(img, fs, (0, 0, 0), rows)
    np.testing.assert_allclose(got, ref[:, zs][:, :, rows[1]], rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_a_plane_of_deep_3d_tiles_is_cut_in_wide_pieces():
    """3D tiles many planes deep are never kept for one plane: the view's pieces span several tiles (the halo is
    read once per piece, not per 32 x 64 tile) and still equal the whole volume's features."""
    img, _ = pc.datasets.nuclei((12, 300, 280), seed=6)
    fs = pc.FeatureSet(sigmas=[0.7, 1.6])
    eng = TileEngine(2**30, tile_bytes_3d=2**22)  # deep, narrow tiles, as for a tall volume
    g = eng.grid(img, fs)
    assert g.tile[0] > 1 and g.tile[1] < 256
    vf = ViewFeatures(eng, img, fs, np.arange(300), np.arange(280), z=7)
    assert vf.plane_rows and len(vf) == 4 < g.counts[1] * g.counts[2]  # 256-pixel pieces, not one per tile
    ref = whole(img, fs)
    for k, (t, ry, rx) in enumerate(vf.pieces):
        fm, idx = vf.features(k)
        got = fm if idx is None else fm[:, idx]
        want = ref[:, 7][:, vf.rows[ry]][:, :, vf.cols[rx]].reshape(ref.shape[0], -1)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def _view_of_plane(eng, img, fs, z):
    """Every piece of a 1:1 view of plane ``z``, as the whole plane (F, rows, cols)."""
    vf = ViewFeatures(eng, img, fs, np.arange(img.shape_spatial[1]), np.arange(img.shape_spatial[2]), z=z)
    assert vf.plane_rows
    out = np.zeros((fs.n_features_for(img.n_channels, 3),) + img.shape_spatial[1:], np.float32)
    for k, (_, ry, rx) in enumerate(vf.pieces):
        fm, idx = vf.features(k)
        got = fm if idx is None else fm[:, idx]
        out[:, vf.rows[ry][:, None], vf.cols[rx][None, :]] = got.reshape(-1, ry.stop - ry.start, rx.stop - rx.start)
    return vf, out


def test_stepping_through_the_planes_of_a_volume_computes_the_next_ones_with_it():
    """A plane of deep 3D tiles is kept in the cache; stepping to a neighbouring plane computes the next
    ``ahead`` planes in that direction with it (the structure tensor's products across planes are shared), so
    the steps after it compute nothing; every plane equals the whole volume's features."""
    img, _ = pc.datasets.nuclei((12, 300, 280), seed=6)
    fs = pc.FeatureSet(sigmas=[0.7, 1.6])
    eng = TileEngine(2**30, tile_bytes_3d=2**22)
    ref = whole(img, fs)
    computed = []
    for z in (5, 6, 7, 8, 9, 4, 3, 2, 1, 5):
        before = eng.rows_computed
        vf, got = _view_of_plane(eng, img, fs, z)
        computed.append((eng.rows_computed - before) // (300 * 2))  # 300 rows a plane in two columns of pieces
        np.testing.assert_allclose(got, ref[:, z], rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    assert vf.ahead == 1
    # 5 alone (a first visit); 6 with 7; 8 with 9; 4 with 3; 2 with 1; 5 is still kept
    assert computed == [1, 2, 0, 2, 0, 2, 0, 2, 0, 0]


def test_a_small_budget_computes_one_plane_at_a_time():
    img, _ = pc.datasets.nuclei((12, 300, 280), seed=6)
    fs = pc.FeatureSet(sigmas=[0.7, 1.6])
    F = fs.n_features_for(2, 3)
    eng = TileEngine(3 * F * 300 * 280 * 4, tile_bytes_3d=2**22)  # room for three planes of the view: none ahead
    ref = whole(img, fs)
    for z in (5, 6, 7):
        before = eng.rows_computed
        vf, got = _view_of_plane(eng, img, fs, z)
        assert vf.ahead == 0 and eng.rows_computed - before == 300 * 2
        np.testing.assert_allclose(got, ref[:, z], rtol=1e-5, atol=1e-5 * np.abs(ref).max())
