"""Per-region kernels of the label-map metrics (paper Sec. 4.1): exact integer counts per box.

Every form in :mod:`sem_metric.labelmap.metrics` (single and batched, one metric or all three) reduces a
box to exact integer counts with these kernels: a class-pair histogram per box (many small boxes share
one bincount), read for tIOU, hamm and NN. Torch-free.
"""
from __future__ import annotations

import bisect
from typing import Any, List, Optional, Tuple

import numpy as np



# --------------------------------------------------------------------------- per-region kernels
# Every form (single and batched, one metric or all three) reduces a box to exact integer counts with
# these kernels, so the metrics agree bit for bit whichever form computed them (a ratio of two exact
# integers below 2**53 is rounded once, the same way by Python and numpy).

#: the class-pair histogram indexes classes directly (no remapping) while (max id + 1)**2 is at most
#: this many bins or 4x the box area; otherwise (negative ids, large ids) ids are remapped to 0..K-1 first
_DIRECT_BINS = 1 << 12

#: batched functions of this module that :func:`labelmap_metrics_batch` computes in one pass, by metric name
FUSED_FUNCTIONS = {"tiou": "tiou_batch", "hamm": "hamm_batch", "nn": "noise_count_batch"}


def _tiou_counts(p: np.ndarray, g: np.ndarray, lab: int) -> Tuple[int, int]:
    """``(|P & G|, |P | G|)`` of the target masks ``P = p == lab``, ``G = g == lab`` (two compares)."""
    pm = p == lab
    gm = g == lab
    return int(np.count_nonzero(pm & gm)), int(np.count_nonzero(pm | gm))


def tiou_from_counts(inter: Any, union: Any) -> np.ndarray:
    """THE tIOU rule (paper Sec. 4.1) on exact counts ``|P & G|``, ``|P | G|`` (scalars or arrays): their
    ratio, and 1.0 where the target is in neither map (``union == 0``). Every form of tIOU uses it (the
    single-region kernel and :meth:`~sem_metric.labelmap.metrics.BoxCounts.tiou`); float64."""
    union = np.asarray(union)
    return np.where(union == 0, 1.0, np.asarray(inter) / np.maximum(union, 1))


def _tiou_region(p: np.ndarray, g: np.ndarray, lab: int) -> float:
    return float(tiou_from_counts(*_tiou_counts(p, g, lab)))


def _hamm_region(p: np.ndarray, g: np.ndarray) -> float:
    return int(np.count_nonzero(p == g)) / p.size


def _code_dtype(bins: int) -> type:
    return np.uint16 if bins <= 1 << 16 else (np.uint32 if bins <= 1 << 32 else np.int64)


def _pair_histogram(p: np.ndarray, g: np.ndarray) -> Tuple[np.ndarray, Any]:
    """Class-pair histogram of one box: ``(hist, ids)`` with ``hist[i, j]`` = number of box pixels whose
    predicted class is ``ids[i]`` and whose ground-truth class is ``ids[j]``.

    One pass of ``np.bincount(p * K + g)`` over the box (narrowest integer code type, no int64 copy of
    the maps). ``ids`` is ``range(K)`` (ids used as indices) or, for negative or very large ids, the
    sorted list of the ids present (Python ints, exact for every integer dtype).
    """
    n = p.size
    lo = min(int(p.min()) if p.dtype.kind == "i" else 0, int(g.min()) if g.dtype.kind == "i" else 0)
    phi, ghi = int(p.max()), int(g.max())
    k = max(phi, ghi) + 1
    if lo >= 0 and k * k <= max(_DIRECT_BINS, 4 * n):
        ids: Any = range(k)
        pc, gc = p, g
    else:  # compact remap: ids present in either region -> 0..K-1 (exact for any integer dtype mix)
        up, pinv = np.unique(p, return_inverse=True)
        ug, ginv = np.unique(g, return_inverse=True)
        ids = sorted(set(up.tolist()) | set(ug.tolist()))
        pos = {v: i for i, v in enumerate(ids)}
        k = len(ids)
        pc = np.array([pos[v] for v in up.tolist()], dtype=np.int64)[pinv]
        gc = np.array([pos[v] for v in ug.tolist()], dtype=np.int64)[ginv]
    code = pc.astype(_code_dtype(k * k))  # a contiguous copy of the box only
    code *= k
    np.add(code, gc, out=code, casting="unsafe")  # values < k: never wraps
    return _bincount_runs(code.ravel(), k * k).reshape(k, k), ids


def _bincount_runs(flat: np.ndarray, bins: int) -> np.ndarray:
    """``np.bincount(flat, minlength=bins)`` (int64), counting runs of equal values at once when they are long.

    Label maps are piecewise constant, so the codes come in long runs; bincount then stalls on
    repeated increments of one bin. Counting run starts weighted by run length is exact (float64
    holds integers below 2**53) and about 1.3x faster on such maps; noise-like data keeps the plain pass.
    """
    n = flat.size
    if n >= 64:
        change = flat[1:] != flat[:-1]
        if 4 * (int(np.count_nonzero(change)) + 1) <= n:
            last = np.flatnonzero(change)  # last index of every run but the final one
            m = last.size
            ends = np.empty(m + 1, dtype=np.intp)
            ends[:m] = last
            ends[m] = n - 1
            lengths = np.empty(m + 1, dtype=np.intp)
            lengths[0] = ends[0] + 1
            np.subtract(ends[1:], ends[:-1], out=lengths[1:])
            return np.bincount(flat[ends], weights=lengths, minlength=bins).astype(np.int64)
    return np.bincount(flat, minlength=bins)


def _index_of(ids: Any, value: int) -> Optional[int]:
    if isinstance(ids, range):
        return value if 0 <= value < len(ids) else None
    i = bisect.bisect_left(ids, value)
    return i if i < len(ids) and ids[i] == value else None


def _noise_from_histogram(hist: np.ndarray, ids: Any, allowed: Optional[np.ndarray]) -> int:
    pred_counts = hist.sum(axis=1)
    if allowed is None:  # allowed = classes present in the ground-truth box region
        ok = hist.sum(axis=0) > 0
    else:
        ok = np.zeros(len(ids), dtype=bool)
        for a in set(allowed.tolist()):
            i = _index_of(ids, a)
            if i is not None:
                ok[i] = True
    return int(pred_counts[~ok].sum())


def _region_counts(p: np.ndarray, g: np.ndarray, lab: int, allowed: Optional[np.ndarray]
                   ) -> Tuple[int, int, int, int, int]:
    """``(pixels, equal, target_intersection, target_union, noise)`` of one box from one histogram."""
    hist, ids = _pair_histogram(p, g)
    equal = int(np.trace(hist))
    j = _index_of(ids, lab)
    if j is None:
        inter = union = 0
    else:
        inter = int(hist[j, j])
        union = int(hist[j, :].sum()) + int(hist[:, j].sum()) - inter
    return p.size, equal, inter, union, _noise_from_histogram(hist, ids, allowed)


def _noise_region(p: np.ndarray, g: np.ndarray, allowed: Optional[np.ndarray]) -> int:
    return _noise_from_histogram(*_pair_histogram(p, g), allowed)


#: grouped counting: at most this many histogram bins / box pixels per bincount call (bounds memory)
_GROUP_BINS = 1 << 22
_GROUP_PIXELS = 1 << 23


def _value_range(a: np.ndarray) -> Tuple[int, int]:
    return (int(a.min()) if a.dtype.kind == "i" else 0), int(a.max())


def _counts_many(regions: List[Tuple[np.ndarray, np.ndarray]], labels: List[int],
                 allowed: Optional[List[np.ndarray]]) -> np.ndarray:
    """``(N, 5)`` int64 counts ``(pixels, equal, target_intersection, target_union, noise)`` of many boxes.

    Equal to :func:`_region_counts` box by box, but boxes with small non-negative ids share one
    class-pair histogram: box ``b``'s codes are offset by ``b * K * K`` in one buffer, one bincount
    counts them all and the counts are read off the ``(boxes, K, K)`` histogram with array operations.
    This removes most of the per-box cost on many small boxes. Boxes with negative or large ids use
    the per-box kernel (compact remap).
    """
    n = len(regions)
    out = np.zeros((n, 5), dtype=np.int64)
    group: List[int] = []
    group_k = group_px = 0

    def flush() -> None:
        nonlocal group, group_k, group_px
        if group:
            _count_group(regions, labels, allowed, group, group_k, group_px, out)
        group, group_k, group_px = [], 0, 0

    for i, (p, g) in enumerate(regions):
        plo, phi = _value_range(p)
        glo, ghi = _value_range(g)
        k = max(phi, ghi) + 1
        if min(plo, glo) < 0 or k * k > max(_DIRECT_BINS, 4 * p.size):
            out[i] = _region_counts(p, g, labels[i], None if allowed is None else allowed[i])
            continue
        kk = max(group_k, k)
        if group and ((len(group) + 1) * kk * kk > _GROUP_BINS or group_px + p.size > _GROUP_PIXELS):
            flush()
            kk = k
        group.append(i)
        group_k, group_px = kk, group_px + p.size
    flush()
    return out


def _count_group(regions, labels, allowed, members: List[int], k: int, pixels: int, out: np.ndarray) -> None:
    m, kk = len(members), k * k
    buf = np.empty(pixels, dtype=_code_dtype(m * kk))
    sizes = np.empty(m, dtype=np.int64)
    start = 0
    for b, i in enumerate(members):
        p, g = regions[i]
        seg = buf[start:start + p.size].reshape(p.shape)
        np.multiply(p, k, out=seg, dtype=buf.dtype, casting="unsafe")  # in the code dtype: no wrap
        np.add(seg, g, out=seg, casting="unsafe")
        if b:
            seg += b * kk
        sizes[b] = p.size
        start += p.size
    hist = _bincount_runs(buf, m * kk).reshape(m, k, k)  # hist[b, pred class, gt class]
    pred_counts = hist.sum(axis=2)
    gt_counts = hist.sum(axis=1)
    rows = np.arange(m)
    lab = np.array([labels[i] for i in members], dtype=np.int64)
    valid = (lab >= 0) & (lab < k)
    j = np.where(valid, lab, 0)
    inter = np.where(valid, hist[rows, j, j], 0)
    union = np.where(valid, pred_counts[rows, j] + gt_counts[rows, j] - inter, 0)
    if allowed is None:
        ok = gt_counts > 0
    else:
        ok = np.zeros((m, k), dtype=bool)
        for b, i in enumerate(members):
            a = allowed[i]
            a = a[(a >= 0) & (a < k)]
            ok[b, a] = True
    idx = np.array(members)
    out[idx, 0] = sizes
    out[idx, 1] = np.trace(hist, axis1=1, axis2=2)
    out[idx, 2] = inter
    out[idx, 3] = union
    out[idx, 4] = (pred_counts * ~ok).sum(axis=1)


