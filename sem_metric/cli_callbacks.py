"""sem-score's option callbacks (parse and validate one option each, report click's BadParameter) and its
progress display. Parsing only: nothing here computes a metric (paper Sec. 4.1 metrics, Eq. 10 Sem)."""
from __future__ import annotations

import importlib
import os
import sys

import click

from . import registry
from .errors import InputError
from .pipeline import checks as checks_mod
from .version import LABELMAP_METRICS_VERSION, PREPROCESSING_VERSION, __version__

EXIT_OK = 0


# ------------------------------------------------------------------------------------ callbacks
def _metrics_cb(ctx, param, value):
    try:
        return registry.parse_metrics(value)
    except InputError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def _plugin_cb(ctx, param, value):
    """--plugin MODULE: import plugin modules (they register metrics) before --metrics is parsed."""
    from .engine.plugins import import_plugin

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
    from .sem.weights import DEFAULT_WEIGHTS, list_weights

    click.echo(f"sem-score {__version__} (label-map metrics {LABELMAP_METRICS_VERSION}; Sem weights "
               f"{DEFAULT_WEIGHTS} sha256 {list_weights()[DEFAULT_WEIGHTS][:12]}, preprocessing "
               f"{PREPROCESSING_VERSION})")
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
