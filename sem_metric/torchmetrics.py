"""``sem_metric.torchmetrics.SISMMetric``: the streaming SISM metrics as a ``torchmetrics.Metric``.

Optional: ``pip install "sem-metric[torchmetrics]"``. The numbers are those of
:class:`sem_metric.streaming.SISMMetrics` (tIOU, hamm, NN of paper Sec. 4.1; Sem of Eq. 10; SFD, beyond
the paper) through the same functional core; torchmetrics only holds the states and synchronises them
across processes (every state is reduced with ``sum``: exact int64 fixed-point sums for the
per-sample metrics, float64 moments for SFD).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

try:
    import torch
    from torchmetrics import Metric
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("sem_metric.torchmetrics needs torchmetrics: pip install 'sem-metric[torchmetrics]' "
                      "(or use sem_metric.SISMMetrics, which has no extra dependency)") from e

from . import registry
from .engine.core import declared_states
from .streaming import SISMMetrics, compute_from_state

__all__ = ["SISMMetric"]


class SISMMetric(Metric):
    """torchmetrics version of :class:`sem_metric.SISMMetrics` (Sec. 4.1 metrics, Sem of Eq. 10, SFD, plugins).

    ``SISMMetric(metrics=None, classifier=None, weights=None, device=None, batch_size=64,
    **torchmetrics_kwargs)`` (``metrics=None``: the registry's default set, as ``sem-score``);
    ``update(preds, gts, boxes, labels)`` as in
    :meth:`SISMMetrics.update`; ``compute()`` returns a dict of float64 tensors keyed by metric name
    plus ``n_samples`` (and ``nn_total``); an undefined mean (no sample) is NaN. Every declared state of
    every metric (:mod:`sem_metric.engine.states`) is one torchmetrics state, ``<metric>__<state>``, with
    its declared reduction (``sum`` or ``cat``); under DDP torchmetrics reduces them before ``compute``.
    """

    is_differentiable = False
    higher_is_better: Optional[bool] = None
    full_state_update = False

    def __init__(self, metrics: Any = None, classifier: Any = None, weights: Any = None,
                 device: Optional[str] = None, batch_size: int = 64, **kwargs: Any):
        super().__init__(**kwargs)
        # a plain object (not an nn.Module attribute): the classifier is not part of this metric's state_dict
        engine = SISMMetrics(metrics, classifier=classifier, weights=weights, device=device,
                             batch_size=batch_size, sync_on_compute=False)
        object.__setattr__(self, "_engine", engine)
        self.metric_names = engine.metrics
        self.add_state("n_samples", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        empty = engine.state["metrics"]
        self._slots = [(m, s) for m in engine.metrics for s in declared_states(registry.get(m))]
        for m, s in self._slots:
            if s.reduce == "cat":
                self.add_state(f"{m}__{s.name}", [], dist_reduce_fx="cat")
            else:
                self.add_state(f"{m}__{s.name}", torch.from_numpy(np.array(empty[m][s.name])), dist_reduce_fx="sum")

    def update(self, preds: Any, gts: Any, boxes: Any, labels: Any) -> None:  # type: ignore[override]
        """Add a batch (see :meth:`sem_metric.SISMMetrics.update`)."""
        s = self._engine.batch_state(preds, gts, boxes, labels)
        dev = self.n_samples.device
        self.n_samples += int(s["n_samples"])
        for m, decl in self._slots:
            name, inc = f"{m}__{decl.name}", torch.from_numpy(np.asarray(s["metrics"][m][decl.name])).to(dev)
            if decl.reduce == "cat":
                getattr(self, name).append(inc)
            else:
                setattr(self, name, getattr(self, name) + inc)

    def _numpy(self, m: str, decl: Any) -> np.ndarray:
        value = getattr(self, f"{m}__{decl.name}")
        if isinstance(value, (list, tuple)):     # a cat state before synchronisation: a list of tensors
            empty = self._engine.engine.empty_state()["metrics"][m][decl.name]
            return np.concatenate([empty] + [v.cpu().numpy() for v in value])
        return value.cpu().numpy()

    def compute(self) -> Dict[str, torch.Tensor]:  # type: ignore[override]
        """Means (float64 tensors; NaN when undefined), ``n_samples`` and totals."""
        state: Dict[str, Any] = {"n_samples": int(self.n_samples), "metrics": {m: {} for m in self.metric_names}}
        for m, decl in self._slots:
            state["metrics"][m][decl.name] = self._numpy(m, decl)
        values = compute_from_state(state, self.metric_names, self._engine.engine.cfgs)
        out: Dict[str, torch.Tensor] = {}
        for k, v in values.items():
            if isinstance(v, int) and not isinstance(v, bool):
                out[k] = torch.tensor(v, dtype=torch.int64)
            else:
                out[k] = torch.tensor(float("nan") if v is None else float(v), dtype=torch.float64)
        return out
