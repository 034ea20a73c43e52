"""The one registry of the metrics sem-metric computes and reports.

Each metric is one frozen :class:`Metric` entry in :data:`METRICS`. Everything that lists, parses,
computes, formats or compares metrics reads it: ``sem-score --metrics`` and its thresholds, the
evaluation pipeline (:mod:`sem_metric.pipeline.evaluate`), the table / CSV / JSON
(:mod:`sem_metric.pipeline.report`), the baseline check's direction of "better" and its
comparability rule (:data:`VERSION_KEYS`), and the reference evaluation
(:mod:`sem_metric.reference.evaluate`). Adding a metric is adding one entry (see
``docs/ARCHITECTURE.md``).

Two levels exist. A ``"sample"`` metric has one value per sample (one box); the run reports their
mean (paper Sec. 4.1: tIOU, hamm, the mean number of noise pixels NN, Sem of Eq. 10). A
``"dataset"`` metric has one value per run, e.g. a Frechet distance between the distributions of
predicted and ground-truth objects (``sfd``). The engine (:mod:`sem_metric.engine`) runs both: a sample
metric is a label-map ``function(preds, gts, boxes[, labels])`` or, when it ``needs`` the classifier's
``"probs"`` / ``"features"``, ``update(batch) -> (N,)``; a dataset metric declares its ``states``
(:class:`sem_metric.engine.states.State`, merged by their declared reduction across batches and
processes) and pure ``update(batch, cfg) -> {state: increment}`` / ``finalize(state, cfg)`` (optional
``setup(ctx) -> cfg``). (An old-style dataset class with ``update(preds, gts, boxes, labels)`` /
``compute()`` still runs in the evaluation pipeline, not in ``SISMMetrics``; ``docs/ARCHITECTURE.md``.)

This module imports nothing heavy (no numpy, no torch): functions are named by import path and
loaded on first use.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

from .comparability import (EXACT, SEM_REPRODUCIBILITY, SFD_REPRODUCIBILITY, VERSION_KEYS,  # noqa: F401 (public here)
                            Reproducibility, VersionKey)
from .errors import InputError

__all__ = ["Metric", "Reproducibility", "EXACT", "VersionKey", "METRICS", "VERSION_KEYS", "register", "unregister", "get", "names",
           "default_names", "parse_metrics", "version_fingerprint"]

LEVELS = ("sample", "dataset")
KINDS = ("labelmap", "sem")
NEEDS = ("probs", "features")


@dataclass(frozen=True)
class Metric:
    """One metric: how it is named, computed, formatted and compared.

    ``name``            key in ``--metrics``, thresholds, JSON ``means`` and per-sample rows (lower case)
    ``display_name``    label in the summary table (e.g. ``"tIOU"``)
    ``higher_is_better`` direction used by ``--baseline`` checks and the table's "better" column
    ``function``        ``"module:attribute"`` (imported on first use), or the object itself (plugins, tests).
                        Level ``"sample"``: a batched function
                        ``f(preds, gts, boxes[, labels], **kwargs) -> (N,) array`` equal to the paper's
                        per-sample definition; level ``"dataset"``: a class with ``update(preds, gts,
                        boxes, labels)`` and ``compute() -> float``
    ``equation``        where the paper defines it (cited in help texts and docs)
    ``kind``            ``"labelmap"`` (needs only the maps) or ``"sem"`` (needs the shape classifier;
                        computed by the pipeline's Sem engine with the ground-truth cache)
    ``level``           ``"sample"`` (one value per box, mean reported) or ``"dataset"`` (one value per run)
    ``uses_label``      whether ``function`` takes the target labels ``l^t``
    ``integer``         per-sample values are integers (kept as ints in rows and CSV)
    ``default``         part of the default ``--metrics`` set
    ``version_keys``    names in :data:`VERSION_KEYS` whose values define this metric's numbers
    ``decimals``        decimals of the mean in the summary table
    ``total_unit``      when set, the sum over samples is also reported as ``<name>_total`` in this unit
    ``reproducibility`` how far its values may move between ways of running the same inputs
                        (:class:`Reproducibility`; :data:`EXACT` for integer counts); checks never fail inside it

    The engine (:mod:`sem_metric.engine`, issue 18) runs every entry from these fields alone:

    ``needs``           classifier outputs it reads: ``"probs"`` (``Softmax(F_{-1}(O))`` of Eq. 10) and / or
                        ``"features"`` (penultimate features), of the predicted and true objects; F runs
                        once per object for all metrics together. A metric with ``needs`` has kind ``"sem"``
    ``update``          sample level with ``needs``: ``update(batch) -> (N,)`` values from an
                        :class:`sem_metric.engine.batch.Batch`; dataset level: ``update(batch, cfg) ->
                        {state: increment}`` (pure; ``"module:attribute"`` or the function)
    ``states``          dataset level: the declared states (:class:`sem_metric.engine.states.State`), or
                        ``"module:attribute"`` naming them (:meth:`resolve`), with their exact reductions (``sum`` / ``cat``; ``dtype="exact"`` for exact float sums)
    ``finalize``        dataset level: ``finalize(state, cfg) -> float`` or ``{"value", "metadata", "runtime"}``
    ``setup``           optional ``setup(ctx) -> cfg`` once per run (:class:`sem_metric.engine.core.RunContext`);
                        ``cfg["gt_features"] = False`` says the ground-truth features are not needed
    ``identical_value`` sample level with ``needs``: its value when the predicted and true objects are
                        identical (then F is not run for them; Sem: 0.0)

    A dataset-level entry without ``update`` keeps the older contract: ``function`` is a class with
    ``update(preds, gts, boxes, labels)`` / ``compute()`` (and ``state()`` / ``merge(state)`` for
    multi-process runs); it runs in the evaluation pipeline only.
    """

    name: str
    display_name: str
    higher_is_better: bool
    function: Any
    equation: str
    kind: str = "labelmap"
    level: str = "sample"
    uses_label: bool = True
    integer: bool = False
    default: bool = True
    version_keys: Tuple[str, ...] = ("labelmap_metrics_version",)
    decimals: int = 4
    total_unit: Optional[str] = None
    reproducibility: Reproducibility = EXACT
    needs: Tuple[str, ...] = ()
    update: Any = None
    states: Any = ()
    finalize: Any = None
    setup: Any = None
    identical_value: Optional[float] = None

    def __post_init__(self) -> None:
        bad_needs = [x for x in self.needs if x not in NEEDS]
        if bad_needs:
            raise ValueError(f"metric {self.name!r}: needs must be a subset of {NEEDS}, got {bad_needs}")
        if self.needs and self.kind != "sem":
            object.__setattr__(self, "kind", "sem")   # reading the classifier's outputs is what kind "sem" means
        if self.level == "dataset" and self.update is not None and self.finalize is None:
            raise ValueError(f"metric {self.name!r}: a dataset-level metric with update needs finalize")
        if not self.name or self.name != self.name.lower() or not self.name.replace("_", "").isalnum():
            raise ValueError(f"metric name {self.name!r} must be a lower-case identifier")
        if self.level not in LEVELS:
            raise ValueError(f"metric {self.name!r}: level must be one of {LEVELS}, got {self.level!r}")
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        unknown = [k for k in self.version_keys if k not in VERSION_KEYS]
        if unknown:
            raise ValueError(f"metric {self.name!r}: unknown version key(s) {unknown}; add them to VERSION_KEYS")
        if self.function is None and self.update is None:
            raise ValueError(f"metric {self.name!r}: give function (label maps) or update (engine batches)")
        if self.level == "sample" and not self.needs and self.function is None:
            raise ValueError(f"metric {self.name!r}: a per-sample metric without needs is computed by function"
                             "(preds, gts, boxes[, labels]); give it (update is for metrics that need the classifier)")
        if self.function is not None and not callable(self.function) and ":" not in str(self.function):
            raise ValueError(f"metric {self.name!r}: function must be 'module:attribute' or a callable, "
                             f"got {self.function!r}")

    @property
    def better(self) -> str:
        """``"higher"`` or ``"lower"``."""
        return "higher" if self.higher_is_better else "lower"

    def resolve(self, what: str = "function") -> Callable[..., Any]:
        """The field ``what`` (:attr:`function`, ``update``, ``finalize``, ``setup``, ``states``), imported when
        it is given as ``"module:attribute"``."""
        ref = getattr(self, what)
        if not isinstance(ref, str):
            return ref
        module, _, attr = str(ref).partition(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def engine_native(self) -> bool:
        """Whether the engine runs it from its fields alone (everything but an old-style dataset class)."""
        return self.level == "sample" or self.update is not None

    def compute(self, preds: Any, gts: Any, boxes: Any, labels: Any, **kwargs: Any) -> Any:
        """Per-sample values of a ``"sample"`` metric for N samples (``kwargs`` go to :attr:`function`)."""
        if self.level != "sample":
            raise TypeError(f"metric {self.name!r} is dataset-level: use resolve()() and update/compute")
        fn = self.resolve()
        if self.uses_label:
            return fn(preds, gts, boxes, labels, **kwargs)
        return fn(preds, gts, boxes, **kwargs)

    def format(self, value: Optional[float]) -> str:
        """A mean as shown in the summary table (``n/a`` for None)."""
        return "n/a" if value is None else f"{value:.{self.decimals}f}"


_LABELMAP = "sem_metric.labelmap.metrics"
_BUILTIN = "sem_metric.engine.builtin"
_SFD = "sem_metric.engine.sfd"
_SKD = "sem_metric.engine.skd"



#: name -> metric, in canonical (report) order.
METRICS: Dict[str, Metric] = {m.name: m for m in (
    Metric("tiou", "tIOU", True, f"{_LABELMAP}:tiou_batch", "Sec. 4.1 (target IoU)"),
    Metric("hamm", "hamm", True, f"{_LABELMAP}:hamm_batch", "Sec. 4.1 (Hamming score)", uses_label=False),
    Metric("nn", "NN", False, f"{_LABELMAP}:noise_count_batch", "Sec. 4.1 / Sec. 3.2 (noise pixels)",
           uses_label=False, integer=True, decimals=3, total_unit="noise pixels"),
    Metric("sem", "Sem", False, "sem_metric.sem.metric:compute_sem_batch", "Eq. 10", kind="sem", default=False,
           version_keys=("sem_weights_sha256", "sem_preprocessing_version", "sem_definition_version"),
           reproducibility=SEM_REPRODUCIBILITY,
           needs=("probs",), update=f"{_BUILTIN}:sem_update", identical_value=0.0),
    Metric("sfd", "SFD", False, "sem_metric.engine.sfd_accumulator:SFDAccumulator", "beyond the paper (FID-style, Sem features)",
           kind="sem", level="dataset", default=False,
           version_keys=("sem_weights_sha256", "sem_preprocessing_version", "sem_definition_version"),
           reproducibility=SFD_REPRODUCIBILITY,
           needs=("features",), update=f"{_SFD}:sfd_update", finalize=f"{_SFD}:sfd_finalize",
           setup=f"{_SFD}:sfd_setup", states=f"{_SFD}:SFD_STATES"),
    Metric("skd", "SKD", False, None, "beyond the paper (KID-style, Sem features; issue 26)",
           kind="sem", level="dataset", default=False, decimals=5,
           version_keys=("sem_weights_sha256", "sem_preprocessing_version"), reproducibility=SFD_REPRODUCIBILITY,
           needs=("features",), update=f"{_SKD}:skd_update", finalize=f"{_SKD}:skd_finalize",
           setup=f"{_SKD}:skd_setup", states=f"{_SKD}:SKD_STATES"),
)}


def register(metric: Metric) -> None:
    """Add a metric at the end of :data:`METRICS` (e.g. from a plugin or a test); names are unique."""
    if metric.name in METRICS:
        raise ValueError(f"metric {metric.name!r} is already registered")
    METRICS[metric.name] = metric


def unregister(name: str) -> None:
    """Remove a metric added with :func:`register`."""
    del METRICS[name]


# ----------------------------------------------------------------------------- plugin metrics
# The registry loads its plugins itself (entry points, SEM_METRIC_PLUGINS) on first use;
# sem_metric.engine.plugins is their public face (register_metric) and re-exports these names.
ENTRY_POINT_GROUP = "sem_metric.metrics"
ENV_VAR = "SEM_METRIC_PLUGINS"
_plugins_loaded = False
_imported_plugins: list = []


def register_metric(metric: Any = None, **fields: Any) -> Any:
    """Register a metric (a :class:`Metric`, or its fields as keywords); returns it.

    Registering the identical entry again is a no-op (a module imported twice); another entry under a
    taken name is a ``ValueError``.
    """
    if metric is None:
        metric = Metric(**fields)
    elif fields:
        raise TypeError("register_metric: pass a Metric or its fields, not both")
    if METRICS.get(metric.name) == metric:
        return metric
    register(metric)
    return metric


def _register_all(obj: Any, where: str) -> None:
    if callable(obj) and not isinstance(obj, Metric):
        obj = obj()
    items: Iterable[Any] = [obj] if isinstance(obj, Metric) else (obj or [])
    for m in items:
        if not isinstance(m, Metric):
            raise TypeError(f"{where}: expected a sem_metric.registry.Metric, got {type(m).__name__}")
        register_metric(m)


def import_plugin(module: str) -> None:
    """Import a plugin module (it registers its metrics at import); once per process."""
    module = module.strip()
    if module and module not in _imported_plugins:
        importlib.import_module(module)
        _imported_plugins.append(module)


def load_plugins() -> None:
    """Register the entry points of :data:`ENTRY_POINT_GROUP` and the modules in :data:`ENV_VAR` (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _register_all(ep.load(), f"entry point {ep.name!r} ({ep.value})")
    for module in os.environ.get(ENV_VAR, "").split(","):
        import_plugin(module)


_plugins = load_plugins


def get(name: str) -> Metric:
    """The registered metric ``name``; :class:`InputError` listing the valid names otherwise."""
    if name not in METRICS:
        _plugins()
    try:
        return METRICS[name]
    except KeyError:
        raise InputError(f"unknown metric {name!r}; choose one of {','.join(METRICS)}") from None


def names(level: Optional[str] = None, kind: Optional[str] = None) -> Tuple[str, ...]:
    """Registered metric names in canonical order, optionally of one level / kind."""
    return tuple(n for n, m in METRICS.items()
                 if (level is None or m.level == level) and (kind is None or m.kind == kind))


def default_names() -> Tuple[str, ...]:
    """The metrics computed when none are asked for (``sem-score`` without ``--metrics``)."""
    return tuple(n for n, m in METRICS.items() if m.default)


def parse_metrics(spec: Any) -> Tuple[str, ...]:
    """Parse a metric selection (``"tiou,nn"`` or an iterable of names) into canonical order.

    ``None`` gives :func:`default_names`. Names are case-insensitive; duplicates are merged. Unknown
    or empty selections raise :class:`InputError` listing the valid names.
    """
    _plugins()
    if spec is None:
        return default_names()
    if isinstance(spec, str):
        items: Iterable[Any] = spec.split(",")
    else:
        items = spec
    wanted = [n for n in (str(s).strip().lower() for s in items) if n]
    valid = ",".join(METRICS)
    if not wanted:
        raise InputError(f"no metric selected; choose a comma-separated subset of {valid}")
    unknown = [n for n in wanted if n not in METRICS]
    if unknown:
        raise InputError(f"unknown metric(s) {', '.join(repr(u) for u in unknown)}; "
                         f"choose a comma-separated subset of {valid}")
    return tuple(m for m in METRICS if m in wanted)


def version_fingerprint(result: Mapping[str, Any]) -> Dict[str, Any]:
    """The values of every :data:`VERSION_KEYS` field in ``result["metadata"]`` (None when absent)."""
    meta = result.get("metadata") or {}
    return {k: v.lookup(meta) for k, v in VERSION_KEYS.items()}
