"""Compare float metric values with the registry's documented reproducibility bound, never tighter.

Sem (Eq. 10) and SFD come from float32 network outputs: two ways of running the same inputs (batch
size, cache, threads, processes, CPU instruction set) agree within ``Metric.reproducibility``
(:class:`sem_metric.registry.Reproducibility`), not bit for bit. Tests that compare such runs use
:func:`within`, so that they hold on every machine the bound holds on.
"""
import pytest

from sem_metric import registry


def within(metric: str, expected: float):
    """``pytest.approx(expected)`` with exactly the documented bound of ``metric`` around ``expected``."""
    bound = registry.get(metric).reproducibility.bound(expected)
    return pytest.approx(expected, abs=bound, rel=0)
