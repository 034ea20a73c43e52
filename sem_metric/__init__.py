"""sem-metric: metrics for semantic inpainting on segmentation maps (SISM).

Label-map metrics (paper Sec. 4.1): :func:`tiou`, :func:`hamm`, :func:`noise_count` and their batched
forms; Sem (Eq. 10): :func:`compute_sem`, :func:`shape_probabilities`, :func:`load_classifier`.

Importing the package is light: submodules (and torch / timm) are imported on first attribute access,
and no model is loaded until Sem is computed.
"""
from __future__ import annotations

import importlib

from .version import LABELMAP_METRICS_VERSION, __version__

# public name -> submodule that defines it
_LAZY = {
    "Box": "box",
    "tiou": "metrics",
    "hamm": "metrics",
    "noise_count": "metrics",
    "tiou_batch": "metrics",
    "hamm_batch": "metrics",
    "noise_count_batch": "metrics",
    "object_map": "target_object",
    "object_map_batch": "target_object",
    "ring_mask": "context",
    "context_classes": "context",
    "read_label_map": "io",
    "read_boxes": "io",
    "COCO_CLASSES": "coco_classes",
    "NUM_CLASSES": "coco_classes",
    "compute_sem": "sem",
    "compute_sem_batch": "sem",
    "shape_probabilities": "sem",
    "shape_probabilities_batch": "sem",
    "sem_from_probabilities": "sem",
    "load_classifier": "weights",
    "PREPROCESSING_VERSION": "preprocess",
    "SemMetricError": "errors",
    "InputError": "errors",
    "WeightsError": "errors",
}

__all__ = ["__version__", "LABELMAP_METRICS_VERSION", *sorted(_LAZY)]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sem_metric' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
