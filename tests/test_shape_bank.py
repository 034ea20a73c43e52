"""ShapeBank and tight_crop (training data of the Sem shape classifier, paper Sec. 3.3 / 4.1)."""
from __future__ import annotations

import numpy as np
import pytest

from sem_metric.training.shape_bank import ShapeBank, tight_crop


def _rand_masks(rng, n):
    masks = []
    for _ in range(n):
        h, w = rng.integers(1, 40, size=2)
        m = rng.random((h, w)) < 0.5
        m[0, 0] = True
        masks.append(m)
    return masks


# ----------------------------------------------------------------------------- tight_crop
def test_tight_crop_crops_to_bbox_of_true_pixels():
    m = np.zeros((20, 30), dtype=np.uint8)
    m[5:9, 10:13] = 1
    m[7, 20] = 1
    out = tight_crop(m)
    assert out.dtype == bool
    assert out.shape == (4, 11)  # rows 5..8, cols 10..20
    assert out[0, 0] and out[2, 10] and not out[0, 10]
    assert out.sum() == m.sum()


def test_tight_crop_small_mask_unchanged():
    m = np.zeros((10, 10), bool)
    m[2:7, 3:5] = True
    np.testing.assert_array_equal(tight_crop(m, max_side=5), np.ones((5, 2), bool))


def test_tight_crop_downscale_keeps_aspect_and_max_side():
    m = np.zeros((400, 200), bool)
    m[50:350, 20:170] = True  # 300 x 150 rectangle
    out = tight_crop(m, max_side=128)
    assert out.shape == (128, 64)
    assert out.all()
    # an ellipse keeps its aspect ratio roughly and stays filled around the middle
    yy, xx = np.mgrid[:500, :300]
    ell = ((yy - 250) / 240.0) ** 2 + ((xx - 150) / 100.0) ** 2 <= 1
    e = tight_crop(ell, max_side=128)
    assert max(e.shape) == 128
    assert abs(e.shape[0] / e.shape[1] - 481 / 201) < 0.1
    assert e[64, 27]
    assert abs(e.mean() - np.pi / 4) < 0.05


def test_tight_crop_thin_and_sparse_masks_stay_nonempty():
    line = np.ones((1, 1000), bool)
    out = tight_crop(line, max_side=128)
    assert out.shape == (1, 128) and out.all()
    sparse = np.zeros((1000, 1000), bool)
    sparse[0, 0] = sparse[999, 999] = True  # two isolated pixels: area averaging loses both
    out = tight_crop(sparse, max_side=64)
    assert out.any() and max(out.shape) <= 64
    assert out[0, 0] and out[-1, -1]  # re-cropped tightly


def test_tight_crop_rejects_empty_and_non_2d():
    with pytest.raises(ValueError, match="empty"):
        tight_crop(np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="2-D"):
        tight_crop(np.ones((2, 2, 2), bool))


# ----------------------------------------------------------------------------- ShapeBank
def test_save_load_roundtrip_exact(tmp_path):
    rng = np.random.default_rng(0)
    masks = _rand_masks(rng, 25) + [np.ones((1, 1), bool), np.ones((1, 7), bool), np.ones((9, 1), bool)]
    labels = rng.integers(0, 80, size=len(masks))
    sources = np.array(["coco_instances", "voc", "mpeg7", "animal_mnist"] * 7)[: len(masks)]
    bank = ShapeBank(masks, labels, sources)
    path = bank.save(tmp_path / "sub" / "bank.npz")
    with np.load(path, allow_pickle=False) as z:  # no object arrays inside
        assert all(z[k].dtype != object for k in z.files)
        assert z["sources"].dtype.kind == "U"
    back = ShapeBank.load(path)
    assert len(back) == len(bank)
    for a, b in zip(bank.masks, back.masks):
        assert b.dtype == bool and b.shape == a.shape
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.labels, labels)
    assert back.labels.dtype == np.int64
    np.testing.assert_array_equal(back.sources, sources)


def test_empty_bank_roundtrip(tmp_path):
    bank = ShapeBank()
    assert len(bank) == 0
    back = ShapeBank.load(bank.save(tmp_path / "empty.npz"))
    assert len(back) == 0 and back.class_counts().sum() == 0


def test_concat_subset_counts():
    rng = np.random.default_rng(1)
    a = ShapeBank.from_lists(_rand_masks(rng, 3), [0, 0, 5], "a")
    b = ShapeBank.from_lists(_rand_masks(rng, 2), [79, 5], ["b1", "b2"])
    c = ShapeBank.concat([a, ShapeBank(), b])
    assert len(c) == 5
    assert list(c.sources) == ["a", "a", "a", "b1", "b2"]
    counts = c.class_counts()
    assert counts.shape == (80,) and counts[0] == 2 and counts[5] == 2 and counts[79] == 1
    s = c.subset([4, 0])
    assert list(s.labels) == [5, 0] and list(s.sources) == ["b2", "a"]
    np.testing.assert_array_equal(s.masks[0], b.masks[1])
    sb = c.subset(c.labels == 5)
    assert list(sb.labels) == [5, 5]
    assert c.source_counts() == {"a": 3, "b1": 1, "b2": 1}


def test_bank_validates_inputs():
    with pytest.raises(ValueError, match="labels"):
        ShapeBank([np.ones((2, 2), bool)], [1, 2], ["x"])
    with pytest.raises(ValueError, match="COCO indices"):
        ShapeBank([np.ones((2, 2), bool)], [80], ["x"])
