"""Measuring objects: the same table as scikit-image's regionprops, read slab by slab."""
import numpy as np
import pytest
import zarr
from skimage.measure import regionprops_table

import jupyter_pixclass as pc
from jupyter_pixclass.images.lazy import LazyArray


@pytest.mark.parametrize("shape", [(96, 80), (10, 48, 40)])
def test_object_table_matches_regionprops(shape):
    img, truth = pc.datasets.nuclei(shape, seed=3)
    inst = truth["nuclei"]
    ref = regionprops_table(inst.astype(np.int32), intensity_image=img.data.astype(np.float32),
                            properties=("label", "area", "centroid", "intensity_mean"))
    for block_bytes in (64 * 2**20, 1):  # one slab; one row (or plane) at a time
        t = pc.postprocess.object_table(inst, img, block_bytes=block_bytes)
        np.testing.assert_array_equal(t["label"], ref["label"])
        np.testing.assert_array_equal(t["area"], ref["area"])
        for j, a in enumerate("zyx"[-len(shape):]):
            np.testing.assert_allclose(t[f"centroid_{a}"], ref[f"centroid-{j}"], rtol=1e-12)
        for c, name in enumerate(img.channel_names):
            np.testing.assert_allclose(t[f"mean_intensity_{name}"], ref[f"intensity_mean-{c}"], rtol=1e-6)


def test_object_table_reads_a_lazy_volume_slab_by_slab(tmp_path, counting_array):
    """A volume in its file and instances in a zarr array: neither is read whole, the table is the same."""
    img, truth = pc.datasets.nuclei((16, 64, 64), seed=5)
    src = counting_array(np.ascontiguousarray(np.moveaxis(img.data, -1, 1)))
    lazy = pc.Image(LazyArray(src, "ZCYX"))
    z = zarr.open(str(tmp_path / "inst.zarr"), mode="w", shape=truth["nuclei"].shape, chunks=(4, 64, 64),
                  dtype=np.int32)
    z[...] = truth["nuclei"]
    got = pc.postprocess.object_table(z, lazy, block_bytes=64 * 64 * 4 * (40 + 8 * 2))
    want = pc.postprocess.object_table(truth["nuclei"], img)
    assert src.largest <= src.data.size // 4  # four planes at a time, not sixteen
    assert len(got) == len(want)  # channel names differ (the file has none): compare column by column
    for g, w in zip(got.values(), want.values()):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_object_table_refuses_bad_instances():
    img, truth = pc.datasets.nuclei((32, 32), seed=1)
    with pytest.raises(ValueError, match="negative label"):
        pc.postprocess.object_table(truth["nuclei"].astype(np.int32) - 1, img)
    with pytest.raises(ValueError, match="integer labels"):
        pc.postprocess.object_table(truth["nuclei"].astype(np.float32), img)
    with pytest.raises(ValueError, match=r"\(31, 32\)"):
        pc.postprocess.object_table(truth["nuclei"][1:], img)


def test_object_table_of_huge_label_values_allocates_by_objects():
    """Labels are not array indices: a label of 2**40 costs one row, not a 2**40 table."""
    img, truth = pc.datasets.nuclei((32, 32), seed=1)
    inst = (truth["nuclei"] > 0).astype(np.int64) * 2**40
    t = pc.postprocess.object_table(inst, img)
    assert list(t["label"]) == [2**40] and t["area"][0] == (inst > 0).sum()


def test_watershed_refuses_a_map_that_is_not_probabilities_over_classes(trained, scene):
    img, _ = scene
    prob = trained.predict(img)
    nuclei = pc.postprocess.watershed(prob, class_index=1)
    # one class's map has no class axis: its last axis (x) was taken for 160 classes and gave garbage
    with pytest.raises(ValueError, match=r"shape \(160, 160\) should be \(Y, X, K\)"):
        pc.postprocess.watershed(prob[..., 0], class_index=1)
    vol = np.stack([prob[..., 0]] * 8)  # a volume of one class's map looks like (Y, X, K)
    with pytest.raises(ValueError, match=r"do not sum to 1 over their last axis.*np.stack"):
        pc.postprocess.watershed(vol, class_index=1)
    np.testing.assert_array_equal(pc.postprocess.watershed(np.stack([prob[..., 0], 1 - prob[..., 0]], -1)), nuclei)
    as_uint16 = np.round(prob * 65535).astype(np.uint16)  # an export with renormalize=True
    with pytest.raises(ValueError, match="divide by 65535"):
        pc.postprocess.watershed(as_uint16, class_index=1)


def test_object_table_gives_sizes_in_the_units_the_file_says(tmp_path):
    # area was in pixels only: a 0.325 µm pixel made every nucleus 9.5x larger than reported in µm²
    import tifffile

    img, truth = pc.datasets.nuclei((8, 48, 40), seed=3)
    tifffile.imwrite(tmp_path / "v.tif", np.moveaxis(np.asarray(img.data), -1, 1), imagej=True,
                     resolution=(1 / 0.325, 1 / 0.325), metadata={"axes": "ZCYX", "spacing": 2.0, "unit": "um"})
    vol = pc.load_image(tmp_path / "v.tif")
    assert vol.spacing == (2.0, 0.325, 0.325)
    t = pc.postprocess.object_table(truth["nuclei"], vol)
    ref = regionprops_table(truth["nuclei"].astype(np.int32), spacing=vol.spacing,
                            properties=("label", "area", "centroid"))
    np.testing.assert_allclose(t["area_physical"], ref["area"], rtol=1e-12)
    for j, a in enumerate("zyx"):
        np.testing.assert_allclose(t[f"centroid_{a}_physical"], ref[f"centroid-{j}"], rtol=1e-12)
    assert "area_physical" not in pc.postprocess.object_table(truth["nuclei"], img)  # no size given: pixels only
