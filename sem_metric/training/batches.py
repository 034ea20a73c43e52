"""What each training step of the shape classifier F (Sec. 3.3) sees: the class-balanced order of an
epoch, the augmented ``box-window-v1`` batches (one rank's slice of every global batch), and F's logits
on a whole bank for validation. Pure functions of (seed, epoch, position): a resumed or multi-process
run builds exactly the batches a single uninterrupted process builds."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..sem.preprocess import window_from_crop
from .distributed import shard_bounds
from .shape_augment import augment_shape
from .shape_bank import ShapeBank

__all__ = ["epoch_order", "make_batch", "predict_logits", "EpochBatches", "iter_batches"]


def epoch_order(labels: np.ndarray, cfg, epoch: int) -> np.ndarray:
    """Class-balanced sample order of one epoch (``epoch_size`` draws), a pure function of (seed, epoch)."""
    counts = np.bincount(labels, minlength=int(labels.max()) + 1).astype(np.float64)
    weights = counts[labels] ** (-cfg.balance_power)
    rng = np.random.default_rng([cfg.seed, epoch, 0])
    size = cfg.epoch_size or len(labels)
    return rng.choice(len(labels), size=size, replace=True, p=weights / weights.sum())


def make_batch(bank: ShapeBank, indices: np.ndarray, augment: bool, seed_key: tuple[int, ...] = (),
               recipe: str = "v1", offset: int = 0) -> tuple:
    """Stack the classifier inputs (``box-window-v1``) and labels of ``indices``; augmentation is seeded.

    The augmentation of ``indices[k]`` is seeded by ``(*seed_key, offset + k)``: a rank that builds
    the slice starting at position ``offset`` of a global batch gets exactly the samples a single
    process would build for those positions.
    """
    xs = []
    for pos, i in enumerate(indices, start=offset):
        mask = bank.masks[int(i)]
        if augment:
            mask = augment_shape(mask, np.random.default_rng([*seed_key, pos]), recipe)
        xs.append(window_from_crop(mask))
    return torch.stack(xs), torch.as_tensor(bank.labels[np.asarray(indices, dtype=np.int64)])


@torch.inference_mode()
def predict_logits(model, bank: ShapeBank, batch_size: int = 128) -> np.ndarray:
    """Logits of F for every shape of a bank (no augmentation), in bank order."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(bank), batch_size):
        x, _ = make_batch(bank, np.arange(start, min(start + batch_size, len(bank))), augment=False)
        out.append(model(x.to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.num_classes), np.float32)


class EpochBatches(torch.utils.data.Dataset):
    """One rank's slice of every global batch of one epoch; item ``step`` is ``(x, y, global batch size)``.

    The global batch ``step`` is ``order[step * batch_size:(step + 1) * batch_size]`` whatever the world
    size; rank ``r`` of ``w`` builds its contiguous slice (:func:`~sem_metric.training.distributed.shard_bounds`)
    with the augmentation seeds of the slice's global positions, so the union over ranks is the batch
    a single process builds. Usable as a map-style dataset by DataLoader workers (``--workers``).
    """

    def __init__(self, bank: ShapeBank, order: np.ndarray, cfg, epoch: int, rank: int = 0,
                 world_size: int = 1) -> None:
        self.bank, self.order, self.cfg, self.epoch = bank, order, cfg, epoch
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.cfg.batch_size)

    def __getitem__(self, step: int):
        idx = self.order[step * self.cfg.batch_size:(step + 1) * self.cfg.batch_size]
        lo, hi = shard_bounds(len(idx), self.rank, self.world_size)
        x, y = make_batch(self.bank, idx[lo:hi], augment=True, seed_key=(self.cfg.seed, self.epoch, step + 1),
                          recipe=self.cfg.augment, offset=lo)
        return x, y, len(idx)


def _one_thread_worker(_worker_id: int) -> None:
    torch.set_num_threads(1)  # augmentation is per-sample numpy/scipy; torch threads would only contend


def iter_batches(dataset: EpochBatches, start: int, workers: int, pin_memory: bool):
    """``(step, item)`` from ``start`` on, in order; built in this process or by ``workers`` DataLoader workers."""
    if workers <= 0:
        for step in range(start, len(dataset)):
            yield step, dataset[step]
        return
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, sampler=range(start, len(dataset)),
                                         num_workers=workers, pin_memory=pin_memory,
                                         worker_init_fn=_one_thread_worker, prefetch_factor=4)
    yield from zip(range(start, len(dataset)), loader)
