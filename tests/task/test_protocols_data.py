"""Every registered protocol on data in its real encoding (issue 20): synthetic maps written in each dataset's
exact encoding with hand-computed expectations, and the real CamVid / fixture data when present."""
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from sem_metric.pipeline.io import read_label_map
from sem_metric.task import build_task, resize_nearest, verify_task

from task_data import (ADE_TOP7, CAMVID, CITY_NAME, FIXTURES, cityscapes_maps, error_line, sem_task, tree_bytes,
                       write_ade20k, write_cityscapes, write_coco)


# ----------------------------------------------------------------------------------- Cityscapes
def test_cityscapes_native_official_layout(tmp_path):
    write_cityscapes(tmp_path / "cs")
    meta = build_task("cityscapes-val", str(tmp_path / "cs"), str(tmp_path / "t"))
    # 20 x 40 = 800 px, boxes >= 1% = 8 px: the 6 px bicycle box is dropped, the rider has no instance
    assert [(s["file"], s["label"], s["bbox"], s["object_area"], s["instance"]) for s in meta["samples"]] == [
        (f"frankfurt/{CITY_NAME}_obj000.png", 24, [30, 10, 33, 18], 24, 24000),
        (f"frankfurt/{CITY_NAME}_obj001.png", 26, [2, 8, 10, 14], 48, 26000),
        (f"frankfurt/{CITY_NAME}_obj002.png", 26, [10, 8, 16, 14], 36, 26001)]
    assert meta["counts"]["objects_found"] == 4 and meta["counts"]["per_class"]["26"]["samples"] == 2
    assert set(meta["sources"]) == {f"gtFine/val/frankfurt/{CITY_NAME}_gtFine_labelIds.png",
                                    f"gtFine/val/frankfurt/{CITY_NAME}_gtFine_instanceIds.png"}
    lab, _ = cityscapes_maps()
    np.testing.assert_array_equal(read_label_map(tmp_path / "t" / "gt" / "frankfurt" / f"{CITY_NAME}_obj001.png"), lab)
    su = read_label_map(tmp_path / "t" / "incomplete" / "frankfurt" / f"{CITY_NAME}_obj001.png")
    assert (su[8:14, 2:10] == 26).all() and (su[:8] == lab[:8]).all()
    # the same data in a flat folder (instanceIds beside labelIds) is the same task: same digest
    write_cityscapes(tmp_path / "flat", layout="flat")
    flat = build_task("cityscapes-val", str(tmp_path / "flat"), str(tmp_path / "t2"))
    assert flat["digest"] == meta["digest"] and flat["samples"] == meta["samples"]
    # the root may also be gtFine/ or gtFine/val/
    assert build_task("cityscapes-val", str(tmp_path / "cs" / "gtFine"), str(tmp_path / "t3"))["digest"] == meta["digest"]
    val_root = tmp_path / "cs" / "gtFine" / "val"
    assert build_task("cityscapes-val", str(val_root), str(tmp_path / "t4"))["digest"] == meta["digest"]
    assert verify_task(tmp_path / "t", str(tmp_path / "cs"))["ok"]


def test_cityscapes_val_refuses_maps_of_other_cities(tmp_path):
    """Issue 27: a val protocol reads val cities only (official layout and flat folder); --allow-other-split
    accepts the others and task.json records it (a rebuild in verify honours it)."""
    official = tmp_path / "official"
    write_cityscapes(official)
    write_cityscapes(official, name="lindau_000001_000019")
    write_cityscapes(official, name="aachen_000000_000019")     # a train city copied into gtFine/val/
    flat = tmp_path / "flat"
    write_cityscapes(flat, layout="flat")
    write_cityscapes(flat, layout="flat", name="berlin_000000_000019")    # test split
    write_cityscapes(flat, layout="flat", name="renamed")                 # no city in the name
    for root, contains in ((official, ("aachen (train, 1 map(s))", "1 of 3 map(s)")),
                           (flat, ("berlin (test, 1 map(s))", "1 map(s) with no city in the file name",
                                   "2 of 3 map(s)"))):
        for protocol in ("cityscapes-val", "cityscapes-val-128x256"):
            r = sem_task("build", protocol, root, "--out", tmp_path / f"t-{root.name}")
            line = error_line(r)
            assert r.exit_code == 2 and not (tmp_path / f"t-{root.name}").exists()
            for c in contains + ("frankfurt, lindau, munster", "--allow-other-split"):
                assert c in line, line
        out = tmp_path / f"ok-{root.name}"
        r = sem_task("build", "cityscapes-val", root, "--out", out, "--allow-other-split")
        assert r.exit_code == 0, r.output
        assert "built with --allow-other-split" in r.output
        split = json.loads((out / "task.json").read_text())["split"]
        assert split["name"] == "val" and split["other_split_allowed"] is True
        assert sum(split["cities"].values()) == 3
        assert verify_task(out, str(root))["ok"]
    # val maps only: accepted without the flag, recorded as such
    meta = build_task("cityscapes-val", str(tmp_path / "official" / "gtFine" / "val" / "frankfurt"),
                      str(tmp_path / "t-val"))
    assert meta["split"] == {"name": "val", "cities": {"frankfurt": 1}, "other_split_allowed": False,
                             "other_split_cities": []}
    # the flag belongs to Cityscapes protocols only
    r = sem_task("build", "camvid-test", tmp_path, "--out", tmp_path / "c", "--allow-other-split")
    assert r.exit_code == 2 and "only applies to Cityscapes" in r.stderr


def test_cityscapes_128x256_one_per_image_rule(tmp_path):
    write_cityscapes(tmp_path / "cs")
    meta = build_task("cityscapes-val-128x256", str(tmp_path / "cs"), str(tmp_path / "t"))
    # nearest 20 x 40 -> 128 x 256 (scale 6.4): source row of output row i is floor((i + 0.5) / 6.4).
    # boxes at 128 x 256 (2% = 656 px): person (192, 64, 211, 115) 969 px; car A (13, 51, 64, 90) 1989 px;
    # car B (64, 51, 102, 90) 1482 px; bicycle (128, 115, 147, 128) 247 px is dropped
    candidates = [[192, 64, 211, 115], [13, 51, 64, 90], [64, 51, 102, 90]]
    k = int.from_bytes(hashlib.sha256(f"0:frankfurt/{CITY_NAME}".encode()).digest()[:8], "big") % 3
    assert [s["bbox"] for s in meta["samples"]] == [candidates[k]]
    assert meta["counts"]["objects_found"] == 4 and meta["counts"]["samples"] == 1
    gt = read_label_map(tmp_path / "t" / "gt" / meta["samples"][0]["file"])
    assert gt.shape == (128, 256)
    lab, _ = cityscapes_maps()
    np.testing.assert_array_equal(gt, resize_nearest(lab, (128, 256)))
    assert gt[51, 13] == 26 and gt[50, 13] != 26 and gt[89, 63] == 26
    assert meta["protocol"]["seed"] == 0 and meta["protocol"]["resize"] == "nearest"


# ----------------------------------------------------------------------------------- ADE20K
def test_ade20k_bedroom_classes_by_instance_count(tmp_path):
    scenes = write_ade20k(tmp_path / "ade")
    meta = build_task("ade20k-bedroom", str(tmp_path / "ade"), str(tmp_path / "t"))
    assert [c["id"] for c in meta["protocol"]["classes"]] == ADE_TOP7
    assert meta["counts"]["source_maps"] == 2  # the training bedroom and the kitchen are not read
    labels = [s["label"] for s in meta["samples"]]
    assert 3055 not in labels and labels.count(165) == 3 and labels.count(2978) == 2
    wall = [s for s in meta["samples"] if s["label"] == 2978][0]
    assert wall["bbox"] == [0, 0, 16, 12]
    bed = [s for s in meta["samples"] if s["label"] == 165][0]
    assert bed["bbox"] == [1, 1, 3, 3] and bed["object_area"] == 4
    gt = read_label_map(tmp_path / "t" / "gt" / f"{bed['source']}_obj000.png")
    assert gt.dtype == np.uint16  # ids > 255: a 16-bit PNG
    np.testing.assert_array_equal(gt, scenes[0][0])
    assert verify_task(tmp_path / "t", str(tmp_path / "ade"))["ok"]


def test_ade20k_real_fixture_encoding(tmp_path):
    src = FIXTURES / "ade20k-samples" / "ADE20K_2021_17_01" / "images" / "ADE" / "training" / "urban" / "street"
    if not src.is_dir():
        pytest.skip(f"ADE20K fixtures not found at {src} (../shared/data/fixtures)")
    dst = tmp_path / "ADE20K_2021_17_01" / "images" / "ADE" / "validation" / "home_or_hotel" / "bedroom"
    dst.mkdir(parents=True)
    for name in ("ADE_train_00016900_seg.png", "ADE_train_00016900.json"):  # one 2200 x 1650 scene: fast enough
        shutil.copy(src / name, dst / name)
    meta = build_task("ade20k-bedroom", str(tmp_path / "ADE20K_2021_17_01"), str(tmp_path / "t"))
    names = {c["name"] for c in meta["protocol"]["classes"]}
    assert len(names) == 7 and "car" in names  # names from the per-image JSON; cars are frequent in street scenes
    car = [s for s in meta["samples"] if s["label"] == 401]
    assert car and all(s["instance"] > 0 for s in car)
    assert meta["counts"]["source_maps"] == 1


# ----------------------------------------------------------------------------------- COCO panoptic
def test_coco_panoptic_synthetic(tmp_path):
    cls = write_coco(tmp_path / "coco")
    meta = build_task("coco-panoptic-val2017", str(tmp_path / "coco"), str(tmp_path / "t"))
    assert [(s["label"], s["bbox"], s["object_area"], s["instance"]) for s in meta["samples"]] == [
        (1, [3, 2, 7, 7], 20, 3937500)]
    gt = read_label_map(tmp_path / "t" / "gt" / "000000000001_obj000.png")
    np.testing.assert_array_equal(gt, cls)
    assert meta["counts"]["objects_found"] == 2  # the person and the 1-px car; crowd and stuff are no instances
    assert set(meta["sources"]) == {"annotations/panoptic_val2017.json", "annotations/panoptic_val2017/000000000001.png"}


def test_coco_panoptic_real_fixture(tmp_path):
    src = FIXTURES / "coco-panoptic-samples" / "sample_data"
    if not (src / "panoptic_examples.json").is_file():
        pytest.skip(f"COCO panoptic fixtures not found at {src} (../shared/data/fixtures)")
    root = tmp_path / "coco"
    shutil.copytree(src / "panoptic_examples", root / "panoptic_val2017")
    shutil.copy(src / "panoptic_examples.json", root / "panoptic_val2017.json")
    meta = build_task("coco-panoptic-val2017", str(root), str(tmp_path / "t"))
    data = json.loads((src / "panoptic_examples.json").read_text())
    things = {c["id"] for c in data["categories"] if c["isthing"]}
    expect = 0
    for ann, img in zip(sorted(data["annotations"], key=lambda a: a["file_name"]),
                        sorted(data["images"], key=lambda i: f"{i['id']:012d}")):
        area = img["height"] * img["width"]
        expect += sum(1 for s in ann["segments_info"]
                      if s["category_id"] in things and not s["iscrowd"] and s["area"] >= 0.01 * area)
    assert meta["counts"]["samples"] == expect > 0
    by_id = {(a["file_name"][:-4], s["id"]): s for a in data["annotations"] for s in a["segments_info"]}
    for s in meta["samples"]:  # the PNG's pixel count and box agree with the JSON's area and bbox
        seg = by_id[(s["source"], s["instance"])]  # segment ids are unique per image only
        x, y, w, h = seg["bbox"]
        assert s["object_area"] == seg["area"] and s["bbox"] == [x, y, x + w, y + h]
        assert s["label"] == seg["category_id"]


# ----------------------------------------------------------------------------------- CamVid (real data)
@pytest.fixture(scope="module")
def camvid_task(tmp_path_factory):
    if not (CAMVID / "testannot").is_dir():
        pytest.skip(f"CamVid not found at {CAMVID} (../shared/data/camvid)")
    out = tmp_path_factory.mktemp("camvid") / "task"
    t0 = time.perf_counter()
    r = sem_task("build", "camvid-test", CAMVID, "--out", out, "-q")
    assert r.exit_code == 0, r.stderr
    return out, time.perf_counter() - t0


def test_camvid_real_task(camvid_task):
    out, seconds = camvid_task
    meta = json.loads((out / "task.json").read_text())
    assert meta["counts"]["source_maps"] == 233
    per = {k: v["samples"] for k, v in meta["counts"]["per_class"].items()}
    assert per == {"8": 296, "9": 341, "10": 49}
    assert meta["counts"]["samples"] == 686
    assert all(s["object_area"] >= 173 for s in meta["samples"])  # 0.1% of 360 x 480 = 172.8 -> 173 px
    nm = meta["null_model"]["means"]
    assert nm["nn"] == 0 and 0.5 < nm["tiou"] < 0.8 and nm["tiou"] == nm["hamm"]  # S^u: tIOU = hamm = target share
    assert verify_task(out)["ok"]
    print(f"camvid-test build {seconds:.1f} s, digest {meta['digest']}")


def test_camvid_real_rebuild_is_byte_identical(camvid_task, tmp_path):
    out, _ = camvid_task
    again = tmp_path / "again"
    assert sem_task("build", "camvid-test", CAMVID, "--out", again, "--limit", "20", "-q").exit_code == 0
    ref = tmp_path / "ref"
    assert sem_task("build", "camvid-test", CAMVID, "--out", ref, "--limit", "20", "-q").exit_code == 0
    assert tree_bytes(again) == tree_bytes(ref)
    full = tree_bytes(out)
    for rel, data in tree_bytes(ref).items():  # the first 20 maps' files are those of the full task
        if rel.startswith(("gt/", "incomplete/")):
            assert full[rel] == data
    r = sem_task("verify", ref, "--data", CAMVID)
    assert r.exit_code == 0, r.stderr
