"""Classification metrics of the Sem classifier: top-1, top-5, balanced top-1, per-class table."""
from __future__ import annotations

import numpy as np

from ..sem.classes import COCO_CLASSES


def classification_report(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 / top-5 accuracy, balanced top-1 (mean recall over classes present) and per-class rows."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if n == 0:
        return {"n": 0, "top1": float("nan"), "top5": float("nan"), "balanced_top1": float("nan"), "per_class": []}
    ranks = np.argsort(-logits, axis=1, kind="stable")
    hit1 = ranks[:, 0] == labels
    hit5 = (ranks[:, :5] == labels[:, None]).any(axis=1)
    per_class = []
    for c in np.unique(labels):
        sel = labels == c
        per_class.append({"class": COCO_CLASSES[c], "index": int(c), "n": int(sel.sum()),
                          "top1": float(hit1[sel].mean()), "top5": float(hit5[sel].mean())})
    return {"n": n, "top1": float(hit1.mean()), "top5": float(hit5.mean()),
            "balanced_top1": float(np.mean([r["top1"] for r in per_class])),
            "balanced_top5": float(np.mean([r["top5"] for r in per_class])), "per_class": per_class}
