"""Context ring and the classes Denoise Activation allows in a box (paper Sec. 3.2, Eqs. 3-4); torch-free.

The mask map ``M`` is dilated with a 3x3 all-ones kernel; the one-pixel ring around the mask is
``M^1 = M^d - M`` (Eq. 3), clipped at the image border. The noise filter
``f^N = min(sum_ij P^u . M^1 + onehot(l^t), 1)`` (Eq. 4) marks every class that occurs on that ring,
plus the target label: the classes that may legitimately appear inside the inpainted area.

:func:`ring` is the single implementation of Eq. 3. It uses only slicing and bitwise operators, so the
same code runs on numpy arrays (:func:`ring_mask`, :func:`context_classes`, here) and on torch tensors
(:func:`sem_metric.labelmap.context_torch.context_filter`, the batched ``f^N`` used by DA training).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..errors import InputError
from .box import Box, BoxLike, as_label, as_label_map, box_mask

__all__ = ["ring", "ring_mask", "context_classes"]


def ring(masks: Any) -> Any:
    """Eq. 3 for a batch: the ring ``M^1 = dilate3x3(M) - M`` of bool masks ``(..., H, W)``.

    ``masks`` is a bool numpy array or a bool torch tensor (on any device); the result has the same type.
    The 3x3 dilation is separable (rows, then columns) and does not wrap around, so it is clipped at the
    image border. ``m | m`` makes a new array of the input's own type without naming numpy or torch.
    """
    rows = masks | masks
    rows[..., 1:, :] |= masks[..., :-1, :]
    rows[..., :-1, :] |= masks[..., 1:, :]
    dilated = rows | rows
    dilated[..., :, 1:] |= rows[..., :, :-1]
    dilated[..., :, :-1] |= rows[..., :, 1:]
    return dilated & ~masks


def ring_mask(shape_hw: Any, box: BoxLike) -> np.ndarray:
    """Dilated binary boundary ``M^1 = M^d - M`` of paper Eq. 3 for a box, as bool (H, W).

    ``M`` is the box mask; ``M^d`` its 3x3 dilation, clipped at the image border, so a box touching
    the border has no ring on that side and a box covering the whole image has an empty ring.
    """
    return ring(box_mask(shape_hw, box))


def context_classes(seg: Any, box: BoxLike, label: Optional[int] = None) -> np.ndarray:
    """Classes the noise filter ``f^N`` (paper Eq. 4) allows for one box, as sorted int64 class ids.

    These are the classes on the one-pixel ring ``M^1`` (Eq. 3) around ``box`` in ``seg`` (normally
    the incomplete map ``S^u``, identical to ``S^c`` outside the box), plus ``label`` when given: the
    nonzero entries of :func:`sem_metric.labelmap.context_torch.context_filter` for this sample. Pass the
    result as ``allowed`` to :func:`sem_metric.labelmap.metrics.noise_count` to count noise pixels with
    the DA definition. Class ids on the ring and the label must be non-negative.
    """
    seg_np = as_label_map(seg, "seg")
    b = Box.coerce(box)
    b.validate(seg_np.shape, where="box")
    on_ring = seg_np[ring(box_mask(seg_np.shape, b))].astype(np.int64)
    if on_ring.size and int(on_ring.min()) < 0:
        raise InputError(
            f"seg: class id {int(on_ring.min())} found on the context ring (Eq. 3) of box "
            f"{b.as_tuple()}; class ids must be non-negative"
        )
    extra = np.zeros(0, dtype=np.int64)
    if label is not None:
        lab = as_label(label)
        if lab < 0:
            raise InputError(f"label: class ids must be non-negative, got {lab}")
        extra = np.array([lab], dtype=np.int64)
    return np.unique(np.concatenate([on_ring, extra]))
