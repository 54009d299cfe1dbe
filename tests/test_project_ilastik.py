"""ilastik .ilp projects, built here with h5py in ilastik's layout, opened as Projects."""
import json
import os
import pickle

import h5py
import numpy as np
import pytest
import tifffile

import jupyter_pixclass as pc
from jupyter_pixclass.images.stacks import FileStack
from jupyter_pixclass.cli import main


def axistags(axes):
    flags = {"c": 1, "t": 8}
    return json.dumps({"axes": [{"key": a, "typeFlags": flags.get(a, 2), "resolution": 0, "description": ""}
                                for a in axes]}).encode()


def write_ilp(path, lanes, names=(b"Nucleus", b"Background"), colors=((255, 0, 0), (0, 0, 255)),
              features=None, workflow=b"Pixel Classification"):
    """lanes: list of dicts with data (internal) or file (external path), axes, blocks [(slice str, array)]."""
    with h5py.File(path, "w") as f:
        f["workflowName"] = workflow
        f["ilastikVersion"] = b"1.4.0"
        f["Input Data/StorageVersion"] = b"0.2"
        pcg = f.create_group("PixelClassification")
        pcg["LabelNames"] = np.array(names, dtype=object).astype("S")
        pcg["LabelColors"] = np.array(colors, np.int64)
        pcg["ClassifierFactory"] = np.void(pickle.dumps({"never": "unpickled"}))  # ilastik pickles this
        f.create_group("PixelClassification/LabelSets")
        for n, lane in enumerate(lanes):
            rd = f.create_group(f"Input Data/infos/lane{n:04d}/Raw Data")
            if "data" in lane:
                rd["location"] = b"ProjectInternal"
                did = f"id-{n}".encode()
                rd["datasetId"] = did
                f[f"Input Data/local_data/{did.decode()}"] = lane["data"]
            else:
                rd["location"] = b"FileSystem"
                rd["filePath"] = lane["file"].encode()
            if lane.get("axisorder"):
                rd["axisorder"] = lane["axes"].encode()
            else:
                rd["axistags"] = axistags(lane["axes"])
            rd["nickname"] = f"lane {n}".encode()
            ls = f.create_group(f"PixelClassification/LabelSets/labels{n:03d}")
            for b, (sl, arr) in enumerate(lane.get("blocks", [])):
                ds = ls.create_dataset(f"block{b:04d}", data=arr)
                ds.attrs["blockSlice"] = sl.encode()
        if features is not None:
            ids, scales, sel, in2d = features
            g = f.create_group("FeatureSelections")
            g["FeatureIds"] = np.array(ids, dtype="S")
            g["Scales"] = np.array(scales, float)
            g["SelectionMatrix"] = np.array(sel, bool)
            if in2d is not None:
                g["ComputeIn2d"] = np.array(in2d, bool)


FEATS = (["GaussianSmoothing", "LaplacianOfGaussian", "GaussianGradientMagnitude", "DifferenceOfGaussians",
          "StructureTensorEigenvalues", "HessianOfGaussianEigenvalues"], [0.3, 1.0, 3.5],
         [[1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 1]], [True, True, True])


@pytest.fixture
def scene2d():
    img, truth = pc.datasets.nuclei((60, 70), seed=5)
    return img, truth


def test_2d_internal_and_external_lanes(tmp_path, scene2d):
    img, truth = scene2d
    yxc = img.data  # ilastik keeps raw data as yxc
    b1 = np.full((5, 8, 1), 1, np.uint8)
    b2 = np.zeros((4, 6, 1), np.uint8)
    b2[1:3, 2:5] = 2
    # second lane: an external HDF5 file, stored c-first, path relative to the project
    (tmp_path / "data").mkdir()
    with h5py.File(tmp_path / "data" / "raw.h5", "w") as f:
        f["volume/data"] = np.moveaxis(yxc, -1, 0)
    write_ilp(tmp_path / "p.ilp", [
        {"data": yxc, "axes": "yxc", "blocks": [("[10:15,20:28,0:1]", b1), ("[30:34,40:46,0:1]", b2)]},
        {"file": "data/raw.h5/volume/data", "axes": "cyx", "blocks": [("[0:1,3:5,4:6]", np.full((1, 2, 2), 2, np.uint8))]},
    ], features=FEATS)
    p = pc.Project.from_ilastik(tmp_path / "p.ilp")
    assert p.classes == ["Nucleus", "Background"] and p.colors == ["#ff0000", "#0000ff"]
    assert len(p.images) == 2 and p.forest is None
    np.testing.assert_array_equal(p.images[0].data, yxc)
    np.testing.assert_array_equal(p.images[1].data, yxc)  # cyx on disk, channel-last here
    lab = p.labels(0)
    assert (lab[10:15, 20:28] == 1).all() and (lab == 1).sum() == 40
    assert (lab[31:33, 42:45] == 2).all() and (lab == 2).sum() == 6  # zeros inside a block stay unlabeled
    assert (p.labels(1)[3:5, 4:6] == 2).all() and (p.labels(1) > 0).sum() == 4
    assert set(p.features.pairs) == {("gaussian", 0.3), ("gaussian", 1.0), ("log", 1.0),
                                     ("gradient_magnitude", 3.5), ("structure_tensor_eigenvalues", 1.0),
                                     ("hessian_eigenvalues", 3.5)}
    assert p.train().predict(0).shape == (60, 70, 2)  # retrained on the imported labels


def test_a_lane_with_a_prediction_mask_says_it_is_not_applied(tmp_path, scene2d):
    img, _ = scene2d
    lanes = [{"data": img.data, "axes": "yxc", "blocks": [("[10:15,20:28,0:1]", np.full((5, 8, 1), 1, np.uint8))]}]
    write_ilp(tmp_path / "p.ilp", lanes * 2, features=FEATS)
    with h5py.File(tmp_path / "p.ilp", "a") as f:
        for lane in ("lane0000", "lane0001"):  # ilastik writes an empty group for a role left unset
            f.create_group(f"Input Data/infos/{lane}/Prediction Mask")
        f["Input Data/infos/lane0001/Prediction Mask/location"] = b"FileSystem"
    with pytest.warns(UserWarning, match=r"lane0001 has a Prediction Mask in ilastik; it is not read here") as rec:
        p = pc.Project.from_ilastik(tmp_path / "p.ilp")
    assert not any("lane0000" in str(w.message) for w in rec) and len(p.images) == 2


def test_3d_axisorder_and_2d_features(tmp_path):
    vol, truth = pc.datasets.nuclei((8, 40, 44), seed=2)
    zyxc = vol.data
    xyzc = np.transpose(zyxc, (2, 1, 0, 3))  # an older project with axisorder 'xyzc'
    block = np.ones((3, 2, 1, 1), np.uint8)  # x 3, y 2, z 1
    write_ilp(tmp_path / "v.ilp", [{"data": xyzc, "axes": "xyzc", "axisorder": True,
                                    "blocks": [("[10:13,5:7,4:5,0:1]", block)]}],
              features=(["GaussianSmoothing"], [1.0, 2.0], [[1, 1]], [True, True]))
    p = pc.Project.from_ilastik(tmp_path / "v.ilp")
    assert p.images[0].axes == "ZYXC" and p.images[0].shape_spatial == (8, 40, 44)
    np.testing.assert_array_equal(p.images[0].data, zyxc)
    lab = p.labels(0)
    assert (lab[4, 5:7, 10:13] == 1).all() and (lab > 0).sum() == 6
    assert p.features.mode == "2d"  # every selected scale computed in 2D in ilastik


def test_3d_project_with_some_scales_in_2d(tmp_path):
    # as ilastik ticks "in 2D" for a scale whose kernel outgrows a thin volume (ilastik-4ij's reference project)
    vol, truth = pc.datasets.nuclei((8, 30, 32), seed=2)
    write_ilp(tmp_path / "v.ilp", [{"data": vol.data, "axes": "zyxc", "blocks": [
        ("[2:3,5:7,10:13,0:1]", np.ones((1, 2, 3, 1), np.uint8))]}],
        features=(["GaussianSmoothing", "HessianOfGaussianEigenvalues"], [1.0, 2.0, 10.0],
                  [[1, 1, 1], [0, 1, 1]], [False, False, True]))
    p = pc.Project.from_ilastik(tmp_path / "v.ilp")
    assert p.features.mode == "auto" and p.features.in_2d == (10.0,)
    # per channel 3 + 3 + 2 (the eigenvalues of sigma 10 in the plane), as ilastik counts them
    names = p.feature_names()
    assert len(names) == 2 * 8 and names[2] == "Gaussian Smoothing σ=10 in 2D [ch 1]"
    assert names[6:8] == ["Hessian of Gaussian Eigenvalue 1 σ=10 in 2D [ch 1]",
                          "Hessian of Gaussian Eigenvalue 2 σ=10 in 2D [ch 1]"]
    mask = np.zeros((8, 30, 32), bool)
    mask[2, 20:24, 2:5] = True
    p.paint(0, mask, 2)
    flat = pc.compute_features(vol, pc.FeatureSet(sigmas=[10.0], families=["gaussian"], mode="2d"))[..., 0]
    np.testing.assert_array_equal(pc.compute_features(vol, p.features)[..., 2], flat)
    assert p.train().predict(0).shape == (8, 30, 32, 2)
    with h5py.File(tmp_path / "v.ilp", "a") as f:  # flags for fewer scales than there are: said, all in 3D
        del f["FeatureSelections/ComputeIn2d"]
        f["FeatureSelections/ComputeIn2d"] = np.array([True])
    with pytest.warns(UserWarning, match="ComputeIn2d has 1 entries for 3 scales; every scale is filtered in 3D"):
        assert pc.Project.from_ilastik(tmp_path / "v.ilp").features.in_2d == ()
    with h5py.File(tmp_path / "v.ilp", "a") as f:  # declared huge: refused before a byte is read
        del f["FeatureSelections/ComputeIn2d"]
        f.create_dataset("FeatureSelections/ComputeIn2d", shape=(10**9,), dtype=bool)
    with pytest.raises(ValueError, match=r"v.ilp.*ComputeIn2d should be at most 64 flags; got bool of shape"):
        pc.Project.from_ilastik(tmp_path / "v.ilp")


def test_a_lane_larger_than_memory_stays_in_its_file(tmp_path, monkeypatch):
    vol, truth = pc.datasets.nuclei((20, 96, 112), seed=2)
    with h5py.File(tmp_path / "raw.h5", "w") as f:  # as ilastik's data export writes it: c first
        f.create_dataset("data", data=np.moveaxis(vol.data, -1, 0), chunks=(1, 4, 32, 32))
    blocks = [("[0:1,3:5,10:20,30:40]", np.full((1, 2, 10, 10), 1, np.uint8)),
              ("[0:1,12:13,60:70,5:9]", np.full((1, 1, 10, 4), 2, np.uint8))]
    write_ilp(tmp_path / "v.ilp", [{"file": "raw.h5/data", "axes": "czyx", "blocks": blocks}],
              features=(["GaussianSmoothing", "HessianOfGaussianEigenvalues"], [1.0], [[1], [1]], None))
    whole = pc.Project.from_ilastik(tmp_path / "v.ilp")
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", "6MiB")  # the 860 kB volume is now more than an eighth of it
    p = pc.Project.from_ilastik(tmp_path / "v.ilp")
    assert main(["import-ilastik", str(tmp_path / "v.ilp"), "-o", str(tmp_path / "imported.h5")]) == 0
    monkeypatch.delenv("PIXCLASS_MEMORY_LIMIT")
    assert pc.Project.load(tmp_path / "imported.h5").images[0].lazy
    # the same volume saved by ImageJ: opened without reading it, read region by region
    tifffile.imwrite(tmp_path / "raw.tif", np.moveaxis(vol.data, -1, 1), imagej=True, metadata={"axes": "ZCYX"})
    write_ilp(tmp_path / "t.ilp", [{"file": "raw.tif", "axes": "zcyx", "blocks": [
        ("[3:5,0:1,10:20,30:40]", np.ones((2, 1, 10, 10), np.uint8))]}])
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", "6MiB")
    t = pc.Project.from_ilastik(tmp_path / "t.ilp")
    monkeypatch.delenv("PIXCLASS_MEMORY_LIMIT")
    assert t.images[0].lazy and type(t.images[0].data.source).__name__ == "MappedArray"
    np.testing.assert_array_equal(t.images[0].data[3:6, 10:30, 30:50], vol.data[3:6, 10:30, 30:50])
    assert (t.labels(0)[3:5, 10:20, 30:40] == 1).all()
    img = p.images[0]
    assert img.lazy and not whole.images[0].lazy and img.axes == "ZYXC" and img.path.endswith("raw.h5/data")
    np.testing.assert_array_equal(img.data[3:6, 10:30, 30:50], whole.images[0].data[3:6, 10:30, 30:50])
    lab = p.labels(0)
    assert type(lab).__name__ == "ChunkedLabels"  # only the painted chunks are held
    np.testing.assert_array_equal(lab[...], whole.labels(0))
    assert (lab[3:5, 10:20, 30:40] == 1).all() and (lab[12, 60:70, 5:9] == 2).all()
    np.testing.assert_array_equal(p.train().predict(0), whole.train().predict(0))
    p.save(tmp_path / "p.h5")  # kept as its path, read back in the lane's axis order
    q = pc.Project.load(tmp_path / "p.h5")
    assert q.images[0].lazy and q.images[0].shape_spatial == (20, 96, 112)
    np.testing.assert_array_equal(q.labels(0)[...], whole.labels(0))


def test_time_lanes_become_frames(tmp_path, scene2d):
    img, _ = scene2d
    movie = np.stack([img.data, img.data[::-1], img.data[:, ::-1]])  # t y x c
    txyc = np.transpose(movie, (0, 2, 1, 3))
    blocks = [("[1:2,5:9,6:8,0:1]", np.ones((1, 4, 2, 1), np.uint8)),
              ("[2:3,0:2,0:3,0:1]", np.full((1, 2, 3, 1), 2, np.uint8))]
    write_ilp(tmp_path / "t.ilp", [{"data": txyc, "axes": "txyc", "blocks": blocks},
                                   {"data": img.data, "axes": "yxc"}])
    p = pc.Project.from_ilastik(tmp_path / "t.ilp")
    assert len(p.images) == 4 and p.images[1].series == ("lane 0", 1, 3)
    for t in range(3):
        np.testing.assert_array_equal(p.images[t].data, movie[t])
    assert (p.labels(0) == 0).all()
    assert (p.labels(1)[6:8, 5:9] == 1).all() and (p.labels(1) > 0).sum() == 8
    assert (p.labels(2)[0:3, 0:2] == 2).all()
    assert p.features == pc.FeatureSet.default()  # no selection stored: ilastik's default grid


def test_missing_data_lists_every_path_and_image_root(tmp_path, scene2d):
    img, _ = scene2d
    write_ilp(tmp_path / "m.ilp", [{"file": "/old/place/a.tif", "axes": "yxc"},
                                   {"file": "rel/b.h5/raw", "axes": "yxc"},
                                   {"data": img.data, "axes": "yxc"}])
    with pytest.raises(FileNotFoundError) as e:
        pc.Project.from_ilastik(tmp_path / "m.ilp")
    msg = str(e.value)
    assert "/old/place/a.tif" in msg and "rel/b.h5/raw" in msg and "image_root" in msg and "2 lane(s)" in msg
    # the files moved: image_root finds them by name
    (tmp_path / "moved").mkdir()
    tifffile.imwrite(tmp_path / "moved" / "a.tif", img.data)
    with h5py.File(tmp_path / "moved" / "b.h5", "w") as f:
        f["raw"] = img.data
    p = pc.Project.from_ilastik(tmp_path / "m.ilp", image_root=tmp_path / "moved")
    assert len(p.images) == 3 and p.images[0].n_channels == 2


def test_not_pixel_classification_and_broken_layouts(tmp_path, scene2d):
    img, _ = scene2d
    write_ilp(tmp_path / "o.ilp", [{"data": img.data, "axes": "yxc"}], workflow=b"ObjectClassificationWorkflow")
    with pytest.raises(ValueError, match=r"o.ilp.*not an ilastik Pixel Classification project.*ObjectClassification"):
        pc.Project.from_ilastik(tmp_path / "o.ilp")
    (tmp_path / "x.ilp").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match=r"x.ilp.*not an HDF5 file"):
        pc.Project.from_ilastik(tmp_path / "x.ilp")
    with h5py.File(tmp_path / "e.ilp", "w") as f:
        f["workflowName"] = b"PixelClassificationWorkflow"
        f.create_group("PixelClassification")
    with pytest.warns(UserWarning, match=r"e.ilp.*'Input Data/infos' is missing"):
        assert pc.Project.from_ilastik(tmp_path / "e.ilp").images == []
    write_ilp(tmp_path / "b.ilp", [{"data": img.data, "axes": "yxc", "blocks": [("[0:5,0:5]", np.ones((5, 5, 1), np.uint8))]}])
    with pytest.raises(ValueError, match=r"b.ilp.*blockSlice .*block0000 is not like"):
        pc.Project.from_ilastik(tmp_path / "b.ilp")
    write_ilp(tmp_path / "f.ilp", [{"data": img.data, "axes": "yxc"}],
              features=(["GaussianSmoothing", "Sobel"], [1.0], [[1], [1]], None))
    with pytest.raises(ValueError, match=r"unknown features \['Sobel'\]"):
        pc.Project.from_ilastik(tmp_path / "f.ilp")
    with pytest.raises(FileNotFoundError, match="no such ilastik project"):
        pc.Project.from_ilastik(tmp_path / "none.ilp")


def test_command_line_import(tmp_path, scene2d, capsys):
    img, truth = scene2d
    lab = pc.datasets.scribbles(truth["classes"], n_strokes=4, mapping={1: 1, 2: 2, 3: 2})
    blocks = [("[0:60,0:70,0:1]", lab[..., None])]
    write_ilp(tmp_path / "s.ilp", [{"data": img.data, "axes": "yxc", "blocks": blocks}], features=FEATS)
    assert main(["import-ilastik", str(tmp_path / "s.ilp"), "-o", str(tmp_path / "s.h5")]) == 0
    out = capsys.readouterr().out
    q = pc.Project.load(tmp_path / "s.h5")
    assert q.forest is not None and (q.labels(0) == lab).all()
    assert "2 classes" in out and f" {q.forest.n_features} features (" in out  # what the forest sees, not the grid's ticks
    assert main(["import-ilastik", str(tmp_path / "none.ilp"), "-o", str(tmp_path / "n.h5")]) == 2
    assert "no such ilastik project" in capsys.readouterr().err


def test_batch_applies_an_ilp_trained_on_its_labels(tmp_path, scene2d, capsys):
    # what ilastik's headless mode takes (--project=x.ilp); refused as "not a jupyter-pixclass project" before
    img, truth = scene2d
    lab = pc.datasets.scribbles(truth["classes"], n_strokes=4, mapping={1: 1, 2: 2, 3: 2})
    write_ilp(tmp_path / "s.ilp", [{"data": img.data, "axes": "yxc", "blocks": [("[0:60,0:70,0:1]", lab[..., None])]}],
              features=FEATS)
    np.save(tmp_path / "in.npy", img.data)
    assert main(["batch", str(tmp_path / "s.ilp"), str(tmp_path / "in.npy"), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"trained on its {int((lab > 0).sum())} labeled pixels" in err
    expected = pc.Project.from_ilastik(tmp_path / "s.ilp").train().predict(img)
    got = pc.load_image(tmp_path / "out" / "in_probabilities.tiff")
    np.testing.assert_allclose(got.data, expected, atol=1e-6)
    assert got.channel_names == ["Nucleus", "Background"]
    write_ilp(tmp_path / "u.ilp", [{"data": img.data, "axes": "yxc", "blocks": []}], features=FEATS)
    assert main(["batch", str(tmp_path / "u.ilp"), str(tmp_path / "in.npy"), "-o", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "u.ilp' has no labels" in err and err.count("\n") == 1 and not (tmp_path / "o2").exists()


# ----- the layouts real ilastik versions write (checked against ilastik's serializers and test projects)

VLEN = h5py.string_dtype()


def _vstr(g, key, text):
    """A scalar variable-length string, as ilastik writes its entries."""
    g.create_dataset(key, data=text, dtype=VLEN)


def test_ilastik_14_internal_lane_with_class_entry(tmp_path, scene2d):
    # ilastik 1.4.0b11 (the API notebook's project): __class__ ProjectInternalDatasetInfo, vlen strings,
    # "Pixel Classification" with a space, block axistags
    img, truth = scene2d
    lab = pc.datasets.scribbles(truth["classes"], n_strokes=4, mapping={1: 1, 2: 2, 3: 2})
    with h5py.File(tmp_path / "n.ilp", "w") as f:
        _vstr(f, "workflowName", "Pixel Classification")
        _vstr(f, "ilastikVersion", "1.4.0b11")
        f["Input Data/Role Names"] = np.array([b"Raw Data", b"Prediction Mask"])
        rd = f.create_group("Input Data/infos/lane0000/Raw Data")
        f.create_group("Input Data/infos/lane0000/Prediction Mask")
        _vstr(rd, "__class__", "ProjectInternalDatasetInfo")
        _vstr(rd, "location", "ProjectInternal")
        _vstr(rd, "datasetId", "3ccc")
        _vstr(rd, "axistags", axistags("yxc").decode())
        _vstr(rd, "nickname", "cells")
        f["Input Data/local_data/3ccc"] = img.data
        g = f.create_group("PixelClassification")
        g["LabelNames"] = np.array([b"Label 1", b"Label 2"])
        g["LabelColors"] = np.array([[255, 225, 25], [0, 130, 200]])
        b = g.create_dataset("LabelSets/labels000/block0000", data=lab[..., None])
        b.attrs["blockSlice"] = f"[0:{lab.shape[0]},0:{lab.shape[1]},0:1]"
        b.attrs["axistags"] = axistags("yxc").decode()
        fs = f.create_group("FeatureSelections")
        fs["FeatureIds"] = np.array([b"GaussianSmoothing", b"GaussianGradientMagnitude"])
        fs["Scales"] = np.array([1.0, 3.5])
        fs["SelectionMatrix"] = np.array([[True, False], [False, True]])
    p = pc.Project.from_ilastik(tmp_path / "n.ilp")
    assert p.classes == ["Label 1", "Label 2"] and p.colors == ["#ffe119", "#0082c8"]
    assert p.images[0].name == "cells"
    np.testing.assert_array_equal(p.labels(0), lab)
    assert p.features.pairs == [("gaussian", 1.0), ("gradient_magnitude", 3.5)]
    assert p.train().predict(0).shape == lab.shape + (2,)


def test_ilastik_133_relative_file_with_txyzc_blocks(tmp_path, scene2d):
    # ilastik 1.3.3 (its pc-oc-133 test project): RelativeFilesystemDatasetInfo, a t,y,x,c lane in an
    # external HDF5 file, label blocks without axistags in ilastik 1.x's five axes t,x,y,z,c
    img, _ = scene2d
    movie = np.stack([img.data, img.data[::-1]])  # (2, y, x, 2)
    with h5py.File(tmp_path / "5t.h5", "w") as f:
        f.create_dataset("data", data=movie).attrs["axistags"] = axistags("tyxc").decode()
    with h5py.File(tmp_path / "r.ilp", "w") as f:
        _vstr(f, "workflowName", "Object Classification (from pixel classification)")
        rd = f.create_group("Input Data/infos/lane0000/Raw Data")
        _vstr(rd, "__class__", "RelativeFilesystemDatasetInfo")
        _vstr(rd, "location", "FileSystem")
        _vstr(rd, "filePath", "5t.h5/data")
        _vstr(rd, "axistags", axistags("tyxc").decode())
        g = f.create_group("PixelClassification")
        g["LabelNames"] = np.array([b"Label 1", b"Label 2"])
        blk = np.zeros((1, 11, 10, 1, 1), np.uint8)  # t, x, y, z, c
        blk[0, :, :5] = 1
        blk[0, :, 5:] = 2
        g.create_dataset("LabelSets/labels000/block0000", data=blk).attrs["blockSlice"] = "[1:2,14:25,15:25,0:1,0:1]"
    with pytest.warns(UserWarning, match="selects no features"):
        p = pc.Project.from_ilastik(tmp_path / "r.ilp")
    assert len(p.images) == 2 and p.images[0].shape_spatial == img.shape_spatial
    assert p.features == pc.FeatureSet.default()
    assert not p.labels(0).any()
    lab = p.labels(1)
    assert (lab[15:20, 14:25] == 1).all() and (lab[20:25, 14:25] == 2).all() and (lab > 0).sum() == 110


def test_ilastik_12_axisorder_txyzc_single_plane(tmp_path, scene2d):
    # ilastik 1.2.0rc10 (its mitocheck 2D+t project): no __class__, axisorder 'txyzc' beside axistags,
    # a z of length 1 that is a 2D image, labels in the same five axes
    img, _ = scene2d
    data = np.stack([img.data.transpose(1, 0, 2)[:, :, None, :]] * 3)  # t, x, y, z=1, c
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["exported_data"] = data
    with h5py.File(tmp_path / "m.ilp", "w") as f:
        f["workflowName"] = b"Pixel Classification"
        rd = f.create_group("Input Data/infos/lane0000/Raw Data")
        rd["location"] = b"FileSystem"
        rd["filePath"] = b"sub/m.h5/exported_data"
        rd["axisorder"] = b"txyzc"
        g = f.create_group("PixelClassification")
        g["LabelNames"] = np.array([b"a", b"b"])
        blk = np.full((1, 4, 6, 1, 1), 2, np.uint8)
        g.create_dataset("LabelSets/labels000/block0000", data=blk).attrs["blockSlice"] = np.bytes_(
            b"[2:3,10:14,20:26,0:1,0:1]")  # a fixed-length string attribute
    p = pc.Project.from_ilastik(tmp_path / "m.ilp")  # found beside the project although moved
    assert len(p.images) == 3 and p.images[0].shape_spatial == img.shape_spatial
    np.testing.assert_array_equal(p.images[1].data, img.data)
    assert (p.labels(2)[20:26, 10:14] == 2).all() and (p.labels(2) > 0).sum() == 24


def test_steinbock_template_opens_with_classes_and_no_lanes(tmp_path):
    # what steinbock ships (ilastik 1.3.3post3): three classes, no lanes, an empty FeatureSelections group
    with h5py.File(tmp_path / "t.ilp", "w") as f:
        _vstr(f, "workflowName", "Pixel Classification")
        f.create_group("Input Data/infos")
        f.create_group("FeatureSelections")
        g = f.create_group("PixelClassification")
        g["LabelNames"] = np.array([b"Nucleus", b"Cytoplasm", b"Background"], dtype="S17")
        g["LabelColors"] = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    with pytest.warns(UserWarning, match="default grid"):
        p = pc.Project.from_ilastik(tmp_path / "t.ilp")
    assert p.classes == ["Nucleus", "Cytoplasm", "Background"] and p.images == []



def test_command_line_says_a_warning_in_one_line(tmp_path, capsys):
    with h5py.File(tmp_path / "t.ilp", "w") as f:  # steinbock's template again: it selects no features
        _vstr(f, "workflowName", "Pixel Classification")
        f.create_group("Input Data/infos")
        f.create_group("FeatureSelections")
        f.create_group("PixelClassification")["LabelNames"] = np.array([b"Nucleus", b"Background"], dtype="S17")
    assert main(["import-ilastik", str(tmp_path / "t.ilp"), "-o", str(tmp_path / "t.h5")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("pixclass: note: ") and "default grid" in err[0]
    assert not any("UserWarning" in e or "from_ilastik(" in e for e in err)  # no Python warning, no source line


# ----- what a damaged or hostile .ilp declares is checked before it is read

def _one_lane(path, img, block=None, slice_text=None, **kw):
    blocks = [] if block is None else [(slice_text, block)]
    write_ilp(path, [{"data": img.data, "axes": "yxc", "blocks": blocks}], **kw)


def test_hostile_label_blocks_are_refused_before_reading(tmp_path, scene2d, monkeypatch):
    img, _ = scene2d
    _one_lane(tmp_path / "h.ilp", img)
    with h5py.File(tmp_path / "h.ilp", "a") as f:  # declared 60000 x 60000, never written: nothing to read
        ds = f.create_dataset("PixelClassification/LabelSets/labels000/block0000", shape=(60000, 60000, 1),
                              dtype=np.uint8, chunks=(256, 256, 1))
        ds.attrs["blockSlice"] = "[0:60000,0:60000,0:1]"
    with pytest.raises(ValueError, match=r"h.ilp.*block0000.*outside the image"):
        pc.Project.from_ilastik(tmp_path / "h.ilp")
    _one_lane(tmp_path / "d.ilp", img, np.ones((5, 5, 1), np.uint8), "[" + "1" * 1_000_000 + ":2,0:5,0:1]")
    with pytest.raises(ValueError, match=r"d.ilp.*blockSlice of .*block0000 is 1000012 characters long"):
        pc.Project.from_ilastik(tmp_path / "d.ilp")  # was a quadratic regex: minutes
    _one_lane(tmp_path / "e.ilp", img, np.ones((5, 5, 1), np.uint8), "[" + "1" * 60_000 + ":2,0:5,0:1]")
    with pytest.raises(ValueError, match=r"e.ilp.*blockSlice '\[1111.*is not like"):
        pc.Project.from_ilastik(tmp_path / "e.ilp")
    _one_lane(tmp_path / "v.ilp", img, np.full((5, 5, 1), 300, np.uint16), "[0:5,0:5,0:1]")
    with pytest.raises(ValueError, match=r"v.ilp.*block0000 holds label values 300..300.*2 classes"):
        pc.Project.from_ilastik(tmp_path / "v.ilp")
    _one_lane(tmp_path / "g.ilp", img)
    with h5py.File(tmp_path / "g.ilp", "a") as f:
        f.create_group("PixelClassification/LabelSets/labels000/block0000")
    with pytest.raises(ValueError, match=r"g.ilp.*block0000 should be a label block"):
        pc.Project.from_ilastik(tmp_path / "g.ilp")


def test_hostile_entries_get_errors_naming_the_file(tmp_path, scene2d, monkeypatch):
    img, _ = scene2d
    _one_lane(tmp_path / "c.ilp", img)
    with h5py.File(tmp_path / "c.ilp", "a") as f:
        del f["PixelClassification/LabelColors"]
        f["PixelClassification/LabelColors"] = np.array([b"red", b"blue"])
    with pytest.raises(ValueError, match=r"c.ilp.*LabelColors should be rows of 3 numbers"):
        pc.Project.from_ilastik(tmp_path / "c.ilp")
    _one_lane(tmp_path / "l.ilp", img, names=("Zellkern (groß)".encode("latin-1"), b"Hintergrund"))
    assert pc.Project.from_ilastik(tmp_path / "l.ilp").classes == ["Zellkern (groß)", "Hintergrund"]
    _one_lane(tmp_path / "m.ilp", img, names=(b"x" * 5000, b"Hintergrund"))  # a name shown on a button
    with pytest.raises(ValueError, match=r"m.ilp.*LabelNames: a class name is at most 255 characters; got 5000"):
        pc.Project.from_ilastik(tmp_path / "m.ilp")
    _one_lane(tmp_path / "a.ilp", img)
    with h5py.File(tmp_path / "a.ilp", "a") as f:
        rd = f["Input Data/infos/lane0000/Raw Data"]
        del rd["axistags"]
        rd["axistags"] = b"{not json"
    with pytest.raises(ValueError, match=r"a.ilp.*axistags of lane0000 are not ilastik's JSON"):
        pc.Project.from_ilastik(tmp_path / "a.ilp")
    deep = '{"a": ' * 5000 + "1" + "}" * 5000  # JSON deeper than the parser's stack
    for where, name in (("Input Data/infos/lane0000/Raw Data", "lane0000"),
                        ("PixelClassification/LabelSets/labels000/block0000", "block0000")):
        _one_lane(tmp_path / "n.ilp", img, np.ones((5, 5, 1), np.uint8), "[0:5,0:5,0:1]")
        with h5py.File(tmp_path / "n.ilp", "a") as f:
            if hasattr(f[where], "shape"):
                f[where].attrs["axistags"] = deep
            else:
                del f[where]["axistags"]
                f[where]["axistags"] = deep.encode()
        with pytest.raises(ValueError, match=rf"n.ilp.*axistags of .*{name}.* are not ilastik's JSON"):
            pc.Project.from_ilastik(tmp_path / "n.ilp")
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", str(2 * 2**30))
    _one_lane(tmp_path / "big.ilp", img)
    with h5py.File(tmp_path / "big.ilp", "a") as f:  # a huge declared local_data
        del f["Input Data/local_data/id-0"]
        f.create_dataset("Input Data/local_data/id-0", shape=(60000, 60000, 2), dtype=np.uint16, chunks=(64, 64, 2))
    with pytest.raises(ValueError, match=r"big.ilp.*lane0000.*\(60000, 60000, 2\).*larger than this process may read"):
        pc.Project.from_ilastik(tmp_path / "big.ilp")
    _one_lane(tmp_path / "o.ilp", img)
    with h5py.File(tmp_path / "o.ilp", "a") as f:  # pixels of object dtype: pickles' way into numpy
        del f["Input Data/local_data/id-0"]
        f.create_dataset("Input Data/local_data/id-0", data=np.array([b"x"] * 4, dtype=object), dtype=VLEN)
    with pytest.raises(ValueError, match=r"o.ilp.*local_data/id-0.*not plain numbers"):
        pc.Project.from_ilastik(tmp_path / "o.ilp")
    _one_lane(tmp_path / "w.ilp", img)
    with h5py.File(tmp_path / "w.ilp", "a") as f:  # a workflow name that is not text
        del f["workflowName"]
        f["workflowName"] = np.arange(3.0)
    with pytest.raises(ValueError, match=r"w.ilp.*workflowName should be"):
        pc.Project.from_ilastik(tmp_path / "w.ilp")
    _one_lane(tmp_path / "i.ilp", img)
    with h5py.File(tmp_path / "i.ilp", "a") as f:  # stored in the project, but the pixels are gone
        del f["Input Data/local_data/id-0"]
    with pytest.raises(ValueError, match=r"i.ilp.*lane0000 is stored in the project as 'Input Data/local_data/id-0'"):
        pc.Project.from_ilastik(tmp_path / "i.ilp")


def test_internal_lane_without_lane_axes_takes_the_datasets_axistags(tmp_path, scene2d):
    """An internal lane whose info names no axes: the stored dataset's own axistags, else the shape, decide."""
    img, truth = scene2d
    data = np.moveaxis(img.data, -1, 0)  # stored c, y, x
    lab = pc.datasets.scribbles(truth["classes"], n_strokes=3, mapping={1: 1, 2: 2, 3: 2})
    write_ilp(tmp_path / "a.ilp", [{"data": data, "axes": "cyx",
                                    "blocks": [(f"[0:1,0:{lab.shape[0]},0:{lab.shape[1]}]", lab[None])]}])
    with h5py.File(tmp_path / "a.ilp", "a") as f:
        del f["Input Data/infos/lane0000/Raw Data/axistags"]
        f["Input Data/local_data/id-0"].attrs["axistags"] = axistags("cyx").decode()
    p = pc.Project.from_ilastik(tmp_path / "a.ilp")
    assert p.images[0].axes == "YXC" and p.images[0].n_channels == img.n_channels
    np.testing.assert_array_equal(p.images[0].data, img.data)
    np.testing.assert_array_equal(p.labels(0), lab)


def _stack_lane(tmp_path, vol):
    """vol (z, y, x) written one TIFF a plane, as "Add Volume from Stack..." reads them; their names."""
    (tmp_path / "slices").mkdir()
    for z, plane in enumerate(vol):
        tifffile.imwrite(tmp_path / "slices" / f"img_{z:03d}.tif", plane)
    return [f"slices/img_{z:03d}.tif" for z in range(len(vol))]


def _stack_project(path, names):
    """A project whose one lane is the files ``names`` joined by ':' (ilastik 1.4 on Linux), 18 labels in two
    planes: class 1 on [4, 10:13, 20:24], class 2 on [5, 10:13, 20:22]."""
    blk = np.zeros((2, 3, 4, 1), np.uint8)
    blk[0], blk[1, :, :2] = 1, 2
    with h5py.File(path, "w") as f:
        _vstr(f, "workflowName", "Pixel Classification")
        rd = f.create_group("Input Data/infos/lane0000/Raw Data")
        _vstr(rd, "__class__", "RelativeFilesystemDatasetInfo")
        _vstr(rd, "filePath", ":".join(names))
        _vstr(rd, "axistags", axistags("zyxc").decode())
        _vstr(rd, "nickname", "img_")
        f["PixelClassification/LabelNames"] = np.array([b"Nucleus", b"Background"])
        f.create_dataset("PixelClassification/LabelSets/labels000/block0000", data=blk).attrs[
            "blockSlice"] = "[4:6,10:13,20:24,0:1]"


def test_a_stack_of_files_is_one_volume(tmp_path):
    # ilastik 1.4 writes a stack lane's filePath as its files joined by os.pathsep (sorted, relative to
    # the project for a RelativeFilesystemDatasetInfo), and its axistags with the stacking axis first
    vol, truth = pc.datasets.nuclei((9, 40, 44), seed=2)
    dapi = vol.data[..., 1]
    _stack_project(tmp_path / "s.ilp", _stack_lane(tmp_path, dapi))
    with pytest.warns(UserWarning, match="selects no features"):
        p = pc.Project.from_ilastik(tmp_path / "s.ilp")
    img = p.images[0]
    assert img.axes == "ZYXC" and img.name == "img_" and img.path is None
    np.testing.assert_array_equal(img.data[..., 0], dapi)  # plane z from file z
    lab = p.labels(0)
    assert (lab[4, 10:13, 20:24] == 1).all() and (lab[5, 10:13, 20:22] == 2).all() and (lab > 0).sum() == 18
    p.save(tmp_path / "p.h5")  # no one file to reopen: the project keeps the pixels
    np.testing.assert_array_equal(pc.Project.load(tmp_path / "p.h5").images[0].data, img.data)
    assert p.train().predict(0).shape == (9, 40, 44, 2)



def test_a_stack_too_big_to_hold_stays_in_its_files_and_a_saved_project_names_them(tmp_path, monkeypatch):
    # refused before ("write the stack as one OME-Zarr"); ilastik itself reads such a stack plane by plane
    vol, truth = pc.datasets.nuclei((9, 40, 44), seed=2)
    dapi = vol.data[..., 1]
    _stack_project(tmp_path / "s.ilp", _stack_lane(tmp_path, dapi))
    monkeypatch.setattr("jupyter_pixclass.project.ilastik_stacks.too_big_to_hold", lambda shape, dtype: True)
    opened = []
    real = FileStack.__getitem__
    monkeypatch.setattr(FileStack, "__getitem__", lambda self, key: opened.append(key) or real(self, key))
    with pytest.warns(UserWarning, match="selects no features"):
        p = pc.Project.from_ilastik(tmp_path / "s.ilp")
    img = p.images[0]
    assert img.lazy and img.axes == "ZYXC" and img.name == "img_" and len(img.files) == 9
    assert not opened  # nothing read to open it
    np.testing.assert_array_equal(img.data[3:5, 10:20, 5:9, 0], dapi[3:5, 10:20, 5:9])
    lab = p.labels(0)
    assert (lab[4, 10:13, 20:24] == 1).all() and (lab[5, 10:13, 20:22] == 2).all() and (lab > 0).sum() == 18
    p.features = pc.FeatureSet(sigmas=[1.0])
    want = p.train().predict(0)
    p.save(tmp_path / "p.h5")
    with h5py.File(tmp_path / "p.h5") as f:
        assert "data" not in f["images/0"]  # the files are named, not copied
    os.rename(tmp_path, tmp_path.parent / (tmp_path.name + "_moved"))  # the project moved with its files
    moved = tmp_path.parent / (tmp_path.name + "_moved")
    q = pc.Project.load(moved / "p.h5")
    assert q.images[0].lazy and q.images[0].files[0] == str(moved / "slices" / "img_000.tif")
    np.testing.assert_array_equal(q.labels(0), lab)
    np.testing.assert_array_equal(q.predict(0), want)
    with pytest.raises(ValueError, match=r"would overwrite .*img_003.tif|img_003.tif.*input"):
        q.export(0, moved / "slices" / "img_003.tif")
    os.remove(moved / "slices" / "img_007.tif")
    with pytest.raises(FileNotFoundError, match=r"images/0 'img_', a stack of 9 files, 1 not found: .*img_007.tif"):
        pc.Project.load(moved / "p.h5")


def test_stack_globs_windows_lists_and_their_errors(tmp_path, monkeypatch):
    vol, truth = pc.datasets.nuclei((8, 32, 36), seed=4)
    names = _stack_lane(tmp_path, vol.data[..., 1])
    # before 1.4 ilastik kept the glob pattern itself; its matches lie in sorted order
    write_ilp(tmp_path / "g.ilp", [{"file": "slices/img_*.tif", "axes": "zyxc"}])
    with pytest.warns(UserWarning):
        g = pc.Project.from_ilastik(tmp_path / "g.ilp")
    np.testing.assert_array_equal(g.images[0].data[..., 0], vol.data[..., 1])
    # written on Windows: ';' between files, backslashes, a drive; found by their names under image_root
    win = ";".join("D:\\scope\\" + n.replace("/", "\\") for n in names)
    write_ilp(tmp_path / "w.ilp", [{"file": win, "axes": "zyxc"}])
    with pytest.raises(FileNotFoundError, match=r"(?s)1 lane\(s\).*a stack, 8 of its names not found: D:/scope/slices/"
                                                r"img_000.tif .*; and 5 more"):
        pc.Project.from_ilastik(tmp_path / "w.ilp")
    with pytest.warns(UserWarning):
        w = pc.Project.from_ilastik(tmp_path / "w.ilp", image_root=tmp_path / "slices")
    np.testing.assert_array_equal(w.images[0].data, g.images[0].data)
    # one plane of another size: an error naming that file
    tifffile.imwrite(tmp_path / "slices" / "img_003.tif", np.zeros((30, 36), vol.data.dtype))
    with pytest.raises(ValueError, match=r"g.ilp.*stacks files of different images: .*img_003.tif"):
        pc.Project.from_ilastik(tmp_path / "g.ilp")
    # more than may be read at once: left in its files, known from the first file's header
    tifffile.imwrite(tmp_path / "slices" / "img_003.tif", vol.data[3, ..., 1])
    monkeypatch.setenv("PIXCLASS_MEMORY_LIMIT", "16kB")  # the 18 kB stack is more than may be read
    opened = []
    real = pc.project.ilastik_stacks.open_lazily
    monkeypatch.setattr(pc.project.ilastik_stacks, "open_lazily", lambda f: opened.append(f) or real(f))
    with pytest.warns(UserWarning):
        big = pc.Project.from_ilastik(tmp_path / "g.ilp")
    assert big.images[0].lazy and {os.path.basename(f) for f in opened} == {"img_000.tif"}
    np.testing.assert_array_equal(big.images[0].data[2:4, ..., 0], vol.data[2:4, ..., 1])
    # a stack along time is read whole: refused from the first file's header, naming what to do
    write_ilp(tmp_path / "t.ilp", [{"file": "slices/img_*.tif", "axes": "tyxc"}])
    opened.clear()
    with pytest.raises(ValueError, match=r"t.ilp.*stack of 8 files .*\(8, 32, 36, 1\).*one OME-Zarr or HDF5"):
        pc.Project.from_ilastik(tmp_path / "t.ilp")
    assert {os.path.basename(f) for f in opened} == {"img_000.tif"}  # its header only, before the others
    # globs of the datasets inside an HDF5 file are not read, and say so
    write_ilp(tmp_path / "h.ilp", [{"file": "planes.h5/z*", "axes": "zyxc"}])
    with pytest.raises(ValueError, match=r"h.ilp.*lane0000.*globs the datasets inside a file"):
        pc.Project.from_ilastik(tmp_path / "h.ilp")


def test_stack_parts_split_as_ilastik_joins_them():
    from jupyter_pixclass.project.ilastik_stacks import is_stack, stack_parts
    assert stack_parts("/d/a.tif:/d/b.tif:c.tif") == ["/d/a.tif", "/d/b.tif", "c.tif"]
    assert stack_parts("C:/d/a.tif;C:/d/b.tif") == ["C:/d/a.tif", "C:/d/b.tif"]
    assert stack_parts("C:/d/a.tif") == ["C:/d/a.tif"]  # a drive, not a separator
    assert stack_parts("http://host:8080/a.h5") == ["http://host:8080/a.h5"]
    assert not is_stack("raw.h5/data") and not is_stack("C:/d/a.tif")
    assert is_stack("a.tif:b.tif") and is_stack("slices/*.png") and is_stack("z[0-9].tif")


def _url_lane(path, url, working_scale, axes, block=None):
    """A lane as ilastik 1.4.1 writes an OME-Zarr image added by URL (MultiscaleUrlDatasetInfo)."""
    with h5py.File(path, "w") as f:
        _vstr(f, "workflowName", "Pixel Classification")
        rd = f.create_group("Input Data/infos/lane0000/Raw Data")
        _vstr(rd, "__class__", "MultiscaleUrlDatasetInfo")
        _vstr(rd, "location", "FileSystem")
        for k in ("filePath", "url"):
            _vstr(rd, k, url)
        if working_scale is not None:
            _vstr(rd, "working_scale", working_scale)
        _vstr(rd, "axistags", axistags(axes).decode())
        _vstr(rd, "nickname", "cells")
        f["PixelClassification/LabelNames"] = np.array([b"Nucleus", b"Background"])
        if block is not None:
            f.create_dataset("PixelClassification/LabelSets/labels000/block0000", data=block[1]).attrs[
                "blockSlice"] = block[0]


def test_an_ome_zarr_lane_by_url_opens_at_the_level_ilastik_labeled(tmp_path):
    # ilastik 1.4.1 adds OME-Zarr images by URL and labels them at its working scale; such lanes were refused
    # ("a MultiscaleUrlDatasetInfo, which we cannot open")
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    img, truth = pc.datasets.nuclei((128, 160), seed=3)
    cyx = np.moveaxis(np.asarray(img.data), -1, 0)
    write_image(image=cyx, group=zarr.group(store=parse_url(tmp_path / "cells.ome.zarr", mode="w").store), axes="cyx")
    levels = zarr.open_group(tmp_path / "cells.ome.zarr", mode="r")
    names = sorted(levels.array_keys())  # ome-zarr's writer names them s0, s1, ...
    url = (tmp_path / "cells.ome.zarr").as_uri()
    blk = np.zeros((1, 4, 10), np.uint8)
    blk[0, :2], blk[0, 2:] = 1, 2
    _url_lane(tmp_path / "a.ilp", url, names[1], "cyx", ("[0:1,10:14,20:30]", blk))
    with pytest.warns(UserWarning, match="selects no features"):
        p = pc.Project.from_ilastik(tmp_path / "a.ilp")
    im = p.images[0]  # the level the labels were painted on
    assert im.shape_spatial == (64, 80) and im.path.endswith(f"cells.ome.zarr/{names[1]}")
    np.testing.assert_array_equal(np.asarray(im.data), np.moveaxis(np.asarray(levels[names[1]]), 0, -1))
    lab = p.labels(0)
    assert (lab[10:12, 20:30] == 1).all() and (lab[12:14, 20:30] == 2).all() and (lab > 0).sum() == 40
    assert p.train().predict(0).shape == (64, 80, 2)
    for ws, end, shape in (("", "", (8, 10)), (None, f"/{names[2]}", (32, 40))):  # the coarsest; the URL's level
        _url_lane(tmp_path / "b.ilp", url + end, ws, "cyx")
        with pytest.warns(UserWarning):
            assert pc.Project.from_ilastik(tmp_path / "b.ilp").images[0].shape_spatial == shape
    _url_lane(tmp_path / "e.ilp", url, "7", "cyx")
    with pytest.raises(ValueError, match=r"e.ilp.*lane0000: its level '7' is not one of the levels \['s0'"):
        pc.Project.from_ilastik(tmp_path / "e.ilp")
    # a web address is never fetched: the store is looked for by its name, where image_root says
    (tmp_path / "p").mkdir()
    _url_lane(tmp_path / "p" / "w.ilp", "https://example.org/idr/zarr/v0.4/cells.ome.zarr", "s1", "cyx")
    with pytest.raises(FileNotFoundError, match=r"cells.ome.zarr \(a web address, not fetched: download"):
        pc.Project.from_ilastik(tmp_path / "p" / "w.ilp")
    with pytest.warns(UserWarning):
        w = pc.Project.from_ilastik(tmp_path / "p" / "w.ilp", image_root=tmp_path)
    assert w.images[0].shape_spatial == (64, 80)
    _url_lane(tmp_path / "x.ilp", "ftp://example.org/cells.ome.zarr", "s1", "cyx")
    with pytest.raises(ValueError, match=r"x.ilp.*lane0000: its URL 'ftp://.*' is not a file:"):
        pc.Project.from_ilastik(tmp_path / "x.ilp")


def test_an_imported_lane_keeps_one_copy_of_its_labels(tmp_path, scene2d):
    # a volume's labels are one byte a voxel: the import made two more copies (np.take of the channel axis, then
    # set_labels), so a 1 GiB stack peaked at 2.2 GB instead of 1.2 (python benchmarks/bench_stacks.py)
    from jupyter_pixclass.project.ilastik import read_ilastik_state

    img, _ = scene2d
    write_ilp(tmp_path / "p.ilp", [{"data": img.data, "axes": "yxc",
                                    "blocks": [("[10:15,20:28,0:1]", np.full((5, 8, 1), 1, np.uint8))]}])
    state = read_ilastik_state(tmp_path / "p.ilp")
    lab = state.images[0][1]
    assert lab.base is not None  # a view of the lane's (y, x, c) labels, not a copy
    p = pc.Project.from_state(state)
    assert np.shares_memory(p.labels(0), lab)
    mask = np.zeros(img.shape_spatial, bool)
    mask[:2, :2] = True
    p.paint(0, mask, 2)  # strokes paint into it
    assert (p.labels(0)[:2, :2] == 2).all() and (p.labels(0) == 1).sum() == 40
    own = np.zeros(img.shape_spatial, np.uint8)
    p.set_labels(0, own)  # a caller's array is copied, as before
    assert not np.shares_memory(p.labels(0), own)


def test_an_autocontext_project_gives_its_first_stage(tmp_path, scene2d):
    # ilastik's Autocontext keeps its first stage in the groups of a pixel classification (the second in
    # PixelClassification01, trained on the first stage's probabilities); such projects were refused
    img, _ = scene2d
    blocks = [("[10:15,20:28,0:1]", np.full((5, 8, 1), 1, np.uint8)),
              ("[30:34,40:46,0:1]", np.full((4, 6, 1), 2, np.uint8))]
    write_ilp(tmp_path / "ac.ilp", [{"data": img.data, "axes": "yxc", "blocks": blocks}],
              names=(b"background", b"dim nuclei"), features=FEATS, workflow=b"AutocontextTwoStage")
    with h5py.File(tmp_path / "ac.ilp", "a") as f:
        f["PixelClassification01/LabelNames"] = np.array([b"nuclei", b"background"])
    with pytest.warns(UserWarning, match=r"ac.ilp.*Autocontext project \(AutocontextTwoStage\): its first stage is "
                                         r"imported .*second stage \(classes 'nuclei', 'background'\).* is not"):
        p = pc.Project.from_ilastik(tmp_path / "ac.ilp")
    assert p.classes == ["background", "dim nuclei"] and (p.labels(0) > 0).sum() == 64
    assert p.train().predict(0).shape == (60, 70, 2)
