"""Imaris .ims files, built here with h5py in Bitplane's "Imaris 5.5" layout, read as images."""
import pickle
import shutil

import h5py
import numpy as np
import pytest

import jupyter_pixclass as pc


def chars(s):
    """An attribute as Imaris writes text: an array of one-character strings."""
    return np.array([c.encode() for c in str(s)], dtype="S1")


def write_ims(path, data, names=None, chunks=(16, 64, 64)):
    """``data`` (T, C, Z, Y, X); each channel padded to whole chunks with junk, a coarser level beside it."""
    T, C, Z, Y, X = data.shape
    with h5py.File(path, "w") as f:
        f.attrs["ImarisDataSet"] = chars("ImarisDataSet")
        f.attrs["ImarisVersion"] = chars("5.5.0")
        img = f.create_group("DataSetInfo/Image")
        for k, v in (("X", X), ("Y", Y), ("Z", Z), ("Unit", "um"), ("ExtMin0", "-10.0"), ("ExtMin1", "0"),
                     ("ExtMin2", "0"), ("ExtMax0", f"{-10 + X * 0.325:.4f}"), ("ExtMax1", f"{Y * 0.325:.4f}"),
                     ("ExtMax2", f"{Z * 2.0:.4f}")):
            img.attrs[k] = chars(v)
        pad = tuple(-(-n // c) * c for n, c in zip((Z, Y, X), chunks))
        for t in range(T):
            for c in range(C):
                d = f.create_group(f"DataSet/ResolutionLevel 0/TimePoint {t}/Channel {c}").create_dataset(
                    "Data", shape=pad, dtype=data.dtype, chunks=chunks, compression="gzip")
                d[...] = 99  # the padding: never to be read as pixels
                d[:Z, :Y, :X] = data[t, c]
                f[f"DataSet/ResolutionLevel 1/TimePoint {t}/Channel {c}/Data"] = data[t, c, ::2, ::2, ::2]
        for c in range(C):
            f.create_group(f"DataSetInfo/Channel {c}").attrs["Name"] = chars(names[c] if names else "")


@pytest.fixture
def scene():
    vol, truth = pc.datasets.nuclei((20, 70, 90), seed=2)
    return vol, truth


def test_an_imaris_file_is_read_whole_or_region_by_region(tmp_path, scene):
    # .ims was refused ("convert it with bioformats2raw"), though it is HDF5
    vol, _ = scene
    write_ims(tmp_path / "a.ims", np.moveaxis(np.asarray(vol.data), -1, 0)[None], names=["cytoplasm", "DAPI"])
    whole = pc.load_image(tmp_path / "a.ims", lazy=False)
    lazy = pc.load_image(tmp_path / "a.ims", lazy=True)
    for img in (whole, lazy):
        assert img.axes == "ZYXC" and img.channel_names == ["cytoplasm", "DAPI"]
        assert img.spacing == pytest.approx((2.0, 0.325, 0.325))  # the extent over the size, in its unit
        np.testing.assert_array_equal(np.asarray(img.data[...]), vol.data)  # no padding read as pixels
    assert lazy.lazy and not whole.lazy
    np.testing.assert_array_equal(lazy.data[3:9, 60:70, 80:90], vol.data[3:9, 60:70, 80:90])
    np.testing.assert_array_equal(lazy.data[5, :, :, 1], vol.data[5, :, :, 1])
    again = pickle.loads(pickle.dumps(lazy.data))  # dask workers get the path, not an open file
    np.testing.assert_array_equal(again[2:4], vol.data[2:4])


def test_imaris_time_points_and_unnamed_channels(tmp_path, scene):
    vol, _ = scene
    czyx = np.moveaxis(np.asarray(vol.data), -1, 0)
    write_ims(tmp_path / "m.ims", np.stack([czyx, czyx[:, ::-1]]))
    movie = pc.load_image(tmp_path / "m.ims")
    assert movie.axes == "TZYXC" and movie.channel_names == ["ch 1", "ch 2"]
    p = pc.Project()
    assert p.add_image(tmp_path / "m.ims") == [0, 1]  # a frame each
    np.testing.assert_array_equal(np.asarray(p.images[1].data[...]), vol.data[::-1])


def test_damaged_imaris_files_are_refused_naming_the_file(tmp_path, scene):
    vol, _ = scene
    write_ims(tmp_path / "a.ims", np.moveaxis(np.asarray(vol.data), -1, 0)[None])

    def damaged(change):
        shutil.copy(tmp_path / "a.ims", tmp_path / "b.ims")
        with h5py.File(tmp_path / "b.ims", "a") as f:
            change(f)
        return tmp_path / "b.ims"

    cases = [
        (lambda f: f["DataSetInfo/Image"].attrs.__setitem__("X", chars(999999)), r"smaller than the image"),
        (lambda f: f["DataSetInfo/Image"].attrs.__setitem__("Z", chars("x")), r"attribute Z is 'x', not a number"),
        (lambda f: f["DataSetInfo/Image"].attrs.__setitem__("Y", chars(0)), r"is not positive"),
        (lambda f: f.__delitem__("DataSet/ResolutionLevel 0/TimePoint 0/Channel 1/Data"), r"Channel 1/Data is missing"),
        (lambda f: f.__delitem__("DataSetInfo"), r"not an Imaris 5.5 file"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=r"b.ims.*" + message):
            pc.load_image(damaged(change))
    (tmp_path / "c.ims").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match=r"c.ims.*as an Imaris"):
        pc.load_image(tmp_path / "c.ims")
