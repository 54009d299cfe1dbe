import os

import h5py
import numpy as np
import pytest
import tifffile
import zarr

import jupyter_pixclass as pc
from jupyter_pixclass.io import atomic_write, write_array


@pytest.fixture
def arr(rng):
    return rng.integers(0, 4000, size=(3, 5, 24, 32), dtype=np.uint16)  # Z C Y X


def test_tiff_imagej_hyperstack_zcyx(tmp_path, arr):
    p = tmp_path / "stack.tif"
    tifffile.imwrite(p, arr, imagej=True, metadata={"axes": "ZCYX", "spacing": 2.5}, resolution=(1 / 0.5, 1 / 0.5))
    img = pc.load_image(p)
    assert img.axes == "ZYXC"
    assert img.data.shape == (3, 24, 32, 5)
    np.testing.assert_array_equal(img.data, np.moveaxis(arr, 1, -1))
    assert img.spacing == pytest.approx((2.5, 0.5, 0.5))
    assert img.path == str(p) and img.name == "stack"


def test_ome_tiff_axes_and_spacing(tmp_path, arr):
    p = tmp_path / "x.ome.tif"
    tifffile.imwrite(p, arr[0], ome=True, metadata={"axes": "CYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.3})
    img = pc.load_image(p)
    assert img.axes == "YXC" and img.n_channels == 5
    np.testing.assert_array_equal(img.data, np.moveaxis(arr[0], 0, -1))
    assert img.spacing == pytest.approx((0.3, 0.3))


def test_plain_tiff_guess_and_override(tmp_path, arr):
    p = tmp_path / "plain.tif"
    tifffile.imwrite(p, arr[:, 0])  # (3, 24, 32) without metadata
    assert pc.load_image(p, axes="ZYX").axes == "ZYXC"
    img = pc.load_image(p, axes="CYX")
    assert img.shape_spatial == (24, 32) and img.n_channels == 3


def test_hdf5_inner_path_dataset_and_single(tmp_path, arr):
    p = tmp_path / "d.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("grp/raw", data=arr[0]).attrs["axes"] = "CYX"
        f.create_dataset("other", data=arr[0, 0])
    a = pc.load_image(f"{p}/grp/raw")
    b = pc.load_image(p, dataset="grp/raw")
    np.testing.assert_array_equal(a.data, b.data)
    assert a.axes == "YXC" and a.n_channels == 5
    single = tmp_path / "s.h5"
    with h5py.File(single, "w") as f:
        f["only"] = arr[0, 0]
    assert pc.load_image(single).shape_spatial == (24, 32)


def test_hdf5_missing_dataset_lists_existing(tmp_path, arr):
    p = tmp_path / "d.h5"
    with h5py.File(p, "w") as f:
        f["a"] = arr[0, 0]
        f["b"] = arr[0, 0]
    with pytest.raises(KeyError, match=r"no dataset 'nope'.*\['a', 'b'\]"):
        pc.load_image(p, dataset="nope")
    with pytest.raises(ValueError, match="holds 2 datasets"):
        pc.load_image(p)


def test_npy_png_jpeg_zarr_roundtrip(tmp_path, arr):
    np.save(tmp_path / "a.npy", arr[0])
    img = pc.load_image(tmp_path / "a.npy", axes="CYX")
    np.testing.assert_array_equal(img.data, np.moveaxis(arr[0], 0, -1))

    from PIL import Image as PILImage

    rgb = (np.arange(24 * 32 * 3) % 251).astype(np.uint8).reshape(24, 32, 3)
    PILImage.fromarray(rgb).save(tmp_path / "a.png")
    img = pc.load_image(tmp_path / "a.png")
    np.testing.assert_array_equal(img.data, rgb)
    PILImage.fromarray(rgb[..., 0]).save(tmp_path / "a.jpg", quality=95)
    assert pc.load_image(tmp_path / "a.jpg").data.shape == (24, 32, 1)

    z = zarr.open(str(tmp_path / "v.zarr"), mode="w", shape=arr.shape, dtype=arr.dtype)
    z[...] = arr
    z.attrs["axes"] = "ZCYX"
    img = pc.load_image(tmp_path / "v.zarr")
    np.testing.assert_array_equal(img.data, np.moveaxis(arr, 1, -1))


def test_write_array_roundtrip_all_formats(tmp_path, arr):
    data = np.moveaxis(arr, 1, -1).astype(np.float32)  # ZYXC
    for name in ("o.tif", "o.h5", "o.npy"):
        axes = "ZCYX" if name.endswith("tif") else "ZYXC"
        out = np.moveaxis(data, -1, 1) if axes == "ZCYX" else data
        write_array(tmp_path / name, out, axes)
        back = pc.load_image(tmp_path / name, axes=None if not name.endswith("npy") else "ZYXC")
        assert back.axes == "ZYXC"
        np.testing.assert_array_equal(back.data, data)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image file.*nothere.tif"):
        pc.load_image(tmp_path / "nothere.tif")


def test_unknown_suffix(tmp_path):
    p = tmp_path / "x.bmpx"
    p.write_bytes(b"abc")
    with pytest.raises(ValueError, match=r"unknown suffix '.bmpx'.*supported"):
        pc.load_image(p)


@pytest.mark.parametrize("name", ["bad.tif", "bad.h5", "bad.npy", "bad.png"])
def test_corrupt_file(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ValueError, match=f"{name}.*(corrupt|truncated)"):
        pc.load_image(p)


def test_truncated_tiff(tmp_path, arr):
    p = tmp_path / "t.tif"
    tifffile.imwrite(p, arr[0])
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ValueError, match="t.tif"):
        pc.load_image(p)


def test_axes_do_not_fit(tmp_path, arr):
    np.save(tmp_path / "a.npy", arr)
    with pytest.raises(ValueError, match=r"axes 'CYX'.*a.npy.*\(3, 5, 24, 32\)"):
        pc.load_image(tmp_path / "a.npy", axes="CYX")


def test_more_than_one_time_point(tmp_path, arr):
    np.save(tmp_path / "t.npy", arr)
    with pytest.raises(ValueError, match=r"t.npy.*\(3, 5, 24, 32\) has 3 time points"):
        pc.load_image(tmp_path / "t.npy", axes="TCYX")
    np.save(tmp_path / "t1.npy", arr[:1])
    assert pc.load_image(tmp_path / "t1.npy", axes="TCYX").axes == "YXC"


def test_empty_and_nonfinite(tmp_path):
    np.save(tmp_path / "e.npy", np.zeros((0, 5)))
    with pytest.raises(ValueError, match=r"e.npy.*empty.*\(0, 5\)"):
        pc.load_image(tmp_path / "e.npy")
    x = np.ones((8, 8), np.float32)
    x[0, :3] = np.nan
    x[1, 0] = np.inf
    np.save(tmp_path / "n.npy", x)
    with pytest.raises(ValueError, match=r"n.npy.*3 NaN and 1 infinite"):
        pc.load_image(tmp_path / "n.npy")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.tif"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            open(tmp, "wb").write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.tif"]
