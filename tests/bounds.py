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


def freeze_command(description: str, path, compute, argv=None) -> int:
    """The command of a frozen-values file: print ``compute()`` as JSON, and with ``--write`` store it at ``path``."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--write", action="store_true", help=f"write {path}")
    args = ap.parse_args(argv)
    text = json.dumps(compute(), indent=1, sort_keys=True) + "\n"
    if args.write:
        path.write_text(text)
    print(text, end="")
    return 0
