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

Both use class-balanced sampling (weights ``count**-balance_power``), shape augmentation
(:mod:`sem_metric.training.shape_augment`), deterministic seeds (the order of epoch ``e`` and the
augmentation of each position are functions of ``(seed, e, position)``), a checkpoint every
``--checkpoint-every`` steps and at each epoch end (resume with the same command: it continues from
``<out>/last.pt``, mid-epoch included), a JSON log line per epoch in ``<out>/log.jsonl``, and
``<out>/best.safetensors`` (best on the first validation bank by ``select``: top-1 for the paper preset,
the mean of top-1 and balanced top-1 for ``cpu``) loadable by
:func:`sem_metric.load_classifier`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..sem.classifier import ClassifierConfig, build_shape_classifier
from ..sem.preprocess import window_from_crop
from ..sem.weights import save_classifier_weights
from .shape_augment import augment_shape
from .shape_bank import ShapeBank


@dataclass(frozen=True)
class TrainConfig:
    """One training recipe; the presets below are named instances."""

    arch: str = "efficientnet_b0"
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 0.05
    schedule: str = "cosine"  # "cosine" (with warm-up) or "step"
    step_every: int = 10  # epochs, for "step"
    step_gamma: float = 0.7  # lr multiplier, for "step" (the paper's "decays 30% every 10 epochs")
    warmup_epochs: float = 1.0
    epochs: int = 14
    batch_size: int = 64
    label_smoothing: float = 0.1
    balance_power: float = 0.5
    drop_rate: float = 0.2
    epoch_size: int = 0  # draws per epoch; 0 = the training bank's size
    select: str = "top1+balanced"  # checkpoint selection on the first validation bank, see SELECTION
    augment: str = "v1"  # shape augmentation recipe, see sem_metric.training.shape_augment.AUGMENTATIONS
    init: str = ""  # warm start: a classifier .safetensors (shipped name or path); "" = from scratch
    seed: int = 0


PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(arch="efficientnet_b7", optimizer="adam", lr=1e-5, weight_decay=0.0, schedule="step",
                         step_every=10, step_gamma=0.7, warmup_epochs=0.0, epochs=50, batch_size=32,
                         label_smoothing=0.0, balance_power=0.0, select="top1"),
    "cpu": TrainConfig(balance_power=0.6, epochs=8, epoch_size=16000),
    # sem-effb0-v2: warm start from v1, stronger (inpainting-like) augmentation, longer, both cores
    "cpu-v2": TrainConfig(balance_power=0.6, epochs=3, epoch_size=8000, lr=1e-3, warmup_epochs=0.25,
                          augment="v2", init="sem-effb0-v1"),
}

# how "best on validation" is scored, from a classification report of the first validation bank
SELECTION = {
    "top1": lambda rep: rep["top1"],
    "top1+balanced": lambda rep: 0.5 * (rep["top1"] + rep["balanced_top1"]),
}

OPTIMIZERS = {
    "adam": lambda params, cfg: torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
    "adamw": lambda params, cfg: torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
}


def lr_factor(cfg: TrainConfig, epoch_float: float) -> float:
    """Learning-rate multiplier at a (fractional) epoch for the configured schedule."""
    if cfg.warmup_epochs > 0 and epoch_float < cfg.warmup_epochs:
        return max(epoch_float / cfg.warmup_epochs, 1e-3)
    if cfg.schedule == "step":
        return cfg.step_gamma ** int(epoch_float // cfg.step_every)
    if cfg.schedule == "cosine":
        span = max(cfg.epochs - cfg.warmup_epochs, 1e-9)
        t = min(max((epoch_float - cfg.warmup_epochs) / span, 0.0), 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * t))
    raise ValueError(f"unknown schedule {cfg.schedule!r}")


def epoch_order(labels: np.ndarray, cfg: TrainConfig, epoch: int) -> np.ndarray:
    """Class-balanced sample order of one epoch (``epoch_size`` draws), a pure function of (seed, epoch)."""
    counts = np.bincount(labels, minlength=int(labels.max()) + 1).astype(np.float64)
    weights = counts[labels] ** (-cfg.balance_power)
    rng = np.random.default_rng([cfg.seed, epoch, 0])
    size = cfg.epoch_size or len(labels)
    return rng.choice(len(labels), size=size, replace=True, p=weights / weights.sum())


def make_batch(bank: ShapeBank, indices: np.ndarray, augment: bool, seed_key: tuple[int, ...] = (),
               recipe: str = "v1") -> tuple:
    """Stack the classifier inputs (``box-window-v1``) and labels of ``indices``; augmentation is seeded."""
    xs = []
    for pos, i in enumerate(indices):
        mask = bank.masks[int(i)]
        if augment:
            mask = augment_shape(mask, np.random.default_rng([*seed_key, pos]), recipe)
        xs.append(window_from_crop(mask))
    return torch.stack(xs), torch.as_tensor(bank.labels[np.asarray(indices, dtype=np.int64)])


@torch.inference_mode()
def predict_logits(model, bank: ShapeBank, batch_size: int = 128) -> np.ndarray:
    """Logits of F for every shape of a bank (no augmentation), in bank order."""
    model.eval()
    out = []
    for start in range(0, len(bank), batch_size):
        x, _ = make_batch(bank, np.arange(start, min(start + batch_size, len(bank))), augment=False)
        out.append(model(x).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.num_classes), np.float32)


def _warm_start(model, weights: str) -> None:
    """Initialise ``model`` from classifier weights (verified like any Sem weights), strictly."""
    from ..sem.weights import load_classifier

    src = load_classifier(weights, device="cpu")
    if src.config.arch != model.config.arch:
        raise SystemExit(f"--init {weights}: architecture {src.config.arch} differs from {model.config.arch}")
    model.load_state_dict(src.state_dict(), strict=True)
    print(f"warm start from {weights} (sha256 {src.info['sha256'][:12]})", file=sys.stderr)


def _save_checkpoint(path: Path, model, optimizer, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state}, tmp)
    os.replace(tmp, path)


def train(train_bank: ShapeBank, val_banks: dict[str, ShapeBank], cfg: TrainConfig, out: Path,
          checkpoint_every: int = 200, max_steps: int | None = None, progress: bool = True,
          keep_epochs: bool = False) -> dict:
    """Run (or resume) training; returns the final state dict (best metrics, epochs done).

    ``keep_epochs`` also writes every epoch's weights (``epoch_NNN.safetensors``) for post-hoc selection.
    """
    from .classifier_metrics import classification_report

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    # channels_last: ~1.5x faster depthwise-conv backward on CPU (oneDNN); weights are saved in standard layout
    model = build_shape_classifier(ClassifierConfig(arch=cfg.arch, drop_rate=cfg.drop_rate))
    if cfg.init:
        _warm_start(model, cfg.init)
    model = model.to(memory_format=torch.channels_last)
    optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), cfg)
    steps_per_epoch = math.ceil((cfg.epoch_size or len(train_bank)) / cfg.batch_size)
    state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": None, "config": asdict(cfg)}
    last = out / "last.pt"
    if last.exists():
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
        if ckpt["state"]["config"] != asdict(cfg):
            raise SystemExit(f"{last} was written with a different config; use a new --out or delete it")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        print(f"resuming from {last}: epoch {state['epoch']}, step {state['step_in_epoch']}", file=sys.stderr)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    first_val = next(iter(val_banks))
    steps_run = 0
    while state["epoch"] < cfg.epochs:
        epoch = state["epoch"]
        order = epoch_order(train_bank.labels, cfg, epoch)
        model.train()
        t0, loss_sum, n_seen = time.time(), 0.0, 0
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=steps_per_epoch, initial=state["step_in_epoch"], desc=f"epoch {epoch}", file=sys.stderr)
        for step in range(state["step_in_epoch"], steps_per_epoch):
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            x, y = make_batch(train_bank, idx, augment=True, seed_key=(cfg.seed, epoch, step + 1), recipe=cfg.augment)
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(cfg, epoch + step / steps_per_epoch)
            x = x.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
            n_seen += len(idx)
            state["step_in_epoch"] = step + 1
            state["global_step"] += 1
            steps_run += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / n_seen:.3f}")
            if checkpoint_every and state["global_step"] % checkpoint_every == 0:
                _save_checkpoint(last, model, optimizer, state)
            if max_steps is not None and steps_run >= max_steps:
                _save_checkpoint(last, model, optimizer, state)
                if bar is not None:
                    bar.close()
                return state
        if bar is not None:
            bar.close()
        record = {"epoch": epoch, "train_loss": loss_sum / max(n_seen, 1), "lr": optimizer.param_groups[0]["lr"],
                  "seconds": round(time.time() - t0, 1), "samples_per_s": round(n_seen / max(time.time() - t0, 1e-9), 1)}
        for name, bank in val_banks.items():
            rep = classification_report(predict_logits(model, bank), bank.labels)
            record[name] = {k: rep[k] for k in ("top1", "top5", "balanced_top1", "n")}
        score = SELECTION[cfg.select](record[first_val])
        extra = {"sem_metric.trained_epochs": str(epoch + 1)}
        if keep_epochs:
            save_classifier_weights(model, out / f"epoch_{epoch:03d}.safetensors", extra)
        if state["best"] is None or score > state["best"]["score"]:
            sha = save_classifier_weights(model, out / "best.safetensors", extra)
            state["best"] = {"epoch": epoch, "score": score, "metric": f"{first_val}:{cfg.select}", "sha256": sha}
        record["best"] = state["best"]
        with open(out / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), file=sys.stderr)
        state["epoch"] = epoch + 1
        state["step_in_epoch"] = 0
        _save_checkpoint(last, model, optimizer, state)
    return state


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: train (or resume) the Sem shape classifier."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True, type=Path, nargs="+", help="training ShapeBank .npz files (concatenated)")
    p.add_argument("--val", required=True, type=Path, nargs="+", help="validation banks; the first selects the best")
    p.add_argument("--out", required=True, type=Path, help="run directory (checkpoints, logs, best.safetensors)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    for f, default in asdict(TrainConfig()).items():
        p.add_argument("--" + f.replace("_", "-"), type=type(default), default=None)
    p.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke tests)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--keep-epochs", action="store_true", help="also save each epoch's weights")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {f: getattr(args, f) for f in asdict(TrainConfig()) if getattr(args, f) is not None}
    cfg = replace(PRESETS[args.preset], **overrides)
    train_bank = ShapeBank.concat([ShapeBank.load(path) for path in args.train])
    val_banks = {path.stem: ShapeBank.load(path) for path in args.val}
    state = train(train_bank, val_banks, cfg, args.out, args.checkpoint_every, args.max_steps, not args.no_progress,
                  args.keep_epochs)
    print(json.dumps({"best": state["best"], "epochs_done": state["epoch"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
