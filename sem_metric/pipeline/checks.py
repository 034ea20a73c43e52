"""CI checks on a result: absolute thresholds and the regression check against a baseline result.

Pure functions of result dicts (see :mod:`sem_metric.pipeline.evaluate` for the layout), driven by
the metric registry (:mod:`sem_metric.registry`): which metrics exist, which direction is better and
which version keys make two results comparable. :func:`sem_metric.pipeline.evaluate.evaluate_dirs`
calls :func:`run_checks` to put the outcome into the result it returns.

Metrics (paper Sec. 4.1): tIOU and hamm (higher is better), NN = mean number of noise pixels per
sample and Sem (Eq. 10) (lower is better).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .. import registry
from ..errors import InputError
from .io import read_json
from .paired import _units, compare_metric, pair_samples

__all__ = ["Check", "CheckOptions", "parse_threshold", "parse_tolerances", "check_thresholds",
           "version_mismatches", "check_baseline", "validate_result", "load_result", "run_checks"]

#: identifies a sem-score result (checked when a result is read back as a baseline)
RESULT_SCHEMA = "sem-metric-result/1"

_FLOAT_RE = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


# --------------------------------------------------------------------------------------- parsing
def _parse_number(text: str, what: str) -> float:
    if not re.fullmatch(_FLOAT_RE, text.strip()):
        raise InputError(f"{what}{text!r} is not a number")
    return float(text)


def parse_threshold(spec: str, option: Optional[str] = None) -> Tuple[str, float]:
    """Parse ``METRIC=VALUE`` (e.g. ``nn=5`` or ``tiou=0.8``) into ``(metric, value)`` (Sec. 4.1 metrics).

    ``option`` (e.g. ``"--fail-above"``) prefixes error messages.
    """
    pre = f"{option}: " if option else ""
    if not isinstance(spec, str) or spec.count("=") != 1:
        raise InputError(f"{pre}expected METRIC=VALUE (e.g. tiou=0.8 or nn=5), got {spec!r}")
    name, value = (s.strip() for s in spec.split("="))
    name = name.lower()
    if name not in registry.METRICS:
        raise InputError(f"{pre}unknown metric {name!r} in {spec!r}; choose one of {','.join(registry.METRICS)}")
    return name, _parse_number(value, f"{pre}in {spec!r}: ")


def parse_tolerances(specs: Iterable[str], option: Optional[str] = None) -> Dict[str, float]:
    """Parse baseline tolerances: ``"X"`` (every metric) and/or ``"METRIC=X"`` (that metric; overrides X).

    Returns ``{metric: tolerance}`` for all registered metrics (0.0 by default). Negative values are
    rejected.
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
    out = {m: per.get(m, default) for m in registry.METRICS}
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
        """JSON form, as stored in ``result["checks"]["items"]``."""
        return {"kind": self.kind, "metric": self.metric, "value": self.value, "limit": self.limit,
                "passed": self.passed, "detail": self.detail}


def _fmt(v: Optional[float]) -> str:
    if v is None:
        return "n/a"
    return f"{v:.6g}"


def check_thresholds(means: Mapping[str, Optional[float]],
                     fail_above: Sequence[Tuple[str, float]] = (),
                     fail_below: Sequence[Tuple[str, float]] = ()) -> List[Check]:
    """Absolute thresholds on metric means (Sec. 4.1 metrics, Eq. 10 Sem).

    ``fail_above (m, t)`` fails when ``mean[m] > t``; ``fail_below (m, t)`` fails when ``mean[m] < t``.
    A metric that is not in ``means`` raises :class:`InputError` (it must be computed); a mean of
    ``None`` (no samples) fails.
    """
    checks: List[Check] = []
    for kind, items in (("fail-above", fail_above), ("fail-below", fail_below)):
        for metric, limit in items:
            if metric not in means:
                raise InputError(
                    f"--{kind} {metric}={limit:g}: {metric} is not computed; add it to --metrics "
                    f"(computed: {','.join(means) or 'none'})"
                )
            v = means[metric]
            if v is None:
                checks.append(Check(kind, metric, None, limit, False, f"{metric}: no samples, cannot check --{kind}"))
                continue
            # never fail inside the metric's documented reproducibility bound (float noise of Sem / SFD)
            slack = registry.get(metric).reproducibility.bound(limit)
            failed = v > limit + slack if kind == "fail-above" else v < limit - slack
            op = (">" if failed else "<=") if kind == "fail-above" else ("<" if failed else ">=")
            within = f"; reproducibility bound {_fmt(slack)}" if slack else ""
            checks.append(Check(kind, metric, v, limit, not failed,
                                f"{metric} mean {_fmt(v)} {op} {_fmt(limit)} (--{kind} {metric}={limit:g}{within})"))
    return checks


def version_mismatches(current: Mapping[str, Any], baseline: Mapping[str, Any],
                       metrics: Iterable[str]) -> List[str]:
    """Human-readable differences between the version keys that matter for ``metrics``.

    Each registered metric names the :data:`sem_metric.registry.VERSION_KEYS` that define its numbers
    (label-map metrics: ``LABELMAP_METRICS_VERSION``; Sem of Eq. 10: the weights sha256 and the
    preprocessing version); results are comparable on a metric only when those are equal.
    """
    cur, base = registry.version_fingerprint(current), registry.version_fingerprint(baseline)
    wanted = {k for m in metrics for k in registry.get(m).version_keys}
    wanted |= {k for k, key in registry.VERSION_KEYS.items() if key.every_metric}  # e.g. the task digest
    return [f"{key.description}: baseline {base[name]!r}, this run {cur[name]!r}"
            for name, key in registry.VERSION_KEYS.items() if name in wanted and cur[name] != base[name]]


def _baseline_notes(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> List[str]:
    notes: List[str] = []
    only_cur = [m for m in current.get("means") or {} if m not in (baseline.get("means") or {})]
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
    return notes


def _paired_tests(current: Mapping[str, Any], baseline: Mapping[str, Any], metrics: Sequence[str],
                  alpha: float) -> Dict[str, Dict[str, Any]]:
    """``{metric: paired comparison}`` (:func:`sem_metric.pipeline.paired.compare_metric`) of the sample-level ``metrics``
    against the baseline's own samples; :class:`InputError` when the samples do not pair."""
    sample = [m for m in metrics if registry.get(m).level == "sample"]
    if not sample:
        return {}
    try:
        base_rows, cur_rows = pair_samples(baseline, current)
    except InputError as e:
        raise InputError(f"--significance compares the per-sample values of this run with the baseline's: {e}") from None
    units, unit = _units(base_rows)
    return {m: compare_metric(m, base_rows, cur_rows, units, unit, alpha) for m in sample}


def check_baseline(current: Mapping[str, Any], baseline: Mapping[str, Any],
                   tolerances: Mapping[str, float] | float = 0.0, significance: Optional[float] = None
                   ) -> Tuple[List[Check], List[str], List[str]]:
    """Regression check of ``current`` means against ``baseline`` means (Sec. 4.1 metrics, Eq. 10).

    A metric fails when it got worse than the baseline mean by more than its tolerance, in its bad
    direction (registry ``higher_is_better``: tIOU/hamm ``cur < base - tol``; NN/Sem ``cur > base + tol``).
    The tolerance is the user's ``tolerances[m]`` plus the metric's documented reproducibility bound
    (:class:`sem_metric.registry.Reproducibility`; 0 for the exact label-map metrics), so that a
    change of batch size, cache state, threads, processes or CPU never fails an unchanged run.
    Only metrics present in both results are compared. Returns ``(checks, version_mismatches, notes)``;
    deciding what to do with version mismatches (they make numbers incomparable) is the caller's job.

    ``significance`` (``sem-score --significance ALPHA``, issue 26): a sample-level metric fails only when it
    is worse by more than the tolerance plus bound *and* the paired sign-flip test over units against the
    baseline's own samples (:func:`sem_metric.pipeline.paired.compare_metric`) gives ``p < ALPHA``; the detail names
    the difference, its paired interval and the p-value. Dataset-level metrics keep the tolerance rule.
    """
    if not isinstance(tolerances, Mapping):
        tolerances = {m: float(tolerances) for m in registry.METRICS}
    cur_means = current.get("means") or {}
    base_means = baseline.get("means") or {}
    common = [m for m in registry.METRICS if m in cur_means and m in base_means]
    checks: List[Check] = []
    tests = _paired_tests(current, baseline, common, significance) if significance is not None else {}
    for m in common:
        spec = registry.get(m)
        cur, base = cur_means[m], base_means[m]
        user_tol = float(tolerances.get(m, 0.0))
        slack = spec.reproducibility.bound(base) if base is not None else 0.0
        tol = user_tol + slack
        if cur is None or base is None:
            checks.append(Check("baseline", m, cur, base, False,
                                f"{m}: mean missing (this run {_fmt(cur)}, baseline {_fmt(base)}), cannot compare"))
            continue
        limit, worse = (base - tol, base - cur) if spec.higher_is_better else (base + tol, cur - base)
        passed = cur >= limit if spec.higher_is_better else cur <= limit
        change = f"worse by {_fmt(worse)}" if worse > 0 else f"better by {_fmt(-worse)}" if worse < 0 else "unchanged"
        allowed = f"tolerance {_fmt(user_tol)} + reproducibility bound {_fmt(slack)}" if slack else f"tolerance {_fmt(tol)}"
        detail = (f"{m} mean {_fmt(cur)} vs baseline {_fmt(base)}: {change} "
                  f"({allowed}, {spec.better} is better)")
        test = tests.get(m)
        if test is not None:     # --significance: worse beyond the tolerance AND p < alpha to fail
            lo, hi = (_fmt(test[k]) for k in ("low", "high"))
            passed = passed or not (test["p_value"] is not None and test["p_value"] < significance)
            detail += (f"; paired difference {_fmt(test['diff'])}, {100 * test['level']:g}% interval [{lo}, {hi}] "
                       f"over {test['n_units']} {test['unit']}(s), p = {test['p_value']:.4g} "
                       f"(--significance {significance:g}: fails only when p < {significance:g} and worse "
                       "beyond the tolerance)")
        elif significance is not None:
            detail += "; no paired test for a dataset-level metric (tolerance rule)"
        checks.append(Check("baseline", m, cur, limit, passed, detail))
    return checks, version_mismatches(current, baseline, common), _baseline_notes(current, baseline)


# ------------------------------------------------------------------------------- reading a baseline
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
            k in registry.METRICS and (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)))
            for k, v in means.items()):
        raise InputError(f"{where}: 'means' must be an object mapping metric names to numbers")
    if not isinstance(data.get("metadata"), dict):
        raise InputError(f"{where}: 'metadata' is missing")
    return data


def load_result(path: str) -> Dict[str, Any]:
    """Read and validate a result JSON (e.g. a ``--baseline``); errors are :class:`InputError`."""
    return validate_result(read_json(path, "baseline"), where=f"baseline {path!r}")


# ------------------------------------------------------------------------------------ all checks
@dataclass(frozen=True)
class CheckOptions:
    """The checks of one run (``sem-score --fail-above/--fail-below/--baseline/--tolerance``).

    ``baseline`` is a result dict or the path of a result JSON; ``tolerances`` ``{metric: allowed
    worsening}`` (missing metrics: 0); ``allow_version_mismatch`` compares with a baseline whose
    version keys differ instead of refusing the run; ``significance`` (an alpha in (0, 1)): the baseline
    check also needs a paired test with ``p < significance`` to fail (:func:`check_baseline`).
    """

    fail_above: Tuple[Tuple[str, float], ...] = ()
    fail_below: Tuple[Tuple[str, float], ...] = ()
    baseline: Any = None
    tolerances: Mapping[str, float] = field(default_factory=dict)
    allow_version_mismatch: bool = False
    significance: Optional[float] = None

    def validate(self, metrics: Sequence[str]) -> None:
        """Refuse, before any work, thresholds on metrics that are not computed."""
        for kind, items in (("--fail-above", self.fail_above), ("--fail-below", self.fail_below)):
            for m, v in items:
                if m not in metrics:
                    raise InputError(f"{kind} {m}={v:g}: {m} is not computed; add it to --metrics "
                                     f"(now {','.join(metrics)})")

    def load_baseline(self) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
        """``(baseline result or None, its path or None)``."""
        if self.baseline is None:
            return None, None
        if isinstance(self.baseline, Mapping):
            return validate_result(dict(self.baseline), where="baseline"), None
        return load_result(str(self.baseline)), str(self.baseline)


def run_checks(result: Mapping[str, Any], options: CheckOptions,
               baseline: Optional[Mapping[str, Any]], baseline_path: Optional[str]) -> Dict[str, Any]:
    """The ``checks`` section of a result: thresholds, then the baseline comparison.

    Raises :class:`InputError` when the baseline shares no metric with the run, or when its version
    keys differ and ``allow_version_mismatch`` is False (the numbers are not comparable).
    """
    checks = check_thresholds(result["means"], options.fail_above, options.fail_below)
    mismatches: List[str] = []
    notes: List[str] = []
    if baseline is not None:
        where = f"baseline {baseline_path!r}" if baseline_path else "baseline"
        bchecks, mismatches, notes = check_baseline(result, baseline, options.tolerances, options.significance)
        if not bchecks:
            raise InputError(f"{where} has no metric in common with this run "
                             f"(baseline: {','.join(baseline['means']) or 'none'}; "
                             f"this run: {','.join(result['metrics'])})")
        if mismatches and not options.allow_version_mismatch:
            raise InputError(f"{where} is not comparable with this run: " + "; ".join(mismatches)
                             + ". Recompute the baseline with this version, or pass --allow-version-mismatch.")
        checks += bchecks
    return {
        "passed": all(c.passed for c in checks),
        "items": [c.as_dict() for c in checks],
        "baseline": None if baseline is None else {
            "path": baseline_path, "version_mismatches": mismatches, "notes": notes,
            "tolerances": {m: float(options.tolerances.get(m, 0.0)) for m in result["metrics"]},
            "significance": options.significance,
            "reproducibility_bounds": {m: registry.get(m).reproducibility.as_dict() for m in result["metrics"]}},
    }
