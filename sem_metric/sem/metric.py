"""Sem, the semantic-similarity metric of Eq. 10:

    Sem = 0.5 * || Softmax(F_{-1}(O_hat)) - Softmax(F_{-1}(O^c)) ||_1

where F is the pretrained shape classifier (:mod:`sem_metric.sem.classifier`), O_hat / O^c the binary
target-object maps of the prediction / ground truth inside the box, prepared by
:mod:`sem_metric.sem.preprocess` (``box-window-v1``). Sem lies in [0, 1]; lower is better.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError
from ..labelmap.box import check_batch_size  # noqa: F401 (the one batch-size check; its torch-free home)
from ..labelmap.box import as_label_map, as_labels
from ..labelmap.metrics import validate_batch
from ..labelmap.target_object import object_crop
from .preprocess import classifier_inputs
from .presence import presence_factor
from .weights import default_classifier, resolve_device


def _classifier(classifier, device):
    if classifier is None:
        return default_classifier(resolve_device(device))
    if device is not None:
        classifier = classifier.to(resolve_device(device))
    return classifier


def forward_chunks(n: int, batch_size: int, one_remainder: bool = False) -> list[slice]:
    """The slices of ``n`` rows that F runs on: full batches of ``batch_size``, then the rest in
    descending powers of two (50 rows at batch size 64: 32 + 16 + 2).

    Batches therefore take at most ``1 + log2(batch_size)`` distinct sizes in a whole run, whatever
    the deduplication leaves per call: the CPU backend builds (and keeps) kernels for every new input
    shape, so arbitrary remainders cost time and memory that grew with the run (issue 18).
    ``one_remainder``: the rest as one slice (a compiled classifier pads it to ``batch_size``).
    """
    batch_size = check_batch_size(batch_size)
    full = n - n % batch_size
    out = [slice(start, start + batch_size) for start in range(0, full, batch_size)]
    start, rest = full, n - full
    if one_remainder and rest:
        return out + [slice(start, n)]
    while rest:
        size = 1 << (rest.bit_length() - 1)
        out.append(slice(start, start + size))
        start, rest = start + size, rest - size
    return out


def distinct_inputs(inputs: torch.Tensor) -> tuple[list[int], np.ndarray]:
    """Indices of the first occurrence of each distinct input ``(N, 2, S, S)`` (by content), and each
    input's index among them: identical inputs go through F once (Eq. 10 is then exactly 0 on them)."""
    flat = inputs.reshape(inputs.shape[0], -1).contiguous()
    index_of: dict[bytes, int] = {}
    first: list[int] = []
    inverse = np.empty(inputs.shape[0], dtype=np.int64)
    for i in range(inputs.shape[0]):
        j = index_of.setdefault(flat[i].numpy().tobytes(), len(first))
        if j == len(first):
            first.append(i)
        inverse[i] = j
    return first, inverse


@contextlib.contextmanager
def inference(classifier):
    """Run F in eval mode under ``torch.inference_mode`` and restore its training flag afterwards."""
    was_training = classifier.training
    classifier.eval()
    try:
        with torch.inference_mode():
            yield classifier
    finally:
        classifier.train(was_training)


def probabilities_from_inputs(inputs: torch.Tensor, classifier, batch_size: int = 64) -> np.ndarray:
    """Softmax(F_{-1}(x)) for prepared inputs ``(N, 2, S, S)``, in float64, computed in chunks.

    Identical inputs are classified once (deduplicated by content), so they get bit-identical
    probabilities whatever the batch composition; this is what makes Sem exactly 0 on identical maps.
    """
    batch_size = check_batch_size(batch_size)
    n = inputs.shape[0]
    num_classes = classifier.config.num_classes
    if n == 0:
        return np.zeros((0, num_classes), dtype=np.float64)
    unique_rows, inverse = distinct_inputs(inputs)
    device = next(classifier.parameters()).device
    out = np.empty((len(unique_rows), num_classes), dtype=np.float64)
    # a compiled classifier (compile_classifier) always gets batch_size rows: one graph, no recompiles
    fixed = bool(getattr(classifier, "sem_compiled", False))
    with inference(classifier):
        for chunk in forward_chunks(len(unique_rows), batch_size, one_remainder=fixed):
            rows = unique_rows[chunk]
            batch = inputs[rows]
            if fixed and len(rows) < batch_size:
                batch = torch.cat([batch, batch.new_zeros((batch_size - len(rows),) + tuple(batch.shape[1:]))])
            batch = batch.to(device).contiguous(memory_format=torch.channels_last)
            logits = classifier(batch)[:len(rows)]
            out[chunk] = torch.softmax(logits.double(), dim=1).cpu().numpy()
    return out[inverse]


def shape_probabilities_batch(segs: Sequence, boxes: Sequence, labels: Sequence[int], classifier=None,
                              batch_size: int = 64, device: str | None = None) -> np.ndarray:
    """Softmax(F_{-1}(O)) over the 80 COCO classes for each (map, box, label) sample (Eq. 10 terms).

    ``segs``: 2-D integer label maps (numpy or torch; sizes may differ), ``boxes``: ``(x0, y0, x1, y1)``
    with exclusive ends, ``labels``: target class ids in the maps' own id space; validated like the
    label-map metrics (:class:`InputError`). ``classifier``: a loaded classifier (default: the shipped
    weights). Returns ``(N, 80)`` float64; rows sum to 1.
    """
    model = _classifier(classifier, device)
    return probabilities_from_inputs(classifier_inputs(segs, boxes, labels), model, batch_size)


def shape_probabilities(seg, box, label: int, classifier=None, device: str | None = None) -> np.ndarray:
    """Single-sample :func:`shape_probabilities_batch`: the classifier's 80-class distribution (Eq. 10)."""
    seg = as_label_map(seg, "seg")
    return shape_probabilities_batch([seg], [box], [label], classifier=classifier, device=device)[0]


def sem_from_probabilities(p: np.ndarray, q: np.ndarray, pred_area=None, gt_area=None) -> np.ndarray:
    """Eq. 10 from two probability arrays: ``0.5 * sum(|p - q|)`` along the last axis, clipped to [0, 1].

    With ``pred_area`` / ``gt_area`` (target-pixel counts of the predicted and true objects in the box)
    the presence rule of definition ``sem-2`` applies (:mod:`sem_metric.sem.presence`):
    ``Sem = 1 - pi * (1 - Eq. 10)``; an empty predicted object scores 1. Where ``pi = 1`` the value is
    Eq. 10's, bit for bit. Without areas: Eq. 10 alone (F's part of the definition).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise InputError(f"probability arrays differ in shape: {p.shape} vs {q.shape}")
    sem = np.clip(0.5 * np.abs(p - q).sum(axis=-1), 0.0, 1.0)
    if pred_area is None and gt_area is None:
        return sem
    if pred_area is None or gt_area is None:
        raise InputError("give both pred_area and gt_area (or neither)")
    pi = presence_factor(pred_area, gt_area)
    if pi.shape != sem.shape:
        raise InputError(f"areas have shape {pi.shape}, the probabilities give {sem.shape}")
    # an absent object needs no classifier output: its probabilities may be missing (NaN)
    partial = 1.0 - pi * (1.0 - np.nan_to_num(sem, nan=1.0))
    return np.where(pi >= 1.0, sem, partial)


def compute_sem_batch(preds: Sequence, gts: Sequence, boxes: Sequence, labels: Sequence[int], classifier=None,
                      batch_size: int = 64, device: str | None = None) -> np.ndarray:
    """Sem (Eq. 10 with the presence rule, definition ``sem-2``) for each sample, in [0, 1]:
    ``1 - pi * (1 - 0.5 * |Softmax(F(O_hat)) - Softmax(F(O^c))|_1)``, ``pi`` from the objects' areas
    (:mod:`sem_metric.sem.presence`; an empty predicted object scores 1).

    Inputs are validated exactly like the label-map metrics
    (:func:`sem_metric.labelmap.metrics.validate_batch`): (N, H, W) integer arrays / tensors or
    sequences of 2-D maps, N boxes inside their maps, N non-negative integer labels; anything else is an
    :class:`InputError`. Predictions and ground truths go through the same preprocessing and the same
    forward passes; samples whose prepared inputs are identical get exactly 0. Returns ``(N,)`` float64.
    """
    P, G, B = validate_batch(preds, gts, boxes)
    n = len(P)
    lab = as_labels(labels, n)
    model = _classifier(classifier, device)
    inputs = classifier_inputs(list(P) + list(G), np.concatenate([B, B]), np.concatenate([lab, lab]))
    probs = probabilities_from_inputs(inputs, model, batch_size)
    return sem_from_probabilities(probs[:n], probs[n:], _target_areas(P, B, lab), _target_areas(G, B, lab))


def _target_areas(maps, boxes, labels) -> np.ndarray:
    """|O| of Eq. 10 per sample: pixels of the target label inside the box."""
    return np.array([int(np.count_nonzero(object_crop(m, b, int(l)))) for m, b, l in zip(maps, boxes, labels)],
                    dtype=np.int64)


def compute_sem(pred, gt, box, label: int, classifier=None, device: str | None = None) -> float:
    """Sem of one sample (Eq. 10): semantic divergence between the predicted and true target objects.

    ``pred``/``gt``: 2-D integer label maps (the inpainted map Ŝ and the ground truth S^c), ``box``:
    ``(x0, y0, x1, y1)`` exclusive ends, ``label``: target class id l^t. 0 = same semantics, 1 = disjoint.
    Validated like :func:`sem_metric.labelmap.metrics.tiou` (a float or 3-D map is an :class:`InputError`).
    """
    pred, gt = as_label_map(pred, "pred"), as_label_map(gt, "gt")
    return float(compute_sem_batch([pred], [gt], [box], [label], classifier=classifier, device=device)[0])
