"""Shape KID (``skd``, beyond the paper; issue 26): the unbiased kernel distance between the shapes of the predicted
and the ground-truth objects, on the same penultimate features of the Sem classifier as SFD.

KID (Binkowski et al. 2018, "Demystifying MMD GANs") is the unbiased estimate of the squared maximum mean
discrepancy with the cubic polynomial kernel ``k(x, y) = (x . y / d + 1)^3`` (``d`` the feature dimension):

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1)) - 2 sum_{i, j} k(x_i, y_j) / m^2

over ``SUBSETS`` seeded subsets of ``m = min(SUBSET_SIZE, N_pred, N_gt)`` objects of each side (drawn without
replacement); the value is the mean over the subsets and ``metadata.dataset_metrics.skd.std`` their standard
deviation. Unlike SFD (a Frechet distance of Gaussian fits, biased upward at small N) its expectation is 0 for two
samples of one distribution at every N, and it can be slightly negative.

Registered in :data:`sem_metric.registry.METRICS` as a dataset-level metric: it keeps the features themselves
(``cat`` states: 2 x N x D float64, 195 MiB at 10,000 objects with D = 1280; benchmarks/bench_skd.py) so that it is exact across
processes: :func:`skd_finalize` sorts each side's rows into a canonical order before drawing the subsets, so
the rank order of the concatenation does not matter.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

from ..errors import InputError
from ..version import PREPROCESSING_VERSION
from ._lazy import np  # numpy on first use: the registry imports SKD_STATES without numpy
from .states import State

__all__ = ["SUBSETS", "SUBSET_SIZE", "SEED", "SKD_STATES", "polynomial_kernel", "mmd2_unbiased", "kid", "skd_setup",
           "skd_update", "skd_finalize"]

#: number of seeded subsets (torch-fidelity's default)
SUBSETS = 100
#: objects per side and subset (at most; fewer objects: all of them)
SUBSET_SIZE = 1000
#: numpy PCG64 seed of the subsets
SEED = 0
KERNEL = "(x.y/d + 1)^3"


def _states():
    return (State("pred_features", reduce="cat", shape=("features",)),
            State("gt_features", reduce="cat", shape=("features",)))


#: the declared states: the features of every predicted and ground-truth object
SKD_STATES = _states()


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KID's kernel matrix ``(a b^T / d + 1)^3`` of two feature sets ``(n, d)``, ``(m, d)`` (float64)."""
    d = a.shape[1]
    return (a @ b.T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 of two equally large feature sets with :func:`polynomial_kernel` (module docstring)."""
    m = len(x)
    if m < 2 or len(y) != m:
        raise ValueError("mmd2_unbiased needs two sets of the same size >= 2")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(off - 2.0 * kxy.sum() / (m * m))


def _canonical(f: np.ndarray) -> np.ndarray:
    """Rows in lexicographic order (first column first): the order of concatenation does not matter."""
    if len(f) == 0:
        return f
    return f[np.lexsort(f.T[::-1])]


def kid(x: np.ndarray, y: np.ndarray, subsets: int = SUBSETS, subset_size: int = SUBSET_SIZE,
        seed: int = SEED) -> Dict[str, Any]:
    """KID of two feature sets: ``{"value": mean, "std", "subsets", "subset_size"}`` over seeded subsets.

    Rows are put in a canonical order first, so the result does not depend on the order of ``x`` / ``y``.
    With at most ``subset_size`` objects on both sides every subset is the whole set: one evaluation, std 0.
    """
    x = _canonical(np.asarray(x, dtype=np.float64))
    y = _canonical(np.asarray(y, dtype=np.float64))
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise InputError(f"SKD needs at least 2 predicted and 2 ground-truth objects (got {len(x)} and {len(y)})")
    if m == len(x) == len(y):
        values = [mmd2_unbiased(x, y)]
        subsets_run = 1
    else:
        rng = np.random.Generator(np.random.PCG64(seed))
        values = []
        for _ in range(subsets):
            ix = np.sort(rng.choice(len(x), m, replace=False))
            iy = np.sort(rng.choice(len(y), m, replace=False))
            values.append(mmd2_unbiased(x[ix], y[iy]))
        subsets_run = subsets
    v = np.asarray(values)
    return {"value": float(v.mean()), "std": float(v.std()), "subsets": subsets_run, "subset_size": m}


def skd_setup(ctx: Any) -> Dict[str, Any]:
    """Per-run configuration: the weights sha256, the feature dimension, the subsets and their seed."""
    return {"sha256": ctx.sha256, "dim": ctx.dims.get("features"), "subsets": SUBSETS, "subset_size": SUBSET_SIZE,
            "seed": SEED}


def skd_update(batch: Any, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """The increments: this batch's predicted and ground-truth features (rows of the ``cat`` states;
    ``batch``: a :class:`sem_metric.engine.batch.Batch`)."""
    return {"pred_features": batch.features_pred, "gt_features": batch.features_gt}


def skd_finalize(state: Mapping[str, Any], cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """SKD of the run (:func:`kid`) with its metadata (std over subsets, subsets, subset size, kernel, n)."""
    x, y = np.asarray(state["pred_features"]), np.asarray(state["gt_features"])
    out = kid(x, y, int(cfg.get("subsets", SUBSETS)), int(cfg.get("subset_size", SUBSET_SIZE)),
              int(cfg.get("seed", SEED)))
    meta = {"std": out["std"], "subsets": out["subsets"], "subset_size": out["subset_size"], "seed": cfg.get("seed", SEED),
            "kernel": KERNEL, "estimator": "unbiased MMD^2 (KID), mean over subsets", "feature_dim": cfg.get("dim"),
            "n_pred": int(len(x)), "n_gt": int(len(y)), "weights_sha256": cfg.get("sha256"),
            "preprocessing_version": PREPROCESSING_VERSION}
    return {"value": out["value"], "metadata": meta}
