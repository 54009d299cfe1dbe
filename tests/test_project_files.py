"""The files a project came from: no export, batch output or save lands on them."""
import hashlib

import h5py
import numpy as np
import pytest

import jupyter_pixclass as pc


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _minimal_ilp(path, img, labels):
    """A Pixel Classification .ilp as ilastik 1.4 writes it: one lane inside the project, one label block."""
    with h5py.File(path, "w") as f:
        f["workflowName"] = b"Pixel Classification"
        f["Input Data/StorageVersion"] = b"0.2"
        f["PixelClassification/LabelNames"] = np.array([b"Nucleus", b"Background"])
        f["PixelClassification/LabelColors"] = np.array([[255, 0, 0], [0, 0, 255]])
        rd = f.create_group("Input Data/infos/lane0000/Raw Data")
        rd["location"], rd["datasetId"], rd["axisorder"] = b"ProjectInternal", b"raw", b"yxc"
        f["Input Data/local_data/raw"] = img.data
        b = f.create_dataset("PixelClassification/LabelSets/labels000/block0000", data=labels[..., None])
        b.attrs["blockSlice"] = f"[0:{labels.shape[0]},0:{labels.shape[1]},0:1]".encode()


def test_a_loaded_project_keeps_its_file_and_no_export_or_batch_overwrites_it(tmp_path, trained):
    trained.save(tmp_path / "p.h5")
    assert trained.path == str(tmp_path / "p.h5")
    q = pc.Project.load(tmp_path / "p.h5")
    assert q.path == str(tmp_path / "p.h5") and str(tmp_path / "p.h5") in q.input_files()
    before = _digest(tmp_path / "p.h5")
    with pytest.raises(ValueError, match="p.h5.*is an input"):
        q.export(0, tmp_path / "p.h5")
    np.save(tmp_path / "x.npy", q.images[0].data)
    with pytest.raises(ValueError, match="p.h5.*is an input"):
        pc.batch_predict(q, [tmp_path / "x.npy"], tmp_path, format="hdf5", name_template="p.{ext}", progress=False)
    assert _digest(tmp_path / "p.h5") == before
    assert pc.Project.load(tmp_path / "p.h5").classes == q.classes
    q.save(tmp_path / "p.h5")  # saving a project back to its own file is what Save does
    assert pc.Project.load(tmp_path / "p.h5").forest is not None
    app = pc.PixelClassifierApp(q, canvas_size=(200, 200))
    try:  # the panel's Save writes back to the file the project came from unless told otherwise
        assert app.export_panel.project_path.value == str(tmp_path / "p.h5")
    finally:
        app.close()


def test_batch_never_writes_onto_an_image_the_project_reads(tmp_path, scene, trained):
    img, _ = scene
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f["data"] = img.data
    p = pc.Project(trained.classes, features=trained.features, n_estimators=10)
    p.add_image(str(tmp_path / "raw.h5"), lazy=True)  # read from that file whenever it is shown
    p.set_labels(0, trained.labels(0))
    p.train()
    np.save(tmp_path / "other.npy", img.data)
    before = _digest(tmp_path / "raw.h5")
    with pytest.raises(ValueError, match="raw.h5.*is an input"):
        pc.batch_predict(p, [tmp_path / "other.npy"], tmp_path, format="hdf5", name_template="raw.{ext}",
                         progress=False)
    assert _digest(tmp_path / "raw.h5") == before


def test_an_imported_ilp_is_never_saved_or_exported_over(tmp_path, scene):
    img, truth = scene
    lab = np.zeros(img.shape_spatial, np.uint8)
    lab[truth["classes"] == 1] = 1
    lab[truth["classes"] == 3] = 2
    _minimal_ilp(tmp_path / "mine.ilp", img, lab)
    with pytest.warns(UserWarning, match="default grid"):
        p = pc.Project.from_ilastik(tmp_path / "mine.ilp")
    assert p.ilastik_path == str(tmp_path / "mine.ilp") and p.path is None
    before = _digest(tmp_path / "mine.ilp")
    with pytest.raises(ValueError, match="mine.ilp.*is an input"):
        p.save(tmp_path / "mine.ilp")
    p.features = pc.FeatureSet(sigmas=[1.0])
    p.train()
    np.save(tmp_path / "x.npy", img.data)
    with pytest.raises(ValueError, match="mine.ilp.*is an input"):
        pc.batch_predict(p, [tmp_path / "x.npy"], tmp_path, format="hdf5", name_template="mine.ilp", progress=False)
    assert _digest(tmp_path / "mine.ilp") == before
    p.save(tmp_path / "mine.h5")
    assert p.path == str(tmp_path / "mine.h5")
