"""benchmarks/classifier/paired_auc.py (issue #19 ship rule): its statistics agree with the package's."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.classifier.paired_auc import balanced_top1, macro_auc  # noqa: E402
from benchmarks.validity.stats import roc_auc  # noqa: E402
from sem_metric.training.classifier_metrics import classification_report  # noqa: E402


def test_balanced_top1_is_the_classification_report_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 300)
    logits = rng.normal(size=(300, 80))
    logits[np.arange(150), labels[:150]] += 5  # half of them right
    hit = (logits.argmax(1) == labels).astype(float)
    assert abs(balanced_top1(hit, labels) - classification_report(logits, labels)["balanced_top1"]) < 1e-12


def test_macro_auc_is_the_mean_of_the_per_source_sem_aucs():
    rng = np.random.default_rng(1)
    scores = {name: (rng.random(n) * 0.8, rng.random(n), np.arange(n)) for name, n in (("a", 50), ("b", 80))}
    macro, per = macro_auc(scores)
    # lower Sem = same class: the AUC is that of -Sem
    expected = {k: roc_auc(-s, -d) for k, (s, d, _) in scores.items()}
    assert per == expected and abs(macro - np.mean(list(expected.values()))) < 1e-12
    idx = {"a": np.arange(10), "b": np.arange(20)}
    assert macro_auc(scores, idx)[1]["a"] == roc_auc(-scores["a"][0][:10], -scores["a"][1][:10])
