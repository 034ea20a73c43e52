"""Shape Frechet Distance (SFD; beyond the paper): the names this module held, kept importable from here.

SFD has one home, :mod:`sem_metric.engine.sfd` (the Frechet distance, the objects digests,
:class:`ShapeStats`, the engine functions) with :mod:`sem_metric.engine.sfd_accumulator` (the update /
compute object and the functional forms over the engine); the classifier's penultimate features are in
:mod:`sem_metric.sem.features`. This module only re-exports them (a compatibility layer above the
engine: nothing in the package imports it).
"""
from __future__ import annotations

from ..engine.sfd import (STATS_FORMAT, ShapeStats, _set_digest, frechet_distance,  # noqa: F401
                          mean_cov_from_sums, object_digest, objects_digest, sqrtm_psd)
from ..engine.sfd_accumulator import SFDAccumulator, shape_frechet_distance, shape_stats  # noqa: F401
from .features import _resolve_classifier, _trunk, classifier_features, feature_dim, shape_features_batch  # noqa: F401

__all__ = ["STATS_FORMAT", "sqrtm_psd", "frechet_distance", "classifier_features", "shape_features_batch",
           "ShapeStats", "shape_stats", "shape_frechet_distance", "object_digest", "objects_digest", "SFDAccumulator"]
