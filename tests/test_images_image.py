import numpy as np
import pytest

import jupyter_pixclass as pc


def test_channel_last_conversions():
    a = np.zeros((2, 5, 7, 9))
    img = pc.Image(a, axes="CZYX")
    assert img.axes == "ZYXC" and img.data.shape == (5, 7, 9, 2)
    assert img.ndim_spatial == 3 and img.n_channels == 2 and img.shape_spatial == (5, 7, 9)
    assert img.shape == (5, 7, 9, 2) == img.data.shape  # as for an array
    assert img.spacing == (1.0, 1.0, 1.0)
    assert pc.Image(np.zeros((7, 9))).data.shape == (7, 9, 1)


def test_bad_spacing_and_axes():
    with pytest.raises(ValueError, match="spacing"):
        pc.Image(np.zeros((4, 4)), spacing=(1, 0))
    with pytest.raises(ValueError, match=r"axes 'YXQ'"):
        pc.Image(np.zeros((4, 4, 2)), axes="YXQ")
    with pytest.raises(ValueError, match="channel names"):
        pc.Image(np.zeros((4, 4, 2)), axes="YXC", channel_names=["a"])
