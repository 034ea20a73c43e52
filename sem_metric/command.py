"""The command-line conventions shared by ``sem-score`` and ``sem-task`` (click commands and groups).

Every failure is one ``error: ...`` line on stderr and a documented exit code: click's own usage errors
and :class:`sem_metric.errors.SemMetricError` exit 2 (the CLI phrasing of the message,
:meth:`SemMetricError.for_cli`), so does a failure importing torch / torchvision / timm (what failed, the
versions installed, the pip command: :func:`sem_metric.errors.dependency_failure`); Ctrl-C exits 130
(printed once, also on the ranks of a multi-process run). The commands themselves return 0 or their own
check-failure code.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import click

from .errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, SemMetricError, dependency_failure

__all__ = ["EXIT_OK", "ConventionsMixin", "Command", "Group"]

EXIT_OK = 0


class ConventionsMixin:
    """``main`` with the package's error line and exit codes; set :attr:`prog` and :attr:`interrupted_note`."""

    prog = "sem-metric"
    interrupted_note = "no output file was written"

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra) -> Any:
        """Run the command; return (or exit with) 0, 1, 2 or 130."""
        self.raw_args = list(sys.argv[1:] if args is None else args)  # e.g. re-launched by --processes
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as e:
            click.echo(f"error: {e.format_message()} (see {self.prog} --help)", err=True)
            code = EXIT_BAD_INPUT
        except SemMetricError as e:
            click.echo(f"error: {e.for_cli()}", err=True)
            code = EXIT_BAD_INPUT
        except (click.Abort, KeyboardInterrupt):
            if os.environ.get("RANK", "0") == "0":  # once, also under torchrun / --processes
                click.echo(f"error: interrupted; {self.interrupted_note}", err=True)
            code = EXIT_INTERRUPTED
        except Exception as e:  # noqa: BLE001 - only a failure importing torch / torchvision / timm becomes a line
            message = dependency_failure(e)
            if message is None:
                raise
            click.echo(f"error: {message}", err=True)
            code = EXIT_BAD_INPUT
        code = code if isinstance(code, int) else EXIT_OK
        if standalone_mode:
            sys.exit(code)
        return code


class Command(ConventionsMixin, click.Command):
    """A click command with the package's conventions."""


class Group(ConventionsMixin, click.Group):
    """A click group with the package's conventions."""
