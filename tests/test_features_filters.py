"""Separable passes against scipy.ndimage.gaussian_filter1d, on every axis and boundary case."""
import numpy as np
import pytest
from scipy import ndimage as ndi

from jupyter_pixclass.features.filters import filter_axis


@pytest.mark.parametrize("shape", [(37, 45), (5, 9, 11), (3, 2)])
@pytest.mark.parametrize("sigma", [0.3, 2.0, 12.0])  # 12: the kernel is wider than the image (mirrored again)
def test_filter_axis_matches_scipy(shape, sigma):
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    for axis in range(len(shape)):
        got = filter_axis(x, axis, sigma, [0, 1, 2])
        for k in range(3):
            ref = ndi.gaussian_filter1d(x.astype(np.float64), sigma, axis=axis, order=k, mode="reflect")
            np.testing.assert_allclose(got[k], ref, rtol=0, atol=2e-6 * max(1.0, np.abs(ref).max()))


def test_filter_axis_refuses_an_out_it_cannot_fill():
    x = np.zeros((8, 8), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        filter_axis(x, 0, 1.0, [0], out=np.zeros((1, 8, 16), np.float32)[:, :, ::2])
