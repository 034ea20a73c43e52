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
