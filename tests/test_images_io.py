import os
import sys
import warnings

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


@pytest.mark.parametrize("lazy", [False, True])
def test_tiffs_under_other_names_are_read_and_vendor_formats_get_a_way_out(tmp_path, arr, lazy):
    # Zeiss LSM, MetaMorph STK, Aperio SVS ... are TIFFs tifffile reads: "unknown suffix" before
    tifffile.imwrite(tmp_path / "a.tif", arr[0], imagej=True, metadata={"axes": "ZYX"})
    os.replace(tmp_path / "a.tif", tmp_path / "a.stk")
    img = pc.load_image(tmp_path / "a.stk", lazy=lazy)
    np.testing.assert_array_equal(np.asarray(img.data[...])[..., 0], arr[0])
    (tmp_path / "b.czi").write_bytes(b"ZISRAWFILE")
    with pytest.raises(ValueError, match=r"unknown suffix '.czi'.*convert it with bioformats2raw"):
        pc.load_image(tmp_path / "b.czi", lazy=lazy)


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
    for lazy in (False, True):  # a letter that is no axis: the file and what to give
        with pytest.raises(ValueError, match=r"axes 'QZYX' do not fit '.*a.npy' .*distinct letter from 'TZCYX'"):
            pc.load_image(tmp_path / "a.npy", axes="QZYX", lazy=lazy)


def test_axis_metadata_nested_too_deeply_is_refused_naming_the_file(tmp_path, arr):
    with h5py.File(tmp_path / "deep.h5", "w") as f:  # JSON deeper than the parser's stack
        f.create_dataset("raw", data=arr[0]).attrs["axistags"] = '{"a": ' * 5000 + "1" + "}" * 5000
    with pytest.raises(ValueError, match=r"deep.h5.*axis metadata .* is unreadable: RecursionError"):
        pc.load_image(tmp_path / "deep.h5")


def test_time_series_keep_their_t_axis(tmp_path, arr):
    np.save(tmp_path / "t.npy", arr)
    m = pc.load_image(tmp_path / "t.npy", axes="TCYX")
    assert m.axes == "TYXC" and m.n_timepoints == 3 and m.shape_spatial == (24, 32) and m.ndim_spatial == 2
    frames = m.frames()
    assert len(frames) == 3 and frames[2].series == ("t", 2, 3) and frames[2].axes == "YXC"
    np.testing.assert_array_equal(frames[1].data, np.moveaxis(arr[1], 0, -1))
    np.save(tmp_path / "t1.npy", arr[:1])
    assert pc.load_image(tmp_path / "t1.npy", axes="TCYX").axes == "YXC"  # one time point: a plain image
    with pytest.raises(ValueError, match=r"time series of 3 frames.*\(3, 24, 32, 5\)"):
        pc.compute_features(m)


@pytest.mark.parametrize("axes,shape", [("TYX", (4, 20, 22)), ("TZCYX", (3, 5, 2, 20, 22))])
def test_time_series_round_trips_through_files(tmp_path, axes, shape):
    data = np.random.default_rng(0).integers(0, 1000, shape).astype(np.uint16)
    tifffile.imwrite(tmp_path / "m.tif", data, imagej=True, metadata={"axes": axes})
    m = pc.load_image(tmp_path / "m.tif")
    assert m.axes == ("TZYXC" if "Z" in axes else "TYXC") and m.n_timepoints == shape[0]
    src = axes if "C" in axes else axes + "C"
    ref = data if "C" in axes else data[..., None]
    np.testing.assert_array_equal(m.data, np.transpose(ref, [src.index(a) for a in m.axes]))
    pc.io.write_array(tmp_path / "m.h5", m.data, m.axes)
    back = pc.load_image(tmp_path / "m.h5")
    assert back.axes == m.axes
    np.testing.assert_array_equal(back.data, m.data)


def test_steinbock_channel_names_beside_the_stack(tmp_path):
    names = ["Histone H3", "CD45", "E-Cadherin", "panCK"]
    data = np.arange(4 * 8 * 9, dtype=np.uint16).reshape(4, 8, 9)
    (tmp_path / "img").mkdir()
    tifffile.imwrite(tmp_path / "img" / "a.tiff", data)
    (tmp_path / "panel.csv").write_text("channel,name,keep,ilastik\n" + "".join(
        f"Ch{i},{n},1,{int(i != 1)}\n" for i, n in enumerate(names)) + "Ch9,,0,0\n")
    assert pc.load_image(tmp_path / "img" / "a.tiff", axes="CYX").channel_names == names  # the kept rows
    with h5py.File(tmp_path / "img" / "a_s2.h5", "w") as f:
        f["stacks/default"] = data  # an ilastik stack: mean + the ilastik channels
    assert pc.load_image(tmp_path / "img" / "a_s2.h5", axes="CYX").channel_names == [
        "mean", "Histone H3", "E-Cadherin", "panCK"]
    (tmp_path / "img" / "a_s2_ilastik.csv").write_text("channel,name\nm,M\na,A\nb,B\nc,C\n")
    assert pc.load_image(tmp_path / "img" / "a_s2.h5", axes="CYX").channel_names == ["M", "A", "B", "C"]
    (tmp_path / "x" / "y").mkdir(parents=True)
    tifffile.imwrite(tmp_path / "x" / "y" / "o.tif", data[:2])  # no CSV near: default names
    assert pc.load_image(tmp_path / "x" / "y" / "o.tif", axes="CYX").channel_names == ["ch 1", "ch 2"]


@pytest.mark.parametrize("lazy", [False, True])
def test_channel_names_from_ome_and_imagej_metadata(tmp_path, lazy):
    data = np.arange(3 * 2 * 8 * 9, dtype=np.uint16).reshape(3, 2, 8, 9)
    tifffile.imwrite(tmp_path / "o.ome.tif", data[0], metadata={"axes": "CYX", "Channel": {"Name": ["DAPI", "GFP"]}})
    assert pc.load_image(tmp_path / "o.ome.tif", lazy=lazy).channel_names == ["DAPI", "GFP"]
    # ImageJ labels its planes, channel fastest: a channel's planes share the name
    tifffile.imwrite(tmp_path / "j.tif", data, imagej=True, metadata={"axes": "ZCYX", "Labels": ["DAPI", "GFP"] * 3})
    assert pc.load_image(tmp_path / "j.tif", lazy=lazy).channel_names == ["DAPI", "GFP"]
    tifffile.imwrite(tmp_path / "z.tif", data, imagej=True, metadata={"axes": "ZCYX", "Labels": list("abcdef")})
    assert pc.load_image(tmp_path / "z.tif", lazy=lazy).channel_names == ["ch 1", "ch 2"]  # per plane, not channel
    tifffile.imwrite(tmp_path / "l.tif", data[0], imagej=True, metadata={"axes": "CYX", "Labels": ["x" * 300, "y"]})
    assert pc.load_image(tmp_path / "l.tif", lazy=lazy).channel_names == ["ch 1", "ch 2"]


@pytest.mark.parametrize("lazy", [False, True])
def test_colour_images_name_their_channels_red_green_blue(tmp_path, lazy):
    from PIL import Image as PILImage

    rgb = np.zeros((16, 20, 3), np.uint8)
    rgb[..., 0], rgb[4:, :, 1], rgb[:, 5:, 2] = 200, 120, 60
    tifffile.imwrite(tmp_path / "scan.tif", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "scan_a.tif", np.dstack([rgb, rgb[..., :1]]), photometric="rgb",
                     extrasamples=["unassalpha"])
    tifffile.imwrite(tmp_path / "grey3.tif", np.moveaxis(rgb, -1, 0))  # tifffile calls this planar RGB: a stack
    tifffile.imwrite(tmp_path / "deep.tif", rgb.astype(np.uint16) * 200)  # 16-bit counts, not a photograph
    assert pc.load_image(tmp_path / "scan.tif", lazy=lazy).channel_names == ["red", "green", "blue"]
    assert pc.load_image(tmp_path / "scan_a.tif", lazy=lazy).channel_names == ["red", "green", "blue", "alpha"]
    assert pc.load_image(tmp_path / "grey3.tif", axes="CYX", lazy=lazy).channel_names == ["ch 1", "ch 2", "ch 3"]
    assert pc.load_image(tmp_path / "deep.tif", lazy=lazy).channel_names == ["ch 1", "ch 2", "ch 3"]
    if lazy:
        return
    PILImage.fromarray(rgb).save(tmp_path / "photo.png")
    PILImage.fromarray(rgb).convert("CMYK").save(tmp_path / "print.jpg", quality=100)  # a CMYK JPEG
    PILImage.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    png = pc.load_image(tmp_path / "photo.png")
    assert png.channel_names == ["red", "green", "blue"] and np.array_equal(png.data, rgb)
    cmyk = pc.load_image(tmp_path / "print.jpg")  # decoded to RGB, not four ink channels
    assert cmyk.channel_names == ["red", "green", "blue"] and np.abs(cmyk.data.astype(int) - rgb).max() < 12
    assert pc.load_image(tmp_path / "grey.png").channel_names == ["ch 1"]


@pytest.mark.parametrize("lazy", [False, True])
def test_each_image_of_a_multi_position_tiff_is_reached_by_number(tmp_path, lazy):
    # a multi-position OME-TIFF (Bio-Formats' export of a .lif or .czi): only the first image was read, without a
    # word, and dataset= was ignored for TIFFs
    f = tmp_path / "plate.ome.tif"
    with tifffile.TiffWriter(f, ome=True) as tw:
        for i in range(3):
            tw.write(np.full((2, 12, 16), 10 * i + 1, np.uint16),
                     metadata={"axes": "CYX", "Channel": {"Name": [f"DAPI {i}", f"GFP {i}"]}})
    with pytest.warns(UserWarning, match=r"holds 3 images; opened the first. '.*plate.ome.tif/1'"):
        first = pc.load_image(f, lazy=lazy)
    assert first.name == "plate" and np.asarray(first.data[:]).max() == 1 and first.channel_names == ["DAPI 0", "GFP 0"]
    second = pc.load_image(f"{f}/1", lazy=lazy)
    assert second.name == "plate_1" and second.path == f"{f}/1" and second.lazy == lazy
    assert np.asarray(second.data[:]).max() == 11 and second.channel_names == ["DAPI 1", "GFP 1"]
    assert np.asarray(pc.load_image(f, dataset="2", lazy=lazy).data[:]).max() == 21
    with pytest.raises(ValueError, match=r"holds 3 images \(0..2\); there is no image 3"):
        pc.load_image(f"{f}/3", lazy=lazy)
    with pytest.raises(ValueError, match="chosen by number"):
        pc.load_image(f, dataset="Image1", lazy=lazy)
    with pytest.raises(ValueError, match="holds one image: dataset 'x'"):
        np.save(tmp_path / "a.npy", np.zeros((4, 4), np.uint8))
        pc.load_image(tmp_path / "a.npy", dataset="x")
    p = pc.Project()
    p.add_image(second)
    p.save(tmp_path / "p.h5")  # the path says which image: loading it again reads the same one
    assert np.asarray(pc.Project.load(tmp_path / "p.h5").images[0].data[:]).max() == 11


def test_a_stack_without_axes_says_it_was_read_as_channels(tmp_path):
    # a z-stack saved by a plain tifffile / numpy call became a 24-channel plane without a word
    vol = np.zeros((24, 16, 16), np.uint16)
    tifffile.imwrite(tmp_path / "z.tif", vol)
    np.save(tmp_path / "z.npy", vol)
    for f in ("z.tif", "z.npy"):
        with pytest.warns(UserWarning, match=r"read shape \(24, 16, 16\) as 'CYX', 24 channels.*axes='ZYX'"):
            assert pc.load_image(tmp_path / f).n_channels == 24
    tifffile.imwrite(tmp_path / "ij.tif", vol, imagej=True, metadata={"axes": "ZYX"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file or the caller says: nothing to warn about
        assert pc.load_image(tmp_path / "z.tif", axes="ZYX").shape_spatial == (24, 16, 16)
        assert pc.load_image(tmp_path / "ij.tif").shape_spatial == (24, 16, 16)
        assert pc.load_image(tmp_path / "z.npy", axes="CYX").n_channels == 24


@pytest.mark.parametrize("compression", ["jpeg", "jpeg2000", "lzw", "zstd"])
def test_compressed_tiffs_of_slide_scanners_and_qupath_are_read(tmp_path, compression):
    # JPEG and JPEG 2000 tiles (Aperio, Hamamatsu, QuPath's RGB OME-TIFFs) need imagecodecs, a dependency now
    from skimage import data

    rgb = np.tile(data.immunohistochemistry(), (2, 2, 1))
    f = tmp_path / f"slide_{compression}.tif"
    tifffile.imwrite(f, rgb, photometric="rgb", compression=compression, tile=(256, 256))
    for lazy in (False, True):
        img = pc.load_image(f, lazy=lazy)
        assert img.channel_names == ["red", "green", "blue"] and img.lazy == lazy
        err = np.abs(np.asarray(img.data[100:400, 200:600]).astype(int) - rgb[100:400, 200:600]).mean()
        assert err < (3 if compression == "jpeg" else 1e-9)  # JPEG is lossy


def test_crops_keep_channel_names(tmp_path):
    img, _ = pc.datasets.imc((50, 60), n_channels=5)
    out = pc.preprocess.crops(pc.preprocess.add_mean_channel(img), size=40, out_dir=tmp_path)
    back = pc.load_image(out[0][2])
    assert back.channel_names == ["mean"] + img.channel_names
    np.testing.assert_array_equal(back.data, out[0][0].data)

def test_a_tiff_larger_than_memory_is_refused_before_it_is_read(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((2, 512, 512), np.uint16), imagej=True, metadata={"axes": "CYX"})
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", "1MiB")  # half of it may be read at once: the 1 MB image may not

    def read(*a, **k):
        raise AssertionError("read before its size was checked")

    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", read)
    with pytest.raises(ValueError, match=r"big.tif.*\(2, 512, 512\).*larger than this process may read at once"):
        pc.load_image(tmp_path / "big.tif", lazy=False)
    assert pc.load_image(tmp_path / "big.tif").lazy  # by default it stays in its file


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
    # values whose features overflow float32 (squared gradients beyond 1e38), integers too
    np.save(tmp_path / "big.npy", np.full((8, 8), 3e19))
    np.save(tmp_path / "big64.npy", np.arange(64, dtype=np.int64).reshape(8, 8) * 2**58)
    for name in ("big.npy", "big64.npy"):
        with pytest.raises(ValueError, match=name + r".*values up to .*e\+1[89].*rescale"):
            pc.load_image(tmp_path / name)
    assert pc.load_image(tmp_path / "n.npy", lazy=True).lazy  # left in the file: checked where it is read


def test_files_written_atomically_get_the_usual_permissions(tmp_path, trained):
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = trained.export(0, tmp_path / "p.tif")
        trained.save(tmp_path / "p.h5")  # both went through a private temporary (0600)
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o644  # a colleague, a web server can read them
        assert stat.S_IMODE(os.stat(tmp_path / "p.h5").st_mode) == 0o644
        os.chmod(tmp_path / "p.h5", 0o640)
        trained.save(tmp_path / "p.h5")
        assert stat.S_IMODE(os.stat(tmp_path / "p.h5").st_mode) == 0o640  # a replaced file keeps its own
        os.umask(0o077)
        out = trained.export(0, tmp_path / "q.npy")
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    finally:
        os.umask(old)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.tif"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            open(tmp, "wb").write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.tif"]


def _folder_write(target, text):
    with atomic_write(target) as tmp:
        os.remove(tmp)  # a file until the writer makes it a folder, as the Zarr writers do
        os.makedirs(tmp)
        open(os.path.join(tmp, "data"), "w").write(text)


def test_replacing_a_zarr_folder_never_moves_the_old_one_aside(tmp_path, monkeypatch):
    """Where the OS swaps two paths in one step, the output folder is never missing, not for an instant."""
    from jupyter_pixclass.images import atomic

    target = tmp_path / "out.zarr"
    _folder_write(target, "old")
    moved = []
    real = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (moved.append(os.fspath(a)), real(a, b)))
    _folder_write(target, "new")
    if sys.platform.startswith("linux"):
        assert os.fspath(target) not in moved
    assert (target / "data").read_text() == "new" and os.listdir(tmp_path) == ["out.zarr"]


def test_a_writer_killed_between_renames_loses_no_output(tmp_path, monkeypatch):
    """Without the one-step swap, a kill between the two renames leaves the old folder aside: the next
    write puts it back before anything else, and the user's last output is never deleted."""
    from jupyter_pixclass.images import atomic

    target = tmp_path / "out.zarr"
    _folder_write(target, "old")
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    real, calls = os.replace, []

    def killed_after_first(a, b):
        calls.append(a)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if killed between the renames
        return real(a, b)

    monkeypatch.setattr(atomic.os, "replace", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        _folder_write(target, "new")
    monkeypatch.setattr(atomic.os, "replace", real)
    assert not target.exists()
    aside = [n for n in os.listdir(tmp_path) if n.endswith(".old")]
    assert len(aside) == 1
    dead = os.path.join(tmp_path, aside[0].replace(f"-{os.getpid()}.", "-999999999."))  # its writer is gone
    os.rename(tmp_path / aside[0], dead)
    atomic._remove_stale_temporaries(os.fspath(tmp_path), "out.zarr")
    assert (target / "data").read_text() == "old"
    _folder_write(target, "newer")
    assert (target / "data").read_text() == "newer" and os.listdir(tmp_path) == ["out.zarr"]


def test_missing_zarr_chunk_without_fill_value_is_refused_naming_it(tmp_path):
    # fill_value null (Zarr v2): a missing chunk has no defined pixels; zarr itself would read zeros
    a = zarr.create_array(str(tmp_path / "v2.zarr"), shape=(64, 64), chunks=(32, 32), dtype="u2",
                          zarr_format=2, fill_value=None)
    a[:] = 7
    assert pc.load_image(tmp_path / "v2.zarr").data.min() == 7
    os.remove(tmp_path / "v2.zarr" / "0.1")
    with pytest.raises(ValueError, match=r"v2\.zarr.*missing 1 of its 4 chunks.*'0\.1'"):
        pc.load_image(tmp_path / "v2.zarr")


def test_missing_zarr_chunk_with_fill_value_reads_as_fill_value(tmp_path):
    # the spec's meaning of a missing chunk when the array declares a fill value (zarr 3 skips such chunks)
    a = zarr.create_array(str(tmp_path / "v3.zarr"), shape=(64, 64), chunks=(32, 32), dtype="u2", fill_value=3)
    a[:32] = 7
    assert a.nchunks_initialized == 2
    data = pc.load_image(tmp_path / "v3.zarr").data[..., 0]
    assert (data[:32] == 7).all() and (data[32:] == 3).all()


def test_a_pattern_reads_one_file_a_plane_as_a_volume(tmp_path, monkeypatch):
    # a z-stack exported one TIFF a plane (as microscopes and Fiji's "Image Sequence" write it) was "no such image
    # file"; tifffile.imread and napari read the pattern as a volume
    vol, truth = pc.datasets.nuclei((11, 24, 28), seed=2)
    (tmp_path / "z").mkdir()
    for z in range(11):  # unpadded numbers: natural order puts z_2 before z_10
        tifffile.imwrite(tmp_path / "z" / f"cells_z{z}.tif", np.moveaxis(np.asarray(vol.data[z]), -1, 0),
                         imagej=True, metadata={"axes": "CYX", "Labels": ["cyto", "dapi"]})
    img = pc.load_image(tmp_path / "z" / "cells_z*.tif")
    assert img.axes == "ZYXC" and img.name == "cells_z" and img.channel_names == ["cyto", "dapi"]
    np.testing.assert_array_equal(img.data, vol.data)
    p = pc.Project(["Nucleus", "Background"])
    p.add_image(str(tmp_path / "z" / "*.tif"))
    p.save(tmp_path / "p.h5")  # no one file to reopen: the pixels are kept
    np.testing.assert_array_equal(pc.Project.load(tmp_path / "p.h5").images[0].data, vol.data)
    with pytest.raises(FileNotFoundError, match=r"no image file matches '.*none_\*.tif'"):
        pc.load_image(tmp_path / "z" / "none_*.tif")
    with pytest.raises(ValueError, match="axes must start with 'Z'; got 'CYX'"):
        pc.load_image(tmp_path / "z" / "*.tif", axes="CYX")
    tifffile.imwrite(tmp_path / "z" / "cells_z5.tif", np.zeros((2, 20, 28), np.uint16), imagej=True,
                     metadata={"axes": "CYX"})
    with pytest.raises(ValueError, match=r"cells_z5.tif.*\(20, 28, 2\).* is not like .*cells_z0.tif"):
        pc.load_image(tmp_path / "z" / "*.tif")
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", "40kB")  # the 30 kB volume is more than may be read at once
    with pytest.raises(ValueError, match=r"stack of 11 files of shape \(11, 24, 28, 2\).*lazy=True\) leaves it"):
        pc.load_image(tmp_path / "z" / "cells_z*.tif", lazy=False)


def test_a_pattern_too_big_to_hold_stays_in_its_files(tmp_path, monkeypatch):
    # a volume of GBs saved one TIFF a plane is read region by region, plane files opened as reached
    import pickle

    vol, truth = pc.datasets.nuclei((12, 40, 44), seed=2)
    (tmp_path / "z").mkdir()
    for z in range(12):
        tifffile.imwrite(tmp_path / "z" / f"p_{z:02d}.tif", np.moveaxis(np.asarray(vol.data[z]), -1, 0),
                         imagej=True, metadata={"axes": "CYX", "Labels": ["cyto", "dapi"]})
    pattern = str(tmp_path / "z" / "p_*.tif")
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", "200kB")  # an eighth of it is less than the 84 kB volume
    img = pc.load_image(pattern)
    monkeypatch.delenv("PIXCLASS_MEMORY_LIMIT")
    assert img.lazy and img.axes == "ZYXC" and img.channel_names == ["cyto", "dapi"] and img.path == pattern
    src = img.data.source
    opened = []
    real = src.opener
    src.opener = lambda f: opened.append(f) or real(f)
    np.testing.assert_array_equal(img.data[3:6, 5:20, 10:30], vol.data[3:6, 5:20, 10:30])
    assert [os.path.basename(f) for f in opened] == ["p_03.tif", "p_04.tif", "p_05.tif"]  # only the planes asked for
    np.testing.assert_array_equal(img.data[7], vol.data[7])
    src.opener = real
    np.testing.assert_array_equal(np.asarray(pickle.loads(pickle.dumps(img.data))[...]), vol.data)  # to dask workers
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    p.add_image(img)
    lab = np.zeros(vol.shape_spatial, np.uint8)
    lab[:, :8][truth["classes"][:, :8] == 1], lab[:, :8][truth["classes"][:, :8] == 3] = 1, 2
    p.set_labels(0, lab)
    q = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    q.add_image(vol)
    q.set_labels(0, lab)
    np.testing.assert_array_equal(p.train().predict(0), q.train().predict(0))
    p.save(tmp_path / "p.h5")  # kept as its pattern, found again
    again = pc.Project.load(tmp_path / "p.h5").images[0]
    assert again.lazy and again.path == pattern
    np.testing.assert_array_equal(np.asarray(again.data[...]), vol.data)
    tifffile.imwrite(tmp_path / "z" / "p_05.tif", np.zeros((2, 40, 40), np.uint16), imagej=True,
                     metadata={"axes": "CYX"})
    with pytest.raises(ValueError, match=r"p_05.tif' holds uint16 \(2, 40, 40\), not .* \(2, 40, 44\)"):
        img.data[4:6]


def test_a_tiff_read_whole_is_read_once(tmp_path, monkeypatch):
    # load_image(lazy=False) read a TIFF's pixels, then opened and read them again
    import jupyter_pixclass.images.formats as formats

    tifffile.imwrite(tmp_path / "a.tif", np.arange(64 * 48, dtype=np.uint16).reshape(64, 48))
    reads = []
    real = formats._read_tiff
    monkeypatch.setattr(formats, "_read_tiff", lambda *a, **k: reads.append(a) or real(*a, **k))
    for lazy in (False, None):
        reads.clear()
        img = pc.load_image(tmp_path / "a.tif", lazy=lazy)
        assert len(reads) == 1 and int(img.data[5, 7, 0]) == 5 * 48 + 7


def test_a_5d_array_without_axes_is_read_channel_last_as_ilastik_reads_it(tmp_path):
    # ilastik's test data 1t3d2c.h5 / 5t3d2c.h5: (t, z, y, x, c) without axistags read as T, Z, C=y, Y=x, X=c
    data = np.arange(3 * 5 * 7 * 9 * 2, dtype=np.uint8).reshape(3, 5, 7, 9, 2)
    with h5py.File(tmp_path / "5t3d2c.h5", "w") as f:
        f["data"] = data
    img = pc.load_image(tmp_path / "5t3d2c.h5")
    assert img.axes == "TZYXC" and img.data.shape == (3, 5, 7, 9, 2)
    np.testing.assert_array_equal(img.data, data)
    np.save(tmp_path / "imc.npy", np.zeros((2, 3, 12, 16, 16), np.uint16))  # a long axis before y, x: channels
    assert pc.load_image(tmp_path / "imc.npy").data.shape == (2, 3, 16, 16, 12)


@pytest.mark.parametrize("lazy", [False, True])
def test_one_plane_of_a_volume_is_a_2d_image(tmp_path, lazy):
    # bioformats2raw writes every image as tczyx and ilastik 1.x kept 2D data as txyzc: a slide converted to
    # OME-Zarr became a one-plane volume (3D features, xz/yz panes, and a 2D classifier refused it)
    import json

    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    img, _ = pc.datasets.nuclei((64, 80), seed=1)
    tczyx = np.moveaxis(np.asarray(img.data), -1, 0)[None, :, None]
    write_image(image=tczyx, group=zarr.group(store=parse_url(tmp_path / "slide.ome.zarr", mode="w").store),
                axes="tczyx")
    with h5py.File(tmp_path / "old.h5", "w") as f:
        d = f.create_dataset("data", data=tczyx.transpose(0, 4, 3, 2, 1))  # t x y z c, as ilastik 1.x
        d.attrs["axistags"] = json.dumps({"axes": [{"key": k, "typeFlags": 2, "resolution": 0, "description": ""}
                                                   for k in "txyzc"]})
        d.attrs["spacing"] = [3.0, 0.25, 0.5]  # z, y, x: the plane keeps y and x
    for f in ("slide.ome.zarr", "old.h5"):
        got = pc.load_image(tmp_path / f, lazy=lazy)
        assert got.axes == "YXC" and got.lazy == lazy
        np.testing.assert_array_equal(np.asarray(got.data[...]), img.data)
    assert pc.load_image(tmp_path / "old.h5", lazy=lazy).spacing == (0.25, 0.5)
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
    p.add_image(img)
    p.set_labels(0, (np.arange(64)[:, None] < 32).astype(np.uint8).repeat(80, 1) + 1)
    assert p.train().predict(tmp_path / "slide.ome.zarr").shape == (64, 80, 2)  # a 2D classifier applies


def test_a_list_of_files_is_a_volume_in_the_lists_order(tmp_path, monkeypatch):
    # as tifffile.imread(files) and napari's stack=True read a list: the order given, not sorted
    vol = np.random.default_rng(0).integers(0, 4000, (5, 24, 20)).astype(np.uint16)
    files = []
    for z in (3, 0, 4, 1, 2):
        files.append(str(tmp_path / f"p{z}.ome.tif"))
        tifffile.imwrite(files[-1], vol[z], metadata={"axes": "YX", "Channel": {"Name": ["DAPI"]}})
    img = pc.load_image(files)
    assert not img.lazy and img.axes == "ZYXC" and img.files == tuple(files) and img.channel_names == ["DAPI"]
    np.testing.assert_array_equal(img.data[..., 0], vol[[3, 0, 4, 1, 2]])
    lazy = pc.load_image(files, lazy=True)
    assert lazy.lazy and lazy.files == tuple(files) and lazy.channel_names == ["DAPI"]
    np.testing.assert_array_equal(lazy.data[1:3, 5:9, :, 0], vol[[0, 4], 5:9])
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=5)
    p.add_image(files, lazy=True)  # as add_image takes a path
    assert p.images[0].lazy and p.images[0].files == tuple(files)
    p.images[0].spacing = (2.0, 0.5, 0.5)  # the planes' distance, which no plane's file says
    lab = np.zeros(lazy.shape_spatial, np.uint8)
    lab[2, :4], lab[2, -4:] = 1, 2
    p.set_labels(0, lab)
    want = p.train().predict(0)
    p.save(tmp_path / "p.h5")
    q = pc.Project.load(tmp_path / "p.h5")
    assert q.images[0].files == tuple(files) and q.images[0].channel_names == ["DAPI"]
    assert q.images[0].spacing == (2.0, 0.5, 0.5)
    np.testing.assert_array_equal(q.predict(0), want)
    one = pc.Project()
    one.add_image(files[:1], lazy=True)  # a stack of one file: a plane
    one.save(tmp_path / "one.h5")
    np.testing.assert_array_equal(pc.Project.load(tmp_path / "one.h5").images[0].data[..., 0], vol[3])
    with pytest.raises(FileNotFoundError, match=r"no such image file: .*nope.tif"):
        pc.load_image(files[:2] + [str(tmp_path / "nope.tif")])
    with pytest.raises(ValueError, match=r"a list of files is a stack of 2D planes"):
        pc.load_image([])
    with pytest.raises(ValueError, match=r"^'the stack of 5 files from .*p3.ome.tif': the files of a stack are"):
        pc.load_image(files, axes="YXC")
    tifffile.imwrite(tmp_path / "narrow.tif", vol[0, :, :10])
    with pytest.raises(ValueError, match=r"^'the stack of 2 files from .*p3.ome.tif': '.*narrow.tif' \(uint16 "
                                         r"\(24, 10, 1\).*is not like"):
        pc.load_image([files[0], str(tmp_path / "narrow.tif")])


def test_write_in_slabs_writes_whole_chunks_a_slab_at_a_time(monkeypatch):
    # h5py copied a whole non-contiguous block (channel-last features of a streamed export) before writing it:
    # the 1 GiB-budget export of a 2048² image's features peaked at 818 MB, written in slabs 598 MB
    from jupyter_pixclass.images import write

    class Target:
        chunks = (4, 5, 3)

        def __init__(self):
            self.a, self.keys = np.zeros((30, 20, 3), np.float32), []

        def __setitem__(self, key, value):
            self.keys.append(key)
            self.a[key] = value

    data = np.moveaxis(np.arange(3 * 17 * 20, dtype=np.float32).reshape(3, 17, 20), 0, -1)  # not contiguous
    monkeypatch.setattr(write, "SLAB_BYTES", 5 * data[:1].nbytes)  # 5 rows: whole chunks of 4 rows each
    t = Target()
    write.write_in_slabs(t, data, (slice(9, 26), slice(None)))
    np.testing.assert_array_equal(t.a[9:26], data)
    assert not t.a[:9].any() and not t.a[26:].any()
    assert [k[0] for k in t.keys] == [slice(9, 13), slice(13, 17), slice(17, 21), slice(21, 25), slice(25, 26)]
