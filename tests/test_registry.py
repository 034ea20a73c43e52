"""The metric registry drives --metrics, the report, the JSON, checks and reference/evaluate (issue 9)."""
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from sem_metric import registry
from sem_metric.cli import main
from sem_metric.errors import InputError


def test_entries_and_defaults():
    assert tuple(registry.METRICS) == ("tiou", "hamm", "nn", "sem", "sfd", "skd")
    assert registry.default_names() == ("tiou", "hamm", "nn")
    nn = registry.get("nn")
    assert (nn.display_name, nn.higher_is_better, nn.integer, nn.level, nn.total_unit) == \
        ("NN", False, True, "sample", "noise pixels")
    assert registry.get("sem").version_keys == ("sem_weights_sha256", "sem_preprocessing_version",
                                                "sem_definition_version")
    assert all(k in registry.VERSION_KEYS for m in registry.METRICS.values() for k in m.version_keys)
    with pytest.raises(InputError, match="tiou,hamm,nn,sem"):
        registry.get("iou")


def test_parse_metrics_canonical_order_dedup_and_case():
    assert registry.parse_metrics(None) == ("tiou", "hamm", "nn")
    assert registry.parse_metrics("sem,NN, tiou,nn") == ("tiou", "nn", "sem")
    assert registry.parse_metrics(["hamm"]) == ("hamm",)


@pytest.mark.parametrize("spec", ["foo", "tiou,foo", "", " , "])
def test_parse_metrics_rejects_unknown_and_empty(spec):
    with pytest.raises(InputError, match="tiou,hamm,nn,sem"):
        registry.parse_metrics(spec)


def test_compute_matches_the_batched_functions():
    from sem_metric.labelmap.metrics import hamm_batch, noise_count_batch, tiou_batch

    rng = np.random.default_rng(0)
    gts = rng.integers(0, 3, (4, 9, 11))
    preds = rng.integers(0, 3, (4, 9, 11))
    boxes, labels = [(1, 1, 8, 7)] * 4, [1, 2, 0, 1]
    np.testing.assert_array_equal(registry.get("tiou").compute(preds, gts, boxes, labels),
                                  tiou_batch(preds, gts, boxes, labels))
    np.testing.assert_array_equal(registry.get("hamm").compute(preds, gts, boxes, labels), hamm_batch(preds, gts, boxes))
    np.testing.assert_array_equal(registry.get("nn").compute(preds, gts, boxes, labels, allowed=[[0]] * 4),
                                  noise_count_batch(preds, gts, boxes, [[0]] * 4))


def test_bad_entries_are_refused():
    with pytest.raises(ValueError, match="level"):
        registry.Metric("x", "x", True, "m:f", "eq", level="per-class")
    with pytest.raises(ValueError, match="version key"):
        registry.Metric("x", "x", True, "m:f", "eq", version_keys=("nope",))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get("tiou"))


class PooledHamm:
    """A dataset-level metric for the test: pixel-weighted hamm over all boxes (one value per run)."""

    def __init__(self):
        self.same = self.total = 0

    def update(self, preds, gts, boxes, labels):
        for p, g, (x0, y0, x1, y1) in zip(preds, gts, boxes):
            self.same += int(np.count_nonzero(p[y0:y1, x0:x1] == g[y0:y1, x0:x1]))
            self.total += (x1 - x0) * (y1 - y0)

    def compute(self):
        return self.same / self.total


@pytest.fixture
def pooled_hamm():
    registry.register(registry.Metric("phamm", "pooled hamm", True, PooledHamm, "test only", level="dataset",
                                      uses_label=False, default=False))
    yield
    registry.unregister("phamm")


def test_a_dataset_level_metric_is_one_entry(pooled_hamm, tiny_paths, tmp_path):
    """Registered once: parsed by --metrics, computed, in means / table / thresholds / baseline; no CSV column."""
    pred, gt, boxes = tiny_paths
    args = [pred, gt, "--boxes", boxes, "--metrics", "hamm,phamm", "--json", str(tmp_path / "r.json"),
            "--per-sample", str(tmp_path / "r.csv"), "--fail-below", "phamm=0.5"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "pooled hamm" in res.stdout and "PASS phamm" in res.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["metrics"] == ["hamm", "phamm"]
    assert data["means"]["phamm"] == pytest.approx((17 + 3 + 16) / (20 + 4 + 16))
    assert "phamm" not in data["samples"][0]
    assert (tmp_path / "r.csv").read_text().splitlines()[0].endswith(",label,hamm")
    res = CliRunner().invoke(main, args[:4] + ["--metrics", "phamm", "--baseline", str(tmp_path / "r.json")],
                             catch_exceptions=False)
    assert res.exit_code == 0 and "PASS phamm" in res.stderr and "higher is better" in res.stderr


def test_labelmap_and_registry_are_torch_free(subprocess_env):
    """The label-map metrics, the registry, the pipeline modules and `import sem_metric.reference` load no torch."""
    code = ("import sys, sem_metric, sem_metric.registry, sem_metric.labelmap.metrics, sem_metric.labelmap.context, "
            "sem_metric.labelmap.target_object, sem_metric.pipeline.io, sem_metric.pipeline.evaluate, "
            "sem_metric.pipeline.report, sem_metric.cli, sem_metric.reference; sem_metric.tiou; "
            "sem_metric.list_weights(); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env=subprocess_env)
