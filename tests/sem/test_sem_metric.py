"""Sem (Eq. 10): hand-computed distances and properties that hold for any classifier weights."""
import numpy as np
import pytest
import torch
from sem_metric import registry

from sem_metric.errors import InputError
from sem_metric.sem.metric import (compute_sem, compute_sem_batch, sem_from_probabilities, shape_probabilities,
                                   shape_probabilities_batch)


def _maps(seed, n=6, shape=(48, 64)):
    rng = np.random.default_rng(seed)
    gts, preds, boxes, labels = [], [], [], []
    for _ in range(n):
        gt = rng.integers(0, 4, size=shape)
        x0, y0 = rng.integers(0, 30), rng.integers(0, 20)
        box = (int(x0), int(y0), int(x0 + rng.integers(3, 30)), int(y0 + rng.integers(3, 25)))
        gt[box[1]:box[3], box[0]:box[2]] = np.where(rng.random((box[3] - box[1], box[2] - box[0])) > 0.4, 9, 1)
        pred = gt.copy()
        pred[box[1]:box[3], box[0]:box[2]] = np.where(rng.random((box[3] - box[1], box[2] - box[0])) > 0.6, 9, 2)
        gts.append(gt), preds.append(pred), boxes.append(box), labels.append(9)
    return preds, gts, boxes, labels


def test_sem_from_probabilities_hand_computed():
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    q = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    np.testing.assert_allclose(sem_from_probabilities(p, q), [1.0, 0.5, 0.0])
    with pytest.raises(ValueError):
        sem_from_probabilities(p, q[:2])


def test_identical_maps_give_exactly_zero(random_classifier):
    preds, gts, boxes, labels = _maps(0)
    assert compute_sem(gts[0], gts[0], boxes[0], 9, classifier=random_classifier) == 0.0
    # same object map inside the box, different classes elsewhere -> still exactly 0
    other = gts[1].copy()
    other[other != 9] = 0
    assert compute_sem(other, gts[1], boxes[1], 9, classifier=random_classifier) == 0.0
    assert np.all(compute_sem_batch(gts, gts, boxes, labels, classifier=random_classifier) == 0.0)


def test_range_symmetry_and_probabilities(random_classifier):
    preds, gts, boxes, labels = _maps(1)
    s = compute_sem_batch(preds, gts, boxes, labels, classifier=random_classifier)
    assert s.shape == (6,) and s.dtype == np.float64
    assert np.all((s >= 0) & (s <= 1))
    swapped = compute_sem_batch(gts, preds, boxes, labels, classifier=random_classifier)
    np.testing.assert_allclose(s, swapped, rtol=0, atol=1e-7)  # symmetric up to batch-composition rounding
    p = shape_probabilities_batch(preds, boxes, labels, classifier=random_classifier)
    assert p.shape == (6, 80)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    # a different batch composition may move the last bits (|diff| <= 1e-9 here; the documented bound is the contract)
    np.testing.assert_allclose(p[2], shape_probabilities(preds[2], boxes[2], 9, classifier=random_classifier), atol=1e-7)


def test_batch_size_does_not_change_results(random_classifier):
    preds, gts, boxes, labels = _maps(2, n=9)
    ref = compute_sem_batch(preds, gts, boxes, labels, classifier=random_classifier, batch_size=64)
    for bs in (1, 4, 7):
        got = compute_sem_batch(preds, gts, boxes, labels, classifier=random_classifier, batch_size=bs)
        assert np.max(np.abs(got - ref)) <= registry.get("sem").reproducibility.bound(1.0)
    singles = [compute_sem(p, g, b, l, classifier=random_classifier) for p, g, b, l in zip(preds, gts, boxes, labels)]
    assert np.max(np.abs(np.array(singles) - ref)) <= registry.get("sem").reproducibility.bound(1.0)


def test_deterministic_and_torch_input(random_classifier):
    preds, gts, boxes, labels = _maps(3)
    a = compute_sem_batch(preds, gts, boxes, labels, classifier=random_classifier)
    b = compute_sem_batch([torch.from_numpy(p) for p in preds], gts, boxes, labels, classifier=random_classifier)
    np.testing.assert_array_equal(a, b)


def test_only_the_object_map_inside_the_box_matters(random_classifier):
    preds, gts, boxes, labels = _maps(4, n=2)
    base = compute_sem_batch(preds, gts, boxes, labels, classifier=random_classifier)
    changed = []
    for p, b in zip(preds, boxes):
        q = (p + 1) % 3  # classes 0..3 outside; 9 stays absent outside
        q[b[1]:b[3], b[0]:b[2]] = p[b[1]:b[3], b[0]:b[2]]
        changed.append(q)
    np.testing.assert_array_equal(base, compute_sem_batch(changed, gts, boxes, labels, classifier=random_classifier))
    # relabelling the target class (9 -> 200) does not change Sem: F sees only the binary map
    relabel = [np.where(m == 9, 200, m) for m in preds]
    relabel_gt = [np.where(m == 9, 200, m) for m in gts]
    np.testing.assert_array_equal(base, compute_sem_batch(relabel, relabel_gt, boxes, [200, 200],
                                                          classifier=random_classifier))


def test_length_mismatch_is_an_error(random_classifier):
    preds, gts, boxes, labels = _maps(5, n=2)
    with pytest.raises(InputError, match="pair up one to one"):
        compute_sem_batch(preds, gts[:1], boxes, labels, classifier=random_classifier)
    with pytest.raises(InputError, match="got 1 boxes for 2 label maps"):
        compute_sem_batch(preds, gts, boxes[:1], labels, classifier=random_classifier)
    with pytest.raises(InputError, match="got 3 labels for 2 label maps"):
        compute_sem_batch(preds, gts, boxes, list(labels) + [1], classifier=random_classifier)
    with pytest.raises(InputError, match="batch_size"):
        compute_sem_batch(preds, gts, boxes, labels, classifier=random_classifier, batch_size=0)


@pytest.mark.parametrize("bad, match", [
    (lambda m: m.astype(np.float32), "integer dtype"),
    (lambda m: np.stack([m, m]), "2-D label map"),
    (lambda m: m[..., None].repeat(3, axis=2), "RGB"),
    (lambda m: m.astype(np.int64) - 1, "non-negative"),
])
def test_sem_validates_maps_like_the_labelmap_metrics(random_classifier, bad, match):
    """Issue 9: the same InputError as tiou for the same bad map, in compute_sem and in the batch form."""
    from sem_metric.labelmap.metrics import tiou

    preds, gts, boxes, labels = _maps(7, n=1)
    wrong = bad(preds[0])
    with pytest.raises(InputError, match=match):
        tiou(wrong, gts[0], boxes[0], labels[0])
    with pytest.raises(InputError, match=match):
        compute_sem(wrong, gts[0], boxes[0], labels[0], classifier=random_classifier)
    with pytest.raises(InputError, match=match):
        shape_probabilities(wrong, boxes[0], labels[0], classifier=random_classifier)
    with pytest.raises(InputError, match=match):
        compute_sem_batch([gts[0], wrong], [gts[0], gts[0]], [boxes[0]] * 2, [labels[0]] * 2,
                          classifier=random_classifier)
    with pytest.raises(InputError, match="label"):
        compute_sem(preds[0], gts[0], boxes[0], -1, classifier=random_classifier)
