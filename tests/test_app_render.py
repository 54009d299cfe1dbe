import io

import numpy as np
import pytest
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


def test_view_samples_chunked_labels_chunk_by_chunk():
    from jupyter_pixclass.engine.chunked_labels import ChunkedLabels

    rng = np.random.default_rng(0)
    dense = np.zeros((1000, 1300), np.uint8)
    dense[rng.integers(0, 1000, 300), rng.integers(0, 1300, 300)] = rng.integers(1, 4, 300)
    dense[250:520, 700:760] = 2  # across chunk borders
    lab = ChunkedLabels.from_dense(dense)
    for scale, origin in ((0.2, (0, 0)), (0.9, (100.3, 250.7)), (3.0, (240, 690))):
        v = render.View(dense.shape, (200, 260))
        v.scale, v.origin = scale, origin
        np.testing.assert_array_equal(v.sample(lab), v.sample(dense))  # rows first would copy whole rows
    assert lab.grid(np.array([260, 0, 999]), np.array([1299, 710])).tolist() == [[0, 2], [0, 0], [0, 0]]
    with pytest.raises(IndexError, match="row indices"):
        lab.grid(np.array([1000]), np.array([0]))


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


def test_a_colour_photograph_is_shown_in_its_colours():
    import jupyter_pixclass as pc

    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, :20, 0] = 230  # a red, a green and a dull blue band
    rgb[:, 20:40, 1] = 180
    rgb[:, 40:, 2] = 90
    rgb[::7, ::7] = 255
    img = pc.Image(rgb, axes="YXC", channel_names=["red", "green", "blue"])
    assert render.channel_colors(img.channel_names) == ["#ff0000", "#00ff00", "#0000ff"]
    assert render.channel_colors(["DAPI", "GFP"]) == render.CHANNEL_COLORS[:2]
    assert render.channel_colors(["Alpha", "x"]) == ["#ffffff", render.CHANNEL_COLORS[1]]
    p = pc.Project(["A", "B"], features=pc.FeatureSet(sigmas=[1.0]))
    p.add_image(img)
    app = pc.PixelClassifierApp(p, canvas_size=(60, 90))
    try:
        ch = app.channels
        assert ch.colors[0] == ["#ff0000", "#00ff00", "#0000ff"] and ch.visible[0] == [True, True, True]
        assert ch.limits[0][0] == ch.limits[0][1] == ch.limits[0][2]  # one window: the colour balance stays
        shown = render.composite(rgb.astype(np.float32), ch.limits[0], ch.colors[0])
        red, green, blue = shown[10, 5], shown[10, 25], shown[10, 45]
        assert red[0] > 0.8 and red[1:].max() < 0.05 and green[1] > 0.6 and green[[0, 2]].max() < 0.05
        assert blue[2] > 0.3 and blue[:2].max() < 0.05 and blue[2] < green[1] < red[0]  # brightness kept in order
    finally:
        app.close()
