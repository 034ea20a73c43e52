"""The classifier runs once per object (issue 18): Sem and SFD share one pass, the report reuses it."""
import json

import numpy as np

from sem_metric.pipeline.evaluate import evaluate_dirs
from sem_metric.pipeline.html_report import write_report

from conftest import EXAMPLES


def _count_windows(monkeypatch):
    """Count the windows every classifier forward of the package sees (probabilities and features paths)."""
    import sem_metric.sem.metric as metric
    import sem_metric.sem.features as sfd

    seen = []
    real_probs, real_feats = metric.probabilities_from_inputs, sfd.classifier_features

    def probs(inputs, *a, **k):
        seen.append(int(inputs.shape[0]))
        return real_probs(inputs, *a, **k)

    def feats(inputs, *a, **k):
        seen.append(int(inputs.shape[0]))
        return real_feats(inputs, *a, **k)

    monkeypatch.setattr(metric, "probabilities_from_inputs", probs)
    monkeypatch.setattr(sfd, "classifier_features", feats)
    return seen


def _run(metrics, tiny_classifier, **kw):
    return evaluate_dirs(EXAMPLES / "pred", EXAMPLES / "gt", EXAMPLES / "boxes.json", metrics=metrics,
                         sem_options={"classifier": tiny_classifier, "batch_size": 64}, **kw)


def test_sem_and_sfd_share_one_forward_pass(monkeypatch, tiny_classifier):
    seen = _count_windows(monkeypatch)
    r = _run("tiou,sem", tiny_classifier)
    sem_only = sum(seen)
    identical = r["runtime"]["sem"]["identical_object_maps"]
    assert sem_only == 2 * (len(r["samples"]) - identical)           # each object once, identical ones never
    seen.clear()
    r2 = _run("tiou,sem,sfd", tiny_classifier)
    assert sum(seen) == sem_only + identical                          # + the ground truth of identical objects
    assert len(seen) == 1                                             # one forward call for both metrics
    assert [s["sem"] for s in r2["samples"]][0] == 0.0 and r2["means"]["sfd"] >= 0


def test_the_report_reuses_the_runs_top3(monkeypatch, tiny_classifier, tmp_path):
    r = _run("tiou,sem", tiny_classifier)
    assert r.top3 is not None and len(r.top3) == len(r["samples"])
    classified = [i for i, t in enumerate(r.top3) if t is not None]
    assert classified == [i for i, s in enumerate(r["samples"]) if s["sem"] != 0.0]
    seen = _count_windows(monkeypatch)
    page = write_report(r, tmp_path / "rep", classifier=tiny_classifier)
    # only objects the run never classified (identical ones, Sem = 0 without F) are classified for the page
    assert sum(seen) == 2 * (len(r["samples"]) - len(classified))
    html = open(page).read()
    ids, probs = r.top3[classified[0]][1]
    from sem_metric.sem.classes import COCO_CLASSES

    assert f"{COCO_CLASSES[ids[0]]} {probs[0]:.3f}" in html
    # the JSON form is unchanged: top-3 is not part of it
    assert "top3" not in json.loads(r.to_json()) and r.to_json() == json.dumps(dict(r), indent=2) + "\n"
    assert r.means is r["means"] and r.passed is True
    assert np.isfinite(r.means["sem"])
