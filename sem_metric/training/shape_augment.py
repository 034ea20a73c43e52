"""Shape augmentation for training the Sem classifier (never used at inference).

Each transform keeps the sample a plausible *generated* object map for the same class: a box that is
looser than the object's tight bounding box (margin jitter), mirror images, one-pixel boundary noise
(erode / dilate) and mild anisotropic rescaling. All randomness comes from the ``numpy.random.Generator``
passed in, so a (seed, epoch, position) triple always yields the same sample.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _morph(mask: np.ndarray, dilate: bool) -> np.ndarray:
    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    if dilate:
        out = F.max_pool2d(t, 3, stride=1, padding=1)
    else:
        out = -F.max_pool2d(-t, 3, stride=1, padding=1)
    out = out[0, 0].numpy() > 0.5
    return out if out.any() else mask


def _rescale(mask: np.ndarray, fy: float, fx: float) -> np.ndarray:
    h, w = mask.shape
    nh, nw = max(1, round(h * fy)), max(1, round(w * fx))
    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    out = F.interpolate(t, size=(nh, nw), mode="bilinear", align_corners=False)[0, 0].numpy() >= 0.5
    return out if out.any() else mask


def augment_shape(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomly transform a tight binary object crop; returns the crop of O inside the (new) box."""
    m = mask.astype(bool)
    if rng.random() < 0.5:
        m = m[:, ::-1]
    if rng.random() < 0.3:
        m = _rescale(m, float(rng.uniform(0.85, 1.15)), float(rng.uniform(0.85, 1.15)))
    if rng.random() < 0.2 and min(m.shape) >= 8:
        m = _morph(m, dilate=bool(rng.random() < 0.5))
    if rng.random() < 0.6:
        side = max(m.shape)
        top, bottom, left, right = rng.integers(0, max(1, round(0.08 * side)) + 1, size=4)
        m = np.pad(m, ((top, bottom), (left, right)))
    return np.ascontiguousarray(m)
