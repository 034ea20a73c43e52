"""Per-class breakdown (issue #11 item 3): class-name tables, means per target label, Sem reliability flags."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sem_metric.errors import InputError
from sem_metric.pipeline import class_names as cn
from sem_metric.pipeline.evaluate import SemOptions, evaluate_samples
from sem_metric.pipeline.per_class import find_reliability, format_per_class, per_class_breakdown, read_reliability
from sem_metric.sem.classes import COCO_CATEGORY_IDS, COCO_CLASSES
from sem_metric.sem.weights import sha256_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# ------------------------------------------------------------------------------------ name tables
def test_builtin_tables_follow_their_documented_conventions():
    assert cn.load_class_names("coco").names == dict(zip(COCO_CATEGORY_IDS, COCO_CLASSES))
    assert cn.load_class_names("COCO").name(3) == "car" and cn.load_class_names("coco").name(90) == "toothbrush"
    city = cn.load_class_names("cityscapes")
    assert sorted(city.names) == list(range(34)) and city.name(7) == "road" and city.name(26) == "car"
    assert [city.name(i) for i in (24, 25, 31, 32, 33)] == ["person", "rider", "train", "motorcycle", "bicycle"]
    ade = cn.load_class_names("ade20k")
    assert sorted(ade.names) == list(range(151)) and ade.name(0) == "other"
    assert (ade.name(1), ade.name(13), ade.name(21), ade.name(150)) == ("wall", "person", "car", "flag")
    assert len(set(ade.names.values())) == 151  # every id has its own name
    camvid = cn.load_class_names("camvid")
    assert sorted(camvid.names) == list(range(12)) and camvid.name(8) == "car" and camvid.name(11) == "unlabelled"
    from sem_metric.reference.sism_data import CAMVID_CLASSES  # one table, reused by the reference models

    assert CAMVID_CLASSES == tuple(camvid.names[i] for i in range(12))


def test_coco_counterpart_by_name():
    city = cn.CITYSCAPES_NAMES
    assert [cn.coco_counterpart(city[i]) for i in range(24, 34)] == [
        "person", "person", "car", "truck", "bus", None, None, "train", "motorcycle", "bicycle"]
    assert cn.coco_counterpart("road") is None and cn.coco_counterpart(None) is None
    assert cn.coco_counterpart("Traffic_Light") == "traffic light"
    assert cn.coco_counterpart("sofa, couch, lounge") == "couch"
    assert cn.coco_counterpart("television receiver") == "tv" and cn.coco_counterpart("minibike") == "motorcycle"
    assert cn.coco_counterpart("pedestrian") == "person" and cn.coco_counterpart("bicyclist") is None
    assert all(v in COCO_CLASSES for v in cn.COCO_SYNONYMS.values())


def test_user_class_names_file(tmp_path):
    p = tmp_path / "names.json"
    p.write_text(json.dumps({"5": "car", "6": "person"}))
    names = cn.load_class_names(str(p))
    assert names.names == {5: "car", 6: "person"} and names.describe() == str(p) and names.label(7) == "7"
    assert cn.load_class_names({1: "a"}).describe() == {"1": "a"}
    assert cn.load_class_names(EXAMPLES / "class_names.json").name(5) == "car"
    for bad, msg in (({"x": "car"}, "not a class id"), ({"1": ""}, "non-empty string"), ({}, "is empty"),
                     ([1, 2], "expected a JSON object")):
        p.write_text(json.dumps(bad))
        with pytest.raises(InputError, match=msg):
            cn.load_class_names(str(p))
    with pytest.raises(InputError, match="neither a built-in set .*coco, cityscapes, ade20k, camvid"):
        cn.load_class_names("kitti")


def test_example_class_names_match_make_example():
    import sys

    sys.path.insert(0, str(EXAMPLES))
    try:
        import make_example
    finally:
        sys.path.remove(str(EXAMPLES))
    data = json.loads((EXAMPLES / "class_names.json").read_text())
    assert {int(k): v for k, v in data.items()} == make_example.CLASS_NAMES


# ------------------------------------------------------------------------------------ breakdown
def test_breakdown_means_counts_and_order():
    rows = [{"label": 26, "tiou": 0.5, "hamm": 1.0, "nn": 2}, {"label": 24, "tiou": 1.0, "hamm": 0.5, "nn": 0},
            {"label": 26, "tiou": 0.25, "hamm": 0.0, "nn": 1}, {"label": 26, "tiou": None, "hamm": 0.5, "nn": 0}]
    pc = per_class_breakdown(rows, ["tiou", "hamm", "nn"], cn.load_class_names("cityscapes"))
    assert pc["class_names"] == "cityscapes" and pc["reliability"] is None
    assert [c["label"] for c in pc["classes"]] == [24, 26]
    car = pc["classes"][1]
    assert car["name"] == "car" and car["samples"] == 3 and car["sem_reliability"] is None
    assert car["metrics"]["tiou"] == {"mean": 0.375, "count": 2}
    assert car["metrics"]["hamm"]["mean"] == pytest.approx(0.5) and car["metrics"]["nn"] == {"mean": 1.0, "count": 3}
    no_names = per_class_breakdown(rows, ["tiou"])
    assert no_names["classes"][0]["name"] is None and no_names["class_names"] is None


def test_result_always_has_per_class(tiny_data):
    samples = [(k, p, g) for k, (g, p) in tiny_data.maps().items()]
    res = evaluate_samples(samples, tiny_data.BOXES)
    # expected from the fixture's hand-computed rows, grouped by the boxes' labels
    labels = {(f, i): b["label"] for f, bs in tiny_data.BOXES.items() for i, b in enumerate(bs)}
    expected = {}
    for f, i, t, h, n in tiny_data.ROWS:
        expected.setdefault(labels[f, i], []).append((t, h, n))
    pc = res["per_class"]
    assert [c["label"] for c in pc["classes"]] == sorted(expected)
    for c in pc["classes"]:
        rows = expected[c["label"]]
        assert c["samples"] == len(rows) and c["name"] is None
        for k, m in enumerate(("tiou", "hamm", "nn")):
            assert c["metrics"][m]["count"] == len(rows)
            assert c["metrics"][m]["mean"] == pytest.approx(sum(r[k] for r in rows) / len(rows), abs=1e-12)
    assert res["metadata"]["options"]["class_names"] is None
    names = {lab: f"class{lab}" for lab in expected}
    named = evaluate_samples(samples, tiny_data.BOXES, class_names=names)
    assert [c["name"] for c in named["per_class"]["classes"]] == [names[lab] for lab in sorted(expected)]
    assert named["metadata"]["options"]["class_names"] == {str(k): v for k, v in sorted(names.items())}


# ------------------------------------------------------------------------------------ reliability
def _reliability_fixture(weights_path, reliable):
    """A small reliability file (schema of the validity study) for the weights at ``weights_path``."""
    classes = [{"index": i, "name": n, "n_heldout": 40, "top1": 0.9 if reliable.get(n) else 0.3,
                "sem_auc": 0.9 if reliable.get(n) else 0.6, "sem_auc_ci": [0.8, 0.95] if reliable.get(n) else [0.5, 0.7],
                "reliable": bool(reliable.get(n))} for i, n in enumerate(COCO_CLASSES)]
    data = {"weights": {"name": weights_path.stem, "sha256": sha256_file(weights_path)},
            "rule": "test rule: AUC lower bound >= 0.7", "classes": classes}
    path = weights_path.parent / f"{weights_path.stem}_reliability.json"
    path.write_text(json.dumps(data))
    return path


def _maps():
    """One 12 x 12 pair with three target objects: labels 3 (car), 2 (rider), 5 (road)."""
    gt = np.zeros((12, 12), dtype=np.uint8)
    gt[1:5, 1:5] = 3
    gt[1:5, 7:10] = 2
    gt[7:11, 2:9] = 5
    pred = gt.copy()
    pred[1:3, 1:5] = 0
    pred[8, 2:9] = 0
    boxes = {"m.png": [{"bbox": [0, 0, 6, 6], "label": 3}, {"bbox": [6, 0, 11, 6], "label": 2},
                       {"bbox": [1, 6, 10, 12], "label": 5}]}
    return [("m.png", pred, gt)], boxes


def test_sem_flags_from_a_reliability_file(tmp_path, random_weights_path, one_torch_thread):
    weights = tmp_path / "w" / "myweights.safetensors"
    weights.parent.mkdir()
    shutil.copy(random_weights_path, weights)
    rel_path = _reliability_fixture(weights, {"person": True, "car": False})
    samples, boxes = _maps()
    res = evaluate_samples(samples, boxes, "tiou,sem", sem_options=SemOptions(weights=str(weights), device="cpu"),
                           class_names={3: "car", 2: "rider", 5: "road"})
    pc = res["per_class"]
    assert pc["reliability"]["file"] == str(rel_path) and pc["reliability"]["rule"].startswith("test rule")
    flags = {c["label"]: c["sem_reliability"] for c in pc["classes"]}
    assert flags[2]["status"] == "reliable" and flags[2]["coco_class"] == "person"
    assert flags[3]["status"] == "weak" and flags[3]["coco_class"] == "car" and "weak" in flags[3]["note"]
    assert flags[5]["status"] == "unknown" and flags[5]["coco_class"] is None and "no COCO counterpart" in flags[5]["note"]
    table = format_per_class(res)
    lines = {line.split()[0]: line for line in table.splitlines()[2:] if line[:1].isdigit()}
    assert lines["3"].endswith("Sem: weak") and lines["5"].endswith("Sem: unknown") and "Sem:" not in lines["2"]
    assert rel_path.name in table

    # without names every class is "unknown"; without sem nothing is assessed
    res = evaluate_samples(samples, boxes, "sem", sem_options=SemOptions(weights=str(weights), device="cpu"))
    assert {c["sem_reliability"]["status"] for c in res["per_class"]["classes"]} == {"unknown"}
    res = evaluate_samples(samples, boxes, "tiou", class_names={3: "car"})
    assert res["per_class"]["reliability"] is None

    # a reliability file for other weights (sha256 differs) is not used
    data = json.loads(rel_path.read_text())
    data["weights"]["sha256"] = "0" * 64
    rel_path.write_text(json.dumps(data))
    assert find_reliability({"name": "myweights", "sha256": sha256_file(weights), "source": str(weights)}) is None


def test_malformed_reliability_file_is_an_input_error(tmp_path):
    p = tmp_path / "x_reliability.json"
    p.write_text(json.dumps({"weights": {"name": "x"}, "classes": []}))
    with pytest.raises(InputError, match="reliability file .*fix or remove"):
        read_reliability(p)
    p.write_text(json.dumps({"weights": {"sha256": "a" * 64}, "classes": [{"name": "car"}]}))
    with pytest.raises(InputError, match=r"classes\[0\]"):
        read_reliability(p)


def test_readme_per_class_example_is_what_the_cli_prints(monkeypatch, one_torch_thread):
    """The README's --per-class console example, run as written from the repository root."""
    import re
    import shlex

    from click.testing import CliRunner

    from sem_metric.cli import main as cli_main

    root = EXAMPLES.parent
    text = (root / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ (sem-score .*?--per-class)\n(.*?)```", text, re.S)
    command, shown = block.group(1).replace("\\\n", " "), block.group(2)
    monkeypatch.chdir(root)
    r = CliRunner().invoke(cli_main, shlex.split(command)[1:] + ["--threads", "1"])
    assert r.exit_code == 0, r.output
    expected = [line for line in shown.splitlines() if line and line != "..."]
    assert expected and all(line in r.output.splitlines() for line in expected), r.output


@pytest.mark.parametrize("name", ["sem-effb0-v1", "sem-effb0-v2", "sem-lite0-v3", "sem-lite0-v4"])
def test_shipped_weights_reliability_file_is_found_when_shipped(name):
    from sem_metric.sem.weights import SHIPPED_WEIGHTS, shipped_weights_path

    entry = SHIPPED_WEIGHTS[name]
    shipped = sorted(shipped_weights_path(entry.filename).parent.glob("eval/*_reliability.json"))
    if not shipped:
        pytest.skip("no reliability file ships with the weights")
    rel = find_reliability({"name": entry.name, "sha256": entry.sha256, "source": "shipped"})
    assert rel is not None and rel["weights_sha256"] == entry.sha256
    assert set(rel["classes"]) <= set(COCO_CLASSES) and len(rel["classes"]) == 80


# ------------------------------------------------------------------------------------ F on this run's ground truth
def test_gt_recognition_hand_computed():
    from sem_metric.pipeline.per_class import gt_recognition
    from sem_metric.pipeline.tables import recognition_cell

    car, person = COCO_CLASSES.index("car"), COCO_CLASSES.index("person")
    rec = gt_recognition("car", [car, person, None, car, car])
    assert rec == {"coco_class": "car", "classified": 4, "agree": 3, "rate": 0.75}
    assert recognition_cell(rec) == "0.75 (3/4)"
    assert gt_recognition("road", [car]) == {"coco_class": None, "classified": 1, "agree": None, "rate": None}
    assert gt_recognition("car", [None])["rate"] is None and recognition_cell(gt_recognition("car", [None])) == "-"
    rows = [{"label": 26, "sem": 0.1}, {"label": 24, "sem": 0.2}, {"label": 26, "sem": 0.3}]
    pc = per_class_breakdown(rows, ["sem"], cn.load_class_names("cityscapes"), reliability=None,
                             gt_top1=[car, person, person])
    by = {c["label"]: c["gt_recognition"] for c in pc["classes"]}
    assert by[26] == {"coco_class": "car", "classified": 2, "agree": 1, "rate": 0.5}
    assert by[24] == {"coco_class": "person", "classified": 1, "agree": 1, "rate": 1.0}   # cityscapes 24: person


def test_gt_recognition_comes_from_the_runs_own_classifier_pass(tiny_classifier, monkeypatch):
    """Each class's F@GT equals the top-1 of F on its ground-truth objects, computed here independently;
    the run classifies each object once (no second pass for the per-class table)."""
    from sem_metric.labelmap.box import Box
    from sem_metric.labelmap.target_object import object_crop
    from sem_metric.sem.metric import probabilities_from_inputs
    from sem_metric.sem.preprocess import windows_from_crops

    samples, boxes = _maps()
    names = {3: "car", 2: "person", 5: "road"}
    res = evaluate_samples(samples, boxes, "tiou,sem", sem_options=SemOptions(classifier=tiny_classifier),
                           class_names=names)
    _, pred, gt = samples[0]
    for c in res["per_class"]["classes"]:
        entries = [b for b in boxes["m.png"] if b["label"] == c["label"]]
        crops = [object_crop(gt, Box(*b["bbox"]), b["label"]) for b in entries
                 if not np.array_equal(object_crop(gt, Box(*b["bbox"]), b["label"]),
                                       object_crop(pred, Box(*b["bbox"]), b["label"]))]
        rec = c["gt_recognition"]
        assert rec["classified"] == len(crops)
        if not crops:              # identical in prediction and ground truth: Sem = 0 without F
            assert rec["rate"] is None and names[c["label"]] == "person"
            continue
        top1 = probabilities_from_inputs(windows_from_crops(crops), tiny_classifier).argmax(axis=1)
        if names[c["label"]] == "road":
            assert rec["rate"] is None and rec["coco_class"] is None
        else:
            assert rec["agree"] == sum(COCO_CLASSES[t] == names[c["label"]] for t in top1)
    table = format_per_class(res)
    assert "F@GT" in table.splitlines()[1] and "F@GT = share" in table
    # without Sem there is no classifier pass and no column
    res = evaluate_samples(samples, boxes, "tiou", class_names=names)
    assert all(c["gt_recognition"] is None for c in res["per_class"]["classes"])
    assert "F@GT" not in format_per_class(res)
