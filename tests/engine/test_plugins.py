"""Metrics from outside the package (issue 18): one registration, and they work everywhere.

``plugin_metrics`` (this folder) registers a per-sample label-map metric (``cover``), a per-sample
metric from the classifier's probabilities (``top1``: top-1 agreement of prediction and ground truth)
and a dataset-level one with declared states (``pcover``). Each is checked in sem-score (table, JSON,
CSV, --per-class, --report, --baseline), SISMMetrics, the torchmetrics class, two processes, and as an
installed entry point.
"""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sem_metric import SISMMetrics, evaluate_samples, registry
from sem_metric.cli import main

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(HERE))
import frozen  # noqa: E402

NAMES = ("cover", "top1", "pcover")
METRICS = "tiou,cover,sem,top1,pcover"


@pytest.fixture
def plugins():
    """The plugin module imported (it registers its metrics; again by hand when already imported), then removed."""
    import plugin_metrics

    from sem_metric import register_metric

    for m in plugin_metrics.METRICS:
        register_metric(m)
    yield plugin_metrics
    for name in NAMES:
        registry.METRICS.pop(name, None)


def _args(tmp_path, *extra):
    return [str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), "--boxes", str(EXAMPLES / "boxes.json"),
            "--metrics", METRICS, "--device", "cpu", "--threads", "1", *extra]


def test_register_metric_is_one_call_and_idempotent(plugins):
    from sem_metric import register_metric

    plugin_metrics = plugins

    assert register_metric(plugin_metrics.METRICS[0]) is plugin_metrics.METRICS[0]   # same entry again: no-op
    with pytest.raises(ValueError, match="already registered"):
        register_metric(registry.Metric("cover", "other", True, plugin_metrics.cover_batch, "x"))
    assert registry.get("top1").kind == "sem" and registry.parse_metrics("pcover,top1") == ("top1", "pcover")


def test_plugins_in_sem_score_table_json_csv_per_class_report_baseline(plugins, tmp_path):
    out = tmp_path / "r.json"
    res = CliRunner().invoke(main, _args(tmp_path, "--json", str(out), "--per-sample", str(tmp_path / "r.csv"),
                                         "--per-class", "--report", str(tmp_path / "rep"),
                                         "--fail-below", "pcover=0.1"), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    for label in ("cover", "top-1 agree", "pooled cover"):
        assert label in res.stdout
    data = json.loads(out.read_text())
    assert data["metrics"] == ["tiou", "sem", "cover", "top1", "pcover"]   # registry order
    rows = data["samples"]
    assert all(0 <= r["cover"] <= 1 and r["top1"] in (0.0, 1.0) for r in rows)
    assert rows[0]["sem"] == 0.0 and rows[0]["top1"] == 1.0          # identical objects: settled exactly
    assert data["means"]["cover"] == sum(r["cover"] for r in rows) / len(rows)
    assert data["means"]["top1"] == sum(r["top1"] for r in rows) / len(rows)
    assert 0 < data["means"]["pcover"] <= 2 and "pcover" not in rows[0]
    assert data["metadata"]["dataset_metrics"]["pcover"]["boxes"] == len(rows)
    header = next(csv.reader((tmp_path / "r.csv").open()))
    assert header[-4:] == ["tiou", "sem", "cover", "top1"]
    assert all({"cover", "top1"} <= set(c["metrics"]) for c in data["per_class"]["classes"])   # --per-class
    assert "top1" in (tmp_path / "rep" / "index.html").read_text()
    res = CliRunner().invoke(main, _args(tmp_path, "--baseline", str(out)), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    for m in NAMES:
        assert f"PASS {m}" in res.stderr


def _synthetic():
    samples, boxes = frozen.synthetic(n_maps=8)
    batches = []
    for name, (pred, gt) in samples.items():
        b = np.array([e["bbox"] for e in boxes[name]])
        batches.append(([pred] * len(b), [gt] * len(b), b, [e["label"] for e in boxes[name]]))
    return samples, boxes, batches


def _sism_metrics(tiny_classifier):
    """The plugins through the pipeline and through SISMMetrics (batches of 5): ``(ref, got, batches)``."""
    samples, boxes, batches = _synthetic()
    ref = evaluate_samples(samples, boxes, metrics=METRICS, sem_options={"classifier": tiny_classifier})
    m = SISMMetrics(METRICS, classifier=tiny_classifier, batch_size=5)
    for b in batches:
        m.update(*b)
    return ref, m.compute(), batches


def test_plugins_in_sismmetrics_equal_the_pipeline(plugins, tiny_classifier):
    ref, got, _ = _sism_metrics(tiny_classifier)
    assert got["cover"] == ref["means"]["cover"] and got["pcover"] == ref["means"]["pcover"]   # bit-identical
    assert got["top1"] == ref["means"]["top1"]


def test_plugins_in_torchmetrics_equal_sismmetrics(plugins, tiny_classifier):
    pytest.importorskip("torchmetrics", reason="the [torchmetrics] extra is not installed")
    from sem_metric.torchmetrics import SISMMetric

    ref, got, batches = _sism_metrics(tiny_classifier)
    tm = SISMMetric(METRICS, classifier=tiny_classifier)
    for b in batches[:3]:
        tm.update(*b)
    other = SISMMetric(METRICS, classifier=tiny_classifier)
    for b in batches[3:]:
        other.update(*b)
    tm.merge_state(other)                                  # torchmetrics' own reduction of the declared states
    tv = {k: v.item() for k, v in tm.compute().items()}
    assert tv["cover"] == got["cover"] and tv["pcover"] == got["pcover"] and tv["top1"] == got["top1"]
    assert tv["n_samples"] == got["n_samples"] == len(ref["samples"])


def test_plugins_under_two_processes_equal_one(plugins, tmp_path, subprocess_env):
    env = {**subprocess_env, "PYTHONPATH": f"{HERE}:{subprocess_env['PYTHONPATH']}"}
    outs = {}
    for procs in ("1", "2"):
        outs[procs] = tmp_path / f"p{procs}.json"
        cmd = [sys.executable, "-m", "sem_metric.cli", *_args(tmp_path, "--plugin", "plugin_metrics", "--processes",
                                                                 procs, "--json", str(outs[procs]), "-q")]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    one, two = (json.loads(outs[p].read_text()) for p in ("1", "2"))
    assert two["metadata"]["world_size"] == 2
    assert [r["cover"] for r in one["samples"]] == [r["cover"] for r in two["samples"]]
    assert [r["top1"] for r in one["samples"]] == [r["top1"] for r in two["samples"]]
    assert one["means"]["pcover"] == two["means"]["pcover"]
    assert one["metadata"]["dataset_metrics"]["pcover"] == two["metadata"]["dataset_metrics"]["pcover"]


def test_an_installed_entry_point_registers_the_plugins(tmp_path, subprocess_env):
    dist = tmp_path / "sem_plugin_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sem-plugin-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[sem_metric.metrics]\ndemo = plugin_metrics:METRICS\n")
    env = {**subprocess_env, "PYTHONPATH": f"{tmp_path}:{HERE}:{subprocess_env['PYTHONPATH']}"}
    code = ("from sem_metric import registry\n"
            "print(registry.parse_metrics('pcover,cover,top1'))\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "('cover', 'top1', 'pcover')"
    env2 = {**subprocess_env, "PYTHONPATH": f"{HERE}:{subprocess_env['PYTHONPATH']}", "SEM_METRIC_PLUGINS": "plugin_metrics"}
    proc = subprocess.run([sys.executable, "-c", code], env=env2, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "('cover', 'top1', 'pcover')", proc.stderr


def _ddp_plugin_worker(rank, world, init_file, out_dir):
    """One rank: register the plugins (as a worker would, by importing the module), stream its shard, sync."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    import plugin_metrics  # noqa: F401 (registers cover, top1, pcover)

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        _, _, batches = _synthetic()
        m = SISMMetrics("tiou,cover,pcover")
        for b in batches[rank::world]:
            m.update(*b)
        out = {k: v for k, v in m.compute().items()}
        (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(out))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_plugins_under_torch_distributed_sync_equal_one_process(plugins, tmp_path):
    """SISMMetrics under a gloo group: every declared state (int64 sums, exact sums, cat) synchronised."""
    import torch.multiprocessing as mp

    mp.spawn(_ddp_plugin_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    _, _, batches = _synthetic()
    single = SISMMetrics("tiou,cover,pcover")
    for b in batches:
        single.update(*b)
    ref = single.compute()
    for r in (0, 1):
        got = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert got == json.loads(json.dumps(ref))
