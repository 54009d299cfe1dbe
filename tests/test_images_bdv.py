"""BigDataViewer HDF5 files (Fiji's BigStitcher, pybdv), built here with h5py in its layout, read as images."""
import pickle

import h5py
import numpy as np
import pytest

import jupyter_pixclass as pc

XML = """<?xml version="1.0" encoding="UTF-8"?>
<SpimData version="0.2">
  <SequenceDescription>
    <ImageLoader format="bdv.hdf5"><hdf5 type="relative">{name}</hdf5></ImageLoader>
    <ViewSetups>{setups}</ViewSetups>
  </SequenceDescription>
</SpimData>
"""
SETUP = ("<ViewSetup><id>{i}</id><name>{n}</name><size>{x} {y} {z}</size><voxelSize><unit>micrometer</unit>"
         "<size>0.2 0.2 1.5</size></voxelSize></ViewSetup>")


def write_bdv(path, data, names=None):
    """``data`` (T, S, Z, Y, X) uint16 as BigDataViewer writes it: int16 ``cells``, two levels a setup."""
    T, S, Z, Y, X = data.shape
    with h5py.File(path, "w") as f:
        for s in range(S):
            f[f"s{s:02d}/resolutions"] = np.array([[1, 1, 1], [2, 2, 2]], np.float64)
            f[f"s{s:02d}/subdivisions"] = np.array([[16, 16, 16], [16, 16, 16]], np.int32)
            for t in range(T):
                f.create_dataset(f"t{t:05d}/s{s:02d}/0/cells", data=data[t, s].view(np.int16), chunks=True)
                f[f"t{t:05d}/s{s:02d}/1/cells"] = data[t, s, ::2, ::2, ::2].view(np.int16)
    if names:
        setups = "".join(SETUP.format(i=i, n=n, x=X, y=Y, z=Z) for i, n in enumerate(names))
        path.with_suffix(".xml").write_text(XML.format(name=path.name, setups=setups))


@pytest.fixture
def volume():
    vol, _ = pc.datasets.nuclei((12, 48, 56), seed=4)
    czyx = np.moveaxis(np.asarray(vol.data), -1, 0).astype(np.uint16)
    czyx[0, 0, 0, :4] = [40000, 50000, 65535, 32768]  # beyond int16: BigDataViewer's int16 holds uint16
    return czyx


def test_a_bigdataviewer_file_is_its_views_at_full_resolution(tmp_path, volume):
    # load_image listed its 8 datasets and asked to choose one; the int16 it stores would have read 40000 as -25536
    write_bdv(tmp_path / "v.h5", volume[None], names=["cytoplasm", "DAPI"])
    for lazy in (False, True):
        img = pc.load_image(tmp_path / "v.h5", lazy=lazy)
        assert img.lazy == lazy and img.axes == "ZYXC" and img.data.dtype == np.uint16
        assert img.channel_names == ["cytoplasm", "DAPI"] and img.spacing == pytest.approx((1.5, 0.2, 0.2))
        np.testing.assert_array_equal(np.asarray(img.data[...]), np.moveaxis(volume, 0, -1))
    lazy = pc.load_image(tmp_path / "v.h5", lazy=True)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(lazy.data))[3:5, 10:20],
                                  np.moveaxis(volume, 0, -1)[3:5, 10:20])
    one = pc.load_image(tmp_path / "v.h5", dataset="t00000/s01/0/cells", axes="ZYX")  # one view, as before
    assert one.n_channels == 1


def test_a_bigdataviewer_movie_of_planes_is_frames_of_2d_images(tmp_path, volume):
    movie = np.stack([volume[:, 3:4], volume[:, 7:8]])  # T, S, Z=1, Y, X
    write_bdv(tmp_path / "m.h5", movie)  # no .xml beside it: unnamed channels, pixel units
    img = pc.load_image(tmp_path / "m.h5")
    assert img.axes == "TYXC" and img.channel_names == ["ch 1", "ch 2"]
    p = pc.Project()
    assert p.add_image(tmp_path / "m.h5") == [0, 1]
    np.testing.assert_array_equal(np.asarray(p.images[1].data[...]), np.moveaxis(volume[:, 7], 0, -1))


def test_bigdataviewer_views_of_other_shapes_and_missing_views_are_refused(tmp_path, volume):
    write_bdv(tmp_path / "v.h5", volume[None])
    with h5py.File(tmp_path / "v.h5", "a") as f:
        f["s02/resolutions"] = np.ones((1, 3))
        f["t00000/s02/0/cells"] = np.zeros((4, 8, 8), np.int16)  # a tile, not a channel
    with pytest.raises(ValueError, match=r"v.h5.*t00000/s02/0/cells is int16 \(4, 8, 8\).*dataset='t00000/s02"):
        pc.load_image(tmp_path / "v.h5")
    with h5py.File(tmp_path / "v.h5", "a") as f:
        del f["t00000/s02/0/cells"]
    with pytest.raises(ValueError, match=r"v.h5.*t00000/s02/0/cells is missing"):
        pc.load_image(tmp_path / "v.h5")
    (tmp_path / "v.xml").write_text("<SpimData><unclosed>")  # a broken description: the pixels still read
    with h5py.File(tmp_path / "v.h5", "a") as f:
        del f["s02"]
    assert pc.load_image(tmp_path / "v.h5").channel_names == ["ch 1", "ch 2"]
