"""sem-score under torch.distributed (issue #11, item 2).

The README's torchrun command (2 CPU processes over gloo, compared with one process) is run by
tests/test_readme.py::test_torchrun_command. Here: two processes launched by hand (each rank's exit code
and output), and the sharding / merging logic with several pretend ranks in one process.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from bounds import within

from sem_metric.errors import InputError
from sem_metric.pipeline.evaluate import SemOptions, evaluate_dirs
from sem_metric.sem.cache import GTProbabilityCache
from sem_metric.sem.sfd import ShapeStats

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
METRICS = "tiou,hamm,nn,sem,sfd,skd"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["OMP_NUM_THREADS"] = "1"
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


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


# ------------------------------------------------------------------------------ sharding and merging, in one process
class _FakeWorld:
    """Ranks of a pretend process group run one after the other in this process (rank 0 last).

    Payloads go through pickle, as they would through all_gather_object.
    """

    def __init__(self, world_size):
        self.world_size = world_size
        self.payloads = {}

    def rank(self, r):
        world = self

        class _Rank:
            rank, world_size, is_main = r, world.world_size, r == 0

            def owns_index(self, i):
                return i % world.world_size == r

            def shard_size(self, total):
                return len(range(r, total, world.world_size))

            def run_and_gather(self, fn):
                import pickle

                world.payloads[r] = pickle.loads(pickle.dumps(fn()))
                return [world.payloads.get(k) for k in range(world.world_size)]

        return _Rank()

    def run(self, fn):
        for r in range(self.world_size - 1, 0, -1):
            assert fn(self.rank(r)) is None          # only rank 0 gets a result
        return fn(self.rank(0))


@pytest.mark.parametrize("world_size", [2, 3, 7])
def test_sharded_runs_merge_to_the_single_process_result(tmp_path, tiny_classifier, world_size):
    root = tmp_path / "d"
    shutil.copytree(EXAMPLES, root)
    args = (str(root / "pred"), str(root / "gt"), str(root / "boxes.json"))

    def run(dist, tag):
        so = SemOptions(classifier=tiny_classifier, gt_cache=str(tmp_path / f"{tag}.npz"),
                        sfd_gt_stats=str(tmp_path / f"{tag}_stats.npz"))
        return evaluate_dirs(*args, metrics=METRICS, sem_options=so, distributed=dist)

    one = run(None, "one")
    many = _FakeWorld(world_size).run(lambda d: run(d, f"w{world_size}"))
    assert many["metadata"]["world_size"] == world_size
    for key in ("counts", "pairs_without_boxes", "nn_total", "checks", "skipped"):
        assert many[key] == one[key], key
    for a, b in zip(many["samples"], one["samples"]):
        assert {k: v for k, v in a.items() if k != "sem"} == {k: v for k, v in b.items() if k != "sem"}
        assert a["sem"] == within("sem", b["sem"])
    for m in ("tiou", "hamm", "nn"):
        assert many["means"][m] == one["means"][m]
        assert many["intervals"][m] == one["intervals"][m]           # issue 26: seeded, canonical unit order
    assert many["means"]["sem"] == within("sem", one["means"]["sem"])
    assert many["intervals"]["sem"]["low"] == within("sem", one["intervals"]["sem"]["low"])
    assert many["means"]["sfd"] == within("sfd", one["means"]["sfd"])
    assert many["means"]["skd"] == within("skd", one["means"]["skd"])      # cat states, rows sorted before the draws
    assert many["runtime"]["sem"]["identical_object_maps"] == one["runtime"]["sem"]["identical_object_maps"]
    assert many["runtime"]["sem"]["gt_cache"]["misses"] == one["runtime"]["sem"]["gt_cache"]["misses"]
    # rank 0 saved every rank's cache entries and the SFD statistics
    assert len(GTProbabilityCache.open(tmp_path / f"w{world_size}.npz", "7" * 64, "box-window-v1")) == \
        len(GTProbabilityCache.open(tmp_path / "one.npz", "7" * 64, "box-window-v1"))
    assert ShapeStats.load(tmp_path / f"w{world_size}_stats.npz").objects_digest == \
        ShapeStats.load(tmp_path / "one_stats.npz").objects_digest


def test_sharded_absent_target_is_refused_once_with_the_global_listing(tmp_path):
    root = tmp_path / "d"
    shutil.copytree(EXAMPLES, root)
    boxes = json.loads((root / "boxes.json").read_text())
    boxes["city/0004.npy"][0]["label"] = 99          # pair index 4 -> rank 0 of 2 ... and of 3: rank 1
    boxes["0002.png"][0]["label"] = 98               # pair index 1 -> rank 1
    (root / "boxes.json").write_text(json.dumps(boxes))
    args = (str(root / "pred"), str(root / "gt"), str(root / "boxes.json"))
    with pytest.raises(InputError) as single:
        evaluate_dirs(*args)
    for world_size in (2, 3):
        with pytest.raises(InputError) as sharded:
            _FakeWorld(world_size).run(lambda d: evaluate_dirs(*args, distributed=d))
        assert str(sharded.value) == str(single.value)
    one = evaluate_dirs(*args, allow_absent_target=True, warn=lambda m: None)
    many = _FakeWorld(3).run(lambda d: evaluate_dirs(*args, allow_absent_target=True, warn=lambda m: None,
                                                     distributed=d))
    assert many["metadata"]["absent_target"] == one["metadata"]["absent_target"]
    assert many["samples"] == one["samples"] and many["means"] == one["means"]
