import numpy as np
import pytest
from scipy import ndimage as ndi

import jupyter_pixclass as pc
from jupyter_pixclass.simulate import annotate_box, label_rounds, mean_iou
from jupyter_pixclass.suggest import default_box


@pytest.fixture
def classes(scene):
    """The scene's truth as the project's classes: Nucleus = 1, Background = 2."""
    return np.where(scene[1]["classes"] == 1, 1, 2)


def test_annotate_box_paints_a_mistake_or_the_centre_with_the_true_class(trained, classes):
    cls = classes
    p = trained
    before = p.labels(0).copy()
    seg = p.segment(0)
    wrong = np.argwhere(seg != cls)
    y, x = wrong[len(wrong) // 2]
    box = (max(0, y - 8), max(0, x - 8), y + 8, x + 8)
    k = pc.simulate.annotate_box(p, 0, box, cls, at="mistake")
    new = (p.labels(0) != before)
    assert new.any() and (p.labels(0)[new] == k).all() and (cls[new] == k).all()  # only true-class pixels
    ys, xs = np.nonzero(new)
    assert (seg[ys, xs] != k).any()  # through a pixel the forest had wrong
    p.set_labels(0, before)
    k = pc.simulate.annotate_box(p, 0, (40, 40, 60, 60), cls, at="centre")
    assert k == cls[50, 50] and p.labels(0)[50, 50] == k
    p.set_labels(0, before)
    with pytest.raises(ValueError, match="at='middle'"):
        pc.simulate.annotate_box(p, 0, (0, 0, 8, 8), cls, at="middle")


def test_annotate_box_paints_through_the_middle_of_what_is_wrong(trained, classes):
    cls = classes
    p = trained
    before = p.labels(0).copy()
    prob = p.predict(0)
    wrong = np.argmax(prob, -1) + 1 != cls
    box = (0, 0) + cls.shape
    depth = ndi.distance_transform_edt(np.pad(wrong, 1))[1:-1, 1:-1]
    k = annotate_box(p, 0, box, cls, prob=prob)
    try:
        # through a wrong pixel among the deepest (its score: depth, then uncertainty below 1), in its true class
        new = p.labels(0) != before
        assert depth.max() > 1 and (new & wrong & (depth >= depth.max() - 1)).any()
        assert (p.labels(0)[new] == k).all() and (cls[new] == k).all()
    finally:
        p.set_labels(0, before)


def test_mean_iou_ignores_unknown_pixels():
    truth = np.array([[1, 1, 2, 0]])
    seg = np.array([[1, 2, 2, 1]])
    assert mean_iou(seg, truth) == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert mean_iou(truth.clip(1), truth) == 1.0


def _fresh(scene):
    img, truth = scene
    cls = np.where(truth["classes"] == 1, 1, 2).astype(np.uint8)
    p = pc.Project(["Nucleus", "Background"], features=pc.FeatureSet(sigmas=[1.0, 3.5]), n_estimators=20,
                   random_state=0)
    p.add_image(img)
    p.set_labels(0, pc.datasets.scribbles(cls, n_strokes=1, seed=0))
    return p, cls


@pytest.mark.parametrize("places", ["suggested", "random"])
def test_label_rounds_paints_one_stroke_a_round_and_scores_each(scene, places):
    p, cls = _fresh(scene)
    n0 = (p.labels(0) > 0).sum()
    curve = label_rounds(p, 0, cls, rounds=3, places=places, seed=1)
    assert len(curve) == 4 and all(0 < c <= 1 for c in curve)
    assert (p.labels(0) > 0).sum() > n0
    assert (p.labels(0)[p.labels(0) > 0] == cls[p.labels(0) > 0]).all()  # the annotator is always right
    assert curve[-1] == pytest.approx(mean_iou(p.segment(0), cls))
    q, _ = _fresh(scene)
    assert label_rounds(q, 0, cls, rounds=3, places=places, seed=1) == curve  # deterministic


def test_label_rounds_follows_the_suggestions_and_takes_a_score(scene):
    p, cls = _fresh(scene)
    p.train()
    first = pc.suggest.suggest_boxes(p, 1, box=default_box(p.features, cls.shape))[0][2]
    before = p.labels(0).copy()
    seen = []
    label_rounds(p, 0, cls, rounds=1, places="suggested", score=lambda seg: seen.append(seg.shape) or 0.5)
    ys, xs = np.nonzero(p.labels(0) != before)
    y0, x0, y1, x1 = first
    assert ys.size and ((ys >= y0 - 1) & (ys < y1 + 1)).mean() == 1.0  # the stroke crosses the box (radius 1)
    assert seen == [cls.shape, cls.shape]
    with pytest.raises(ValueError, match="places='anywhere'"):
        label_rounds(p, 0, cls, rounds=1, places="anywhere")


def test_default_box_is_five_times_the_largest_sigma_within_32_to_128():
    assert default_box(pc.FeatureSet(sigmas=[0.3, 1.0, 3.5, 5.0]), (512, 512)) == 32
    assert default_box(pc.FeatureSet.default().select(min_sigma=1.0), (500, 500)) == 50  # sigma 10
    assert default_box(pc.FeatureSet(sigmas=[1.0, 40.0]), (8192, 8192)) == 128
    assert default_box(pc.FeatureSet(sigmas=[1.0, 10.0]), (20, 300)) == 20  # never beyond the image


def test_bad_inputs_are_named(scene):
    p, cls = _fresh(scene)
    before = p.labels(0).copy()
    with pytest.raises(IndexError, match="image index 3 out of range"):
        label_rounds(p, 3, cls)
    with pytest.raises(ValueError, match=r"classes of shape \(50, 160\) do not match image 0"):
        label_rounds(p, 0, cls[:50])
    with pytest.raises(ValueError, match=r"classes of shape \(50, 160\)"):
        annotate_box(p, 0, (0, 0, 8, 8), cls[:50])
    with pytest.raises(ValueError, match=r"box \(20, 0, 10, 8\)"):
        annotate_box(p, 0, (20, 0, 10, 8), cls)
    with pytest.raises(ValueError, match="rounds=-1"):
        label_rounds(p, 0, cls, rounds=-1)
    assert np.array_equal(p.labels(0), before)  # nothing painted on the way


def test_random_places_avoid_labeled_pixels_as_suggestions_do(scene, monkeypatch):
    import jupyter_pixclass.simulate as sim

    p, cls = _fresh(scene)
    p.set_labels(0, np.where(np.arange(cls.shape[1])[None, :] < cls.shape[1] // 2, cls, 0))  # left half labeled
    boxes = []
    real = sim.annotate_box
    monkeypatch.setattr(sim, "annotate_box", lambda project, i, box, *a, **k: boxes.append(box) or real(
        project, i, box, *a, **k))
    label_rounds(p, 0, cls, rounds=4, places="random", seed=3)
    labeled_before = np.arange(cls.shape[1]) < cls.shape[1] // 2
    assert len(boxes) == 4
    for y0, x0, y1, x1 in boxes:  # never a box over the labeled half
        assert not labeled_before[x0:x1].any()


def test_annotate_classes_paints_one_stroke_through_each_main_class(trained, classes):
    from jupyter_pixclass.simulate import annotate_classes

    p = trained
    before = p.labels(0).copy()
    cls = classes
    ys, xs = np.nonzero(cls == 1)
    y, x = ys[len(ys) // 2], xs[len(xs) // 2]
    box = (max(0, y - 20), max(0, x - 20), y + 20, x + 20)
    try:
        painted = annotate_classes(p, 0, box, cls)
        new = p.labels(0) != before
        assert sorted(painted) == [1, 2] and (p.labels(0)[new] == cls[new]).all()  # only true classes
        assert set(np.unique(p.labels(0)[new])) == {1, 2}
    finally:
        p.set_labels(0, before)
    with pytest.raises(ValueError, match="holds no pixel"):
        annotate_classes(p, 0, (10, 10, 10, 20), cls)


def test_correction_strokes_fix_the_largest_mistake_first():
    from jupyter_pixclass.simulate import correction_strokes

    truth = np.full((64, 64), 2)
    truth[5:25, 5:25] = 1  # a big nucleus, shown as background
    truth[40:44, 40:44] = 1  # a small one, shown as background too
    prob = np.zeros((64, 64, 2), np.float32)
    prob[..., 1] = 1
    strokes = correction_strokes(prob, truth, n=5)
    assert len(strokes) == 2  # two wrong regions, one stroke each
    (yy, xx, k), (yy2, xx2, k2) = strokes
    assert k == k2 == 1 and (truth[yy, xx] == 1).all() and (5 <= yy).all() and (yy < 25).all()
    assert (40 <= yy2).all() and (yy2 < 44).all()  # the small one second
    prob[..., 0], prob[..., 1] = (truth == 1), (truth == 2)
    assert correction_strokes(prob, truth) == []  # nothing wrong, nothing painted
    with pytest.raises(ValueError, match="do not match"):
        correction_strokes(prob[:10], truth)


def test_correct_paints_what_the_overlay_shows_wrong(trained, classes):
    from jupyter_pixclass.simulate import correct

    p = trained
    before = p.labels(0).copy()
    seg = p.segment(0)
    try:
        n = correct(p, 0, classes, n=3)
        new = p.labels(0) != before
        assert 1 <= n <= 3 and (p.labels(0)[new] == classes[new]).all()
        assert (seg[new] != classes[new]).any()  # through pixels the forest had wrong
    finally:
        p.set_labels(0, before)


def test_random_unlabeled_box_holds_no_label():
    from jupyter_pixclass.simulate import random_unlabeled_box

    labels = np.zeros((100, 100), np.uint8)
    labels[:, :60] = 1
    rng = np.random.default_rng(0)
    for _ in range(20):
        y0, x0, y1, x1 = random_unlabeled_box(rng, labels, 20)
        assert y1 - y0 == 20 and x1 - x0 == 20 and not labels[y0:y1, x0:x1].any()
