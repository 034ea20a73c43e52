"""Writers of tiny datasets in their exact encodings, and the sem-task / sem-score CLI runners.

* Cityscapes: ``*_gtFine_labelIds.png`` (mode L, labelIds 0..33) + ``*_gtFine_instanceIds.png`` (mode I;16,
  class * 1000 + k for thing instances, the class id itself otherwise).
* ADE20K (full): ``*_seg.png`` RGB with class = R / 10 * 256 + G and instance = B.
* COCO panoptic: RGB PNG with segment id = R + 256 G + 256^2 B, and its JSON (segments_info, categories).
* CamVid (SegNet): grayscale PNG, ids 0..11.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CAMVID = Path(os.environ.get("SEM_METRIC_DATA", DATA)) / "camvid"
FIXTURES = Path(os.environ.get("SEM_METRIC_DATA", DATA)) / "fixtures"


def sem_task(*args):
    """Run ``sem-task`` through its real click entry point; returns the click Result."""
    from sem_metric.task.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def sem_score(*args):
    """Run ``sem-score`` through its real click entry point."""
    from sem_metric.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def error_line(result):
    """The one ``error: ...`` line of a refused run (asserts there is exactly one stderr line)."""
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ----------------------------------------------------------------------------------- Cityscapes
CITY_NAME = "frankfurt_000000_000294"


def cityscapes_maps():
    """A 20 x 40 labelIds map and its instanceIds map (hand-placed objects).

    person 24 (instance 24000): rows 10..17, cols 30..32 -> box (30, 10, 33, 18), 24 px
    car 26 A (26000): rows 8..13, cols 2..9 -> box (2, 8, 10, 14), 48 px
    car 26 B (26001): rows 8..13, cols 10..15 (touches A) -> box (10, 8, 16, 14), 36 px
    bicycle 33 (33000): rows 18..19, cols 20..22 -> box (20, 18, 23, 20), 6 px (< 1% of 800 px)
    rider 25 without instance (instanceIds value 25, a crowd region): not a target
    """
    lab = np.full((20, 40), 7, np.uint8)  # road
    lab[:5] = 23  # sky
    inst = lab.astype(np.uint16)
    for cls, iid, (r0, r1, c0, c1) in ((24, 24000, (10, 18, 30, 33)), (26, 26000, (8, 14, 2, 10)),
                                       (26, 26001, (8, 14, 10, 16)), (33, 33000, (18, 20, 20, 23)),
                                       (25, 25, (2, 4, 36, 38))):
        lab[r0:r1, c0:c1] = cls
        inst[r0:r1, c0:c1] = iid
    return lab, inst


def write_cityscapes(root, layout="official", name=CITY_NAME, maps=None, instances=True):
    """Write one Cityscapes pair in ``root`` (official gtFine/val/<city>/ or flat); returns the folder."""
    lab, inst = maps or cityscapes_maps()
    city = name.split("_")[0]
    folder = Path(root) / "gtFine" / "val" / city if layout == "official" else Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(lab).save(folder / f"{name}_gtFine_labelIds.png")
    if instances:
        Image.fromarray(inst.astype(np.uint16)).save(folder / f"{name}_gtFine_instanceIds.png")
    return folder


# ----------------------------------------------------------------------------------- ADE20K
def ade_rgb(cls, inst):
    """Full-ADE20K ``_seg.png`` encoding: R = class // 256 * 10, G = class % 256, B = instance."""
    cls = np.asarray(cls)
    return np.stack([(cls // 256) * 10, cls % 256, inst], -1).astype(np.uint8)


#: (class, number of instances) over the two synthetic bedroom scenes; the top 7 by count (ties: lower id)
#: are 165, 976, 447, 1395, 2978, 687, 1735 (3055 loses the tie at 1 instance)
ADE_COUNTS = {2978: 2, 165: 3, 976: 3, 1395: 2, 447: 2, 1735: 1, 3055: 1, 687: 1}
ADE_TOP7 = [165, 447, 687, 976, 1395, 1735, 2978]


def write_ade20k(root):
    """Two validation bedroom scenes (+ one training bedroom and one validation kitchen, both ignored).

    Each scene is 12 x 16: the wall (2978, one instance, B = 1) everywhere, 2 x 2 objects on a grid."""
    plan = [[165, 165, 976, 1395, 447, 1735], [165, 976, 976, 1395, 447, 3055, 687]]
    base = Path(root) / "images" / "ADE"
    out = []
    for k, objs in enumerate(plan):
        cls = np.full((12, 16), 2978, np.int64)
        inst = np.ones((12, 16), np.int64)
        for j, c in enumerate(objs):
            r, col = 1 + 3 * (j // 5), 1 + 3 * (j % 5)
            cls[r:r + 2, col:col + 2] = c
            inst[r:r + 2, col:col + 2] = 2 + j
        d = base / "validation" / "home_or_hotel" / "bedroom"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ade_rgb(cls, inst)).save(d / f"ADE_val_{k + 1:08d}_seg.png")
        out.append((cls, inst))
    for split, scene in (("training", "bedroom"), ("validation", "kitchen")):
        d = base / split / "home_or_hotel" / scene
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ade_rgb(np.full((4, 4), 3055), np.ones((4, 4), np.int64))).save(d / "ADE_x_00000009_seg.png")
    return out


# ----------------------------------------------------------------------------------- COCO panoptic
COCO_CATEGORIES = [{"id": 1, "name": "person", "isthing": 1}, {"id": 3, "name": "car", "isthing": 1},
                   {"id": 184, "name": "tree-merged", "isthing": 0}]


def write_coco(root, split="val2017"):
    """One 10 x 20 panoptic PNG + JSON under ``root/annotations``.

    segment 3937500 person (cat 1): rows 2..6, cols 3..6 (20 px >= 1% of 200) -> target, box (3, 2, 7, 7)
    segment 2035955 person, iscrowd: rows 0..1, cols 10..13 -> not a target
    segment 4260062 car (cat 3): 1 px at (8, 15) (< 2 px) -> dropped
    segment 7 tree (stuff, cat 184): rows 5..9, cols 10..19 minus the car -> not a target
    void (id 0) elsewhere -> class 0
    """
    ids = np.zeros((10, 20), np.int64)
    ids[5:10, 10:20] = 7
    ids[2:7, 3:7] = 3937500
    ids[0:2, 10:14] = 2035955
    ids[8, 15] = 4260062
    rgb = np.stack([ids % 256, (ids // 256) % 256, ids // 65536], -1).astype(np.uint8)
    ann = Path(root) / "annotations"
    (ann / f"panoptic_{split}").mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(ann / f"panoptic_{split}" / "000000000001.png")
    segs = [{"id": 3937500, "category_id": 1, "iscrowd": 0, "area": 20, "bbox": [3, 2, 4, 5]},
            {"id": 2035955, "category_id": 1, "iscrowd": 1, "area": 8, "bbox": [10, 0, 4, 2]},
            {"id": 4260062, "category_id": 3, "iscrowd": 0, "area": 1, "bbox": [15, 8, 1, 1]},
            {"id": 7, "category_id": 184, "iscrowd": 0, "area": 49, "bbox": [10, 5, 10, 5]}]
    data = {"images": [{"id": 1, "file_name": "000000000001.jpg", "height": 10, "width": 20}],
            "annotations": [{"image_id": 1, "file_name": "000000000001.png", "segments_info": segs}],
            "categories": COCO_CATEGORIES}
    (ann / f"panoptic_{split}.json").write_text(json.dumps(data))
    cls = np.zeros((10, 20), np.int64)
    cls[ids == 7] = 184
    cls[ids == 3937500] = 1
    cls[ids == 2035955] = 1
    cls[ids == 4260062] = 3
    return cls


# ----------------------------------------------------------------------------------- CamVid
def camvid_maps():
    """Three 12 x 16 CamVid maps (road 3, sky 0) with hand-placed objects.

    a: car 8 rows 4..7 cols 2..6 (20 px) and a pedestrian 9 rows 3..8 col 12 (6 px)
    b: two cars touching diagonally (one 8-connected component): rows 2..3 cols 1..2 and rows 4..5 cols 3..4
    c: no target
    """
    a = np.full((12, 16), 3, np.uint8)
    a[:2] = 0
    a[4:8, 2:7] = 8
    a[3:9, 12] = 9
    b = np.full((12, 16), 3, np.uint8)
    b[2:4, 1:3] = 8
    b[4:6, 3:5] = 8
    c = np.full((12, 16), 3, np.uint8)
    return {"0001TP_000010": a, "0001TP_000020": b, "0001TP_000030": c}


def write_camvid(root, maps=None):
    d = Path(root) / "testannot"
    d.mkdir(parents=True, exist_ok=True)
    for name, arr in (maps or camvid_maps()).items():
        Image.fromarray(arr).save(d / f"{name}.png")
    return Path(root)


def tree_bytes(root):
    """``{relative path: bytes}`` of every file under ``root``."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
