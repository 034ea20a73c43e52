"""``sem-score``: score predicted label maps against ground truths (paper Sec. 4.1 metrics and Sem, Eq. 10).

The command only parses options, calls :func:`sem_metric.pipeline.evaluate.evaluate_dirs` (which builds
the complete result, checks included), writes the outputs formatted by :mod:`sem_metric.pipeline.report`
and turns the result into an exit code:

0  success; 1  a ``--fail-above`` / ``--fail-below`` threshold or a ``--baseline`` regression check
failed; 2  bad usage or bad input (including a baseline made with other metric/classifier versions,
unless ``--allow-version-mismatch``); 130  interrupted (Ctrl-C). Every error is one ``error: ...`` line
on stderr; runs that end with 2 or 130 write no output file.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Dict, Mapping

import click

from . import registry
from ._allocator import keep_freed_memory
from .cli_callbacks import _Progress, score_options
from .command import Command
from .distributed import init_from_env, torchrun_world_size
from .errors import EXIT_BAD_INPUT, InputError, SemMetricError
from .launch import launch_workers, record_exit_code
from .pipeline import report
from .pipeline.evaluate import CheckOptions, SemOptions, evaluate_dirs
from .pipeline.html_report import write_report
from .pipeline.per_class import format_per_class
from .task.scoring import resolve_task, task_class_names

EXIT_OK, EXIT_CHECK_FAILED = 0, 1


def _metric_help() -> str:
    return "\n".join(f"  {m.name:<6} {m.display_name}: {m.equation}, {m.better} is better"
                     for m in registry.METRICS.values())


_HELP = f"""Score the label maps in PRED_DIR against those in GT_DIR inside the boxes of --boxes.

\b
Files pair by relative path (recursive; .png in mode L/P/I;16/I, or 2-D integer .npy). BOXES is a JSON
object {{"rel/path.png": [{{"bbox": [x0, y0, x1, y1], "label": id}}, ...]}} (pixels, x1/y1 exclusive,
labels are class ids of the maps, e.g. Cityscapes labelIds). One sample = one box.
`sem-score PRED_DIR --task TASK_DIR` takes GT_DIR and BOXES from a verified task built by sem-task.

\b
Metrics (default {",".join(registry.default_names())}; NN is the mean number of noise pixels per sample;
sem loads the shape classifier, so it is computed only when asked: --metrics tiou,hamm,nn,sem):
{_metric_help()}

\b
Many processes: `sem-score ... --processes N` (or `torchrun --nproc-per-node N --no-python sem-score ...`)
shards the pairs over the ranks; rank 0 writes the same result as one process (metadata world_size = N).
Checks never fail inside a metric's documented reproducibility bound (README, "Reproducibility").

\b
Exit status: 0 ok, 1 a threshold or baseline check failed, 2 bad usage or bad input, 130 interrupted.
"""


def _warn(msg: str) -> None:
    click.echo(f"warning: {msg}", err=True)


class _Command(Command):
    """sem-score: the package's command conventions (:mod:`sem_metric.command`)."""

    prog = "sem-score"


# ------------------------------------------------------------------------------------ command
@click.command(cls=_Command, help=_HELP,
               context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@score_options
@click.pass_context
def main(ctx: click.Context, pred_dir, gt_dir, boxes_path, task_dir, metrics, json_path, csv_path, per_class, class_names,
         report_dir, report_k, fail_above, fail_below, baseline_path, tolerance, significance, allow_version_mismatch,
         allow_absent_target, allow_stuff_target, allow_unmatched, color_map_path, weights, weights_sha256, device, batch_size, threads,
         compile, gt_cache, sfd_gt_stats, processes, force_progress, quiet):  # noqa: A002 (click option name)
    """Entry point of ``sem-score`` (the user-facing help text is ``_HELP``)."""
    tolerances, tolerance_given = tolerance
    _usage_checks(ctx.params, tolerance_given)
    classifier_needed = any(registry.get(m).kind == "sem" for m in metrics)
    # ---- --processes N: start N workers running this command (they see torchrun's environment)
    if processes > 1 and _torchrun_world_size() == 1:
        ctx.exit(launch_workers(ctx.command.raw_args, processes, threads))
    # ---- torchrun: join the process group; rank 0 alone prints, warns and writes
    dist = None
    if _torchrun_world_size() > 1:
        try:
            dist, device = init_from_env(device, uses_device=classifier_needed)
        except SemMetricError as e:
            click.echo(f"error: {e.for_cli()}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
    main_rank = dist is None or dist.is_main
    warn = _warn if main_rank else (lambda msg: None)
    _prepare_classifier(ctx.params, classifier_needed, warn)

    check_options = CheckOptions(fail_above=fail_above, fail_below=fail_below, baseline=baseline_path,
                                 tolerances=tolerances, allow_version_mismatch=allow_version_mismatch,
                                 significance=significance)
    sem_options = None
    if classifier_needed:
        sem_options = SemOptions(weights=weights, sha256=weights_sha256, device=device, batch_size=batch_size or 64,
                                 gt_cache=gt_cache, sfd_gt_stats=sfd_gt_stats, warn=warn, compile=compile)
    progress = None
    if main_rank and not quiet and (force_progress or sys.stderr.isatty()):
        progress = _Progress("bar" if sys.stderr.isatty() else "lines")
    try:
        task_meta = None
        if task_dir is not None:  # a verified SISM task (sem_metric.task): its gt/, boxes.json and digest
            gt_dir, boxes_path, task_meta = resolve_task(task_dir)
            class_names = task_class_names(task_dir) if class_names is None else class_names
        result = evaluate_dirs(pred_dir, gt_dir, boxes_path, metrics=metrics, allow_unmatched=allow_unmatched,
                               color_map=color_map_path, sem_options=sem_options, progress=progress,
                               checks=check_options, allow_absent_target=allow_absent_target, warn=warn,
                               cli_options=_cli_options(ctx.params), class_names=class_names, distributed=dist,
                               allow_stuff_target=allow_stuff_target, task=task_meta)
    except SemMetricError as e:
        if main_rank:
            click.echo(f"error: {e.for_cli()}", err=True)
        code = EXIT_BAD_INPUT
    else:
        report_options = None if report_dir is None else {"out_dir": report_dir, "k": report_k or 8,
                                                            "weights": weights, "device": device}
        code = (_write_and_report(result, json_path, csv_path, quiet, per_class=per_class,
                                  report_options=report_options) if main_rank else EXIT_OK)
    finally:
        if progress is not None:
            progress.close()
    if dist is not None:
        if dist.is_main:
            record_exit_code(code)  # for --processes: kept even if a worker crashes in teardown
        code = dist.finish(code)  # every rank exits with rank 0's code
    ctx.exit(code)


def _prepare_classifier(p: Mapping[str, Any], needed: bool, warn) -> None:
    """Warn about classifier options given for a run without the classifier; set its threads and allocator."""
    given = [f"--{k.replace('_', '-')}" for k in ("weights", "weights_sha256", "device", "batch_size", "threads",
                                                  "gt_cache") if p.get(k) is not None] + (["--compile"] if p.get("compile") else [])
    if not needed and given:
        warn(f"{', '.join(given)} only apply to Sem and SFD, which are not computed (add sem to --metrics)")
    if p.get("sfd_gt_stats") is not None and "sfd" not in p["metrics"]:
        warn("--sfd-gt-stats only applies to SFD, which is not computed (add sfd to --metrics)")
    if p.get("threads") is not None and needed:
        import torch

        torch.set_num_threads(p["threads"])
    if needed:
        keep_freed_memory()  # eager classifier: no page faults on every activation (see _allocator)


def _usage_checks(p: Mapping[str, Any], tolerance_given: bool) -> None:
    """Usage errors that need several options (click checks each option alone)."""
    task_dir, gt_dir, boxes_path = p["task_dir"], p["gt_dir"], p["boxes_path"]
    json_path, csv_path = p["json_path"], p["csv_path"]
    if task_dir is not None and (gt_dir is not None or boxes_path is not None):
        raise click.UsageError("--task TASK_DIR gives the ground truth and the boxes: pass PRED_DIR --task TASK_DIR "
                               "without GT_DIR and --boxes")
    if task_dir is None and (gt_dir is None or boxes_path is None):
        raise click.UsageError("missing " + " and ".join(n for n, v in (("GT_DIR", gt_dir), ("--boxes BOXES", boxes_path))
                                                          if v is None) + " (or pass --task TASK_DIR)")
    if json_path == "-" and csv_path == "-":
        raise click.UsageError("--json and --per-sample cannot both write to stdout ('-')")
    if json_path and csv_path and json_path != "-" and os.path.abspath(json_path) == os.path.abspath(csv_path):
        raise click.UsageError("--json and --per-sample must be different files")
    if p["baseline_path"] is None and (tolerance_given or p["allow_version_mismatch"] or p.get("significance")):
        raise click.UsageError("--tolerance, --significance and --allow-version-mismatch need --baseline")
    if p["report_k"] is not None and p["report_dir"] is None:
        raise click.UsageError("--report-k needs --report DIR")


def _torchrun_world_size() -> int:
    return torchrun_world_size()


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


def _write_and_report(result: Dict[str, Any], json_path, csv_path, quiet: bool, per_class: bool = False,
                      report_options: Any = None) -> int:
    """Write the outputs (also when a check failed, so CI can keep them), print the summary, return the code.

    The ``--report`` folder is written first, so that a run ending with exit 2 writes no --json / CSV."""
    if report_options is not None:
        try:
            write_report(result, **report_options)
        except SemMetricError as e:
            click.echo(f"error: --report: {e}", err=True)
            return EXIT_BAD_INPUT
    texts = {path: make(result) for path, make in ((json_path, report.to_json), (csv_path, report.to_csv)) if path}
    try:
        report.write_outputs({p: t for p, t in texts.items() if p != "-"})
    except InputError as e:
        click.echo(f"error: {e.for_cli()}", err=True)
        return EXIT_BAD_INPUT
    if "-" in texts:
        click.echo(texts["-"], nl=False)
    checks = result["checks"]
    baseline = checks["baseline"] or {}
    if not quiet:
        click.echo(report.format_table(result), nl=False, err="-" in (json_path, csv_path))
        if per_class:
            click.echo(format_per_class(result), nl=False, err="-" in (json_path, csv_path))
        for s in result["skipped"]:
            click.echo(f"skipped {s['file']}: {s['reason']}", err=True)
        for n in baseline.get("notes", ()):
            click.echo(f"note: {n}", err=True)
    if baseline.get("version_mismatches"):
        _warn(f"baseline {baseline['path']!r} is not comparable with this run: "
              + "; ".join(baseline["version_mismatches"]) + " (compared anyway because of --allow-version-mismatch)")
    if checks["items"]:
        click.echo(report.format_checks(checks["items"], failed_only=quiet), nl=False, err=True)
    failed = [c for c in checks["items"] if not c["passed"]]
    if failed:
        click.echo(f"sem-score: {len(failed)} check(s) failed", err=True)
        return EXIT_CHECK_FAILED
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    main()
