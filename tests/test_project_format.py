"""Saved projects that are damaged or hostile: every damage is refused naming the file, or is harmless."""
import json

import h5py
import numpy as np
import pytest

import jupyter_pixclass as pc


@pytest.fixture(scope="module")
def saved(tmp_path_factory, scene):
    img, truth = scene
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0, 3.5]), n_estimators=8)
    p.add_image(img)
    p.set_labels(0, pc.datasets.scribbles(truth["classes"], n_strokes=6, mapping={1: 1, 2: 2, 3: 2}))
    path = tmp_path_factory.mktemp("saved") / "p.h5"
    p.train().save(path)
    return path


def _replace(f, key, data):
    del f[key]
    f[key] = data


def _forest_damage(name):
    def roots_short(f):
        _replace(f, "forest/roots", f["forest/roots"][:-3])

    def nan_threshold(f):
        t = f["forest/threshold"][...]
        t[np.flatnonzero(f["forest/left"][...] >= 0)[0]] = np.nan
        _replace(f, "forest/threshold", t)

    def inf_threshold(f):
        t = f["forest/threshold"][...]
        t[np.flatnonzero(f["forest/left"][...] >= 0)[1]] = np.inf
        _replace(f, "forest/threshold", t)

    def not_distribution(f):
        v = f["forest/value"][...]
        v[f["forest/left"][...] < 0] *= 3
        _replace(f, "forest/value", v)

    def extra_column(f):
        v = f["forest/value"][...]
        _replace(f, "forest/value", np.hstack([v, np.zeros((v.shape[0], 1), v.dtype)]))

    def shared_child(f):
        left, right = f["forest/left"][...], f["forest/right"][...]
        inner = np.flatnonzero(left >= 0)
        a, b = inner[0], next(j for j in inner[1:] if right[j] > right[inner[0]] or True)
        right[b] = right[a] if right[a] > b else right[b]
        left[inner[0]] = right[inner[0]]  # two edges to one child
        _replace(f, "forest/left", left)

    def child_out_of_range(f):
        left = f["forest/left"][...]
        left[np.flatnonzero(left >= 0)[0]] = 10**8
        _replace(f, "forest/left", left)

    def feature_out_of_range(f):
        feat = f["forest/feature"][...]
        feat[np.flatnonzero(f["forest/left"][...] >= 0)[0]] = 10**6
        _replace(f, "forest/feature", feat)

    def more_classes(f):
        meta = json.loads(f.attrs["meta"])
        meta["classes"].append("Third")
        meta["colors"].append("#00ff00")
        f.attrs["meta"] = json.dumps(meta)

    def features_edited(f):
        meta = json.loads(f.attrs["meta"])
        meta["features"]["pairs"][0][1] = 2.0
        f.attrs["meta"] = json.dumps(meta)

    def object_threshold(f):
        del f["forest/threshold"]
        f.create_dataset("forest/threshold", data=np.array([b"x"] * 3, dtype=object), dtype=h5py.string_dtype())

    return locals()[name]


FOREST = ["roots_short", "nan_threshold", "inf_threshold", "not_distribution", "extra_column", "shared_child",
          "child_out_of_range", "feature_out_of_range", "more_classes", "features_edited", "object_threshold"]


@pytest.mark.parametrize("damage", FOREST)
def test_a_damaged_forest_is_refused_naming_the_file(saved, tmp_path, damage):
    bad = tmp_path / f"{damage}.h5"
    bad.write_bytes(saved.read_bytes())
    with h5py.File(bad, "a") as f:
        _forest_damage(damage)(f)
    with pytest.raises(ValueError, match=f"{damage}.h5"):
        pc.Project.load(bad)


def _every_entry(path):
    with h5py.File(path) as f:
        out = []
        f.visititems(lambda n, o: out.append(n) if hasattr(o, "shape") else None)
        return out


def test_every_entry_truncated_retyped_or_missing(saved, tmp_path):
    # each dataset in turn: cut to its first element, turned into text, removed; each attribute: an integer
    entries = _every_entry(saved)
    assert len(entries) >= 9
    outcomes = {}
    for key in entries:
        for how in ("truncate", "text", "delete"):
            bad = tmp_path / "d.h5"
            bad.write_bytes(saved.read_bytes())
            with h5py.File(bad, "a") as f:
                d = f[key][...]
                del f[key]
                if how == "truncate":
                    f[key] = d.ravel()[:1]
                elif how == "text":
                    f[key] = np.array([b"x"] * 2)
            try:
                p = pc.Project.load(bad)
            except ValueError as e:
                assert "d.h5" in str(e), (key, how, str(e))
                outcomes[(key, how)] = "refused"
                continue
            outcomes[(key, how)] = "loaded"
            if p.forest is not None:  # what loads must predict distributions
                prob = p.predict(0)
                np.testing.assert_allclose(prob.sum(-1), 1, atol=1e-4)
    assert sum(v == "refused" for v in outcomes.values()) >= len(entries) * 2
    with h5py.File(saved) as f:
        attrs = [("/", k) for k in f.attrs] + [(n, k) for n in entries + ["images/0", "forest"] for k in f[n].attrs]
    for where, k in attrs:
        bad = tmp_path / "a.h5"
        bad.write_bytes(saved.read_bytes())
        with h5py.File(bad, "a") as f:
            f[where].attrs[k] = 7
        try:
            pc.Project.load(bad)
        except ValueError as e:
            assert "a.h5" in str(e), (where, k, str(e))


def test_hostile_metadata_is_refused_naming_the_file(saved, tmp_path):
    for change in ({"classes": ["A", "A"]}, {"classes": ["A"] * 300}, {"features": {"pairs": [["nope", 1]]}},
                   {"features": {"pairs": [["gaussian", 1e7]]}},
                   {"classes": ["x" * 300, "y"]}, {"classes": ["x" * 2**21, "y"]},
                   {"colors": ["notacolour", "#000000"]}, {"class_weight": "balanced_subsample"},
                   {"class_weight": ["balanced"]}, {"classes": "AB"}, {"colors": 5}, {"random_state": "x"},
                   {"random_state": -1}, {"random_state": None, "n_estimators": 10**12}, {"n_estimators": None},
                   {"features": 3}):
        bad = tmp_path / "m.h5"
        bad.write_bytes(saved.read_bytes())
        with h5py.File(bad, "a") as f:
            meta = json.loads(f.attrs["meta"])
            meta.update(change)
            f.attrs["meta"] = json.dumps(meta)
        with pytest.raises(ValueError, match="m.h5"):
            pc.Project.load(bad)
    deep = '{"a": ' * 5000 + "1" + "}" * 5000  # deeper than the JSON parser's stack
    for where, key, value in (("/", "meta", deep), ("images/0", "meta", deep), ("forest", "trained", deep),
                              ("/", "format", np.arange(3)), ("forest", "trained", None)):
        bad = tmp_path / "j.h5"
        bad.write_bytes(saved.read_bytes())
        with h5py.File(bad, "a") as f:
            if value is None:  # filter dimensions that are not 2 or 3
                value = json.dumps(dict(json.loads(f["forest"].attrs["trained"]), ndim="x"))
            f[where].attrs[key] = value
        with pytest.raises(ValueError, match="j.h5"):
            pc.Project.load(bad)
    bad = tmp_path / "l.h5"
    bad.write_bytes(saved.read_bytes())
    with h5py.File(bad, "a") as f:  # labels declared larger than their image, and values beyond the classes
        del f["images/0/labels"]
        f.create_dataset("images/0/labels", shape=(60000, 60000), dtype=np.uint8, chunks=(256, 256))
    with pytest.raises(ValueError, match=r"l.h5.*labels of shape \(60000, 60000\) does not fit"):
        pc.Project.load(bad)
    with h5py.File(bad, "a") as f:
        del f["images/0/labels"]
        f["images/0/labels"] = np.full(f["images/0/data"].shape[:2], 9, np.uint8)
    with pytest.raises(ValueError, match=r"l.h5.*values 9..9"):
        pc.Project.load(bad)


def test_a_flipped_bit_in_the_forest_fails_its_checksum(saved, tmp_path):
    # a flipped bit in a threshold still makes a valid forest; the stored checksum catches it
    with h5py.File(saved) as f:
        ds = f["forest/threshold"]
        assert ds.fletcher32
        start, size = ds.id.get_chunk_info(0).byte_offset, ds.id.get_chunk_info(0).size
    raw = bytearray(saved.read_bytes())
    raw[start + size // 2] ^= 0x04
    bad = tmp_path / "bit.h5"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"bit.h5.*forest/threshold cannot be read: its checksum"):
        pc.Project.load(bad)


def test_hostile_image_entries_kept_as_paths_are_refused_naming_the_file(tmp_path, scene):
    img, _ = scene
    np.save(tmp_path / "a.npy", img.data)
    p = pc.Project(features=pc.FeatureSet(sigmas=[1.0]))
    p.add_image(str(tmp_path / "a.npy"))
    p.save(tmp_path / "ok.h5", images="paths")
    for change, says in (({"file_axes": "QQ"}, "file_axes"), ({"file_axes": ["Y", "X"]}, "file_axes"),
                         ({"frame": [3, 2]}, "frame"), ({"frame": [0, True]}, "frame"), ({"frame": "0"}, "frame"),
                         ({"frame": [0, 2]}, "frame 0 of 2"), ({"file_axes": "ZYX"}, "does not fit"),
                         ({"file_axes": "TYX"}, "time series"), ({"file_axes": "TYXC"}, "do not fit"), ({"file_axes": "YZX"}, "does not fit")):
        bad = tmp_path / "m.h5"
        bad.write_bytes((tmp_path / "ok.h5").read_bytes())
        with h5py.File(bad, "a") as f:
            f["images/0"].attrs["meta"] = json.dumps(dict(json.loads(f["images/0"].attrs["meta"]), **change))
        with pytest.raises(ValueError, match=f"m.h5.*{says}"):
            pc.Project.load(bad)


def test_scales_in_2d_are_saved_as_a_format_earlier_versions_refuse(tmp_path, monkeypatch):
    from jupyter_pixclass.project import format as fmt

    vol, truth = pc.datasets.nuclei((8, 40, 44), seed=2)
    lab = np.zeros(vol.shape_spatial, np.uint8)
    lab[4] = np.where(truth["classes"][4] == 1, 1, 2)  # one plane labeled
    for in_2d, version in (((), 1), ((3.0,), 2)):  # Gaussians alone: the same count of features either way
        p = pc.Project(features=pc.FeatureSet(sigmas=[1.0, 3.0], families=["gaussian"], in_2d=in_2d), n_estimators=5)
        p.add_image(vol)
        p.set_labels(0, lab)
        path = p.train().save(tmp_path / f"v{version}.h5")
        with h5py.File(path, "r") as f:
            assert f.attrs["format_version"] == version
        np.testing.assert_array_equal(pc.Project.load(path).predict(0), p.predict(0))
    monkeypatch.setattr(fmt, "FORMAT_VERSION", 1)  # a reader from before: it would filter sigma 3 in 3D, silently
    pc.Project.load(tmp_path / "v1.h5")
    with pytest.raises(ValueError, match="format 2, newer"):
        pc.Project.load(tmp_path / "v2.h5")
