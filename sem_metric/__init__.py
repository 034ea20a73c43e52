"""sem-metric: metrics for semantic inpainting on segmentation maps (SISM).

Label-map metrics (paper Sec. 4.1): :func:`tiou`, :func:`hamm`, :func:`noise_count` and their batched
forms; Sem (Eq. 10): :func:`compute_sem`, :func:`shape_probabilities`, :func:`load_classifier`;
whole evaluations: :func:`evaluate_dirs`, :func:`evaluate_samples`; streaming (training loops, DDP):
:class:`SISMMetrics` (``sem_metric.torchmetrics.SISMMetric`` with the torchmetrics extra); the Shape
Frechet Distance (beyond the paper): :func:`shape_frechet_distance`. Map of the package:
``docs/ARCHITECTURE.md``.

Importing the package is light: submodules (and torch / timm) are imported on first attribute access,
and no model is loaded until Sem is computed.
"""
from __future__ import annotations

from .lazy import lazy_exports
from .version import LABELMAP_METRICS_VERSION, PREPROCESSING_VERSION, __version__

# public name -> submodule that defines it
_LAZY = {
    "Box": "labelmap.box",
    "tiou": "labelmap.metrics",
    "hamm": "labelmap.metrics",
    "noise_count": "labelmap.metrics",
    "tiou_batch": "labelmap.metrics",
    "hamm_batch": "labelmap.metrics",
    "noise_count_batch": "labelmap.metrics",
    "labelmap_metrics_batch": "labelmap.metrics",
    "object_map": "labelmap.target_object",
    "object_map_batch": "labelmap.target_object",
    "ring_mask": "labelmap.context",
    "context_classes": "labelmap.context",
    "context_filter": "labelmap.context_torch",
    "read_label_map": "pipeline.io",
    "read_boxes": "pipeline.io",
    "evaluate_dirs": "pipeline.evaluate",
    "evaluate_samples": "pipeline.evaluate",
    "SemOptions": "pipeline.evaluate",
    "CheckOptions": "pipeline.evaluate",
    "METRICS": "registry",
    "Metric": "registry",
    "COCO_CLASSES": "sem.classes",
    "NUM_CLASSES": "sem.classes",
    "compute_sem": "sem.metric",
    "compute_sem_batch": "sem.metric",
    "shape_probabilities": "sem.metric",
    "shape_probabilities_batch": "sem.metric",
    "sem_from_probabilities": "sem.metric",
    "shape_features_batch": "sem.features",
    "shape_frechet_distance": "engine.sfd_accumulator",
    "frechet_distance": "engine.sfd",
    "ShapeStats": "engine.sfd",
    "SISMMetrics": "streaming",
    "compare_results": "compare",
    "register_metric": "engine.plugins",
    "Result": "pipeline.result",
    "State": "engine.states",
    "load_classifier": "sem.weights",
    "list_weights": "sem.weights",
    "HubWeights": "sem.weights",
    "SemMetricError": "errors",
    "InputError": "errors",
    "WeightsError": "errors",
}

__all__ = ["__version__", "LABELMAP_METRICS_VERSION", "PREPROCESSING_VERSION", *sorted(_LAZY)]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
