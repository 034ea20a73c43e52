"""Shape augmentation for training the Sem classifier (never used at inference).

Each transform keeps the sample a plausible *generated* object map for the same class. Two named
recipes (``AUGMENTATIONS``; the name is part of a training config, so a run is reproducible):

* ``v1`` (``sem-effb0-v1``): a box looser than the object's tight bounding box (margin jitter), mirror
  images, one-pixel boundary noise (erode / dilate) and mild anisotropic rescaling.
* ``v2``: what inpainting outputs look like, on top of ``v1``: small rotations (+-15 deg), wobbly
  contours (a smoothed random field added to the blurred mask), elastic warps, thin-part removal
  (morphological opening), partial occlusion (an ellipse cut out of the object), truncation at a box
  edge, and erosion / dilation of up to 2 px.
* ``v3-street`` (issue #25): ``v2``, then street-scene effects on the object as Eq. 10 sees it: a
  same-class neighbour pasted across the box edge, truncation at an image border, thin occluders.

All randomness comes from the ``numpy.random.Generator`` passed in, so a (seed, epoch, position) triple
always yields the same sample.
"""
from __future__ import annotations

from typing import Callable, Dict

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


def _loose_box(m: np.ndarray, rng: np.random.Generator, max_frac: float) -> np.ndarray:
    side = max(m.shape)
    top, bottom, left, right = rng.integers(0, max(1, round(max_frac * side)) + 1, size=4)
    return np.pad(m, ((top, bottom), (left, right)))


def augment_shape_v1(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``v1`` recipe: flip, +-15% anisotropic scale, 3x3 erode/dilate, loose-box margins up to 8%."""
    m = mask.astype(bool)
    if rng.random() < 0.5:
        m = m[:, ::-1]
    if rng.random() < 0.3:
        m = _rescale(m, float(rng.uniform(0.85, 1.15)), float(rng.uniform(0.85, 1.15)))
    if rng.random() < 0.2 and min(m.shape) >= 8:
        m = _morph(m, dilate=bool(rng.random() < 0.5))
    if rng.random() < 0.6:
        m = _loose_box(m, rng, 0.08)
    return np.ascontiguousarray(m)


# ---------------------------------------------------------------------------------------------- v2
def _tight(m: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Tight crop of ``m``; ``fallback`` when a transform left nothing."""
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return fallback
    cols = np.flatnonzero(m.any(axis=0))
    return m[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]


def _rotate(m: np.ndarray, degrees: float) -> np.ndarray:
    from scipy import ndimage

    pad = np.pad(m.astype(np.float32), 2)
    out = ndimage.rotate(pad, degrees, order=1, reshape=True, mode="constant", cval=0.0, prefilter=False)
    return _tight(out >= 0.5, m)


def _wobble(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contour noise: threshold (blurred mask + a smooth random field that acts near the contour only)."""
    from scipy import ndimage

    pad = np.pad(m.astype(np.float32), 4)
    sigma = float(rng.uniform(1.5, 4.0))
    field = ndimage.gaussian_filter(rng.standard_normal(pad.shape).astype(np.float32), sigma)
    field *= float(rng.uniform(0.3, 0.6)) / max(float(np.abs(field).max()), 1e-6)
    blurred = ndimage.gaussian_filter(pad, 1.5)
    edge = 4.0 * blurred * (1.0 - blurred)  # 1 on the contour, 0 deep inside or outside: no speckle holes
    return _tight(blurred + field * edge >= 0.5, m)


def _elastic(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth elastic warp, displacement up to a few percent of the object size."""
    from scipy import ndimage

    pad = np.pad(m.astype(np.float32), 3)
    h, w = pad.shape
    sigma = max(h, w) / float(rng.uniform(4.0, 8.0))
    alpha = max(h, w) * float(rng.uniform(0.02, 0.06))
    dy = ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)).astype(np.float32), sigma)
    dx = ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)).astype(np.float32), sigma)
    dy *= alpha / max(float(np.abs(dy).max()), 1e-6)
    dx *= alpha / max(float(np.abs(dx).max()), 1e-6)
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    out = ndimage.map_coordinates(pad, [yy + dy, xx + dx], order=1, mode="constant", cval=0.0)
    return _tight(out >= 0.5, m)


def _morph_radius(m: np.ndarray, radius: int, op: str) -> np.ndarray:
    from scipy import ndimage

    struct = ndimage.generate_binary_structure(2, 1)
    pad = np.pad(m, radius + 1)
    if op == "dilate":
        out = ndimage.binary_dilation(pad, struct, iterations=radius)
    elif op == "erode":
        out = ndimage.binary_erosion(pad, struct, iterations=radius)
    else:  # opening: removes parts thinner than ~2 * radius (legs, handles, poles)
        out = ndimage.binary_opening(pad, struct, iterations=radius)
    return _tight(out, m)


def _occlude(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cut an ellipse (10-30% of the box area) centred on an object pixel."""
    h, w = m.shape
    ys, xs = np.nonzero(m)
    k = int(rng.integers(len(ys)))
    frac = float(rng.uniform(0.1, 0.3))
    ry = max(1.0, np.sqrt(frac * h * w / np.pi) * float(rng.uniform(0.6, 1.6)))
    rx = max(1.0, frac * h * w / (np.pi * ry))
    yy, xx = np.ogrid[:h, :w]
    hole = ((yy - ys[k]) / ry) ** 2 + ((xx - xs[k]) / rx) ** 2 <= 1.0
    out = m & ~hole
    return out if out.sum() >= 0.4 * m.sum() else m


def _cut_side(m: np.ndarray, rng: np.random.Generator, low: float, high: float, min_keep: int) -> np.ndarray:
    """``m`` with a share in ``[low, high)`` of its height or width cut off one side (drawn: the side, then
    the share); at least ``min_keep`` rows / columns stay on the bottom and right cuts."""
    h, w = m.shape
    side = int(rng.integers(4))
    frac = float(rng.uniform(low, high))
    if side == 0:
        return m[int(round(frac * h)):, :]
    if side == 1:
        return m[: max(min_keep, h - int(round(frac * h))), :]
    if side == 2:
        return m[:, int(round(frac * w)):]
    return m[:, : max(min_keep, w - int(round(frac * w)))]


def _truncate(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cut 5-30% off one side: the object now ends at the box edge."""
    out = _cut_side(m, rng, 0.05, 0.3, 0)
    return _tight(out, m) if out.size and out.any() else m


def augment_shape_v2(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``v2`` recipe (see the module docstring); returns the crop of O inside the (new) box."""
    m = np.ascontiguousarray(mask.astype(bool))
    if rng.random() < 0.5:
        m = m[:, ::-1]
    if rng.random() < 0.35:
        m = _rotate(m, float(rng.uniform(-15.0, 15.0)))
    if rng.random() < 0.35:
        m = _rescale(m, float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.8, 1.2)))
    big = min(m.shape) >= 12
    if big and rng.random() < 0.25:
        m = _wobble(m, rng)
    if big and rng.random() < 0.2:
        m = _elastic(m, rng)
    if big and rng.random() < 0.3:
        op = ("erode", "dilate", "open")[int(rng.integers(3))]
        m = _morph_radius(m, int(rng.integers(1, 3)), op)
    if big and rng.random() < 0.15:
        m = _occlude(m, rng)
    if big and rng.random() < 0.15:
        m = _truncate(m, rng)
    if rng.random() < 0.6:
        m = _loose_box(m, rng, 0.1)
    return np.ascontiguousarray(m)


# ------------------------------------------------------------------------------------ v3-street
def _border_cut(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Truncation at an image border: 15-50% of the object cut off one side (the box ends at the border)."""
    out = _cut_side(m, rng, 0.15, 0.5, 1)
    return _tight(out, m) if out.size and out.sum() >= 0.3 * m.sum() else m


def _thin_occluders(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One or two thin occluders (a pole, a sign post, a railing bar) cut through the object: straight
    bands 3-8% of the box side wide, mostly vertical, tilted up to 10 degrees."""
    h, w = m.shape
    out = m.copy()
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    for _ in range(int(rng.integers(1, 3))):
        vertical = rng.random() < 0.75
        tilt = np.tan(np.deg2rad(float(rng.uniform(-10.0, 10.0))))
        if vertical:
            width = max(1.0, float(rng.uniform(0.03, 0.08)) * w)
            c = float(rng.uniform(0.15, 0.85)) * w
            band = np.abs(xx - (c + tilt * (yy - h / 2))) <= width / 2
        else:
            width = max(1.0, float(rng.uniform(0.03, 0.08)) * h)
            c = float(rng.uniform(0.15, 0.85)) * h
            band = np.abs(yy - (c + tilt * (xx - w / 2))) <= width / 2
        out &= ~band
    return _tight(out, m) if out.sum() >= 0.5 * m.sum() else m


def _paste_neighbour(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A same-class neighbour across the box edge: a rescaled (and maybe mirrored) copy of the object,
    placed beside it so that 10-45% of the box's width (or height) overlaps, clipped to the box (Eq. 10
    sees the neighbour's pixels inside the target's box only)."""
    h, w = m.shape
    other = m[:, ::-1] if rng.random() < 0.5 else m
    s = float(rng.uniform(0.75, 1.25))
    other = _rescale(other, s * float(rng.uniform(0.9, 1.1)), s)
    oh, ow = other.shape
    canvas = np.zeros((h + 2 * oh, w + 2 * ow), bool)
    canvas[oh: oh + h, ow: ow + w] = m
    overlap = float(rng.uniform(0.1, 0.45))
    horizontal = rng.random() < 0.75  # rows of parked cars and crowds line up sideways
    if horizontal:
        dy = oh + int(round(float(rng.uniform(-0.15, 0.15)) * h + (h - oh) * float(rng.uniform(0.0, 1.0))))
        dx = (ow + w - int(round(overlap * w))) if rng.random() < 0.5 else int(round(overlap * w))
    else:
        dx = ow + int(round((w - ow) * float(rng.uniform(0.0, 1.0))))
        dy = (oh + h - int(round(overlap * h))) if rng.random() < 0.5 else int(round(overlap * h))
    dy = min(max(dy, 0), canvas.shape[0] - oh)
    dx = min(max(dx, 0), canvas.shape[1] - ow)
    canvas[dy: dy + oh, dx: dx + ow] |= other
    return np.ascontiguousarray(canvas[oh: oh + h, ow: ow + w])


def augment_shape_v3_street(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``v3-street`` recipe (issue #25): ``v2``, then what street-scene label maps do to an object as Eq.
    10 sees it, each with its own probability: a same-class neighbour pasted across the box edge
    (0.3), truncation at an image border (0.2), thin occluders cutting the object (0.2)."""
    m = augment_shape_v2(mask, rng)
    big = min(m.shape) >= 12
    if rng.random() < 0.3:
        m = _paste_neighbour(m, rng)
    if big and rng.random() < 0.2:
        m = _border_cut(m, rng)
    if big and rng.random() < 0.2:
        m = _thin_occluders(m, rng)
    return np.ascontiguousarray(m)


#: recipe name -> function(mask, rng) -> crop; the name is recorded in the training config
AUGMENTATIONS: Dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "v1": augment_shape_v1,
    "v2": augment_shape_v2,
    "v3-street": augment_shape_v3_street,
}


def augment_shape(mask: np.ndarray, rng: np.random.Generator, recipe: str = "v1") -> np.ndarray:
    """Randomly transform a tight binary object crop with a named recipe (``AUGMENTATIONS``)."""
    try:
        fn = AUGMENTATIONS[recipe]
    except KeyError:
        raise ValueError(f"unknown augmentation recipe {recipe!r}; known: {sorted(AUGMENTATIONS)}") from None
    return fn(mask, rng)
