"""Exceptions raised by sem-metric. Every message says what was wrong, where, and how to fix it."""
from __future__ import annotations

import sys
from typing import Callable, List, Optional

#: exit status of a command that was refused (bad usage / bad input) or interrupted (Ctrl-C)
EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


class SemMetricError(Exception):
    """Base class of all errors raised on purpose by sem-metric."""


class InputError(SemMetricError, ValueError):
    """Bad user input: a label map, a box, a boxes.json entry, a file pairing or an option."""


class WeightsError(SemMetricError):
    """Classifier weights could not be found, fetched, verified (sha256) or loaded strictly."""


def run_command(main: Callable[[Optional[List[str]]], int], argv: Optional[List[str]] = None) -> int:
    """Run a ``python -m sem_metric...`` entry point with the package's error convention.

    A :class:`SemMetricError` becomes one ``error: ...`` line on stderr and exit status 2 (never a
    traceback); Ctrl-C becomes exit status 130.
    """
    try:
        return main(argv)
    except SemMetricError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
