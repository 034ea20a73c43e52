"""sem-task list / build / verify / show, determinism and the Python API (issue 20)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from sem_metric.pipeline.io import read_boxes, read_label_map
from sem_metric.task import build_task, custom_protocol, get_protocol, load_task, verify_task
from sem_metric.task.digest import map_content_sha256, task_digest

from task_data import camvid_maps, error_line, sem_task, tree_bytes


def test_list_and_list_json():
    r = sem_task("list")
    assert r.exit_code == 0
    for name in ("camvid-test@1", "cityscapes-val@1", "cityscapes-val-128x256@1", "ade20k-bedroom@1",
                 "coco-panoptic-val2017@1", "custom"):
        assert name in r.stdout
    r = sem_task("list", "--json")
    data = json.loads(r.stdout)
    by = {d["name"]: d for d in data}
    assert set(by) == {"camvid-test", "cityscapes-val", "cityscapes-val-128x256", "ade20k-bedroom",
                       "coco-panoptic-val2017"}
    for d in data:
        for key in ("name", "version", "dataset", "classes", "resolution", "min_box_area_fraction", "selection",
                    "description"):
            assert key in d, (d["name"], key)
        assert d["selection"] in ("all", "one-per-image") and "\n" not in d["description"]
    city = by["cityscapes-val-128x256"]
    assert [c["id"] for c in city["classes"]] == [24, 25, 26, 27, 28, 31, 32, 33]
    assert city["resolution"] == [128, 256] and city["min_box_area_fraction"] == 0.02
    assert city["selection"] == "one-per-image" and city["seed"] == 0 and city["resize"] == "nearest"
    assert by["cityscapes-val"]["resolution"] == "native" and by["cityscapes-val"]["selection"] == "all"
    assert [(c["id"], c["name"]) for c in by["camvid-test"]["classes"]] == [(8, "car"), (9, "pedestrian"),
                                                                             (10, "bicyclist")]
    assert by["coco-panoptic-val2017"]["min_object_area_fraction"] == 0.01
    assert len(by["coco-panoptic-val2017"]["classes"]) == 80
    assert by["ade20k-bedroom"]["class_rule"] == "top-7-by-instance-count"


def test_get_protocol_versions():
    assert get_protocol("camvid-test").key == "camvid-test@1"
    assert get_protocol("camvid-test@1") is get_protocol("camvid-test")
    from sem_metric.errors import InputError
    with pytest.raises(InputError, match="no version"):
        get_protocol("camvid-test@9")
    with pytest.raises(InputError, match="unknown protocol"):
        get_protocol("kitti")


def test_build_camvid_small_hand_computed(camvid_small, tmp_path):
    out = tmp_path / "task"
    r = sem_task("build", "camvid-test", camvid_small, "--out", out)
    assert r.exit_code == 0, r.stderr
    assert "digest" in r.stdout
    # native 12 x 16 = 192 px, 0.1% -> objects of >= 1 px: a has a car and a pedestrian, b one car component
    boxes = json.loads((out / "boxes.json").read_text())
    assert boxes == {"0001TP_000010_obj000.png": [{"bbox": [2, 4, 7, 8], "label": 8}],
                     "0001TP_000010_obj001.png": [{"bbox": [12, 3, 13, 9], "label": 9}],
                     "0001TP_000020_obj000.png": [{"bbox": [1, 2, 5, 6], "label": 8}]}
    assert read_boxes(out / "boxes.json")  # exactly the format sem-score --boxes reads
    maps = camvid_maps()
    gt = read_label_map(out / "gt" / "0001TP_000010_obj001.png")
    np.testing.assert_array_equal(gt, maps["0001TP_000010"])
    su = read_label_map(out / "incomplete" / "0001TP_000010_obj001.png")
    expect = maps["0001TP_000010"].copy()
    expect[3:9, 12:13] = 9
    np.testing.assert_array_equal(su, expect)
    su_b = read_label_map(out / "incomplete" / "0001TP_000020_obj000.png")
    assert (su_b[2:6, 1:5] == 8).all() and (su_b[6:] == 3).all()
    meta = json.loads((out / "task.json").read_text())
    assert meta["counts"]["per_class"] == {"8": {"name": "car", "samples": 2}, "9": {"name": "pedestrian", "samples": 1},
                                           "10": {"name": "bicyclist", "samples": 0}}
    assert meta["counts"]["source_maps"] == 3 and meta["counts"]["maps_with_samples"] == 2
    assert set(meta["sources"]) == {"testannot/0001TP_000010.png", "testannot/0001TP_000020.png",
                                    "testannot/0001TP_000030.png"}
    assert len(meta["files"]) == 1 + 2 * 3
    # null model: S^u vs S^c. car a: box 5x4 = 20 px all car -> tIOU 1, hamm 1; pedestrian: 6 px all 9 -> 1, 1;
    # car component b: box 4x4 = 16 px, 8 of them car -> tIOU 8/16, hamm 8/16
    nm = meta["null_model"]
    assert nm["means"]["tiou"] == math.fsum([1.0, 1.0, 0.5]) / 3 and nm["means"]["hamm"] == (1 + 1 + 0.5) / 3
    assert nm["means"]["nn"] == 0 and nm["per_class"]["8"]["tiou"] == 0.75
    # the digest is over the decoded ground truth and the boxes
    gts = [(k, map_content_sha256(read_label_map(out / "gt" / k))) for k in boxes]
    assert meta["digest"] == task_digest({k: [(v[0]["bbox"], v[0]["label"])] for k, v in boxes.items()}, gts)
    assert load_task(out).digest == meta["digest"]


def test_show_and_verify(camvid_small, tmp_path):
    out = tmp_path / "task"
    assert sem_task("build", "camvid-test", camvid_small, "--out", out, "-q").exit_code == 0
    r = sem_task("show", out)
    assert r.exit_code == 0
    meta = json.loads((out / "task.json").read_text())
    assert meta["digest"] in r.stdout and "car" in r.stdout and "null model" in r.stdout
    assert json.loads(sem_task("show", out, "--json").stdout)["digest"] == meta["digest"]
    r = sem_task("verify", out)
    assert r.exit_code == 0 and meta["digest"] in r.stdout
    r = sem_task("verify", out, "--data", camvid_small)
    assert r.exit_code == 0 and "rebuilt" in r.stdout


def test_verify_detects_changes(camvid_small, tmp_path):
    out = tmp_path / "task"
    build_task("camvid-test", str(camvid_small), str(out))
    # a ground-truth pixel changed
    p = out / "gt" / "0001TP_000010_obj000.png"
    original = p.read_bytes()
    arr = read_label_map(p).copy()
    arr[0, 0] = 5
    from PIL import Image
    Image.fromarray(arr).save(p)
    r = sem_task("verify", out)
    assert r.exit_code == 1
    line = error_line(r)
    assert "changed since the build" in line and "task digest" in line
    p.write_bytes(original)
    assert verify_task(out)["ok"]
    # an extra file, a missing file
    (out / "gt" / "extra.png").write_bytes(original)
    assert "not written by the build" in " ".join(verify_task(out)["problems"])
    (out / "gt" / "extra.png").unlink()
    (out / "incomplete" / "0001TP_000020_obj000.png").unlink()
    assert "missing" in " ".join(verify_task(out)["problems"])
    # the data changed since the build: verify --data says so
    build_task("camvid-test", str(camvid_small), str(out))
    maps = camvid_maps()
    maps["0001TP_000020"][10, 10] = 9
    from task_data import write_camvid
    write_camvid(camvid_small, maps)
    r = sem_task("verify", out, "--data", camvid_small)
    assert r.exit_code == 1 and "source file(s) differ" in error_line(r) and "task digest" in error_line(r)


def test_byte_identical_across_runs(camvid_small, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    build_task("camvid-test", str(camvid_small), str(a))
    build_task("camvid-test", str(camvid_small), str(b))
    assert tree_bytes(a) == tree_bytes(b)
    # rebuilding over an earlier task of the same protocol replaces it with the same bytes
    assert sem_task("build", "camvid-test", camvid_small, "--out", a, "-q").exit_code == 0
    assert tree_bytes(a) == tree_bytes(b)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_custom_protocol_labels_min_area_resolution(tmp_path):
    root = tmp_path / "maps"
    (root / "sub").mkdir(parents=True)
    seg = np.zeros((8, 8), np.int64)
    seg[0:2, 0:2] = 5     # 4 px = 6.25% of 64
    seg[4:8, 4:8] = 5     # 16 px = 25%
    seg[6, 0] = 6         # 1 px
    np.save(root / "sub" / "m.npy", seg)
    from PIL import Image
    Image.fromarray(seg.astype(np.uint8)).save(root / "p.png")
    out = tmp_path / "t"
    r = sem_task("build", "custom", root, "--out", out, "--labels", "5,6", "--min-area", "0.1",
                 "--resolution", "4x4", "-q")
    assert r.exit_code == 0, r.stderr
    meta = json.loads((out / "task.json").read_text())
    # at 4 x 4 (nearest: rows/cols 1, 3, 5, 7), 10% = 2 px: the 4 px blob becomes 1 px (dropped), the 16 px one 4 px
    assert meta["protocol"]["name"] == "custom" and meta["protocol"]["resolution"] == [4, 4]
    assert meta["protocol"]["objects"] == "components" and meta["protocol"]["min_object_area_fraction"] == 0.1
    assert json.loads((out / "boxes.json").read_text()) == {
        "p_obj000.png": [{"bbox": [2, 2, 4, 4], "label": 5}], "sub/m_obj000.png": [{"bbox": [2, 2, 4, 4], "label": 5}]}
    assert read_label_map(out / "gt" / "sub" / "m_obj000.png").shape == (4, 4)
    assert verify_task(out, str(root))["ok"]
    # with instance maps: two touching objects of one class stay apart
    inst_root = tmp_path / "inst"
    inst_root.mkdir()
    seg2 = np.zeros((4, 6), np.uint8)
    seg2[1:3, 1:5] = 5
    inst = np.zeros((4, 6), np.uint8)
    inst[1:3, 1:3], inst[1:3, 3:5] = 1, 2
    (tmp_path / "one").mkdir()
    Image.fromarray(seg2).save(tmp_path / "one" / "x.png")
    Image.fromarray(inst).save(inst_root / "x.png")
    meta = build_task(custom_protocol("5", instances_dir=str(inst_root)), str(tmp_path / "one"), str(tmp_path / "t2"))
    assert [s["bbox"] for s in meta["samples"]] == [[1, 1, 3, 3], [3, 1, 5, 3]]
    assert set(meta["sources"]) == {"x.png", "instances/x.png"}
    r = sem_task("verify", tmp_path / "t2", "--data", tmp_path / "one", "--instances", inst_root)
    assert r.exit_code == 0, r.stderr


def test_custom_options_refused_for_registered_protocols(camvid_small, tmp_path):
    r = sem_task("build", "camvid-test", camvid_small, "--out", tmp_path / "t", "--labels", "8")
    assert r.exit_code == 2 and "only apply to the custom protocol" in error_line(r)
    r = sem_task("build", "custom", camvid_small, "--out", tmp_path / "t")
    assert r.exit_code == 2 and "--labels" in error_line(r)
    assert not (tmp_path / "t").exists()


def test_core_task_package_is_torch_free():
    import subprocess
    import sys
    code = ("import sys, sem_metric.task.cli, sem_metric.task.build, sem_metric.task.load, sem_metric.task.scoring;"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
