"""Issue 27, "things that say what did not happen": one default metric set, one batch-size check (numpy
integers accepted everywhere), a compiled run that says which graph ran, F@GT over the same objects
whatever the metric set."""
import numpy as np
import pytest

from sem_metric import SISMMetrics, evaluate_samples, registry
from sem_metric.errors import InputError
from sem_metric.labelmap.box import check_batch_size
from sem_metric.pipeline.options import SemOptions


def _samples(n=6, seed=0):
    """``(samples, boxes)`` of ``evaluate_samples``: n pairs with one box each; pairs 0 and 3 have prediction =
    ground truth (identical objects, whose Sem is 0 without running F)."""
    rng = np.random.default_rng(seed)
    samples, boxes = [], {}
    for i in range(n):
        gt = rng.integers(0, 4, size=(40, 48))
        gt[8:30, 10:36] = np.where(rng.random((22, 26)) > 0.35, 5, 1)
        pred = gt.copy()
        if i % 3:
            pred[8:30, 10:36] = rng.choice([5, 2], size=(22, 26), p=[0.5, 0.5])
        samples.append((f"s{i}", pred, gt))
        boxes[f"s{i}"] = [{"bbox": [10, 8, 36, 30], "label": 5}]
    return samples, boxes


def test_sismmetrics_default_is_the_registry_default_set():
    m = SISMMetrics()
    assert m.metrics == registry.default_names() == registry.parse_metrics(None)
    assert m.classifier is None                       # the default set needs no classifier
    res = evaluate_samples(*_samples())
    assert tuple(res["metrics"]) == m.metrics         # what evaluate_* and sem-score compute by default
    from sem_metric.streaming import DEFAULT_METRICS

    assert DEFAULT_METRICS == m.metrics


def test_torchmetrics_default_is_the_registry_default_set():
    pytest.importorskip("torchmetrics", reason="the [torchmetrics] extra is not installed")
    from sem_metric.torchmetrics import SISMMetric

    assert SISMMetric().metric_names == registry.default_names()


@pytest.mark.parametrize("good", [32, np.int64(32), np.int32(7), np.uint8(1)])
def test_numpy_integer_batch_sizes_are_accepted_everywhere(good, tiny_classifier):
    from sem_metric.engine.classify import ClassifierStage
    from sem_metric.sem.metric import check_batch_size as sem_check, compute_sem_batch
    from sem_metric.sem.sfd_accumulator import SFDAccumulator

    assert sem_check is check_batch_size               # one check, re-exported where Sem lives
    assert check_batch_size(good) == int(good) and type(check_batch_size(good)) is int
    assert SISMMetrics(batch_size=good).batch_size == int(good)
    assert SISMMetrics(("tiou", "sem"), classifier=tiny_classifier, batch_size=good).engine.batch_size == int(good)
    assert SemOptions.coerce({"batch_size": good}).batch_size == good
    assert SFDAccumulator(tiny_classifier, batch_size=good).batch_size == int(good)
    assert ClassifierStage(tiny_classifier, good, True, False, False, False).batch_size == int(good)
    s, _ = _samples(2)
    v = compute_sem_batch([p for _, p, _ in s], [g for _, _, g in s], [(10, 8, 36, 30)] * 2, [5, 5],
                          classifier=tiny_classifier, batch_size=good)
    assert v.shape == (2,)


@pytest.mark.parametrize("bad", [0, -1, 2.5, np.float64(4.0), True, "32", None])
def test_one_batch_size_message_everywhere(bad, tiny_classifier):
    from sem_metric.engine.classify import ClassifierStage
    from sem_metric.sem.sfd_accumulator import SFDAccumulator

    msg = "must be an integer >= 1, got"
    for make in (lambda: SISMMetrics(batch_size=bad), lambda: SemOptions.coerce({"batch_size": bad}),
                 lambda: SFDAccumulator(tiny_classifier, batch_size=bad),
                 lambda: ClassifierStage(tiny_classifier, bad, True, False, False, False)):
        with pytest.raises(InputError, match=msg):
            make()


def _counting_compile(monkeypatch):
    """torch.compile replaced by a 'compiled graph' that runs the network eagerly and counts its calls."""
    from sem_metric.sem import classifier as clf

    calls = []

    def fake_compile(fn, **kw):
        def graph(x):
            calls.append(int(x.shape[0]))
            return fn(x)
        return graph

    monkeypatch.setattr(clf.torch, "compile", fake_compile)
    return calls


def test_compile_with_sfd_records_that_the_compiled_graph_did_not_run(monkeypatch):
    """--compile with SFD: the features path calls the eager network, so the result says compiled = false
    and why; with Sem alone the compiled graph runs and the result says so."""
    from tiny_classifier import TinyFeatureClassifier

    from sem_metric.engine.classify import COMPILED_NOT_USED

    calls = _counting_compile(monkeypatch)
    samples, boxes = _samples(8)
    opts = {"classifier": TinyFeatureClassifier(seed=0), "compile": True, "batch_size": 4}
    r = evaluate_samples(samples, boxes, "sem", sem_options=opts)
    assert calls and r["runtime"]["sem"]["compiled"] is True and "compiled_reason" not in r["runtime"]["sem"]
    calls.clear()
    r = evaluate_samples(samples, boxes, "sem,sfd", sem_options=opts)
    assert calls == []                                              # the compiled graph ran 0 times
    assert r["runtime"]["sem"]["compiled"] is False and r["runtime"]["sem"]["compiled_reason"] == COMPILED_NOT_USED
    assert r["metadata"]["options"]["sem"]["compile"] is True       # what was asked stays recorded
    # without --compile nothing is claimed
    r = evaluate_samples(samples, boxes, "sem,sfd", sem_options={"classifier": TinyFeatureClassifier(seed=0)})
    assert r["runtime"]["sem"]["compiled"] is False and "compiled_reason" not in r["runtime"]["sem"]


def test_f_at_gt_counts_the_same_objects_whatever_the_metrics(tiny_classifier):
    """F@GT (per-class gt_recognition) leaves identical objects out in every run: Sem alone does not classify
    them, Sem + SFD does (for SFD's ground-truth features); the counts are the same."""
    samples, boxes = _samples(9)
    identical = sum(np.array_equal(p, g) for _, p, g in samples)
    assert identical == 3
    names = {5: "car"}
    recs = {}
    for metrics in ("sem", "sem,sfd", "tiou,sem,sfd"):
        r = evaluate_samples(samples, boxes, metrics, sem_options={"classifier": tiny_classifier}, class_names=names)
        (cls,) = r["per_class"]["classes"]
        recs[metrics] = cls["gt_recognition"]
    assert recs["sem"]["classified"] == len(samples) - identical
    assert recs["sem"] == recs["sem,sfd"] == recs["tiou,sem,sfd"]
