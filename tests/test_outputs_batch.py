import os
import subprocess
import sys
import warnings

import h5py
import tifffile
import numpy as np
import pytest

import jupyter_pixclass as pc
from jupyter_pixclass.outputs.batch import BatchError
from jupyter_pixclass.outputs.blockwise import predict_blockwise
from jupyter_pixclass.outputs.on_dask import predict_dask


@pytest.fixture
def files(tmp_path):
    paths = []
    for s in range(3):
        img, _ = pc.datasets.nuclei((96, 112), seed=20 + s)
        p = tmp_path / "in" / f"img{s}_s2.h5"
        p.parent.mkdir(exist_ok=True)
        with h5py.File(p, "w") as f:
            f.create_dataset("stacked", data=np.moveaxis(img.data, -1, 0)).attrs["axes"] = "CYX"
        paths.append(p)
    return paths


def test_batch_glob_template_skip_and_bad_file(trained, files, tmp_path, capsys):
    (files[0].parent / "broken_s2.h5").write_bytes(b"not hdf5")
    out_dir = tmp_path / "out"
    outs = pc.batch_predict(trained, [str(files[0].parent / "*_s2.h5")], out_dir, dtype="uint16", renormalize=True,
                            progress=False)
    assert [os.path.basename(o) for o in outs] == [f"img{s}_s2_probabilities.tiff" for s in range(3)]
    err = capsys.readouterr().err
    assert "broken_s2.h5" in err and "1 failed" in err
    got = pc.load_image(outs[1])
    want = np.rint(trained.predict(pc.load_image(files[1])).astype(np.float64) * 65535)
    np.testing.assert_array_equal(got.data, want.astype(np.uint16))
    assert got.n_channels == 2
    mtime = os.path.getmtime(outs[0])
    pc.batch_predict(trained, [str(f) for f in files], out_dir, dtype="uint16", renormalize=True, progress=False)
    assert os.path.getmtime(outs[0]) == mtime  # complete outputs are skipped
    with pytest.raises(BatchError, match="nothing_\\*.h5: no file matches"):
        pc.batch_predict(trained, [str(tmp_path / "nothing_*.h5")], out_dir, progress=False, raise_on_error=True)
    assert not [n for n in os.listdir(out_dir) if n.startswith(".")]  # no temp files left


def test_blockwise_equals_whole(trained, files, tmp_path):
    whole = trained.predict(pc.load_image(files[0]))
    blocked = predict_blockwise(trained, files[0], block=(40, 48))
    np.testing.assert_allclose(blocked, whole, atol=1e-5)
    with h5py.File(tmp_path / "o.h5", "w") as f:
        d = f.create_dataset("p", shape=whole.shape, dtype=np.float32)
        predict_blockwise(trained, files[0], out=d, block=(50, 50))
        np.testing.assert_allclose(d[...], whole, atol=1e-5)
    seg = predict_blockwise(trained, files[0], source="simple_segmentation", block=32)
    assert (seg == trained.segment(pc.load_image(files[0]))).mean() > 0.999


def test_batch_large_input_goes_blockwise(trained, files, tmp_path):
    outs = pc.batch_predict(trained, [str(files[0])], tmp_path / "o", source="simple_segmentation", format="hdf5",
                            max_voxels=1000, block=(32, 32), progress=False)
    with h5py.File(outs[0]) as f:
        seg = f["exported_data"][...]
    np.testing.assert_array_equal(seg, trained.segment(pc.load_image(files[0])))


def test_dask_local_cluster_equals_in_process(trained, files):
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    img = pc.load_image(files[0])
    x = da.from_array(img.data, chunks=(48, 56, -1))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        got = client.compute(predict_dask(trained, x)).result()
        seg = client.compute(predict_dask(trained, x, source="simple_segmentation")).result()
    np.testing.assert_allclose(got, trained.predict(img), atol=1e-5)
    np.testing.assert_array_equal(seg, trained.segment(img))
    thin = predict_dask(trained, da.from_array(img.data, chunks=(8, 8, -1)))  # widened to the halo
    np.testing.assert_allclose(thin.compute(scheduler="threads"), trained.predict(img), atol=1e-5)


def test_cli_batch_and_errors(trained, files, tmp_path):
    proj = trained.save(tmp_path / "proj.h5")
    exe = [sys.executable, "-m", "jupyter_pixclass.cli"]
    r = subprocess.run(exe + ["batch", proj, str(files[0].parent / "*_s2.h5"), "-o", str(tmp_path / "cli"),
                              "--dtype", "uint16", "--renormalize", "--no-progress"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "cli")) == [f"img{s}_s2_probabilities.tiff" for s in range(3)]
    r = subprocess.run(exe + ["batch", str(tmp_path / "none.h5"), "x.tif", "-o", str(tmp_path)], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "no such project file" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run(exe + ["batch", "--help"], capture_output=True, text=True)
    assert "--renormalize" in r.stdout and "--scheduler" in r.stdout


def test_watershed_splits_touching_nuclei_better_than_otsu():
    from skimage.filters import threshold_otsu
    from skimage.measure import label

    train_img, t1 = pc.datasets.nuclei((256, 256), seed=31)
    test_img, t2 = pc.datasets.nuclei((256, 256), seed=32)
    p = pc.Project(n_estimators=50)
    p.set_labels(p.add_image(train_img), pc.datasets.scribbles(t1["classes"], n_strokes=10, mapping={1: 1, 2: 2, 3: 2}))
    inst = pc.postprocess.watershed(p.train().predict(test_img), class_index=1)
    dapi = test_img.data[..., 1].astype(float)
    otsu = label(dapi > threshold_otsu(dapi))
    f1_ours, f1_otsu = object_f1(inst, t2["nuclei"]), object_f1(otsu, t2["nuclei"])
    assert f1_ours > f1_otsu + 0.15, (f1_ours, f1_otsu)
    table = pc.postprocess.object_table(inst, test_img)
    assert len(table["label"]) == inst.max() and "mean_intensity_DAPI" in table
    assert np.all(table["mean_intensity_DAPI"] > 0)


def test_watershed_3d():
    v, t = pc.datasets.nuclei((20, 64, 64), seed=2)
    prob = np.stack([t["nuclei"] > 0, t["nuclei"] == 0], -1).astype(np.float32)
    inst = pc.postprocess.watershed(prob, class_index=1)
    assert inst.shape == (20, 64, 64) and inst.max() > 0.5 * t["nuclei"].max()


def object_f1(pred, truth, thr=0.5):
    """Object-level F1: a match is a pair with IoU >= thr."""
    from skimage.metrics import contingency_table

    c = contingency_table(truth, pred).toarray()
    a, b = np.bincount(truth.ravel()), np.bincount(pred.ravel())
    inter = c[1:, 1:]
    union = a[1:, None] + b[None, 1:] - inter
    tp = int(((inter / np.maximum(union, 1)) >= thr).sum())
    n_t, n_p = truth.max(), pred.max()
    return 2 * tp / max(n_t + n_p, 1)


def test_normalized_features_blockwise_and_dask_equal_whole(files):
    import dask.array as da

    img0, t0 = pc.datasets.nuclei((96, 112), seed=20)
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0, 3.5], normalize="percentile"), n_estimators=10)
    p.set_labels(p.add_image(img0), pc.datasets.scribbles(t0["classes"], mapping={1: 1, 2: 2, 3: 2}))
    p.train()
    img = pc.load_image(files[1])
    whole = p.predict(img)
    np.testing.assert_allclose(predict_blockwise(p, files[1], block=(40, 48)), whole, atol=1e-5)
    lazy = predict_dask(p, da.from_array(img.data, chunks=(48, 56, -1))).compute(scheduler="threads")
    np.testing.assert_allclose(lazy, whole, atol=1e-5)


def test_batch_and_export_of_a_movie_keep_the_t_axis(trained, tmp_path):
    img = trained.images[0]
    movie = np.stack([np.moveaxis(img.data, -1, 0), np.moveaxis(img.data[::-1], -1, 0)])  # T C Y X
    tifffile.imwrite(tmp_path / "movie.tif", movie, imagej=True, metadata={"axes": "TCYX"})
    outs = pc.batch_predict(trained, tmp_path / "movie.tif", tmp_path / "out", progress=False,
                            source="simple_segmentation")
    back = pc.load_image(outs[0])
    assert back.axes == "TYXC" and back.n_timepoints == 2
    np.testing.assert_array_equal(back.data[0, ..., 0], trained.segment(0))
    np.testing.assert_array_equal(back.data[1, ..., 0], trained.segment(img.data[::-1]))
    m = pc.load_image(tmp_path / "movie.tif")
    trained.export(m, tmp_path / "p.h5", source="probabilities")
    p = pc.load_image(tmp_path / "p.h5")
    assert p.axes == "TYXC" and p.data.shape == (2,) + img.shape_spatial + (2,)
    np.testing.assert_allclose(p.data[1], trained.predict(img.data[::-1]), atol=1e-6)
    for suffix in (".h5", ".tif"):  # the same movie left in its file: exporting it crashed in the filters
        lazy = pc.load_image(tmp_path / "movie.tif", lazy=True)
        out = pc.load_image(trained.export(lazy, tmp_path / f"lazy{suffix}"))
        assert out.axes == "TYXC" and out.n_timepoints == 2
        np.testing.assert_allclose(out.data[1], trained.predict(img.data[::-1]), atol=1e-5)
    q = pc.Project(trained.classes, features=trained.features)
    assert q.add_image(m) == [0, 1] and q.add_image(img) == 2  # one image per time point


def test_nothing_is_lost_to_a_colliding_or_input_path(trained, scene, tmp_path):
    img, _ = scene
    for d in ("a", "b"):
        os.makedirs(tmp_path / d)
        np.save(tmp_path / d / "img.npy", img.data)
    with pytest.raises(ValueError, match=r"inputs .*a/img.npy.* and .*b/img.npy.* would both be written"):
        pc.batch_predict(trained, [str(tmp_path / "a/img.npy"), str(tmp_path / "b/img.npy")], tmp_path / "o",
                         progress=False)
    np.save(tmp_path / "a" / "other.npy", img.data)
    with pytest.raises(ValueError, match="would both be written"):  # a template without {stem}
        pc.batch_predict(trained, str(tmp_path / "a/*.npy"), tmp_path / "o", name_template="out.{ext}",
                         progress=False)
    assert not os.listdir(tmp_path / "o")  # refused before anything was written
    with pytest.raises(ValueError, match=r"output .*img.npy.* is an input"):
        pc.batch_predict(trained, str(tmp_path / "a/img.npy"), tmp_path / "a", name_template="{stem}.{ext}",
                         format="npy", progress=False)
    p = pc.Project.from_state(trained.state())  # the fixture's project stays as it is
    p.add_image(str(tmp_path / "a/img.npy"))
    with pytest.raises(ValueError, match=r"export path .*img.npy.* is an input"):
        p.export(len(p.images) - 1, tmp_path / "a/img.npy")
    with pytest.raises(ValueError, match="project path .*img.npy.* is an input"):
        p.save(tmp_path / "a/img.npy", images="paths")
    np.testing.assert_array_equal(np.load(tmp_path / "a/img.npy"), img.data)


def test_cli_refuses_overwriting_the_ilp_and_prints_one_line(tmp_path, capsys):
    from jupyter_pixclass.cli import main

    ilp = tmp_path / "x.ilp"
    with h5py.File(ilp, "w") as f:
        f["workflowName"] = b"Pixel Classification"
        f.create_group("PixelClassification")
    before = ilp.read_bytes()
    assert main(["import-ilastik", str(ilp), "-o", str(ilp)]) == 2
    err = capsys.readouterr().err
    assert "is an input" in err and err.count("\n") == 1 and ilp.read_bytes() == before
    bad = tmp_path / "p.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["format"] = "jupyter-pixclass project"
        f.attrs["meta"] = 7  # an integer where JSON belongs
    assert main(["batch", str(bad), str(ilp), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "p.h5" in err and err.count("\n") == 1 and "Traceback" not in err


def test_ctrl_c_in_batch_says_what_was_written_and_exits_130(trained, scene, tmp_path, monkeypatch, capsys):
    from jupyter_pixclass.outputs import batch
    from jupyter_pixclass.cli import main

    img, _ = scene
    for n in range(3):
        np.save(tmp_path / f"i{n}.npy", img.data)
    trained.save(tmp_path / "p.h5")
    calls = []
    real = batch._predict_file

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(batch, "_predict_file", interrupted)
    rc = main(["batch", str(tmp_path / "p.h5"), str(tmp_path / "i*.npy"), "-o", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 130 and "1 of 3 outputs complete" in err and "run the same command again" in err
    assert "Traceback" not in err and len(os.listdir(tmp_path / "o")) == 1  # no partial file


def test_killed_writers_leave_no_temporaries(tmp_path):
    code = ("import os, numpy as np\nfrom jupyter_pixclass.io import atomic_write\n"
            "with atomic_write(%r) as tmp:\n    open(tmp, 'wb').write(b'x' * 1000)\n    os._exit(9)\n")
    for _ in range(3):
        subprocess.run([sys.executable, "-c", code % str(tmp_path / "out.npy")])
    assert len([n for n in os.listdir(tmp_path) if ".part" in n]) == 1  # each rerun removed the last one's
    pc.io.write_array(tmp_path / "out.npy", np.zeros((2, 2)), "YX")
    assert sorted(os.listdir(tmp_path)) == ["out.npy"]  # the next write of that path removes them


def test_temporaries_of_another_host_are_left_alone(tmp_path):
    # on a shared (NFS) folder a pid of another host may be a live writer there
    other = tmp_path / ".out.npy.otherhost-1.abc.part.npy"
    other.write_bytes(b"x")
    pc.io.write_array(tmp_path / "out.npy", np.zeros((2, 2)), "YX")
    assert other.exists()


def test_cli_output_axes_channels_last_as_steinbock_asks_ilastik(trained, files, tmp_path):
    from jupyter_pixclass.cli import main

    proj = trained.save(tmp_path / "proj.h5")
    assert main(["batch", proj, str(files[0]), "-o", str(tmp_path / "o"), "--dtype", "uint16", "--renormalize",
                 "--name-template", "{stem}.{ext}", "--output-axes", "YXC", "--no-progress"]) == 0
    with tifffile.TiffFile(tmp_path / "o" / "img0_s2.tiff") as tf:
        assert tf.series[0].axes == "YXS" or tf.series[0].shape == (96, 112, 2)
        got = tf.series[0].asarray()
    want = np.rint(trained.predict(pc.load_image(files[0])).astype(np.float64) * 65535).astype(np.uint16)
    np.testing.assert_array_equal(got, want)
    assert main(["batch", proj, str(files[1]), "-o", str(tmp_path / "o"), "--output-axes", "YX", "--no-progress"]) != 0


def test_probabilities_name_their_channels_by_class(trained, files, tmp_path):
    # napari, Fiji and load_image show "Nucleus" where they showed "ch 1", whichever way the file was written
    want = ["Nucleus", "Background"]
    for ext in (".tif", ".h5", ".zarr", ".ome.zarr"):
        trained.export(0, tmp_path / f"p{ext}")
        assert pc.load_image(tmp_path / f"p{ext}").channel_names == want, ext
        trained.export(0, tmp_path / f"u{ext}", source="uncertainty")
        assert pc.load_image(tmp_path / f"u{ext}").channel_names == ["ch 1"], ext
    lazy = pc.Project(want, features=trained.features)
    lazy.add_image(pc.load_image(files[0], lazy=True))
    lazy.set_labels(0, pc.datasets.scribbles(pc.datasets.nuclei((96, 112), seed=20)[1], mapping={1: 1, 2: 2, 3: 2}))
    lazy.train()
    for ext in (".h5", ".ome.zarr"):  # streamed block by block
        lazy.export(0, tmp_path / f"s{ext}")
        assert pc.load_image(tmp_path / f"s{ext}").channel_names == want, ext
    for fmt in ("tiff", "hdf5", "zarr", "ome-zarr"):
        out = pc.batch_predict(trained, files[:1], tmp_path / fmt, format=fmt, progress=False)
        assert pc.load_image(out[0]).channel_names == want, fmt
        out = pc.batch_predict(trained, files[:1], tmp_path / f"big-{fmt}", format=fmt, progress=False,
                               max_voxels=1000)
        assert pc.load_image(out[0]).channel_names == want, fmt


def test_name_templates_stay_in_the_output_folder_and_bad_ones_fail_once(trained, files, tmp_path):
    ins = [str(f) for f in files]
    elsewhere = str(tmp_path / "elsewhere" / "{stem}.{ext}")
    for template in (elsewhere, "../{stem}.{ext}", "a/../../{stem}.{ext}"):  # wrote there before
        with pytest.raises(ValueError, match="outside the output folder"):
            pc.batch_predict(trained, ins, tmp_path / "o", name_template=template, progress=False)
    assert not list(tmp_path.glob("*.tiff")) and not (tmp_path / "elsewhere").exists()
    with pytest.raises(ValueError, match=r"cannot be filled \(KeyError: 'nostem'\); it may use \{stem\}"):
        pc.batch_predict(trained, ins, tmp_path / "o", name_template="{nostem}.{ext}", progress=False)
    # a folder per image, made as needed
    outs = pc.batch_predict(trained, ins, tmp_path / "o", name_template="{stem}/{source}.{ext}", progress=False)
    assert outs == [str(tmp_path / "o" / f"img{s}_s2" / "probabilities.tiff") for s in range(3)]
    assert all(os.path.isfile(o) for o in outs)
    with pytest.raises(ValueError, match="no class named 'Nope'"):  # one error, not one per file
        pc.batch_predict(trained, ins, tmp_path / "m", source="mask", class_name="Nope", progress=False)


def test_a_folder_stands_for_the_images_in_it(trained, files, tmp_path):
    # "apply the classifier to a whole folder": the folder was read as one image ("unknown suffix '(none)'")
    folder = files[0].parent
    (folder / "notes.txt").write_text("not an image")
    (folder / ".tmp-x.h5").write_bytes(b"a temporary")
    (folder / "sub").mkdir()
    np.save(folder / "sub" / "deeper.npy", np.zeros((8, 8, 2), np.uint16))
    outs = pc.batch_predict(trained, folder, tmp_path / "o", progress=False, raise_on_error=True)
    assert [os.path.basename(o) for o in outs] == [f"img{s}_s2_probabilities.tiff" for s in range(3)]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchError, match="empty: a folder with no image file in it"):
        pc.batch_predict(trained, tmp_path / "empty", tmp_path / "o2", progress=False, raise_on_error=True)


def test_batch_of_one_image_of_a_multi_position_tiff(trained, tmp_path):
    f = tmp_path / "pos.ome.tif"
    img, _ = pc.datasets.nuclei((40, 48), seed=3)
    with tifffile.TiffWriter(f, ome=True) as tw:
        for _ in range(2):
            tw.write(np.moveaxis(np.asarray(img.data), -1, 0), metadata={"axes": "CYX"})
    out = pc.batch_predict(trained, [f"{f}/1"], tmp_path / "o", progress=False, raise_on_error=True)
    assert [os.path.basename(o) for o in out] == ["pos_1_probabilities.tiff"]
    np.testing.assert_allclose(np.moveaxis(tifffile.imread(out[0]), 0, -1), trained.predict(img), atol=1e-5)


def test_batch_of_a_folder_writes_every_position_of_a_multi_position_tiff(trained, tmp_path):
    # a folder of Bio-Formats' multi-position exports gave one output a file: the other positions were dropped
    (tmp_path / "in").mkdir()
    scenes = [pc.datasets.nuclei((40, 48), seed=s)[0] for s in (3, 4, 5)]
    with tifffile.TiffWriter(tmp_path / "in" / "plate.ome.tif", ome=True) as tw:
        for img in scenes:
            tw.write(np.moveaxis(np.asarray(img.data), -1, 0), metadata={"axes": "CYX"})
    tifffile.imwrite(tmp_path / "in" / "single.tif", np.moveaxis(np.asarray(scenes[0].data), -1, 0),
                     imagej=True, metadata={"axes": "CYX"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "opened the first" warning: every image is an input of its own
        outs = pc.batch_predict(trained, tmp_path / "in", tmp_path / "o", progress=False, raise_on_error=True)
    assert [os.path.basename(o) for o in outs] == [f"plate_{i}_probabilities.tiff" for i in range(3)] + [
        "single_probabilities.tiff"]
    for o, img in zip(outs, scenes):
        np.testing.assert_allclose(np.moveaxis(tifffile.imread(o), 0, -1), trained.predict(img), atol=1e-5)


def test_batch_warns_when_named_channels_come_in_another_order(tmp_path):
    # the same number of channels in another order predicted garbage without a word
    img, truth = pc.datasets.nuclei((64, 72), seed=3)
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]), n_estimators=10)
    p.add_image(img)  # channels 'cytoplasm', 'DAPI'
    p.set_labels(0, pc.datasets.scribbles(truth, n_strokes=3, mapping={1: 1, 2: 2, 3: 2}))
    p.train()
    chw = np.moveaxis(img.data, -1, 0)
    for name, data, names in (("swapped", chw[::-1], ["DAPI", "cytoplasm"]), ("same", chw, ["cytoplasm", "DAPI"])):
        tifffile.imwrite(tmp_path / f"{name}.ome.tif", data, metadata={"axes": "CYX", "Channel": {"Name": names}})
    np.save(tmp_path / "unnamed.npy", img.data)
    with pytest.warns(UserWarning, match=r"swapped.ome.tif': its channels are \['DAPI', 'cytoplasm'\], the project's "
                                         r"images have \['cytoplasm', 'DAPI'\]") as record:
        pc.batch_predict(p, [str(tmp_path / n) for n in ("swapped.ome.tif", "same.ome.tif", "unnamed.npy")],
                         tmp_path / "o", progress=False)
    said = [w for w in record if "its channels are" in str(w.message)]
    assert len(said) == 1 and said[0].filename == __file__  # once, though predicting it asks the project again


def test_batch_warns_when_pixels_come_in_another_type(tmp_path):
    # a forest trained on 16-bit intensities applied to 8-bit exports of the same images: all one class, no word
    img, truth = pc.datasets.nuclei((64, 72), seed=3)
    img16 = pc.Image((img.data * 4000).astype(np.uint16), axes="YXC")
    plain, normalized = pc.FeatureSet(sigmas=[1.0]), pc.FeatureSet(sigmas=[1.0], normalize="percentile")
    for fs, warns in ((plain, True), (normalized, False)):
        p = pc.Project(features=fs, n_estimators=10)
        p.add_image(img16)
        p.set_labels(0, pc.datasets.scribbles(truth, n_strokes=3, mapping={1: 1, 2: 2, 3: 2}))
        p.train()
        np.save(tmp_path / "same.npy", img16.data)
        np.save(tmp_path / "eight.npy", (img16.data // 257).astype(np.uint8))
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            pc.batch_predict(p, [str(tmp_path / "same.npy"), str(tmp_path / "eight.npy")], tmp_path / "o",
                             progress=False, overwrite=True)
        said = [str(w.message) for w in record if "pixels are" in str(w.message)]
        assert said == ([f"image {str(tmp_path / 'eight.npy')!r}: its pixels are uint8, the project's images have "
                         "uint16 pixels; the forest's thresholds are intensities, so unless both were scaled alike "
                         "use FeatureSet(normalize='percentile')"] if warns else [])
