import io

import numpy as np
from PIL import Image as PILImage

from jupyter_pixclass.app import render


def test_view_fit_zoom_pan_and_sampling():
    v = render.View((100, 200), (300, 300))
    assert v.scale == 1.5
    ys, xs, iny, inx = v.indices()
    assert ys[0] == 0 and xs[-1] == 199 and iny.sum() == 150 and inx.all()
    v.zoom(2.0, at=(0, 0))
    assert v.scale == 3.0 and v.origin == (0.0, 0.0)
    v.pan(-30, -60)  # drag left/up moves the view right/down by 10/20 image pixels
    assert v.origin == (0.0, 20.0) or v.origin[1] == 20.0
    img = np.arange(100 * 200).reshape(100, 200)
    s = v.sample(img)
    assert s.shape == (300, 300) and s[0, 0] == img[int(v.origin[0]), int(v.origin[1])]
    iy, ix = v.to_image(*v.to_display(12.5, 40.0))
    assert abs(iy - 12.5) < 1e-9 and abs(ix - 40.0) < 1e-9


def test_composite_contrast_and_colors():
    d = np.zeros((2, 2, 2), np.float32)
    d[0, 0] = [10, 0]
    d[1, 1] = [0, 5]
    rgb = render.composite(d, [(0, 10), (0, 10)], ["#00ff00", "#0000ff"])
    np.testing.assert_allclose(rgb[0, 0], [0, 1, 0])
    np.testing.assert_allclose(rgb[1, 1], [0, 0, 0.5])
    rgb = render.composite(d, [(0, 10), (0, 10)], ["#00ff00", "#0000ff"], visible=[False, True])
    assert rgb[0, 0].sum() == 0
    assert render.auto_contrast(np.arange(1000.0)) == (np.percentile(np.arange(1000.0), 0.5),
                                                       np.percentile(np.arange(1000.0), 99.5))


def test_overlays_and_encoding():
    prob = np.zeros((4, 4, 2), np.float32)
    prob[..., 0] = 1
    rgb = render.probability_rgb(prob, ["#ff0000", "#0000ff"])
    np.testing.assert_allclose(rgb[0, 0], [1, 0, 0])
    seg = render.segmentation_rgb(np.full((4, 4), 2), ["#ff0000", "#0000ff"])
    np.testing.assert_allclose(seg[0, 0], [0, 0, 1])
    unc = render.uncertainty_rgb(np.array([[0.0, 1.0]]))
    assert unc[0, 0].sum() < 0.1 and unc[0, 1].sum() > 2
    out = render.blend(np.zeros((4, 4, 3)), rgb, 0.5)
    np.testing.assert_allclose(out[0, 0], [0.5, 0, 0])
    rgba = render.labels_rgba(np.array([[0, 1]]), ["#ff0000"], alpha=0.5)
    assert rgba[0, 0, 3] == 0 and tuple(rgba[0, 1]) == (255, 0, 0, 128)
    jpg = render.encode_jpeg(np.full((32, 48, 3), 0.5, np.float32))
    back = np.asarray(PILImage.open(io.BytesIO(jpg)))
    assert back.shape == (32, 48, 3) and abs(int(back.mean()) - 128) <= 2
    png = render.encode_png(np.zeros((8, 8, 4), np.uint8))
    assert np.asarray(PILImage.open(io.BytesIO(png))).shape == (8, 8, 4)
