"""The metric engine (issue 18): one engine runs every registered metric for every entry point.

:mod:`.states` (declared states, exact reductions), :mod:`.exact` (exact fixed-point sums),
:mod:`.batch` (what an update sees), :mod:`.classify` (the classifier once per object), :mod:`.core`
(:class:`~sem_metric.engine.core.Engine`), :mod:`.builtin` (Sem, SFD), :mod:`.plugins`
(:func:`~sem_metric.engine.plugins.register_metric`, entry points). See ``docs/ARCHITECTURE.md``.
Importing this package imports nothing heavy.
"""
