"""The package's own classifier metrics as engine functions: Sem (Eq. 10); SFD's (beyond the paper) are in
:mod:`sem_metric.engine.sfd`, its one home, and re-exported here.

Registered in :data:`sem_metric.registry.METRICS` (``update`` / ``setup`` / ``finalize`` fields); a plugin
metric is written the same way (see the README, "Adding a metric").
"""
from __future__ import annotations

import numpy as np

from ..sem.presence import object_areas
from .batch import Batch
# SFD's home is engine/sfd.py; its engine functions stay importable from here
from .sfd import absence_penalty, crop_digest, sfd_finalize, sfd_setup, sfd_update  # noqa: F401

__all__ = ["sem_update", "sfd_setup", "sfd_update", "sfd_finalize", "absence_penalty", "crop_digest"]


def sem_update(batch: Batch) -> np.ndarray:
    """Eq. 10 per sample, ``0.5 * || p_pred - p_gt ||_1`` of the classifier's probabilities, with the
    presence rule of definition ``sem-2`` (:mod:`sem_metric.sem.presence`): an empty predicted object
    scores 1, a vanishing one tends to 1."""
    from ..sem.metric import sem_from_probabilities

    return sem_from_probabilities(batch.probs_pred, batch.probs_gt, object_areas(batch.objects_pred),
                                  object_areas(batch.objects_gt))
