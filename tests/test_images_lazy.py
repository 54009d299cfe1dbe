"""Images that stay in their file: every backend read lazily, nothing read whole, OME-Zarr in and out."""
import h5py
import numpy as np
import pytest
import tifffile
import zarr

import jupyter_pixclass as pc
from jupyter_pixclass.images.lazy import LazyArray


@pytest.fixture(scope="module")
def volume():
    img, truth = pc.datasets.nuclei((24, 96, 96), seed=7)
    return img, truth


def stored(img):
    """The volume as a file would hold it: z, c, y, x."""
    return np.ascontiguousarray(np.moveaxis(img.data, -1, 1))


@pytest.mark.parametrize("fmt", ["h5", "zarr", "ome.zarr", "tif", "npy"])
def test_every_backend_opens_lazily_and_reads_what_is_asked(volume, tmp_path, fmt):
    img, _ = volume
    raw = stored(img)
    p = tmp_path / f"v.{fmt}"
    if fmt == "h5":
        with h5py.File(p, "w") as f:
            f.create_dataset("raw", data=raw, chunks=(4, 1, 32, 32)).attrs["axes"] = "ZCYX"
    elif fmt == "zarr":
        z = zarr.open(str(p), mode="w", shape=raw.shape, chunks=(4, 1, 32, 32), dtype=raw.dtype)
        z[...] = raw
        z.attrs["axes"] = "ZCYX"
    elif fmt == "ome.zarr":
        pc.io.write_array(p, raw, "ZCYX", spacing=(2.0, 0.5, 0.5))
    elif fmt == "tif":
        tifffile.imwrite(p, raw, imagej=True, metadata={"axes": "ZCYX"})
    else:
        np.save(p, np.moveaxis(raw, 1, -1))
    lazy = pc.load_image(p, lazy=True)
    assert lazy.lazy and lazy.shape_spatial == img.shape_spatial and lazy.n_channels == 2
    np.testing.assert_array_equal(lazy.data[5, 10:40, 3:9], img.data[5, 10:40, 3:9])
    np.testing.assert_array_equal(lazy.data[3:20:4, ::7, 50, 1], img.data[3:20:4, ::7, 50, 1])
    eager = pc.load_image(p, lazy=False)
    assert not eager.lazy and isinstance(eager.data, np.ndarray)
    np.testing.assert_array_equal(eager.data, img.data)
    if fmt == "ome.zarr":
        assert lazy.spacing == (2.0, 0.5, 0.5) and eager.spacing == (2.0, 0.5, 0.5)


def test_lazy_none_follows_the_memory_budget(volume, tmp_path, monkeypatch):
    img, _ = volume
    np.save(tmp_path / "v.npy", img.data)
    assert not pc.load_image(tmp_path / "v.npy").lazy
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", "1MB")  # an eighth of it is less than these pixels
    assert pc.load_image(tmp_path / "v.npy").lazy
    from PIL import Image as PILImage

    PILImage.fromarray(img.data[0, ..., 0].astype(np.uint8)).save(tmp_path / "p.png")
    assert not pc.load_image(tmp_path / "p.png").lazy  # compressed whole: never lazy
    with pytest.raises(ValueError, match="p.png.*cannot be read lazily"):
        pc.load_image(tmp_path / "p.png", lazy=True)


def test_nothing_is_read_whole(volume, tmp_path, monkeypatch, counting_array):
    """Training, prediction, features and export of a lazy volume read it piece by piece."""
    img, truth = volume
    cls = truth["classes"]

    def trained_on(where):
        src = counting_array(stored(img))
        lazy = pc.Image(LazyArray(src, "ZCYX"), spacing=img.spacing)
        p = pc.Project(features=pc.FeatureSet(sigmas=[1.0, 2.0]), n_estimators=20)
        p.engine.tile_bytes_3d = 2**20  # tiles much smaller than the volume, as in a large one
        lab = np.zeros(cls.shape, np.uint8)
        lab[where] = np.where(cls[where] == 1, 1, 2)
        p.set_labels(p.add_image(lazy), lab)
        p.train()
        return p, src

    p, src = trained_on((slice(10, 14), slice(0, 64, 3), slice(0, 64, 3)))  # sparse labels in one corner
    everywhere = trained_on((slice(None), slice(None, None, 3), slice(None, None, 3)))[1]
    assert src.read < 0.5 * everywhere.read  # the tiles around the strokes, not the volume
    assert src.largest < src.data.size / 4
    ref = pc.Project(features=p.features, n_estimators=20)
    ref.set_labels(ref.add_image(img), np.asarray(p.labels(0)))
    np.testing.assert_allclose(p.predict(0), ref.train().predict(0), atol=1e-6)
    fs = pc.FeatureSet(sigmas=[1.5], families=["gaussian", "hessian_eigenvalues"])
    np.testing.assert_allclose(pc.compute_features(p.images[0], fs), pc.compute_features(img, fs), atol=1e-4)
    src.largest = 0
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", "24MB")  # blocks of a quarter of it, as in a large volume
    out = p.export(0, tmp_path / "prob.h5")  # streamed block by block
    with h5py.File(out) as f:
        np.testing.assert_allclose(f["exported_data"][...], ref.predict(0), atol=1e-6)
    assert src.largest < src.data.size


def test_labels_of_a_lazy_image_are_chunked(tmp_path):
    """Memory follows what is painted; paint, erase, undo, class removal, save and load keep it chunked."""
    shape = (40, 600, 600)
    tif = tmp_path / "v.tif"
    tifffile.imwrite(tif, np.random.default_rng(0).integers(0, 255, shape, np.uint8), imagej=True,
                     metadata={"axes": "ZYX"})
    p = pc.Project(["Nucleus", "Background", "Other"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    i = p.add_image(pc.load_image(tif, lazy=True))
    lab = p.labels(i)
    assert type(lab).__name__ == "ChunkedLabels" and lab.nbytes == 0
    p.paint_pixels(i, (np.array([3, 3, 3]), np.array([10, 11, 12]), np.array([5, 5, 5])), 1)
    p.paint_pixels(i, (np.array([30]), np.array([590]), np.array([590])), 3)
    assert len(lab.chunks) == 2 and lab.nbytes < 0.2 * np.prod(shape)  # 2 of 27 chunks
    before = p.replace_labels(i, np.full(shape[1:], 2, np.uint8), z=7)  # a whole plane, then undone
    assert (p.labels(i)[7] == 2).all() and not before.any()
    p.replace_labels(i, before, z=7)
    assert not p.labels(i)[7].any() and len(lab.chunks) == 2  # the chunks of the plane went again
    p.paint_pixels(i, (np.array([3]), np.array([11]), np.array([5])), 0)  # erase one
    p.remove_class("Background")
    dense = np.asarray(p.labels(i))
    assert dense[3, 10, 5] == 1 and dense[3, 11, 5] == 0 and dense[30, 590, 590] == 2 and dense.sum() == 4
    p.paint_pixels(i, (np.array([20]), np.array([300]), np.array([300])), 2)
    p.train()
    saved = p.save(tmp_path / "p.h5")
    with h5py.File(saved) as f:
        assert "data" not in f["images/0"] and f["images/0/labels"].id.get_num_chunks() == 3  # a path, 3 chunks
    q = pc.Project.load(saved)
    assert q.images[0].lazy and type(q.labels(0)).__name__ == "ChunkedLabels" and len(q.labels(0).chunks) == 3
    np.testing.assert_array_equal(np.asarray(q.labels(0)), np.asarray(p.labels(i)))
    for k in q.forest.ARRAYS:
        np.testing.assert_array_equal(getattr(q.forest, k), getattr(p.forest, k))
    np.testing.assert_array_equal(q.train().forest.threshold, p.forest.threshold)  # the same labels again
    # compared as an array is (``(labels > 0).sum()`` raised TypeError), when the whole labels fit in memory
    assert (lab > 0).sum() == 4 and (lab == 2).sum() == 2 and (lab != 0).sum() == 4 and not (lab >= 1).all()
    huge = type(lab)((200_000, 200_000))
    with pytest.raises(ValueError, match="too large to compare whole: read them where painted"):
        huge > 0


def test_ome_zarr_written_is_read_by_ome_zarr(volume, trained, tmp_path):
    """Export to .ome.zarr: a multiscale NGFF image ome-zarr-py reads, axes with units and scales."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    big = pc.datasets.nuclei((600, 540), seed=2)[0]
    out = trained.export(big, tmp_path / "prob.ome.zarr")
    node = list(Reader(parse_url(str(out)))())[0]
    shapes = [tuple(d.shape) for d in node.data]
    assert shapes == [(2, 600, 540), (2, 300, 270), (2, 150, 135)]  # halved until no side is over 256
    assert [a["name"] for a in node.metadata["axes"]] == ["c", "y", "x"]
    np.testing.assert_allclose(np.asarray(node.data[0]), np.moveaxis(trained.predict(big), -1, 0), atol=1e-6)
    back = pc.load_image(out, lazy=True)
    assert back.lazy and back.data.shape == (600, 540, 2) and len(back.levels) == len(shapes) - 1
    img, _ = volume
    vol = tmp_path / "v.ome.zarr"
    pc.io.write_array(vol, stored(img), "ZCYX", spacing=(3.0, 0.25, 0.25))
    node = list(Reader(parse_url(str(vol)))())[0]
    scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
    assert scales[0] == [1.0, 3.0, 0.25, 0.25]


def test_ome_zarr_ngff_05_from_ome_zarr_py_is_read(tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    a = (np.random.default_rng(0).random((2, 12, 300, 280)) * 999).astype(np.uint16)
    root = zarr.group(store=parse_url(str(tmp_path / "w.ome.zarr"), mode="w").store)
    write_image(a, root, axes="czyx")
    img = pc.load_image(tmp_path / "w.ome.zarr", lazy=True)
    assert img.lazy and img.axes == "ZYXC" and img.data.shape == (12, 300, 280, 2) and img.levels
    np.testing.assert_array_equal(img.data[4, 100:110, 7], np.moveaxis(a[:, 4, 100:110, 7], 0, -1))


def test_bioformats2raw_layout_opens_its_first_image_and_each_by_path(tmp_path):
    # bioformats2raw (and the NGFF converters) put each image of a file in a subgroup: "Zarr group without
    # OME-NGFF 'multiscales' metadata" before, and "x.zarr/1" looked for an array named '1'
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    rng = np.random.default_rng(0)
    a, b = (rng.random((2, 64, 80)) * 999).astype(np.uint16), (rng.random((3, 32, 40)) * 999).astype(np.uint16)
    root = zarr.group(store=parse_url(str(tmp_path / "c.zarr"), mode="w").store)
    write_image(a, root.create_group("0"), axes="cyx")
    write_image(b, root.create_group("1"), axes="cyx")
    meta = dict(root.attrs)
    if "ome" in meta:  # NGFF 0.5 keeps it under "ome"
        root.attrs["ome"] = dict(meta["ome"], **{"bioformats2raw.layout": 3})
    else:
        root.attrs["bioformats2raw.layout"] = 3
    for lazy in (False, True):
        img = pc.load_image(tmp_path / "c.zarr", lazy=lazy)
        np.testing.assert_array_equal(np.asarray(img.data[...]), np.moveaxis(a, 0, -1))
        one = pc.load_image(f"{tmp_path / 'c.zarr'}/1", lazy=lazy)
        assert one.name == "c_1" and one.shape == (32, 40, 3)
        np.testing.assert_array_equal(np.asarray(one.data[...]), np.moveaxis(b, 0, -1))
    root.create_group("OME").attrs["series"] = ["1", "0"]  # the series bioformats2raw lists come first
    assert pc.load_image(tmp_path / "c.zarr").shape == (32, 40, 3)


def test_a_pyramidal_ome_tiff_keeps_its_levels_and_a_zoomed_out_view_reads_them(tmp_path):
    from jupyter_pixclass.app.canvas_view import section_pixels

    top = (np.random.default_rng(1).random((2, 1024, 768)) * 999).astype(np.uint16)
    # coarser levels that are not the finest one subsampled, so where a pixel came from shows
    halves, quarters = np.full((2, 512, 384), 7, np.uint16), np.full((2, 256, 192), 9, np.uint16)
    with tifffile.TiffWriter(tmp_path / "p.ome.tif", ome=True) as w:  # as bfconvert and QuPath write them
        w.write(top, subifds=2, tile=(256, 256), metadata={"axes": "CYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        w.write(halves, subfiletype=1, tile=(256, 256))
        w.write(quarters, subfiletype=1, tile=(256, 256))
    img = pc.load_image(tmp_path / "p.ome.tif", lazy=True)
    assert [lv.shape for lv in img.levels] == [(512, 384, 2), (256, 192, 2)] and img.spacing == (0.5, 0.5)
    rows, cols = np.arange(0, 1024, 4), np.arange(0, 768, 4)
    assert (section_pixels(img, None, None, rows, cols, [0, 1], (0.25, 0.25)) == 9).all()  # 1 : 4 shows level 2
    assert (section_pixels(img, None, None, rows[:50], cols[:50], [1], (0.5, 0.5)) == 7).all()
    np.testing.assert_array_equal(section_pixels(img, None, None, rows, cols, [0], (1.0, 1.0))[..., 0],
                                  top[0][np.ix_(rows, cols)])  # at 1 : 1 the finest level
    assert pc.load_image(tmp_path / "p.ome.tif", lazy=False).levels == []  # read whole: nothing to spare


def test_an_imagej_tiff_is_read_tile_by_tile_not_plane_by_plane(tmp_path, monkeypatch):
    import os

    from jupyter_pixclass.images.lazy import MappedArray

    planes = (np.random.default_rng(2).random((2, 512, 640)) * 999).astype(np.uint16)
    # as ImageJ and Fiji save a hyperstack: uncompressed, one strip a plane, so tifffile's Zarr store
    # made each plane one chunk, and a 32 x 32 tile read both 640 kB planes whole
    tifffile.imwrite(tmp_path / "ij.tif", planes, imagej=True, metadata={"axes": "CYX"})
    img = pc.load_image(tmp_path / "ij.tif", lazy=True)
    assert isinstance(img.data.source, MappedArray)
    read = []
    real = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, at: read.append(n) or real(fd, n, at))
    np.testing.assert_array_equal(img.data[100:132, 200:232], np.moveaxis(planes[:, 100:132, 200:232], 0, -1))
    assert sum(read) == 2 * 32 * 32 * 2  # the tile's rows in each plane, nothing else
    read.clear()
    np.testing.assert_array_equal(img.data[::16, 5::7, 1], planes[1, ::16, 5::7])
    assert sum(read) == 32 * 635 * 2  # every 16th row of one plane, from column 5 to the last one taken


def test_a_region_read_from_a_file_is_what_numpy_gives(tmp_path):
    from jupyter_pixclass.images.lazy import MappedArray

    rng = np.random.default_rng(0)
    for shape in [(2, 37, 53), (37, 53, 3), (5, 2, 17, 19), (100,)]:
        a = (rng.random(shape) * 1000).astype(">u2")  # big-endian, after a 13-byte header
        (tmp_path / "a.raw").write_bytes(b"x" * 13 + a.tobytes())
        m = MappedArray(tmp_path / "a.raw", 13, a.shape, a.dtype)
        for key in [..., (0,), (slice(1, None, 3),), (slice(None), slice(2, 30, 4)), (-1,), (slice(0, 0),),
                    (Ellipsis, slice(3, 9)), (1, slice(None, None, 2), 2)[:len(shape)]]:
            try:
                want = a[key]
            except IndexError:  # more indices than axes: refused alike
                with pytest.raises(IndexError):
                    m[key]
                continue
            np.testing.assert_array_equal(m[key], want)
            assert m[key].shape == want.shape
    with pytest.raises(IndexError):
        m[np.array([1, 2])]


def test_a_damaged_file_left_in_place_is_named_when_a_read_fails(tmp_path):
    tifffile.imwrite(tmp_path / "whole.tif", np.ones((2, 512, 512), np.uint16), imagej=True, metadata={"axes": "CYX"})
    data = (tmp_path / "whole.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])  # a copy that stopped half way
    img = pc.load_image(tmp_path / "cut.tif", lazy=True)  # opening reads no pixel: the damage shows on reading
    with pytest.raises(ValueError, match=r"could not read '.*cut.tif' \(damaged or truncated\?\)"):
        img.data[500:510, 500:510]  # tifffile's own TiffFileError named no file



def test_nan_in_an_image_left_in_its_file_is_refused_where_it_is_read(tmp_path, scene):
    # a registered volume padded with NaN: read tile by tile it was never checked, its features were NaN, and
    # the forest trained on them predicted 0.5 everywhere, even where the image was fine
    img, truth = scene
    a = np.asarray(img.data, np.float32).copy()
    a[:40] = np.nan
    zarr.open(str(tmp_path / "nan.zarr"), mode="w", shape=a.shape, chunks=(64, 64, a.shape[2]), dtype="f4")[:] = a
    lazy = pc.load_image(tmp_path / "nan.zarr", axes="YXC", lazy=True)
    assert np.isfinite(lazy.data[100:164, 0:64]).all()  # regions without NaN read as usual
    with pytest.raises(ValueError, match=r"nan.zarr' \(the region 0:64, 0:64, 0:\d\) of shape .* has 5120 NaN"):
        lazy.data[0:64, 0:64]
    p = pc.Project()
    p.add_image(lazy)
    lab = np.zeros(lazy.shape_spatial, np.uint8)
    lab[truth["classes"] == 1], lab[truth["classes"] == 3] = 1, 2
    p.set_labels(0, lab)
    with pytest.raises(ValueError, match=r"nan.zarr.*NaN.*write a copy without them \(e.g. dask.*load that"):
        p.train()

def test_damaged_ome_zarr_metadata_gets_errors_naming_the_file(tmp_path):
    p = tmp_path / "d.ome.zarr"
    pc.io.write_array(p, np.zeros((2, 300, 300), np.uint8), "CYX")
    g = zarr.open_group(str(p), mode="r+")
    ms = g.attrs["multiscales"]
    ms[0]["datasets"][1]["path"] = "nope"
    g.attrs["multiscales"] = ms
    with pytest.raises(ValueError, match="d.ome.zarr.*level 'nope'.*missing"):
        pc.load_image(p)
    ms[0]["datasets"] = [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, -1, 1]}]}]
    g.attrs["multiscales"] = ms
    with pytest.raises(ValueError, match="scale of level '0' should be 3 positive numbers"):
        pc.load_image(p)


def test_batch_of_a_lazy_volume_into_ome_zarr(volume, tmp_path):
    img, truth = volume
    img = pc.Image(img.data, axes="ZYXC", spacing=(2.0, 1.0, 1.0))  # planes twice as far apart as pixels
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0, 2.0]), n_estimators=10)
    p.set_labels(p.add_image(img), pc.datasets.scribbles(truth["classes"], n_strokes=3, mapping={1: 1, 2: 2, 3: 2}))
    p.train()
    src = tmp_path / "in.ome.zarr"
    pc.io.write_array(src, stored(img), "ZCYX", spacing=(2.0, 1.0, 1.0))
    outs = pc.batch_predict(p, [str(src)], tmp_path / "out", format="ome-zarr", max_voxels=1000, progress=False,
                            source="simple_segmentation", dtype="uint8")  # streamed: larger than max_voxels
    got = pc.load_image(outs[0])
    assert outs[0].endswith("in_simple_segmentation.ome.zarr") and got.spacing == (2.0, 1.0, 1.0)
    np.testing.assert_array_equal(got.data[..., 0], p.segment(0))


def test_batch_on_a_local_cluster_writes_ome_zarr_from_the_workers(volume, tmp_path):
    """Scale out: the workers read their blocks of a lazy OME-Zarr volume and write theirs into the output."""
    from dask.distributed import Client, LocalCluster

    img, truth = volume
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0, 2.0]), n_estimators=10)
    p.set_labels(p.add_image(img), pc.datasets.scribbles(truth["classes"], n_strokes=3, mapping={1: 1, 2: 2, 3: 2}))
    p.train()
    src = tmp_path / "in.ome.zarr"
    pc.io.write_array(src, stored(img), "ZCYX")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        outs = pc.batch_predict(p, [str(src)], tmp_path / "out", format="ome-zarr", scheduler=client,
                                progress=False)
    got = pc.load_image(outs[0], lazy=True)
    assert got.lazy and got.data.shape == img.shape_spatial + (2,)
    np.testing.assert_allclose(got.data[...], p.predict(0), atol=1e-6)


def test_batch_of_an_hdf5_file_on_a_cluster(volume, tmp_path):
    """An open HDF5 dataset cannot travel to dask workers: a file that fits is read and sent as an array."""
    from dask.distributed import Client, LocalCluster

    img, truth = volume
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    p.set_labels(p.add_image(img), pc.datasets.scribbles(truth["classes"], n_strokes=3, mapping={1: 1, 2: 2, 3: 2}))
    p.train()
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("raw", data=stored(img)).attrs["axes"] = "ZCYX"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        outs = pc.batch_predict(p, [str(src)], tmp_path / "out", format="hdf5", scheduler=client, progress=False,
                                raise_on_error=True, source="simple_segmentation")
    with h5py.File(outs[0]) as f:
        np.testing.assert_array_equal(f["exported_data"][...], p.segment(0))
