import numpy as np
import pytest

import jupyter_pixclass as pc


def test_add_mean_channel_clips_to_dtype():
    data = np.full((4, 4, 3), 1000, np.uint16)
    data[0, 0] = [10, 20, 30]
    img = pc.Image(data, axes="YXC", channel_names=["a", "b", "c"])
    out = pc.preprocess.add_mean_channel(img, scale=100)
    assert out.n_channels == 4 and out.channel_names[0] == "mean"
    assert out.data[0, 0, 0] == 2000  # mean 20 x 100
    assert out.data[1, 1, 0] == 65535  # 100000 clipped
    np.testing.assert_array_equal(out.data[..., 1:], data)
    arr = pc.preprocess.add_mean_channel(np.ones((2, 2, 2), np.float32), scale=3)
    assert arr.shape == (2, 2, 3) and arr[0, 0, 0] == 3
    for bad in (float("nan"), float("inf"), "100", None):  # NaN cast into uint16 made a channel of garbage
        with pytest.raises(ValueError, match="scale must be a finite number"):
            pc.preprocess.add_mean_channel(img, scale=bad)


def test_upscale():
    img = pc.Image(np.arange(12, dtype=np.uint16).reshape(3, 4), spacing=(2, 2))
    up = pc.preprocess.upscale(img, 2)
    assert up.shape_spatial == (6, 8) and up.spacing == (1.0, 1.0)
    assert up.data[1, 1, 0] == 0 and up.data[5, 7, 0] == 11
    lin = pc.preprocess.upscale(img, 2, order=1)
    assert lin.shape_spatial == (6, 8)
    with pytest.raises(ValueError, match="factor"):
        pc.preprocess.upscale(img, 0)
    with pytest.raises(ValueError, match="factor must be a positive integer; got 2.5"):
        pc.preprocess.upscale(img, 2.5)  # taken as 2 before
    assert pc.preprocess.upscale(img, 2.0).shape_spatial == (6, 8)
    big = pc.Image(np.zeros((64, 64, 4), np.float32), name="big")
    with pytest.raises(ValueError, match="upscaled by 10000 of image 'big'.*upscale crops of it instead"):
        pc.preprocess.upscale(big, 10_000)  # 611 GiB: numpy's MemoryError, or the kernel killed, before


def test_crops_tile_and_write(tmp_path):
    img = pc.Image(np.arange(1200 * 700, dtype=np.uint16).reshape(1200, 700))
    cs = pc.preprocess.crops(img, size=500)
    offs = [o for _, o in cs]
    assert offs == [(0, 0), (0, 200), (500, 0), (500, 200), (700, 0), (700, 200)]
    assert all(c.shape_spatial == (500, 500) for c, _ in cs)
    c, (y, x) = cs[3]
    np.testing.assert_array_equal(c.data[..., 0], img.data[y : y + 500, x : x + 500, 0])
    for bad in ({"size": 0}, {"size": 2.5}, {"n": 0}, {"size": "500"}):  # size 0: range()'s own error before
        with pytest.raises(ValueError, match="must be a positive integer"):
            pc.preprocess.crops(img, **bad)
    written = pc.preprocess.crops(img, size=500, out_dir=tmp_path, n=2, seed=1)
    assert len(written) == 2
    back = pc.load_image(written[0].path)  # named fields, and still a tuple
    np.testing.assert_array_equal(back.data, written[0].image.data)
    assert written[0].origin == written[0][1] and cs[3].origin == (y, x) and cs[3].image is c
