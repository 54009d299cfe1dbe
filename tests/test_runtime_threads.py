"""Row kernels split over threads: every row exactly once, same results for any thread count."""
import numpy as np
import pytest

import jupyter_pixclass as pc
from jupyter_pixclass.runtime import threads


def mark(lo, hi, out):
    out[lo:hi] += 1


@pytest.fixture
def restore_threads():
    n = threads.get_threads()
    yield
    threads.set_threads(n)


@pytest.mark.parametrize("n_threads", [1, 2, 5])
@pytest.mark.parametrize("rows", [0, 1, 3, 1000])
def test_every_row_once(restore_threads, n_threads, rows):
    threads.set_threads(n_threads)
    out = np.zeros(rows, np.int64)
    threads.run_rows(mark, rows, out)
    assert (out == 1).all()


def test_features_and_predictions_do_not_depend_on_threads(restore_threads, scene):
    img, truth = scene
    fs = pc.FeatureSet(sigmas=[0.7, 3.5])
    results = []
    for n in (1, 3):
        threads.set_threads(n)
        p = pc.Project(features=fs, n_estimators=10, random_state=0)
        i = p.add_image(img)
        p.set_labels(i, pc.datasets.scribbles(truth["classes"], mapping={1: 1, 2: 2, 3: 2}))
        results.append((pc.compute_features(img, fs), p.train().predict(i)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    with pytest.raises(ValueError, match="at least 1"):
        threads.set_threads(-2)


def test_kernels_work_in_a_forked_child(scene):
    import multiprocessing as mp

    img, _ = scene
    fs = pc.FeatureSet(sigmas=[1.0], families=["gaussian"])
    ref = pc.compute_features(img, fs)  # the pool exists in the parent now
    with mp.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(pc.compute_features, (img, fs)).get(timeout=60)
    np.testing.assert_array_equal(got, ref)
