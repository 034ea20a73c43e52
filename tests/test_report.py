"""Pure functions of sem_metric.report: parsing, thresholds, baseline comparison, JSON/CSV/table."""
import copy
import csv
import io
import json

import pytest

from sem_metric import report
from sem_metric.errors import InputError


def make_result(means=None, samples=None, sha="a" * 64, prep="box-window-v1", lm="labelmap-v1"):
    means = {"tiou": 0.8, "hamm": 0.9, "nn": 2.0, "sem": 0.3} if means is None else means
    metrics = [m for m in report.ALL_METRICS if m in means]
    if samples is None:
        samples = [{"file": "a.png", "box_index": 0, "bbox": [1, 2, 3, 4], "label": 5,
                    **{m: (2 if m == "nn" else 0.1 + 1 / 3) for m in metrics}}]
    return {
        "schema": report.RESULT_SCHEMA,
        "metrics": metrics,
        "means": means,
        "nn_total": 4 if "nn" in means else None,
        "counts": {"pred_files": 2, "gt_files": 2, "pairs": 2, "pairs_with_boxes": 1, "pairs_without_boxes": 1,
                   "samples": len(samples), "skipped": 0},
        "skipped": [],
        "pairs_without_boxes": ["b.png"],
        "metadata": {
            "package_version": "0.1.0",
            "labelmap_metrics_version": lm,
            "sem": ({"classifier": {"name": "w", "sha256": sha}, "preprocessing_version": prep}
                    if "sem" in means else None),
            "inputs": {"boxes_sha256": "b" * 64},
            "options": {},
        },
        "runtime": {},
        "samples": samples,
    }


# ------------------------------------------------------------------------------ parsing
def test_parse_metrics_canonical_order_dedup_and_case():
    assert report.parse_metrics(None) == ("tiou", "hamm", "nn")
    assert report.parse_metrics("sem,NN, tiou,nn") == ("tiou", "nn", "sem")
    assert report.parse_metrics(["hamm"]) == ("hamm",)


@pytest.mark.parametrize("spec", ["foo", "tiou,foo", "", " , "])
def test_parse_metrics_rejects_unknown_and_empty(spec):
    with pytest.raises(InputError, match="tiou,hamm,nn,sem"):
        report.parse_metrics(spec)


def test_parse_threshold():
    assert report.parse_threshold("nn=5") == ("nn", 5.0)
    assert report.parse_threshold(" TIoU = 0.8 ") == ("tiou", 0.8)
    assert report.parse_threshold("sem=1e-2") == ("sem", 0.01)


@pytest.mark.parametrize("spec, match", [
    ("nn", "METRIC=VALUE"), ("nn=1=2", "METRIC=VALUE"), ("nn=abc", "not a number"),
    ("nn=nan", "not a number"), ("nn=inf", "not a number"), ("foo=1", "unknown metric 'foo'"),
])
def test_parse_threshold_errors(spec, match):
    with pytest.raises(InputError, match=match):
        report.parse_threshold(spec, option="--fail-above")


def test_parse_tolerances():
    assert report.parse_tolerances([]) == {m: 0.0 for m in report.ALL_METRICS}
    tol = report.parse_tolerances(["0.01", "nn=0.5"])
    assert tol == {"tiou": 0.01, "hamm": 0.01, "nn": 0.5, "sem": 0.01}
    with pytest.raises(InputError, match=">= 0"):
        report.parse_tolerances(["-1"])
    with pytest.raises(InputError, match="not a number"):
        report.parse_tolerances(["x"])


# ------------------------------------------------------------------------------ thresholds
def test_check_thresholds_pass_fail_and_equality():
    means = {"tiou": 0.8, "nn": 5.0}
    checks = report.check_thresholds(means, fail_above=[("nn", 5.0)], fail_below=[("tiou", 0.8)])
    assert [c.passed for c in checks] == [True, True]  # equality passes
    checks = report.check_thresholds(means, fail_above=[("nn", 4.5)], fail_below=[("tiou", 0.81)])
    assert [c.passed for c in checks] == [False, False]
    assert "nn mean 5 > 4.5" in checks[0].detail
    assert "tiou mean 0.8 < 0.81" in checks[1].detail
    assert "FAIL nn" in report.format_checks(checks)


def test_check_thresholds_metric_not_computed_and_no_samples():
    with pytest.raises(InputError, match="not computed"):
        report.check_thresholds({"tiou": 1.0}, fail_above=[("nn", 1.0)])
    (c,) = report.check_thresholds({"nn": None}, fail_above=[("nn", 1.0)])
    assert not c.passed and "no samples" in c.detail


# ------------------------------------------------------------------------------ baseline
@pytest.mark.parametrize("metric, cur, tol, passed", [
    ("tiou", 0.79, 0.02, True),    # worse by 0.01, within tolerance
    ("tiou", 0.75, 0.02, False),   # worse by 0.05
    ("tiou", 0.95, 0.0, True),     # better
    ("hamm", 0.85, 0.01, False),
    ("nn", 2.5, 1.0, True),        # lower is better: worse by 0.5
    ("nn", 3.5, 1.0, False),
    ("nn", 0.5, 0.0, True),
    ("sem", 0.35, 0.01, False),
    ("sem", 0.3, 0.0, True),       # unchanged
])
def test_check_baseline_directions(metric, cur, tol, passed):
    base = make_result()
    current = copy.deepcopy(base)
    current["means"][metric] = cur
    checks, mismatches, notes = report.check_baseline(current, base, {m: tol for m in report.ALL_METRICS})
    assert mismatches == [] and notes == []
    (c,) = [c for c in checks if c.metric == metric]
    assert c.passed is passed
    assert all(c.passed for c in checks if c.metric != metric)


def test_check_baseline_version_mismatches_only_for_compared_metrics():
    base = make_result(sha="a" * 64, prep="p1", lm="labelmap-v1")
    cur = make_result(sha="b" * 64, prep="p2", lm="labelmap-v2")
    _, mism, _ = report.check_baseline(cur, base)
    text = " ".join(mism)
    assert len(mism) == 3 and "LABELMAP_METRICS_VERSION" in text and "sha256" in text and "PREPROCESSING" in text
    # this run has no Sem: the classifier differences do not matter
    cur_nosem = make_result(means={"tiou": 0.8, "hamm": 0.9, "nn": 2.0}, lm="labelmap-v1")
    checks, mism, notes = report.check_baseline(cur_nosem, base)
    assert mism == [] and [c.metric for c in checks] == ["tiou", "hamm", "nn"]
    # only Sem compared: a label-map version change does not matter
    cur_sem = make_result(means={"sem": 0.3}, sha="a" * 64, prep="p1", lm="labelmap-v9")
    _, mism, _ = report.check_baseline(cur_sem, base)
    assert mism == []


def test_check_baseline_notes():
    base = make_result(means={"tiou": 0.8})
    cur = make_result(means={"tiou": 0.8, "nn": 1.0}, samples=[])
    cur["metadata"]["inputs"]["boxes_sha256"] = "c" * 64
    checks, _, notes = report.check_baseline(cur, base)
    assert [c.metric for c in checks] == ["tiou"]
    text = " ".join(notes)
    assert "no mean for nn" in text and "1 samples, this run 0" in text and "different boxes.json" in text


# ------------------------------------------------------------------------------ JSON / CSV / table
def test_json_round_trip_full_precision(tmp_path):
    r = make_result(means={"tiou": 1 / 3, "hamm": 0.1 + 0.2, "nn": 7 / 3})
    text = report.to_json(r)
    back = json.loads(text)
    assert back == r and back["means"]["tiou"] == 1 / 3
    p = tmp_path / "r.json"
    p.write_text(text)
    assert report.load_result(str(p)) == r


def test_json_rejects_nan():
    r = make_result(means={"tiou": float("nan")})
    with pytest.raises(ValueError):
        report.to_json(r)


def test_load_result_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        report.load_result(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        report.load_result(str(bad))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"means": {}}))
    with pytest.raises(InputError, match="not a sem-score result"):
        report.load_result(str(other))
    r = make_result()
    r["means"] = {"tiou": "high"}
    other.write_text(json.dumps(r))
    with pytest.raises(InputError, match="'means'"):
        report.load_result(str(other))


def test_csv_rows_and_header():
    samples = [{"file": "x/a.png", "box_index": i, "bbox": [i, 0, i + 2, 3], "label": 4, "tiou": 1 / 3, "nn": i}
               for i in range(3)]
    r = make_result(means={"tiou": 1 / 3, "nn": 1.0}, samples=samples)
    rows = list(csv.reader(io.StringIO(report.to_csv(r))))
    assert rows[0] == ["file", "box_index", "x0", "y0", "x1", "y1", "label", "tiou", "nn"]
    assert len(rows) == 1 + 3
    assert rows[2] == ["x/a.png", "1", "1", "0", "3", "3", "4", repr(1 / 3), "1"]
    assert float(rows[1][7]) == 1 / 3


def test_format_table():
    text = report.format_table(make_result())
    for word in ("tIOU", "hamm", "NN", "Sem", "higher", "lower", "total 4 noise pixels", "samples 1 |"):
        assert word in text
    assert "n/a" in report.format_table(make_result(means={"tiou": None}, samples=[]))
