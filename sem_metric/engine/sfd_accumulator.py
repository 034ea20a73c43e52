"""``SFDAccumulator``: SFD (beyond the paper, FID-style) as an update / compute object, over the engine.

A thin layer over the engine's SFD entry (:mod:`sem_metric.engine.sfd`: ``sfd_setup`` /
``sfd_update`` / ``sfd_finalize`` with the declared states of ``engine.sfd.SFD_STATES``) and its classifier
stage (features of every object from one forward pass): the numbers are those of ``sem-score --metrics
sfd`` and :class:`~sem_metric.SISMMetrics`.
:func:`shape_stats` and :func:`shape_frechet_distance` are the functional forms.
"""
from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .. import registry
from ..errors import InputError
from ..labelmap.box import check_batch_size
from ..labelmap.target_object import object_crop
from ..sem.features import _resolve_classifier
from ..version import PREPROCESSING_VERSION
from . import states as st
from .classify import ClassifierStage
from .core import RunContext, finalized
from .sfd import SFD_STATES, ShapeStats, mean_cov_from_sums, objects_digest, sfd_setup, sfd_update

__all__ = ["SFDAccumulator", "shape_stats", "shape_frechet_distance"]


class SFDAccumulator:
    """Dataset-level SFD (registry metric ``sfd``; beyond the paper, FID-style).

    ``update(preds, gts, boxes, labels)`` queues the samples' objects and, every ``batch_size`` samples,
    adds their features to the moments of the predictions and of the ground truths; ``compute()``
    returns the Frechet distance of the two Gaussian fits. ``state()`` / ``merge(state)`` combine
    accumulators of several processes (sums, so the result does not depend on how samples were split).
    ``gt_stats``: a ``.npz`` path (see :func:`shape_frechet_distance`): loaded and
    verified when it exists (then ground truths are not classified), written otherwise.
    """

    def __init__(self, classifier=None, batch_size: int = 64, device: Optional[str] = None,
                 gt_stats: "Optional[str | os.PathLike[str]]" = None):
        self.classifier = _resolve_classifier(classifier, device)
        self.batch_size = check_batch_size(batch_size)
        self._decls = SFD_STATES
        self._stage = ClassifierStage(self.classifier, self.batch_size, False, False, True, True)
        dims = self._stage.dims()
        self.sha256 = self._stage.info.get("sha256")
        self.dim = dims["features"]
        opts = SimpleNamespace(sfd_gt_stats=None if gt_stats is None else os.fspath(gt_stats))
        self._cfg = sfd_setup(RunContext(opts, self.classifier, self.sha256, dims))
        self._stage.features_gt = self._cfg.get("gt_features", True)
        self._state = st.empty(self._decls, dims)
        self._queue: List[tuple] = []
        self._result: Optional[Dict[str, Any]] = None

    def use_stats(self, stats: Any) -> None:
        """Compare with given ground-truth statistics (a :class:`~sem_metric.engine.sfd.ShapeStats`): GT not classified."""
        self._cfg.update(loaded=stats, gt_features=False)
        self._stage.features_gt = False

    @classmethod
    def from_sem_options(cls, classifier, sem_options) -> "SFDAccumulator":
        """Build from a loaded classifier and :class:`~sem_metric.pipeline.options.SemOptions`."""
        return cls(classifier, batch_size=sem_options.batch_size, gt_stats=getattr(sem_options, "sfd_gt_stats", None))

    def update(self, preds: Sequence, gts: Sequence, boxes: Sequence, labels: Sequence[int]) -> None:
        """Add N samples (label maps, boxes ``(x0, y0, x1, y1)``, target labels), as for Sem (Eq. 10)."""
        n = len(preds)
        if not (n == len(gts) == len(boxes) == len(labels)):
            raise InputError(f"preds, gts, boxes, labels differ in length: {n}, {len(gts)}, {len(boxes)}, {len(labels)}")
        for p, g, b, lab in zip(preds, gts, boxes, labels):
            b, lab = tuple(int(v) for v in b), int(lab)
            self._queue.append((object_crop(p, b, lab), object_crop(g, b, lab), lab))
        self._result = None
        if len(self._queue) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Compute the queued objects' features and add them to the states."""
        if not self._queue:
            return
        batch = self._stage.run([q[0] for q in self._queue], [q[1] for q in self._queue], [q[2] for q in self._queue])
        self._state = st.add(self._decls, self._state, sfd_update(batch, self._cfg))
        self._queue = []

    def state(self) -> Dict[str, Any]:
        """Picklable declared states (after flushing): feature moments and the ground-truth digest."""
        self.flush()
        return dict(self._state)

    def merge(self, state: Dict[str, Any]) -> None:
        """Add another accumulator's :meth:`state` (e.g. from another process)."""
        self.flush()
        self._state = st.merge(self._decls, self._state, state)
        self._result = None

    def _finalized(self) -> Dict[str, Any]:
        if self._result is None:
            self.flush()
            self._result = finalized(registry.get("sfd"), self._state, self._cfg)
        return self._result

    def gt_digest(self) -> str:
        return self._finalized()["metadata"]["gt_objects_digest"]

    def compute(self) -> float:
        """SFD of everything added so far; writes / verifies the ground-truth statistics file."""
        return float(self._finalized()["value"])

    def metadata(self) -> Dict[str, Any]:
        """What defines the value (deterministic): weights sha256, preprocessing, feature dimension, n."""
        return self._finalized()["metadata"]

    def runtime(self) -> Dict[str, Any]:
        """Run-dependent information: whether the ground-truth statistics were loaded or written."""
        path = self._cfg.get("stats_path")
        return {"gt_stats": None if path is None else {"path": path, "status": self._cfg.get("status")}}


def _weights_sha(classifier) -> Optional[str]:
    return (getattr(classifier, "info", None) or {}).get("sha256")


def shape_stats(segs: Sequence, boxes: Sequence, labels: Sequence[int], classifier=None, batch_size: int = 64,
                device: Optional[str] = None) -> ShapeStats:
    """Gaussian fit (mean, unbiased covariance) of N objects' features, for SFD (beyond the paper, FID-style).

    The objects are defined like Sem's inputs (Eq. 10). Save it with :meth:`ShapeStats.save` and pass
    it (or its path) as ``gt_stats`` to :func:`shape_frechet_distance` to skip the ground truth.
    """
    n = len(segs)
    if not (n == len(boxes) == len(labels)):
        raise InputError(f"segs, boxes, labels differ in length: {n}, {len(boxes)}, {len(labels)}")
    model = _resolve_classifier(classifier, device)
    # the engine's classifier stage: the objects' features from one forward pass each (as SFDAccumulator)
    stage = ClassifierStage(model, check_batch_size(batch_size), False, False, False, True)
    lab = [int(v) for v in labels]
    objects = [object_crop(s, tuple(int(v) for v in b), l) for s, b, l in zip(segs, boxes, lab)]
    feats = stage.run(objects, objects, lab).features_gt if n else np.zeros((0, stage.dims()["features"]))
    # the one covariance: from the sums the engine's SFD states hold (n, sum f, sum f f^T)
    mu, sigma = mean_cov_from_sums(feats.shape[0], feats.sum(axis=0), feats.T @ feats, "ground-truth objects")
    return ShapeStats(mu, sigma, feats.shape[0], str(_weights_sha(model)), PREPROCESSING_VERSION,
                      objects_digest(segs, boxes, labels))


def shape_frechet_distance(preds: Sequence, gts: Sequence, boxes: Sequence, labels: Sequence[int], classifier=None,
                           batch_size: int = 64, device: Optional[str] = None, gt_stats: Any = None) -> float:
    """Shape Frechet Distance between predicted and ground-truth objects (beyond the paper; FID-style).

    The Frechet distance (:func:`frechet_distance`) between Gaussian fits of the classifier's
    penultimate features (:func:`~sem_metric.sem.features.shape_features_batch`) of the predicted objects ``(preds[i],
    boxes[i], labels[i])`` and of the ground-truth objects ``(gts[i], boxes[i], labels[i])``: the
    same O and M as Sem (Eq. 10), compared as distributions rather than pair by pair. Lower is
    better; 0.0 when both sets give identical features.

    ``gt_stats``: None, a :class:`ShapeStats`, or a ``.npz`` path. A path that exists is loaded and
    verified against the weights sha256, the preprocessing version and these ground-truth objects
    (mismatch: :class:`InputError`), and the ground truth is then not classified; a path that does not
    exist is written. Needs at least 2 samples; meaningful with hundreds or more (biased upward at
    small N; numbers from different weights are not comparable).
    """
    n = len(preds)
    if not (n == len(gts) == len(boxes) == len(labels)):
        raise InputError(f"preds, gts, boxes, labels differ in length: {n}, {len(gts)}, {len(boxes)}, {len(labels)}")
    model = _resolve_classifier(classifier, device)
    stats = gt_stats if isinstance(gt_stats, ShapeStats) else None
    acc = SFDAccumulator(model, batch_size=batch_size, gt_stats=None if stats is not None else gt_stats)
    if stats is not None:
        stats.check("(ShapeStats)", _weights_sha(model), PREPROCESSING_VERSION)
        acc.use_stats(stats)
    acc.update(preds, gts, boxes, labels)
    return acc.compute()
