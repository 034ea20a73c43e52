"""``sem-score``: score predicted label maps against ground truths (paper Sec. 4.1 metrics and Sem).

The command only parses options, calls :func:`sem_metric.evaluate.evaluate_dirs`, writes the outputs
formatted by :mod:`sem_metric.report` and turns checks into an exit code:

0  success; 1  a ``--fail-above`` / ``--fail-below`` threshold or a ``--baseline`` regression check
failed; 2  bad usage or bad input (including a baseline made with other metric/classifier versions,
unless ``--allow-version-mismatch``).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Dict, List

import click

from . import report
from .errors import InputError, SemMetricError
from .version import LABELMAP_METRICS_VERSION, __version__

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2

_HELP = f"""Score the label maps in PRED_DIR against those in GT_DIR inside the boxes of --boxes.

\b
Files pair by relative path (recursive; .png in mode L/P/I;16/I, or 2-D integer .npy). BOXES is a JSON
object {{"rel/path.png": [{{"bbox": [x0, y0, x1, y1], "label": id}}, ...]}} (pixels, x1/y1 exclusive,
labels are class ids of the maps). One sample = one box.

\b
Metrics (paper Sec. 4.1): tiou, hamm (higher is better), nn = mean noise pixels per sample and
sem (Eq. 10) (lower is better). Default: {",".join(report.DEFAULT_METRICS)}; sem is computed only
when asked (--metrics tiou,hamm,nn,sem) because it loads the shape classifier.

\b
Exit status: 0 ok, 1 a threshold or baseline check failed, 2 bad usage or bad input.
"""


# ------------------------------------------------------------------------------------ callbacks
def _metrics_cb(ctx, param, value):
    try:
        return report.parse_metrics(value)
    except InputError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def _threshold_cb(ctx, param, value):
    out = []
    for v in value or ():
        try:
            out.append(report.parse_threshold(v))
        except InputError as e:
            raise click.BadParameter(str(e), ctx=ctx, param=param) from None
    return tuple(out)


def _tolerance_cb(ctx, param, value):
    try:
        return report.parse_tolerances(value or ()), bool(value)
    except InputError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def _output_cb(ctx, param, value):
    if value is None or value == "-":
        return value
    parent = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(parent):
        raise click.BadParameter(f"directory {parent!r} does not exist", ctx=ctx, param=param)
    if os.path.isdir(value):
        raise click.BadParameter(f"{value!r} is a directory, expected a file path", ctx=ctx, param=param)
    return value


# ------------------------------------------------------------------------------------ progress
class _Progress:
    """progress(done, total) callback: a click bar on a TTY, plain lines when forced on a pipe."""

    def __init__(self, mode: str):
        self.mode = mode  # "bar" or "lines"
        self.bar = None
        self.last = 0
        self.next_line = 0

    def __call__(self, done: int, total: int) -> None:
        if self.mode == "bar":
            if self.bar is None:
                self.bar = click.progressbar(length=total, label="sem-score", file=sys.stderr, show_pos=True)
                self.bar.__enter__()
            self.bar.update(done - self.last)
            self.last = done
        else:
            step = max(1, total // 10)
            if done >= self.next_line or done == total:
                click.echo(f"sem-score: {done}/{total} pairs", err=True)
                self.next_line = done + step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _warn(msg: str) -> None:
    click.echo(f"warning: {msg}", err=True)


def _write_text(path: str, text: str) -> None:
    if path == "-":
        click.echo(text, nl=False)
        return
    try:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except OSError as e:
        raise InputError(f"cannot write {path!r}: {e}") from None


# ------------------------------------------------------------------------------------ command
@click.command(help=_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("pred_dir", type=click.Path(exists=True, file_okay=False, dir_okay=True))
@click.argument("gt_dir", type=click.Path(exists=True, file_okay=False, dir_okay=True))
@click.option("--boxes", "boxes_path", required=True, metavar="BOXES",
              type=click.Path(exists=True, dir_okay=False), help="boxes.json (see above).")
@click.option("--metrics", default=",".join(report.DEFAULT_METRICS), show_default=True, callback=_metrics_cb,
              help=f"Comma-separated subset of {','.join(report.ALL_METRICS)}.")
@click.option("--json", "json_path", metavar="PATH", callback=_output_cb,
              help="Write means, per-sample rows and metadata as JSON ('-' = stdout; the table then goes to stderr).")
@click.option("--per-sample", "csv_path", metavar="PATH", callback=_output_cb,
              help="Write one CSV row per sample: file, box_index, x0, y0, x1, y1, label, metrics ('-' = stdout).")
@click.option("--fail-above", multiple=True, metavar="METRIC=VALUE", callback=_threshold_cb,
              help="Exit 1 if the mean of METRIC is above VALUE (e.g. nn=5). Repeatable.")
@click.option("--fail-below", multiple=True, metavar="METRIC=VALUE", callback=_threshold_cb,
              help="Exit 1 if the mean of METRIC is below VALUE (e.g. tiou=0.8). Repeatable.")
@click.option("--baseline", "baseline_path", metavar="JSON", type=click.Path(exists=True, dir_okay=False),
              help="A previous --json result: exit 1 if a metric mean got worse than it by more than the tolerance.")
@click.option("--tolerance", multiple=True, metavar="X|METRIC=X", callback=_tolerance_cb,
              help="Allowed worsening for --baseline, in metric units: X for all metrics and/or "
                   "METRIC=X for one (repeatable). Default 0.")
@click.option("--allow-version-mismatch", is_flag=True,
              help="Compare with a baseline made with another metric-definition version, classifier weights "
                   "or preprocessing (warns instead of exiting 2).")
@click.option("--allow-unmatched", is_flag=True,
              help="Skip files without a counterpart and boxes.json entries without a pair (listed in the output).")
@click.option("--color-map", "color_map_path", metavar="JSON", type=click.Path(exists=True, dir_okay=False),
              help='Colour -> class id mapping for RGB maps: {"#rrggbb": id, "r,g,b": id, ...}.')
@click.option("--weights", metavar="REF", help="Sem classifier weights: shipped name, .safetensors path or "
                                               "hf://owner/repo/file[@rev]. Default: shipped weights.")
@click.option("--device", metavar="DEVICE", help="Sem device: cpu, cuda, cuda:N or auto (default auto).")
@click.option("--batch-size", type=click.IntRange(min=1), metavar="N", help="Sem classifier batch size (default 64).")
@click.option("--threads", type=click.IntRange(min=1), metavar="N",
              help="CPU threads for the Sem classifier (torch.set_num_threads; default: torch's choice). "
                   "Use 1 on a machine whose cores are busy with other jobs.")
@click.option("--gt-cache", "gt_cache", metavar="NPZ", type=click.Path(dir_okay=False),
              help="Cache of ground-truth classifier probabilities (.npz); created/updated as needed.")
@click.option("--progress", "force_progress", is_flag=True,
              help="Show progress on stderr even when it is not a terminal.")
@click.option("-q", "--quiet", is_flag=True, help="No table or progress; failures and errors still go to stderr.")
@click.version_option(__version__, "--version", prog_name="sem-score",
                      message=f"%(prog)s %(version)s (label-map metrics {LABELMAP_METRICS_VERSION})")
@click.pass_context
def main(ctx: click.Context, pred_dir, gt_dir, boxes_path, metrics, json_path, csv_path, fail_above, fail_below,
         baseline_path, tolerance, allow_version_mismatch, allow_unmatched, color_map_path, weights, device,
         batch_size, threads, gt_cache, force_progress, quiet):
    """Entry point of ``sem-score`` (the user-facing help text is ``_HELP``)."""
    tolerances, tolerance_given = tolerance
    # ---- usage checks that need several options
    if json_path == "-" and csv_path == "-":
        raise click.UsageError("--json and --per-sample cannot both write to stdout ('-')")
    if json_path and csv_path and json_path != "-" and os.path.abspath(json_path) == os.path.abspath(csv_path):
        raise click.UsageError("--json and --per-sample must be different files")
    for kind, items in (("--fail-above", fail_above), ("--fail-below", fail_below)):
        for m, v in items:
            if m not in metrics:
                raise click.UsageError(f"{kind} {m}={v:g}: {m} is not computed; add it to --metrics "
                                       f"(now {','.join(metrics)})")
    if baseline_path is None and (tolerance_given or allow_version_mismatch):
        raise click.UsageError("--tolerance and --allow-version-mismatch need --baseline")
    sem_given = {k: v for k, v in (("--weights", weights), ("--device", device), ("--batch-size", batch_size),
                                   ("--threads", threads), ("--gt-cache", gt_cache)) if v is not None}
    if "sem" not in metrics and sem_given:
        _warn(f"{', '.join(sem_given)} only apply to Sem, which is not computed (add sem to --metrics)")
    if threads is not None and "sem" in metrics:
        import torch

        torch.set_num_threads(threads)

    try:
        code = _run(pred_dir, gt_dir, boxes_path, metrics, json_path, csv_path, fail_above, fail_below,
                    baseline_path, tolerances, allow_version_mismatch, allow_unmatched, color_map_path,
                    weights, device, batch_size, gt_cache, force_progress, quiet, ctx.params)
    except SemMetricError as e:
        click.echo(f"error: {e}", err=True)
        ctx.exit(EXIT_BAD_INPUT)
    ctx.exit(code)


def _cli_options(params: Dict[str, Any]) -> Dict[str, Any]:
    """The options of this invocation, JSON-friendly and deterministic."""
    out = {}
    for k, v in sorted(params.items()):
        if k == "tolerance":
            v = v[0]
        elif k in ("fail_above", "fail_below"):
            v = [f"{m}={t!r}" for m, t in v]
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def _run(pred_dir, gt_dir, boxes_path, metrics, json_path, csv_path, fail_above, fail_below, baseline_path,
         tolerances, allow_version_mismatch, allow_unmatched, color_map_path, weights, device, batch_size,
         gt_cache, force_progress, quiet, params) -> int:
    from .evaluate import SemOptions, evaluate_dirs

    baseline = report.load_result(baseline_path) if baseline_path else None
    sem_options = None
    if "sem" in metrics:
        sem_options = SemOptions(weights=weights, device=device, batch_size=batch_size or 64,
                                 gt_cache=gt_cache, warn=_warn)
    progress = None
    if not quiet and (force_progress or sys.stderr.isatty()):
        progress = _Progress("bar" if sys.stderr.isatty() else "lines")
    try:
        result = evaluate_dirs(pred_dir, gt_dir, boxes_path, metrics=metrics, allow_unmatched=allow_unmatched,
                               color_map=color_map_path, sem_options=sem_options, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    result["metadata"]["options"]["cli"] = _cli_options(params)
    counts = result["counts"]
    if counts["samples"] == 0:
        raise InputError(
            f"nothing to evaluate: boxes.json {boxes_path!r} has no box for any of the {counts['pairs']} "
            "pairs (keys must be paths relative to PRED_DIR/GT_DIR, e.g. 'city/0001.png')")

    # ---- checks
    checks = report.check_thresholds(result["means"], fail_above, fail_below)
    mismatches: List[str] = []
    notes: List[str] = []
    if baseline is not None:
        bchecks, mismatches, notes = report.check_baseline(result, baseline, tolerances)
        if not bchecks:
            raise InputError(f"baseline {baseline_path!r} has no metric in common with this run "
                             f"(baseline: {','.join(baseline['means']) or 'none'}; this run: {','.join(metrics)})")
        checks += bchecks
    result["checks"] = {
        "passed": all(c.passed for c in checks),
        "items": [c.as_dict() for c in checks],
        "baseline": None if baseline is None else {
            "path": baseline_path, "version_mismatches": mismatches, "notes": notes,
            "tolerances": {m: tolerances[m] for m in metrics}},
    }

    # ---- outputs (written even when a check fails, so CI can keep them)
    if json_path:
        _write_text(json_path, report.to_json(result))
    if csv_path:
        _write_text(csv_path, report.to_csv(result))
    table_to_stderr = "-" in (json_path, csv_path)
    if not quiet:
        click.echo(report.format_table(result), nl=False, err=table_to_stderr)
        for s in result["skipped"]:
            click.echo(f"skipped {s['file']}: {s['reason']}", err=True)
        for n in notes:
            click.echo(f"note: {n}", err=True)

    if mismatches:
        text = (f"baseline {baseline_path!r} is not comparable with this run: " + "; ".join(mismatches))
        if not allow_version_mismatch:
            raise InputError(text + ". Recompute the baseline with this version, or pass --allow-version-mismatch.")
        _warn(text + " (compared anyway because of --allow-version-mismatch)")
    failed = [c for c in checks if not c.passed]
    if checks:
        click.echo(report.format_checks(checks, failed_only=quiet), nl=False, err=True)
    if failed:
        click.echo(f"sem-score: {len(failed)} check(s) failed", err=True)
        return EXIT_CHECK_FAILED
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    main()
