"""``f^N`` of Denoise Activation (paper Sec. 3.2, Eq. 4) as a batched torch tensor.

The one torch module of :mod:`sem_metric.labelmap`: DA (:mod:`sem_metric.reference.da`) multiplies
generator probabilities by ``f^N`` on the generator's device. The ring of Eq. 3 comes from
:func:`sem_metric.labelmap.context.ring`, the same code :func:`~sem_metric.labelmap.context.context_classes`
uses for one map.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .box import _is_tensor
from .context import ring

__all__ = ["context_filter"]


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if _is_tensor(x):
        return x.detach()
    try:
        return torch.as_tensor(np.asarray(x))
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{name}: cannot be converted to a tensor ({e})") from None


def _not_integer(t: torch.Tensor) -> bool:
    return t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool


def context_filter(segs: Any, masks: Any, labels: Any, num_classes: int) -> torch.Tensor:
    """Noise filter ``f^N`` of paper Eq. 4 for a batch: float tensor (N, num_classes).

    ``f^N[n, c] = 1`` iff class ``c`` occurs on the one-pixel ring ``M^1`` (Eq. 3) around
    ``masks[n]`` in ``segs[n]``, or ``c == labels[n]``; else 0. Equivalent to
    ``min(sum_ij onehot(segs) * ring + onehot(labels), 1)`` but scatters only the ring pixels instead of
    materialising the (N, K, H, W) one-hot tensor.

    Args:
        segs: (N, H, W) integer tensor (the incomplete maps ``S^u``; only ring pixels are read).
        masks: (N, H, W) float / bool / integer tensor with values 0/1: the mask maps ``M`` (any
            shape of mask, not only boxes).
        labels: (N,) integer tensor of target labels ``l^t`` in ``[0, num_classes)``.
        num_classes: ``k``, the number of semantic classes.

    Returns a float32 tensor on the device of ``segs``. Raises :class:`InputError` for bad shapes or
    dtypes, masks with values other than 0/1, labels or ring class ids outside ``[0, num_classes)``.
    ``sem_metric.reference.da.noise_filter`` wraps it.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise InputError(f"num_classes must be a positive int, got {num_classes!r}")
    num_classes = int(num_classes)
    segs_t = _as_tensor(segs, "segs")
    masks_t = _as_tensor(masks, "masks").to(segs_t.device)
    labels_t = _as_tensor(labels, "labels").to(segs_t.device)
    if segs_t.dim() != 3:
        raise InputError(f"segs: expected an (N, H, W) integer tensor, got shape {tuple(segs_t.shape)}")
    if _not_integer(segs_t):
        raise InputError(f"segs: label maps must have an integer dtype (pixel = class id), got {segs_t.dtype}")
    if tuple(masks_t.shape) != tuple(segs_t.shape):
        raise InputError(
            f"masks: shape {tuple(masks_t.shape)} differs from segs shape {tuple(segs_t.shape)}"
        )
    if masks_t.dtype != torch.bool:
        if masks_t.dtype.is_complex:
            raise InputError(f"masks: expected 0/1 values, got dtype {masks_t.dtype}")
        if bool(((masks_t != 0) & (masks_t != 1)).any()):
            raise InputError("masks: values must be 0 or 1 (binary mask maps M of Sec. 3.1)")
        masks_t = masks_t != 0
    n = segs_t.shape[0]
    if labels_t.dim() != 1 or labels_t.shape[0] != n:
        raise InputError(f"labels: expected shape ({n},), one target label per map, got {tuple(labels_t.shape)}")
    if _not_integer(labels_t):
        raise InputError(f"labels: expected integer class ids, got dtype {labels_t.dtype}")
    labels_t = labels_t.to(torch.int64)
    bad = (labels_t < 0) | (labels_t >= num_classes)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        raise InputError(f"labels[{i}] = {int(labels_t[i])} is outside [0, {num_classes})")
    on_ring = ring(masks_t)
    sample = torch.arange(n, device=segs_t.device).view(n, 1, 1).expand_as(segs_t)[on_ring]
    cls = segs_t[on_ring].to(torch.int64)
    bad = (cls < 0) | (cls >= num_classes)
    if bool(bad.any()):
        j = int(torch.nonzero(bad)[0, 0])
        raise InputError(
            f"sample {int(sample[j])}: class id {int(cls[j])} found on the context ring (Eq. 3) is "
            f"outside [0, {num_classes}); pass num_classes larger than every class id in the maps"
        )
    out = torch.zeros((n, num_classes), dtype=torch.float32, device=segs_t.device)
    out[sample, cls] = 1.0
    out[torch.arange(n, device=segs_t.device), labels_t] = 1.0
    return out
