"""Tests of the Sec. 4.1 label-map metrics (tIOU, hamm, NN), single and batched."""
import numpy as np
import pytest
import torch

from sem_metric.labelmap.context import context_classes
from sem_metric.errors import InputError
from sem_metric.labelmap.metrics import hamm, hamm_batch, noise_count, noise_count_batch, tiou, tiou_batch

GT = np.array(
    [[0, 0, 1, 1],
     [0, 2, 2, 1],
     [0, 2, 2, 1],
     [3, 3, 3, 1]])
PRED = np.array(
    [[0, 0, 1, 1],
     [0, 2, 5, 1],
     [2, 2, 2, 1],   # (2, 0) differs from GT but lies outside the box (1, 1, 4, 4)
     [3, 3, 3, 1]])
BOX = (1, 1, 4, 4)  # rows 1..3, cols 1..3


def test_hand_computed_inner_box():
    # box region: gt [[2,2,1],[2,2,1],[3,3,1]], pred [[2,5,1],[2,2,1],[3,3,1]]
    assert tiou(PRED, GT, BOX, 2) == pytest.approx(3 / 4)  # gt 4 px of class 2, pred 3, all shared
    assert hamm(PRED, GT, BOX) == pytest.approx(8 / 9)  # only the 5 differs
    assert noise_count(PRED, GT, BOX) == 1  # allowed = {1, 2, 3}; the 5 is noise
    assert noise_count(PRED, GT, BOX, allowed=[1]) == 6  # 2,5,2,2,3,3
    assert tiou(PRED, GT, BOX, 1) == 1.0
    assert tiou(PRED, GT, BOX, 3) == 1.0


def test_hand_computed_whole_image():
    box = (0, 0, 4, 4)
    # class 2: gt {(1,1),(1,2),(2,1),(2,2)}, pred {(1,1),(2,0),(2,1),(2,2)}: inter 3, union 5
    assert tiou(PRED, GT, box, 2) == pytest.approx(3 / 5)
    assert hamm(PRED, GT, box) == pytest.approx(14 / 16)
    assert noise_count(PRED, GT, box) == 1


def test_box_touching_border():
    box = (2, 0, 4, 2)  # gt [[1,1],[2,1]], pred [[1,1],[5,1]]
    assert tiou(PRED, GT, box, 1) == 1.0
    assert tiou(PRED, GT, box, 2) == 0.0  # target only in gt
    assert hamm(PRED, GT, box) == pytest.approx(3 / 4)
    assert noise_count(PRED, GT, box) == 1


def test_one_pixel_boxes():
    assert (tiou(PRED, GT, (0, 0, 1, 1), 0), hamm(PRED, GT, (0, 0, 1, 1)), noise_count(PRED, GT, (0, 0, 1, 1))) == (1.0, 1.0, 0)
    # pixel (row 1, col 2): pred 5, gt 2
    assert tiou(PRED, GT, (2, 1, 3, 2), 5) == 0.0  # target only in pred
    assert tiou(PRED, GT, (2, 1, 3, 2), 2) == 0.0  # target only in gt
    assert hamm(PRED, GT, (2, 1, 3, 2)) == 0.0
    assert noise_count(PRED, GT, (2, 1, 3, 2)) == 1


def test_empty_target_in_both_is_one_not_nan():
    v = tiou(PRED, GT, BOX, 7)
    assert v == 1.0 and not np.isnan(v)
    assert isinstance(v, float) and isinstance(hamm(PRED, GT, BOX), float)
    assert type(noise_count(PRED, GT, BOX)) is int


def test_noise_count_with_context_classes():
    seg_u = GT.copy()
    seg_u[1:4, 1:4] = 2  # S^u: box filled with the target label
    allowed = context_classes(seg_u, BOX, 2)
    # ring = row 0 (0,0,1,1) and column 0 (0,0,0,3) -> {0, 1, 3} + label 2
    np.testing.assert_array_equal(allowed, [0, 1, 2, 3])
    assert noise_count(PRED, GT, BOX, allowed=allowed) == 1
    assert noise_count(PRED, GT, BOX, allowed={0, 1, 2, 3, 5}) == 0
    assert noise_count(PRED, GT, BOX, allowed=np.array([], dtype=np.int64)) == 9


def _random_case(rng, n=12, h=9, w=11, k=5):
    preds = rng.integers(0, k, (n, h, w))
    gts = rng.integers(0, k, (n, h, w))
    boxes = []
    for _ in range(n):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        boxes.append((x0, y0, int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1))))
    labels = rng.integers(0, k + 1, n)  # label k never occurs: exercises the empty case
    return preds, gts, boxes, labels


def test_identical_maps():
    rng = np.random.default_rng(1)
    preds, _, boxes, labels = _random_case(rng)
    for p, b, lab in zip(preds, boxes, labels):
        assert tiou(p, p, b, int(lab)) == 1.0 and hamm(p, p, b) == 1.0 and noise_count(p, p, b) == 0


def test_outside_box_changes_nothing():
    rng = np.random.default_rng(2)
    preds, gts, boxes, labels = _random_case(rng)
    for p, g, b, lab in zip(preds, gts, boxes, labels):
        x0, y0, x1, y1 = b
        p2, g2 = p.copy(), g.copy()
        outside = np.ones(p.shape, bool)
        outside[y0:y1, x0:x1] = False
        p2[outside] = rng.integers(0, 9, outside.sum())
        g2[outside] = rng.integers(0, 9, outside.sum())
        lab = int(lab)
        assert tiou(p2, g2, b, lab) == tiou(p, g, b, lab)
        assert hamm(p2, g2, b) == hamm(p, g, b)
        assert noise_count(p2, g2, b) == noise_count(p, g, b)


def _single(preds, gts, boxes, labels, allowed=None):
    t = np.array([tiou(p, g, b, int(l)) for p, g, b, l in zip(preds, gts, boxes, labels)])
    h = np.array([hamm(p, g, b) for p, g, b in zip(preds, gts, boxes)])
    a = allowed or [None] * len(boxes)
    nn = np.array([noise_count(p, g, b, al) for p, g, b, al in zip(preds, gts, boxes, a)])
    return t, h, nn


def test_batch_equals_single_stacked():
    rng = np.random.default_rng(3)
    preds, gts, boxes, labels = _random_case(rng, n=30)
    t, h, nn = _single(preds, gts, boxes, labels)
    tb, hb, nb = tiou_batch(preds, gts, boxes, labels), hamm_batch(preds, gts, boxes), noise_count_batch(preds, gts, boxes)
    assert tb.dtype == np.float64 and hb.dtype == np.float64 and nb.dtype == np.int64
    np.testing.assert_array_equal(tb, t)
    np.testing.assert_array_equal(hb, h)
    np.testing.assert_array_equal(nb, nn)
    assert (t == 1.0).any() and (nn > 0).any()  # the random data covers both regimes
    # boxes as an array, maps as lists of equal-shaped arrays, labels as a list of ints
    np.testing.assert_array_equal(tiou_batch(list(preds), list(gts), np.array(boxes), labels.tolist()), t)
    allowed = [rng.choice(5, size=int(rng.integers(0, 4)), replace=False).tolist() for _ in boxes]
    _, _, nn_a = _single(preds, gts, boxes, labels, allowed)
    np.testing.assert_array_equal(noise_count_batch(preds, gts, boxes, allowed), nn_a)


def test_batch_equals_single_ragged():
    rng = np.random.default_rng(4)
    preds, gts, boxes, labels = [], [], [], []
    for i in range(6):
        p, g, b, lab = _random_case(rng, n=1, h=5 + i, w=7 + i)
        preds.append(p[0]), gts.append(g[0]), boxes.append(b[0]), labels.append(int(lab[0]))
    t, h, nn = _single(preds, gts, boxes, labels)
    np.testing.assert_array_equal(tiou_batch(preds, gts, boxes, labels), t)
    np.testing.assert_array_equal(hamm_batch(preds, gts, boxes), h)
    np.testing.assert_array_equal(noise_count_batch(preds, gts, boxes), nn)


def test_batch_empty():
    z = np.zeros((0, 4, 4), np.int64)
    assert tiou_batch(z, z, np.zeros((0, 4)), []).shape == (0,)
    assert noise_count_batch([], [], [], None).shape == (0,)


def test_torch_equals_numpy_and_dtypes():
    rng = np.random.default_rng(5)
    preds, gts, boxes, labels = _random_case(rng, n=8)
    t, h, nn = _single(preds, gts, boxes, labels)
    for tdt, ndt in ((torch.uint8, np.uint8), (torch.int16, np.int16), (torch.int32, np.int32), (torch.int64, np.int64)):
        P, G = torch.from_numpy(preds).to(tdt), torch.from_numpy(gts).to(tdt)
        np.testing.assert_array_equal(tiou_batch(P, G, torch.tensor(boxes), torch.from_numpy(labels)), t)
        np.testing.assert_array_equal(hamm_batch(P, G, boxes), h)
        np.testing.assert_array_equal(noise_count_batch(P, G, boxes), nn)
        for i in range(3):
            assert tiou(P[i], G[i], boxes[i], int(labels[i])) == t[i]
            assert hamm(preds[i].astype(ndt), G[i], boxes[i]) == h[i]
            assert noise_count(P[i], gts[i].astype(ndt), boxes[i]) == nn[i]


def test_inputs_not_modified():
    p, g = PRED.copy(), GT.copy()
    tiou(p, g, BOX, 2), hamm(p, g, BOX), noise_count(p, g, BOX)
    np.testing.assert_array_equal(p, PRED)
    np.testing.assert_array_equal(g, GT)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: tiou(PRED.astype(float), GT, BOX, 2), "integer dtype"),
        (lambda: hamm(PRED, GT[:3], BOX), "same shape"),
        (lambda: hamm(PRED, GT, (1, 1, 5, 4)), "width 4 and height 4"),
        (lambda: hamm(PRED, GT, (2, 1, 2, 4)), "empty"),
        (lambda: tiou(PRED, GT, BOX, True), "label"),
        (lambda: tiou(PRED, GT, BOX, 2.0), "label"),
        (lambda: noise_count(PRED, GT, BOX, allowed=[1.5]), "integers"),
        (lambda: noise_count(PRED, GT, BOX, allowed=3), "iterable"),
        (lambda: tiou_batch(PRED, GT, [BOX], [2]), "2-D map"),
        (lambda: tiou_batch([PRED, PRED], [GT], [BOX, BOX], [2, 2]), "pair up"),
        (lambda: tiou_batch([PRED], [GT], [BOX, BOX], [2]), "2 boxes"),
        (lambda: tiou_batch([PRED], [GT], [BOX], [2, 3]), "2 labels"),
        (lambda: tiou_batch([PRED], [GT], [BOX], [True]), "labels\\[0\\]"),
        (lambda: hamm_batch([PRED, PRED], [GT, GT], [BOX, (0, 0, 9, 9)]), "box 1"),
        (lambda: hamm_batch([PRED, PRED[:3]], [GT, GT], [BOX, BOX]), "sample 1"),
        (lambda: noise_count_batch([PRED], [GT], [BOX], allowed=[1, 2]), "sets of allowed"),
        (lambda: noise_count_batch([PRED], [GT], [BOX], allowed=[1]), "iterable"),
    ],
)
def test_errors(call, fragment):
    with pytest.raises(InputError, match=fragment):
        call()
