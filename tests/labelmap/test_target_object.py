"""Tests of the Sem object map O and mask M (paper Sec. 3.3, Eq. 10)."""
import numpy as np
import pytest
import torch

from sem_metric.errors import InputError
from sem_metric.labelmap.target_object import object_map, object_map_batch

SEG = np.array(
    [[3, 3, 0, 0],
     [3, 5, 5, 0],
     [0, 5, 3, 0],
     [0, 0, 0, 3]])


def test_hand_computed():
    o, m = object_map(SEG, (1, 0, 3, 3), 3)  # cols 1..2, rows 0..2
    assert o.dtype == np.uint8 and m.dtype == np.uint8
    np.testing.assert_array_equal(m, [[0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    # class 3 inside the box: (0,1) and (2,2); (0,0) and (3,3) are outside
    np.testing.assert_array_equal(o, [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    o5, _ = object_map(SEG, (0, 0, 4, 4), 5)
    np.testing.assert_array_equal(o5, (SEG == 5).astype(np.uint8))
    o7, m7 = object_map(SEG, (3, 3, 4, 4), 7)  # 1x1 box in the corner, label absent
    assert o7.sum() == 0 and m7.sum() == 1 and m7[3, 3] == 1


def test_torch_input_and_not_modified():
    seg = SEG.copy()
    o, m = object_map(torch.from_numpy(seg).to(torch.int16), (1, 0, 3, 3), 3)
    o2, m2 = object_map(seg, (1, 0, 3, 3), 3)
    np.testing.assert_array_equal(o, o2)
    np.testing.assert_array_equal(m, m2)
    np.testing.assert_array_equal(seg, SEG)


def test_batch_equals_single():
    rng = np.random.default_rng(0)
    segs = rng.integers(0, 4, (10, 7, 9)).astype(np.uint8)
    boxes = [(int(x), int(y), int(x) + 2, int(y) + 3) for x, y in zip(rng.integers(0, 8, 10), rng.integers(0, 5, 10))]
    labels = rng.integers(0, 4, 10)
    O, M = object_map_batch(torch.from_numpy(segs), boxes, labels)
    assert O.shape == M.shape == (10, 7, 9) and O.dtype == M.dtype == np.uint8
    for i in range(10):
        o, m = object_map(segs[i], boxes[i], int(labels[i]))
        np.testing.assert_array_equal(O[i], o)
        np.testing.assert_array_equal(M[i], m)


def test_errors():
    with pytest.raises(InputError, match="integer dtype"):
        object_map(SEG.astype(np.float64), (0, 0, 1, 1), 3)
    with pytest.raises(InputError, match="width 4 and height 4"):
        object_map(SEG, (0, 0, 5, 1), 3)
    with pytest.raises(InputError, match="label"):
        object_map(SEG, (0, 0, 1, 1), False)
    with pytest.raises(InputError, match="box 1"):
        object_map_batch(np.stack([SEG, SEG]), [(0, 0, 1, 1), (0, 0, 1, 9)], [1, 1])
