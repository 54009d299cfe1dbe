"""Each family against scipy/scikit-image references, to float32 tolerance."""
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.feature import hessian_matrix_eigvals, structure_tensor_eigenvalues

import jupyter_pixclass as pc
from jupyter_pixclass.engine.cache import FeatureCache

TOL = 2e-4  # relative to the reference's largest magnitude (float32 vs float64)


def close(a, b):
    scale = max(np.abs(b).max(), 1e-6)
    np.testing.assert_allclose(a, b, rtol=0, atol=TOL * scale)


@pytest.fixture(scope="module")
def x2():
    rng = np.random.default_rng(1)
    return ndi.gaussian_filter(rng.random((61, 53)), 1.0) * 100


def feats(x, family, sigma, **kw):
    img = pc.Image(x[..., None], axes="ZYXC" if x.ndim == 3 else "YXC", **kw)
    return pc.compute_features(img, pc.FeatureSet(sigmas=[sigma], families=[family]))


def gauss(x, s, order=0):
    return ndi.gaussian_filter(x, s, order=order, mode="reflect", truncate=4.0)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 3.5, 10.0])
def test_gaussian_log_ggm_dog(x2, sigma):
    close(feats(x2, "gaussian", sigma)[..., 0], gauss(x2, sigma))
    close(feats(x2, "log", sigma)[..., 0], ndi.gaussian_laplace(x2, sigma))
    close(feats(x2, "gradient_magnitude", sigma)[..., 0], ndi.gaussian_gradient_magnitude(x2, sigma))
    close(feats(x2, "dog", sigma)[..., 0], gauss(x2, sigma) - gauss(x2, 0.66 * sigma))


@pytest.mark.parametrize("sigma", [0.7, 1.6, 5.0])
def test_hessian_and_structure_tensor_eigenvalues(x2, sigma):
    H = [gauss(x2, sigma, (2, 0)), gauss(x2, sigma, (1, 1)), gauss(x2, sigma, (0, 2))]
    ref = hessian_matrix_eigvals(H)
    close(np.moveaxis(feats(x2, "hessian_eigenvalues", sigma), -1, 0), ref)
    gy, gx = gauss(x2, sigma, (1, 0)), gauss(x2, sigma, (0, 1))
    A = [gauss(gy * gy, 0.5 * sigma), gauss(gy * gx, 0.5 * sigma), gauss(gx * gx, 0.5 * sigma)]
    close(np.moveaxis(feats(x2, "structure_tensor_eigenvalues", sigma), -1, 0), structure_tensor_eigenvalues(A))



@pytest.mark.parametrize("ndim", [2, 3])
def test_features_of_a_bright_image_stay_finite_and_right(x2, ndim):
    # squares of gradients of ~1e13 overflow float32: the structure tensor's eigenvalues and the gradient
    # magnitude of a bright int64 image were inf, and its forest could not be trained
    x = x2 * 1e13 if ndim == 2 else np.stack([x2[:20, :20] * (1 + 0.1 * z) for z in range(6)]) * 1e13
    fs = pc.FeatureSet(sigmas=[1.0], families=["gradient_magnitude", "structure_tensor_eigenvalues",
                                                "hessian_eigenvalues"])
    F = pc.compute_features(pc.Image(x[..., None], axes="YXC" if ndim == 2 else "ZYXC"), fs)
    assert np.isfinite(F).all()
    if ndim == 2:
        close(F[..., 0], ndi.gaussian_gradient_magnitude(x2, 1.0) * 1e13)
        gy, gx = gauss(x, 1.0, (1, 0)), gauss(x, 1.0, (0, 1))
        A = [gauss(gy * gy, 0.5), gauss(gy * gx, 0.5), gauss(gx * gx, 0.5)]
        close(np.moveaxis(F[..., 1:3], -1, 0), structure_tensor_eigenvalues(A))

def test_3d_true_and_plane_by_plane():
    rng = np.random.default_rng(2)
    v = ndi.gaussian_filter(rng.random((12, 30, 28)), 1.0) * 10
    close(feats(v, "log", 1.6)[..., 0], ndi.gaussian_laplace(v, 1.6))
    H = [gauss(v, 1.6, o) for o in [(2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 2, 0), (0, 1, 1), (0, 0, 2)]]
    got = np.moveaxis(feats(v, "hessian_eigenvalues", 1.6), -1, 0)
    close(got, hessian_matrix_eigvals(H))
    img = pc.Image(v[..., None], axes="ZYXC")
    fs2 = pc.FeatureSet(sigmas=[1.6], families=["gaussian", "hessian_eigenvalues"], mode="2d")
    f2 = pc.compute_features(img, fs2)
    assert f2.shape == (12, 30, 28, 3)  # smoothing + 2 eigenvalues per plane
    close(f2[..., 0], np.stack([gauss(p, 1.6) for p in v]))
    # what an image of that many channels and axes gets: 2D filters give 2 eigenvalues, 3D ones 3
    fs3 = pc.FeatureSet(sigmas=[1.6], families=["gaussian", "hessian_eigenvalues"])
    assert fs2.n_features_for(2, 3) == 6 and fs3.n_features_for(2, 3) == 8 and fs3.n_features_for(2, 2) == 6
    assert pc.compute_features(img, fs3).shape[-1] == fs3.n_features_for(img.n_channels, img.ndim_spatial)


def test_3d_structure_tensor_and_mixed_families():
    rng = np.random.default_rng(6)
    v = ndi.gaussian_filter(rng.random((14, 26, 22)), 1.0) * 10
    s = 1.6
    g = [gauss(v, s, o) for o in [(1, 0, 0), (0, 1, 0), (0, 0, 1)]]
    A = [gauss(g[i] * g[j], 0.5 * s) for i in range(3) for j in range(i, 3)]
    close(np.moveaxis(feats(v, "structure_tensor_eigenvalues", s), -1, 0), structure_tensor_eigenvalues(A))
    # families that share a sigma are computed together; each plane must land in its own place
    fs = pc.FeatureSet(pairs=[("dog", 1.0), ("structure_tensor_eigenvalues", 1.0), ("gaussian", 3.5)])
    got = pc.compute_features(pc.Image(v[..., None], axes="ZYXC"), fs)
    assert fs.names(1, 3)[:2] == ["Gaussian Smoothing σ=3.5 [ch 1]", "Difference of Gaussians σ=1 [ch 1]"]
    close(got[..., 0], gauss(v, 3.5))
    close(got[..., 1], gauss(v, 1.0) - gauss(v, 0.66))
    close(got[..., 2:], feats(v, "structure_tensor_eigenvalues", 1.0))


@pytest.mark.parametrize("mode", ["auto", "2d", "σ 1.6 in 2D"])
def test_3d_blockwise_into_any_array_equals_whole(tmp_path, mode):
    import h5py

    rng = np.random.default_rng(7)
    v = pc.Image(rng.random((12, 30, 34, 2)).astype(np.float32), axes="ZYXC")
    fs = pc.FeatureSet(sigmas=[0.7, 1.6], mode=mode) if len(mode) < 5 else pc.FeatureSet(sigmas=[0.7, 1.6],
                                                                                           in_2d=[1.6])
    whole = np.moveaxis(pc.compute_features(v, fs), -1, 0)
    with h5py.File(tmp_path / "f.h5", "w") as f:  # not an ndarray: planes are written sigma by sigma
        ds = f.create_dataset("features", shape=whole.shape, dtype="float32")
        assert pc.compute_features(v, fs, block=(5, 16, 13), out=ds) is ds
        np.testing.assert_allclose(ds[...], whole, rtol=0, atol=1e-5 * np.abs(whole).max())
        ds2 = f.create_dataset("unblocked", shape=whole.shape, dtype="float32")  # whole image, caller's array
        pc.compute_features(v, fs, out=ds2)
        np.testing.assert_array_equal(ds2[...], whole)
    out = np.zeros_like(whole)
    pc.compute_features(v, fs, block=(7, 11, 20), out=out)
    np.testing.assert_allclose(out, whole, rtol=0, atol=1e-5 * np.abs(whole).max())


def test_anisotropic_spacing():
    rng = np.random.default_rng(3)
    v = ndi.gaussian_filter(rng.random((10, 24, 24)), 1.0)
    got = feats(v, "gaussian", 2.0, spacing=(2.0, 1.0, 1.0))[..., 0]
    close(got, ndi.gaussian_filter(v, (1.0, 2.0, 2.0), truncate=4.0))
    g = feats(v, "gradient_magnitude", 2.0, spacing=(2.0, 1.0, 1.0))[..., 0]
    gz = ndi.gaussian_filter(v, (1.0, 2.0, 2.0), order=(1, 0, 0)) / 2.0
    gy = ndi.gaussian_filter(v, (1.0, 2.0, 2.0), order=(0, 1, 0))
    gx = ndi.gaussian_filter(v, (1.0, 2.0, 2.0), order=(0, 0, 1))
    close(g, np.sqrt(gz**2 + gy**2 + gx**2))
    lap = feats(v, "log", 2.0, spacing=(2.0, 1.0, 1.0))[..., 0]
    ref = sum(ndi.gaussian_filter(v, (1.0, 2.0, 2.0), order=o) * f
              for o, f in [((2, 0, 0), 0.25), ((0, 2, 0), 1.0), ((0, 0, 2), 1.0)])
    close(lap, ref)


def test_tiny_images_still_work():
    x = np.arange(6, dtype=float).reshape(2, 3)
    f = pc.compute_features(pc.Image(x), pc.FeatureSet.default())
    assert f.shape == (2, 3, 49) and np.isfinite(f).all()
    close(f[..., 6], gauss(x, 10.0))  # Gaussian σ=10 on a 2x3 image: reflected, like scipy


def test_blockwise_equals_whole_and_bounds_out(x2):
    rng = np.random.default_rng(4)
    img = pc.Image(rng.random((70, 90, 2)).astype(np.float32), axes="YXC")
    fs = pc.FeatureSet(sigmas=[0.7, 3.5], families=None)
    whole = pc.compute_features(img, fs)
    blocked = pc.compute_features(img, fs, block=(32, 40))
    np.testing.assert_allclose(blocked, whole, rtol=0, atol=1e-5 * np.abs(whole).max())
    out = np.zeros((fs.n_features(2, 2), 70, 90), np.float32)
    assert pc.compute_features(img, fs, block=25, out=out) is out
    np.testing.assert_allclose(np.moveaxis(out, 0, -1), whole, atol=1e-5 * np.abs(whole).max())


def test_names_order_and_counts():
    fs = pc.FeatureSet.default()
    assert fs.n_features(1, 2) == 49 and fs.n_features(2, 2) == 98 and fs.n_features(1, 3) == 61
    names = fs.names(2, 2)
    assert len(names) == 98 and names[0] == "Gaussian Smoothing σ=0.3 [ch 1]"
    assert "Gaussian Gradient Magnitude σ=1.6 [ch 1]" in names
    assert names[49] == "Gaussian Smoothing σ=0.3 [ch 2]"
    assert "Hessian of Gaussian Eigenvalue 2 σ=10 [ch 2]" in names
    # order of compute_features == order of names: check one by value
    rng = np.random.default_rng(0)
    x = rng.random((40, 40))
    f = pc.compute_features(pc.Image(x), fs)
    j = names.index("Laplacian of Gaussian σ=3.5 [ch 1]")
    close(f[..., j], ndi.gaussian_laplace(x, 3.5))


def test_scales_in_2d_of_a_volume_are_its_planes_filtered_alone():
    """ilastik's "in 2D" column: those scales filtered plane by plane, the others in 3D, names and counts to match."""
    vol, _ = pc.datasets.nuclei((10, 40, 44), seed=2)
    fs = pc.FeatureSet(sigmas=[1.0, 3.0], in_2d=[3.0, 7.0])  # 7 is not in the set: nothing to filter
    assert fs.in_2d == (3.0,) and fs.n_features(1, 3) == (4 + 3 + 3) + (4 + 2 + 2) and fs.n_features(1, 2) == 16
    names = fs.names(2, 3)
    assert len(names) == 2 * 18 and "Hessian of Gaussian Eigenvalue 2 σ=3 in 2D [ch 2]" in names
    assert "Hessian of Gaussian Eigenvalue 3 σ=3 in 2D [ch 2]" not in names and fs.names(1, 2) == \
        pc.FeatureSet(sigmas=[1.0, 3.0]).names(1, 2)  # a 2D image: nothing changes
    got = pc.compute_features(vol, fs)
    ref = dict(zip(pc.FeatureSet(sigmas=[1.0]).names(2, 3), np.moveaxis(pc.compute_features(
        vol, pc.FeatureSet(sigmas=[1.0])), -1, 0)))
    flat = pc.FeatureSet(sigmas=[3.0], mode="2d")
    ref.update((n.replace("σ=3 ", "σ=3 in 2D "), a) for n, a in zip(
        flat.names(2, 2), np.moveaxis(pc.compute_features(vol, flat), -1, 0)))
    assert sorted(ref) == sorted(names)
    for j, n in enumerate(names):
        np.testing.assert_array_equal(got[..., j], ref[n], err_msg=n)
    # the set's identity: saved, compared, selected; a set without in_2d keeps the key saved forests name
    assert pc.FeatureSet.from_dict(fs.to_dict()) == fs != pc.FeatureSet(sigmas=[1.0, 3.0])
    assert pc.FeatureSet(sigmas=[1.0]).key() == ((("gaussian", 1.0),) + tuple(
        (f, 1.0) for f in pc.FeatureSet(sigmas=[1.0]).families[1:]), "auto", None)
    assert fs.select(max_sigma=2).in_2d == () and fs.select(families=["gaussian"]).in_2d == (3.0,)
    for bad in ("3", [0], [True], [float("nan")], {"a": 1}):
        with pytest.raises(ValueError, match="in_2d"):
            pc.FeatureSet(sigmas=[3.0], in_2d=bad)


def test_select_dict_roundtrip_and_errors():
    fs = pc.FeatureSet.default().select(min_sigma=1.0)
    assert fs.sigmas == [1.0, 1.6, 3.5, 5.0, 10.0] and len(fs.pairs) == 6 * 5
    assert pc.FeatureSet.from_dict(fs.to_dict()) == fs
    assert fs.select(families=["gaussian"]).families == ["gaussian"]
    with pytest.raises(ValueError, match="unknown feature family 'sobel'"):
        pc.FeatureSet(families=["sobel"])
    with pytest.raises(ValueError, match="positive"):
        pc.FeatureSet(sigmas=[0])
    assert pc.FeatureSet(sigmas=[100]).sigmas == [100.0]
    with pytest.raises(ValueError, match="sigma 1e\\+07 for 'gaussian' is larger than 100 pixels"):
        pc.FeatureSet(sigmas=[1e7])  # its kernel, not the image, sets the cost: hours on a 512 x 512 image
    with pytest.raises(ValueError, match="mode='3d' needs a 3D image"):
        pc.compute_features(pc.Image(np.zeros((8, 8))), pc.FeatureSet(mode="3d"))


def test_cache_lru_budget():
    c = FeatureCache(max_bytes=3000)
    calls = []

    def mk(n):
        calls.append(n)
        return np.zeros(n // 4, np.float32)

    c.get("a", lambda: mk(1000))
    c.get("b", lambda: mk(1000))
    c.get("a", lambda: mk(1000))  # hit, refreshes "a"
    c.get("c", lambda: mk(1500))  # evicts "b", the least recently used
    assert "a" in c and "c" in c and "b" not in c
    assert calls == [1000, 1000, 1500] and c.hits == 1
    c.get("huge", lambda: mk(10000))
    assert "huge" not in c


def test_project_cache_survives_label_changes(scene):
    img, truth = scene
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]))
    i = p.add_image(img)
    p.paint(i, truth["classes"] == 1, 1)
    p.paint(i, truth["classes"] == 3, 2)
    p.train()
    misses = p.engine.cache.misses
    p.paint(i, truth["classes"] == 2, 2)
    p.train()
    assert p.engine.cache.misses == misses


def test_percentile_normalization_is_per_image_and_blockwise_exact():
    rng = np.random.default_rng(5)
    x = ndi.gaussian_filter(rng.random((60, 70)), 2).astype(np.float32)
    fs = pc.FeatureSet(sigmas=[1.0, 3.5], families=["gaussian", "log"], normalize="percentile")
    a = pc.compute_features(pc.Image(x), fs)
    b = pc.compute_features(pc.Image(x * 7 + 100), fs)  # brighter image, same structure
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(pc.compute_features(pc.Image(x), fs, block=(25, 30)), a, atol=1e-5)
    assert pc.FeatureSet.from_dict(fs.to_dict()) == fs and fs.key() != pc.FeatureSet(sigmas=[1.0, 3.5], families=["gaussian", "log"]).key()
    with pytest.raises(ValueError, match="normalize must be None or 'percentile'"):
        pc.FeatureSet(normalize="zscore")


def test_block_for_budget():
    from jupyter_pixclass.features.blocks import block_for_budget

    fs = pc.FeatureSet.default()
    assert block_for_budget((1024, 1024), fs, 2) == (1024, 1024)  # 0.4 GB of features: one block
    big = block_for_budget((4096, 4096), fs, 2)
    assert 98 * 4 * np.prod(big) <= 2 * 2**30 and np.prod(big) < 4096**2
    small = pc.FeatureSet(sigmas=[0.7, 1.6, 3.5])
    b = block_for_budget((128, 1024, 1024), small, 2)
    assert b[0] == 128  # the whole depth: no halo along Z at all
    tight = block_for_budget((128, 1024, 1024), small, 2, budget=2**28)
    assert np.prod(tight) < np.prod(b)
    h = small.halo(3)
    ext = np.prod([min(x + 2 * h, n) for x, n in zip(tight, (128, 1024, 1024))])
    assert 4 * (small.n_features(2, 3) * np.prod(tight) + 20 * ext) <= 2**28


def test_block_for_budget_when_nothing_fits():
    from jupyter_pixclass.features.blocks import block_for_budget

    assert block_for_budget((64, 300, 300), pc.FeatureSet.default(), 2, budget=1) == (16, 16, 16)


@pytest.mark.parametrize("shape", [(90, 100), (12, 40, 44)])
def test_only_the_wanted_features_are_computed_and_equal_the_whole_sets(shape):
    """A view too big to keep computes, for each forest, only the features it reads: those equal the whole
    set's bit for bit, the others are 0, and (channel, sigma) passes nothing wants are not run."""
    from jupyter_pixclass.features import compute

    img, _ = pc.datasets.nuclei(shape, seed=1)
    data = img.data.astype(np.float32)
    inner = tuple(slice(2, n - 3) for n in shape)
    spacing = (1.0,) * len(shape)
    for fs in (pc.FeatureSet.default(), pc.FeatureSet(sigmas=[1.0, 3.5], in_2d=[3.5]),
               pc.FeatureSet(sigmas=[1.0, 3.5], mode="2d")):
        full = compute.features_inner(data, fs, spacing, inner)
        for seed in range(4):
            wanted = np.random.default_rng(seed).random(full.shape[0]) < 0.15
            wanted[-1] = seed == 3  # the last channel's last feature, or nothing of it
            got = compute.features_inner(data, fs, spacing, inner, wanted=wanted)
            np.testing.assert_array_equal(got[wanted], full[wanted])
            reused = np.full(full.size + 7, np.nan, np.float32)  # a buffer holding an earlier piece's features
            np.testing.assert_array_equal(compute.features_inner(data, fs, spacing, inner, out=reused, wanted=wanted), got)
            assert not got[~wanted].any(axis=tuple(range(1, got.ndim))).all()  # most stay 0
        with pytest.raises(ValueError, match=r"wanted has shape \(3,\)"):
            compute.features_inner(data, fs, spacing, inner, wanted=np.ones(3, bool))
    # a channel with nothing wanted is not computed at all
    calls = []
    real = compute._channel_features
    try:
        compute._channel_features = lambda x, *a, **k: calls.append(x.shape) or real(x, *a, **k)
        wanted = np.zeros(full.shape[0], bool)
        wanted[0] = True  # channel 1's first feature
        compute.features_inner(data, fs, spacing, inner, wanted=wanted)
    finally:
        compute._channel_features = real
    assert len(calls) == (1 if len(shape) == 2 else shape[0] - 5)  # plane by plane: each inner plane, once
