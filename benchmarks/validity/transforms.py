"""Fig. 6 transforms, applied to the object inside its box (a bool array of the box's size).

Every transform keeps the box fixed and clips the result to it (what falls outside is lost):

* ``hflip`` / ``vflip``: mirror the box content (the object is centred in its box, so this mirrors the
  object about its own centre);
* ``rotate`` (degrees): rotation about the box centre, nearest neighbour, counter-clockwise;
* ``erode`` / ``dilate`` (px): binary erosion / dilation with a disk of that radius
  (``x^2 + y^2 <= r^2``); outside the box counts as background;
* ``shift`` (fraction of the box side): translation by ``round(f * side)`` px along one axis direction
  (left / right / up / down, drawn once per shape from the study's seed);
* ``scale`` (factor): zoom about the box centre, nearest neighbour;
* ``fill``: the whole box set to the label (``S^u``, the "union" prediction).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

FLIPS = ("hflip", "vflip")
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))  # (dy, dx) unit steps: right, left, down, up

# the study's levels (Sec. 4.4 / Fig. 6, extended)
LEVELS = {
    "hflip": [None],
    "vflip": [None],
    "rotate": list(range(15, 181, 15)),
    "erode": list(range(1, 8)),
    "dilate": list(range(1, 8)),
    "shift": [0.05, 0.10, 0.15, 0.20, 0.25, 0.30],
    "scale": [0.7, 0.8, 0.9, 1.1, 1.2, 1.3],
    "fill": [None],
}


def disk(radius: int) -> np.ndarray:
    r = int(radius)
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y) <= r * r


def _affine_about_centre(b: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Output pixel o samples input ``matrix @ (o - c) + c`` (c = box centre), nearest, zero outside."""
    c = (np.array(b.shape, dtype=np.float64) - 1.0) / 2.0
    offset = c - matrix @ c
    out = ndimage.affine_transform(b.astype(np.uint8), matrix, offset=offset, order=0, mode="constant", cval=0)
    return out.astype(bool)


def rotate(b: np.ndarray, degrees: float) -> np.ndarray:
    t = np.deg2rad(degrees)
    # inverse map (output -> input) of a counter-clockwise rotation in (row, col) coordinates
    m = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    if degrees % 90 == 0:
        m = np.round(m)
    return _affine_about_centre(b, m)


def scale(b: np.ndarray, factor: float) -> np.ndarray:
    return _affine_about_centre(b, np.eye(2) / float(factor))


def shift(b: np.ndarray, fraction: float, direction: int) -> np.ndarray:
    dy, dx = DIRECTIONS[direction]
    h, w = b.shape
    sy, sx = dy * round(fraction * h), dx * round(fraction * w)
    out = np.zeros_like(b)
    ys, yd = (slice(0, h - sy), slice(sy, h)) if sy >= 0 else (slice(-sy, h), slice(0, h + sy))
    xs, xd = (slice(0, w - sx), slice(sx, w)) if sx >= 0 else (slice(-sx, w), slice(0, w + sx))
    out[yd, xd] = b[ys, xs]
    return out


def apply(b: np.ndarray, name: str, level=None, direction: int = 0) -> np.ndarray:
    """Transform ``name`` at ``level`` (see :data:`LEVELS`) of box content ``b`` (bool, box-sized)."""
    b = np.asarray(b, dtype=bool)
    if name == "hflip":
        return b[:, ::-1].copy()
    if name == "vflip":
        return b[::-1, :].copy()
    if name == "rotate":
        return rotate(b, level)
    if name == "erode":
        return ndimage.binary_erosion(b, structure=disk(level), border_value=0)
    if name == "dilate":
        return ndimage.binary_dilation(b, structure=disk(level))
    if name == "shift":
        return shift(b, level, direction)
    if name == "scale":
        return scale(b, level)
    if name == "fill":
        return np.ones_like(b)
    raise ValueError(f"unknown transform {name!r}")


def conditions() -> list[tuple[str, object]]:
    """All (transform, level) pairs of the study, in a fixed order."""
    return [(name, lv) for name, levels in LEVELS.items() for lv in levels]
