"""``SFDAccumulator`` (beyond the paper), kept importable from here: its home is
:mod:`sem_metric.engine.sfd_accumulator` (a compatibility layer above the engine; nothing in the package
imports it)."""
from __future__ import annotations

from ..engine.sfd_accumulator import SFDAccumulator  # noqa: F401

__all__ = ["SFDAccumulator"]
