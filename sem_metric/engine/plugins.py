"""Metrics from outside the package: :func:`register_metric`, the ``sem_metric.metrics`` entry points and
``SEM_METRIC_PLUGINS`` (issue 18).

A plugin is a registry entry (:class:`sem_metric.registry.Metric`) with its functions; once registered
it runs wherever the built-in metrics run (``sem-score`` table / JSON / CSV / ``--per-class`` /
``--report`` / ``--baseline``, :class:`~sem_metric.SISMMetrics`, the torchmetrics class, multi-process
runs). Three ways in:

* ``sem_metric.register_metric(Metric(...))`` (or its fields as keywords) in the process that scores;
* an installed entry point in the group ``sem_metric.metrics`` (``pyproject.toml``:
  ``[project.entry-points."sem_metric.metrics"] mine = "my_pkg.metrics:METRIC"``) whose object is a
  ``Metric``, a sequence of them, or a callable returning either; loaded on first use of the registry;
* ``SEM_METRIC_PLUGINS=my_pkg.metrics,other`` (modules imported on first use of the registry; they
  call :func:`register_metric` at import) or ``sem-score --plugin my_pkg.metrics``.

Worker processes (``sem-score --processes N``, ``torchrun``) see the same entry points, environment and
command line, so they register the same metrics; a metric registered only by a call in the parent
process is not known to them (use one of the other two ways).
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Iterable, List

__all__ = ["ENTRY_POINT_GROUP", "ENV_VAR", "register_metric", "load_plugins", "import_plugin"]

ENTRY_POINT_GROUP = "sem_metric.metrics"
ENV_VAR = "SEM_METRIC_PLUGINS"
_loaded = False
_imported: List[str] = []


def register_metric(metric: Any = None, **fields: Any) -> Any:
    """Register a metric (a :class:`~sem_metric.registry.Metric`, or its fields as keywords); returns it.

    Registering the identical entry again is a no-op (a module imported twice); another entry under a
    taken name is a ``ValueError``.
    """
    from .. import registry

    if metric is None:
        metric = registry.Metric(**fields)
    elif fields:
        raise TypeError("register_metric: pass a Metric or its fields, not both")
    if registry.METRICS.get(metric.name) == metric:
        return metric
    registry.register(metric)
    return metric


def _register_all(obj: Any, where: str) -> None:
    from .. import registry

    if callable(obj) and not isinstance(obj, registry.Metric):
        obj = obj()
    items: Iterable[Any] = [obj] if isinstance(obj, registry.Metric) else (obj or [])
    for m in items:
        if not isinstance(m, registry.Metric):
            raise TypeError(f"{where}: expected a sem_metric.registry.Metric, got {type(m).__name__}")
        register_metric(m)


def import_plugin(module: str) -> None:
    """Import a plugin module (it registers its metrics at import); once per process."""
    module = module.strip()
    if module and module not in _imported:
        importlib.import_module(module)
        _imported.append(module)


def load_plugins() -> None:
    """Register the entry points of :data:`ENTRY_POINT_GROUP` and the modules in :data:`ENV_VAR` (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _register_all(ep.load(), f"entry point {ep.name!r} ({ep.value})")
    for module in os.environ.get(ENV_VAR, "").split(","):
        import_plugin(module)
