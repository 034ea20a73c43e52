"""SISM sample generator (paper Sec. 3, 3.1) and the CamVid / Cityscapes / ADE20K loaders."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sem_metric.reference.sism_data import (LabelMapRecord, SISMDataset, decode_ade20k_seg,
                                            decode_cityscapes_instances, default_data_root, find_targets, load_ade20k,
                                            load_camvid, load_cityscapes, make_sample, min_area_pixels, resize_nearest,
                                            samples_from_records)


def _synthetic():
    seg = np.zeros((10, 12), np.int64)
    seg[5:, :] = 3  # road
    seg[2:6, 2:5] = 8  # car A: rows 2-5, cols 2-4 (12 px)
    seg[6, 5] = 8  # a diagonal neighbour of car A? no: (6,5) touches (5,4) diagonally
    seg[1:3, 9:11] = 8  # car B: 4 px
    seg[8, 10] = 9  # a 1-pixel pedestrian
    return seg


def test_find_targets_components_min_area_and_connectivity():
    seg = _synthetic()
    t8 = find_targets(seg, [8, 9], min_area=4, connectivity=8)
    assert [(t.box, t.label, t.area) for t in t8] == [((9, 1, 11, 3), 8, 4), ((2, 2, 6, 7), 8, 13)]
    t4 = find_targets(seg, [8], min_area=1, connectivity=4)
    assert sorted(t.area for t in t4) == [1, 4, 12]
    assert find_targets(seg, [9], min_area=2) == []
    assert len(find_targets(seg, [9], min_area=1)) == 1
    assert min_area_pixels((96, 128), 0.001) == 13


def test_find_targets_with_instances_splits_touching_objects():
    seg = np.zeros((6, 8), np.int64)
    seg[1:5, 1:7] = 26
    inst = np.zeros_like(seg)
    inst[1:5, 1:4] = 26000
    inst[1:5, 4:7] = 26001
    t = find_targets(seg, [26], inst, min_area=1)
    assert [x.box for x in t] == [(1, 1, 4, 5), (4, 1, 7, 5)]
    assert len(find_targets(seg, [26], None, min_area=1)) == 1  # components merge them


def test_make_sample_su_mask_and_no_mutation():
    seg = _synthetic()
    before = seg.copy()
    s = make_sample(seg, (2, 2, 6, 7), 8, "x")
    np.testing.assert_array_equal(seg, before)
    assert s.mask.sum() == 4 * 5 and s.mask[2:7, 2:6].all()
    assert (s.seg_u[2:7, 2:6] == 8).all()
    outside = s.mask == 0
    np.testing.assert_array_equal(s.seg_u[outside], seg[outside])
    np.testing.assert_array_equal(s.seg_c, seg)
    from sem_metric.errors import InputError
    with pytest.raises(InputError):
        make_sample(seg, (5, 2, 5, 4), 8)
    with pytest.raises(InputError):
        make_sample(seg, (0, 0, 13, 4), 8)


def test_samples_from_records_deterministic_subset_and_dataset_flip():
    recs = [LabelMapRecord("a", _synthetic()), LabelMapRecord("b", _synthetic()[:, ::-1].copy())]
    all_s = samples_from_records(recs, [8, 9], min_area=1)
    assert len(all_s) == 6
    sub1 = samples_from_records(recs, [8, 9], min_area=1, max_per_image=1, seed=3)
    sub2 = samples_from_records(recs, [8, 9], min_area=1, max_per_image=1, seed=3)
    assert [(s.name, s.box) for s in sub1] == [(s.name, s.box) for s in sub2] and len(sub1) == 2
    ds = SISMDataset(all_s, hflip=True, seed=0)
    flipped = 0
    for ep in range(3):
        ds.set_epoch(ep)
        for i in range(len(ds)):
            it = ds[i]
            x0, y0, x1, y1 = it["box"].tolist()
            m = np.zeros_like(it["mask"].numpy())
            m[y0:y1, x0:x1] = 1
            np.testing.assert_array_equal(m, it["mask"].numpy())
            assert (it["seg_u"][it["mask"] > 0] == it["label"]).all()
            flipped += int(not np.array_equal(it["seg_c"].numpy(), all_s[i].seg_c))
    assert 0 < flipped < 18
    ds.set_epoch(1)
    assert all(np.array_equal(ds[i]["seg_c"], ds[i]["seg_c"]) for i in range(len(ds)))


def test_resize_nearest():
    a = np.arange(16).reshape(4, 4)
    assert resize_nearest(a, (2, 2)).tolist() == [[5, 7], [13, 15]]
    assert resize_nearest(np.array([[1, 2]]), (2, 4)).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2]]


def test_camvid_loader_on_real_data():
    root = default_data_root() / "camvid"
    if not (root / "testannot").is_dir():
        pytest.skip(f"CamVid not found at {root} (set SEM_METRIC_DATA to the shared data folder)")
    recs = load_camvid(str(root), "test", (96, 128), limit=4)
    assert len(recs) == 4 and all(r.seg.shape == (96, 128) for r in recs)
    assert all(r.seg.min() >= 0 and r.seg.max() <= 11 for r in recs)
    assert len(list((root / "testannot").glob("*.png"))) == 233
    samples = samples_from_records(recs, [8, 9, 10], min_area_pixels((96, 128), 0.001))
    assert samples and all((s.seg_u[s.mask > 0] == s.label).all() for s in samples)


def test_camvid_loader_missing_folder(tmp_path):
    from sem_metric.errors import InputError
    with pytest.raises(InputError, match="CamVid folder"):
        load_camvid(str(tmp_path), "test")


def _write_cityscapes(root: Path):
    city = root / "gtFine" / "val" / "aachen"
    city.mkdir(parents=True)
    lab = np.full((8, 12), 7, np.uint8)  # road
    lab[:2] = 23  # sky
    lab[2:6, 1:7] = 26  # two touching cars
    lab[3:7, 9:11] = 24  # a person
    inst = lab.astype(np.uint16).copy()
    inst[2:6, 1:4] = 26000
    inst[2:6, 4:7] = 26001
    inst[3:7, 9:11] = 24000
    Image.fromarray(lab).save(city / "aachen_000000_000019_gtFine_labelIds.png")
    Image.fromarray(inst).save(city / "aachen_000000_000019_gtFine_instanceIds.png")
    return lab, inst


def test_cityscapes_loader_synthetic(tmp_path):
    lab, inst = _write_cityscapes(tmp_path)
    cls, ids = decode_cityscapes_instances(inst)
    np.testing.assert_array_equal(cls, lab)
    assert set(np.unique(ids).tolist()) == {0, 24000, 26000, 26001}
    recs = load_cityscapes(str(tmp_path), "val", size_hw=None)
    assert len(recs) == 1 and recs[0].name == "aachen_000000_000019"
    np.testing.assert_array_equal(recs[0].seg, lab)
    t = find_targets(recs[0].seg, [24, 26], recs[0].instances)
    assert [(x.label, x.box) for x in t] == [(24, (9, 3, 11, 7)), (26, (1, 2, 4, 6)), (26, (4, 2, 7, 6))]
    small = load_cityscapes(str(tmp_path / "gtFine"), "val", size_hw=(4, 6))
    assert small[0].seg.shape == (4, 6) and small[0].instances.shape == (4, 6)


def _ade_rgb(cls, inst):
    return np.stack([(cls // 256) * 10, cls % 256, inst], -1).astype(np.uint8)


def test_ade20k_full_seg_png_synthetic(tmp_path):
    cls = np.full((6, 8), 2855, np.int64)  # tree (class > 255: R carries it)
    cls[2:5, 1:7] = 401  # two touching cars
    inst = np.zeros_like(cls)
    inst[2:5, 1:4] = 1
    inst[2:5, 4:7] = 2
    d = tmp_path / "images" / "ADE" / "training" / "urban" / "street"
    d.mkdir(parents=True)
    Image.fromarray(_ade_rgb(cls, inst)).save(d / "ADE_train_00000001_seg.png")
    c2, i2 = decode_ade20k_seg(_ade_rgb(cls, inst))
    np.testing.assert_array_equal(c2, cls)
    recs = load_ade20k(str(tmp_path), size_hw=None)
    assert recs[0].name == "ADE_train_00000001"
    np.testing.assert_array_equal(recs[0].seg, cls)
    t = find_targets(recs[0].seg, [401], recs[0].instances)
    assert [x.box for x in t] == [(1, 2, 4, 5), (4, 2, 7, 5)]
    mapped = load_ade20k(str(tmp_path), size_hw=None, class_map={401: 1}, default_class=0)
    assert set(np.unique(mapped[0].seg).tolist()) == {0, 1}
    from sem_metric.errors import InputError
    with pytest.raises(InputError):
        load_ade20k(str(tmp_path), size_hw=None, class_map={401: 1})


def test_ade20k_sceneparsing_synthetic(tmp_path):
    d = tmp_path / "annotations" / "validation"
    d.mkdir(parents=True)
    a = np.ones((6, 8), np.uint8)
    a[1:3, 1:3] = 8  # bed
    Image.fromarray(a).save(d / "ADE_val_00000001.png")
    recs = load_ade20k(str(tmp_path), "validation", size_hw=None)
    assert recs[0].instances is None and recs[0].seg[1, 1] == 8
    assert [t.box for t in find_targets(recs[0].seg, [8])] == [(1, 1, 3, 3)]


def test_real_ade20k_fixture_decodes():
    root = default_data_root() / "fixtures" / "ade20k-samples"
    if not root.is_dir():
        pytest.skip(f"ADE20K fixtures not found at {root}")
    recs = load_ade20k(str(root), size_hw=(64, 64), limit=1)
    assert recs and recs[0].seg.shape == (64, 64) and recs[0].seg.max() > 255
