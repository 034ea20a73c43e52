"""The evaluation pipeline (sem_metric.evaluate) on tiny hand-computed fixtures and the shipped example."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sem_metric.pipeline import evaluate as ev
from sem_metric.pipeline.io import read_color_map
from sem_metric.labelmap import metrics as M
from sem_metric.errors import InputError
from sem_metric.pipeline.checks import RESULT_SCHEMA

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# ------------------------------------------------------------------------------ tiny fixture
@pytest.fixture
def tiny(tiny_paths):
    """(pred_dir, gt_dir, boxes.json) of the hand-computed tree of tests/conftest.py (Tiny)."""
    return tiny_paths


# ------------------------------------------------------------------------------ label-map metrics
def test_evaluate_dirs_hand_computed(tiny, tiny_data):
    pred, gt, boxes = tiny
    calls = []
    r = ev.evaluate_dirs(pred, gt, boxes, progress=lambda d, t: calls.append((d, t)))
    rows, means = tiny_data.ROWS, tiny_data.MEANS
    assert r["schema"] == RESULT_SCHEMA and r["metrics"] == ["tiou", "hamm", "nn"]
    assert [(s["file"], s["box_index"], s["tiou"], s["hamm"], s["nn"]) for s in r["samples"]] == \
        [pytest.approx(x, abs=1e-15) for x in rows]
    assert r["samples"][0]["bbox"] == [1, 1, 6, 5] and r["samples"][0]["label"] == 3
    assert isinstance(r["samples"][0]["nn"], int)
    for m, v in means.items():
        assert r["means"][m] == pytest.approx(v, abs=1e-15)
    assert r["nn_total"] == 2
    assert r["counts"] == {"pred_files": 3, "gt_files": 3, "pairs": 3, "pairs_with_boxes": 2,
                           "pairs_without_boxes": 1, "samples": 3, "skipped": 0}
    assert r["pairs_without_boxes"] == ["sub/c.png"] and r["skipped"] == []
    meta = r["metadata"]
    assert meta["labelmap_metrics_version"] and meta["package_version"] and meta["sem"] is None
    assert len(meta["inputs"]["boxes_sha256"]) == 64
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)
    json.dumps(r, allow_nan=False)  # JSON-ready, no numpy types


def test_metric_subset_and_determinism(tiny):
    r1 = ev.evaluate_dirs(*tiny, metrics="nn")
    r2 = ev.evaluate_dirs(*tiny, metrics=["nn"])
    assert r1 == r2
    assert list(r1["means"]) == ["nn"] and r1["nn_total"] == 2
    assert set(r1["samples"][0]) == {"file", "box_index", "bbox", "label", "nn"}
    r3 = ev.evaluate_dirs(*tiny, metrics="tiou")
    assert r3["nn_total"] is None


def test_evaluate_samples_matches_dirs(tiny, tiny_data):
    maps = tiny_data.maps()
    r_mem = ev.evaluate_samples({k: (p, g) for k, (g, p) in maps.items()}, tiny_data.BOXES)
    r_dir = ev.evaluate_dirs(*tiny)
    assert r_mem["samples"] == r_dir["samples"] and r_mem["means"] == r_dir["means"]
    assert r_mem["counts"]["pairs_without_boxes"] == 1
    # sequence form, (box, label) tuples and torch tensors
    torch = pytest.importorskip("torch")
    r_seq = ev.evaluate_samples([("a.png", torch.as_tensor(maps["a.png"][1]), maps["a.png"][0])],
                                {"a.png": [((1, 1, 6, 5), 3)]})
    assert r_seq["samples"][0]["tiou"] == pytest.approx(4 / 6)


def test_evaluate_samples_errors():
    a = np.zeros((4, 4), dtype=np.int64)
    with pytest.raises(InputError, match="not among the samples"):
        ev.evaluate_samples({"x": (a, a)}, {"y": [((0, 0, 1, 1), 0)]})
    with pytest.raises(InputError, match="unique"):
        ev.evaluate_samples([("x", a, a), ("x", a, a)], {})
    with pytest.raises(InputError, match="unknown metric"):
        ev.evaluate_samples({"x": (a, a)}, {}, metrics="tiou,iou")
    with pytest.raises(InputError, match="integer dtype"):
        ev.evaluate_samples({"x": (a.astype(float), a)}, {"x": [((0, 0, 1, 1), 0)]})
    with pytest.raises(InputError, match=r"file 'x', box 0: unknown key\(s\) 'lable'"):
        ev.evaluate_samples({"x": (a, a)}, {"x": [{"bbox": [0, 0, 1, 1], "lable": 0}]})


def test_matches_single_sample_metrics_on_example():
    """Cropping to the union of boxes inside the pipeline gives exactly the full-map metric values."""
    from sem_metric.pipeline.io import read_label_map

    r = ev.evaluate_dirs(str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), str(EXAMPLES / "boxes.json"))
    assert r["counts"]["samples"] == 5 and r["counts"]["pairs_without_boxes"] == 1
    for s in r["samples"]:
        p = read_label_map(EXAMPLES / "pred" / s["file"])
        g = read_label_map(EXAMPLES / "gt" / s["file"])
        assert s["tiou"] == M.tiou(p, g, s["bbox"], s["label"])
        assert s["hamm"] == M.hamm(p, g, s["bbox"])
        assert s["nn"] == M.noise_count(p, g, s["bbox"])
    assert len({s["tiou"] for s in r["samples"]}) >= 4  # samples of different quality


# ------------------------------------------------------------------------------ input errors
def test_size_mismatch_names_file(tmp_path, tiny_data):
    maps = tiny_data.maps()
    g, p = maps["b.npy"]
    maps["b.npy"] = (g, p[:, :7])
    pred, gt, boxes = tiny_data.write(tmp_path, maps, tiny_data.BOXES)
    with pytest.raises(InputError, match=r"'b\.npy'.*6x7.*6x8"):
        ev.evaluate_dirs(pred, gt, boxes)


def test_box_out_of_bounds_names_file_and_index(tmp_path, tiny_data):
    boxes = {"a.png": [{"bbox": [1, 1, 6, 5], "label": 3}, {"bbox": [4, 2, 9, 5], "label": 3}]}
    pred, gt, bpath = tiny_data.write(tmp_path, tiny_data.maps(), boxes)
    with pytest.raises(InputError, match=r"a\.png.*box 1.*outside"):
        ev.evaluate_dirs(pred, gt, bpath)


def test_boxes_for_unknown_file(tmp_path, tiny_data):
    boxes = dict(tiny_data.BOXES, **{"nope.png": [{"bbox": [0, 0, 1, 1], "label": 1}]})
    pred, gt, bpath = tiny_data.write(tmp_path, tiny_data.maps(), boxes)
    with pytest.raises(InputError, match=r"nope\.png.*--allow-unmatched"):
        ev.evaluate_dirs(pred, gt, bpath)
    r = ev.evaluate_dirs(pred, gt, bpath, allow_unmatched=True)
    assert r["skipped"] == [{"file": "nope.png", "reason": "boxes.json entry without a prediction/ground-truth pair"}]
    assert r["counts"]["samples"] == 3 and r["counts"]["skipped"] == 1


def test_unmatched_files(tiny):
    pred, gt, boxes = tiny
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(os.path.join(pred, "extra.png"))
    with pytest.raises(InputError, match=r"extra\.png"):
        ev.evaluate_dirs(pred, gt, boxes)
    r = ev.evaluate_dirs(pred, gt, boxes, allow_unmatched=True)
    assert r["skipped"] == [{"file": "extra.png", "reason": "missing in gt"}]
    assert r["counts"]["pred_files"] == 4 and r["counts"]["gt_files"] == 3 and r["counts"]["pairs"] == 3


def test_bad_boxes_json(tiny):
    pred, gt, boxes = tiny
    Path(boxes).write_text('{"a.png": [{"bbox": [1, 1, 6], "label": 3}]}')
    with pytest.raises(InputError, match="4 coordinates"):
        ev.evaluate_dirs(pred, gt, boxes)
    Path(boxes).write_text("{not json")
    with pytest.raises(InputError, match="invalid JSON"):
        ev.evaluate_dirs(pred, gt, boxes)


def test_rgb_maps_need_color_map(tmp_path, tiny_data):
    palette = {1: (10, 20, 30), 3: (200, 0, 0), 7: (0, 0, 255), 2: (0, 255, 0), 0: (0, 0, 0), 4: (9, 9, 9)}
    maps = tiny_data.maps()
    pred, gt, boxes = tiny_data.write(tmp_path / "ids", maps, tiny_data.BOXES)
    expected = ev.evaluate_dirs(pred, gt, boxes)
    for side in ("gt", "pred"):
        for rel, pair in maps.items():
            arr = pair[0] if side == "gt" else pair[1]
            rgb = np.zeros(arr.shape + (3,), np.uint8)
            for cid, col in palette.items():
                rgb[arr == cid] = col
            out = tmp_path / "rgb" / side / rel.replace(".npy", ".png")
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(out)
    bx = {k.replace(".npy", ".png"): v for k, v in tiny_data.BOXES.items()}
    (tmp_path / "rgb" / "boxes.json").write_text(json.dumps(bx))
    args = (str(tmp_path / "rgb" / "pred"), str(tmp_path / "rgb" / "gt"), str(tmp_path / "rgb" / "boxes.json"))
    with pytest.raises(InputError, match="RGB"):
        ev.evaluate_dirs(*args)
    cmap = {"#%02x%02x%02x" % c: i for i, c in palette.items()}
    cpath = tmp_path / "cmap.json"
    cpath.write_text(json.dumps(cmap))
    r = ev.evaluate_dirs(*args, color_map=str(cpath))
    assert r["means"] == expected["means"]
    assert r["metadata"]["options"]["color_map"]["#c80000"] == 3
    r2 = ev.evaluate_dirs(*args, color_map={c: i for i, c in palette.items()})
    assert r2["means"] == expected["means"]


def test_read_color_map_forms_and_errors(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"#FF0000": 1, "0, 255, 0": 2}))
    assert read_color_map(str(p)) == {(255, 0, 0): 1, (0, 255, 0): 2}
    p.write_text(json.dumps([{"color": [1, 2, 3], "id": 4}]))
    assert read_color_map(str(p)) == {(1, 2, 3): 4}
    for bad, match in (({"#GG0000": 1}, "bad colour"), ({"1,2,300": 1}, "bad colour"), ({"#000000": -1}, "class id"),
                       ([{"color": [1, 2, 3]}], "entry 0"), ("x", "expected a JSON object"), ({}, "empty")):
        p.write_text(json.dumps(bad))
        with pytest.raises(InputError, match=match):
            read_color_map(str(p))
    p.write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        read_color_map(str(p))
    with pytest.raises(InputError, match="does not exist"):
        read_color_map(str(tmp_path / "none.json"))


# ------------------------------------------------------------------------------ Sem

@pytest.fixture
def classifier(random_classifier, one_torch_thread):
    """The random but valid classifier of tests/conftest.py (Sem's plumbing holds for any weights)."""
    return random_classifier


def test_sem_values_metadata_and_cache(tiny, classifier, tmp_path, tiny_data):
    from sem_metric.sem.preprocess import PREPROCESSING_VERSION
    from sem_metric.sem.metric import compute_sem_batch

    pred, gt, boxes = tiny
    cache = tmp_path / "gt_probs.npz"
    warnings = []
    opts = ev.SemOptions(classifier=classifier, batch_size=2, gt_cache=str(cache), warn=warnings.append)
    r = ev.evaluate_dirs(pred, gt, boxes, metrics="tiou,sem", sem_options=opts)
    sems = [s["sem"] for s in r["samples"]]
    assert all(0.0 <= v <= 1.0 for v in sems)
    assert sems[2] == 0.0 and sems[1] > 0.0  # b.npy: identical object maps; a.png box 1: one object pixel lost
    maps = tiny_data.maps()
    ref = compute_sem_batch([maps[f][1] for f in ("a.png", "a.png", "b.npy")],
                            [maps[f][0] for f in ("a.png", "a.png", "b.npy")],
                            [s["bbox"] for s in r["samples"]], [s["label"] for s in r["samples"]],
                            classifier=classifier)
    np.testing.assert_allclose(sems, ref, atol=1e-6)
    assert r["means"]["sem"] == pytest.approx(np.mean(sems))
    sem_meta = r["metadata"]["sem"]
    assert sem_meta["classifier"]["sha256"] == classifier.info["sha256"]
    assert sem_meta["preprocessing_version"] == PREPROCESSING_VERSION
    stats = r["runtime"]["sem"]["gt_cache"]
    assert stats["status"] == "new" and stats["misses"] == 2 and stats["hits"] == 0 and cache.is_file()

    r2 = ev.evaluate_dirs(pred, gt, boxes, metrics="tiou,sem", sem_options=opts)
    stats = r2["runtime"]["sem"]["gt_cache"]
    assert stats["status"] == "loaded" and stats["hits"] == 2 and stats["misses"] == 0
    np.testing.assert_allclose([s["sem"] for s in r2["samples"]], sems, atol=1e-6)
    assert r2["metadata"] == r["metadata"]  # deterministic metadata
    assert warnings == []

    # a cache made by other weights is ignored (with a warning), never mixed
    with np.load(cache, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    arrays["weights_sha256"] = np.array("0" * 64)
    np.savez(cache, **arrays)
    r3 = ev.evaluate_dirs(pred, gt, boxes, metrics="sem", sem_options=opts)
    assert r3["runtime"]["sem"]["gt_cache"]["status"] == "rebuilt" and len(warnings) == 1
    with np.load(cache, allow_pickle=False) as d:
        assert str(d["weights_sha256"][()]) == classifier.info["sha256"]


def test_sem_options_validation(classifier):
    a = np.zeros((4, 4), dtype=np.int64)
    with pytest.raises(InputError, match="unknown option"):
        ev.evaluate_samples({"x": (a, a)}, {}, metrics="sem", sem_options={"colour": 1})
    with pytest.raises(InputError, match="batch size"):
        ev.evaluate_samples({"x": (a, a)}, {}, metrics="sem", sem_options={"classifier": classifier, "batch_size": 0})


def test_gt_cache_needs_weights_sha(tmp_path):
    from sem_metric.sem.classifier import ClassifierConfig, ShapeClassifier

    unsaved = ShapeClassifier(ClassifierConfig())  # random init: info["sha256"] is None
    a = np.zeros((4, 4), dtype=np.int64)
    with pytest.raises(InputError, match="known sha256"):
        ev.evaluate_samples({"x": (a, a)}, {"x": [((0, 0, 1, 1), 0)]}, metrics="sem",
                            sem_options={"classifier": unsaved, "gt_cache": str(tmp_path / "c.npz")})


# ------------------------------------------------------------------------------ issue 9: absent target
def _trainid_boxes(tiny_data):
    """The tiny boxes with a.png's first label written in another id space (3 -> 13): absent from the gt box."""
    boxes = json.loads(json.dumps(tiny_data.BOXES))
    boxes["a.png"][0]["label"] = 13
    return boxes


def test_absent_target_is_refused_in_both_entry_points(tmp_path, tiny_data):
    boxes = _trainid_boxes(tiny_data)
    pred, gt, bpath = tiny_data.write(tmp_path, boxes=boxes)
    with pytest.raises(InputError) as e:
        ev.evaluate_dirs(pred, gt, bpath)
    msg = str(e.value)
    assert "1 of 3 box(es)" in msg and "'a.png' box 0 (label 13)" in msg
    assert "labelIds" in msg and "trainIds" in msg and "allow_absent_target" in msg
    samples = {k: (p, g) for k, (g, p) in tiny_data.maps().items()}
    with pytest.raises(InputError, match=r"'a\.png' box 0 \(label 13\)"):
        ev.evaluate_samples(samples, boxes)


def test_absent_target_allowed_warns_and_is_recorded(tmp_path, tiny_data):
    pred, gt, bpath = tiny_data.write(tmp_path, boxes=_trainid_boxes(tiny_data))
    warnings = []
    r = ev.evaluate_dirs(pred, gt, bpath, allow_absent_target=True, warn=warnings.append)
    assert r["samples"][0]["tiou"] == 1.0  # what the issue saw: a "perfect" score for a missing object
    assert r["metadata"]["absent_target"] == {"count": 1, "first": [{"file": "a.png", "box_index": 0, "label": 13}]}
    assert r["metadata"]["options"]["allow_absent_target"] is True
    assert len(warnings) == 1 and "1 of 3 box(es)" in warnings[0] and "allow-absent-target" in warnings[0]
    with pytest.warns(UserWarning, match="no pixel of their target label"):
        ev.evaluate_samples({k: (p, g) for k, (g, p) in tiny_data.maps().items()}, _trainid_boxes(tiny_data),
                            allow_absent_target=True)
    ok = ev.evaluate_dirs(*tiny_data.write(tmp_path / "ok"))
    assert ok["metadata"]["absent_target"] == {"count": 0, "first": []}


def test_absent_target_refused_before_sem_is_computed(tmp_path, tiny_data, classifier, monkeypatch):
    import sem_metric.sem.metric as sm

    def no_sem(*a, **k):
        raise AssertionError("Sem was computed for a run that is refused")

    monkeypatch.setattr(sm, "shape_probabilities_batch", no_sem)
    pred, gt, bpath = tiny_data.write(tmp_path, boxes=_trainid_boxes(tiny_data))
    cache = tmp_path / "gt.npz"
    with pytest.raises(InputError, match="no pixel of their target label"):
        ev.evaluate_dirs(pred, gt, bpath, metrics="tiou,sem",
                         sem_options=ev.SemOptions(classifier=classifier, gt_cache=str(cache)))
    assert not cache.exists()
