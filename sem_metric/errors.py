"""Exceptions raised by sem-metric. Every message says what was wrong, where, and how to fix it."""
from __future__ import annotations

import sys
from typing import Callable, List, Optional

#: exit status of a command that was refused (bad usage / bad input) or interrupted (Ctrl-C)
EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


class SemMetricError(Exception):
    """Base class of all errors raised on purpose by sem-metric.

    ``cli_message`` (optional) is the same message phrased for the command line (``--color-map
    colors.json`` where the Python message says ``color_map={...}``); :meth:`for_cli` returns it.
    """

    def __init__(self, message: str = "", *, cli_message: Optional[str] = None):
        super().__init__(message)
        self.cli_message = cli_message

    def for_cli(self) -> str:
        """The message as a command prints it (the CLI phrasing when there is one)."""
        return self.cli_message or str(self)


class InputError(SemMetricError, ValueError):
    """Bad user input: a label map, a box, a boxes.json entry, a file pairing or an option."""


class WeightsError(SemMetricError):
    """Classifier weights could not be found, fetched, verified (sha256) or loaded strictly."""


class DeviceError(InputError, WeightsError):
    """A ``--device`` that does not exist here (no CUDA, no such GPU, an unknown name).

    Bad input first; also a :class:`WeightsError`, which loading the classifier raised for it before."""


def run_command(main: Callable[[Optional[List[str]]], int], argv: Optional[List[str]] = None) -> int:
    """Run a ``python -m sem_metric...`` entry point with the package's error convention.

    A :class:`SemMetricError` becomes one ``error: ...`` line on stderr and exit status 2 (never a
    traceback); Ctrl-C becomes exit status 130.
    """
    try:
        return main(argv)
    except SemMetricError as e:
        print(f"error: {e.for_cli()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
