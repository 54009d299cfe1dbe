import numpy as np
import pytest

import jupyter_pixclass as pc


def test_channel_last_conversions():
    a = np.zeros((2, 5, 7, 9))
    img = pc.Image(a, axes="CZYX")
    assert img.axes == "ZYXC" and img.data.shape == (5, 7, 9, 2)
    assert img.ndim_spatial == 3 and img.n_channels == 2 and img.shape_spatial == (5, 7, 9)
    assert img.shape == (5, 7, 9, 2) == img.data.shape  # as for an array
    assert img.spacing == (1.0, 1.0, 1.0)
    assert pc.Image(np.zeros((7, 9))).data.shape == (7, 9, 1)


def test_bad_spacing_and_axes():
    with pytest.raises(ValueError, match="spacing"):
        pc.Image(np.zeros((4, 4)), spacing=(1, 0))
    with pytest.raises(ValueError, match=r"axes 'YXQ'"):
        pc.Image(np.zeros((4, 4, 2)), axes="YXQ")
    with pytest.raises(ValueError, match="channel names"):
        pc.Image(np.zeros((4, 4, 2)), axes="YXC", channel_names=["a"])


def test_a_large_dask_or_zarr_array_stays_where_it_is(monkeypatch, tmp_path):
    # np.asarray read them whole: a dask array of a 20 GB image filled memory before anything else happened
    import dask.array as da
    import zarr

    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", "8MiB")  # an eighth: 1 MiB
    rng = np.random.default_rng(0)
    a = rng.random((512, 400, 2)).astype(np.float32)  # 1.6 MB

    z = zarr.open(str(tmp_path / "z.zarr"), mode="w", shape=a.shape, chunks=(64, 64, 2), dtype=a.dtype)
    z[...] = a
    for arr in (da.from_array(a, chunks=(64, 64, 2)), z):
        img = pc.Image(arr, axes="YXC")
        assert img.lazy and img.shape == a.shape
        np.testing.assert_array_equal(np.asarray(img.data[10:20, 30:40]), a[10:20, 30:40])
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]))
    i = p.add_image(da.from_array(a, chunks=(64, 64, 2)))  # channel-last, as add_image takes an array
    assert p.images[i].lazy
    lab = np.zeros(a.shape[:2], np.uint8)
    lab[5:9, 5:9], lab[300:304, 300:304] = 1, 2
    p.set_labels(i, lab)
    p.train()
    assert p.predict(i).shape == (512, 400, 2)
    with pytest.raises(ValueError, match="image 0 .* with no file the project could name"):
        p.save(tmp_path / "p.h5")  # saved before, then refused on loading: "holds neither pixels nor a path"
    assert not (tmp_path / "p.h5").exists()
    assert not pc.Image(da.from_array(a[:8, :8]), axes="YXC").lazy  # small: read, as before
