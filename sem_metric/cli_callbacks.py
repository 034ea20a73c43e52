"""sem-score's options: their declarations, callbacks (parse and validate one option each, report click's
BadParameter) and the progress display. Parsing only: nothing here computes a metric (paper Sec. 4.1 metrics, Eq. 10 Sem)."""
from __future__ import annotations

import importlib
import os
import sys

import click

from . import registry
from .engine.plugins import import_plugin
from .errors import InputError
from .pipeline import checks as checks_mod
from .sem.weights import DEFAULT_WEIGHTS, list_weights
from .version import LABELMAP_METRICS_VERSION, PREPROCESSING_VERSION, SEM_DEFINITION_VERSION, __version__

EXIT_OK = 0


# ------------------------------------------------------------------------------------ callbacks
def _metrics_cb(ctx, param, value):
    try:
        return registry.parse_metrics(value)
    except InputError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def _plugin_cb(ctx, param, value):
    """--plugin MODULE: import plugin modules (they register metrics) before --metrics is parsed."""
    for module in value:
        try:
            import_plugin(module)
        except ImportError as e:
            raise click.BadParameter(f"cannot import plugin module {module!r}: {e}", ctx=ctx, param=param) from None


def _threshold_cb(ctx, param, value):
    try:
        return tuple(checks_mod.parse_threshold(v) for v in value or ())
    except InputError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def _tolerance_cb(ctx, param, value):
    try:
        return checks_mod.parse_tolerances(value or ()), bool(value)
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


def _checked_by(module: str, check: str):
    """A click callback that runs ``sem_metric.<module>.<check>(value)`` and reports its InputError."""
    def callback(ctx, param, value):
        if value is None:
            return None
        fn = getattr(importlib.import_module(f".{module}", __package__), check)
        try:
            fn(value)
        except InputError as e:
            raise click.BadParameter(str(e), ctx=ctx, param=param) from None
        return value
    return callback


_class_names_cb = _checked_by("pipeline.class_names", "load_class_names")
_report_cb = _checked_by("pipeline.html_report", "check_report_dir")


def _version_cb(ctx, param, value):
    if not value or ctx.resilient_parsing:
        return

    click.echo(f"sem-score {__version__} (label-map metrics {LABELMAP_METRICS_VERSION}; Sem weights "
               f"{DEFAULT_WEIGHTS} sha256 {list_weights()[DEFAULT_WEIGHTS][:12]}, preprocessing "
               f"{PREPROCESSING_VERSION}, definition {SEM_DEFINITION_VERSION})")
    ctx.exit(EXIT_OK)


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
        """Finish the progress bar, if one was started."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


# ------------------------------------------------------------------------------------ the options
#: sem-score's arguments and options, in --help order (the command in sem_metric/cli.py applies them)
_OPTIONS = [
    click.argument("pred_dir", type=click.Path(exists=True, file_okay=False, dir_okay=True)),
    click.argument("gt_dir", required=False, type=click.Path(exists=True, file_okay=False, dir_okay=True)),
    click.option("--boxes", "boxes_path", metavar="BOXES",
                  type=click.Path(exists=True, dir_okay=False), help="boxes.json (see above)."),
    click.option("--task", "task_dir", metavar="TASK_DIR", type=click.Path(exists=True, file_okay=False, dir_okay=True),
                  help="A SISM task built by sem-task (instead of GT_DIR and --boxes): it must verify; its protocol and "
                       "digest are recorded in metadata.task, and a --baseline made on another task is refused."),
    click.option("--plugin", "plugins", multiple=True, metavar="MODULE", is_eager=True, expose_value=False,
                  callback=_plugin_cb, help="Import MODULE first (it registers metrics with sem_metric.register_metric); "
                                            "repeatable; workers of --processes import it too. See also SEM_METRIC_PLUGINS."),
    click.option("--metrics", default=",".join(registry.default_names()), show_default=True, callback=_metrics_cb,
                  help=f"Comma-separated subset of {','.join(registry.METRICS)}."),
    click.option("--json", "json_path", metavar="PATH", callback=_output_cb,
                  help="Write means, per-sample rows and metadata as JSON ('-' = stdout; the table then goes to stderr)."),
    click.option("--per-sample", "csv_path", metavar="PATH", callback=_output_cb,
                  help="Write one CSV row per sample: file, box_index, x0, y0, x1, y1, label, metrics ('-' = stdout)."),
    click.option("--per-class", "per_class", is_flag=True,
                  help="Also print each metric's mean per target label (always in --json as per_class), flagging "
                       "classes on which the Sem classifier is weak when its reliability file is known."),
    click.option("--class-names", "class_names", metavar="NAME|JSON", callback=_class_names_cb,
                  help="Names of the class ids, for --per-class, --json and --report: coco (COCO category ids), "
                       "cityscapes (labelIds 0..33), ade20k (SceneParsing 1..150), camvid (SegNet 0..11), "
                       'or a JSON file {"id": "name"}.'),
    click.option("--report", "report_dir", metavar="DIR", callback=_report_cb,
                  help="Write an HTML report (DIR/index.html + PNGs, no network needed): means, per-class table, "
                       "histograms and the worst samples of each metric with crops, object maps and Sem's top-3."),
    click.option("--report-k", type=click.IntRange(min=1), metavar="K",
                  help="Worst samples per metric in --report (default 8)."),
    click.option("--fail-above", multiple=True, metavar="METRIC=VALUE", callback=_threshold_cb,
                  help="Exit 1 if the mean of METRIC is above VALUE (e.g. nn=5). Repeatable."),
    click.option("--fail-below", multiple=True, metavar="METRIC=VALUE", callback=_threshold_cb,
                  help="Exit 1 if the mean of METRIC is below VALUE (e.g. tiou=0.8). Repeatable."),
    click.option("--baseline", "baseline_path", metavar="JSON", type=click.Path(exists=True, dir_okay=False),
                  help="A previous --json result: exit 1 if a metric mean got worse than it by more than the tolerance."),
    click.option("--tolerance", multiple=True, metavar="X|METRIC=X", callback=_tolerance_cb,
                  help="Allowed worsening for --baseline, in metric units: X for all metrics and/or "
                       "METRIC=X for one (repeatable). Default 0."),
    click.option("--significance", type=click.FloatRange(0, 1, min_open=True, max_open=True), metavar="ALPHA",
                  help="With --baseline: a metric fails only when it is also worse in the paired test against the "
                       "baseline's samples (sign flips over maps / files, p < ALPHA, e.g. 0.05); the check line "
                       "gives the difference, its interval and p (sem-compare for the full comparison)."),
    click.option("--allow-version-mismatch", is_flag=True,
                  help="Compare with a baseline made with another metric-definition version, classifier weights "
                       "or preprocessing (warns instead of exiting 2)."),
    click.option("--allow-absent-target", is_flag=True,
                  help="Score boxes whose ground-truth region has no pixel of their label (normally refused: in SISM "
                       "the target always exists, so this is almost always a label id-space mistake); warns and "
                       "records the count in the JSON metadata."),
    click.option("--allow-stuff-target", is_flag=True,
                  help="With --class-names (or a task): score boxes whose label is a class without instances (road, "
                       "building, sky...; normally refused: in SISM the target is an object, so this is almost always "
                       "an id-space mistake such as Cityscapes trainIds on labelIds maps)."),
    click.option("--allow-unmatched", is_flag=True,
                  help="Skip files without a counterpart and boxes.json entries without a pair (listed in the output)."),
    click.option("--color-map", "color_map_path", metavar="JSON", type=click.Path(exists=True, dir_okay=False),
                  help='Colour -> class id mapping for RGB maps: {"#rrggbb": id, "r,g,b": id, ...}.'),
    click.option("--weights", metavar="REF", help="Sem classifier weights: shipped name, .safetensors path or "
                                                   "hf://owner/repo/file[@rev]. Default: shipped weights."),
    click.option("--weights-sha256", "weights_sha256", metavar="HEX",
                  help="Expected sha256 of the weights file: the run is refused (exit 2) when it differs, before the "
                       "weights are used. Shipped weights are always checked against the registry."),
    click.option("--device", metavar="DEVICE", help="Sem device: cpu, cuda, cuda:N or auto (default auto)."),
    click.option("--batch-size", type=click.IntRange(min=1), metavar="N", help="Sem classifier batch size (default 64)."),
    click.option("--threads", type=click.IntRange(min=1), metavar="N",
                  help="CPU threads for the Sem classifier (torch.set_num_threads; default: torch's choice). "
                       "Use 1 on a machine whose cores are busy with other jobs."),
    click.option("--compile", "compile", is_flag=True,
                  help="torch.compile the Sem classifier: ~1.35x faster on a CPU after a one-time compilation "
                       "(about a minute; seconds once cached); Sem within its documented bound (2e-5) of eager mode."),
    click.option("--gt-cache", "gt_cache", metavar="NPZ", type=click.Path(dir_okay=False),
                  help="Cache of ground-truth classifier probabilities (.npz); created/updated as needed."),
    click.option("--sfd-gt-stats", "sfd_gt_stats", metavar="NPZ", type=click.Path(dir_okay=False),
                  help="SFD ground-truth statistics (.npz): written when absent, else reused after checking weights "
                       "sha256, preprocessing and ground-truth digest (like pytorch-fid --save-stats)."),
    click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
                  help="Score with N local worker processes (torch's launcher; gloo on CPU, NCCL with --device cuda): "
                       "the same result and exit codes as one process. Threads per worker: --threads, else cores / N."),
    click.option("--progress", "force_progress", is_flag=True,
                  help="Show progress on stderr even when it is not a terminal."),
    click.option("-q", "--quiet", is_flag=True, help="No table or progress; failures and errors still go to stderr."),
    click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version_cb,
                  help="Show the package, label-map metrics, default Sem weights and preprocessing versions, and exit."),
]


def score_options(fn):
    """Apply sem-score's arguments and options (:data:`_OPTIONS`) to the command function."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn
