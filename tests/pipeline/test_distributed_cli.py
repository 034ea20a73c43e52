"""sem-score under torchrun: 2 CPU processes over gloo give the single-process result (issue #11, item 2)."""
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sem_metric.errors import InputError
from sem_metric.pipeline.evaluate import SemOptions, evaluate_dirs
from sem_metric.sem.cache import GTProbabilityCache
from sem_metric.sem.sfd import ShapeStats

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
METRICS = "tiou,hamm,nn,sem,sfd"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["OMP_NUM_THREADS"] = "1"
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


def test_torchrun_two_processes_equal_one_process(tmp_path, random_weights_path, random_classifier, one_torch_thread):
    out = tmp_path / "two.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "sem_metric.cli", str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), "--boxes", str(EXAMPLES / "boxes.json"),
           "--metrics", METRICS, "--weights", str(random_weights_path), "--threads", "1",
           "--gt-cache", str(tmp_path / "gt_probs.npz"), "--sfd-gt-stats", str(tmp_path / "gt_stats.npz"),
           "--json", str(out), "--per-sample", str(tmp_path / "two.csv")]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("samples 5 | pairs 5") == 1          # only rank 0 prints the table
    two = json.loads(out.read_text())
    one = evaluate_dirs(str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), str(EXAMPLES / "boxes.json"), metrics=METRICS,
                        sem_options=SemOptions(classifier=random_classifier))
    assert two["metadata"]["world_size"] == 2 and one["metadata"]["world_size"] == 1
    # the same rows in the same order: label-map values bit-identical, Sem within the classifier's
    # float32 batch-composition noise (ranks batch different samples together)
    assert len(two["samples"]) == len(one["samples"]) == 5
    for a, b in zip(two["samples"], one["samples"]):
        assert {k: v for k, v in a.items() if k != "sem"} == {k: v for k, v in b.items() if k != "sem"}
        assert a["sem"] == pytest.approx(b["sem"], abs=1e-6)
    for m in ("tiou", "hamm", "nn"):
        assert two["means"][m] == one["means"][m]
    assert two["nn_total"] == one["nn_total"]
    assert two["means"]["sem"] == pytest.approx(one["means"]["sem"], abs=1e-6)
    assert two["means"]["sfd"] == pytest.approx(one["means"]["sfd"], rel=1e-6)
    for key in ("counts", "pairs_without_boxes", "skipped", "metrics"):
        assert two[key] == one[key]
    assert two["metadata"]["sem"]["classifier"]["sha256"] == one["metadata"]["sem"]["classifier"]["sha256"]
    sfd_two, sfd_one = two["metadata"]["dataset_metrics"]["sfd"], one["metadata"]["dataset_metrics"]["sfd"]
    for k in ("weights_sha256", "feature_dim", "n_pred", "n_gt", "gt_objects_digest"):
        assert sfd_two[k] == sfd_one[k]
    assert sfd_two["feature_dim"] == 1280 and sfd_two["n_gt"] == 5
    # rank 0 alone wrote the CSV and both caches, with every rank's entries
    with open(tmp_path / "two.csv") as f:
        assert [r["file"] for r in csv.DictReader(f)] == [s["file"] for s in one["samples"]]
    cache = GTProbabilityCache.open(tmp_path / "gt_probs.npz", sfd_one["weights_sha256"], "box-window-v1")
    assert cache.status == "loaded" and len(cache) == 5 - one["runtime"]["sem"]["identical_object_maps"]
    assert ShapeStats.load(tmp_path / "gt_stats.npz").n == 5
    assert two["runtime"]["dataset_metrics"]["sfd"]["gt_stats"]["status"] == "written"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_error_on_one_rank_makes_every_rank_exit_2_with_one_message(tmp_path):
    ex = tmp_path / "ex"
    shutil.copytree(EXAMPLES, ex)
    (ex / "pred" / "0002.png").write_bytes(b"not a png")     # pair index 1 -> rank 1
    port = str(_free_port())
    procs = []
    for rank in (0, 1):
        env = {**_env(), "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "sem_metric.cli", str(ex / "pred"), str(ex / "gt"), "--boxes", str(ex / "boxes.json"),
             "--json", str(tmp_path / "out.json")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [2, 2], outs
    assert "error: cannot read" in outs[0][1] and "(on rank 1 of 2)" in outs[0][1]
    assert "error" not in outs[1][1] and outs[1][0] == "" and outs[0][0] == ""   # printed once, no table
    assert "Traceback" not in outs[0][1] + outs[1][1]
    assert not (tmp_path / "out.json").exists()


def test_distributed_true_needs_a_process_group(tiny_paths):
    pred, gt, boxes = tiny_paths
    with pytest.raises(InputError, match="not initialised"):
        evaluate_dirs(pred, gt, boxes, distributed=True)
