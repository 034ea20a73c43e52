"""Streaming SISM metrics for training and evaluation loops: :class:`SISMMetrics` (torchmetrics style).

``update(preds, gts, boxes, labels)`` adds a batch, ``compute()`` returns the means of the selected
registered metrics over everything added so far (tIOU, hamm, NN of Sec. 4.1; Sem of Eq. 10), the
dataset-level values (SFD, beyond the paper, FID-style; plugins), plus counts; ``reset()`` starts over.
Under an initialised ``torch.distributed`` process group ``compute()`` reduces over all ranks.

A thin layer over the engine (:mod:`sem_metric.engine`): :func:`batch_state` turns one batch into a
state, :func:`merge_states` adds two states, :func:`compute_from_state` turns a state into numbers.
States are the metrics' declared states (:mod:`sem_metric.engine.states`), merged by their declared
reductions only, so they are independent of how samples were batched or split:

* per-sample metrics: the **exact** sum of the per-sample float64 values, held as fixed-point
  integers (:func:`exact_sum_limbs`: 32-bit limbs in an int64 vector, 1074 fractional bits, so every
  finite float64 is represented exactly). Adding limbs, across batches or with ``all_reduce(SUM)``
  across ranks, is exact; the mean is ``correctly_rounded(sum) / n``, bit-identical to the evaluation
  pipeline's mean in any chunking and on any number of processes;
* SFD: per set (predicted, ground truth) ``n``, the feature sum and the sum of outer products in float64.

Sem and SFD values depend on the classifier's float32 forward passes, which vary with the batch
composition within the registry's bounds; everything else is exact.
"""
from __future__ import annotations

import sys
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np

from . import registry
from .engine.core import (Engine, compute_state, declared_states, empty_state as _empty_state,
                          merge_states as _merge_states)
from .engine.exact import FRAC_BITS, LIMB_BITS, N_LIMBS, exact_sum_limbs, limbs_to_float, limbs_to_int as _limbs_to_int
from .errors import InputError
from .labelmap.box import _coerce_boxes, as_labels, check_batch_size
from .labelmap.metrics import _as_maps
from .sem.weights import load_classifier, resolve_device

__all__ = ["SISMMetrics", "DEFAULT_METRICS", "batch_state", "merge_states", "compute_from_state",
           "empty_state", "exact_sum_limbs", "limbs_to_float", "sync_state", "FRAC_BITS", "LIMB_BITS", "N_LIMBS"]

#: the registry's default metric set (:func:`sem_metric.registry.default_names`, what ``sem-score`` and
#: ``evaluate_*`` compute without ``--metrics``); ``metrics=None`` in the constructors means the same set,
#: with the defaults of plugins registered by then
DEFAULT_METRICS = registry.default_names()
_ = _limbs_to_int  # re-exported for tests and older callers


def _spec(metrics: Any) -> list:
    names = list(registry.parse_metrics(metrics))
    old = [m for m in names if not registry.get(m).engine_native]
    if old:
        raise InputError(f"SISMMetrics cannot stream {', '.join(map(repr, old))}: an old-style dataset class; "
                         "declare its states, update and finalize in the registry entry (README, 'Adding a metric')")
    return names


def empty_state(metrics: Sequence[str], feature_dim: Optional[int] = None, dims: Optional[Mapping[str, int]] = None
                ) -> Dict[str, Any]:
    """The state of no samples (``feature_dim`` / ``dims``: run dimensions the declared states use)."""
    d = dict(dims or {})
    if feature_dim is not None:
        d["features"] = int(feature_dim)
    try:
        return _empty_state(list(metrics), d)
    except ValueError as e:
        raise InputError(f"empty_state: {e} (the classifier's dimensions)") from None


def _as_batch(preds: Any, gts: Any, boxes: Any, labels: Any):
    """Validated batch: maps as an (N, H, W) numpy stack or list of 2-D arrays, (N, 4) boxes, (N,) labels."""
    P = _as_maps(preds, "preds")
    G = _as_maps(gts, "gts")
    n = len(P)
    if len(G) != n:
        raise InputError(f"got {n} predicted maps and {len(G)} ground-truth maps; they must pair up one to one")
    return P, G, _coerce_boxes(boxes, n), as_labels(labels, n)


def batch_state(preds: Any, gts: Any, boxes: Any, labels: Any, metrics: Sequence[str], classifier: Any = None,
                batch_size: int = 64, engine: Optional[Engine] = None) -> Dict[str, Any]:
    """The state of one batch (pure: no side effects besides running the classifier).

    ``preds``/``gts``: (N, H, W) integer arrays / tensors (any device) or sequences of 2-D maps;
    ``boxes``: (N, 4) ``(x0, y0, x1, y1)``, x1/y1 exclusive; ``labels``: N target labels ``l^t``.
    Per-sample values are those of the registry's entries (tIOU, hamm, NN of Sec. 4.1, Sem of Eq. 10,
    plugins); the classifier runs once per object for all metrics that need it.
    """
    P, G, B, L = _as_batch(preds, gts, boxes, labels)
    if engine is None:
        engine = Engine(_spec(metrics), classifier, batch_size=batch_size)
    return engine.batch_state(P, G, B, L)


def merge_states(a: Mapping[str, Any], b: Mapping[str, Any]) -> Dict[str, Any]:
    """Sum of two states (of the same metrics) by the declared reductions: exact for counts and sums."""
    return _merge_states(a, b)


def compute_from_state(state: Mapping[str, Any], metrics: Sequence[str], cfgs: Optional[Mapping[str, Any]] = None
                       ) -> Dict[str, Any]:
    """Means (``None`` without samples), dataset values, ``n_samples`` and ``<name>_total`` (e.g. ``nn_total``).

    A mean is the correctly rounded exact sum divided by ``n_samples``, as in the evaluation pipeline.
    SFD (beyond the paper) needs at least 2 samples (:class:`InputError` otherwise).
    """
    values, totals, _meta, _runtime = compute_state(state, list(metrics), cfgs)
    return {**{m: values[m] for m in metrics}, "n_samples": int(state["n_samples"]), **totals}


def _all_reduce(flat: np.ndarray, process_group: Any, device: Any) -> np.ndarray:
    import torch
    import torch.distributed as dist

    t = torch.from_numpy(flat).to(device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=process_group)
    return t.cpu().numpy()


def sync_state(state: Mapping[str, Any], process_group: Any = None) -> Dict[str, Any]:
    """Combine a state over the ranks of an initialised ``torch.distributed`` group by the declared reductions.

    ``sum`` states travel as one int64 tensor (counts, exact sums: exact) and one float64 tensor
    (``all_reduce(SUM)``); ``cat`` states are gathered in rank order. Without an initialised group (or
    with one rank) the state is returned unchanged. NCCL groups get the tensors on the current CUDA device.
    """
    if "torch" not in sys.modules:           # no torch, no process group (and no need to import it)
        return dict(state)
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(process_group) == 1:
        return dict(state)
    device = torch.device("cpu")
    if dist.get_backend(process_group) == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    slots = [(m, s) for m in sorted(state["metrics"]) for s in declared_states(registry.get(m))]
    ints = [(m, s) for m, s in slots if s.reduce == "sum" and s.dtype != "float64"]
    floats = [(m, s) for m, s in slots if s.reduce == "sum" and s.dtype == "float64"]
    cats = [(m, s) for m, s in slots if s.reduce == "cat"]
    out: Dict[str, Any] = {"n_samples": 0, "metrics": {m: {} for m in state["metrics"]}}
    for group, dtype in ((ints, np.int64), (floats, np.float64)):
        parts = [np.asarray(state["metrics"][m][s.name], dtype=dtype) for m, s in group]
        head = [np.array([state["n_samples"]], dtype=np.int64)] if dtype is np.int64 else []
        flat = _all_reduce(np.concatenate(head + [p.reshape(-1) for p in parts] or [np.zeros(0, dtype)]),
                           process_group, device)
        pos = len(head)
        if head:
            out["n_samples"] = int(flat[0])
        for (m, s), p in zip(group, parts):
            out["metrics"][m][s.name] = flat[pos:pos + p.size].reshape(p.shape).copy()
            pos += p.size
    if cats:
        gathered: list = [None] * dist.get_world_size(process_group)
        dist.all_gather_object(gathered, {(m, s.name): state["metrics"][m][s.name] for m, s in cats},
                               group=process_group)
        for m, s in cats:
            out["metrics"][m][s.name] = np.concatenate([g[(m, s.name)] for g in gathered])
    return out


class SISMMetrics:
    """Streaming tIOU / hamm / NN (paper Sec. 4.1), Sem (Eq. 10), SFD (beyond the paper) and plugins over batches.

    Usage::

        metric = SISMMetrics(metrics=("tiou", "hamm", "nn", "sem"), device="cuda")
        for batch in loader:
            metric.update(pred_maps, gt_maps, boxes, labels)   # (N, H, W) tensors, (N, 4), (N,)
        metric.compute()   # {"tiou": ..., "hamm": ..., "nn": ..., "sem": ..., "n_samples": N, "nn_total": ...}
        metric.reset()

    ``metrics``: names or ``"tiou,nn"`` (any registered metric whose entry declares its states; the
    built-in ones and ``register_metric`` plugins do); None (the default): the registry's default set, as
    ``sem-score`` without ``--metrics`` (tIOU, hamm, NN; Sem and SFD only when asked for).
    ``classifier``: a loaded Sem classifier, else ``weights`` (anything :func:`sem_metric.load_classifier`
    accepts; None = shipped) is loaded on ``device`` when a metric needs it. ``batch_size``: classifier
    batch size (any integer type). ``sync_on_compute``:
    reduce over the ranks of an initialised ``torch.distributed`` group (``process_group``, default: the
    world) in :meth:`compute`; every rank must then call it. The local state is never modified by
    :meth:`compute`.

    ``compute()`` equals the functional API on all samples seen (e.g. ``evaluate_samples``' means)
    whatever the chunking or the number of processes: exactly for tIOU, hamm and NN, within the registry
    bounds for Sem and SFD (float32 classifier, batch composition).
    """

    def __init__(self, metrics: Any = None, classifier: Any = None, weights: Any = None,
                 device: Optional[str] = None, batch_size: int = 64, sync_on_compute: bool = True,
                 process_group: Any = None):
        self.metrics = tuple(_spec(metrics))
        self.batch_size = batch_size = check_batch_size(batch_size)
        self.sync_on_compute = bool(sync_on_compute)
        self.process_group = process_group
        if any(registry.get(m).kind == "sem" for m in self.metrics):
            if classifier is None:
                classifier = load_classifier(weights, device=device)
            elif device is not None:
                classifier = classifier.to(resolve_device(device))
        else:
            classifier = None
        self.classifier = classifier
        self.engine = Engine(self.metrics, classifier, batch_size=batch_size)
        self.feature_dim: Optional[int] = self.engine.dims.get("features")
        self.reset()

    # -------------------------------------------------------------- torchmetrics-like API
    def reset(self) -> None:
        """Forget every sample."""
        self._state = self.engine.empty_state()

    def update(self, preds: Any, gts: Any, boxes: Any, labels: Any) -> None:
        """Add a batch: (N, H, W) maps or lists of 2-D maps (numpy / torch, any device), (N, 4) boxes, N labels."""
        self._state = merge_states(self._state, self.batch_state(preds, gts, boxes, labels))

    def batch_state(self, preds: Any, gts: Any, boxes: Any, labels: Any) -> Dict[str, Any]:
        """The state of one batch with this object's metrics and classifier (:func:`batch_state`)."""
        return batch_state(preds, gts, boxes, labels, self.metrics, engine=self.engine)

    def compute(self) -> Dict[str, Any]:
        """Means over all samples (all ranks when synchronised), ``n_samples`` and totals; see the class doc."""
        state = self._state
        if self.sync_on_compute:
            state = sync_state(state, self.process_group)
        return compute_from_state(state, self.metrics, self.engine.cfgs)

    def merge(self, other: "SISMMetrics") -> None:
        """Add another :class:`SISMMetrics`' samples (same metrics) to this one."""
        if other.metrics != self.metrics:
            raise InputError(f"cannot merge SISMMetrics of {other.metrics} into one of {self.metrics}")
        self._state = merge_states(self._state, other._state)

    @property
    def state(self) -> Dict[str, Any]:
        """The local (this process's) state: counts and the metrics' declared states."""
        return self._state

    @property
    def n_samples(self) -> int:
        """Samples added on this process."""
        return int(self._state["n_samples"])

    def __repr__(self) -> str:
        return f"SISMMetrics(metrics={self.metrics!r}, n_samples={self.n_samples})"
