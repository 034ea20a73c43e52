"""Formatting and checking of evaluation results: JSON, per-sample CSV, the summary table,
thresholds and baseline (regression) comparison. Everything here is a pure function of a result dict
as produced by :func:`sem_metric.evaluate.evaluate_dirs` (no file system access except the explicit
``write_*`` / ``load_*`` helpers).

Metrics (paper Sec. 4.1): tIOU (higher is better), hamm (higher is better), NN = mean number of noise
pixels per sample (lower is better) and Sem (Eq. 10, lower is better).

Result dict (``schema == RESULT_SCHEMA``), top-level keys:

``schema``            format identifier, :data:`RESULT_SCHEMA`
``metrics``           metric names computed, in canonical order
``means``             ``{metric: float | None}`` means over samples (None when there are no samples)
``nn_total``          total number of noise pixels over all samples (None when nn was not computed)
``counts``            ``pred_files, gt_files, pairs, pairs_with_boxes, pairs_without_boxes, samples,
                      skipped``
``skipped``           ``[{"file", "reason"}]`` unmatched files / boxes.json entries that were skipped
``pairs_without_boxes`` relative paths of pairs that have no box in boxes.json
``metadata``          deterministic description of how the numbers were produced: ``package_version``,
                      ``labelmap_metrics_version``, ``sem`` (``None`` or ``{classifier, preprocessing_version}``),
                      ``inputs`` and ``options``. Only the version fields are used by the baseline check.
``runtime``           run-dependent information (ground-truth cache hits/misses); never compared
``samples``           per-sample rows ``{file, box_index, bbox, label, <metric>...}``
``checks``            (added by ``sem-score``) ``{passed, items: [{kind, metric, value, limit, passed,
                      detail}], baseline: None | {path, version_mismatches, notes, tolerances}}``
"""
from __future__ import annotations

import csv
import io as _io
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .errors import InputError

__all__ = [
    "RESULT_SCHEMA", "ALL_METRICS", "DEFAULT_METRICS", "HIGHER_IS_BETTER", "LABELMAP_METRICS",
    "Check", "parse_metrics", "parse_threshold", "parse_tolerances", "check_thresholds",
    "version_fingerprint", "version_mismatches", "check_baseline", "validate_result",
    "to_json", "load_result", "csv_header", "csv_rows", "to_csv", "format_table", "format_checks",
]

RESULT_SCHEMA = "sem-metric-result/1"

#: All metrics, in canonical (report) order.
ALL_METRICS: Tuple[str, ...] = ("tiou", "hamm", "nn", "sem")
#: Computed when ``--metrics`` is not given. Sem is opt-in because it loads the shape classifier.
DEFAULT_METRICS: Tuple[str, ...] = ("tiou", "hamm", "nn")
#: Metrics whose definition is versioned by ``LABELMAP_METRICS_VERSION``.
LABELMAP_METRICS: Tuple[str, ...] = ("tiou", "hamm", "nn")
#: Direction of "better" for each metric (paper Table 1: tIOU and hamm up, NN and Sem down).
HIGHER_IS_BETTER: Dict[str, bool] = {"tiou": True, "hamm": True, "nn": False, "sem": False}

_FLOAT_RE = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


# --------------------------------------------------------------------------------------- parsing
def parse_metrics(spec: Any) -> Tuple[str, ...]:
    """Parse a metric selection (``"tiou,nn"`` or an iterable of names) into canonical order.

    Names are case-insensitive; duplicates are merged. Unknown or empty selections raise
    :class:`InputError` listing the valid names.
    """
    if spec is None:
        return DEFAULT_METRICS
    if isinstance(spec, str):
        names = [s.strip().lower() for s in spec.split(",")]
    else:
        names = [str(s).strip().lower() for s in spec]
    names = [n for n in names if n]
    if not names:
        raise InputError(f"no metric selected; choose a comma-separated subset of {','.join(ALL_METRICS)}")
    unknown = [n for n in names if n not in ALL_METRICS]
    if unknown:
        raise InputError(
            f"unknown metric(s) {', '.join(repr(u) for u in unknown)}; "
            f"choose a comma-separated subset of {','.join(ALL_METRICS)}"
        )
    return tuple(m for m in ALL_METRICS if m in names)


def _parse_number(text: str, what: str) -> float:
    if not re.fullmatch(_FLOAT_RE, text.strip()):
        raise InputError(f"{what}{text!r} is not a number")
    return float(text)


def parse_threshold(spec: str, option: Optional[str] = None) -> Tuple[str, float]:
    """Parse ``METRIC=VALUE`` (e.g. ``nn=5`` or ``tiou=0.8``) into ``(metric, value)``.

    ``option`` (e.g. ``"--fail-above"``) prefixes error messages.
    """
    pre = f"{option}: " if option else ""
    if not isinstance(spec, str) or spec.count("=") != 1:
        raise InputError(f"{pre}expected METRIC=VALUE (e.g. tiou=0.8 or nn=5), got {spec!r}")
    name, value = (s.strip() for s in spec.split("="))
    name = name.lower()
    if name not in ALL_METRICS:
        raise InputError(f"{pre}unknown metric {name!r} in {spec!r}; choose one of {','.join(ALL_METRICS)}")
    return name, _parse_number(value, f"{pre}in {spec!r}: ")


def parse_tolerances(specs: Iterable[str], option: Optional[str] = None) -> Dict[str, float]:
    """Parse tolerances: ``"X"`` (every metric) and/or ``"METRIC=X"`` (that metric; overrides X).

    Returns ``{metric: tolerance}`` for all metrics (0.0 by default). Negative values are rejected.
    """
    pre = f"{option}: " if option else ""
    default = 0.0
    per: Dict[str, float] = {}
    for spec in specs:
        if "=" in spec:
            name, value = parse_threshold(spec, option)
            per[name] = value
        else:
            default = _parse_number(spec, pre)
    out = {m: per.get(m, default) for m in ALL_METRICS}
    bad = [f"{m}={v:g}" for m, v in out.items() if v < 0]
    if bad:
        raise InputError(f"{pre}tolerances must be >= 0, got {', '.join(bad)}")
    return out


# --------------------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class Check:
    """Outcome of one threshold / regression check on a metric mean."""

    kind: str            # "fail-above", "fail-below" or "baseline"
    metric: str
    value: Optional[float]
    limit: Optional[float]
    passed: bool
    detail: str

    def as_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "metric": self.metric, "value": self.value, "limit": self.limit,
                "passed": self.passed, "detail": self.detail}


def _fmt(v: Optional[float]) -> str:
    if v is None:
        return "n/a"
    return f"{v:.6g}"


def check_thresholds(means: Mapping[str, Optional[float]],
                     fail_above: Sequence[Tuple[str, float]] = (),
                     fail_below: Sequence[Tuple[str, float]] = ()) -> List[Check]:
    """Absolute thresholds on metric means.

    ``fail_above (m, t)`` fails when ``mean[m] > t``; ``fail_below (m, t)`` fails when ``mean[m] < t``.
    A metric that is not in ``means`` raises :class:`InputError` (it must be computed); a mean of
    ``None`` (no samples) fails.
    """
    checks: List[Check] = []
    for kind, items in (("fail-above", fail_above), ("fail-below", fail_below)):
        for metric, limit in items:
            if metric not in means:
                raise InputError(
                    f"--{kind} {metric}={limit:g}: metric {metric!r} is not computed; add it to --metrics "
                    f"(computed: {','.join(means) or 'none'})"
                )
            v = means[metric]
            if v is None:
                checks.append(Check(kind, metric, None, limit, False, f"{metric}: no samples, cannot check --{kind}"))
                continue
            failed = v > limit if kind == "fail-above" else v < limit
            op = (">" if failed else "<=") if kind == "fail-above" else ("<" if failed else ">=")
            checks.append(Check(kind, metric, v, limit, not failed,
                                f"{metric} mean {_fmt(v)} {op} {_fmt(limit)} (--{kind} {metric}={limit:g})"))
    return checks


def version_fingerprint(result: Mapping[str, Any]) -> Dict[str, Optional[str]]:
    """The fields that define what the numbers of ``result`` mean.

    ``labelmap_metrics_version`` (tIOU/hamm/NN definition), and for Sem the classifier weights'
    ``sem_weights_sha256`` and ``sem_preprocessing_version`` (None when Sem was not computed).
    """
    meta = result.get("metadata") or {}
    sem = meta.get("sem") or {}
    clf = sem.get("classifier") or {}
    return {
        "labelmap_metrics_version": meta.get("labelmap_metrics_version"),
        "sem_weights_sha256": clf.get("sha256"),
        "sem_preprocessing_version": sem.get("preprocessing_version"),
    }


def version_mismatches(current: Mapping[str, Any], baseline: Mapping[str, Any],
                       metrics: Iterable[str]) -> List[str]:
    """Human-readable differences between the version fingerprints that matter for ``metrics``.

    Label-map metrics are comparable only with the same ``LABELMAP_METRICS_VERSION``; Sem only with the
    same weights sha256 and preprocessing version.
    """
    cur, base = version_fingerprint(current), version_fingerprint(baseline)
    metrics = list(metrics)
    fields: List[Tuple[str, str]] = []
    if any(m in LABELMAP_METRICS for m in metrics):
        fields.append(("labelmap_metrics_version", "label-map metric definition version (LABELMAP_METRICS_VERSION)"))
    if "sem" in metrics:
        fields.append(("sem_weights_sha256", "Sem classifier weights sha256"))
        fields.append(("sem_preprocessing_version", "Sem preprocessing version (PREPROCESSING_VERSION)"))
    out = []
    for key, what in fields:
        if cur[key] != base[key]:
            out.append(f"{what}: baseline {base[key]!r}, this run {cur[key]!r}")
    return out


def check_baseline(current: Mapping[str, Any], baseline: Mapping[str, Any],
                   tolerances: Mapping[str, float] | float = 0.0
                   ) -> Tuple[List[Check], List[str], List[str]]:
    """Regression check of ``current`` means against ``baseline`` means.

    A metric fails when it got worse than the baseline mean by more than its tolerance, in its bad
    direction (tIOU/hamm: ``cur < base - tol``; NN/Sem: ``cur > base + tol``). Only metrics present in
    both results are compared. Returns ``(checks, version_mismatches, notes)``; deciding what to do
    with version mismatches (they make numbers incomparable) is the caller's job.
    """
    if not isinstance(tolerances, Mapping):
        tolerances = {m: float(tolerances) for m in ALL_METRICS}
    cur_means = current.get("means") or {}
    base_means = baseline.get("means") or {}
    common = [m for m in ALL_METRICS if m in cur_means and m in base_means]
    notes: List[str] = []
    only_cur = [m for m in cur_means if m not in base_means]
    if only_cur:
        notes.append(f"baseline has no mean for {','.join(only_cur)}; not compared")
    cur_n = (current.get("counts") or {}).get("samples")
    base_n = (baseline.get("counts") or {}).get("samples")
    if cur_n != base_n:
        notes.append(f"baseline has {base_n} samples, this run {cur_n}")
    cur_boxes = ((current.get("metadata") or {}).get("inputs") or {}).get("boxes_sha256")
    base_boxes = ((baseline.get("metadata") or {}).get("inputs") or {}).get("boxes_sha256")
    if cur_boxes and base_boxes and cur_boxes != base_boxes:
        notes.append("baseline was computed with a different boxes.json (sha256 differs)")
    mismatches = version_mismatches(current, baseline, common)
    checks: List[Check] = []
    for m in common:
        tol = float(tolerances.get(m, 0.0))
        cur, base = cur_means[m], base_means[m]
        if cur is None or base is None:
            checks.append(Check("baseline", m, cur, base, False,
                                f"{m}: mean missing (this run {_fmt(cur)}, baseline {_fmt(base)}), cannot compare"))
            continue
        if HIGHER_IS_BETTER[m]:
            limit = base - tol
            passed = cur >= limit
            worse = base - cur
        else:
            limit = base + tol
            passed = cur <= limit
            worse = cur - base
        direction = "higher" if HIGHER_IS_BETTER[m] else "lower"
        if worse > 0:
            change = f"worse by {_fmt(worse)}"
        elif worse < 0:
            change = f"better by {_fmt(-worse)}"
        else:
            change = "unchanged"
        detail = (f"{m} mean {_fmt(cur)} vs baseline {_fmt(base)}: {change} "
                  f"(tolerance {_fmt(tol)}, {direction} is better)")
        checks.append(Check("baseline", m, cur, limit, passed, detail))
    return checks, mismatches, notes


# ------------------------------------------------------------------------------------------ JSON
def _json_default(o: Any) -> Any:
    # numpy scalars / arrays that slipped into a result
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def to_json(result: Mapping[str, Any], indent: Optional[int] = 2) -> str:
    """Serialise a result dict. Floats keep full precision (``repr``); NaN/inf are rejected."""
    return json.dumps(result, indent=indent, default=_json_default, allow_nan=False) + "\n"


def validate_result(data: Any, where: str = "result") -> Dict[str, Any]:
    """Check that ``data`` looks like a sem-score result (schema, means, metadata); return it."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object written by sem-score --json, got {type(data).__name__}")
    schema = data.get("schema")
    if schema != RESULT_SCHEMA:
        raise InputError(
            f"{where}: not a sem-score result (schema {schema!r}, expected {RESULT_SCHEMA!r}); "
            "produce it with `sem-score ... --json PATH`"
        )
    means = data.get("means")
    if not isinstance(means, dict) or not all(
            k in ALL_METRICS and (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)))
            for k, v in means.items()):
        raise InputError(f"{where}: 'means' must be an object mapping metric names to numbers")
    if not isinstance(data.get("metadata"), dict):
        raise InputError(f"{where}: 'metadata' is missing")
    return data


def load_result(path: str) -> Dict[str, Any]:
    """Read and validate a result JSON (e.g. a ``--baseline``); errors are :class:`InputError`."""
    from .io import read_json

    return validate_result(read_json(path, "baseline"), where=f"baseline {path!r}")


# ------------------------------------------------------------------------------------------- CSV
def csv_header(metrics: Sequence[str]) -> List[str]:
    """Column names of the per-sample CSV."""
    return ["file", "box_index", "x0", "y0", "x1", "y1", "label", *metrics]


def csv_rows(result: Mapping[str, Any]) -> List[List[Any]]:
    """Per-sample CSV rows (one per sample, same order as ``result['samples']``)."""
    metrics = list(result["metrics"])
    rows = []
    for s in result["samples"]:
        x0, y0, x1, y1 = s["bbox"]
        rows.append([s["file"], s["box_index"], x0, y0, x1, y1, s["label"],
                     *[("" if s.get(m) is None else repr(s[m]) if isinstance(s[m], float) else s[m])
                       for m in metrics]])
    return rows


def to_csv(result: Mapping[str, Any]) -> str:
    """Per-sample CSV text: ``file, box_index, x0, y0, x1, y1, label`` then one column per metric."""
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(csv_header(result["metrics"]))
    w.writerows(csv_rows(result))
    return buf.getvalue()


# ----------------------------------------------------------------------------------------- table
_NAMES = {"tiou": "tIOU", "hamm": "hamm", "nn": "NN", "sem": "Sem"}


def format_table(result: Mapping[str, Any]) -> str:
    """Compact human-readable summary: counts line, then one line per metric mean."""
    c = result.get("counts") or {}
    lines = [
        f"samples {c.get('samples', 0)} | pairs {c.get('pairs', 0)} ({c.get('pairs_with_boxes', 0)} with boxes, "
        f"{c.get('pairs_without_boxes', 0)} without) | files pred {c.get('pred_files', '?')}, "
        f"gt {c.get('gt_files', '?')} | skipped {c.get('skipped', 0)}"
    ]
    lines.append(f"{'metric':<7} {'mean':>12}  better")
    for m in result["metrics"]:
        v = result["means"].get(m)
        text = "n/a" if v is None else f"{v:.4f}" if m != "nn" else f"{v:.3f}"
        extra = ""
        if m == "nn" and result.get("nn_total") is not None:
            extra = f"   (total {result['nn_total']} noise pixels)"
        lines.append(f"{_NAMES[m]:<7} {text:>12}  {'higher' if HIGHER_IS_BETTER[m] else 'lower':<6}{extra}".rstrip())
    sem = (result.get("metadata") or {}).get("sem")
    if sem:
        clf = sem.get("classifier") or {}
        sha = str(clf.get("sha256") or "?")[:12]
        lines.append(f"Sem classifier {clf.get('name', '?')} (sha256 {sha}), preprocessing {sem.get('preprocessing_version')}")
    return "\n".join(lines) + "\n"


def format_checks(checks: Sequence[Check], failed_only: bool = False) -> str:
    """One ``PASS``/``FAIL`` line per check."""
    lines = [f"{'PASS' if c.passed else 'FAIL'} {c.detail}" for c in checks if not (failed_only and c.passed)]
    return "".join(line + "\n" for line in lines)
