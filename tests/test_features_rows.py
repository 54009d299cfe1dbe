"""The fused per-pixel math: 3x3 eigenvalues against LAPACK, degenerate cases included."""
import numpy as np
import pytest

from jupyter_pixclass.features.rows import _eig3


def symmetric(n, rng):
    m = rng.standard_normal((n, 6))
    cases = {
        "identity": [1, 0, 0, 1, 0, 1],
        "double top": [2, 0, 0, 2, 0, 0],
        "double bottom": [2, 0, 0, 0, 0, 0],
        "zero": [0, 0, 0, 0, 0, 0],
    }
    for i, c in enumerate(cases.values()):
        m[i] = c
    m[10:20] = m[10:20] * 1e-4 + [1, 0, 0, 1, 0, 1]  # nearly equal eigenvalues
    m[20:30] *= 1e-30  # tiny
    m[30:40] *= 1e30  # huge
    return m


@pytest.mark.parametrize("seed", [0, 1])
def test_eig3_matches_lapack(seed):
    m = symmetric(3000, np.random.default_rng(seed))
    got = np.array([_eig3(*row) for row in m])
    a00, a01, a02, a11, a12, a22 = m.T
    M = np.stack([np.stack([a00, a01, a02], -1), np.stack([a01, a11, a12], -1), np.stack([a02, a12, a22], -1)], -2)
    ref = np.linalg.eigvalsh(M)[:, ::-1]
    scale = np.maximum(np.abs(ref).max(1, keepdims=True), 1e-300)
    assert (np.abs(got - ref) / scale).max() < 1e-7
    assert (np.diff(got, axis=1) <= 0).all()  # descending
