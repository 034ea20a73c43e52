"""How ``(seg, box, label)`` becomes the classifier's 2-channel input: part of Sem's definition.

Preprocessing ``box-window-v1`` (recorded in every result as ``PREPROCESSING_VERSION``):

1. Inside the box only (Eq. 10): ``O = (seg[y0:y1, x0:x1] == label)`` and ``M = 1`` (an ``h x w``
   crop; everything outside the box is 0 in both channels, so nothing else of the map matters).
2. The crop is centred on a square zero canvas of side ``S = ceil(max(h, w) * WINDOW_SCALE)``
   (offsets ``(S - h) // 2``, ``(S - w) // 2``): aspect ratio is kept and a zero margin shows where the box
   ends, so the result does not depend on the box's position in the image nor on the image size.
3. The canvas is resized to ``INPUT_SIZE x INPUT_SIZE`` with bilinear interpolation, antialiased,
   ``align_corners=False`` (torch, float32, on the CPU). Values are in [0, 1] (fractional coverage on
   the object's edges) and are not thresholded.

The paper feeds whole-image maps; a box-centred window is used instead so that small boxes are not
reduced to a few pixels and the classifier sees the same scale for every box. The same function is
applied to the prediction and the ground truth, and to the training shapes.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..labelmap.box import _coerce_boxes, as_labels
from ..labelmap.metrics import _as_maps
from ..labelmap.target_object import object_crop
from ..version import PREPROCESSING_VERSION

__all__ = ["PREPROCESSING_VERSION", "INPUT_SIZE", "WINDOW_SCALE", "window_from_crop", "windows_from_crops",
           "classifier_input", "classifier_inputs"]

INPUT_SIZE = 96
WINDOW_SCALE = 1.2

#: windows_from_crops resizes at most this many canvas values (float32) per call: bounds its memory
_CANVAS_VALUES_PER_CALL = 1 << 24


def window_from_crop(object_crop: np.ndarray | torch.Tensor, input_size: int = INPUT_SIZE) -> torch.Tensor:
    """Steps 2-3 of ``box-window-v1`` on an ``h x w`` crop of O restricted to the box.

    ``object_crop`` holds values in [0, 1]; the box-mask channel M is 1 over the whole crop.
    Returns a float32 tensor ``(2, input_size, input_size)``: one window of :func:`windows_from_crops`.
    """
    return windows_from_crops([object_crop], input_size)[0]  # the one canvas builder


def _window_side(h: int, w: int) -> int:
    return math.ceil(max(h, w) * WINDOW_SCALE)


def windows_from_crops(object_crops: Sequence, input_size: int = INPUT_SIZE) -> torch.Tensor:
    """Batched :func:`window_from_crop`: ``(N, 2, S, S)`` float32, bit-identical to stacking the single form.

    Crops whose canvases have the same side are placed on one ``(n, 2, side, side)`` canvas and resized
    by a single ``F.interpolate`` call (the resize treats every image of a batch independently, with the
    same weights and the same arithmetic as one image at a time; tested), which removes most of the
    per-sample cost. Canvases are processed in chunks of at most ``_CANVAS_VALUES_PER_CALL`` values.
    """
    crops = []
    for c in object_crops:
        c = np.asarray(c)
        if c.ndim != 2 or c.shape[0] == 0 or c.shape[1] == 0:
            raise InputError(f"object crop must be a non-empty 2-D array, got shape {tuple(c.shape)}")
        crops.append(c)
    n = len(crops)
    out = torch.empty(n, 2, input_size, input_size, dtype=torch.float32)
    groups: dict = {}
    for i, c in enumerate(crops):
        groups.setdefault(_window_side(*c.shape), []).append(i)
    for side, members in groups.items():
        per_call = max(1, _CANVAS_VALUES_PER_CALL // (2 * side * side))
        for start in range(0, len(members), per_call):
            idx = members[start:start + per_call]
            canvas = torch.zeros(len(idx), 2, side, side, dtype=torch.float32)
            for j, i in enumerate(idx):
                h, w = crops[i].shape
                oy, ox = (side - h) // 2, (side - w) // 2
                canvas[j, 0, oy:oy + h, ox:ox + w] = torch.from_numpy(np.asarray(crops[i], dtype=np.float32))
                canvas[j, 1, oy:oy + h, ox:ox + w] = 1.0
            if side != input_size:
                canvas = F.interpolate(canvas, size=(input_size, input_size), mode="bilinear", align_corners=False,
                                       antialias=side > input_size).clamp_(0.0, 1.0)
            out[idx] = canvas
    return out


def classifier_input(seg, box, label: int, input_size: int = INPUT_SIZE) -> torch.Tensor:
    """``box-window-v1`` input of F for one sample (Eq. 10: O from ``seg`` inside ``box``, and M).

    ``seg`` is a 2-D integer label map (numpy or torch), ``box`` ``(x0, y0, x1, y1)`` with exclusive
    ends, ``label`` the target class id in the map's own id space. The object crop comes from
    :func:`sem_metric.labelmap.target_object.object_crop` (the one builder of O), which validates
    the inputs exactly like the label-map metrics. Returns ``(2, S, S)`` float32.
    """
    return window_from_crop(object_crop(seg, box, label), input_size)


def classifier_inputs(segs: Sequence, boxes: Sequence, labels: Sequence[int],
                      input_size: int = INPUT_SIZE) -> torch.Tensor:
    """Batched :func:`classifier_input` (Eq. 10 inputs): ``(N, 2, S, S)`` float32, identical to stacking the
    single form. ``segs`` is an (N, H, W) array / tensor or a sequence of 2-D maps (sizes may differ),
    validated like the label-map metrics; counts that differ are an :class:`InputError`. The windows are
    built by :func:`windows_from_crops` (one resize per canvas side)."""
    maps = _as_maps(segs, "segs")
    n = len(maps)
    b = _coerce_boxes(boxes, n)
    lab = as_labels(labels, n)
    return windows_from_crops([object_crop(maps[i], b[i], int(lab[i])) for i in range(n)], input_size)
