"""Formatting and writing of evaluation results: JSON, per-sample CSV, the summary table, check lines.

Pure functions of a result dict built by :mod:`sem_metric.pipeline.evaluate` (layout documented
there), plus :func:`write_text`, which writes a file atomically. Names, directions and number
formats of the metrics (paper Sec. 4.1 tIOU, hamm, NN; Sem of Eq. 10) come from
:mod:`sem_metric.registry`.
"""
from __future__ import annotations

import csv
import io as _io
import json
from typing import Any, List, Mapping, Optional, Sequence

from .. import registry
from ..atomic import atomic_write_all
from .tables import means_text

__all__ = ["to_json", "csv_header", "csv_rows", "to_csv", "format_table", "format_checks", "write_outputs"]


# ------------------------------------------------------------------------------------------ JSON
def _json_default(o: Any) -> Any:
    # numpy scalars / arrays that slipped into a result
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def to_json(result: Mapping[str, Any], indent: Optional[int] = 2) -> str:
    """Serialise a result dict (Sec. 4.1 / Eq. 10 metrics). Floats keep full precision; NaN/inf are rejected."""
    return json.dumps(result, indent=indent, default=_json_default, allow_nan=False) + "\n"


# ------------------------------------------------------------------------------------------- CSV
def _sample_metrics(metrics: Sequence[str]) -> List[str]:
    return [m for m in metrics if registry.get(m).level == "sample"]


def csv_header(metrics: Sequence[str]) -> List[str]:
    """Column names of the per-sample CSV (dataset-level metrics have no per-sample column)."""
    return ["file", "box_index", "x0", "y0", "x1", "y1", "label", *_sample_metrics(metrics)]


def csv_rows(result: Mapping[str, Any]) -> List[List[Any]]:
    """Per-sample CSV rows (one per sample, same order as ``result['samples']``)."""
    metrics = _sample_metrics(result["metrics"])
    rows = []
    for s in result["samples"]:
        x0, y0, x1, y1 = s["bbox"]
        rows.append([s["file"], s["box_index"], x0, y0, x1, y1, s["label"],
                     *[("" if s.get(m) is None else repr(s[m]) if isinstance(s[m], float) else s[m])
                       for m in metrics]])
    return rows


def to_csv(result: Mapping[str, Any]) -> str:
    """Per-sample CSV text (Sec. 4.1 metrics per box): ``file, box_index, x0, y0, x1, y1, label`` then one
    column per sample-level metric."""
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(csv_header(result["metrics"]))
    w.writerows(csv_rows(result))
    return buf.getvalue()


# ----------------------------------------------------------------------------------------- table
def format_table(result: Mapping[str, Any]) -> str:
    """Compact human-readable summary: counts line, then one line per metric mean (Sec. 4.1, Eq. 10)."""
    return means_text(result)


def format_checks(items: Sequence[Mapping[str, Any]], failed_only: bool = False) -> str:
    """One ``PASS``/``FAIL`` line per check of ``result["checks"]["items"]``."""
    lines = [f"{'PASS' if c['passed'] else 'FAIL'} {c['detail']}" for c in items
             if not (failed_only and c["passed"])]
    return "".join(line + "\n" for line in lines)


# ---------------------------------------------------------------------------------------- writing
def write_outputs(texts: Mapping[str, str]) -> None:
    """Write output files (``--json`` / ``--per-sample``, path -> text) all-or-nothing and atomically
    (:func:`sem_metric.atomic.atomic_write_all`): an interrupted or failed run leaves none of them."""
    atomic_write_all([(path, (lambda f, t=text: f.write(t)), False) for path, text in texts.items()])
