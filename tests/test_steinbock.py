"""steinbock's round trip with steinbock's own code: its stacks, crops and project, our labels and batch."""
import os
import warnings

import numpy as np
import pytest
import tifffile

import jupyter_pixclass as pc

sb = pytest.importorskip("steinbock.classification.ilastik._ilastik")


def test_steinbock_project_labeled_trained_and_batch_applied(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # steinbock writes crop paths relative to the working folder
    rng = np.random.default_rng(0)
    os.makedirs("ilastik")
    os.makedirs("ilastik_crops")
    crops = []
    for n in range(3):
        img, _ = pc.datasets.imc((90, 90), seed=40 + n)
        raw = np.moveaxis(np.asarray(img.data), -1, 0).astype(np.float32)  # steinbock's c, y, x
        stack = sb.create_ilastik_image(raw, scale_factor=2)  # mean x100 prepended, x2 upscale
        sb.write_ilastik_image(stack, f"ilastik/img{n}_s2.h5")
        _, _, crop = sb.create_ilastik_crop(stack, 80, rng)
        sb.write_ilastik_crop(crop, f"ilastik_crops/img{n}_s2_crop.h5")
        crops.append(f"ilastik_crops/img{n}_s2_crop.h5")
    sb.create_and_save_ilastik_project(crops, "pixel_classifier.ilp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # steinbock's project selects no features yet
        p = pc.Project.from_ilastik("pixel_classifier.ilp")
    assert p.classes == ["Nucleus", "Cytoplasm", "Background"]
    assert len(p.images) == 3 and p.images[0].n_channels == raw.shape[0] + 1
    for i, im in enumerate(p.images):  # a person's strokes: bright, middle and dark mean channel
        mean = np.asarray(im.data)[..., 0]
        lo, mid, hi = np.percentile(mean, [5, 50, 95])
        lab = np.zeros(mean.shape, np.uint8)
        lab[mean >= hi] = 1
        lab[np.abs(mean - mid) < 0.02 * (hi - lo)] = 2
        lab[mean <= lo] = 3
        lab[:, ::2] = 0
        p.set_labels(i, lab)
    p.features = pc.FeatureSet.default().select(min_sigma=1.0)
    p.n_estimators = 20
    p.train()
    # as steinbock runs ilastik: uint16, renormalized, one {stem}.tiff per stack, axis order yxc
    out = pc.batch_predict(p, "ilastik/*.h5", "ilastik_probabilities", dtype="uint16", renormalize=True,
                           name_template="{stem}.{ext}", output_axes="YXC", progress=False)
    assert sorted(os.path.basename(o) for o in out) == ["img0_s2.tiff", "img1_s2.tiff", "img2_s2.tiff"]
    from steinbock import io as sb_io

    found = sb_io.list_image_files("ilastik_probabilities")  # how steinbock's segmentation finds them
    assert [f.name for f in found] == ["img0_s2.tiff", "img1_s2.tiff", "img2_s2.tiff"]
    # steinbock's CellProfiler pipeline loads each as a "Color image" and splits it with ColorToGray:
    # one page, three samples per pixel, as ilastik's --output_axis_order=yxc export
    with tifffile.TiffFile(found[0]) as tf:
        page = tf.pages[0]
        assert len(tf.pages) == 1 and page.samplesperpixel == 3 and page.dtype == np.uint16
        prob = np.moveaxis(page.asarray(), -1, 0)
    assert prob.shape == (3, 180, 180)
    s = prob.astype(float).sum(0) / 65535
    assert np.abs(s - 1).max() < 0.01 and prob.max() > 60000  # renormalized probabilities of three classes
