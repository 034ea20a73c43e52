"""The typed result of :func:`~sem_metric.pipeline.evaluate.evaluate_dirs` / ``evaluate_samples`` (issue 18).

:class:`Result` is the documented result dict (``result["means"]``, ``result["samples"]``, ...: every
key of the module docstring of :mod:`sem_metric.pipeline.evaluate`, unchanged) with typed accessors and
its one JSON form (:meth:`Result.to_json`, what ``sem-score --json`` writes). It also carries what the
run's own classifier pass saw but the JSON does not hold: the top-3 COCO classes of every classified
object (:attr:`Result.top3`), so that ``--report`` shows them without running the classifier again.
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .report import to_json

__all__ = ["Result", "Top3", "top3_of"]

#: per sample: ((gt class ids, gt probabilities), (pred class ids, pred probabilities)), or None
Top3 = Optional[Tuple[Tuple[List[int], List[float]], Tuple[List[int], List[float]]]]
TOP = 3


def top3_of(probs: Any, k: int = TOP) -> Tuple[List[int], List[float]]:
    """The ``k`` most likely classes of one probability vector (stable order on ties) and their probabilities."""
    p = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-p, kind="stable")[:k]
    return [int(i) for i in order], [float(p[i]) for i in order]


def _key(name: str, doc: str) -> property:
    """A read-only typed view of one documented key."""
    return property(lambda self: self[name], doc=f"``result[{name!r}]``: {doc}")


class Result(dict):
    """A sem-score result: the documented dict plus typed accessors (dict access is unchanged)."""

    #: per-sample top-3 of the classifier's outputs from this run (None where not classified); not in the JSON
    top3: Optional[List[Top3]] = None

    metrics = _key("metrics", "metric names computed, in registry order")
    means = _key("means", "{metric: mean over samples, or the dataset-level value; None when undefined}")
    intervals = _key("intervals", "{metric: {low, high, level, method, resamples, seed, unit, n_units}}: the seeded "
                                  "95% cluster-bootstrap interval of each sample-level mean (issue 26)")
    samples = _key("samples", "per-sample rows {file, box_index, bbox, label, <sample-level metric>...}")
    counts = _key("counts", "pred_files, gt_files, pairs, pairs_with_boxes, pairs_without_boxes, samples, skipped")
    metadata = _key("metadata", "what defines the numbers (versions, classifier, inputs, options)")
    runtime = _key("runtime", "run-dependent information (never compared)")
    checks = _key("checks", "{passed, items, baseline}")
    per_class = _key("per_class", "per target label: each sample-level metric's mean and count")

    @property
    def passed(self) -> bool:
        """Whether every requested check passed (True when none was requested)."""
        return bool((self.get("checks") or {}).get("passed", True))

    def to_json(self, indent: Optional[int] = 2) -> str:
        """The one JSON form (``sem-score --json``): strict JSON (no NaN), numpy scalars as numbers."""
        return to_json(self, indent=indent)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], top3: Optional[Sequence[Top3]] = None) -> "Result":
        """A :class:`Result` of a result dict (e.g. read back from JSON: then without :attr:`top3`)."""
        out = cls(data)
        if top3 is not None:
            out.top3 = list(top3)
        return out
