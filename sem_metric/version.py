"""Versions that identify what a number produced by sem-metric means.

``__version__`` is the package version. ``LABELMAP_METRICS_VERSION`` changes only when the definition of
tIOU / hamm / NN changes; Sem is identified by the classifier weights' sha256 plus
``sem_metric.preprocess.PREPROCESSING_VERSION``. All three are written into every result's metadata.
"""
__version__ = "0.1.0"
LABELMAP_METRICS_VERSION = "labelmap-v1"
