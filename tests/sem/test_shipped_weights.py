"""The shipped classifier weights: verified loading and real behaviour on real shapes.

The fixture holds 138 COCO val2017 instance shapes (tests/data/README.md). Thresholds sit well below
the measured values recorded in weights/MODEL_CARD.md, so they catch broken weights or a broken
preprocessing, not noise.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from sem_metric.sem.preprocess import window_from_crop
from sem_metric.sem.metric import probabilities_from_inputs, sem_from_probabilities
from sem_metric.sem.weights import DEFAULT_WEIGHTS, SHIPPED_WEIGHTS, load_classifier, sha256_file, shipped_weights_path

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "coco_val_shapes.npz"


@pytest.fixture(scope="module", params=sorted(SHIPPED_WEIGHTS))
def shipped(request):
    """Every shipped classifier (the default and the ones kept loadable by name), loaded and verified."""
    return load_classifier(request.param, device="cpu")


@pytest.fixture(scope="module")
def shapes():
    from sem_metric.training.shape_bank import ShapeBank

    return ShapeBank.load(FIXTURE)


def test_default_weights_are_the_registered_default():
    assert DEFAULT_WEIGHTS in SHIPPED_WEIGHTS
    assert load_classifier(device="cpu").info["sha256"] == SHIPPED_WEIGHTS[DEFAULT_WEIGHTS].sha256


def test_shipped_weights_are_registered_verified_and_documented(shipped):
    entry = SHIPPED_WEIGHTS[shipped.info["name"]]
    path = shipped_weights_path(entry.filename)
    assert sha256_file(path) == entry.sha256 == shipped.info["sha256"]
    assert shipped.info["preprocessing"] == "box-window-v1"
    card = (Path(__file__).resolve().parents[2] / "weights" / "MODEL_CARD.md").read_text()
    assert entry.sha256 in card


def test_shipped_weights_classify_real_shapes_far_above_chance(shipped, shapes):
    x = torch.stack([window_from_crop(m) for m in shapes.masks])
    probs = probabilities_from_inputs(x, shipped)
    top5 = np.argsort(-probs, axis=1)[:, :5]
    top1_acc = float(np.mean(top5[:, 0] == shapes.labels))
    top5_acc = float(np.mean((top5 == shapes.labels[:, None]).any(axis=1)))
    # chance is 1/80 = 0.0125 (top-1) and 0.0625 (top-5)
    assert top1_acc >= 0.10, top1_acc
    assert top5_acc >= 0.30, top5_acc


def test_sem_prefers_same_shape_transforms_over_other_classes(shipped, shapes):
    """Paper Sec. 4.4: a flipped object keeps most of its semantics; another class's object does not."""
    masks, labels = shapes.masks, shapes.labels
    x_orig = torch.stack([window_from_crop(m) for m in masks])
    x_flip = torch.stack([window_from_crop(m[:, ::-1]) for m in masks])
    other = [int(np.flatnonzero(labels != labels[i])[i % int(np.sum(labels != labels[i]))]) for i in range(len(masks))]
    x_other = x_orig[other]
    p = probabilities_from_inputs(torch.cat([x_orig, x_flip, x_other]), shipped)
    n = len(masks)
    sem_flip = sem_from_probabilities(p[:n], p[n:2 * n])
    sem_other = sem_from_probabilities(p[:n], p[2 * n:])
    assert sem_flip.mean() < sem_other.mean()
