"""Uncertainty of the means: seeded cluster-bootstrap intervals and paired tests over units (issue 26).

Pure functions of per-sample values (numpy only, no torch, no registry): every sample-level mean of a
result (paper Sec. 4.1 tIOU, hamm, NN; Sem of Eq. 10) gets a percentile bootstrap interval, and two
results scored on the same samples get a paired interval and a paired randomization p-value
(:mod:`sem_metric.compare`).

**The unit.** The objects removed from one map share its scene, its model run and its context; they are
not independent. The bootstrap therefore resamples *units*, not samples: in a SISM task the source map
(``task.json``'s ``source``, recorded in each row as ``source``), in a folder the file, in memory the
sample name; only where nothing groups them is the unit the sample. A resampled mean is the ratio
estimator ``sum of the drawn units' value sums / sum of their sample counts`` (the mean over the samples
of the drawn units).

**Determinism.** Units are ordered canonically (sorted by their key) before resampling, each unit's sum is
correctly rounded (:func:`math.fsum`), the draws come from numpy's PCG64 with a fixed seed and every
resampled sum is a numpy reduction in a fixed order: the same values give bit-identical intervals in any
row order, batch size or number of processes.

**Paired test.** Per sample ``d = new - base``; per unit ``D_u`` (sum) and ``n_u`` (count). The paired
interval bootstraps ``sum D / sum n`` over the same units; the p-value is the two-sided sign-flip
(approximate randomization) test over units: under "no difference" the labels base / new of a unit are
exchangeable, so each ``D_u`` flips sign with probability 1/2; ``p = (1 + #{|mean*| >= |mean|}) / (1 + R)``.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = ["LEVEL", "RESAMPLES", "PERMUTATIONS", "SEED", "METHOD", "PAIRED_METHOD", "TEST_METHOD", "unit_of",
           "unit_index", "unit_sums", "resampled_means", "percentile_interval", "bootstrap_interval",
           "rows_intervals", "sign_flip_p_value", "paired_difference"]

#: the interval's coverage
LEVEL = 0.95
#: bootstrap resamples per interval
RESAMPLES = 2000
#: random sign flips of the paired test
PERMUTATIONS = 10000
#: numpy PCG64 seed of every draw (recorded in each interval)
SEED = 0
METHOD = "cluster bootstrap, percentile"
PAIRED_METHOD = "paired cluster bootstrap, percentile"
TEST_METHOD = "paired sign-flip randomization over units, two-sided"
#: resamples drawn at once (memory: CHUNK x units int64)
_CHUNK_CELLS = 2_000_000


def unit_of(row: Mapping[str, Any]) -> str:
    """The resampling unit of one result row: its ``source`` map (SISM tasks), else its ``file``."""
    src = row.get("source")
    return str(src if src is not None else row["file"])


def unit_index(units: Sequence[Hashable]) -> Tuple[List[str], np.ndarray]:
    """``(keys, index)``: the distinct units in canonical (sorted string) order and each item's unit number."""
    names = [str(u) for u in units]
    keys = sorted(set(names))
    pos = {k: i for i, k in enumerate(keys)}
    return keys, np.fromiter((pos[n] for n in names), dtype=np.int64, count=len(names))


def unit_sums(values: Sequence[Optional[float]], index: np.ndarray, n_units: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per unit: the correctly rounded sum of its values (``math.fsum``) and its number of values; ``None``
    values (a metric undefined on a sample) are left out."""
    groups: List[List[float]] = [[] for _ in range(n_units)]
    for v, u in zip(values, index.tolist()):
        if v is not None:
            groups[u].append(float(v))
    sums = np.fromiter((math.fsum(g) for g in groups), dtype=np.float64, count=n_units)
    counts = np.fromiter((len(g) for g in groups), dtype=np.float64, count=n_units)
    return sums, counts


def _draws(n_units: int, resamples: int, seed: int):
    """Chunks of bootstrap weights: ``(c, n_units)`` int64 multiplicities, rows summing to ``n_units``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    chunk = max(1, min(resamples, _CHUNK_CELLS // max(n_units, 1)))
    done = 0
    while done < resamples:
        c = min(chunk, resamples - done)
        idx = rng.integers(0, n_units, size=(c, n_units))
        idx += (np.arange(c, dtype=np.int64) * n_units)[:, None]
        yield np.bincount(idx.ravel(), minlength=c * n_units).reshape(c, n_units)
        done += c


def resampled_means(sums: np.ndarray, counts: np.ndarray, resamples: int = RESAMPLES,
                    seed: int = SEED) -> np.ndarray:
    """Bootstrap distribution of the mean: ``(M, resamples)`` for ``M`` metrics over the same units.

    ``sums`` / ``counts``: ``(M, K)`` (or ``(K,)``) per-unit value sums and counts; every metric sees the same
    draws of units (so the metrics' intervals are computed on one shared resampling). A resample whose drawn
    units hold no value of a metric gives NaN for it.
    """
    sums = np.atleast_2d(np.asarray(sums, dtype=np.float64))
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    m, k = sums.shape
    out = np.empty((m, resamples), dtype=np.float64)
    if k == 0:
        out.fill(np.nan)
        return out
    done = 0
    for w in _draws(k, resamples, seed):
        wf = w.astype(np.float64)
        c = len(w)
        for j in range(m):
            num = (wf * sums[j]).sum(axis=1)
            den = (wf * counts[j]).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[j, done:done + c] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        done += c
    return out


def percentile_interval(draws: np.ndarray, level: float = LEVEL) -> Tuple[Optional[float], Optional[float]]:
    """The ``level`` percentile interval of one bootstrap distribution (NaN draws ignored; None when all are)."""
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return None, None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(d, [a, 1.0 - a])
    return float(lo), float(hi)


def _entry(low: Optional[float], high: Optional[float], method: str, unit: str, n_units: int,
           resamples: int, seed: int, level: float) -> Dict[str, Any]:
    return {"low": low, "high": high, "level": level, "method": method, "resamples": resamples, "seed": seed,
            "unit": unit, "n_units": n_units}


def bootstrap_interval(values: Sequence[Optional[float]], units: Optional[Sequence[Hashable]] = None,
                       unit: str = "sample", resamples: int = RESAMPLES, seed: int = SEED,
                       level: float = LEVEL) -> Dict[str, Any]:
    """The cluster-bootstrap percentile interval of the mean of ``values`` (one value per sample).

    ``units``: each sample's unit (default: every sample its own unit); ``unit`` names it in the entry.
    Returns ``{"low", "high", "level", "method", "resamples", "seed", "unit", "n_units"}`` (``low`` /
    ``high`` None without values). Deterministic: the same values and units in any order give the same
    interval.
    """
    if units is None:
        units = range(len(values))
    return rows_intervals([{"v": v} for v in values], ["v"], [str(u) for u in units], unit, resamples,
                          seed, level)["v"]


def rows_intervals(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str],
                   units: Optional[Sequence[Hashable]] = None, unit: str = "file",
                   resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> Dict[str, Dict[str, Any]]:
    """``{metric: interval entry}`` (see :func:`bootstrap_interval`) for the per-sample ``metrics`` of result
    rows, all drawn from one seeded resampling of the units (``units``: one per row, default
    :func:`unit_of` of each row). ``n_units`` counts the units with a value of the metric."""
    if units is None:
        units = [unit_of(r) for r in rows]
    keys, index = unit_index(units)
    k = len(keys)
    sums = np.zeros((len(metrics), k))
    counts = np.zeros((len(metrics), k))
    for j, m in enumerate(metrics):
        sums[j], counts[j] = unit_sums([r.get(m) for r in rows], index, k)
    draws = resampled_means(sums, counts, resamples, seed)
    out = {}
    for j, m in enumerate(metrics):
        lo, hi = percentile_interval(draws[j], level)
        out[m] = _entry(lo, hi, METHOD, unit, int((counts[j] > 0).sum()), resamples, seed, level)
    return out


def sign_flip_p_value(unit_diff_sums: np.ndarray, n_values: float, permutations: int = PERMUTATIONS,
                      seed: int = SEED) -> float:
    """Two-sided p-value of the paired sign-flip test over units (module docstring).

    ``unit_diff_sums``: per unit, the sum of its samples' ``new - base``; ``n_values``: the number of paired
    samples. ``p = (1 + #{|flipped mean| >= |mean|}) / (1 + permutations)``; 1.0 when every unit's sum is 0.
    """
    d = np.asarray(unit_diff_sums, dtype=np.float64)
    if d.size == 0 or not np.any(d):
        return 1.0
    obs = abs(math.fsum(d.tolist())) / n_values
    # a flipped mean equal to the observed one up to rounding counts as "as extreme"
    tol = obs * 1e-12
    rng = np.random.Generator(np.random.PCG64(seed))
    k = d.size
    chunk = max(1, min(permutations, _CHUNK_CELLS // k))
    hits, done = 0, 0
    while done < permutations:
        c = min(chunk, permutations - done)
        signs = rng.integers(0, 2, size=(c, k), dtype=np.int8).astype(np.float64) * 2.0 - 1.0
        stat = np.abs((signs * d).sum(axis=1)) / n_values
        hits += int((stat >= obs - tol).sum())
        done += c
    return (1 + hits) / (1 + permutations)


def paired_difference(base: Sequence[Optional[float]], new: Sequence[Optional[float]], units: Sequence[Hashable],
                      unit: str = "file", zero_within: Optional[Sequence[float]] = None,
                      resamples: int = RESAMPLES, permutations: int = PERMUTATIONS, seed: int = SEED,
                      level: float = LEVEL) -> Dict[str, Any]:
    """Paired comparison of two scorings of the same samples (``base[i]`` and ``new[i]`` of sample ``i``).

    Samples where either value is None are left out. ``zero_within``: per sample, a difference of at most
    this size counts as 0 (a metric's reproducibility bound: float noise between ways of running is not a
    difference). Returns ``{"base", "new", "diff", "low", "high", "p_value", "n", "n_units", "level",
    "method", "test", "resamples", "permutations", "seed", "unit"}``: the two means, ``diff = mean(new - base)``
    (after zeroing), its paired bootstrap interval over the units and the sign-flip p-value.
    """
    keep = [i for i in range(len(base)) if base[i] is not None and new[i] is not None]
    b = [float(base[i]) for i in keep]
    n_ = [float(new[i]) for i in keep]
    d = [y - x for x, y in zip(b, n_)]
    if zero_within is not None:
        d = [0.0 if abs(v) <= float(zero_within[i]) else v for v, i in zip(d, keep)]
    keys, index = unit_index([units[i] for i in keep])
    sums, counts = unit_sums(d, index, len(keys))
    n = len(keep)
    out: Dict[str, Any] = {
        "base": math.fsum(b) / n if n else None, "new": math.fsum(n_) / n if n else None,
        "diff": math.fsum(d) / n if n else None, "low": None, "high": None, "p_value": None, "n": n,
        "n_units": len(keys), "level": level, "method": PAIRED_METHOD, "test": TEST_METHOD,
        "resamples": resamples, "permutations": permutations, "seed": seed, "unit": unit}
    if n:
        out["low"], out["high"] = percentile_interval(resampled_means(sums, counts, resamples, seed)[0], level)
        out["p_value"] = sign_flip_p_value(sums, n, permutations, seed)
    return out
