"""The paired comparison of two results of the same samples (issue 26): pairing, units, verdict.

:func:`pair_samples` pairs the per-sample rows of two results by ``(file, box_index)``;
:func:`compare_metric` gives one sample-level metric's paired difference, interval and sign-flip p-value
(:func:`sem_metric.pipeline.intervals.paired_difference`) and its :func:`verdict` beyond the metric's
reproducibility bound. ``sem-compare`` (:mod:`sem_metric.compare`) and ``sem-score --significance``
(:mod:`sem_metric.pipeline.checks`) both use it. Torch-free.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .. import registry
from ..errors import InputError
from .intervals import paired_difference, unit_of

__all__ = ["pair_samples", "compare_metric", "verdict"]


def _key(row: Mapping[str, Any]) -> Tuple[str, int]:
    return str(row["file"]), int(row.get("box_index", 0))


def pair_samples(base: Mapping[str, Any], new: Mapping[str, Any]) -> Tuple[List[Mapping[str, Any]],
                                                                            List[Mapping[str, Any]]]:
    """The two results' per-sample rows paired by ``(file, box_index)``, in the base's order.

    :class:`InputError` when a result has no rows, when a sample is in one result only, or when a paired
    sample has another box or target label (other boxes.json: not the same samples).
    """
    b_rows, n_rows = base.get("samples") or [], new.get("samples") or []
    if not b_rows or not n_rows:
        raise InputError("both results need their per-sample rows ('samples'); write them with "
                         "`sem-score ... --json PATH`")
    n_by = {_key(r): r for r in n_rows}
    b_keys = [_key(r) for r in b_rows]
    only_b = [k for k in b_keys if k not in n_by]
    only_n = sorted(set(n_by) - set(b_keys))
    if only_b or only_n or len(n_by) != len(n_rows) or len(set(b_keys)) != len(b_keys):
        first = (only_b or only_n or [None])[0]
        raise InputError(f"the results do not score the same samples ({len(only_b)} only in BASE, {len(only_n)} "
                         f"only in NEW; first: {first}); compare results of the same boxes.json or task")
    paired = [n_by[k] for k in b_keys]
    for b, n in zip(b_rows, paired):
        if list(b.get("bbox") or []) != list(n.get("bbox") or []) or b.get("label") != n.get("label"):
            raise InputError(f"sample {_key(b)} has box {b.get('bbox')} label {b.get('label')} in BASE but box "
                             f"{n.get('bbox')} label {n.get('label')} in NEW: not the same samples")
    return list(b_rows), paired


def _units(rows: Sequence[Mapping[str, Any]]) -> Tuple[List[str], str]:
    unit = "source map" if any(r.get("source") is not None for r in rows) else "file"
    return [unit_of(r) for r in rows], unit


def compare_metric(name: str, base_rows: Sequence[Mapping[str, Any]], new_rows: Sequence[Mapping[str, Any]],
                   units: Sequence[str], unit: str = "file", alpha: float = 0.05, **kwargs: Any) -> Dict[str, Any]:
    """The paired comparison of one sample-level metric over paired rows (module docstring).

    Returns ``{"base", "new", "diff", "low", "high", "p_value", "verdict", "bound", "n", "n_units", ...}``
    (:func:`sem_metric.pipeline.intervals.paired_difference` plus the verdict); ``kwargs``: ``resamples``,
    ``permutations``, ``seed``, ``level``.
    """
    spec = registry.get(name)
    rep = spec.reproducibility
    base = [r.get(name) for r in base_rows]
    out = paired_difference(base, [r.get(name) for r in new_rows], units, unit,
                            zero_within=[rep.bound(v) if v is not None else 0.0 for v in base], **kwargs)
    bound = rep.bound(out["base"]) if out["base"] is not None else 0.0
    out["bound"] = bound
    out["verdict"] = verdict(spec, out["diff"], out["p_value"], alpha, bound)
    return out


def verdict(spec: registry.Metric, diff: Optional[float], p_value: Optional[float], alpha: float,
            bound: float = 0.0) -> str:
    """``better`` / ``worse`` when ``p_value < alpha`` and ``|diff| > bound``, in the metric's direction; else
    ``same`` (also when undefined)."""
    if diff is None or p_value is None or not (p_value < alpha) or abs(diff) <= bound:
        return "same"
    return "better" if (diff > 0) == spec.higher_is_better else "worse"
