"""Versions that identify what a number produced by sem-metric means.

``__version__`` is the package version. ``LABELMAP_METRICS_VERSION`` changes only when the definition of
tIOU / hamm / NN (paper Sec. 4.1) changes; Sem (Eq. 10) is identified by the classifier weights' sha256
plus ``PREPROCESSING_VERSION`` (how a box becomes the classifier input, :mod:`sem_metric.sem.preprocess`).
``SEM_DEFINITION_VERSION`` names the rule that turns F's outputs into Sem and SFD values: ``sem-2`` adds
the presence rule (an absent or vanishing predicted object scores Sem 1, and counts as missing in SFD;
:mod:`sem_metric.sem.presence`, CHANGELOG.md) to Eq. 10, whose plain form was ``sem-1``.
All four are written into every result's metadata.
"""
__version__ = "0.1.0"
LABELMAP_METRICS_VERSION = "labelmap-v1"
PREPROCESSING_VERSION = "box-window-v1"
SEM_DEFINITION_VERSION = "sem-2"
