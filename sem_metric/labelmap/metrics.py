"""Label-map metrics of paper Sec. 4.1 ("Evaluation metrics"): tIOU, hamm and NN.

All three are computed inside the inpainted area, i.e. the box ``B`` (mask map ``M`` of Sec. 3.1):

* **tIOU** - IoU of the target objects ``pred == l^t`` and ``gt == l^t`` inside the box
  (1.0 when neither map has the target class in the box, never NaN);
* **hamm** - fraction of box pixels where ``pred == gt``;
* **NN** - number of noise pixels: box pixels of ``pred`` whose class is not in an allowed set
  (by default the classes present in the ground-truth box region; pass
  :func:`sem_metric.labelmap.context.context_classes` for the DA definition of Sec. 3.2, Eq. 4).
  The paper's NN is the mean of this count over the test samples.

Inputs are numpy arrays or torch tensors of any integer dtype (uint8 ... int64, uint64; torch is never
imported here). Class ids are non-negative integers of any size (negative ids are an
:class:`InputError`, see :data:`~sem_metric.labelmap.box.NEGATIVE_IDS_HINT`); every count is exact.

Every form reduces a box to exact integer counts: the batched forms validate a whole batch at once and
work on views of the boxes (cost proportional to the total box area, never to N x map area; maps
shared by several boxes are neither copied nor re-validated). :func:`labelmap_metrics_batch` gets all
three metrics from one class-pair histogram per box. All forms return identical values.
"""
from __future__ import annotations

import numbers
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from .box import (
    NEGATIVE_IDS_HINT,
    Box,
    BoxLike,
    _array_or_list,
    _coerce_boxes,
    _is_tensor,
    _to_numpy,
    _validate_boxes_array,
    as_label,
    as_label_map,
    as_labels,
)
from ..errors import InputError
from .kernels import FUSED_FUNCTIONS, _counts_many, _hamm_region, _noise_region, _tiou_region, tiou_from_counts  # FUSED_FUNCTIONS: public here

__all__ = ["tiou", "hamm", "noise_count", "tiou_batch", "hamm_batch", "noise_count_batch", "validate_batch",
           "BoxCounts", "box_counts_batch", "labelmap_metrics_batch", "FUSED_FUNCTIONS"]

Maps = Union[np.ndarray, Sequence[Any]]


# --------------------------------------------------------------------------- single-sample helpers
def _regions(pred: Any, gt: Any, box: BoxLike) -> Tuple[np.ndarray, np.ndarray]:
    """Validated box regions ``pred[box]``, ``gt[box]`` (numpy views)."""
    p = as_label_map(pred, "pred")
    g = as_label_map(gt, "gt")
    if p.shape != g.shape:
        raise InputError(f"pred and gt must have the same shape, got pred {p.shape} and gt {g.shape}")
    b = Box.coerce(box)
    b.validate(p.shape, where="box")
    return p[b.slices], g[b.slices]


def _as_allowed(allowed: Any, where: str = "allowed") -> np.ndarray:
    """1-D int64 array of allowed class ids (non-negative) from an iterable of ints / integer array / tensor."""
    data = _array_or_list(allowed, where, "an iterable of integer class ids")
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in "iu" or data.ndim > 1:
            raise InputError(
                f"{where}: expected a 1-D collection of integer class ids, got dtype {data.dtype} "
                f"and shape {data.shape}"
            )
        out = data.astype(np.int64).reshape(-1)
    else:
        for v in data:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
                raise InputError(f"{where}: class ids must be integers, got {type(v).__name__} {v!r}")
        out = np.array([int(v) for v in data], dtype=np.int64)
    if out.size and int(out.min()) < 0:
        raise InputError(f"{where}: class ids must be non-negative, got {int(out.min())}. {NEGATIVE_IDS_HINT}")
    return out


# --------------------------------------------------------------------------- single-sample metrics
def tiou(pred: Any, gt: Any, box: BoxLike, label: int) -> float:
    """Target IoU (tIOU, paper Sec. 4.1) of one sample, inside the inpainted area ``box``.

    ``|P & G| / |P | G|`` with ``P = (pred == label)`` and ``G = (gt == label)`` restricted to the box
    region; 1.0 when both are empty (nothing to generate and nothing generated), never NaN.

    Args:
        pred: inpainted map ``S^`` (H, W), integer numpy array or torch tensor.
        gt: ground-truth map ``S^c`` (H, W), same shape.
        box: ``(x0, y0, x1, y1)`` (x1/y1 exclusive) or :class:`~sem_metric.labelmap.box.Box`.
        label: target label ``l^t`` (int, not bool).
    """
    lab = as_label(label)
    return _tiou_region(*_regions(pred, gt, box), lab)


def hamm(pred: Any, gt: Any, box: BoxLike) -> float:
    """Hamming score (hamm, paper Sec. 4.1) of one sample: fraction of box pixels where ``pred == gt``.

    Higher is better (1.0 = identical inside the box), as in the paper's tables.
    """
    return _hamm_region(*_regions(pred, gt, box))


def noise_count(pred: Any, gt: Any, box: BoxLike, allowed: Optional[Iterable[int]] = None) -> int:
    """Number of noise pixels (NN, paper Sec. 4.1; noise as in Sec. 3.2) of one sample.

    Counts the box pixels of ``pred`` whose class is not in ``allowed``. With ``allowed=None`` the
    allowed set is the set of classes present in the ground-truth box region ``gt[box]``; pass an
    iterable of ints to override it, e.g. ``context_classes(seg_u, box, label)`` for the DA set of
    Eq. 4 (classes on the ring around the box plus the target label). The paper reports the mean of
    this count over the test samples.
    """
    p, g = _regions(pred, gt, box)
    return _noise_region(p, g, None if allowed is None else _as_allowed(allowed))


# --------------------------------------------------------------------------- batch helpers
def _as_maps(x: Any, name: str) -> Union[np.ndarray, List[np.ndarray]]:
    """An (N, H, W) numpy stack (arrays / tensors) or a list of validated 2-D maps (sequences).

    A sequence is never stacked (that would copy N whole maps); each distinct map object is validated
    once, however many samples share it (e.g. several boxes of one image).
    """
    data = _array_or_list(x, name, "an (N, H, W) array or a sequence of 2-D maps")
    if isinstance(data, np.ndarray):
        if data.ndim == 2:
            raise InputError(
                f"{name}: expected an (N, H, W) stack or a sequence of 2-D maps, got one 2-D map of shape "
                f"{data.shape}; wrap it in a list or use the single-sample function"
            )
        return as_label_map(data, name, ndim=3)
    seen: dict = {}
    maps = []
    for i, m in enumerate(data):
        arr = seen.get(id(m))
        if arr is None:
            arr = seen[id(m)] = as_label_map(m, f"{name}[{i}]")
        maps.append(arr)
    return maps


def validate_batch(preds: Maps, gts: Maps, boxes: Any) -> Tuple[Any, Any, np.ndarray]:
    """Validate N samples (predicted map, ground truth, box; paper Sec. 3 / 4.1) as every batched metric does.

    Returns ``(P, G, B)``: the maps as an (N, H, W) stack or a list of 2-D maps (integer, non-negative),
    and the boxes as an (N, 4) int64 array, each inside its map. Counts, shapes, dtypes and boxes that do
    not fit raise :class:`InputError`. Used by the label-map metrics and by Sem (Eq. 10) alike.

    Cost is proportional to the number of samples plus the number of distinct maps, never to N x map
    area: a list is never stacked, a map shared by several samples is validated once and boxes are
    checked with vectorised comparisons (the message names the first bad box, like :meth:`Box.validate`).
    """
    P = _as_maps(preds, "preds")
    G = _as_maps(gts, "gts")
    n = len(P)
    if len(G) != n:
        raise InputError(f"got {n} predicted maps and {len(G)} ground-truth maps; they must pair up one to one")
    B = _coerce_boxes(boxes, n)
    if isinstance(P, np.ndarray) and isinstance(G, np.ndarray) and P.shape == G.shape:
        _validate_boxes_array(B, P.shape[1:])
    else:
        hw = np.empty((n, 2), dtype=np.int64)
        for i in range(n):
            ps, gs = P[i].shape, G[i].shape
            if ps != gs:
                raise InputError(
                    f"sample {i}: pred and gt must have the same shape, got pred {ps} and gt {gs}")
            hw[i] = ps
        if n:
            x0, y0, x1, y1 = B.T
            bad = (x1 <= x0) | (y1 <= y0) | (x0 < 0) | (y0 < 0) | (x1 > hw[:, 1]) | (y1 > hw[:, 0])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                Box(*B[i].tolist()).validate(tuple(hw[i]), where=f"box {i}")
    return P, G, B


def _batch_regions(preds: Maps, gts: Maps, boxes: Any) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Validate a batch once (:func:`validate_batch`) and return the ``(pred[box_i], gt[box_i])`` views
    (no copy of the maps, no full-image masks): every metric then does O(box area) work per sample."""
    P, G, B = validate_batch(preds, gts, boxes)
    return [(P[i][y0:y1, x0:x1], G[i][y0:y1, x0:x1]) for i, (x0, y0, x1, y1) in enumerate(B.tolist())]


def _allowed_per_sample(allowed: Any, n: int) -> Optional[List[np.ndarray]]:
    """``allowed`` of the batched NN: None, or N int64 arrays of class ids (one per sample)."""
    if allowed is None:
        return None
    per_sample = "None or a sequence of N iterables of class ids (one per sample)"
    if _is_tensor(allowed):
        raise InputError(f"allowed: expected {per_sample}")
    seq = _array_or_list(allowed, "allowed", per_sample)
    if len(seq) != n:
        raise InputError(f"allowed: got {len(seq)} sets of allowed classes for {n} samples; give one per sample")
    out = []
    for i, a in enumerate(seq):
        if isinstance(a, numbers.Number):
            raise InputError(
                f"allowed[{i}]: expected an iterable of class ids, got {a!r}; allowed must be a "
                "sequence of N iterables (one per sample)"
            )
        out.append(_as_allowed(a, f"allowed[{i}]"))
    return out


# --------------------------------------------------------------------------- batched metrics
def tiou_batch(preds: Maps, gts: Maps, boxes: Any, labels: Any) -> np.ndarray:
    """tIOU (paper Sec. 4.1) of N samples: float64 (N,), equal to :func:`tiou` on each sample.

    ``preds``/``gts``: (N, H, W) integer arrays / tensors or sequences of 2-D maps (any sizes; a map
    may be shared by several samples and is then neither copied nor re-validated); ``boxes``: (N, 4)
    array or sequence of boxes; ``labels``: N target labels ``l^t``. Cost: O(total box area).
    """
    regions = _batch_regions(preds, gts, boxes)
    lab = as_labels(labels, len(regions)).tolist()
    return np.array([_tiou_region(p, g, l) for (p, g), l in zip(regions, lab)], dtype=np.float64)


def hamm_batch(preds: Maps, gts: Maps, boxes: Any) -> np.ndarray:
    """hamm (paper Sec. 4.1) of N samples: float64 (N,), equal to :func:`hamm` on each sample."""
    return np.array([_hamm_region(p, g) for p, g in _batch_regions(preds, gts, boxes)], dtype=np.float64)


def noise_count_batch(
    preds: Maps, gts: Maps, boxes: Any, allowed: Optional[Sequence[Iterable[int]]] = None
) -> np.ndarray:
    """Noise-pixel counts (NN, paper Sec. 4.1 / Sec. 3.2) of N samples: int64 (N,).

    Equal to :func:`noise_count` on each sample. ``allowed`` is None (classes present in each
    ``gts[i][box_i]``) or a sequence of N iterables of class ids (e.g. from
    :func:`sem_metric.labelmap.context.context_classes`). NN as reported in the paper is ``result.mean()``.
    """
    regions = _batch_regions(preds, gts, boxes)
    allowed_list = _allowed_per_sample(allowed, len(regions))
    return _counts_many(regions, [0] * len(regions), allowed_list)[:, 4].copy()


class BoxCounts(NamedTuple):
    """Exact per-box integer counts behind tIOU, hamm and NN (paper Sec. 4.1), int64 arrays (N,).

    ``pixels`` = |B|; ``equal`` = box pixels where pred == gt; ``target_intersection`` /
    ``target_union`` = |P & G| / |P | G| of the target masks; ``noise`` = the NN count.
    """

    pixels: np.ndarray
    equal: np.ndarray
    target_intersection: np.ndarray
    target_union: np.ndarray
    noise: np.ndarray

    def tiou(self) -> np.ndarray:
        """tIOU per box (1.0 where the target is in neither map)."""
        return tiou_from_counts(self.target_intersection, self.target_union)

    def hamm(self) -> np.ndarray:
        """hamm per box."""
        return self.equal / self.pixels


def box_counts_batch(preds: Maps, gts: Maps, boxes: Any, labels: Any,
                     allowed: Optional[Sequence[Iterable[int]]] = None) -> BoxCounts:
    """One fused pass per box: the class-pair histogram of ``(pred, gt)`` inside the box gives the counts
    behind tIOU, hamm and NN (paper Sec. 4.1) at once. Inputs as in :func:`tiou_batch` /
    :func:`noise_count_batch`; returns a :class:`BoxCounts`."""
    regions = _batch_regions(preds, gts, boxes)
    n = len(regions)
    lab = as_labels(labels, n).tolist()
    allowed_list = _allowed_per_sample(allowed, n)
    cols = _counts_many(regions, lab, allowed_list).T
    return BoxCounts(*(c.copy() for c in cols))


def labelmap_metrics_batch(preds: Maps, gts: Maps, boxes: Any, labels: Any,
                           allowed: Optional[Sequence[Iterable[int]]] = None) -> Dict[str, np.ndarray]:
    """tIOU, hamm and NN (paper Sec. 4.1) of N samples in one fused pass per box.

    Returns ``{"tiou": float64 (N,), "hamm": float64 (N,), "nn": int64 (N,)}``, equal element for element
    to :func:`tiou_batch`, :func:`hamm_batch` and :func:`noise_count_batch` (and to the single-sample
    forms) at about a third of their combined cost.
    """
    c = box_counts_batch(preds, gts, boxes, labels, allowed)
    return {"tiou": c.tiou(), "hamm": c.hamm(), "nn": c.noise}
