"""Pure functions of sem_metric.pipeline.checks (and metric parsing of sem_metric.registry): thresholds, baseline comparison, reading a baseline."""
import copy
import csv
import io
import json

import pytest

from sem_metric import registry
from sem_metric.pipeline import checks as ck
from sem_metric.pipeline import report
from sem_metric.errors import InputError


# ------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize("spec, match", [
    ("nn", "METRIC=VALUE"), ("nn=1=2", "METRIC=VALUE"), ("nn=abc", "not a number"),
    ("nn=nan", "not a number"), ("nn=inf", "not a number"), ("foo=1", "unknown metric 'foo'"),
])
def test_parse_threshold_errors(spec, match):
    with pytest.raises(InputError, match=match):
        ck.parse_threshold(spec, option="--fail-above")


def test_parse_tolerances():
    assert ck.parse_tolerances([]) == {m: 0.0 for m in tuple(registry.METRICS)}
    tol = ck.parse_tolerances(["0.01", "nn=0.5"])
    assert tol == {**{m: 0.01 for m in registry.METRICS}, "nn": 0.5}
    with pytest.raises(InputError, match=">= 0"):
        ck.parse_tolerances(["-1"])
    with pytest.raises(InputError, match="not a number"):
        ck.parse_tolerances(["x"])


# ------------------------------------------------------------------------------ thresholds
def test_check_thresholds_pass_fail_and_equality():
    means = {"tiou": 0.8, "nn": 5.0}
    checks = ck.check_thresholds(means, fail_above=[("nn", 5.0)], fail_below=[("tiou", 0.8)])
    assert [c.passed for c in checks] == [True, True]  # equality passes
    checks = ck.check_thresholds(means, fail_above=[("nn", 4.5)], fail_below=[("tiou", 0.81)])
    assert [c.passed for c in checks] == [False, False]
    assert "nn mean 5 > 4.5" in checks[0].detail
    assert "tiou mean 0.8 < 0.81" in checks[1].detail
    assert "FAIL nn" in report.format_checks([c.as_dict() for c in checks])


def test_check_thresholds_metric_not_computed_and_no_samples():
    with pytest.raises(InputError, match="not computed"):
        ck.check_thresholds({"tiou": 1.0}, fail_above=[("nn", 1.0)])
    (c,) = ck.check_thresholds({"nn": None}, fail_above=[("nn", 1.0)])
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
def test_check_baseline_directions(metric, cur, tol, passed, make_result):
    base = make_result()
    current = copy.deepcopy(base)
    current["means"][metric] = cur
    checks, mismatches, notes = ck.check_baseline(current, base, {m: tol for m in tuple(registry.METRICS)})
    assert mismatches == [] and notes == []
    (c,) = [c for c in checks if c.metric == metric]
    assert c.passed is passed
    assert all(c.passed for c in checks if c.metric != metric)


def test_check_baseline_version_mismatches_only_for_compared_metrics(make_result):
    base = make_result(sha="a" * 64, prep="p1", lm="labelmap-v1")
    cur = make_result(sha="b" * 64, prep="p2", lm="labelmap-v2")
    _, mism, _ = ck.check_baseline(cur, base)
    text = " ".join(mism)
    assert len(mism) == 3 and "LABELMAP_METRICS_VERSION" in text and "sha256" in text and "PREPROCESSING" in text
    # this run has no Sem: the classifier differences do not matter
    cur_nosem = make_result(means={"tiou": 0.8, "hamm": 0.9, "nn": 2.0}, lm="labelmap-v1")
    checks, mism, notes = ck.check_baseline(cur_nosem, base)
    assert mism == [] and [c.metric for c in checks] == ["tiou", "hamm", "nn"]
    # only Sem compared: a label-map version change does not matter
    cur_sem = make_result(means={"sem": 0.3}, sha="a" * 64, prep="p1", lm="labelmap-v9")
    _, mism, _ = ck.check_baseline(cur_sem, base)
    assert mism == []


def test_check_baseline_notes(make_result):
    base = make_result(means={"tiou": 0.8})
    cur = make_result(means={"tiou": 0.8, "nn": 1.0}, samples=[])
    cur["metadata"]["inputs"]["boxes_sha256"] = "c" * 64
    checks, _, notes = ck.check_baseline(cur, base)
    assert [c.metric for c in checks] == ["tiou"]
    text = " ".join(notes)
    assert "no mean for nn" in text and "1 samples, this run 0" in text and "different boxes.json" in text


def test_load_result_errors(tmp_path, make_result):
    with pytest.raises(InputError, match="does not exist"):
        ck.load_result(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        ck.load_result(str(bad))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"means": {}}))
    with pytest.raises(InputError, match="not a sem-score result"):
        ck.load_result(str(other))
    r = make_result()
    r["means"] = {"tiou": "high"}
    other.write_text(json.dumps(r))
    with pytest.raises(InputError, match="'means'"):
        ck.load_result(str(other))
