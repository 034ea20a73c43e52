"""Binary target object maps of Sem (paper Sec. 3.3, Eq. 10).

For a map ``S`` (the inpainted ``S^`` or the ground truth ``S^c``), a box and a target label ``l^t``,
the classifier input has two channels: the object map ``O`` (1 where ``S . M == l^t``, i.e. inside the
box and of the target class) and the positional channel ``M`` (the box mask of Sec. 3.1).
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from .box import Box, BoxLike, _coerce_boxes, _masks_from_array, _validate_boxes_array, as_label, as_label_map
from .errors import InputError

__all__ = ["object_map", "object_map_batch"]


def object_map(seg: Any, box: BoxLike, label: int) -> Tuple[np.ndarray, np.ndarray]:
    """Object map ``O`` and mask ``M`` of paper Sec. 3.3 / Eq. 10 for one map, both uint8 (H, W).

    ``O[i, j] = 1`` iff pixel (i, j) is inside ``box`` and ``seg[i, j] == label``; ``M`` is 1 inside
    the box. ``seg`` is a 2-D integer numpy array or torch tensor; it is not modified.
    """
    s = as_label_map(seg, "seg")
    lab = as_label(label)
    b = Box.coerce(box)
    b.validate(s.shape, where="box")
    m = np.zeros(s.shape, dtype=np.uint8)
    m[b.slices] = 1
    o = np.zeros(s.shape, dtype=np.uint8)
    o[b.slices] = s[b.slices] == lab
    return o, m


def object_map_batch(segs: Any, boxes: Any, labels: Any) -> Tuple[np.ndarray, np.ndarray]:
    """Batched :func:`object_map` (paper Eq. 10): uint8 (N, H, W) maps ``O`` and ``M``.

    ``segs`` is an (N, H, W) integer array / tensor, ``boxes`` (N, 4) or a sequence of boxes,
    ``labels`` N target labels. Vectorised with broadcast box masks; equal to :func:`object_map` on
    each sample.
    """
    from .metrics import _as_labels  # local: keeps the module graph flat

    s = as_label_map(segs, "segs", ndim=3)
    n = s.shape[0]
    b = _coerce_boxes(boxes, n)
    _validate_boxes_array(b, s.shape[1:])
    lab = _as_labels(labels, n)
    m = _masks_from_array(b, s.shape[1], s.shape[2])
    o = m & (s == lab[:, None, None])
    if o.shape != s.shape:  # pragma: no cover - defensive
        raise InputError("internal error: object map shape mismatch")
    return o.astype(np.uint8), m.astype(np.uint8)
