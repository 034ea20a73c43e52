"""How the shape classifier is run in the evaluation pipeline: :class:`SemOptions` (Sem of Eq. 10, SFD, plugins)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional

from ..errors import InputError
from ..labelmap.box import check_batch_size

__all__ = ["SemOptions"]


@dataclass
class SemOptions:
    """How Sem (Eq. 10) is computed.

    ``weights``: anything :func:`sem_metric.sem.weights.load_classifier` accepts (None = shipped default,
    registry name, local path, ``hf://`` reference); ``sha256``: the weights file's expected sha256
    (checked before the weights are used); ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
    ``"auto"``/None; ``batch_size``: classifier batch size; ``gt_cache``: path of a ground-truth
    probability cache (:mod:`sem_metric.sem.cache`) or None; ``sfd_gt_stats``: ground-truth SFD
    statistics file (:class:`sem_metric.sem.sfd.ShapeStats`, written or verified) or None; ``classifier``: an already loaded
    classifier (then ``weights`` is ignored); ``warn``: callback for warnings (default
    :func:`warnings.warn`); ``compile``: opt-in ``torch.compile`` of the classifier
    (:func:`sem_metric.sem.classifier.compile_classifier`; Sem within the registry bound of eager).
    """

    weights: Any = None
    sha256: Optional[str] = None
    device: Optional[str] = None
    batch_size: int = 64
    gt_cache: Optional[str] = None
    sfd_gt_stats: Optional[str] = None
    classifier: Any = None
    warn: Optional[Callable[[str], None]] = field(default=None, repr=False)
    compile: bool = False

    @classmethod
    def coerce(cls, value: Any) -> "SemOptions":
        """A validated :class:`SemOptions` from None, itself or a dict of its fields (unknown keys are an error)."""
        if value is None:
            value = cls()
        elif isinstance(value, Mapping):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise InputError(f"sem_options: unknown option(s) {sorted(unknown)}; "
                                 f"valid: {sorted(cls.__dataclass_fields__)}")
            value = cls(**value)
        elif not isinstance(value, cls):
            raise InputError(f"sem_options: expected a SemOptions or a dict, got {type(value).__name__}")
        check_batch_size(value.batch_size, "sem_options: batch size")
        return value

    def metadata(self) -> Dict[str, Any]:
        """The options as recorded in ``metadata.options.sem``."""
        w = self.weights
        return {"weights": None if w is None else (os.fspath(w) if isinstance(w, (str, os.PathLike)) else repr(w)),
                "sha256": self.sha256, "device": self.device, "batch_size": int(self.batch_size),
                "gt_cache": None if self.gt_cache is None else os.fspath(self.gt_cache),
                "sfd_gt_stats": None if self.sfd_gt_stats is None else os.fspath(self.sfd_gt_stats),
                "compile": bool(self.compile)}
