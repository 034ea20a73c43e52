"""ROC AUC (Mann-Whitney U with ties) and percentile bootstrap, written for this study (numpy only)."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` with ties given the mean of the ranks they span (float64)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    n = v.size
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    if np.isnan(v).any():
        raise ValueError("average_ranks: NaN in values")
    order = np.argsort(v, kind="mergesort")
    sv = v[order]
    # start of each run of equal values in the sorted array
    starts = np.flatnonzero(np.r_[True, sv[1:] != sv[:-1]])
    ends = np.r_[starts[1:], n]  # exclusive
    run_rank = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    ranks_sorted = np.repeat(run_rank, ends - starts)
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = ranks_sorted
    return ranks


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve for "higher score = positive": ``P(X_pos > X_neg) + 0.5 P(X_pos = X_neg)``.

    Computed as the Mann-Whitney statistic ``U / (n_pos * n_neg)`` from average ranks (ties count one
    half). NaN if either group is empty.
    """
    pos = np.asarray(positive, dtype=np.float64).reshape(-1)
    neg = np.asarray(negative, dtype=np.float64).reshape(-1)
    n1, n0 = pos.size, neg.size
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = average_ranks(np.concatenate([pos, neg]))
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


def percentile_interval(samples: np.ndarray, level: float = 0.95, axis: int = 0) -> np.ndarray:
    """Percentile interval ``[(1-level)/2, (1+level)/2]`` of bootstrap replicates along ``axis`` (NaNs ignored)."""
    a = (1.0 - level) / 2.0
    return np.nanquantile(np.asarray(samples, dtype=np.float64), [a, 1.0 - a], axis=axis)


def bootstrap_indices(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` indices drawn with replacement from ``range(n)``."""
    return rng.integers(0, n, size=(n_boot, n))


def bootstrap_mean_ci(values: np.ndarray, n_boot: int = 1000, level: float = 0.95, seed: int = 0):
    """Mean over rows and its percentile bootstrap interval, resampling rows (units) with replacement.

    ``values``: ``(n,)`` or ``(n, k)`` (k quantities measured on the same units, resampled together).
    Returns ``(mean, low, high)`` arrays of shape ``()`` or ``(k,)``.
    """
    v = np.asarray(values, dtype=np.float64)
    mean = v.mean(axis=0)
    n = v.shape[0]
    if n < 2 or n_boot < 1:
        nan = np.full_like(mean, np.nan)
        return mean, nan, nan
    rng = np.random.default_rng(seed)
    reps = np.empty((n_boot,) + v.shape[1:], dtype=np.float64)
    # chunked so that (chunk, n, k) stays small
    chunk = max(1, int(2_000_000 // max(1, v.size)))
    for s in range(0, n_boot, chunk):
        idx = bootstrap_indices(n, min(chunk, n_boot - s), rng)
        reps[s:s + idx.shape[0]] = v[idx].mean(axis=1)
    lo, hi = percentile_interval(reps, level)
    return mean, lo, hi


def paired_auc_bootstrap(pos: np.ndarray, neg: np.ndarray, strata: np.ndarray | None = None,
                         n_boot: int = 1000, level: float = 0.95, seed: int = 0):
    """AUC of ``pos`` vs ``neg`` scored on the same units (unit i gave ``pos[i]`` and ``neg[i]``), with a
    cluster bootstrap over units (both scores of a unit are resampled together), stratified by
    ``strata`` if given (each stratum keeps its size). Returns ``(auc, low, high)``.
    """
    pos = np.asarray(pos, dtype=np.float64).reshape(-1)
    neg = np.asarray(neg, dtype=np.float64).reshape(-1)
    if pos.shape != neg.shape:
        raise ValueError("paired_auc_bootstrap: pos and neg must have one value per unit")
    auc = roc_auc(pos, neg)
    n = pos.size
    if n < 2 or n_boot < 1:
        return auc, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    if strata is None:
        groups = [np.arange(n)]
    else:
        strata = np.asarray(strata).reshape(-1)
        groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    reps = np.empty(n_boot, dtype=np.float64)
    for b in range(n_boot):
        idx = np.concatenate([g[rng.integers(0, g.size, g.size)] for g in groups])
        reps[b] = roc_auc(pos[idx], neg[idx])
    lo, hi = percentile_interval(reps, level)
    return auc, float(lo), float(hi)


def bootstrap_statistic(units: int, statistic: Callable[[np.ndarray], float], n_boot: int = 1000,
                        level: float = 0.95, seed: int = 0):
    """Generic percentile bootstrap: ``statistic(indices)`` on resampled unit indices. Returns ``(low, high)``."""
    rng = np.random.default_rng(seed)
    reps = np.array([statistic(rng.integers(0, units, units)) for _ in range(n_boot)], dtype=np.float64)
    lo, hi = percentile_interval(reps, level)
    return float(lo), float(hi)


def bootstrap_mean_replicates(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of the mean over axis 0 (units resampled with replacement, all trailing
    quantities together): ``(n_boot,) + values.shape[1:]``."""
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    rng = np.random.default_rng(seed)
    reps = np.empty((n_boot,) + v.shape[1:], dtype=np.float64)
    per_unit = max(1, v[0].size if n else 1)
    chunk = max(1, int(4_000_000 // (per_unit * max(n, 1))))
    for s in range(0, n_boot, chunk):
        idx = bootstrap_indices(n, min(chunk, n_boot - s), rng)
        reps[s:s + idx.shape[0]] = v[idx].mean(axis=1)
    return reps
