"""The engine: runs the registry's metrics from their entries alone (issue 18; see docs/ARCHITECTURE.md).

A run has two phases per batch of samples. **Maps**: the label-map metrics (tIOU, hamm, NN of Sec. 4.1
from one fused class-pair histogram per box; any other label-map function) and label-map dataset
metrics see the maps. **Classifier**: the :class:`~sem_metric.engine.classify.ClassifierStage` runs F
once per object and the metrics that ``need`` its outputs (Sem of Eq. 10, SFD, plugins) see one
:class:`~sem_metric.engine.batch.Batch`. A state is ``{"n_samples": int, "metrics": {name: {state:
value}}}``: each sample-level metric holds the exact sum of its values (``State("sum", dtype="exact")``),
each dataset-level one its declared states; states merge by their declared reductions only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import registry
from ..errors import InputError
from ..labelmap import metrics as _labelmap_metrics
from ..labelmap.box import check_batch_size
from ..labelmap.metrics import FUSED_FUNCTIONS, labelmap_metrics_batch
from ..labelmap.target_object import object_crop
from . import states as st
from .batch import Batch
from .exact import exact_total, limbs_to_float

__all__ = ["Engine", "RunContext", "SAMPLE_STATES", "declared_states", "empty_state", "merge_states",
           "compute_state"]

#: the state of every sample-level metric: the exact sum of its per-sample values
SAMPLE_STATES = (st.State("sum", dtype="exact"),)


#: metric name -> the batched label-map function that labelmap_metrics_batch computes in its fused pass
_FUSED = {name: getattr(_labelmap_metrics, fn) for name, fn in FUSED_FUNCTIONS.items()}


@dataclass
class RunContext:
    """What a metric's ``setup(ctx)`` may read: the run's options, the classifier and its dimensions."""

    options: Any = None
    classifier: Any = None
    sha256: Optional[str] = None
    dims: Dict[str, int] = field(default_factory=dict)


def declared_states(spec: registry.Metric) -> Tuple[st.State, ...]:
    """The states the engine keeps for ``spec`` (none for an old-style dataset class: it keeps its own)."""
    if spec.level == "sample":
        return SAMPLE_STATES
    return tuple(spec.resolve("states")) if spec.engine_native else ()


def empty_state(metrics: Sequence[str], dims: Mapping[str, int]) -> Dict[str, Any]:
    """The state of no samples for ``metrics`` (``dims``: run dimensions such as ``features``)."""
    return {"n_samples": 0, "metrics": {m: st.empty(declared_states(registry.get(m)), dims) for m in metrics}}


def merge_states(a: Mapping[str, Any], b: Mapping[str, Any]) -> Dict[str, Any]:
    """Two states of the same metrics combined by the declared reductions (exact for counts and sums)."""
    if set(a["metrics"]) != set(b["metrics"]):
        raise InputError("cannot merge states of different metric selections")
    return {"n_samples": int(a["n_samples"]) + int(b["n_samples"]),
            "metrics": {m: st.merge(declared_states(registry.get(m)), a["metrics"][m], b["metrics"][m])
                        for m in a["metrics"]}}


def finalized(spec: registry.Metric, state: Mapping[str, Any], cfg: Dict[str, Any]) -> Dict[str, Any]:
    """``finalize(state, cfg)`` as a dict; ``exact`` states are handed over as correctly rounded floats."""
    view = {s.name: limbs_to_float(state[s.name]) if s.dtype == "exact" else state[s.name] for s in spec.resolve("states")}
    out = spec.resolve("finalize")(view, cfg)
    return dict(out) if isinstance(out, Mapping) else {"value": out}


def compute_state(state: Mapping[str, Any], metrics: Sequence[str], cfgs: Optional[Mapping[str, Any]] = None
                  ) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """``(values, totals, metadata, runtime)`` of a state: means (correctly rounded exact sum / n; None
    without samples), dataset values (``finalize``), ``<name>_total`` of metrics with a ``total_unit``."""
    n = int(state["n_samples"])
    values: Dict[str, Any] = {}
    totals: Dict[str, Any] = {}
    meta: Dict[str, Any] = {}
    runtime: Dict[str, Any] = {}
    for m in metrics:
        spec, s = registry.get(m), state["metrics"].get(m)
        if spec.level == "sample":
            values[m] = limbs_to_float(s["sum"]) / n if n else None
            if spec.total_unit:
                totals[f"{m}_total"] = exact_total(s["sum"], spec.integer)
        elif s is not None and spec.engine_native:
            out = finalized(spec, s, dict((cfgs or {}).get(m) or {})) if n else {"value": None}
            values[m] = None if out["value"] is None else float(out["value"])
            if out.get("metadata") is not None:
                meta[m] = out["metadata"]
            if out.get("runtime") is not None:
                runtime[m] = out["runtime"]
    return values, totals, meta, runtime


def _needs(specs: Sequence[registry.Metric], what: str) -> List[registry.Metric]:
    return [s for s in specs if what in s.needs]


class Engine:
    """The selected metrics of one run: their setup, the classifier stage and the update / compute steps.

    ``metrics``: registry names; ``classifier``: the loaded classifier (needed when a metric ``needs`` it
    or is an old-style dataset class of kind ``"sem"``); ``options``: the run's options
    (:class:`~sem_metric.pipeline.evaluate.SemOptions`: batch size, ``gt_cache``, ``sfd_gt_stats``; passed to
    ``setup``). Label-map-only runs import no torch.
    """

    def __init__(self, metrics: Sequence[str], classifier: Any = None, options: Any = None, batch_size: int = 64,
                 warn: Any = None):
        self.metrics = tuple(metrics)
        self.specs = [registry.get(m) for m in self.metrics]
        self.options = options
        self.batch_size = check_batch_size(getattr(options, "batch_size", None) or batch_size)
        maps = [s for s in self.specs if s.level == "sample" and not s.needs]
        # the fused pass serves the metrics whose function IS the labelmap form it computes (same rule, same counts)
        fused = [s for s in maps if s.name in _FUSED and s.resolve("function") is _FUSED[s.name]]
        self.fused = fused if len(fused) > 1 else []
        self.sample_maps = [s for s in maps if s not in self.fused]
        self.sample_clf = [s for s in self.specs if s.level == "sample" and s.needs]
        self.dataset_maps = [s for s in self.specs if s.level == "dataset" and s.engine_native and not s.needs]
        self.dataset_clf = [s for s in self.specs if s.level == "dataset" and s.engine_native and s.needs]
        self.stage = None
        ctx = RunContext(options=options)
        if self.sample_clf or self.dataset_clf or any(s.kind == "sem" for s in self.specs):
            if classifier is None:
                raise InputError(f"metric(s) {', '.join(s.name for s in self.specs if s.kind == 'sem')} need the "
                                 "shape classifier; pass classifier= (or weights=) or use a label-map metric")
            self.stage = self._stage(classifier, warn)
            ctx = RunContext(options, classifier, self.stage.info.get("sha256"), self.stage.dims())
        self.classifier = classifier
        self.dims = ctx.dims
        self.cfgs: Dict[str, Dict[str, Any]] = {}
        for s in self.specs:
            if s.level == "dataset" and s.engine_native:
                setup = s.resolve("setup")
                self.cfgs[s.name] = dict(setup(ctx) or {}) if setup is not None else {}
        if self.stage is not None:
            self.stage.features_gt = any(self.cfgs.get(s.name, {}).get("gt_features", True)
                                         for s in _needs(self.specs, "features"))
        self.legacy = {s.name: self._legacy(s, classifier, options) for s in self.specs
                       if s.level == "dataset" and not s.engine_native}

    def _stage(self, classifier: Any, warn: Any) -> Any:
        from .classify import ClassifierStage

        probs = _needs(self.specs, "probs")
        feats = bool(_needs(self.specs, "features"))
        return ClassifierStage(classifier, self.batch_size, bool(probs),
                               any(s.level == "dataset" or s.identical_value is None for s in probs), feats, feats,
                               gt_cache=getattr(self.options, "gt_cache", None), warn=warn)

    @staticmethod
    def _legacy(spec: registry.Metric, classifier: Any, options: Any) -> Any:
        """An old-style dataset class (``update(preds, gts, boxes, labels)`` / ``compute()``), built once."""
        cls = spec.resolve()
        if spec.kind != "sem":
            return cls()
        return cls.from_sem_options(classifier, options) if hasattr(cls, "from_sem_options") else cls(classifier=classifier)

    # ------------------------------------------------------------------ states
    def empty_state(self) -> Dict[str, Any]:
        """The state of no samples for this run's metrics."""
        return empty_state(self.metrics, self.dims)

    def _add(self, state: Dict[str, Any], name: str, increments: Mapping[str, Any]) -> None:
        state["metrics"][name] = st.add(declared_states(registry.get(name)), state["metrics"][name], increments)

    def add_values(self, state: Dict[str, Any], values: Mapping[str, Any]) -> None:
        """Add per-sample values ``{metric: (N,)}`` to their exact sums (in place)."""
        for m, v in values.items():
            self._add(state, m, {"sum": np.asarray(v, dtype=np.float64)})

    # ------------------------------------------------------------------ phase 1: the maps
    def map_values(self, preds: Any, gts: Any, boxes: Any, labels: Any) -> Dict[str, list]:
        """Per-sample values of the label-map metrics (ints for integer metrics); the maps are validated."""
        out: Dict[str, list] = {}
        if self.fused:
            fused = labelmap_metrics_batch(preds, gts, boxes, labels)
            out.update({s.name: fused[s.name].tolist() for s in self.fused})
        for s in self.sample_maps:
            out[s.name] = [int(v) if s.integer else float(v) for v in s.compute(preds, gts, boxes, labels)]
        return out

    def update_maps(self, state: Dict[str, Any], preds: Any, gts: Any, boxes: Any, labels: Any,
                    values: Mapping[str, Any], datasets: bool = True) -> None:
        """Count N samples, add their label-map values and update the label-map dataset metrics (in place)."""
        state["n_samples"] += len(labels)
        self.add_values(state, values)
        if not datasets:
            return
        batch = Batch(labels=np.asarray(labels, dtype=np.int64), preds=preds, gts=gts, boxes=np.asarray(boxes))
        for s in self.dataset_maps:
            self._add(state, s.name, s.resolve("update")(batch, self.cfgs[s.name]))
        for acc in self.legacy.values():
            acc.update(preds, gts, boxes, labels)

    # ------------------------------------------------------------------ phase 2: the classifier
    @property
    def uses_classifier_phase(self) -> bool:
        return bool(self.sample_clf or self.dataset_clf)

    def identical_values(self) -> Optional[Dict[str, float]]:
        """``{metric: identical_value}`` when no metric needs F's outputs for identical objects (then they are
        settled without the classifier: Sem = 0 exactly), else None."""
        stage = self.stage
        if stage is None or stage.probs_all or stage.features_pred or stage.features_gt:
            return None
        return {s.name: float(s.identical_value) for s in self.sample_clf}

    def classify(self, objects_pred: Sequence[np.ndarray], objects_gt: Sequence[np.ndarray], labels: Any,
                 keys: Optional[Sequence[str]] = None) -> Batch:
        """F once per object (:meth:`ClassifierStage.run`)."""
        return self.stage.run(objects_pred, objects_gt, labels, keys)

    def update_classified(self, state: Dict[str, Any], batch: Batch) -> Dict[str, np.ndarray]:
        """Per-sample values of the classifier metrics (added to their sums) and the dataset updates (in place)."""
        values: Dict[str, np.ndarray] = {}
        for s in self.sample_clf:
            v = np.asarray(s.resolve("update")(batch), dtype=np.float64).reshape(-1).copy()
            if len(v) != len(batch):
                raise InputError(f"metric {s.name!r}: update returned {len(v)} values for {len(batch)} samples")
            if s.identical_value is not None:
                v[batch.identical] = float(s.identical_value)
            values[s.name] = v
        self.add_values(state, values)
        for s in self.dataset_clf:
            self._add(state, s.name, s.resolve("update")(batch, self.cfgs[s.name]))
        return values

    def classified_values(self, objects_pred: Sequence[np.ndarray], objects_gt: Sequence[np.ndarray],
                          labels: Any) -> Dict[str, np.ndarray]:
        """Per-sample values of the classifier metrics (e.g. Sem of Eq. 10) of these objects O: F once per object
        through the stage (:meth:`classify`), then :meth:`update_classified` on a fresh state; for callers
        that keep the values only (the task's null model, the reference evaluation)."""
        return self.update_classified(self.empty_state(), self.classify(objects_pred, objects_gt, labels))

    # ------------------------------------------------------------------ a whole batch (streaming)
    def batch_state(self, preds: Any, gts: Any, boxes: Any, labels: Any) -> Dict[str, Any]:
        """The state of one validated batch: both phases (pure, besides running the classifier)."""
        state = self.empty_state()
        n = len(labels)
        values = self.map_values(preds, gts, boxes, labels) if n else {s.name: [] for s in self.fused + self.sample_maps}
        self.update_maps(state, preds, gts, boxes, labels, values, datasets=n > 0)
        if n and self.uses_classifier_phase:
            bl = [tuple(int(v) for v in b) for b in np.asarray(boxes).tolist()]
            lab = [int(v) for v in np.asarray(labels).tolist()]
            objects_pred = [object_crop(p, b, l) for p, b, l in zip(preds, bl, lab)]
            objects_gt = [object_crop(g, b, l) for g, b, l in zip(gts, bl, lab)]
            self.update_classified(state, self.classify(objects_pred, objects_gt, lab))
        return state

    # ------------------------------------------------------------------ results
    def compute(self, state: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
        """``(values, totals, metadata, runtime)``: see :func:`compute_state`; old-style classes included."""
        values, totals, meta, runtime = compute_state(state, self.metrics, self.cfgs)
        n = int(state["n_samples"])
        for name, acc in self.legacy.items():
            values[name] = float(acc.compute()) if n else None
            if n and hasattr(acc, "metadata"):
                meta[name] = acc.metadata()
            if hasattr(acc, "runtime"):
                runtime[name] = acc.runtime()
        return {m: values.get(m) for m in self.metrics}, totals, meta, runtime
