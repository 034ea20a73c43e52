"""Preprocessing box-window-v1: hand-computed windows and invariances."""
import numpy as np
import pytest
import torch

from sem_metric.errors import InputError
from sem_metric.sem.preprocess import INPUT_SIZE, PREPROCESSING_VERSION, classifier_input, classifier_inputs, window_from_crop


def test_version_and_size_are_fixed():
    assert PREPROCESSING_VERSION == "box-window-v1"
    assert INPUT_SIZE == 96


def test_80px_square_box_needs_no_resize_hand_computed():
    # side = ceil(80 * 1.2) = 96 = INPUT_SIZE -> placed at offset (96 - 80) // 2 = 8, no interpolation
    seg = np.zeros((200, 300), dtype=np.int64)
    seg[50:90, 100:180] = 7  # target in the top half of the box
    x = classifier_input(seg, (100, 50, 180, 130), 7)
    assert x.shape == (2, 96, 96) and x.dtype == torch.float32
    expected_m = np.zeros((96, 96), np.float32)
    expected_m[8:88, 8:88] = 1
    expected_o = np.zeros((96, 96), np.float32)
    expected_o[8:48, 8:88] = 1
    np.testing.assert_array_equal(x[1].numpy(), expected_m)
    np.testing.assert_array_equal(x[0].numpy(), expected_o)


def test_rectangular_box_keeps_aspect_ratio():
    # 40 x 80 box: side = 96, offsets (28, 8): the box-mask channel is a centred 40 x 80 rectangle
    x = window_from_crop(np.ones((40, 80)))
    rows = np.flatnonzero(x[1].numpy().max(axis=1) > 0)
    cols = np.flatnonzero(x[1].numpy().max(axis=0) > 0)
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (28, 67, 8, 87)


def test_translation_and_image_size_invariance_and_outside_pixels_ignored():
    rng = np.random.default_rng(0)
    shape = rng.random((33, 21)) > 0.5
    a = np.zeros((100, 100), np.int64)
    a[10:43, 5:26][shape] = 3
    b = rng.integers(0, 5, size=(300, 400))  # random clutter everywhere else
    b[200:233, 300:321] = np.where(shape, 3, 1)
    xa = classifier_input(a, (5, 10, 26, 43), 3)
    xb = classifier_input(b, (300, 200, 321, 233), 3)
    assert torch.equal(xa, xb)


def test_values_in_unit_interval_for_downscaled_and_upscaled_boxes():
    big = window_from_crop(np.random.default_rng(1).random((500, 310)) > 0.5)
    tiny = window_from_crop(np.ones((1, 1)))
    for x in (big, tiny):
        assert x.min() >= 0 and x.max() <= 1
    assert tiny[0].sum() > 0  # a 1x1 object survives the upscaling


def test_batch_equals_single_and_torch_equals_numpy():
    rng = np.random.default_rng(2)
    segs = [rng.integers(0, 3, size=(50, 60)) for _ in range(3)]
    boxes = [(0, 0, 60, 50), (10, 5, 20, 45), (59, 49, 60, 50)]
    batch = classifier_inputs(segs, boxes, [1, 2, 0])
    for i in range(3):
        assert torch.equal(batch[i], classifier_input(segs[i], boxes[i], [1, 2, 0][i]))
    assert torch.equal(classifier_input(torch.from_numpy(segs[0]), boxes[0], 1), batch[0])


def test_bad_box_is_an_input_error():
    with pytest.raises(InputError):
        classifier_input(np.zeros((10, 10), np.int64), (5, 5, 5, 8), 1)
    with pytest.raises(InputError):
        classifier_input(np.zeros((10, 10), np.int64), (0, 0, 11, 5), 1)


def test_batched_windows_bit_identical_to_single():
    """windows_from_crops groups crops by canvas side and resizes each group in one call: the result must
    be bit-identical to window_from_crop sample by sample (box-window-v1 is part of Sem's definition)."""
    from sem_metric.sem.preprocess import windows_from_crops

    rng = np.random.default_rng(3)
    crops = []
    for h, w in [(80, 80), (80, 80), (40, 81), (81, 40), (3, 1), (1, 1), (200, 17), (17, 200), (130, 129),
                 (129, 130), (79, 60), (80, 66), (400, 333)]:
        crops.append(rng.random((h, w)) > 0.5)  # several crops share a canvas side (same group)
    crops.append(np.ones((50, 70), np.float32))
    batch = windows_from_crops(crops)
    assert batch.shape == (len(crops), 2, 96, 96) and batch.dtype == torch.float32
    for i, c in enumerate(crops):
        assert torch.equal(batch[i], window_from_crop(c)), i
    assert windows_from_crops([]).shape == (0, 2, 96, 96)
    with pytest.raises(InputError):
        windows_from_crops([np.zeros((0, 3))])
