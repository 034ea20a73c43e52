"""Shared fixtures.

* ``random_weights_path`` / ``random_classifier``: a small, randomly initialised but fully valid
  classifier weights file. Properties of Sem (identical inputs -> 0, range, batch-size independence,
  determinism) hold for any weights, so these tests do not depend on the shipped checkpoint.
* ``tiny`` (:class:`Tiny`): three hand-computed pairs of label maps with boxes, written as a
  PRED_DIR / GT_DIR / boxes.json tree for the evaluation pipeline and the CLI.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sem_metric import registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


class Tiny:
    """Maps (6 x 8) with hand-computed metrics.

    a.png box 0: region 4 x 5 = 20 px; tIOU = 4/6; pred differs at 3 px -> hamm 17/20;
                 classes in gt region {1, 3}, pred has one 7 -> 1 noise pixel
    a.png box 1: region 2 x 2 of class 1 (label 1); pred[1,1]=7 -> tIOU 3/4, hamm 3/4, 1 noise px
    b.npy box 0: identical -> 1, 1, 0
    sub/c.png: no box (counted, not read)
    """

    BOXES = {
        "a.png": [{"bbox": [1, 1, 6, 5], "label": 3}, {"bbox": [0, 0, 2, 2], "label": 1}],
        "b.npy": [{"bbox": [0, 0, 4, 4], "label": 2}],
    }
    ROWS = [("a.png", 0, 4 / 6, 17 / 20, 1), ("a.png", 1, 3 / 4, 3 / 4, 1), ("b.npy", 0, 1.0, 1.0, 0)]
    MEANS = {"tiou": (4 / 6 + 3 / 4 + 1) / 3, "hamm": (17 / 20 + 3 / 4 + 1) / 3, "nn": 2 / 3}

    @staticmethod
    def maps():
        """``{relpath: (gt, pred)}``."""
        gt_a = np.ones((6, 8), dtype=np.uint8)
        gt_a[2:4, 2:5] = 3                  # target object, 6 px
        pred_a = gt_a.copy()
        pred_a[2:4, 4] = 1                  # 2 object px lost -> P = 4 px
        pred_a[1, 1] = 7                    # a noise pixel (class 7 is not in the gt box)
        gt_b = np.zeros((6, 8), dtype=np.int64)
        gt_b[0:3, 0:3] = 2
        gt_c = np.full((6, 8), 4, dtype=np.uint8)
        return {"a.png": (gt_a, pred_a), "b.npy": (gt_b, gt_b.copy()), "sub/c.png": (gt_c, gt_c.copy())}

    @classmethod
    def write(cls, root, maps=None, boxes=None):
        """Write ``root/pred``, ``root/gt`` and ``root/boxes.json``; returns the three paths as str."""
        maps = cls.maps() if maps is None else maps
        boxes = cls.BOXES if boxes is None else boxes
        for rel, (gt, pred) in maps.items():
            for side, arr in (("gt", gt), ("pred", pred)):
                p = Path(root, side, rel)
                p.parent.mkdir(parents=True, exist_ok=True)
                if rel.endswith(".npy"):
                    np.save(p, arr)
                else:
                    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(p)
        Path(root, "boxes.json").write_text(json.dumps(boxes))
        return str(Path(root, "pred")), str(Path(root, "gt")), str(Path(root, "boxes.json"))


@pytest.fixture
def tiny_data():
    """The :class:`Tiny` fixture (maps, boxes, hand-computed rows and means, ``write``)."""
    return Tiny


@pytest.fixture
def tiny_paths(tmp_path):
    """``(pred_dir, gt_dir, boxes_json)`` of :class:`Tiny` written under ``tmp_path``."""
    return Tiny.write(tmp_path)


@pytest.fixture(scope="session")
def random_weights_path(tmp_path_factory):
    from sem_metric.sem.classifier import build_shape_classifier
    from sem_metric.sem.weights import save_classifier_weights

    torch.manual_seed(0)
    model = build_shape_classifier()
    # non-trivial BN statistics so that eval-mode outputs are not degenerate
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    save_classifier_weights(model, path)
    return path


@pytest.fixture(scope="session")
def random_classifier(random_weights_path):
    from sem_metric.sem.weights import load_classifier

    return load_classifier(random_weights_path, device="cpu")


@pytest.fixture
def one_torch_thread():
    """One intra-op thread during a test: on a shared, loaded CPU torch's thread pool can be far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _make_result(means=None, samples=None, sha="a" * 64, prep="box-window-v1", lm="labelmap-v1"):
    """A minimal, valid sem-score result dict (for the pure functions of report / checks)."""
    means = {"tiou": 0.8, "hamm": 0.9, "nn": 2.0, "sem": 0.3} if means is None else means
    metrics = [m for m in tuple(registry.METRICS) if m in means]
    if samples is None:
        samples = [{"file": "a.png", "box_index": 0, "bbox": [1, 2, 3, 4], "label": 5,
                    **{m: (2 if m == "nn" else 0.1 + 1 / 3) for m in metrics}}]
    return {
        "schema": "sem-metric-result/1",
        "metrics": metrics,
        "means": means,
        "nn_total": 4 if "nn" in means else None,
        "counts": {"pred_files": 2, "gt_files": 2, "pairs": 2, "pairs_with_boxes": 1, "pairs_without_boxes": 1,
                   "samples": len(samples), "skipped": 0},
        "skipped": [],
        "pairs_without_boxes": ["b.png"],
        "metadata": {
            "package_version": "0.1.0",
            "labelmap_metrics_version": lm,
            "sem": ({"classifier": {"name": "w", "sha256": sha}, "preprocessing_version": prep}
                    if "sem" in means else None),
            "inputs": {"boxes_sha256": "b" * 64},
            "options": {},
        },
        "runtime": {},
        "samples": samples,
    }


@pytest.fixture
def make_result():
    """``make_result(means=None, samples=None, sha=..., prep=..., lm=...)`` -> a valid result dict."""
    return _make_result


@pytest.fixture(scope="session")
def tiny_classifier():
    """An 8-d stand-in classifier with timm's feature API (tests/tiny_classifier.py): fast Sem / SFD properties."""
    from tiny_classifier import TinyFeatureClassifier

    return TinyFeatureClassifier(seed=0)


@pytest.fixture
def subprocess_env():
    """Environment for ``python -m sem_metric...`` subprocesses: this checkout first on the path, one thread."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env
