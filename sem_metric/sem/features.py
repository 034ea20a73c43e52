"""The shape classifier's penultimate features (SFD and SKD; beyond the paper): F's trunk, one forward pass.

``classifier_features(inputs, F)``: ``forward_head(forward_features(x), pre_logits=True)`` of the prepared
``box-window-v1`` inputs in float64 (optionally with Eq. 10's probabilities from the same pass), the
batched form behind the engine's classifier stage (:mod:`sem_metric.engine.classify`);
``shape_features_batch``: the same from label maps, boxes and labels. The metrics that read the
features (SFD, SKD) live in :mod:`sem_metric.engine`.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..errors import InputError
from .metric import _classifier, check_batch_size, distinct_inputs, forward_chunks, inference
from .preprocess import classifier_inputs

__all__ = ["feature_dim", "classifier_features", "shape_features_batch"]


def _resolve_classifier(classifier, device):
    return _classifier(classifier, device)


def _trunk(classifier):
    """The timm network inside the classifier (``ShapeClassifier.net``), checked for the features API."""
    net = getattr(classifier, "net", classifier)
    if not (hasattr(net, "forward_features") and hasattr(net, "forward_head")):
        raise InputError(f"classifier {type(classifier).__name__} has no timm forward_features / forward_head; "
                         "SFD needs the penultimate features of a sem_metric ShapeClassifier (load_classifier)")
    return net


def feature_dim(classifier) -> int:
    """Dimension D of the classifier's penultimate features (1280 for EfficientNet-B0)."""
    net = _trunk(classifier)
    d = getattr(net, "num_features", None)
    if d is None:
        raise InputError(f"classifier {type(classifier).__name__} does not report num_features")
    return int(d)


def classifier_features(inputs: torch.Tensor, classifier, batch_size: int = 64,
                        with_probs: bool = False) -> Any:
    """Penultimate features of F for prepared inputs ``(N, 2, S, S)`` (SFD; beyond the paper): ``(N, D)`` float64.

    The features are ``forward_head(forward_features(x), pre_logits=True)`` (global average pool of
    the EfficientNet trunk; dropout is inactive in eval mode). Identical inputs are computed once, so
    they get bit-identical features. With ``with_probs=True`` also returns ``Softmax(F_{-1}(x))`` of
    Eq. 10 from the same forward pass (the classifier head applied to these features).
    """
    batch_size = check_batch_size(batch_size)
    net = _trunk(classifier)
    d = feature_dim(classifier)
    n = int(inputs.shape[0])
    num_classes = int(getattr(getattr(classifier, "config", None), "num_classes", 0) or 0)
    if n == 0:
        feats = np.zeros((0, d), dtype=np.float64)
        return (feats, np.zeros((0, num_classes), dtype=np.float64)) if with_probs else feats
    first, inverse = distinct_inputs(inputs)
    feats = np.empty((len(first), d), dtype=np.float64)
    probs = None
    device = next(classifier.parameters()).device
    with inference(classifier):
        for chunk in forward_chunks(len(first), batch_size):
            rows = first[chunk]
            x = inputs[rows].to(device).contiguous(memory_format=torch.channels_last)
            f = net.forward_head(net.forward_features(x), pre_logits=True)
            feats[chunk] = f.double().cpu().numpy()
            if with_probs:
                logits = net.get_classifier()(f)
                p = torch.softmax(logits.double(), dim=1).cpu().numpy()
                if probs is None:
                    probs = np.empty((len(first), p.shape[1]), dtype=np.float64)
                probs[chunk] = p
    if with_probs:
        return feats[inverse], probs[inverse]
    return feats[inverse]


def shape_features_batch(segs: Sequence, boxes: Sequence, labels: Sequence[int], classifier=None,
                         batch_size: int = 64, device: Optional[str] = None) -> np.ndarray:
    """The shape classifier's penultimate features of N objects (SFD; beyond the paper, FID-style): ``(N, D)`` float64.

    Same inputs as Sem (Eq. 10): the binary target-object map O of ``segs[i]`` inside ``boxes[i]``
    for class ``labels[i]`` plus the box mask M, prepared by ``box-window-v1``. ``classifier``: a
    loaded classifier (default: the shipped weights). ``D`` is 1280 for the shipped EfficientNet-B0.
    """
    model = _resolve_classifier(classifier, device)
    return classifier_features(classifier_inputs(segs, boxes, labels), model, batch_size)
