"""Tests of sem_metric.box: Box, box masks (M of paper Sec. 3.1) and input checks."""
import numpy as np
import pytest
import torch

from sem_metric.labelmap.box import Box, as_label, as_label_map, box_mask, box_masks
from sem_metric.errors import InputError


def test_box_properties():
    b = Box(1, 2, 4, 6)
    assert (b.height, b.width, b.area) == (4, 3, 12)
    assert b.slices == (slice(2, 6), slice(1, 4))
    assert b.as_tuple() == (1, 2, 4, 6)
    seg = np.arange(64).reshape(8, 8)
    assert seg[b.slices].shape == (4, 3)
    assert seg[b.slices][0, 0] == seg[2, 1]


def test_box_is_frozen():
    b = Box(0, 0, 1, 1)
    with pytest.raises(Exception):
        b.x0 = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "value",
    [(1, 2, 3, 4), [1, 2, 3, 4], np.array([1, 2, 3, 4]), torch.tensor([1, 2, 3, 4]), (1.0, 2, 3.0, 4),
     (np.int64(1), np.uint8(2), 3, 4), Box(1, 2, 3, 4)],
)
def test_coerce_accepts(value):
    b = Box.coerce(value)
    assert b == Box(1, 2, 3, 4)
    assert all(type(v) is int for v in b.as_tuple())


@pytest.mark.parametrize(
    "value, fragment",
    [((1, 2, 3), "exactly 4"), ((1, 2, 3, 4, 5), "exactly 4"), ((1.5, 2, 3, 4), "not an integer"),
     ((True, 2, 3, 4), "bool"), ("1234", "expected a box"), (None, "expected a box"),
     ((1, 2, "3", 4), "must be an integer"), (np.zeros((2, 2)), "shape")],
)
def test_coerce_rejects(value, fragment):
    with pytest.raises(InputError, match=fragment):
        Box.coerce(value)


def test_validate_ok_and_border():
    Box(0, 0, 5, 4).validate((4, 5))  # whole image, touches every border
    Box(4, 3, 5, 4).validate((4, 5))  # 1x1 box in the bottom-right corner


@pytest.mark.parametrize("box", [(2, 0, 2, 3), (0, 3, 2, 1)])
def test_validate_empty(box):
    with pytest.raises(InputError) as e:
        Box(*box).validate((4, 5), where="box 7 of 'a.png'")
    msg = str(e.value)
    assert "box 7 of 'a.png'" in msg and "empty" in msg and "width 5" in msg and "height 4" in msg


@pytest.mark.parametrize("box", [(-1, 0, 2, 2), (0, 0, 6, 2), (0, 0, 2, 5), (0, -2, 1, 1)])
def test_validate_outside(box):
    with pytest.raises(InputError) as e:
        Box(*box).validate((4, 5), where="box 2")
    msg = str(e.value)
    assert msg.startswith("box 2") and "outside" in msg and "width 5 and height 4" in msg


def test_box_mask_hand():
    expected = np.array(
        [[0, 0, 0, 0],
         [0, 1, 1, 0],
         [0, 1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(box_mask((3, 4), (1, 1, 3, 3)), expected)
    with pytest.raises(InputError, match="outside"):
        box_mask((3, 4), (1, 1, 5, 3))


def test_box_masks_equal_single():
    rng = np.random.default_rng(0)
    boxes = []
    for _ in range(10):
        x0, y0 = rng.integers(0, 6, 2)
        boxes.append((int(x0), int(y0), int(x0 + rng.integers(1, 7 - x0)), int(y0 + rng.integers(1, 7 - y0))))
    ms = box_masks((6, 7), boxes)
    assert ms.shape == (10, 6, 7) and ms.dtype == bool
    for m, b in zip(ms, boxes):
        np.testing.assert_array_equal(m, box_mask((6, 7), b))
    np.testing.assert_array_equal(box_masks((6, 7), np.array(boxes)), ms)
    with pytest.raises(InputError, match="box 1"):
        box_masks((6, 7), [(0, 0, 1, 1), (0, 0, 8, 1)])


def test_as_label_map():
    for dt in (np.uint8, np.int16, np.uint16, np.int32, np.int64):
        assert as_label_map(np.zeros((2, 3), dt)).shape == (2, 3)
    t = torch.zeros((2, 3), dtype=torch.int32)
    assert isinstance(as_label_map(t), np.ndarray)
    with pytest.raises(InputError, match="integer dtype"):
        as_label_map(np.zeros((2, 3), np.float32), "pred")
    with pytest.raises(InputError, match="integer dtype"):
        as_label_map(torch.zeros((2, 3)), "pred")
    with pytest.raises(InputError, match="integer dtype"):
        as_label_map(np.zeros((2, 3), bool))
    with pytest.raises(InputError, match="RGB"):
        as_label_map(np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(InputError, match="2-D"):
        as_label_map(np.zeros(5, np.uint8))


def test_as_label():
    assert as_label(3) == 3 and as_label(np.int64(4)) == 4 and as_label(torch.tensor(5)) == 5
    for bad in (True, np.bool_(False), 2.0, "3", None, torch.tensor(1.0), np.array([1])):
        with pytest.raises(InputError):
            as_label(bad)
