import numpy as np
import pytest

import jupyter_pixclass as pc


@pytest.fixture(scope="session")
def scene():
    """A small 2D nuclei scene with truth."""
    return pc.datasets.nuclei((160, 160), seed=3)


@pytest.fixture(scope="session")
def trained(scene):
    """A project trained from scribbles on the small scene (nucleus vs rest)."""
    img, truth = scene
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[0.7, 1.6, 3.5]), n_estimators=30)
    i = p.add_image(img)
    p.set_labels(i, pc.datasets.scribbles(truth["classes"], n_strokes=8, mapping={1: 1, 2: 2, 3: 2}))
    return p.train()


class CountingArray:
    """An array-like that counts what is read through it (the largest single read too)."""

    def __init__(self, data):
        self.data, self.shape, self.dtype = data, data.shape, data.dtype
        self.read, self.largest = 0, 0

    def __getitem__(self, key):
        out = np.asarray(self.data[key])
        self.read += out.size
        self.largest = max(self.largest, out.size)
        return out


@pytest.fixture
def counting_array():
    """:class:`CountingArray`: wrap an array to count what a lazy reader reads through it."""
    return CountingArray


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def app(scene):
    """The app on the small scene, two classes, closed after the test."""
    img, _ = scene
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0, 3.5]), n_estimators=20)
    p.add_image(img)
    a = pc.PixelClassifierApp(p, canvas_size=(320, 320))
    yield a
    a.close()


@pytest.fixture(scope="session")
def stroke_points(scene):
    """Brush points on the small scene, ``[(x, y), ...]``: two nucleus strokes and one of background."""
    from scipy import ndimage as ndi

    _, truth = scene
    nuc = ndi.binary_erosion(truth["classes"] == 1, iterations=3)
    bg = ndi.binary_erosion(truth["classes"] == 3, iterations=4)
    (y0, x0), (y1, x1) = np.argwhere(nuc)[[0, -1]]
    (by, bx) = np.argwhere(bg)[len(np.argwhere(bg)) // 2]
    return [(x0, y0), (x0 + 1, y0)], [(x1, y1)], [(bx, by), (bx + 2, by)]
