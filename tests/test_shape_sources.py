"""Shape extraction from COCO (RLE / polygons / panoptic), label maps, VOC, animal-mnist, MPEG-7.

Tests that need the shared data folder ($SEM_METRIC_DATA, default ../shared/data from the repo root)
skip with a reason when it is absent; everything else runs on synthetic data made here.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sem_metric.errors import InputError
from PIL import Image

from sem_metric.sem.classes import COCO_CLASSES, coco_index
from sem_metric.training import build_shapes
from sem_metric.training import shape_sources as S
from sem_metric.training.shape_bank import ShapeBank

DATA = build_shapes.default_data_root()
PANOPTIC = DATA / "fixtures" / "coco-panoptic-samples"
ANIMAL = DATA / "animal-mnist" / "animal_mnist.npz"
MPEG7 = DATA / "mpeg7"


def _need(path: Path):
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set SEM_METRIC_DATA to the shared data folder)")


# ----------------------------------------------------------------------------- reference encoders
def _rle_counts(mask: np.ndarray):
    """Uncompressed COCO RLE counts of a mask (column-major, starting with a run of zeros)."""
    flat = np.asarray(mask, bool).T.ravel()
    counts, cur, run = [], False, 0
    for v in flat:
        if v == cur:
            run += 1
        else:
            counts.append(run)
            cur, run = v, 1
    counts.append(run)
    return counts


def _rle_string(counts):
    """pycocotools rleToString, ported: deltas from the 4th count on, 5-bit groups + 48."""
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


# ----------------------------------------------------------------------------- RLE
def test_rle_uncompressed_hand_made():
    # 3 rows x 4 cols; column-major pixel order: col0 = 0,1,1  col1 = 1,0,0  col2 = 0,0,0  col3 = 1,1,1
    mask = np.array([[0, 1, 0, 1],
                     [1, 0, 0, 1],
                     [1, 0, 0, 1]], dtype=bool)
    counts = [1, 3, 5, 3]  # 0 | 1 1 1 | 0 0 0 0 0 | 1 1 1
    assert _rle_counts(mask) == counts
    np.testing.assert_array_equal(S.rle_decode_uncompressed(counts, [3, 4]), mask)
    np.testing.assert_array_equal(S.rle_decode({"counts": counts, "size": [3, 4]}), mask)
    # mask starting with a foreground pixel: first run of zeros has length 0
    np.testing.assert_array_equal(S.rle_decode_uncompressed([0, 2, 2], [2, 2]), np.array([[1, 0], [1, 0]], bool))
    with pytest.raises(ValueError, match="sum"):
        S.rle_decode_uncompressed([1, 2], [3, 4])


def test_rle_compressed_hand_made_strings():
    # 3x3, only the centre set: counts [4, 1, 4] -> '4' '1' '4'
    centre = np.zeros((3, 3), bool)
    centre[1, 1] = True
    assert S.rle_string_to_counts("414") == [4, 1, 4]
    np.testing.assert_array_equal(S.rle_decode_compressed("414", [3, 3]), centre)
    # 40 needs two 5-bit groups: 40 = 8 + 1*32 -> chr(8|0x20 + 48)='X', chr(1+48)='1'
    assert S.rle_string_to_counts("X1") == [40]
    # negative delta: counts [1, 10, 2, 1]: 4th stored as 1 - 10 = -9 -> 23 (sign bit 0x10) -> 'G'
    assert S.rle_string_to_counts("1:2G") == [1, 10, 2, 1]
    m = S.rle_decode({"counts": b"1:2G", "size": [2, 7]})
    assert m.shape == (2, 7) and m.sum() == 11


def test_rle_compressed_roundtrip_random():
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (5, 7), (37, 23), (64, 64)]:
        for p in (0.05, 0.5, 0.95):
            mask = rng.random(shape) < p
            counts = _rle_counts(mask)
            s = _rle_string(counts)
            assert S.rle_string_to_counts(s) == counts
            np.testing.assert_array_equal(S.rle_decode({"counts": s, "size": list(shape)}), mask)
    big = np.zeros((300, 400), bool)
    big[10:290, 100:350] = True
    s = _rle_string(_rle_counts(big))
    np.testing.assert_array_equal(S.rle_decode_compressed(s, [300, 400]), big)


# ----------------------------------------------------------------------------- polygons
def test_polygon_square_rasterisation():
    # square with corners (2,3)-(6,7) in COCO continuous coords: pixels x 2..5, y 3..6 (area 16)
    m, (y0, x0) = S.polygons_to_mask([[2, 3, 6, 3, 6, 7, 2, 7]], 10, 10)
    full = np.zeros((10, 10), bool)
    full[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    expected = np.zeros((10, 10), bool)
    expected[3:7, 2:6] = True
    np.testing.assert_array_equal(full, expected)


def test_polygon_union_clip_and_area():
    # two disjoint parts, one running off the image
    m, (y0, x0) = S.polygons_to_mask([[0, 0, 4, 0, 4, 4, 0, 4], [8, 8, 20, 8, 20, 20, 8, 20]], 12, 12)
    assert (y0, x0) == (0, 0) and m.shape == (12, 12)
    assert m[:4, :4].all() and m[8:, 8:].all() and m.sum() == 16 + 16
    # triangle: pixel-centre sampling gives about the polygon area
    m, _ = S.polygons_to_mask([[0, 0, 100, 0, 0, 100]], 100, 100)
    assert abs(m.sum() - 5000) <= 100
    # fully outside / degenerate
    assert S.polygons_to_mask([[50, 50, 60, 50, 60, 60]], 10, 10)[0] is None
    assert S.polygons_to_mask([[1, 1, 2, 2]], 10, 10)[0] is None


def _write_instances(path: Path):
    sq = [[10, 10, 60, 10, 60, 60, 10, 60]]  # 50x50 = 2500 px of a 100x100 image
    rle_mask = np.zeros((100, 100), bool)
    rle_mask[20:50, 30:90] = True  # 1800 px
    crowd = np.zeros((100, 100), bool)
    crowd[:40, :40] = True
    data = {
        "images": [{"id": 7, "height": 100, "width": 100}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}, {"id": 3, "name": "car"},
                       {"id": 999, "name": "unicorn"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 18, "iscrowd": 0, "segmentation": sq},
            {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 0,
             "segmentation": [[0, 0, 5, 0, 5, 5, 0, 5]]},  # 25 px < 1% of 10000: dropped
            {"id": 3, "image_id": 7, "category_id": 3, "iscrowd": 0,
             "segmentation": {"counts": _rle_string(_rle_counts(rle_mask)), "size": [100, 100]}},
            {"id": 4, "image_id": 7, "category_id": 1, "iscrowd": 1,
             "segmentation": {"counts": _rle_counts(crowd), "size": [100, 100]}},
            {"id": 5, "image_id": 7, "category_id": 999, "iscrowd": 0, "segmentation": sq},  # unmappable
        ],
    }
    path.write_text(json.dumps(data))
    return path


def test_from_coco_instances_synthetic(tmp_path):
    js = _write_instances(tmp_path / "inst.json")
    bank = S.from_coco_instances(js, progress=False)
    assert list(bank.labels) == [coco_index("dog"), coco_index("car")]
    assert bank.masks[0].shape == (50, 50) and bank.masks[0].all()
    assert bank.masks[1].shape == (30, 60) and bank.masks[1].all()
    assert set(bank.sources) == {"coco_instances"}
    with_crowd = S.from_coco_instances(js, include_crowd=True, progress=False)
    assert list(with_crowd.labels) == [coco_index("dog"), coco_index("car"), coco_index("person")]
    assert len(S.from_coco_instances(js, min_area_frac=0.2, progress=False)) == 1  # only the 25% dog


# ----------------------------------------------------------------------------- panoptic
def _panoptic_png(ids: np.ndarray, path: Path):
    rgb = np.stack([ids % 256, (ids // 256) % 256, ids // 65536], axis=-1).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(path)


def test_from_coco_panoptic_synthetic(tmp_path):
    ids = np.zeros((50, 80), np.int64)
    ids[:, :] = 5000  # stuff (sky)
    ids[5:25, 5:25] = 300000  # a thing > 255*256 to exercise the blue channel
    ids[30:45, 40:70] = 1234
    ids[0:2, 0:2] = 77  # tiny thing (4 px < 40)
    (tmp_path / "png").mkdir()
    _panoptic_png(ids, tmp_path / "png" / "a.png")
    cats = [{"id": 18, "name": "dog", "isthing": 1}, {"id": 3, "name": "car", "isthing": 1},
            {"id": 187, "name": "sky-other-merged", "isthing": 0}]
    segs = [{"id": 5000, "category_id": 187}, {"id": 300000, "category_id": 18, "bbox": [5, 5, 20, 20], "area": 400},
            {"id": 1234, "category_id": 3}, {"id": 77, "category_id": 3}]
    data = {"images": [{"id": 1, "height": 50, "width": 80}],
            "annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": segs}]}
    (tmp_path / "pan.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="categories"):
        S.from_coco_panoptic(tmp_path / "pan.json", tmp_path / "png", progress=False)
    (tmp_path / "cats.json").write_text(json.dumps(cats))
    bank = S.from_coco_panoptic(tmp_path / "pan.json", tmp_path / "png", tmp_path / "cats.json", progress=False)
    assert list(bank.labels) == [coco_index("dog"), coco_index("car")]
    assert bank.masks[0].shape == (20, 20) and bank.masks[1].shape == (15, 30)
    assert all(m.all() for m in bank.masks)


def test_from_coco_panoptic_real_fixture():
    _need(PANOPTIC)
    js = PANOPTIC / "sample_data" / "panoptic_examples.json"
    png_dir = PANOPTIC / "sample_data" / "panoptic_examples"
    cats = json.loads((PANOPTIC / "panoptic_coco_categories.json").read_text())
    thing_name = {c["id"]: c["name"] for c in cats if c["isthing"]}
    data = json.loads(js.read_text())
    expected = []
    for ann in data["annotations"]:
        rgb = np.asarray(Image.open(png_dir / ann["file_name"]).convert("RGB")).astype(np.int64)
        ids = rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]
        for s in ann["segments_info"]:
            if s["category_id"] in thing_name and (ids == s["id"]).sum() >= 0.01 * ids.size:
                expected.append(COCO_CLASSES.index(thing_name[s["category_id"]]))
    assert len(expected) >= 1
    for cat_file in (None, PANOPTIC / "panoptic_coco_categories.json"):
        bank = S.from_coco_panoptic(js, png_dir, cat_file, progress=False)
        assert len(bank) == len(expected)
        assert sorted(bank.labels.tolist()) == sorted(expected)
        assert all(m.any() and max(m.shape) <= 128 for m in bank.masks)


# ----------------------------------------------------------------------------- label maps / VOC
def _synthetic_label_map():
    seg = np.zeros((100, 100), np.uint8)
    seg[5:25, 5:25] = 1      # blob A of class 1 (400 px)
    seg[60:90, 50:70] = 1    # blob B of class 1 (600 px)
    seg[40:43, 40:43] = 2    # tiny blob of class 2 (9 px < 1% of 10000)
    seg[0:100, 95:100] = 255  # void
    seg[70:100, 0:30] = 3    # class not in the mapping
    return seg


def test_label_map_components_synthetic():
    seg = _synthetic_label_map()
    masks, labels = S.label_map_components(seg, {1: 16, 2: 17, 255: 0}, min_area_frac=0.01)
    assert labels == [16, 16]
    assert sorted(m.shape for m in masks) == [(20, 20), (30, 20)]
    assert all(m.all() for m in masks)
    masks, labels = S.label_map_components(seg, {1: 16, 2: 17}, min_area_frac=0.0005)
    assert sorted(labels) == [16, 16, 17]


def test_label_map_connectivity():
    seg = np.zeros((40, 40), np.uint8)
    seg[0:20, 0:20] = 1
    seg[20:40, 20:40] = 1  # touches the first block only diagonally
    assert len(S.label_map_components(seg, {1: 0}, connectivity=8)[0]) == 1
    assert len(S.label_map_components(seg, {1: 0}, connectivity=4)[0]) == 2


def _palette_png(seg: np.ndarray, path: Path):
    im = Image.fromarray(seg.astype(np.uint8), "P")
    im.putpalette([v for i in range(256) for v in (i, (i * 7) % 256, (i * 13) % 256)])
    im.save(path)


@pytest.mark.parametrize("workers", [1, 2])
def test_from_label_maps_and_voc_files(tmp_path, workers):
    root = tmp_path / "voc"
    (root / "SegmentationClassAug").mkdir(parents=True)
    seg = _synthetic_label_map()
    seg2 = np.zeros((50, 60), np.uint8)
    seg2[10:40, 10:30] = 15  # person (VOC 15)
    seg2[10:40, 35:55] = 12  # dog (VOC 12)
    _palette_png(seg, root / "SegmentationClassAug" / "a.png")
    _palette_png(seg2, root / "SegmentationClassAug" / "b.png")
    (root / "train.txt").write_text("a\nb\n")
    bank = S.from_voc(root, "train", workers=workers, progress=False)
    # map a: class 1 (aeroplane) x2, class 3 (bird); map b: dog (VOC 12) then person (VOC 15)
    assert bank.labels.tolist() == [coco_index("airplane")] * 2 + [coco_index("bird"), coco_index("dog"),
                                                                    coco_index("person")]
    assert set(bank.sources) == {"voc"}
    paths = [root / "SegmentationClassAug" / "a.png"]
    lm = S.from_label_maps(paths, {1: 4}, source="x", workers=workers, progress=False)
    assert lm.labels.tolist() == [4, 4] and set(lm.sources) == {"x"}
    with pytest.raises(FileNotFoundError):
        S.from_voc(root, "val")


def test_voc_to_coco_mapping():
    assert len(S.VOC_TO_COCO) == 20 and len(set(S.VOC_TO_COCO.values())) == 20
    assert S.VOC_TO_COCO[1] == coco_index("airplane")
    assert S.VOC_TO_COCO[11] == coco_index("dining table")
    assert S.VOC_TO_COCO[14] == coco_index("motorcycle")
    assert S.VOC_TO_COCO[16] == coco_index("potted plant")
    assert S.VOC_TO_COCO[18] == coco_index("couch")
    assert S.VOC_TO_COCO[20] == coco_index("tv")


# ----------------------------------------------------------------------------- silhouettes
def test_animal_silhouette_fills_stripes():
    img = np.zeros((28, 28), np.uint8)
    img[6:22, 4:24] = 200
    img[8:20, 6:22:3] = 0  # dark stripes inside the body (zebra)
    img[1, 1] = 200        # a speck: not the largest component
    sil = S.animal_silhouette(img, threshold=24)
    expected = np.zeros((28, 28), bool)
    expected[6:22, 4:24] = True
    np.testing.assert_array_equal(sil, expected)


def test_animal_split_deterministic_stratified():
    labels = np.repeat(np.arange(10), 100)
    tr, va = S.animal_mnist_split(labels, 0.1, seed=0)
    tr2, va2 = S.animal_mnist_split(labels, 0.1, seed=0)
    np.testing.assert_array_equal(va, va2)
    assert len(va) == 100 and len(tr) == 900 and not set(tr) & set(va)
    assert np.bincount(labels[va]).tolist() == [10] * 10


def test_from_animal_mnist_real():
    _need(ANIMAL)
    with np.load(ANIMAL) as z:
        names = [str(n) for n in z["class_names"]]
        zebra = names.index("zebra")
        idx = np.flatnonzero(z["labels"] == zebra)[:50]
    bank = S.from_animal_mnist(ANIMAL, indices=idx)
    assert len(bank) == 50 and set(bank.labels) == {coco_index("zebra")}
    from scipy import ndimage
    for m in bank.masks:  # one solid component: stripes stay inside the silhouette
        assert ndimage.label(m, np.ones((3, 3)))[1] == 1
        assert (ndimage.binary_fill_holes(m) == m).all()
        assert m.mean() > 0.3


def test_from_mpeg7_synthetic_and_real(tmp_path):
    (tmp_path / "shapes").mkdir()
    a = np.zeros((40, 30), np.uint8)
    a[5:35, 10:20] = 255
    for name in ("teddy-1.png", "bat-1.png"):
        Image.fromarray(a, "L").save(tmp_path / "shapes" / name)
    (tmp_path / "coco_names.json").write_text(json.dumps({"teddy": "teddy bear"}))
    bank = S.from_mpeg7(tmp_path)
    assert bank.labels.tolist() == [coco_index("teddy bear")] and bank.masks[0].shape == (30, 10)
    _need(MPEG7)
    real = S.from_mpeg7(MPEG7)
    mapping = json.loads((MPEG7 / "coco_names.json").read_text())
    n_files = sum(1 for p in (MPEG7 / "shapes").glob("*.png") if p.stem.rsplit("-", 1)[0] in mapping)
    assert len(real) == n_files
    assert set(real.labels.tolist()) == {coco_index(v) for v in mapping.values()}


# ----------------------------------------------------------------------------- CLI
def test_build_shapes_cli_on_synthetic_root(tmp_path, monkeypatch, capsys):
    root = tmp_path / "data"
    (root / "coco-union").mkdir(parents=True)
    _write_instances(root / "coco-union" / "instances_train.json")
    _write_instances(root / "coco-union" / "instances_val.json")
    voc = root / "voc-segclassaug"
    (voc / "SegmentationClassAug").mkdir(parents=True)
    _palette_png(_synthetic_label_map(), voc / "SegmentationClassAug" / "a.png")
    (voc / "train.txt").write_text("a\n")
    (voc / "val.txt").write_text("a\n")
    (root / "animal-mnist").mkdir()
    imgs = np.zeros((20, 28, 28), np.uint8)
    imgs[:, 5:20, 5:25] = 180
    np.savez(root / "animal-mnist" / "animal_mnist.npz", images=imgs, labels=np.repeat([0, 1], 10),
             class_names=np.array(["bear", "zebra"]))
    monkeypatch.setenv("SEM_METRIC_DATA", str(root))
    assert build_shapes.default_data_root() == root
    out = tmp_path / "out"
    summary = build_shapes.main(["--out", str(out), "--sources", "coco,voc,animal", "--no-progress",
                                 "--workers", "1"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["splits"]["train"]["total"] == summary["splits"]["train"]["total"] == 2 + 3 + 18
    assert summary["splits"]["train"]["per_source"] == {"animal_mnist": 18, "coco_instances": 2, "voc": 3}
    assert summary["splits"]["val_animal"]["per_class"]["zebra"] == 1
    for name in ("train", "val_coco", "val_voc", "val_animal"):
        assert len(ShapeBank.load(out / f"{name}.npz")) == summary["splits"][name]["total"]
    assert json.loads((out / "summary.json").read_text())["splits"]["val_voc"]["total"] == 3
    with pytest.raises(InputError, match="mpeg7"):
        build_shapes.main(["--out", str(out), "--sources", "mpeg7", "--no-progress"])  # no mpeg7 folder
