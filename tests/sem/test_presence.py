"""Sem definition sem-2: the presence rule (issue 24). An absent predicted object scores Sem 1, a vanishing
one tends to 1 without a cliff, and every prediction with enough of the object keeps Eq. 10 exactly."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sem_metric import compute_sem_batch, registry, sem_from_probabilities
from sem_metric.engine.builtin import absence_penalty
from sem_metric.sem.presence import PRESENCE_AREA_RATIO, object_areas, presence_factor
from sem_metric.version import SEM_DEFINITION_VERSION

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def test_presence_factor_hand_values():
    r0 = PRESENCE_AREA_RATIO
    got = presence_factor([0, 1, 50, 100, 300, 5, 0], [100, 100, 100, 100, 100, 0, 0])
    want = [0.0, 0.01 / r0, min(1.0, 0.5 / r0), 1.0, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    # continuous and non-decreasing in the predicted area: no cliff between "empty" and "one pixel"
    areas = np.arange(0, 200)
    pi = presence_factor(areas, np.full(200, 100))
    assert np.all(np.diff(pi) >= 0) and np.max(np.diff(pi)) <= 1 / (100 * r0) + 1e-15
    assert object_areas([np.zeros((3, 4), bool), np.eye(3, dtype=bool)]).tolist() == [0, 3]


def test_sem_from_probabilities_with_areas():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4], [0.5, 0.5, 0.0]])
    q = np.array([[0.6, 0.3, 0.1], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4], [0.5, 0.5, 0.0]])
    eq10 = sem_from_probabilities(p, q)
    np.testing.assert_allclose(eq10, [0.1, 0.7, 0.0, 0.0], atol=1e-15)
    pred_area, gt_area = [80, 200, 0, 1], [100, 100, 100, 1000]
    got = sem_from_probabilities(p, q, pred_area, gt_area)
    # pi = 1 (enough of the object): Eq. 10 bit for bit
    assert got[0] == eq10[0] and got[1] == eq10[1]
    # empty prediction: 1, whatever F says (here F even agrees perfectly)
    assert got[2] == 1.0
    # a speck of 1 px against 1000: 1 - pi * (1 - 0)
    pi = 0.001 / PRESENCE_AREA_RATIO
    assert got[3] == pytest.approx(1.0 - pi, abs=1e-15)
    # an empty object needs no classifier output
    nan = np.full(3, np.nan)
    assert sem_from_probabilities(np.array([nan]), q[:1], [0], [10])[0] == 1.0
    with pytest.raises(Exception, match="both"):
        sem_from_probabilities(p, q, pred_area, None)


def _object_map(size=64, box=(8, 8, 56, 56), label=3):
    gt = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    gt[((yy - 32) / 20.0) ** 2 + ((xx - 32) / 12.0) ** 2 <= 1] = label
    return gt, box, label


def test_erased_and_vanishing_predictions(random_classifier):
    gt, box, label = _object_map()
    erased = gt.copy()
    erased[gt == label] = 0
    speck = erased.copy()
    speck[32, 32] = label
    half = erased.copy()
    half[(gt == label) & (np.arange(64)[:, None] < 32)] = label
    sem = compute_sem_batch([erased, speck, half, gt], [gt] * 4, [box] * 4, [label] * 4, classifier=random_classifier)
    n = int((gt == label).sum())
    assert sem[0] == 1.0                                   # no object: maximal divergence
    assert sem[1] >= 1.0 - (1 / n) / PRESENCE_AREA_RATIO   # one pixel: just below 1, no cliff
    assert sem[3] == 0.0                                   # identical: 0
    # half the object (pi = 1): the plain Eq. 10 value
    from sem_metric import shape_probabilities_batch

    probs = shape_probabilities_batch([half, gt], [box, box], [label, label], classifier=random_classifier)
    bound = registry.get("sem").reproducibility.bound(sem[2])    # another batch composition: float32 noise
    assert abs(sem[2] - sem_from_probabilities(probs[:1], probs[1:])[0]) <= bound


def test_definition_version_is_a_version_key_of_sem_and_sfd():
    key = registry.VERSION_KEYS["sem_definition_version"]
    assert key.path == ("sem", "definition_version")
    assert SEM_DEFINITION_VERSION == "sem-2"
    for m in ("sem", "sfd"):
        assert "sem_definition_version" in registry.get(m).version_keys


def test_sfd_absence_penalty_hand_computed():
    sigma = np.diag([1.0, 2.0, 3.0])
    assert absence_penalty(0.0, sigma) == 0.0
    assert absence_penalty(1.0, sigma) == 12.0           # 2 tr(Sigma_gt)
    assert absence_penalty(0.25, sigma) == 3.0


def test_sfd_of_erased_objects_counts_them(random_classifier):
    from sem_metric.pipeline.evaluate import SemOptions, evaluate_samples

    rng = np.random.default_rng(0)
    samples, boxes = {}, {}
    for i in range(6):
        gt = np.zeros((40, 40), np.uint8)
        h, w = rng.integers(10, 30, size=2)
        gt[5:5 + h, 5:5 + w] = 2
        erased = gt.copy()
        erased[gt == 2] = 0
        samples[f"{i}"] = (erased, gt)
        boxes[f"{i}"] = [{"bbox": [2, 2, 38, 38], "label": 2}]
    res = evaluate_samples(samples, boxes, metrics="sem,sfd", sem_options=SemOptions(classifier=random_classifier))
    meta = res["metadata"]["dataset_metrics"]["sfd"]
    assert meta["n_missing"] == 6 and meta["absence"] == 1.0 and meta["absence_penalty"] > 0
    assert meta["definition_version"] == SEM_DEFINITION_VERSION
    assert [s["sem"] for s in res["samples"]] == [1.0] * 6
    assert res["metadata"]["sem"]["definition_version"] == SEM_DEFINITION_VERSION


def test_sem_score_on_erased_objects(tmp_path):
    """The issue's example: erased objects give Sem 1.0 per sample, exit 0, the definition in --json."""
    from click.testing import CliRunner

    from sem_metric.cli import main
    from sem_metric import read_boxes, read_label_map
    from PIL import Image

    boxes = read_boxes(EXAMPLES / "boxes.json")
    pred_dir = tmp_path / "pred"
    shutil.copytree(EXAMPLES / "gt", pred_dir)              # every ground-truth file has its prediction
    for rel, entries in boxes.items():
        seg = np.asarray(read_label_map(EXAMPLES / "gt" / rel)).copy()
        for e in entries:                                    # the object erased: its pixels become class 0
            x0, y0, x1, y1 = e.box.as_tuple()
            region = seg[y0:y1, x0:x1]
            region[region == e.label] = 0
        if rel.endswith(".npy"):
            np.save(pred_dir / rel, seg)
        else:
            Image.fromarray(seg.astype(np.uint8)).save(pred_dir / rel)
    out_json = tmp_path / "r.json"
    res = CliRunner().invoke(main, [str(pred_dir), str(EXAMPLES / "gt"), "--boxes", str(EXAMPLES / "boxes.json"),
                                    "--metrics", "tiou,sem", "--json", str(out_json), "--threads", "1"])
    assert res.exit_code == 0, res.output
    r = json.loads(out_json.read_text())
    assert [s["sem"] for s in r["samples"]] == [1.0] * len(r["samples"])
    assert r["means"]["sem"] == 1.0
    assert r["metadata"]["sem"]["definition_version"] == "sem-2"


def test_presence_ratio_is_the_committed_measurement():
    """The constant is the measurement's largest other-class crossing, rounded up to a multiple of 0.05."""
    import math

    res = json.loads((ROOT / "benchmarks" / "validity" / "results" / "vanishing.json").read_text())
    crossings = [r["other_class_crossing"] for r in res["runs"]]
    assert res["other_class_crossing_max"] == max(crossings)
    assert PRESENCE_AREA_RATIO == pytest.approx(math.ceil(max(crossings) / 0.05 - 1e-9) * 0.05)
    assert {r["weights"] for r in res["runs"]} >= {"sem-effb0-v1", "sem-effb0-v2", "sem-lite0-v3"}
