"""Classifier training under DDP: sharding, device/AMP choice, and a 2-process CPU (gloo) run of the CLI
that must reproduce a single-process run on the same global batches, resume included."""
import json
import os
import socket
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from sem_metric.errors import InputError
import torch

from sem_metric.training.distributed import shard_bounds
from sem_metric.training.shape_bank import ShapeBank
from sem_metric.training.train_classifier import PRESETS, EpochBatches, epoch_order, resolve_amp, train

def _bank(n=24, seed=0):
    rng = np.random.default_rng(seed)
    masks = [rng.random((int(rng.integers(4, 40)), int(rng.integers(4, 40)))) > 0.3 for _ in range(n)]
    return ShapeBank.from_lists(masks, rng.integers(0, 5, n), "synthetic")


@pytest.mark.parametrize("n,world", [(5, 2), (2, 2), (12, 5), (7, 1), (3, 4)])
def test_shard_bounds_partition_a_batch_in_order(n, world):
    bounds = [shard_bounds(n, r, world) for r in range(world)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # contiguous, disjoint, in rank order
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_rank_slices_rebuild_the_single_process_batch_exactly():
    """Same (seed, epoch, position) -> same augmented sample, whatever the world size."""
    bank = _bank()
    cfg = replace(PRESETS["cpu"], batch_size=5, epoch_size=12, augment="v2")
    order = epoch_order(bank.labels, cfg, 1)
    single = EpochBatches(bank, order, cfg, epoch=1)
    assert len(single) == 3
    for step in range(len(single)):
        x1, y1, n1 = single[step]
        parts = [EpochBatches(bank, order, cfg, epoch=1, rank=r, world_size=2)[step] for r in range(2)]
        assert all(n == n1 for _, _, n in parts)
        assert torch.equal(torch.cat([p[0] for p in parts]), x1)
        assert torch.equal(torch.cat([p[1] for p in parts]), y1)


def test_amp_defaults_and_errors():
    assert resolve_amp(None, "cpu") == "off"  # never bf16 by default on the CPU (measured much slower)
    assert resolve_amp("off", "cpu") == "off"
    with pytest.raises(InputError, match="fp16 needs CUDA"):
        resolve_amp("fp16", "cpu")
    if not torch.cuda.is_available():
        from sem_metric.training.distributed import resolve_train_device

        assert resolve_train_device("auto") == "cpu"
        with pytest.raises(InputError, match="CUDA is not available"):
            resolve_train_device("cuda")


def _model_state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same_weights(ddp_state, single_state):
    """Parameters within 1e-5 (absolute), counters equal, BN running statistics within rtol 1e-3 / atol 1e-4.

    Running statistics are compared more loosely because the single-process reference's own CPU
    channels-last batch norm is only accurate to ~4e-5 relative (measured against float64), while the
    distributed statistics use a two-pass variance; in float64 both agree to ~1e-15.
    """
    for name, ref in single_state.items():
        got = ddp_state[name]
        if not ref.is_floating_point():
            assert torch.equal(got, ref), name
        elif "running_" in name:
            torch.testing.assert_close(got, ref, rtol=1e-3, atol=1e-4, msg=name)
        else:
            diff = (got - ref).abs().max().item()
            assert diff <= 1e-5, f"{name}: DDP and single-process weights differ by {diff:.2e}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_rank(rank: int, world: int, ports: list, argv: list, done_dir: str) -> None:
    """One rank, launched like torchrun would: the CLI twice (2 steps, then a resume to the epoch end)."""
    from sem_metric.training.train_classifier import main

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      OMP_NUM_THREADS="1")
    for phase, (port, extra) in enumerate(zip(ports, (["--max-steps", "2"], []))):
        os.environ["MASTER_PORT"] = str(port)
        assert main(argv + extra) == 0
        if rank == 0 and phase == 0:  # keep the step-2 checkpoint for the comparison
            out = Path(argv[argv.index("--out") + 1])
            (Path(done_dir) / "step2.pt").write_bytes((out / "last.pt").read_bytes())
    (Path(done_dir) / f"rank{rank}.done").write_text("ok")


def test_ddp_two_cpu_processes_match_one_process_and_resume(tmp_path, one_torch_thread):
    """2 CPU processes on gloo (the CLI under torchrun's environment): 2 steps, then resume for the 3rd step
    and the epoch end; compared with the same recipe in one process.

    The global batches hold 5, 5 and 2 samples, so the ranks get unequal slices (3/2, then 1/1). SGD,
    because Adam turns the rounding noise of mathematically-zero gradients into +-lr steps; no dropout,
    whose masks are per rank. Synchronised batch norm makes the computation that of one process.
    """
    import torch.multiprocessing as mp

    bank = _bank()
    bank.save(tmp_path / "train.npz")
    bank.subset(np.arange(8)).save(tmp_path / "val.npz")
    cfg = replace(PRESETS["cpu"], epochs=1, batch_size=5, epoch_size=12, drop_rate=0.0, warmup_epochs=0.0,
                  optimizer="sgd", lr=1e-3, weight_decay=0.0)
    recipe = {k: v for k, v in asdict(cfg).items() if v != asdict(PRESETS["cpu"])[k]}
    out = tmp_path / "ddp"
    argv = ["--preset", "cpu", *[f"--{k.replace('_', '-')}={v}" for k, v in recipe.items()],
            "--train", str(tmp_path / "train.npz"), "--val", str(tmp_path / "val.npz"), "--out", str(out),
            "--device", "cpu", "--threads", "1", "--no-progress"]
    mp.spawn(_ddp_rank, args=(2, [_free_port(), _free_port()], argv, str(tmp_path)), nprocs=2, join=True)

    assert (tmp_path / "rank0.done").exists() and (tmp_path / "rank1.done").exists()  # both ranks finished
    assert sorted(p.name for p in out.iterdir()) == ["best.safetensors", "config.json", "last.pt", "log.jsonl"]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["launch"]["world_size"] == 2 and log[0]["launch"]["backend"] == "gloo"
    assert log[0]["launch"]["sync_bn"] is True
    step2 = _model_state(tmp_path / "step2.pt")
    assert step2["state"]["global_step"] == 2 and step2["state"]["step_in_epoch"] == 2

    # the same recipe in this process, also interrupted after 2 steps
    single = tmp_path / "single"
    val = {"val": bank.subset(np.arange(8))}
    train(bank, val, cfg, single, max_steps=2, progress=False)
    _assert_same_weights(step2["model"], _model_state(single / "last.pt")["model"])
    train(bank, val, cfg, single, progress=False)
    ddp_last, single_last = _model_state(out / "last.pt"), _model_state(single / "last.pt")
    assert ddp_last["state"]["global_step"] == single_last["state"]["global_step"] == 3
    _assert_same_weights(ddp_last["model"], single_last["model"])

    from sem_metric.sem.classifier import ClassifierConfig, build_shape_classifier

    torch.manual_seed(cfg.seed)
    start = build_shape_classifier(ClassifierConfig(arch=cfg.arch, drop_rate=cfg.drop_rate)).state_dict()
    trained = single_last["model"]
    moved = max((trained[k] - start[k]).abs().max().item() for k in start
                if start[k].is_floating_point() and "running_" not in k)
    assert moved > 1e-3  # the weights did move: agreement to 1e-5 is a real check

    single_log = json.loads((single / "log.jsonl").read_text().splitlines()[0])
    assert log[0]["train_loss"] == pytest.approx(single_log["train_loss"], rel=1e-4)
    assert log[0]["val"] == single_log["val"]
    # rank 0's exported weights load strictly (the synchronised BN layers keep plain BatchNorm names)
    from sem_metric.sem.weights import load_classifier

    model = load_classifier(out / "best.safetensors", device="cpu")
    assert model.info["sha256"] == log[0]["best"]["sha256"]


def test_dataloader_workers_build_the_same_batches_in_order():
    from sem_metric.training.train_classifier import iter_batches as _iter_batches

    bank = _bank()
    cfg = replace(PRESETS["cpu"], batch_size=5, epoch_size=12)
    ds = EpochBatches(bank, epoch_order(bank.labels, cfg, 0), cfg, epoch=0, rank=1, world_size=2)
    inline = list(_iter_batches(ds, 1, workers=0, pin_memory=False))
    pooled = list(_iter_batches(ds, 1, workers=2, pin_memory=False))
    assert [s for s, _ in inline] == [s for s, _ in pooled] == [1, 2]  # resumes mid-epoch, keeps the order
    for (_, (x1, y1, n1)), (_, (x2, y2, n2)) in zip(inline, pooled):
        assert torch.equal(x1, x2) and torch.equal(y1, y2) and n1 == n2
