"""Markdown summary of a ``sem-score --json`` result, for CI job summaries (``$GITHUB_STEP_SUMMARY``).

A heading with the outcome, the table of means (tIOU, hamm, NN of paper Sec. 4.1, Sem of Eq. 10; names,
directions and formats from :mod:`sem_metric.registry`), the failed checks (thresholds, baseline), the
per-class table (collapsed) and the versions that define the numbers. The composite GitHub Action
(``action.yml``) runs::

    python -m sem_metric.pipeline.summary result.json --exit-code "$code" >> "$GITHUB_STEP_SUMMARY"

A missing or unreadable result (sem-score stopped with exit 2 before writing it) gives a short note
that points at the step log instead of a table, as long as ``--exit-code`` is given.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Mapping, Optional, Sequence

from ..errors import SemMetricError
from .checks import validate_result
from .io import read_json
from .tables import RECOGNITION_LEGEND, markdown_cell, markdown_table, means_markdown, per_class_markdown

__all__ = ["to_markdown", "no_result_markdown", "main"]


_cell, _table = markdown_cell, markdown_table


def to_markdown(result: Mapping[str, Any], exit_code: Optional[int] = None, title: str = "sem-score") -> str:
    """GitHub-flavoured Markdown summary of a result dict (layout of :mod:`sem_metric.pipeline.evaluate`).

    ``exit_code``: sem-score's exit status, shown in the heading when given (1 = a check failed).
    """
    checks = result.get("checks") or {}
    items = checks.get("items") or []
    failed = [c for c in items if not c.get("passed")]
    if failed:
        outcome = f"❌ {len(failed)} check{'s' if len(failed) != 1 else ''} failed"
    elif items:
        outcome = f"✅ all {len(items)} check{'s' if len(items) != 1 else ''} passed"
    else:
        outcome = "no checks requested"
    if exit_code is not None:
        outcome += f" (exit {exit_code})"
    c = result.get("counts") or {}
    lines = [f"## {title}: {outcome}", "",
             f"{c.get('samples', 0)} samples in {c.get('pairs_with_boxes', 0)} pairs with boxes "
             f"({c.get('pairs', 0)} pairs, {c.get('skipped', 0)} skipped)", ""]
    failing = {x.get("metric") for x in failed}
    status = {name: "❌" if name in failing else ("✅" if any(x.get("metric") == name for x in items) else "")
              for name in result.get("metrics", ())}
    lines += means_markdown(result, status)
    if failed:
        lines += ["", "### Failed checks", ""] + [f"- ❌ {_cell(x.get('detail'))}" for x in failed]
    passed = [x for x in items if x.get("passed")]
    if passed:
        lines += ["", f"<details><summary>{len(passed)} passed check{'s' if len(passed) != 1 else ''}</summary>", ""]
        lines += [f"- ✅ {_cell(x.get('detail'))}" for x in passed] + ["", "</details>"]
    baseline = checks.get("baseline") or {}
    for note in (baseline.get("version_mismatches") or []) + (baseline.get("notes") or []):
        lines += ["", f"> note: {_cell(note)}"]
    per_class = per_class_markdown(result)
    if per_class:
        n_classes = len(per_class) - 2
        lines += ["", f"<details><summary>Per class ({n_classes} target labels)</summary>", ""]
        lines += per_class + (["", RECOGNITION_LEGEND] if "F@GT" in per_class[0] else []) + ["", "</details>"]
    meta = result.get("metadata") or {}
    sem = meta.get("sem") or {}
    clf = sem.get("classifier") or {}
    versions = [f"sem-metric {meta.get('package_version')}", f"label-map metrics {meta.get('labelmap_metrics_version')}"]
    if clf:
        versions.append(f"Sem weights {clf.get('name')} (sha256 `{str(clf.get('sha256'))[:12]}`), "
                        f"preprocessing {sem.get('preprocessing_version')}, definition {sem.get('definition_version')}")
    lines += ["", "<sub>" + " · ".join(_cell(v) for v in versions) + "</sub>", ""]
    return "\n".join(lines)


def no_result_markdown(exit_code: Optional[int], path: str, title: str = "sem-score") -> str:
    """The summary when sem-score wrote no result (bad input or usage: exit 2; interrupted: 130)."""
    code = "" if exit_code is None else f" (exit {exit_code})"
    return (f"## {title}: ❌ no result{code}\n\nsem-score wrote no result to `{_cell(path)}`: it stopped before "
            "scoring (bad input or options, exit 2). The `error: ...` line in the step log says what to fix.\n")


def _emit(text: str) -> None:
    """Write UTF-8 whatever the console encoding (the summary has emoji)."""
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(text)
    else:
        sys.stdout.flush()
        out.write(text.encode("utf-8"))
        out.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m sem_metric.pipeline.summary RESULT.json [--exit-code N] [--title T]``: Markdown on stdout."""
    ap = argparse.ArgumentParser(prog="python -m sem_metric.pipeline.summary", description=main.__doc__)
    ap.add_argument("result", help="a sem-score --json result")
    ap.add_argument("--exit-code", type=int, help="sem-score's exit status (shown; a missing result is then a note)")
    ap.add_argument("--title", default="sem-score", help="heading (default: sem-score)")
    args = ap.parse_args(argv)

    try:
        result = validate_result(read_json(args.result, "result"), where=f"result {args.result!r}")
    except SemMetricError as e:
        if args.exit_code is None or args.exit_code == 0:
            print(f"error: {e}", file=sys.stderr)
            return 2
        _emit(no_result_markdown(args.exit_code, args.result, args.title))
        return 0
    _emit(to_markdown(result, args.exit_code, args.title))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
