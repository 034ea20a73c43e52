"""SISM-view training shapes (issue #25) and the ``v3-street`` augmentation, on tiny synthetic maps."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sem_metric.sem.classes import coco_index
from sem_metric.training import sism_shapes as SS
from sem_metric.training.recipe import PRESETS
from sem_metric.training.shape_augment import AUGMENTATIONS, augment_shape


def _two_cars() -> np.ndarray:
    """A 20 x 30 CamVid-like map: a big car (id 8) whose box holds a separate small car, and a pedestrian."""
    seg = np.zeros((20, 30), np.uint8)
    seg[2:12, 2:20] = 8          # big car, box x 2..20, y 2..12
    seg[4:7, 5:8] = 0            # a hole, so the box view is not a full rectangle
    seg[13:18, 14:18] = 8        # small car: own component (not touching), outside the big box
    seg[9:12, 22:25] = 8         # another car, outside
    seg[10:19, 26:29] = 9        # pedestrian
    return seg


def test_box_view_holds_same_class_neighbours():
    seg = np.zeros((10, 10), np.uint8)
    seg[1:6, 1:6] = 8
    seg[4:9, 7:9] = 8  # a neighbour, not connected to the first object
    view = SS.box_view(seg == 8, (1, 1, 9, 9))
    assert view.shape == (8, 8) and view[3:8, 6:8].all()  # the neighbour's pixels are part of O
    assert SS.box_view(seg == 8, (0, 8, 1, 10)) is None


def test_label_map_views_components_and_subregions():
    seg = _two_cars()
    masks, labels, kinds = SS.label_map_sism_views(seg, SS.CAMVID_TO_COCO, min_area=6)
    assert kinds.count("box") == 4 and "sub" not in kinds
    assert labels.count(coco_index("person")) == 1 and labels.count(coco_index("car")) == 3
    big = max(masks, key=lambda m: m.size)
    assert big.shape == (10, 18) and not big[2:5, 3:6].any()
    masks, labels, kinds = SS.label_map_sism_views(seg, SS.CAMVID_TO_COCO, min_area=6, sub_regions=3,
                                                   rng=np.random.default_rng(1))
    subs = [m for m, k in zip(masks, kinds) if k == "sub"]
    assert subs and all(m.dtype == bool and m.any() for m in subs)
    assert all(max(m.shape) <= 18 for m in subs)


def test_sub_boxes_inside_the_box():
    rng = np.random.default_rng(0)
    for b in SS.sub_boxes((10, 5, 60, 25), rng, 20):
        assert 10 <= b[0] < b[2] <= 60 and 5 <= b[1] < b[3] <= 25
        assert (b[2] - b[0]) <= 0.8 * 50 + 1  # the longer side is cut


def test_coco_view_unites_same_class_instances():
    a = np.zeros((12, 12), bool)
    a[2:8, 2:8] = True
    b = np.zeros((12, 12), bool)
    b[5:11, 6:11] = True  # overlaps a's box
    view = SS.coco_sism_view([a, b], 0)
    assert view.shape == (6, 6) and view[3:6, 4:6].all() and view.sum() == 36
    assert SS.coco_sism_view([a, b], 1).shape == (6, 5)


def _rle_free_json(tmp_path):
    """A COCO instances JSON with polygons: a triangular car whose box holds a corner of a rectangular
    car (whose own box holds nothing of the first), and a lone dog, on one 40 x 40 image."""
    def poly(x0, y0, x1, y1):
        return [[x0, y0, x1, y0, x1, y1, x0, y1]]
    data = {"images": [{"id": 1, "height": 40, "width": 40}],
            "categories": [{"id": 3, "name": "car"}, {"id": 18, "name": "dog"}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[2, 2, 22, 2, 2, 14]],
                 "iscrowd": 0},
                {"id": 2, "image_id": 1, "category_id": 3, "segmentation": poly(16, 8, 36, 20), "iscrowd": 0},
                {"id": 3, "image_id": 1, "category_id": 18, "segmentation": poly(2, 24, 20, 38), "iscrowd": 0}]}
    p = tmp_path / "inst.json"
    p.write_text(json.dumps(data))
    return p


def test_from_coco_instances_sism(tmp_path):
    bank = SS.from_coco_instances_sism(_rle_free_json(tmp_path), min_area_frac=0.0, min_area_px=10)
    assert len(bank) == 1 and bank.labels.tolist() == [coco_index("car")]  # unchanged views are left out
    assert bank.masks[0].shape[0] == 12 and bank.masks[0][-4:, -3:].all()  # the other car fills the corner


def test_camvid_test_is_refused(tmp_path):
    with pytest.raises(ValueError, match="test"):
        SS.from_camvid_sism(tmp_path, ("train", "test"))


def test_from_camvid_sism_reads_maps(tmp_path):
    from PIL import Image

    (tmp_path / "trainannot").mkdir()
    Image.fromarray(_two_cars()).save(tmp_path / "trainannot" / "a.png")
    bank = SS.from_camvid_sism(tmp_path, ("train",), min_area_frac=0.01, sub_regions=2, seed=0)
    again = SS.from_camvid_sism(tmp_path, ("train",), min_area_frac=0.01, sub_regions=2, seed=0)
    assert len(bank) >= 4 and set(bank.source_counts()) <= {"camvid_sism", "camvid_sism_sub"}
    assert all((a == b).all() for a, b in zip(bank.masks, again.masks))  # a pure function of the seed


def test_v3_street_augmentation_is_seeded_and_valid():
    assert "v3-street" in AUGMENTATIONS and PRESETS["cpu-v4-lite0"].augment == "v3-street"
    assert PRESETS["cpu-v4-lite0"].init == "imagenet:efficientnet-lite0"
    car = np.zeros((30, 50), bool)
    car[8:30, 0:50] = True
    car[0:8, 12:38] = True
    for k in range(40):
        out = augment_shape(car, np.random.default_rng([3, k]), "v3-street")
        assert out.ndim == 2 and out.dtype == bool and out.any()
        assert (out == augment_shape(car, np.random.default_rng([3, k]), "v3-street")).all()


def test_street_effects_do_what_they_say():
    from sem_metric.training import shape_augment as A

    m = np.zeros((40, 40), bool)
    m[5:35, 10:30] = True
    cut = A._thin_occluders(m, np.random.default_rng(0))
    assert cut.sum() < m.sum()
    pasted = A._paste_neighbour(m, np.random.default_rng(2))
    assert pasted.shape == m.shape and pasted.sum() >= m.sum() and (pasted | m).sum() == pasted.sum()
    border = A._border_cut(m, np.random.default_rng(1))
    assert border.sum() < m.sum() and border.all()  # a rectangle cut is still a full rectangle


def test_only_changed_and_sub_fraction():
    seg = _two_cars()
    masks, _, kinds = SS.label_map_sism_views(seg, SS.CAMVID_TO_COCO, min_area=6, only_changed=True)
    assert masks == [] and kinds == []  # no component's box reaches another component of its class
    seg[5, 6] = 8  # a separate speck of car in the hole, inside the big car's box
    masks, _, kinds = SS.label_map_sism_views(seg, SS.CAMVID_TO_COCO, min_area=1, only_changed=True)
    assert kinds == ["box"] and masks[0].shape == (10, 18)  # the big car's view holds the speck
    _, _, kinds = SS.label_map_sism_views(_two_cars(), SS.CAMVID_TO_COCO, min_area=6, sub_regions=2,
                                          sub_fraction=0.0)
    assert "sub" not in kinds
