"""Exceptions raised by sem-metric. Every message says what was wrong, where, and how to fix it."""
from __future__ import annotations


class SemMetricError(Exception):
    """Base class of all errors raised on purpose by sem-metric."""


class InputError(SemMetricError, ValueError):
    """Bad user input: a label map, a box, a boxes.json entry, a file pairing or an option."""


class WeightsError(SemMetricError):
    """Classifier weights could not be found, fetched, verified (sha256) or loaded strictly."""
