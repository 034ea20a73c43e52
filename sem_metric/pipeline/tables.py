"""The one module that renders the result's tables (issue 18): the means table and the per-class table, as
text (``sem-score``'s table, ``--per-class``), Markdown (CI job summaries, :mod:`.summary`) and HTML
pieces (``--report``, :mod:`.html_report`).

The rows come from the registry and the result alone (:func:`means_rows`, :func:`per_class_rows`):
every renderer shows the same metrics, values and directions, formatted by ``Metric.format``.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .. import registry

__all__ = ["MeanRow", "means_rows", "per_class_rows", "means_text", "per_class_text", "markdown_table",
           "markdown_cell", "means_markdown", "per_class_markdown", "html_escape", "html_row", "means_html", "per_class_html"]


@dataclass(frozen=True)
class MeanRow:
    """One metric's line of the means table."""

    spec: registry.Metric
    mean: str                          # formatted (``Metric.format``)
    samples: Union[int, str]           # samples with a value, or ``"dataset"``
    total: Any = None                  # ``<name>_total`` when the metric has a ``total_unit``
    interval: str = ""                 # ``[low, high]`` of ``result["intervals"]`` (``""`` without one)


def means_rows(result: Mapping[str, Any]) -> List[MeanRow]:
    """The means table's rows, in the result's (registry) order."""
    rows = []
    for name in result.get("metrics", ()):
        m = registry.get(name)
        n = (sum(1 for r in result.get("samples") or () if r.get(name) is not None)
             if m.level == "sample" else "dataset")
        rows.append(MeanRow(m, m.format((result.get("means") or {}).get(name)), n,
                            result.get(f"{name}_total") if m.total_unit else None,
                            interval_cell(m, (result.get("intervals") or {}).get(name)) or _spread_cell(result, m)))
    return rows


def _spread_cell(result: Mapping[str, Any], spec: registry.Metric) -> str:
    """A dataset-level metric's own spread, when it reports one (SKD: ``± std`` over its subsets), else ``""``."""
    meta = ((result.get("metadata") or {}).get("dataset_metrics") or {}).get(spec.name) or {}
    std = meta.get("std")
    if spec.level != "dataset" or not isinstance(std, (int, float)) or not (meta.get("subsets") or 0) > 1:
        return ""
    return f"± {spec.format(std)} (sd, {meta['subsets']} subsets)"


def interval_cell(spec: registry.Metric, entry: Optional[Mapping[str, Any]]) -> str:
    """An interval (``result["intervals"][m]`` or a class's ``intervals[m]``) as ``[low, high]`` at the metric's
    table precision; ``""`` when there is none."""
    if not entry or entry.get("low") is None or entry.get("high") is None:
        return ""
    return f"[{spec.format(entry['low'])}, {spec.format(entry['high'])}]"


def _level(result: Mapping[str, Any]) -> str:
    """``"95% interval"`` (the level of the result's intervals), or ``""`` when it has none."""
    levels = {e.get("level") for e in (result.get("intervals") or {}).values() if e}
    return f"{100 * levels.pop():g}% interval" if len(levels) == 1 else ("interval" if levels else "")


def sem_note(entry: Mapping[str, Any]) -> str:
    """Short flag for tables: ``""`` (reliable or not assessed), ``"Sem: weak"`` or ``"Sem: unknown"``."""
    rel = entry.get("sem_reliability")
    if not rel or rel.get("status") == "reliable":
        return ""
    return f"Sem: {rel['status']}"


def per_class_rows(result: Mapping[str, Any]) -> Tuple[List[registry.Metric], List[Dict[str, Any]]]:
    """The sample-level metrics and one row per target label: label, name, samples, formatted means, Sem note."""
    classes = (result.get("per_class") or {}).get("classes") or []
    metrics = [registry.get(m) for m in result.get("metrics", ()) if registry.get(m).level == "sample"]
    return metrics, [{"label": c["label"], "name": c.get("name"), "samples": c["samples"],
                      "means": [m.format((c["metrics"].get(m.name) or {}).get("mean")) for m in metrics],
                      "intervals": [interval_cell(m, (c.get("intervals") or {}).get(m.name)) for m in metrics],
                      "note": sem_note(c), "reliability": c.get("sem_reliability"),
                      "recognition": recognition_cell(c.get("gt_recognition"))} for c in classes]


def recognition_cell(rec: Optional[Mapping[str, Any]]) -> str:
    """``gt_recognition`` of a class as a cell: ``0.83 (249/300)``; ``-`` without a COCO counterpart or
    classified objects."""
    if not rec or rec.get("rate") is None:
        return "-"
    return f"{rec['rate']:.2f} ({rec['agree']}/{rec['classified']})"


#: the legend of the per-class ``F@GT`` column (text, Markdown and HTML tables)
RECOGNITION_LEGEND = ("F@GT = share of the class's ground-truth objects whose top-1 class under the Sem "
                      "classifier is the class's COCO counterpart, in this run; low: Sem says little for that class")


# ------------------------------------------------------------------------------ text
def means_text(result: Mapping[str, Any]) -> str:
    """Compact human-readable summary: counts line, then one line per metric mean (Sec. 4.1, Eq. 10)."""
    c = result.get("counts") or {}
    lines = [
        f"samples {c.get('samples', 0)} | pairs {c.get('pairs', 0)} ({c.get('pairs_with_boxes', 0)} with boxes, "
        f"{c.get('pairs_without_boxes', 0)} without) | files pred {c.get('pred_files', '?')}, "
        f"gt {c.get('gt_files', '?')} | skipped {c.get('skipped', 0)}"
    ]
    rows = means_rows(result)
    level = _level(result)
    width = max([len(level)] + [len(r.interval) for r in rows]) if level else 0
    head = f"  {level:<{width}}" if level else ""
    lines.append(f"{'metric':<7} {'mean':>12}{head}  better")
    for row in rows:
        m = row.spec
        extra = f"   (total {row.total} {m.total_unit})" if m.total_unit and row.total is not None else ""
        ci = f"  {row.interval:<{width}}" if level else ""
        lines.append(f"{m.display_name:<7} {row.mean:>12}{ci}  {m.better:<6}{extra}".rstrip())
    unit = {(e or {}).get("unit") for e in (result.get("intervals") or {}).values()} - {None}
    if level and len(unit) == 1:
        e = next(iter(result["intervals"].values()))
        lines.append(f"intervals: {e['method']} over {e['n_units']} {unit.pop()}(s), {e['resamples']} resamples, "
                     f"seed {e['seed']}")
    sem = (result.get("metadata") or {}).get("sem")
    if sem:
        clf = sem.get("classifier") or {}
        sha = str(clf.get("sha256") or "?")[:12]
        lines.append(f"Sem classifier {clf.get('name', '?')} (sha256 {sha}), "
                     f"preprocessing {sem.get('preprocessing_version')}, definition {sem.get('definition_version')}")
    return "\n".join(lines) + "\n"


def _aligned(rows: Sequence[Sequence[str]], left: Sequence[int]) -> List[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(r[i].ljust(widths[i]) if i in left else r[i].rjust(widths[i]) for i in range(len(r))).rstrip()
            for r in rows]


def _with_recognition(per_class: Mapping[str, Any]) -> bool:
    return any(c.get("gt_recognition") is not None for c in per_class.get("classes") or [])


def per_class_text(result: Mapping[str, Any]) -> str:
    """The ``--per-class`` table: one line per target label (id, name, samples, each metric's mean),
    with a ``Sem: weak`` / ``Sem: unknown`` flag where the classifier is not reliable for the class."""
    pc = result.get("per_class") or {}
    metrics, classes = per_class_rows(result)
    rec = _with_recognition(pc)
    rows: List[Tuple[str, ...]] = [("label", "name", "n", *[m.display_name for m in metrics],
                                    *(["F@GT"] if rec else []), "")]
    rows += [(str(c["label"]), c["name"] or "-", str(c["samples"]),
              *[f"{v} {ci}".rstrip() for v, ci in zip(c["means"], c["intervals"])],
              *([c["recognition"]] if rec else []), c["note"]) for c in classes]
    level = _level(result)
    lines = [f"per class ({len(classes)} target label{'s' if len(classes) != 1 else ''})"
             f"{f': mean [{level}]' if level and any(any(c['intervals']) for c in classes) else ''}"]
    lines += _aligned(rows, {0, 1, len(rows[0]) - 1})
    if rec:
        lines.append(RECOGNITION_LEGEND)
    rel = pc.get("reliability")
    if not rel and "sem" in result.get("metrics", ()):
        lines.append("Sem reliability per class: no reliability file for these weights, classes not flagged")
    if rel:
        lines.append(f"Sem reliability per class: {os.path.basename(rel['file'])} (weights sha256 "
                     f"{str(rel['weights_sha256'])[:12]}; its rule is in the JSON's per_class.reliability)")
        if any(c["note"] for c in classes):
            lines.append("Sem: weak = the classifier fails that rule on the class's COCO counterpart; Sem: unknown = "
                         "no COCO counterpart (or no name). Read Sem for these classes with care.")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ Markdown
def markdown_cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> List[str]:
    """GitHub-flavoured Markdown table lines (``right``: right-aligned columns)."""
    sep = ["---:" if i in right else "---" for i in range(len(header))]
    return ["| " + " | ".join(markdown_cell(h) for h in header) + " |", "| " + " | ".join(sep) + " |",
            *["| " + " | ".join(markdown_cell(c) for c in r) + " |" for r in rows]]


def means_markdown(result: Mapping[str, Any], status: Mapping[str, str]) -> List[str]:
    """The means table in Markdown with a checks column (``status``: metric -> mark)."""
    mr = means_rows(result)
    level = _level(result)
    if not level:
        rows = [[r.spec.display_name, r.mean, r.spec.better, r.samples, status.get(r.spec.name, "")] for r in mr]
        return markdown_table(["metric", "mean", "better", "samples", "checks"], rows, right=(1, 3))
    rows = [[r.spec.display_name, r.mean, r.interval or "-", r.spec.better, r.samples, status.get(r.spec.name, "")]
            for r in mr]
    return markdown_table(["metric", "mean", level, "better", "samples", "checks"], rows, right=(1, 2, 4))


def per_class_markdown(result: Mapping[str, Any]) -> List[str]:
    """The per-class table in Markdown (empty when there is none)."""
    metrics, classes = per_class_rows(result)
    if not classes:
        return []
    with_sem = "sem" in result.get("metrics", ())
    rec = _with_recognition(result.get("per_class") or {})
    rows = [[c["label"], c["name"] or "-", c["samples"], *[f"{v} {ci}".rstrip() for v, ci in zip(c["means"], c["intervals"])],
             *([c["recognition"]] if rec else []),
             *([c["note"] or ("reliable" if c["reliability"] else "not assessed")] if with_sem else [])]
            for c in classes]
    return markdown_table(["label", "name", "samples", *[m.display_name for m in metrics], *(["F@GT"] if rec else []),
                           *(["Sem reliability"] if with_sem else [])], rows,
                          right=tuple(range(2, 3 + len(metrics) + rec)))


# ------------------------------------------------------------------------------ HTML pieces
def html_escape(v: Any) -> str:
    return html.escape(str(v), quote=True)


def html_row(cells: Sequence[str], tag: str = "td") -> str:
    """A table row; a cell that already is a ``<tag ...>`` element is kept as it is."""
    return "<tr>" + "".join(c if c.startswith(f"<{tag}") else f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def means_html(result: Mapping[str, Any]) -> str:
    """The means table (and the check lines) for the report page."""
    e = html_escape
    level = _level(result)
    out = ['<table id="summary">', html_row(["metric", "mean", *([e(level)] if level else []), "better", "samples",
                                             "defined in"], "th")]
    for r in means_rows(result):
        ci = [f'<td class="num">{e(r.interval or "-")}</td>'] if level else []
        out.append(html_row([e(r.spec.display_name), f'<td class="num">{e(r.mean)}</td>', *ci, e(r.spec.better),
                             f'<td class="num">{e(r.samples)}</td>', e(r.spec.equation)]))
    out.append("</table>")
    checks = (result.get("checks") or {}).get("items") or []
    if checks:
        out.append('<ul id="checks">' + "".join(
            f'<li><span class="{"pass" if c["passed"] else "fail"}">{"PASS" if c["passed"] else "FAIL"}</span> '
            f"{e(c['detail'])}</li>" for c in checks) + "</ul>")
    return "".join(out)


def _reliability_cell(c: Mapping[str, Any]) -> str:
    e, rel, note = html_escape, c["reliability"], c["note"]
    stats = ""
    if rel and rel.get("coco_class"):
        ci = rel.get("sem_auc_ci")
        stats = (f"COCO {rel['coco_class']}: top-1 {rel.get('top1')}, Sem AUC {rel.get('sem_auc')}"
                 + (f" [{ci[0]}, {ci[1]}]" if ci else ""))
    if note:
        return f'<span class="flag">{e(note)}</span>' + (f"<br><small>{e(stats)}</small>" if stats else "")
    return e(f"reliable ({stats})") if rel else "-"


def per_class_html(result: Mapping[str, Any], names: Optional[Any] = None) -> str:
    """The per-class table for the report page (``names``: a ClassNames for labels without a recorded name)."""
    e = html_escape
    pc = result.get("per_class") or {}
    metrics, classes = per_class_rows(result)
    rec = _with_recognition(pc)
    out = ['<table id="per-class">', html_row(["label", "name", "samples", *[e(m.display_name) for m in metrics],
                                               *(["F@GT"] if rec else []), "Sem reliability"], "th")]
    for c in classes:
        name = c["name"] or (names.name(c["label"]) if names is not None else None) or "-"
        out.append(html_row([f'<td class="num">{e(c["label"])}</td>', e(name), f'<td class="num">{c["samples"]}</td>',
                             *[f'<td class="num">{e(v)}' + (f'<br><small>{e(ci)}</small>' if ci else '') + '</td>'
                               for v, ci in zip(c["means"], c["intervals"])],
                             *([f'<td class="num">{e(c["recognition"])}</td>'] if rec else []), _reliability_cell(c)]))
    out.append("</table>")
    if rec:
        out.append(f'<p class="sub">{e(RECOGNITION_LEGEND)}</p>')
    rel = pc.get("reliability")
    if rel:
        out.append(f'<p class="sub">Sem reliability per class from <code>{e(os.path.basename(rel["file"]))}</code> '
                   f'(matched by weights sha256): {e(rel.get("rule") or "")}</p>')
    elif "sem" in result["metrics"]:
        out.append('<p class="sub">No per-class reliability file matches these Sem weights: classes are not '
                   "flagged.</p>")
    return "".join(out)
