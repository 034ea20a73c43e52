"""Scoring box contents with the public sem_metric API (tIOU, hamm, the classifier's probabilities)."""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from .shapes import OBJECT_LABEL, on_canvas


class Counter:
    """Counts classifier images and the seconds spent in the classifier (for the run-time report)."""

    def __init__(self):
        self.images = 0
        self.seconds = 0.0

    def as_dict(self):
        rate = self.images / self.seconds if self.seconds > 0 else None
        return {"classifier_images": self.images, "classifier_seconds": round(self.seconds, 2),
                "images_per_second": round(rate, 1) if rate else None}


def canvases(box_contents: Sequence[np.ndarray]):
    """Label maps and boxes for a list of box contents (see :func:`shapes.on_canvas`)."""
    segs, boxes = [], []
    for b in box_contents:
        seg, box = on_canvas(b)
        segs.append(seg)
        boxes.append(box)
    return segs, boxes


def probabilities(classifier, box_contents: Sequence[np.ndarray], batch_size: int = 64,
                  counter: Counter | None = None) -> np.ndarray:
    """``Softmax(F(O))`` (80 classes) for each box content, via ``sem_metric.shape_probabilities_batch``."""
    from sem_metric import shape_probabilities_batch

    segs, boxes = canvases(box_contents)
    t = time.perf_counter()
    p = shape_probabilities_batch(segs, boxes, [OBJECT_LABEL] * len(segs), classifier=classifier,
                                  batch_size=batch_size)
    if counter is not None:
        counter.images += len(segs)
        counter.seconds += time.perf_counter() - t
    return p


def label_metrics(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]):
    """``(tIOU, hamm)`` arrays for prediction / ground-truth box contents of equal shapes."""
    from sem_metric import hamm_batch, tiou_batch

    psegs, boxes = canvases(preds)
    gsegs, gboxes = canvases(gts)
    if boxes != gboxes:
        raise ValueError("prediction and ground-truth boxes differ")
    labels = [OBJECT_LABEL] * len(psegs)
    return np.asarray(tiou_batch(psegs, gsegs, boxes, labels)), np.asarray(hamm_batch(psegs, gsegs, boxes))


def sem(p_pred: np.ndarray, p_gt: np.ndarray) -> np.ndarray:
    """Eq. 10 from cached probabilities (``sem_metric.sem_from_probabilities``)."""
    from sem_metric import sem_from_probabilities

    return np.asarray(sem_from_probabilities(p_pred, p_gt))
