"""Streaming SISM metrics for training and evaluation loops: :class:`SISMMetrics` (torchmetrics style).

``update(preds, gts, boxes, labels)`` adds a batch, ``compute()`` returns the means of the paper's
metrics over everything added so far (tIOU, hamm, NN of Sec. 4.1; Sem of Eq. 10) and SFD (beyond the
paper, FID-style), plus counts; ``reset()`` starts over. Under an initialised ``torch.distributed``
process group ``compute()`` reduces over all ranks.

A functional core and a thin class, as in torchmetrics: :func:`batch_state` turns one batch into a
state, :func:`merge_states` adds two states, :func:`compute_from_state` turns a state into numbers.
States are sums and counts only, so they are independent of how samples were batched or split:

* per-sample metrics: the **exact** sum of the per-sample float64 values, held as fixed-point
  integers (:func:`exact_sum_limbs`: 32-bit limbs in an int64 vector, 1074 fractional bits, so every
  finite float64 is represented exactly). Adding limbs, across batches or with ``all_reduce(SUM)``
  across ranks, is exact; the mean is ``correctly_rounded(sum) / n``, bit-identical to the evaluation
  pipeline's ``math.fsum(values) / n`` in any chunking and on any number of processes;
* SFD: per set (predicted, ground truth) ``n``, the feature sum and the sum of outer products in
  float64 (:class:`sem_metric.sem.sfd.Moments`).

Sem and SFD values depend on the classifier's float32 forward passes, which vary with the batch
composition by about 1e-7; everything else is exact.
"""
from __future__ import annotations

import math
import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from . import registry
from .errors import InputError

__all__ = ["SISMMetrics", "DEFAULT_METRICS", "batch_state", "merge_states", "compute_from_state",
           "empty_state", "exact_sum_limbs", "limbs_to_float", "sync_state"]

DEFAULT_METRICS = ("tiou", "hamm", "nn", "sem")

#: fixed-point exact sums: value * 2**FRAC_BITS is an integer for every finite float64
FRAC_BITS = 1074
LIMB_BITS = 32
#: 2**(1024 + 1074) < 2**(32 * 66): the largest finite float64 fits, with room for 2**31 additions per limb
N_LIMBS = 66
_LIMB_MASK = (1 << LIMB_BITS) - 1


# ------------------------------------------------------------------------------ exact sums
def exact_sum_limbs(values: Iterable[float]) -> np.ndarray:
    """Exact sum of finite float64 values as an int64 vector of ``N_LIMBS`` 32-bit limbs (value * 2**1074).

    Limb vectors add exactly (element-wise, also with ``all_reduce(SUM)``) as long as fewer than 2**31
    vectors are added; :func:`limbs_to_float` rounds the total once, correctly.
    """
    total = 0
    for v in values:
        v = float(v)
        if not math.isfinite(v):
            raise InputError(f"cannot average a non-finite metric value ({v!r})")
        p, q = v.as_integer_ratio()          # q is a power of two <= 2**1074
        total += p << (FRAC_BITS - (q.bit_length() - 1))
    return _int_to_limbs(total)


def _int_to_limbs(total: int) -> np.ndarray:
    sign = -1 if total < 0 else 1
    a = abs(total)
    if a >> (LIMB_BITS * N_LIMBS):
        raise OverflowError("exact sum out of range")
    return np.array([sign * ((a >> (LIMB_BITS * i)) & _LIMB_MASK) for i in range(N_LIMBS)], dtype=np.int64)


def _limbs_to_int(limbs: Any) -> int:
    arr = np.asarray(limbs, dtype=np.int64).reshape(-1)
    return sum(int(v) << (LIMB_BITS * i) for i, v in enumerate(arr.tolist()))


def limbs_to_float(limbs: Any) -> float:
    """The exact sum held in ``limbs``, correctly rounded to float64 (equal to ``math.fsum`` of the values)."""
    return _limbs_to_int(limbs) / (1 << FRAC_BITS)   # int / int is correctly rounded in Python


# ------------------------------------------------------------------------------ functional core
def _spec(metrics: Any) -> List[str]:
    names = list(registry.parse_metrics(metrics if metrics is not None else DEFAULT_METRICS))
    for m in names:
        spec = registry.get(m)
        if spec.level == "dataset" and m != "sfd":
            raise InputError(f"SISMMetrics supports the dataset-level metric sfd only, not {m!r}")
        if spec.kind == "sem" and spec.level == "sample" and m != "sem":
            raise InputError(f"SISMMetrics cannot compute {m!r}: the Sem engine computes only 'sem' per sample")
    return names


def empty_state(metrics: Sequence[str], feature_dim: Optional[int] = None) -> Dict[str, Any]:
    """The state of no samples: ``n_samples`` 0, zero exact sums, zero SFD moments (``feature_dim`` needed for sfd)."""
    state: Dict[str, Any] = {"n_samples": 0,
                             "sums": {m: np.zeros(N_LIMBS, dtype=np.int64) for m in metrics
                                      if registry.get(m).level == "sample"},
                             "sfd": None}
    if "sfd" in metrics:
        if feature_dim is None:
            raise InputError("empty_state: sfd needs the classifier's feature dimension")
        from .sem.sfd import Moments

        state["sfd"] = {"pred": Moments(feature_dim).state(), "gt": Moments(feature_dim).state()}
    return state


def _as_batch(preds: Any, gts: Any, boxes: Any, labels: Any):
    """Validated batch: maps as an (N, H, W) numpy stack or list of 2-D arrays, (N, 4) boxes, (N,) labels."""
    from .labelmap.box import _coerce_boxes, as_labels
    from .labelmap.metrics import _as_maps

    P = _as_maps(preds, "preds")
    G = _as_maps(gts, "gts")
    n = len(P)
    if len(G) != n:
        raise InputError(f"got {n} predicted maps and {len(G)} ground-truth maps; they must pair up one to one")
    return P, G, _coerce_boxes(boxes, n), as_labels(labels, n)


def batch_state(preds: Any, gts: Any, boxes: Any, labels: Any, metrics: Sequence[str], classifier: Any = None,
                batch_size: int = 64) -> Dict[str, Any]:
    """The state of one batch (pure: no side effects besides running the classifier).

    ``preds``/``gts``: (N, H, W) integer arrays / tensors (any device) or sequences of 2-D maps;
    ``boxes``: (N, 4) ``(x0, y0, x1, y1)``, x1/y1 exclusive; ``labels``: N target labels ``l^t``.
    Per-sample values are those of the registry's batched functions (tIOU, hamm, NN of Sec. 4.1,
    Sem of Eq. 10); SFD features those of :func:`sem_metric.sem.sfd.shape_features_batch`.
    """
    P, G, B, L = _as_batch(preds, gts, boxes, labels)
    n = len(P)
    values: Dict[str, Any] = {}
    for m in metrics:
        spec = registry.get(m)
        if spec.level == "sample" and spec.kind == "labelmap":
            values[m] = spec.compute(P, G, B, L) if n else []
    feats = None
    if n and ("sem" in metrics or "sfd" in metrics):
        from .sem.metric import sem_from_probabilities
        from .sem.preprocess import classifier_inputs
        from .sem.sfd import classifier_features

        if classifier is None:
            raise InputError("Sem / SFD need a classifier (SISMMetrics loads one)")
        inputs = classifier_inputs(list(P) + list(G), [tuple(b) for b in B.tolist()] * 2, L.tolist() * 2)
        if "sfd" in metrics:
            # one forward pass serves both: the features, and Sem from the head applied to them
            if "sem" in metrics:
                feats, probs = classifier_features(inputs, classifier, batch_size, with_probs=True)
                values["sem"] = sem_from_probabilities(probs[:n], probs[n:])
            else:
                feats = classifier_features(inputs, classifier, batch_size)
        else:
            from .sem.metric import probabilities_from_inputs

            probs = probabilities_from_inputs(inputs, classifier, batch_size)
            values["sem"] = sem_from_probabilities(probs[:n], probs[n:])
    elif "sem" in metrics:
        values["sem"] = []
    state = {"n_samples": n, "sums": {m: exact_sum_limbs(np.asarray(v, dtype=np.float64).tolist())
                                      for m, v in values.items()}, "sfd": None}
    if "sfd" in metrics:
        from .sem.sfd import Moments, feature_dim

        pm, gm = Moments(feature_dim(classifier)), Moments(feature_dim(classifier))
        if feats is not None:
            pm.add(feats[:n])
            gm.add(feats[n:])
        state["sfd"] = {"pred": pm.state(), "gt": gm.state()}
    return state


def _add_moments(a: Mapping[str, Any], b: Mapping[str, Any]) -> Dict[str, Any]:
    return {"n": int(a["n"]) + int(b["n"]), "sum": np.asarray(a["sum"]) + np.asarray(b["sum"]),
            "outer": np.asarray(a["outer"]) + np.asarray(b["outer"])}


def merge_states(a: Mapping[str, Any], b: Mapping[str, Any]) -> Dict[str, Any]:
    """Sum of two states (of the same metrics): exact for the per-sample sums and counts."""
    if set(a["sums"]) != set(b["sums"]) or (a["sfd"] is None) != (b["sfd"] is None):
        raise InputError("cannot merge states of different metric selections")
    out: Dict[str, Any] = {"n_samples": int(a["n_samples"]) + int(b["n_samples"]),
                           "sums": {m: np.asarray(a["sums"][m], dtype=np.int64) + np.asarray(b["sums"][m], dtype=np.int64)
                                    for m in a["sums"]},
                           "sfd": None}
    if a["sfd"] is not None:
        out["sfd"] = {k: _add_moments(a["sfd"][k], b["sfd"][k]) for k in ("pred", "gt")}
    return out


def compute_from_state(state: Mapping[str, Any], metrics: Sequence[str]) -> Dict[str, Any]:
    """Means (``None`` without samples), ``n_samples`` and ``<name>_total`` (e.g. ``nn_total``) from a state.

    A mean is the correctly rounded exact sum divided by ``n_samples``, as in the evaluation
    pipeline. SFD (beyond the paper) is the Frechet distance of the Gaussian fits from the moments;
    it needs at least 2 samples (:class:`InputError` otherwise).
    """
    n = int(state["n_samples"])
    out: Dict[str, Any] = {}
    for m in metrics:
        spec = registry.get(m)
        if spec.level == "sample":
            out[m] = limbs_to_float(state["sums"][m]) / n if n else None
        elif m == "sfd":
            if n == 0:
                out[m] = None
                continue
            from .sem.sfd import frechet_distance, mean_cov_from_sums

            p, g = state["sfd"]["pred"], state["sfd"]["gt"]
            mu_p, s_p = mean_cov_from_sums(p["n"], p["sum"], p["outer"], "predicted objects")
            mu_g, s_g = mean_cov_from_sums(g["n"], g["sum"], g["outer"], "ground-truth objects")
            out[m] = frechet_distance(mu_p, s_p, mu_g, s_g)
    out["n_samples"] = n
    for m in metrics:
        spec = registry.get(m)
        if spec.total_unit and spec.level == "sample":
            total = _limbs_to_int(state["sums"][m])
            if spec.integer:
                out[f"{m}_total"] = total >> FRAC_BITS
            else:
                out[f"{m}_total"] = total / (1 << FRAC_BITS)
    return out


def sync_state(state: Mapping[str, Any], process_group: Any = None) -> Dict[str, Any]:
    """Sum a state over the ranks of an initialised ``torch.distributed`` group (``all_reduce(SUM)``).

    Counts and exact sums travel as one int64 tensor (exact), SFD moments as one float64 tensor.
    Without an initialised group (or with one rank) the state is returned unchanged. NCCL groups get
    the tensors on the current CUDA device.
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
    names = sorted(state["sums"])
    ints = [np.array([state["n_samples"]], dtype=np.int64)] + [np.asarray(state["sums"][m], dtype=np.int64)
                                                               for m in names]
    sfd = state["sfd"]
    if sfd is not None:
        ints.append(np.array([sfd["pred"]["n"], sfd["gt"]["n"]], dtype=np.int64))
    t = torch.from_numpy(np.concatenate(ints)).to(device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=process_group)
    flat = t.cpu().numpy()
    out: Dict[str, Any] = {"n_samples": int(flat[0]), "sums": {}, "sfd": None}
    for i, m in enumerate(names):
        out["sums"][m] = flat[1 + i * N_LIMBS: 1 + (i + 1) * N_LIMBS].copy()
    if sfd is not None:
        n_pred, n_gt = int(flat[-2]), int(flat[-1])
        parts = [sfd[k][f] for k in ("pred", "gt") for f in ("sum", "outer")]
        shapes = [np.shape(p) for p in parts]
        f = torch.from_numpy(np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1) for p in parts])).to(device)
        dist.all_reduce(f, op=dist.ReduceOp.SUM, group=process_group)
        fl = f.cpu().numpy()
        arrays, pos = [], 0
        for shp in shapes:
            size = int(np.prod(shp))
            arrays.append(fl[pos:pos + size].reshape(shp))
            pos += size
        out["sfd"] = {"pred": {"n": n_pred, "sum": arrays[0], "outer": arrays[1]},
                      "gt": {"n": n_gt, "sum": arrays[2], "outer": arrays[3]}}
    return out


# ------------------------------------------------------------------------------ the class
class SISMMetrics:
    """Streaming tIOU / hamm / NN (paper Sec. 4.1), Sem (Eq. 10) and SFD (beyond the paper) over batches.

    Usage::

        metric = SISMMetrics(metrics=("tiou", "hamm", "nn", "sem"), device="cuda")
        for batch in loader:
            metric.update(pred_maps, gt_maps, boxes, labels)   # (N, H, W) tensors, (N, 4), (N,)
        metric.compute()   # {"tiou": ..., "hamm": ..., "nn": ..., "sem": ..., "n_samples": N, "nn_total": ...}
        metric.reset()

    ``metrics``: names or ``"tiou,nn"`` (registry names; ``sfd`` is supported as the only dataset-level
    metric). ``classifier``: a loaded Sem classifier, else ``weights`` (anything
    :func:`sem_metric.load_classifier` accepts; None = shipped) is loaded on ``device`` when Sem or SFD
    is asked for. ``batch_size``: classifier batch size. ``sync_on_compute``: reduce over the ranks of
    an initialised ``torch.distributed`` group (``process_group``, default: the world) in
    :meth:`compute`; every rank must then call it. The local state is never modified by
    :meth:`compute`.

    ``compute()`` equals the functional API on all samples seen (e.g. ``evaluate_samples``' means)
    whatever the chunking or the number of processes: exactly for tIOU, hamm and NN, within the registry bounds for
    Sem and SFD (float32 classifier, batch composition).
    """

    def __init__(self, metrics: Any = DEFAULT_METRICS, classifier: Any = None, weights: Any = None,
                 device: Optional[str] = None, batch_size: int = 64, sync_on_compute: bool = True,
                 process_group: Any = None):
        self.metrics = tuple(_spec(metrics))
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        self.sync_on_compute = bool(sync_on_compute)
        self.process_group = process_group
        self.classifier = None
        self.feature_dim: Optional[int] = None
        if any(registry.get(m).kind == "sem" for m in self.metrics):
            if classifier is None:
                from .sem.weights import load_classifier

                classifier = load_classifier(weights, device=device)
            elif device is not None:
                from .sem.weights import resolve_device

                classifier = classifier.to(resolve_device(device))
            self.classifier = classifier
            if "sfd" in self.metrics:
                from .sem.sfd import feature_dim

                self.feature_dim = feature_dim(classifier)
        self.reset()

    # -------------------------------------------------------------- torchmetrics-like API
    def reset(self) -> None:
        """Forget every sample."""
        self._state = empty_state(self.metrics, self.feature_dim)

    def update(self, preds: Any, gts: Any, boxes: Any, labels: Any) -> None:
        """Add a batch: (N, H, W) maps or lists of 2-D maps (numpy / torch, any device), (N, 4) boxes, N labels."""
        self._state = merge_states(self._state, self.batch_state(preds, gts, boxes, labels))

    def batch_state(self, preds: Any, gts: Any, boxes: Any, labels: Any) -> Dict[str, Any]:
        """The state of one batch with this object's metrics and classifier (:func:`batch_state`)."""
        return batch_state(preds, gts, boxes, labels, self.metrics, self.classifier, self.batch_size)

    def compute(self) -> Dict[str, Any]:
        """Means over all samples (all ranks when synchronised), ``n_samples`` and totals; see the class doc."""
        state = self._state
        if self.sync_on_compute:
            state = sync_state(state, self.process_group)
        return compute_from_state(state, self.metrics)

    def merge(self, other: "SISMMetrics") -> None:
        """Add another :class:`SISMMetrics`' samples (same metrics) to this one."""
        if other.metrics != self.metrics:
            raise InputError(f"cannot merge SISMMetrics of {other.metrics} into one of {self.metrics}")
        self._state = merge_states(self._state, other._state)

    @property
    def state(self) -> Dict[str, Any]:
        """The local (this process's) state: counts, exact sums, SFD moments."""
        return self._state

    @property
    def n_samples(self) -> int:
        """Samples added on this process."""
        return int(self._state["n_samples"])

    def __repr__(self) -> str:
        return f"SISMMetrics(metrics={self.metrics!r}, n_samples={self.n_samples})"
