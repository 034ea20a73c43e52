"""The null model of a SISM task (Sec. 3): the scores of S^u itself, the box filled with the target label
l^t, which any model must beat. :func:`null_model_scores` (tIOU, hamm, NN of Sec. 4.1 and, optionally,
Sem of Eq. 10; recorded in task.json) and the null model's Sem through the engine's classifier queue.
Torch-free at import (the classifier is loaded when Sem is asked for).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..engine.core import Engine
from ..labelmap.box import check_batch_size
from ..labelmap.target_object import object_crop
from ..sem.weights import load_classifier
from ..version import LABELMAP_METRICS_VERSION, PREPROCESSING_VERSION, SEM_DEFINITION_VERSION

__all__ = ["null_model_scores"]


def null_model_scores(rows: Sequence[Dict[str, Any]], class_names: Dict[int, str],
                      sem: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The scores of S^u itself (Sec. 3: the box filled with l^t, what any model must beat): means of tIOU,
    hamm and NN (Sec. 4.1) over the samples (correctly rounded sums / n, as ``sem-score`` reports them)
    and per target label; with ``sem`` (the classifier's provenance; rows then carry ``"sem"``), Sem of
    Eq. 10 too. Without it, score ``incomplete/`` with ``sem-score incomplete/ --task TASK_DIR --metrics sem``."""
    names = ("tiou", "hamm", "nn") + (("sem",) if sem is not None else ())

    def means(rs):
        return {m: (math.fsum(r[m] for r in rs) / len(rs) if rs else None) for m in names}

    per_class = {}
    for label in sorted({r["label"] for r in rows}):
        rs = [r for r in rows if r["label"] == label]
        per_class[str(label)] = {"name": class_names.get(label), "n": len(rs), **means(rs)}
    out = {"prediction": "S^u (incomplete/): the box filled with the target label l^t",
           "labelmap_metrics_version": LABELMAP_METRICS_VERSION, "n": len(rows), "means": means(rows),
           "per_class": per_class}
    if sem is not None:
        out["sem"] = dict(sem)
    return out


class _NullSem:
    """Sem (Eq. 10) of S^u against S^c through the engine's one classifier queue (the path of ``sem-score``):
    the samples' objects O (inside the box, the buffer stays small whatever the map size) are classified in
    batches by :class:`~sem_metric.engine.core.Engine`'s stage and scored by the registry's Sem."""

    def __init__(self, weights: Any = None, classifier: Any = None, batch_size: int = 64):
        self.model = classifier if classifier is not None else load_classifier(weights, device="cpu")
        info = getattr(self.model, "info", {}) or {}
        self.meta = {"weights": info.get("name"), "sha256": info.get("sha256"),
                     "preprocessing_version": PREPROCESSING_VERSION, "definition_version": SEM_DEFINITION_VERSION}
        self.batch_size = check_batch_size(batch_size)
        self.engine = Engine(("sem",), classifier=self.model, batch_size=self.batch_size)
        self.pending: List[Tuple[Dict[str, Any], np.ndarray, np.ndarray, int]] = []

    def add(self, row: Dict[str, Any], seg_u: np.ndarray, seg_c: np.ndarray, box: Sequence[int], label: int) -> None:
        """Queue one sample; its ``row["sem"]`` is filled when the batch is computed."""
        box, label = tuple(int(v) for v in box), int(label)
        self.pending.append((row, object_crop(seg_u, box, label), object_crop(seg_c, box, label), label))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Compute Sem for the queued samples."""
        if not self.pending:
            return
        rows, preds, gts, labels = zip(*self.pending)
        values = self.engine.classified_values(list(preds), list(gts), list(labels))["sem"]
        for r, v in zip(rows, values.tolist()):
            r["sem"] = float(v)
        self.pending = []
