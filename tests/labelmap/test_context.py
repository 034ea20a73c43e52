"""Tests of the DA context ring (paper Eq. 3) and noise filter f^N (Eq. 4)."""
import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation

from sem_metric.labelmap.box import box_mask
from sem_metric.labelmap.context import context_classes, ring_mask
from sem_metric.labelmap.context_torch import context_filter
from sem_metric.errors import InputError

SEG = np.array(
    [[0, 0, 0, 0, 0, 0],
     [0, 1, 1, 2, 2, 0],
     [0, 1, 1, 2, 2, 0],
     [0, 1, 1, 2, 2, 0],
     [0, 0, 0, 0, 0, 0],
     [4, 4, 4, 4, 4, 4]])


def test_ring_inner_box():
    expected = np.array(
        [[1, 1, 1, 1, 0],
         [1, 0, 0, 1, 0],
         [1, 0, 0, 1, 0],
         [1, 1, 1, 1, 0],
         [0, 0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(ring_mask((5, 5), (1, 1, 3, 3)), expected)


def test_ring_clipped_at_border():
    expected = np.array(
        [[0, 0, 1, 0],
         [0, 0, 1, 0],
         [1, 1, 1, 0],
         [0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(ring_mask((4, 4), (0, 0, 2, 2)), expected)
    assert not ring_mask((4, 4), (0, 0, 4, 4)).any()  # whole image: no context at all


def test_context_classes_box_cutting_two_objects():
    box = (2, 2, 4, 3)  # row 2, cols 2..3: cuts object 1 and object 2
    # ring: row 1 cols 1..4 (1,1,2,2), (2,1)=1, (2,4)=2, row 3 cols 1..4 (1,1,2,2)
    np.testing.assert_array_equal(context_classes(SEG, box), [1, 2])
    np.testing.assert_array_equal(context_classes(SEG, box, 3), [1, 2, 3])
    assert context_classes(SEG, box).dtype == np.int64


def test_context_classes_box_on_border():
    box = (0, 4, 3, 6)  # rows 4..5, cols 0..2, touching left and bottom borders
    # ring: row 3 cols 0..3 = 0,1,1,2; (4,3)=0; (5,3)=4
    np.testing.assert_array_equal(context_classes(SEG, box), [0, 1, 2, 4])


def test_target_label_absent_from_ring():
    box = (1, 1, 5, 4)  # covers objects 1 and 2 entirely; ring is all background 0
    np.testing.assert_array_equal(context_classes(SEG, box), [0])
    np.testing.assert_array_equal(context_classes(SEG, box, 7), [0, 7])
    np.testing.assert_array_equal(context_classes(SEG, (0, 0, 6, 6)), [])
    np.testing.assert_array_equal(context_classes(SEG, (0, 0, 6, 6), 3), [3])


def test_context_classes_large_ids_and_torch():
    seg = torch.tensor(SEG * 100000, dtype=torch.int64)
    np.testing.assert_array_equal(context_classes(seg, (2, 2, 4, 3), 5), [5, 100000, 200000])
    with pytest.raises(InputError, match="non-negative"):
        context_classes(SEG - 1, (0, 4, 3, 6))  # background 0 -> -1 is on this ring
    with pytest.raises(InputError, match="integer dtype"):
        context_classes(SEG.astype(np.float32), (2, 2, 4, 3))


def test_context_filter_hand_built():
    segs = torch.tensor(np.stack([SEG, SEG]))
    masks = torch.from_numpy(np.stack([box_mask((6, 6), (2, 2, 4, 3)), box_mask((6, 6), (0, 4, 3, 6))])).float()
    f = context_filter(segs, masks, torch.tensor([3, 0]), num_classes=6)
    assert f.dtype == torch.float32 and f.shape == (2, 6)
    expected = torch.tensor([[0, 1, 1, 1, 0, 0], [1, 1, 1, 0, 1, 0]], dtype=torch.float32)
    assert torch.equal(f, expected)
    # bool masks and a non-box (L-shaped) mask
    m = np.zeros((6, 6), bool)
    m[1:4, 1] = True
    m[3, 1:4] = True
    # ring of the L: row 0 cols 0..2 = 0, (1..3, 0) = 0, row 4 cols 0..4 = 0, (1, 2) = (2, 2) = 1,
    # (2, 3) = (2, 4) = (3, 4) = 2  ->  {0, 1, 2} + label 5
    f2 = context_filter(torch.tensor(SEG)[None], torch.from_numpy(m)[None], torch.tensor([5]), 6)
    assert torch.equal(f2, torch.tensor([[1, 1, 1, 0, 0, 1]], dtype=torch.float32))


def test_context_filter_matches_eq4_reference():
    """f^N = min(sum_ij onehot(S^u) * M^1 + onehot(l^t), 1) with an independent (scipy) dilation."""
    rng = np.random.default_rng(0)
    n, h, w, k = 6, 10, 12, 7
    segs = rng.integers(0, k, (n, h, w))
    masks = rng.random((n, h, w)) < 0.2
    labels = rng.integers(0, k, n)
    ring = np.stack([binary_dilation(m, np.ones((3, 3), bool)) & ~m for m in masks])
    onehot = np.eye(k)[segs]  # (n, h, w, k)
    ref = np.minimum((onehot * ring[..., None]).sum(axis=(1, 2)) + np.eye(k)[labels], 1)
    f = context_filter(torch.from_numpy(segs), torch.from_numpy(masks).float(), torch.from_numpy(labels), k)
    np.testing.assert_array_equal(f.numpy(), ref)
    # context_classes is the same set as the filter
    bm = box_mask((h, w), (3, 2, 8, 7))
    fb = context_filter(torch.from_numpy(segs), torch.from_numpy(np.broadcast_to(bm, segs.shape).copy()),
                        torch.from_numpy(labels), k)
    for i in range(n):
        np.testing.assert_array_equal(np.flatnonzero(fb[i].numpy()), context_classes(segs[i], (3, 2, 8, 7), int(labels[i])))


def test_context_filter_ignores_ids_inside_mask():
    seg = np.zeros((4, 4), np.int64)
    seg[1:3, 1:3] = 99  # out of range, but inside the mask: never read
    mask = torch.from_numpy(box_mask((4, 4), (1, 1, 3, 3)))[None]
    f = context_filter(torch.from_numpy(seg)[None], mask, torch.tensor([2]), 3)
    assert torch.equal(f, torch.tensor([[1.0, 0.0, 1.0]]))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(num_classes=2), "class id 2"),  # class 2 on the ring of sample 0
        (dict(labels=torch.tensor([9])), r"labels\[0\] = 9"),
        (dict(masks=torch.full((1, 6, 6), 0.5)), "0 or 1"),
        (dict(masks=torch.zeros((1, 5, 6))), "differs"),
        (dict(segs=torch.zeros((1, 6, 6))), "integer dtype"),
        (dict(segs=torch.zeros((6, 6), dtype=torch.long)), r"\(N, H, W\)"),
        (dict(labels=torch.tensor([1, 2])), "one target label"),
        (dict(num_classes=True), "num_classes"),
    ],
)
def test_context_filter_errors(kwargs, fragment):
    args = dict(segs=torch.tensor(SEG)[None], masks=torch.from_numpy(box_mask((6, 6), (2, 2, 4, 3)))[None].float(),
                labels=torch.tensor([1]), num_classes=6)
    args.update(kwargs)
    with pytest.raises(InputError, match=fragment):
        context_filter(**args)
