"""Context ring and noise filter of Denoise Activation (paper Sec. 3.2, Eqs. 3-4).

The mask map ``M`` is dilated with a 3x3 all-ones kernel; the one-pixel ring around the mask is
``M^1 = M^d - M`` (Eq. 3), clipped at the image border. The noise filter
``f^N = min(sum_ij P^u . M^1 + onehot(l^t), 1)`` (Eq. 4) marks every class that occurs on that ring,
plus the target label: the classes that may legitimately appear inside the inpainted area.

:func:`context_filter` is the single implementation of ``f^N`` (batched, torch);
:func:`context_classes` (the same set as sorted class ids, for one map) and :func:`ring_mask` are
built on the same private helpers, so the ring is computed in exactly one place (:func:`_ring`).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .box import Box, BoxLike, _is_tensor, as_label, as_label_map, box_mask
from .errors import InputError

__all__ = ["ring_mask", "context_filter", "context_classes"]


def _ring(masks: torch.Tensor) -> torch.Tensor:
    """Eq. 3 for a batch: bool (N, H, W) ring ``M^1 = dilate3x3(M) - M`` of bool masks (N, H, W).

    ``max_pool2d`` with padding 1 pads with -inf, so the dilation is clipped at the image border.
    """
    m = masks.to(torch.float32).unsqueeze(1)
    dilated = F.max_pool2d(m, kernel_size=3, stride=1, padding=1)
    return (dilated - m).squeeze(1) > 0


def _filter_from_ring(
    segs: torch.Tensor, ring: torch.Tensor, labels: Optional[torch.Tensor], num_classes: int
) -> torch.Tensor:
    """Eq. 4 given the ring: (N, K) float, 1 for each class on ``ring`` of each sample (+ its label).

    Equivalent to ``min(sum_ij onehot(segs) * ring + onehot(labels), 1)`` but scatters only the ring
    pixels instead of materialising the (N, K, H, W) one-hot tensor.
    """
    n = segs.shape[0]
    sample = torch.arange(n, device=segs.device).view(n, 1, 1).expand_as(segs)[ring]
    cls = segs[ring].to(torch.int64)
    bad = (cls < 0) | (cls >= num_classes)
    if bool(bad.any()):
        j = int(torch.nonzero(bad)[0, 0])
        raise InputError(
            f"sample {int(sample[j])}: class id {int(cls[j])} found on the context ring (Eq. 3) is "
            f"outside [0, {num_classes}); pass num_classes larger than every class id in the maps"
        )
    out = torch.zeros((n, num_classes), dtype=torch.float32, device=segs.device)
    out[sample, cls] = 1.0
    if labels is not None:
        out[torch.arange(n, device=segs.device), labels] = 1.0
    return out


def ring_mask(shape_hw: Any, box: BoxLike) -> np.ndarray:
    """Dilated binary boundary ``M^1 = M^d - M`` of paper Eq. 3 for a box, as bool (H, W).

    ``M`` is the box mask; ``M^d`` its 3x3 dilation, clipped at the image border, so a box touching
    the border has no ring on that side and a box covering the whole image has an empty ring.
    """
    m = torch.from_numpy(box_mask(shape_hw, box))[None]
    return _ring(m)[0].numpy()


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if _is_tensor(x):
        return x.detach()
    try:
        return torch.as_tensor(np.asarray(x))
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{name}: cannot be converted to a tensor ({e})") from None


def context_filter(segs: Any, masks: Any, labels: Any, num_classes: int) -> torch.Tensor:
    """Noise filter ``f^N`` of paper Eq. 4 for a batch: float tensor (N, num_classes).

    ``f^N[n, c] = 1`` iff class ``c`` occurs on the one-pixel ring ``M^1`` (Eq. 3) around
    ``masks[n]`` in ``segs[n]``, or ``c == labels[n]``; else 0.

    Args:
        segs: (N, H, W) integer tensor (the incomplete maps ``S^u``; only ring pixels are read).
        masks: (N, H, W) float / bool / integer tensor with values 0/1: the mask maps ``M`` (any
            shape of mask, not only boxes).
        labels: (N,) integer tensor of target labels ``l^t`` in ``[0, num_classes)``.
        num_classes: ``k``, the number of semantic classes.

    Returns a float32 tensor on the device of ``segs``. Raises :class:`InputError` for bad shapes or
    dtypes, masks with values other than 0/1, labels or ring class ids outside ``[0, num_classes)``.
    This is the single implementation of ``f^N``; ``sem_metric.reference.da.noise_filter`` wraps it.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise InputError(f"num_classes must be a positive int, got {num_classes!r}")
    num_classes = int(num_classes)
    segs_t = _as_tensor(segs, "segs")
    masks_t = _as_tensor(masks, "masks").to(segs_t.device)
    labels_t = _as_tensor(labels, "labels").to(segs_t.device)
    if segs_t.dim() != 3:
        raise InputError(f"segs: expected an (N, H, W) integer tensor, got shape {tuple(segs_t.shape)}")
    if segs_t.dtype.is_floating_point or segs_t.dtype.is_complex or segs_t.dtype == torch.bool:
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
    if labels_t.dtype.is_floating_point or labels_t.dtype.is_complex or labels_t.dtype == torch.bool:
        raise InputError(f"labels: expected integer class ids, got dtype {labels_t.dtype}")
    labels_t = labels_t.to(torch.int64)
    bad = (labels_t < 0) | (labels_t >= num_classes)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        raise InputError(f"labels[{i}] = {int(labels_t[i])} is outside [0, {num_classes})")
    return _filter_from_ring(segs_t, _ring(masks_t), labels_t, num_classes)


def context_classes(seg: Any, box: BoxLike, label: Optional[int] = None) -> np.ndarray:
    """Classes the noise filter ``f^N`` (paper Eq. 4) allows for one box, as sorted int64 class ids.

    These are the classes on the one-pixel ring ``M^1`` (Eq. 3) around ``box`` in ``seg`` (normally
    the incomplete map ``S^u``, identical to ``S^c`` outside the box), plus ``label`` when given.
    Computed with the same code as :func:`context_filter`. Pass the result as ``allowed`` to
    :func:`sem_metric.metrics.noise_count` to count noise pixels with the DA definition.
    Class ids on the ring must be non-negative.
    """
    seg_np = as_label_map(seg, "seg")
    b = Box.coerce(box)
    b.validate(seg_np.shape, where="box")
    lab = None
    if label is not None:
        lab = as_label(label)
        if lab < 0:
            raise InputError(f"label: class ids must be non-negative, got {lab}")
    segs = torch.from_numpy(np.ascontiguousarray(seg_np, dtype=np.int64))[None]
    ring = _ring(torch.from_numpy(box_mask(seg_np.shape, b))[None])
    on_ring = segs[ring]
    if on_ring.numel() and int(on_ring.min()) < 0:
        raise InputError(
            f"seg: class id {int(on_ring.min())} found on the context ring (Eq. 3) of box "
            f"{b.as_tuple()}; class ids must be non-negative"
        )
    extra = on_ring.new_tensor([] if lab is None else [lab])
    # compact ids (so that huge class ids such as panoptic RGB codes need no huge filter vector)
    vals = torch.unique(torch.cat([on_ring, extra]))
    if vals.numel() == 0:
        return np.zeros(0, dtype=np.int64)
    compact = torch.zeros_like(segs)
    compact[ring] = torch.searchsorted(vals, on_ring)
    labels = None if lab is None else torch.searchsorted(vals, extra)
    f = _filter_from_ring(compact, ring, labels, int(vals.numel()))
    return vals[f[0] > 0].numpy().astype(np.int64)
