"""Binary target-object map ``O`` and box mask ``M`` of Sem (paper Sec. 3.3, Eq. 10): the one builder.

For a map ``S`` (the inpainted ``S^`` or the ground truth ``S^c``), a box and a target label ``l^t``,
the classifier input has two channels: the object map ``O = 1[S_p = l^t and p in B]`` (inside the box
and of the target class) and the positional channel ``M`` (the box mask of Sec. 3.1).

* :func:`object_masks` is the definition, ``O = (S == l^t) & M``, for a batch of maps and any masks; it
  uses only comparisons and broadcasting, so it serves numpy arrays and torch tensors alike (TwoSM's
  ``O^c`` in :mod:`sem_metric.reference.twosm` is built with it).
* :func:`object_crop` is ``O`` restricted to the box window (where ``M = 1``): what Sem's preprocessing
  (:mod:`sem_metric.sem.preprocess`) feeds the classifier and what the evaluation pipeline compares to
  detect identical inputs; it also says whether the target is present at all.
* :func:`object_map` / :func:`object_map_batch` return the full-size ``(O, M)`` pair.
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from .box import Box, BoxLike, _coerce_boxes, _masks_from_array, _validate_boxes_array, as_label, as_label_map, as_labels

__all__ = ["object_masks", "object_crop", "object_map", "object_map_batch"]


def object_masks(segs: Any, masks: Any, labels: Any) -> Any:
    """Eq. 10's ``O = (S == l^t) & M`` for a batch: bool ``(N, H, W)``.

    ``segs`` (N, H, W) integer maps, ``masks`` (N, H, W) 0/1 or bool masks ``M``, ``labels`` (N,) target
    labels; all numpy arrays, or all torch tensors (the result then is a tensor on their device). No
    validation: the public wrappers below validate their inputs first.
    """
    return (segs == labels[:, None, None]) & (masks > 0)


def object_crop(seg: Any, box: BoxLike, label: int) -> np.ndarray:
    """``O`` of Eq. 10 inside the box window only: bool ``(h, w)`` = ``seg[y0:y1, x0:x1] == label``.

    ``M`` is 1 on the whole window, so this crop and the box size determine the classifier input.
    ``seg`` is a 2-D integer numpy array or torch tensor (validated like the label-map metrics),
    ``box`` ``(x0, y0, x1, y1)`` with exclusive ends inside the map, ``label`` an integer class id.
    ``object_crop(...).any()`` is False when the target class is absent from the box.
    """
    s = as_label_map(seg, "seg")
    lab = as_label(label)
    b = Box.coerce(box)
    b.validate(s.shape, where="box")
    return s[b.slices] == lab


def object_map(seg: Any, box: BoxLike, label: int) -> Tuple[np.ndarray, np.ndarray]:
    """Object map ``O`` and mask ``M`` of paper Sec. 3.3 / Eq. 10 for one map, both uint8 (H, W).

    ``O[i, j] = 1`` iff pixel (i, j) is inside ``box`` and ``seg[i, j] == label``; ``M`` is 1 inside
    the box. ``seg`` is a 2-D integer numpy array or torch tensor; it is not modified.
    """
    s = as_label_map(seg, "seg")
    o, m = object_map_batch(s[None], [Box.coerce(box)], [as_label(label)])
    return o[0], m[0]


def object_map_batch(segs: Any, boxes: Any, labels: Any) -> Tuple[np.ndarray, np.ndarray]:
    """Batched :func:`object_map` (paper Eq. 10): uint8 (N, H, W) maps ``O`` and ``M``.

    ``segs`` is an (N, H, W) integer array / tensor, ``boxes`` (N, 4) or a sequence of boxes,
    ``labels`` N target labels. Vectorised with broadcast box masks; equal to :func:`object_map` on
    each sample.
    """
    s = as_label_map(segs, "segs", ndim=3)
    n = s.shape[0]
    b = _coerce_boxes(boxes, n)
    _validate_boxes_array(b, s.shape[1:])
    m = _masks_from_array(b, s.shape[1], s.shape[2])
    o = object_masks(s, m, as_labels(labels, n))
    return o.astype(np.uint8), m.astype(np.uint8)
