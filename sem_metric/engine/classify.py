"""The classifier stage of the engine: F runs once per object and yields every output metrics need.

:class:`ClassifierStage` loads (or takes) the shape classifier F of Sec. 3.3 and, for a batch of target
objects (the binary O of Eq. 10 inside each box, predicted and ground truth), returns a
:class:`~sem_metric.engine.batch.Batch` with the probabilities ``Softmax(F_{-1}(O))`` and the penultimate
features, both from the same forward pass, of exactly the objects that need them:

* an object whose predicted O equals the ground truth's is run once: its pred outputs are the ground
  truth's (so Sem of Eq. 10 is exactly 0); when only per-sample metrics with an ``identical_value`` need
  probabilities, it is not run at all;
* ground-truth probabilities come from the ``--gt-cache`` (:mod:`sem_metric.sem.cache`) when present;
  ground-truth features are skipped when every feature metric has its ground truth elsewhere (SFD's
  ``--sfd-gt-stats``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..labelmap.box import check_batch_size
from ..sem import features, metric  # modules: tests count F's forward passes by patching them
from ..sem.cache import GTProbabilityCache
from ..sem.classifier import compile_classifier
from ..sem.preprocess import windows_from_crops
from ..sem.weights import load_classifier, resolve_device
from ..version import PREPROCESSING_VERSION, SEM_DEFINITION_VERSION, __version__
from .batch import Batch

__all__ = ["ClassifierStage", "load_stage_classifier", "COMPILED_NOT_USED"]

#: ``runtime.sem.compiled_reason`` of a ``--compile`` run with a metric that needs F's penultimate features
COMPILED_NOT_USED = ("not used: a metric needs F's penultimate features (SFD), which come from the eager network "
                     "(forward_features / forward_head); --compile compiles the logits path only")


def load_stage_classifier(options: Any) -> Any:
    """The classifier of a :class:`~sem_metric.pipeline.evaluate.SemOptions`: loaded, moved, compiled as asked."""
    clf = options.classifier
    if clf is None:
        return load_classifier(options.weights, device=options.device, sha256=options.sha256,
                               compile=bool(options.compile))
    if options.device is not None:
        clf = clf.to(resolve_device(options.device))
    if options.compile:
        clf = compile_classifier(clf)
    return clf


class ClassifierStage:
    """Runs F on the objects of a batch (see the module docstring); keeps provenance and run statistics.

    ``probs``: some metric needs probabilities; ``probs_all``: one needs them for identical objects too;
    ``features_pred`` / ``features_gt``: some metric needs the features of that side.
    """

    def __init__(self, classifier: Any, batch_size: int, probs: bool, probs_all: bool, features_pred: bool,
                 features_gt: bool, gt_cache: Any = None, warn: Any = None):
        self.classifier = classifier
        self.batch_size = check_batch_size(batch_size)
        self.probs, self.probs_all = bool(probs), bool(probs_all)
        self.features_pred, self.features_gt = bool(features_pred), bool(features_gt)
        info = dict(getattr(classifier, "info", None) or {})
        self.info = {k: info.get(k) for k in ("name", "sha256", "source", "arch", "input_size", "preprocessing")}
        try:
            self.device = str(next(classifier.parameters()).device)
        except (StopIteration, AttributeError, TypeError):
            self.device = None
        self.identical = 0
        self.cache = None
        self.record_new_entries = False  # set when sharded: rank 0 saves every rank's new cache entries
        self.new_cache_entries: List[Tuple[List[str], np.ndarray]] = []
        if gt_cache is not None and self.probs:
            if not info.get("sha256"):
                raise InputError("a ground-truth cache needs classifier weights with a known sha256 (load them with "
                                 "sem_metric.load_classifier); this classifier has none")
            self.cache = GTProbabilityCache.open(gt_cache, str(info.get("sha256")), PREPROCESSING_VERSION,
                                                 __version__, warn=warn)

    # ------------------------------------------------------------------ dimensions
    def dims(self) -> Dict[str, int]:
        """Run dimensions for declared states: ``classes`` and, when the network reports it, ``features``."""
        out = {"classes": int(getattr(getattr(self.classifier, "config", None), "num_classes", 0) or 0)}
        if self.features_pred or self.features_gt:
            out["features"] = features.feature_dim(self.classifier)
        return out

    # ------------------------------------------------------------------ one forward pass
    def _forward(self, objects: Sequence[np.ndarray]) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        if not objects:
            return None, None
        inputs = windows_from_crops(list(objects))
        if self.features_pred or self.features_gt:
            if self.probs:
                feats, probs = features.classifier_features(inputs, self.classifier, self.batch_size, with_probs=True)
                return probs, feats
            return None, features.classifier_features(inputs, self.classifier, self.batch_size)
        return metric.probabilities_from_inputs(inputs, self.classifier, batch_size=self.batch_size), None

    def _cached(self, probs_rows: np.ndarray, keys: Optional[Sequence[str]], n: int
                ) -> Tuple[Optional[np.ndarray], np.ndarray]:
        """Ground-truth probabilities from the cache for the rows that need them, and which rows hit."""
        hit = np.zeros(n, dtype=bool)
        if self.cache is None or keys is None or not probs_rows.any():
            return None, hit
        rows = np.flatnonzero(probs_rows)
        got, missing = self.cache.lookup([keys[i] for i in rows])
        probs = np.full((n, got.shape[1]), np.nan)
        probs[rows] = got
        hit[rows] = True
        hit[rows[missing]] = False
        return probs, hit

    def run(self, objects_pred: Sequence[np.ndarray], objects_gt: Sequence[np.ndarray], labels: Any,
            keys: Optional[Sequence[str]] = None) -> Batch:
        """The :class:`Batch` of N objects with the outputs the metrics need (``keys``: ground-truth cache keys)."""
        n = len(objects_pred)
        identical = np.array([np.array_equal(a, b) for a, b in zip(objects_pred, objects_gt)], dtype=bool)
        self.identical += int(identical.sum())
        probs_rows = np.full(n, self.probs_all) | (self.probs & ~identical)
        gt_probs, hit = self._cached(probs_rows, keys, n)
        gt_run = np.full(n, self.features_gt) | (probs_rows & ~hit)
        pred_run = (probs_rows | self.features_pred) & ~(identical & (gt_run | (not self.features_pred)))
        pi, gi = np.flatnonzero(pred_run), np.flatnonzero(gt_run)
        probs, feats = self._forward([objects_pred[i] for i in pi] + [objects_gt[i] for i in gi])
        batch = Batch(labels=np.asarray(labels, dtype=np.int64), objects_pred=objects_pred, objects_gt=objects_gt,
                      identical=identical)
        if self.probs:
            c = int(self.dims()["classes"]) if probs is None else probs.shape[1]
            batch.probs_pred = np.full((n, c), np.nan)
            batch.probs_gt = gt_probs if gt_probs is not None else np.full((n, c), np.nan)
            if probs is not None:
                batch.probs_pred[pi] = probs[:len(pi)]
                fresh = ~hit[gi]                  # a cached ground truth keeps its cached probabilities
                batch.probs_gt[gi[fresh]] = probs[len(pi):][fresh]
            self._remember(keys, gi[~hit[gi] & probs_rows[gi]], batch.probs_gt)
            batch.probs_pred[identical] = batch.probs_gt[identical]
        if feats is not None:
            batch.features_pred = np.full((n, feats.shape[1]), np.nan)
            batch.features_pred[pi] = feats[:len(pi)]
            if self.features_gt:
                batch.features_gt = np.full((n, feats.shape[1]), np.nan)
                batch.features_gt[gi] = feats[len(pi):]
                batch.features_pred[identical & gt_run] = batch.features_gt[identical & gt_run]
        return batch

    # ------------------------------------------------------------------ ground-truth cache
    def _remember(self, keys: Optional[Sequence[str]], rows: np.ndarray, gt_probs: np.ndarray) -> None:
        if self.cache is None or keys is None or not len(rows):
            return
        new_keys = [keys[i] for i in rows]
        self.cache.put(new_keys, gt_probs[rows])
        if self.record_new_entries:
            self.new_cache_entries.append((new_keys, gt_probs[rows].copy()))

    def save(self) -> None:
        """Save the ground-truth cache (when one is used and anything changed)."""
        if self.cache is not None:
            self.cache.save()

    def export(self) -> Dict[str, Any]:
        """What another process needs to merge this one's classifier work (see :meth:`absorb`)."""
        return {"identical": self.identical, "new_cache_entries": self.new_cache_entries,
                "cache_counts": None if self.cache is None else (self.cache.hits, self.cache.misses)}

    def absorb(self, part: Mapping[str, Any]) -> None:
        """Add another process's :meth:`export`: counters and the cache entries it computed."""
        self.identical += int(part["identical"])
        if self.cache is not None:
            for keys, probs in part["new_cache_entries"]:
                self.cache.put(keys, probs)
            if part["cache_counts"] is not None:
                self.cache.hits += part["cache_counts"][0]
                self.cache.misses += part["cache_counts"][1]

    # ------------------------------------------------------------------ provenance
    def metadata(self) -> Dict[str, Any]:
        """``metadata.sem``: the classifier's provenance, the preprocessing version (Eq. 10 inputs) and the
        definition version (Eq. 10 + presence rule, :data:`sem_metric.version.SEM_DEFINITION_VERSION`)."""
        return {"classifier": self.info, "preprocessing_version": PREPROCESSING_VERSION,
                "definition_version": SEM_DEFINITION_VERSION}

    def runtime(self) -> Dict[str, Any]:
        """``runtime.sem``: device, batch size, whether F's compiled graph ran (``compiled``; with the reason
        when a compiled classifier was not used), identical object maps, ground-truth cache statistics."""
        out = {"device": self.device, "batch_size": self.batch_size,
               "compiled": bool(getattr(self.classifier, "sem_compiled", False)),
               "identical_object_maps": self.identical,
               "gt_cache": None if self.cache is None else self.cache.stats()}
        if out["compiled"] and (self.features_pred or self.features_gt):
            # compile_classifier compiles F's logits path; the features path calls the eager network
            out["compiled"] = False
            out["compiled_reason"] = COMPILED_NOT_USED
        return out
