"""``sem-score --report DIR``: a self-contained HTML page to look at the worst samples of each metric.

The page (``DIR/index.html``, inline CSS, no script, no network; PNG images in ``DIR/img/``) shows

* the metadata that defines the numbers (package version, label-map metric version, Sem weights sha256
  and preprocessing version), the means table with the checks, and the per-class table
  (:mod:`sem_metric.pipeline.per_class`);
* for each selected metric (in registry order; "worst" follows the registry's ``higher_is_better``), a
  histogram of the per-sample values and the K worst samples: ground-truth and prediction crops around
  the box (box drawn, some context, colourised with a fixed palette, legend of the classes present), the
  binary object map ``O`` of Eq. 10 in the classifier's box window (``box-window-v1``, built by
  :func:`sem_metric.sem.preprocess.classifier_input` from :mod:`sem_metric.labelmap.target_object`) for
  both, and, when Sem was computed, the classifier's top-3 COCO classes with probabilities for each.

Everything is derived from a result dict (:mod:`sem_metric.pipeline.evaluate`): the maps are read again
from ``metadata.inputs`` (or through ``load_pair`` for in-memory results) and the classifier is loaded
from ``metadata.options.sem.weights`` pinned to the recorded sha256. Also runnable on a saved result::

    python -m sem_metric.pipeline.html_report result.json --out report/ [-k 8] [--class-names cityscapes]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import registry
from ..atomic import atomic_write
from ..errors import InputError, SemMetricError
from ..labelmap.box import as_label_map
from ..sem.classes import COCO_CLASSES
from ..sem.weights import load_classifier
from .checks import validate_result
from .class_names import ClassNames, load_class_names
from .io import parse_color_map, read_label_map
from .json_file import read_json
from .report_images import (WINDOW_PX as _WINDOW_PX, colourise,  # noqa: F401 (public names of this module)
                            context_window as _context_window, crop_image as _crop_image, histogram_png, palette_color,
                            save_png as _save_png, window_image as _window_image)
from .result import top3_of
from .tables import html_escape, html_row, means_html, per_class_html

__all__ = ["DEFAULT_K", "palette_color", "colourise", "worst_samples", "histogram_png", "check_report_dir",
           "write_report", "main"]

DEFAULT_K = 8
#: marks a folder as written by this module (a non-empty folder without it is never overwritten)
GENERATOR = "sem-metric html_report"
_TOP = 3

# ------------------------------------------------------------------------------------ selection
def worst_samples(result: Mapping[str, Any], metric: str, k: int = DEFAULT_K) -> List[int]:
    """Indices into ``result["samples"]`` of the ``k`` worst samples on a sample-level ``metric``.

    Worst = lowest for a metric whose registry entry says higher is better (tIOU, hamm), highest
    otherwise (NN, Sem of Eq. 10); ties keep the samples' order; samples without a value are skipped.
    """
    spec = registry.get(metric)
    rows = result["samples"]
    idx = [i for i, r in enumerate(rows) if r.get(metric) is not None]
    sign = 1.0 if spec.higher_is_better else -1.0
    idx.sort(key=lambda i: (sign * float(rows[i][metric]), i))
    return idx[:max(0, int(k))]


# ------------------------------------------------------------------------------------ report folder
def check_report_dir(path: "str | os.PathLike[str]") -> Path:
    """Validate ``--report DIR`` before any work: a new folder, an empty one, or an earlier report.

    A file, or a non-empty folder that this module did not write, is an :class:`InputError` (the report
    never overwrites other files).
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"--report {os.fspath(path)!r} is a file; give a folder (created if missing)")
    if p.is_dir() and any(p.iterdir()):
        index = p / "index.html"
        try:
            ours = index.is_file() and GENERATOR in index.read_text(encoding="utf-8", errors="replace")[:2000]
        except OSError:
            ours = False
        if not ours:
            raise InputError(f"--report {os.fspath(path)!r} is a non-empty folder that is not a sem-score report; "
                             "give a new or empty folder")
    return p


def _prepare_dir(path: "str | os.PathLike[str]") -> Path:
    p = check_report_dir(path)
    try:
        (p / "img").mkdir(parents=True, exist_ok=True)
        for old in (p / "img").glob("*.png"):  # images of an earlier report
            old.unlink()
    except OSError as e:
        raise InputError(f"cannot write the report folder {os.fspath(path)!r}: {e}") from None
    return p


# ------------------------------------------------------------------------------------ data access
def _default_loader(result: Mapping[str, Any]) -> Callable[[str], Tuple[np.ndarray, np.ndarray]]:
    meta = result.get("metadata") or {}
    inputs = meta.get("inputs") or {}
    if not inputs.get("pred_dir") or not inputs.get("gt_dir"):
        raise InputError("the report needs the label maps: this result has no metadata.inputs.pred_dir/gt_dir "
                         "(it was computed in memory); pass load_pair=name -> (pred, gt) to write_report")
    cmap_rec = (meta.get("options") or {}).get("color_map")
    cmap = parse_color_map(cmap_rec) if cmap_rec else None

    def load(name: str) -> Tuple[np.ndarray, np.ndarray]:
        return (read_label_map(os.path.join(inputs["pred_dir"], name), color_map=cmap),
                read_label_map(os.path.join(inputs["gt_dir"], name), color_map=cmap))

    return load


def _load_classifier(result: Mapping[str, Any], weights: Any, device: Optional[str]):
    sem = (result.get("metadata") or {}).get("sem") or {}
    sha = (sem.get("classifier") or {}).get("sha256")
    if weights is None:
        weights = ((result.get("metadata") or {}).get("options") or {}).get("sem", {}) or {}
        weights = weights.get("weights") if isinstance(weights, Mapping) else None
    return load_classifier(weights, device=device or "cpu", sha256=sha)


# ------------------------------------------------------------------------------------ HTML
_CSS = """
body{font:14px/1.4 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;color:#1d232a;background:#f4f5f7}
main{max-width:1240px;margin:0 auto;padding:16px 24px 40px}
h1{font-size:22px;margin:8px 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #d5d9e0;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}
.sub{color:#5b6675;margin:0 0 12px}
table{border-collapse:collapse;background:#fff;margin:6px 0 10px} #metadata{width:100%}
th,td{border:1px solid #d5d9e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#e9ecf1;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#137333;font-weight:600} .fail{color:#b3261e;font-weight:600}
.flag{color:#8a5300;font-weight:600}
.meta td:first-child{color:#5b6675;white-space:nowrap} code{font-size:12px;word-break:break-all}
.cards{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start} .cards>div.grow{flex:1;min-width:480px}
table.samples td{background:#fff}
table.samples td.fig{text-align:center;font-size:12px;color:#5b6675}
table.samples img{display:block;margin:0 auto 2px;image-rendering:pixelated;border:1px solid #c9ced6}
.hi{background:#fff4d6!important;font-weight:600}
ol.top{margin:2px 0 0;padding-left:18px;text-align:left;color:#1d232a}
.legend span.sw{display:inline-block;width:11px;height:11px;border:1px solid #555;margin-right:4px;vertical-align:-1px}
.legend div{white-space:nowrap;font-size:12px}
.nw{white-space:nowrap} .file{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
"""


_e, _row = html_escape, html_row


def _class_label(cid: int, names: Optional[ClassNames]) -> str:
    return names.label(cid) if names is not None else str(int(cid))


def _legend(ids: Sequence[int], names: Optional[ClassNames]) -> str:
    items = []
    for cid in ids:
        r, g, b = palette_color(cid)
        items.append(f'<div><span class="sw" style="background:#{r:02x}{g:02x}{b:02x}"></span>'
                     f"{_e(_class_label(cid, names))}</div>")
    return '<div class="legend">' + "".join(items) + "</div>"


def _top3(top: Any) -> str:
    """The top-3 list of one object: a recorded ``(class ids, probabilities)`` pair (:attr:`Result.top3`)."""
    if top is None:
        return ""

    ids, probs = top
    return '<ol class="top">' + "".join(f"<li>{_e(COCO_CLASSES[i])} {p:.3f}</li>" for i, p in zip(ids, probs)) + "</ol>"


def _metadata_table(result: Mapping[str, Any], names: Optional[ClassNames]) -> str:
    meta = result.get("metadata") or {}
    sem = meta.get("sem") or {}
    clf = sem.get("classifier") or {}
    inputs = meta.get("inputs") or {}
    c = result.get("counts") or {}
    rows = [
        ("package version", meta.get("package_version")),
        ("label-map metrics version", meta.get("labelmap_metrics_version")),
        ("Sem weights", f"{clf.get('name')} ({clf.get('source')})" if clf else "Sem not computed"),
        ("Sem weights sha256", clf.get("sha256") if clf else "-"),
        ("Sem preprocessing version", sem.get("preprocessing_version") if sem else "-"),
        ("Sem definition version", sem.get("definition_version") if sem else "-"),
        ("predictions", inputs.get("pred_dir", inputs.get("source"))),
        ("ground truth", inputs.get("gt_dir", inputs.get("source"))),
        ("boxes", f"{inputs.get('boxes')} (sha256 {inputs.get('boxes_sha256')})" if inputs.get("boxes") else "-"),
        ("class names", names.source if names is not None else "none (ids only; pass --class-names)"),
        ("samples / pairs", f"{c.get('samples')} samples in {c.get('pairs_with_boxes')} pairs with boxes "
                            f"({c.get('pairs')} pairs, {c.get('skipped', 0)} skipped)"),
    ]
    task = meta.get("task") or {}
    if task:
        rows[:0] = [("task", _task_line(task)),
                    ("task digest", f"{task.get('digest')} (digest version {task.get('digest_version')})")]
    return ('<table class="meta" id="metadata">' + "".join(
        _row([_e(k), f"<code>{_e(v)}</code>"]) for k, v in rows) + "</table>")


def _task_line(task: Mapping[str, Any]) -> str:
    """``protocol@version (dataset; N samples)`` of ``metadata.task`` (the Sec. 4.1 protocol the result was scored on)."""
    what = "; ".join(str(v) for v in (task.get("dataset"), task.get("samples") is not None
                                      and f"{task.get('samples')} samples") if v)
    return f"{task.get('protocol')}@{task.get('protocol_version')}" + (f" ({what})" if what else "")


def _summary_table(result: Mapping[str, Any]) -> str:
    return means_html(result)


def _per_class_table(result: Mapping[str, Any], names: Optional[ClassNames]) -> str:
    return per_class_html(result, names)


# ------------------------------------------------------------------------------------ entry point
def _sample_images(samples: Sequence[Mapping[str, Any]], needed: Sequence[int], load: Callable, out: Path
                   ) -> Tuple[Dict[int, Tuple[np.ndarray, np.ndarray]], Dict[int, List[int]]]:
    """Crops and classifier windows of the samples shown (PNG files); windows and class ids present per sample."""
    from ..sem.preprocess import classifier_input

    maps: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
    windows: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
    present: Dict[int, List[int]] = {}
    for i in needed:
        s = samples[i]
        if s["file"] not in maps:
            pred, gt = load(s["file"])
            maps[s["file"]] = (as_label_map(pred, f"prediction {s['file']!r}"),
                               as_label_map(gt, f"ground truth {s['file']!r}"))
        pred, gt = maps[s["file"]]
        box = tuple(int(v) for v in s["bbox"])
        win = _context_window(box, gt.shape)
        _save_png(_crop_image(gt, box, win), out / "img" / f"s{i}_gt.png")
        _save_png(_crop_image(pred, box, win), out / "img" / f"s{i}_pred.png")
        wg = classifier_input(gt, box, int(s["label"])).numpy()
        wp = classifier_input(pred, box, int(s["label"])).numpy()
        windows[i] = (wg, wp)
        _save_png(_window_image(wg), out / "img" / f"s{i}_gt_obj.png")
        _save_png(_window_image(wp), out / "img" / f"s{i}_pred_obj.png")
        cx0, cy0, cx1, cy1 = win
        present[i] = sorted(set(np.unique(gt[cy0:cy1, cx0:cx1]).tolist())
                            | set(np.unique(pred[cy0:cy1, cx0:cx1]).tolist()))
    return windows, present


def _classifier_top3(result: Mapping[str, Any], needed: Sequence[int], windows: Mapping[int, Any],
                     classifier: Any, weights: Any, device: Optional[str]) -> Dict[int, Any]:
    """Top-3 of the shown samples: from the run's own classifier pass (:attr:`Result.top3`); the classifier is
    loaded and run only for samples it did not classify (a result read back from JSON, identical objects)."""
    if not result.get("metadata", {}).get("sem") or not needed:
        return {}
    recorded = getattr(result, "top3", None) or [None] * len(result["samples"])
    top = {i: recorded[i] for i in needed if recorded[i] is not None}
    missing = [i for i in needed if i not in top]
    if missing and "sem" in result["metrics"]:
        import torch

        from ..sem.metric import probabilities_from_inputs

        model = classifier if classifier is not None else _load_classifier(result, weights, device)
        p = probabilities_from_inputs(torch.from_numpy(np.stack([w for i in missing for w in windows[i]])), model)
        top.update({i: (top3_of(p[2 * j]), top3_of(p[2 * j + 1])) for j, i in enumerate(missing)})
    return top


def _sample_row(rank: int, i: int, s: Mapping[str, Any], m: str, sample_metrics: Sequence[str], top: Any,
                present: Sequence[int], names: Optional[ClassNames]) -> str:
    label = int(s["label"])
    vals = [f'<td class="num{" hi" if x == m else ""}">{_e(registry.get(x).format(s.get(x)))}</td>'
            for x in sample_metrics]
    info = (f'<td><div class="file">{_e(s["file"])}</div>box {_e(s["box_index"])}: '
            f'<code class="nw">{_e(s["bbox"])}</code><br>target {_e(_class_label(label, names))}</td>')
    figs = [
        f'<td class="fig"><img src="img/s{i}_gt.png" alt="ground truth crop">S<sup>c</sup></td>',
        f'<td class="fig"><img src="img/s{i}_pred.png" alt="prediction crop">&#348;</td>',
        f'<td class="fig"><img src="img/s{i}_gt_obj.png" alt="ground-truth object map" width="{_WINDOW_PX}">'
        f"O<sup>c</sup>{_top3(top[0] if top else None)}</td>",
        f'<td class="fig"><img src="img/s{i}_pred_obj.png" alt="predicted object map" width="{_WINDOW_PX}">'
        f"&Ocirc;{_top3(top[1] if top else None)}</td>",
    ]
    return (f'<tr class="sample"><td class="num">{rank}</td>{info}{"".join(vals)}{"".join(figs)}'
            f"<td>{_legend(present, names)}</td></tr>")


def _metric_section(result: Mapping[str, Any], m: str, chosen: Sequence[int], sample_metrics: Sequence[str],
                    top: Mapping[int, Any], present: Mapping[int, List[int]], names: Optional[ClassNames]) -> str:
    spec = registry.get(m)
    parts = [f'<section class="metric" id="metric-{_e(m)}"><h2>{_e(spec.display_name)} '
             f'<span class="sub">({_e(spec.equation)}; {spec.better} is better)</span></h2>']
    if spec.level != "sample":
        return "".join(parts) + (f'<p>Dataset-level metric: {_e(spec.format(result["means"].get(m)))} '
                                 "(one value per run; no per-sample values).</p></section>")
    parts.append(f'<img src="img/hist_{_e(m)}.png" alt="histogram of {_e(spec.display_name)}" width="360" height="170">')
    parts.append(f"<h3>{len(chosen)} worst sample{'s' if len(chosen) != 1 else ''}</h3>")
    head = ["#", "sample", *[_e(registry.get(x).display_name) for x in sample_metrics],
            "ground truth", "prediction", "GT object map", "predicted object map", "classes"]
    parts.append(f'<table class="samples" id="worst-{_e(m)}">' + _row(head, "th"))
    parts += [_sample_row(rank, i, result["samples"][i], m, sample_metrics, top.get(i), present[i], names)
              for rank, i in enumerate(chosen, start=1)]
    parts.append("</table></section>")
    return "\n".join(parts)


def _page(result: Mapping[str, Any], names: Optional[ClassNames], sections: Sequence[str]) -> str:
    meta = result.get("metadata") or {}
    passed = (result.get("checks") or {}).get("passed", True)
    n_checks = len((result.get("checks") or {}).get("items") or [])
    status = ("" if not n_checks else
              f' &middot; checks: <span class="{"pass" if passed else "fail"}">{"passed" if passed else "FAILED"}</span>')
    task = meta.get("task") or {}
    if task:
        status += (f' &middot; task <code id="task">{_e(_task_line(task))}</code>, digest '
                   f'<code>{_e(str(task.get("digest"))[:16])}</code>')
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR} {_e(meta.get("package_version"))}">',
        "<title>sem-score report</title>", f"<style>{_CSS}</style></head><body><main>",
        "<h1>sem-score report</h1>",
        f'<p class="sub">{_e(result["counts"]["samples"])} samples &middot; metrics '
        f'{_e(", ".join(registry.get(m).display_name for m in result["metrics"]))}{status}</p>',
        '<section id="overview"><h2>Summary</h2><div class="cards"><div><h3>Means</h3>', _summary_table(result),
        "</div><div class=\"grow\"><h3>Metadata</h3>", _metadata_table(result, names), "</div></div></section>",
        '<section id="per-class-section"><h2>Per class</h2>', _per_class_table(result, names), "</section>",
        *sections,
        '<p class="sub">Crops: the box (white outline) with context around it, one colour per class id. '
        "Object maps: the binary target object O (white) inside the box (grey) in the classifier's "
        f"window ({_e((meta.get('sem') or {}).get('preprocessing_version') or 'box-window-v1')}), "
        "as Sem (Eq. 10) feeds it to the classifier; top-3: its most likely COCO classes.</p>",
        "</main></body></html>\n",
    ]
    return "\n".join(parts)


def write_report(result: Mapping[str, Any], out_dir: "str | os.PathLike[str]", k: int = DEFAULT_K, *,
                 load_pair: Optional[Callable[[str], Tuple[Any, Any]]] = None, class_names: Any = None,
                 classifier: Any = None, weights: Any = None, device: Optional[str] = None) -> str:
    """Write the HTML report of a result (module docstring) into ``out_dir``; returns the page's path.

    ``k``: worst samples per metric. ``load_pair(file) -> (pred, gt)``: how to get a sample's maps
    (default: read from ``metadata.inputs``; needed for results of ``evaluate_samples``).
    ``class_names``: names for legends and tables (default: ``metadata.options.class_names``).
    The classifier's top-3 (Eq. 10's ``Softmax(F(O))``) come from the run itself (``Result.top3`` of
    ``evaluate_dirs`` / ``evaluate_samples``: no second classifier pass); for samples it did not classify
    (a result read back from JSON) ``classifier`` is used if given, else ``weights`` (default: the
    recorded weights, pinned to the recorded sha256) are loaded on ``device`` (default CPU).
    """
    if int(k) < 1:
        raise InputError(f"--report-k must be >= 1, got {k}")
    out = _prepare_dir(out_dir)
    names = load_class_names(class_names if class_names is not None
                             else ((result.get("metadata") or {}).get("options") or {}).get("class_names"))
    samples = result["samples"]
    sample_metrics = [m for m in result["metrics"] if registry.get(m).level == "sample"]
    chosen = {m: worst_samples(result, m, k) for m in sample_metrics}
    needed = sorted({i for idx in chosen.values() for i in idx})
    windows, present = _sample_images(samples, needed, load_pair or _default_loader(result), out)
    top = _classifier_top3(result, needed, windows, classifier, weights, device)
    for m in sample_metrics:
        spec = registry.get(m)
        _save_png(histogram_png([r.get(m) for r in samples], f"{spec.display_name} per sample ({spec.better} is better)",
                                integer=spec.integer, mean=result["means"].get(m)), out / "img" / f"hist_{m}.png")
    sections = [_metric_section(result, m, chosen.get(m, []), sample_metrics, top, present, names)
                for m in result["metrics"]]
    text = _page(result, names, sections)
    page = out / "index.html"
    atomic_write(page, lambda f: f.write(text), what="report")
    return str(page)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m sem_metric.pipeline.html_report RESULT.json --out DIR``: the report of a saved result."""
    ap = argparse.ArgumentParser(prog="python -m sem_metric.pipeline.html_report", description=main.__doc__)
    ap.add_argument("result", help="a sem-score --json result")
    ap.add_argument("--out", required=True, help="report folder (created; an earlier report is replaced)")
    ap.add_argument("-k", type=int, default=DEFAULT_K, help=f"worst samples per metric (default {DEFAULT_K})")
    ap.add_argument("--class-names", help="built-in set (coco, cityscapes, ade20k, camvid) or {id: name} JSON")
    ap.add_argument("--device", help="device for Sem's top-3 (default cpu)")
    args = ap.parse_args(argv)
    try:
        result = validate_result(read_json(args.result, "result"), where=f"result {args.result!r}")
        print(write_report(result, args.out, args.k, class_names=args.class_names, device=args.device))
    except SemMetricError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
