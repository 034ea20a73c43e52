"""What a metric's ``update`` sees: :class:`Batch` (issue 18 engine).

Label-map metrics get the maps: ``preds`` / ``gts`` ((N, H, W) or N 2-D maps), ``boxes`` (N, 4) and
``labels`` (N,). Metrics that ``need`` the classifier get the target objects O of Eq. 10 as the classifier
sees them (``objects_pred`` / ``objects_gt``: N boolean box crops) and its outputs for both sides, all
from one forward pass per object: ``probs_pred`` / ``probs_gt`` ((N, classes) float64,
``Softmax(F_{-1}(O))`` of Eq. 10) and ``features_pred`` / ``features_gt`` ((N, D) float64 penultimate
features). ``identical[i]``: the predicted and true objects of sample i are identical (then the pred
outputs equal the ground truth's; a per-sample metric with ``identical_value`` gets that value there,
and its probabilities may be NaN). Outputs nobody asked for are None.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["Batch"]


@dataclass
class Batch:
    """One batch of samples for the registered metrics' update functions (see the module docstring)."""

    labels: np.ndarray
    preds: Any = None
    gts: Any = None
    boxes: Optional[np.ndarray] = None
    objects_pred: Optional[Sequence[np.ndarray]] = None
    objects_gt: Optional[Sequence[np.ndarray]] = None
    identical: Optional[np.ndarray] = None
    probs_pred: Optional[np.ndarray] = None
    probs_gt: Optional[np.ndarray] = None
    features_pred: Optional[np.ndarray] = None
    features_gt: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return int(len(self.labels))
