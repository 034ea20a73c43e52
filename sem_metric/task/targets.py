"""Target objects, boxes and incomplete maps of SISM samples (paper Sec. 3, 3.1): the one implementation.

A SISM sample removes one target object from a complete label map S^c: its box ``b`` is the object's
tight bounding box (x0, y0, x1, y1; x1/y1 exclusive), ``l^t`` its class, ``M`` the box mask, and the
incomplete map S^u is S^c with the box filled with ``l^t`` (Sec. 3), the input an inpainting model takes.
Objects are dataset instances or connected components of a class (``scipy.ndimage.label``).

Torch-free; :mod:`sem_metric.task.build` and :mod:`sem_metric.reference.sism_data` use it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["Target", "resize_nearest", "find_targets", "filter_targets", "select_one", "incomplete_map",
           "box_mask", "min_area_pixels"]


@dataclass(frozen=True)
class Target:
    """A target object (Sec. 3): tight box ``(x0, y0, x1, y1)`` (x1/y1 exclusive), label l^t, object area
    in pixels, and the instance id it came from (0 for a connected component)."""

    box: Tuple[int, int, int, int]
    label: int
    area: int
    instance: int = 0

    @property
    def box_area(self) -> int:
        """``|B| = (x1 - x0) (y1 - y0)``."""
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def resize_nearest(seg: np.ndarray, size_hw: Optional[Sequence[int]]) -> np.ndarray:
    """Resize a label map (or instance map) to ``size_hw`` = (H, W) with nearest neighbour (part of a
    protocol's definition, Sec. 4.1 working resolution); ``None`` or ``"native"`` keeps the size.

    Exact index mapping on pixel centres (source row ``floor((i + 0.5) * H_in / H)``), independent of any
    image library. Returns int64.
    """
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise InputError(f"resize_nearest: expected a 2-D label map, got shape {seg.shape}")
    if size_hw is None or isinstance(size_hw, str) or tuple(seg.shape) == tuple(size_hw):
        return seg.astype(np.int64, copy=True)
    h, w = int(size_hw[0]), int(size_hw[1])
    if h <= 0 or w <= 0:
        raise InputError(f"resize_nearest: size must be positive, got {size_hw}")
    ys = np.minimum(((np.arange(h) + 0.5) * seg.shape[0] / h).astype(np.int64), seg.shape[0] - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * seg.shape[1] / w).astype(np.int64), seg.shape[1] - 1)
    return seg[ys[:, None], xs[None, :]].astype(np.int64)


def _bbox(rows: np.ndarray, cols: np.ndarray) -> Tuple[int, int, int, int]:
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def connected_components(binary: np.ndarray, connectivity: int = 8
                         ) -> List[Tuple[Tuple[slice, slice], np.ndarray]]:
    """The ``connectivity``-connected components (8 or 4) of a binary map: the one extractor of the package.

    Returns, in ``scipy.ndimage.label`` order, each component's tight slices ``(rows, cols)`` and its mask
    inside them (an object shape, Sec. 3; used for SISM targets and for classifier training shapes).
    """
    from scipy import ndimage

    if connectivity not in (4, 8):
        raise InputError(f"connectivity must be 4 or 8, got {connectivity}")
    structure = np.ones((3, 3), bool) if connectivity == 8 else ndimage.generate_binary_structure(2, 1)
    lab, _ = ndimage.label(np.asarray(binary, bool), structure=structure)
    return [(sl, lab[sl] == k) for k, sl in enumerate(ndimage.find_objects(lab), start=1) if sl is not None]


def find_targets(seg: np.ndarray, labels: Iterable[int], instances: Optional[np.ndarray] = None,
                 connectivity: int = 8) -> List[Target]:
    """Every target object of the given classes in one label map (Sec. 3: B = {b, l^t}).

    With ``instances`` (same shape as ``seg``), each instance id > 0 is one object of every target class
    its pixels carry (pixels of the instance with another class are not part of it). Without it, every
    ``connectivity``-connected component (8 or 4, ``scipy.ndimage.label``) of a target class is one
    object. The box is the object's tight box, x1/y1 exclusive. Deterministic order: by label, then by
    (y0, x0, x1, y1), then instance id.
    """
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise InputError(f"find_targets: expected a 2-D label map, got shape {seg.shape}")
    if connectivity not in (4, 8):
        raise InputError(f"find_targets: connectivity must be 4 or 8, got {connectivity}")
    inst = None
    if instances is not None:
        inst = np.asarray(instances)
        if inst.shape != seg.shape:
            raise InputError(f"find_targets: instance map shape {inst.shape} != label map shape {seg.shape}")
    out: List[Target] = []
    for label in sorted({int(v) for v in labels}):
        cls = seg == label
        if not cls.any():
            continue
        found: List[Target] = []
        if inst is not None:
            rows, cols = np.nonzero(cls & (inst > 0))
            ids = inst[rows, cols]
            order = np.argsort(ids, kind="stable")
            rows, cols, ids = rows[order], cols[order], ids[order]
            uniq, starts, counts = np.unique(ids, return_index=True, return_counts=True)
            for i, s, n in zip(uniq.tolist(), starts.tolist(), counts.tolist()):
                found.append(Target(_bbox(rows[s:s + n], cols[s:s + n]), label, int(n), int(i)))
        else:
            for sl, mask in connected_components(cls, connectivity):
                found.append(Target((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop), label, int(mask.sum()), 0))
        out.extend(sorted(found, key=lambda t: (t.box[1], t.box[0], t.box[2], t.box[3], t.instance)))
    return out


def min_area_pixels(size_hw: Sequence[int], fraction: float) -> int:
    """Minimum area in pixels for a fraction of the map (cf. the 1% size filter of Sec. 4.1):
    ``ceil(fraction * H * W)`` computed exactly on integers (fraction as a decimal), at least 1."""
    f = Fraction(str(float(fraction)))
    total = f * int(size_hw[0]) * int(size_hw[1])
    return max(1, -(-total.numerator // total.denominator))


def filter_targets(targets: Sequence[Target], size_hw: Sequence[int], min_object_area_fraction: float = 0.0,
                   min_box_area_fraction: float = 0.0) -> List[Target]:
    """The targets whose object area and tight-box area reach the protocol's fractions of the map (cf. the
    1% size filter of Sec. 4.1)."""
    min_obj = min_area_pixels(size_hw, min_object_area_fraction)
    min_box = min_area_pixels(size_hw, min_box_area_fraction)
    return [t for t in targets if t.area >= min_obj and t.box_area >= min_box]


def select_one(targets: Sequence[Target], seed: int, name: str) -> List[Target]:
    """One target (Sec. 3) per image, drawn from ``sha256(f"{seed}:{name}")`` (a fixed seed and the map's relative
    path only: the same on every machine, numpy version and subset of the data)."""
    if len(targets) <= 1:
        return list(targets)
    h = int.from_bytes(hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()[:8], "big")
    return [targets[h % len(targets)]]


def box_mask(shape_hw: Sequence[int], box: Sequence[int]) -> np.ndarray:
    """M of Sec. 3.1: uint8 (H, W), 1 inside the box (x1/y1 exclusive), 0 elsewhere."""
    x0, y0, x1, y1 = (int(v) for v in box)
    mask = np.zeros((int(shape_hw[0]), int(shape_hw[1])), np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


def incomplete_map(seg_c: np.ndarray, box: Sequence[int], label: int) -> np.ndarray:
    """S^u of Sec. 3: a copy of S^c with the box (x0, y0, x1, y1; x1/y1 exclusive) filled with ``l^t``.

    The box must be non-empty and inside the map; S^c is not modified and its dtype is kept."""
    seg_c = np.asarray(seg_c)
    if seg_c.ndim != 2:
        raise InputError(f"incomplete_map: expected a 2-D label map, got shape {seg_c.shape}")
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = seg_c.shape
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise InputError(f"incomplete_map: box {tuple(box)} is empty or outside the {h}x{w} map; "
                         "use 0 <= x0 < x1 <= W, 0 <= y0 < y1 <= H")
    seg_u = seg_c.copy()
    seg_u[y0:y1, x0:x1] = int(label)
    return seg_u
