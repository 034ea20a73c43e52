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

# The loading itself lives in the registry (it loads its plugins on first use); these are the same objects.
from ..registry import ENTRY_POINT_GROUP, ENV_VAR, import_plugin, load_plugins, register_metric

__all__ = ["ENTRY_POINT_GROUP", "ENV_VAR", "register_metric", "load_plugins", "import_plugin"]
