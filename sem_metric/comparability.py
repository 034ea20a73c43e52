"""What makes two metric numbers comparable, and how far they may move (the registry's version keys and
reproducibility bounds; re-exported by :mod:`sem_metric.registry`, which attaches them to each metric).

:class:`VersionKey` / :data:`VERSION_KEYS`: the fields of a result's metadata that define what a number
means (two results are comparable on a metric only when its keys are equal); :class:`Reproducibility`:
how far a metric may move when only the way of running it changes (:data:`EXACT` for the label-map
counts of Sec. 4.1, measured bounds for Sem of Eq. 10 and SFD). Imports nothing heavy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

__all__ = ["VersionKey", "VERSION_KEYS", "Reproducibility", "EXACT", "SEM_REPRODUCIBILITY", "SFD_REPRODUCIBILITY"]


@dataclass(frozen=True)
class VersionKey:
    """A field of a result's ``metadata`` that defines what some metric values mean.

    ``path`` is the key path inside ``result["metadata"]``; ``description`` names it in messages.
    Two results are comparable on a metric only when all of the metric's version keys are equal.
    ``every_metric``: the key defines every metric's numbers (e.g. the SISM task: which objects are
    removed), whatever the metric's own ``version_keys``.
    """

    description: str
    path: Tuple[str, ...]
    every_metric: bool = False

    def lookup(self, metadata: Mapping[str, Any]) -> Any:
        """The value at :attr:`path` in ``metadata`` (None when any level is missing)."""
        value: Any = metadata
        for key in self.path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value


#: name -> version key; the order is the order of messages.
VERSION_KEYS: Dict[str, VersionKey] = {
    "labelmap_metrics_version": VersionKey(
        "label-map metric definition version (LABELMAP_METRICS_VERSION)", ("labelmap_metrics_version",)),
    "sem_weights_sha256": VersionKey("Sem classifier weights sha256", ("sem", "classifier", "sha256")),
    "sem_preprocessing_version": VersionKey(
        "Sem preprocessing version (PREPROCESSING_VERSION)", ("sem", "preprocessing_version")),
    "sem_definition_version": VersionKey(
        "Sem / SFD definition version (SEM_DEFINITION_VERSION)", ("sem", "definition_version")),
    # sem-score --task: every metric depends on which objects the task removes (sem_metric.task)
    "task_digest": VersionKey("SISM task digest (sem-task)", ("task", "digest"), every_metric=True),
}


@dataclass(frozen=True)
class Reproducibility:
    """How far a metric's numbers may move when only the way of running it changes.

    Two runs on the same inputs, weights and definitions (version keys) but another classifier batch
    size, ``--gt-cache`` state, thread or process count, ``--compile``, or CPU instruction set (AVX2 /
    AVX-512) give per-sample values and means that differ by at most :meth:`bound` of the value. The
    label-map metrics of Sec. 4.1 are integer counts: :data:`EXACT` (bit-identical). Float32 network
    outputs (Sem of Eq. 10, SFD) are not: their bounds are measured by
    ``benchmarks/reproducibility.py`` on AVX2 and AVX-512 machines and documented in the README. Checks
    (thresholds, ``--baseline``) never fail inside the bound: it is added to any user tolerance.
    """

    absolute: float = 0.0
    relative: float = 0.0

    def __post_init__(self) -> None:
        if not (self.absolute >= 0 and self.relative >= 0):
            raise ValueError(f"reproducibility bounds must be >= 0, got {self.absolute!r}, {self.relative!r}")

    @property
    def exact(self) -> bool:
        """True for bit-identical metrics."""
        return self.absolute == 0 and self.relative == 0

    def bound(self, value: Optional[float]) -> float:
        """The largest run-to-run difference allowed around ``value`` (``absolute + relative * |value|``)."""
        return self.absolute + self.relative * (abs(float(value)) if value is not None else 0.0)

    def as_dict(self) -> Dict[str, Any]:
        """JSON form, as recorded in ``metadata.reproducibility``."""
        return {"exact": self.exact, "absolute": self.absolute, "relative": self.relative}


#: bit-identical on every machine, batch size and process count (integer counts)
EXACT = Reproducibility()
#: Sem (Eq. 10): per-sample values and the mean (see the README table and benchmarks/reproducibility.py)
SEM_REPRODUCIBILITY = Reproducibility(absolute=2e-5)
#: SFD: a Frechet distance of float32 features in float64 (its noise grows with its value)
SFD_REPRODUCIBILITY = Reproducibility(absolute=1e-6, relative=1e-4)
