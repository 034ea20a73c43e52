"""`sem-score PRED_DIR --task TASK_DIR` (issue 20, point 4): ground truth and boxes from a verified task,
protocol and digest in metadata.task, a baseline made on another task refused, a modified task refused."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from sem_metric.pipeline.io import read_label_map
from sem_metric.task import build_task, evaluate_task

from task_data import camvid_maps, error_line, sem_score, sem_task, write_camvid


@pytest.fixture
def task(tmp_path, camvid_small):
    out = tmp_path / "task"
    meta = build_task("camvid-test", str(camvid_small), str(out))
    return out, meta


def test_scoring_s_u_gives_the_null_model_of_task_json(tmp_path, task):
    out, meta = task
    pred = tmp_path / "pred"
    shutil.copytree(out / "incomplete", pred)
    r = sem_score(pred, "--task", out, "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.stderr
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["means"] == meta["null_model"]["means"]  # bit for bit: the same definitions and sums
    t = res["metadata"]["task"]
    assert t["protocol"] == "camvid-test" and t["protocol_version"] == 1 and t["digest"] == meta["digest"]
    assert t["samples"] == 3 and res["counts"]["samples"] == 3
    # the Python form
    py = evaluate_task(str(pred), str(out), metrics="tiou,hamm,nn")
    assert py["means"] == res["means"] and py["metadata"]["task"]["digest"] == meta["digest"]


def test_report_shows_the_task(tmp_path, task):
    """Issue 27: the HTML report of a --task run names the protocol, its version and the task digest."""
    out, meta = task
    pred = tmp_path / "pred"
    shutil.copytree(out / "incomplete", pred)
    r = sem_score(pred, "--task", out, "--report", tmp_path / "report")
    assert r.exit_code == 0, r.stderr
    html = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert '<code id="task">camvid-test@1 (' in html and "3 samples" in html
    assert meta["digest"] in html and meta["digest"][:16] in html


def test_trivial_model_beats_nothing_and_is_scored(tmp_path, task):
    out, _ = task
    pred = tmp_path / "pred"
    for p in sorted((out / "incomplete").rglob("*.png")):  # the ground truth itself: a perfect model
        rel = p.relative_to(out / "incomplete")
        (pred / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / "gt" / rel, pred / rel)
    r = sem_score(pred, "--task", out, "--json", tmp_path / "r.json")
    assert r.exit_code == 0
    assert json.loads((tmp_path / "r.json").read_text())["means"] == {"tiou": 1.0, "hamm": 1.0, "nn": 0.0}


def test_modified_ground_truth_or_boxes_is_refused(tmp_path, task):
    out, _ = task
    pred = tmp_path / "pred"
    shutil.copytree(out / "incomplete", pred)
    gt = out / "gt" / "0001TP_000020_obj000.png"
    arr = read_label_map(gt).copy()
    arr[2, 1] = 3
    Image.fromarray(arr).save(gt)
    r = sem_score(pred, "--task", out, "--json", tmp_path / "r.json")
    assert r.exit_code == 2 and "does not verify" in error_line(r) and not (tmp_path / "r.json").exists()
    build_task("camvid-test", str(tmp_path / "camvid"), str(out))  # rebuilt: fine again
    assert sem_score(pred, "--task", out).exit_code == 0
    boxes = json.loads((out / "boxes.json").read_text())
    boxes["0001TP_000020_obj000.png"][0]["bbox"] = [1, 2, 4, 6]
    (out / "boxes.json").write_text(json.dumps(boxes))
    r = sem_score(pred, "--task", out)
    assert r.exit_code == 2 and "boxes.json" in error_line(r) and "does not verify" in error_line(r)


def test_baseline_on_another_task_digest_is_refused(tmp_path, task):
    out, meta = task
    pred = tmp_path / "pred"
    shutil.copytree(out / "incomplete", pred)
    assert sem_score(pred, "--task", out, "--json", tmp_path / "base.json").exit_code == 0
    # same task: comparable
    r = sem_score(pred, "--task", out, "--baseline", tmp_path / "base.json")
    assert r.exit_code == 0, r.stderr
    # another task (the data changed: one more pedestrian pixel): not comparable, like other weights
    maps = camvid_maps()
    maps["0001TP_000010"][3, 13] = 9
    other_data = write_camvid(tmp_path / "camvid2", maps)
    other = tmp_path / "task2"
    other_meta = build_task("camvid-test", str(other_data), str(other))
    assert other_meta["digest"] != meta["digest"]
    pred2 = tmp_path / "pred2"
    shutil.copytree(other / "incomplete", pred2)
    r = sem_score(pred2, "--task", other, "--baseline", tmp_path / "base.json", "--json", tmp_path / "x.json")
    assert r.exit_code == 2
    line = error_line(r)
    assert "not comparable" in line and "SISM task digest" in line and meta["digest"] in line
    assert not (tmp_path / "x.json").exists()
    # a baseline scored without --task is not one of this task either
    assert sem_score(pred, out / "gt", "--boxes", out / "boxes.json", "--json", tmp_path / "plain.json").exit_code == 0
    r = sem_score(pred, "--task", out, "--baseline", tmp_path / "plain.json")
    assert r.exit_code == 2 and "SISM task digest" in error_line(r)
    r = sem_score(pred, "--task", out, "--baseline", tmp_path / "plain.json", "--allow-version-mismatch")
    assert r.exit_code == 0


def test_task_usage_errors(tmp_path, task):
    out, _ = task
    pred = tmp_path / "pred"
    shutil.copytree(out / "incomplete", pred)
    r = sem_score(pred, out / "gt", "--task", out)
    assert r.exit_code == 2 and "without GT_DIR and --boxes" in error_line(r)
    r = sem_score(pred)
    assert r.exit_code == 2 and "--task TASK_DIR" in error_line(r)
    r = sem_score(pred, "--task", tmp_path / "none")
    assert r.exit_code == 2 and "does not exist" in error_line(r)
    r = sem_score(pred, "--task", tmp_path)  # a folder that is not a task
    assert r.exit_code == 2 and "no task.json" in error_line(r)


def test_null_sem_is_the_sem_score_of_incomplete(tmp_path, camvid_small, random_weights_path, one_torch_thread):
    """`sem-task build --null-sem` records Sem (Eq. 10) of S^u with the weights' sha256: what sem-score gives."""
    out = tmp_path / "t"
    r = sem_task("build", "camvid-test", camvid_small, "--out", out, "--null-sem", "--weights", random_weights_path,
                 "-q")
    assert r.exit_code == 0, r.stderr
    meta = json.loads((out / "task.json").read_text())
    nm = meta["null_model"]
    from sem_metric.sem.weights import sha256_file
    assert nm["sem"]["sha256"] == sha256_file(random_weights_path) and 0 <= nm["means"]["sem"] <= 1
    shutil.copytree(out / "incomplete", tmp_path / "pred")
    r = sem_score(tmp_path / "pred", "--task", out, "--metrics", "tiou,hamm,nn,sem", "--weights", random_weights_path,
                  "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.stderr
    res = json.loads((tmp_path / "r.json").read_text())
    assert abs(res["means"]["sem"] - nm["means"]["sem"]) <= 2e-5  # Sem's documented float32 bound
    assert {k: res["means"][k] for k in ("tiou", "hamm", "nn")} == {k: nm["means"][k] for k in ("tiou", "hamm", "nn")}
    r = sem_task("build", "camvid-test", camvid_small, "--out", tmp_path / "t2", "--weights", random_weights_path)
    assert r.exit_code == 2 and "only apply with --null-sem" in error_line(r)


def test_per_class_names_come_from_the_task(tmp_path, task):
    out, _ = task
    shutil.copytree(out / "incomplete", tmp_path / "pred")
    r = sem_score(tmp_path / "pred", "--task", out, "--json", tmp_path / "r.json", "--per-class")
    assert r.exit_code == 0, r.stderr
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["metadata"]["options"]["class_names"] == "camvid"  # the built-in set of the task's dataset
    assert "pedestrian" in r.stdout and "car" in r.stdout
