"""Sem's presence rule (definition ``sem-2``): an object that is absent, or too small for F to read, is
not a semantically close answer.

Eq. 10 compares two softmax outputs of the shape classifier F. On an empty or near-empty predicted
object F still returns a distribution, a diffuse one, and ``1 - Sem = sum_k min(p_hat_k, p_k)`` then
rewards that diffuseness: on real street scenes an *erased* object scored a lower Sem than plausible
answers (issue 24). Sem therefore weighs F's similarity by the share of the object that is there:

    pi  = min(1, (|O_hat| / |O^c|) / PRESENCE_AREA_RATIO)          (presence, in [0, 1])
    Sem = 1 - pi * (1 - 0.5 * || p_hat - p ||_1)                      (Eq. 10 with the presence rule)

``|O|`` is the number of target pixels (class l^t) inside the box. With ``pi = 1`` this is Eq. 10 exactly,
so every prediction whose object has at least ``PRESENCE_AREA_RATIO`` of the ground truth's area keeps
its Eq. 10 value; an empty prediction scores 1 (maximal divergence: there is no object to compare); in
between, Sem rises continuously to 1 as the object vanishes, so one stray pixel of l^t scores about 1
instead of getting round an "empty" rule. When the ground truth holds no target pixel (an absent target,
reported by the pipeline's checks) the rule does not apply (``pi = 1``), and identical objects keep Sem 0.

``PRESENCE_AREA_RATIO`` is measured, not tuned: ``benchmarks/validity/vanishing.py`` shrinks real
CamVid train/val objects (never the test split) about their box centre and finds the area ratio below
which F's reading of the shrunk *true* object is no closer to the ground truth than an object of another
class; the largest such ratio over the shipped weights, rounded up to a multiple of 0.05, is the constant
(``benchmarks/validity/results/vanishing.json``; the README, "Sem of a vanishing object").
"""
from __future__ import annotations

import numpy as np

__all__ = ["PRESENCE_AREA_RATIO", "presence_factor", "object_areas"]

#: area ratio |O_hat| / |O^c| from which F's reading counts in full (see the module docstring)
PRESENCE_AREA_RATIO = 0.35


def presence_factor(pred_area, gt_area) -> np.ndarray:
    """``pi = min(1, (|O_hat| / |O^c|) / PRESENCE_AREA_RATIO)`` per sample, float64 in [0, 1].

    ``pred_area`` / ``gt_area``: target-pixel counts inside the box (arrays of the same length). A ground
    truth without target pixels gives ``pi = 1`` (the rule needs an object to measure against).
    """
    p = np.asarray(pred_area, dtype=np.float64)
    g = np.asarray(gt_area, dtype=np.float64)
    if p.shape != g.shape:
        raise ValueError(f"area arrays differ in shape: {p.shape} vs {g.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(g > 0, p / np.where(g > 0, g, 1.0), np.inf)
    return np.minimum(1.0, ratio / PRESENCE_AREA_RATIO)


def object_areas(objects) -> np.ndarray:
    """Target-pixel count of each object (boolean box crops O of Eq. 10), int64."""
    return np.array([int(np.count_nonzero(o)) for o in objects], dtype=np.int64)
