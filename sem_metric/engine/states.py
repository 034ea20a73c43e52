"""Declared metric states and their exact reductions (the engine's state contract, issue 18).

A dataset-level metric declares its states (:class:`State`); the engine creates them empty, adds the
increments its ``update`` returns, and merges states of batches, processes and torchmetrics replicas by
the declared reduction only:

* ``reduce="sum"``: element-wise sum of an array of ``shape``; ``dtype`` ``"int64"`` (exact),
  ``"float64"`` (float sums, e.g. SFD's moments) or ``"exact"`` (a scalar float sum held as exact
  fixed-point limbs, :mod:`sem_metric.engine.exact`: the increment is an iterable of floats);
* ``reduce="cat"``: concatenation of rows of ``shape`` along a new first axis (rank order across
  processes: a ``finalize`` must not depend on the order).

``shape`` entries are ints or the names of run dimensions: ``"features"`` (the classifier's
penultimate feature dimension D) and ``"classes"`` (its number of classes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Sequence, Tuple, Union

from .exact import N_LIMBS, exact_sum_limbs
from ._lazy import np

__all__ = ["State", "REDUCTIONS", "DTYPES", "empty", "add", "merge"]

REDUCTIONS = ("sum", "cat")
DTYPES = ("float64", "int64", "exact")
DIMENSIONS = ("features", "classes")


@dataclass(frozen=True)
class State:
    """One declared state of a metric: its name, reduction, shape and dtype (see the module docstring)."""

    name: str
    reduce: str = "sum"
    shape: Tuple[Union[int, str], ...] = ()
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"state name {self.name!r} must be an identifier")
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"state {self.name!r}: reduce must be one of {REDUCTIONS}, got {self.reduce!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"state {self.name!r}: dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.dtype == "exact" and (self.shape != () or self.reduce != "sum"):
            raise ValueError(f"state {self.name!r}: dtype 'exact' is a scalar sum (shape (), reduce 'sum')")
        bad = [d for d in self.shape if not (isinstance(d, int) and d >= 0) and d not in DIMENSIONS]
        if bad:
            raise ValueError(f"state {self.name!r}: shape entries are ints >= 0 or one of {DIMENSIONS}, got {bad}")

    def resolved_shape(self, dims: Mapping[str, int]) -> Tuple[int, ...]:
        """:attr:`shape` with the run dimensions filled in."""
        try:
            return tuple(int(dims[d]) if isinstance(d, str) else d for d in self.shape)
        except KeyError as e:
            raise ValueError(f"state {self.name!r} needs the run dimension {e.args[0]!r}") from None

    @property
    def numpy_dtype(self) -> Any:
        return np.float64 if self.dtype == "float64" else np.int64

    def empty(self, dims: Mapping[str, int]) -> np.ndarray:
        """The state of no samples."""
        shape = self.resolved_shape(dims)
        if self.dtype == "exact":
            return np.zeros(N_LIMBS, dtype=np.int64)
        if self.reduce == "cat":
            return np.zeros((0,) + shape, dtype=self.numpy_dtype)
        return np.zeros(shape, dtype=self.numpy_dtype)

    def add(self, current: Any, increment: Any) -> np.ndarray:
        """``current`` with one update's ``increment`` added (floats for ``exact``, rows for ``cat``)."""
        if self.dtype == "exact":
            return np.asarray(current, dtype=np.int64) + exact_sum_limbs(np.ravel(np.asarray(increment, dtype=np.float64)))
        inc = np.asarray(increment, dtype=self.numpy_dtype)
        if self.reduce == "cat":
            cur = np.asarray(current, dtype=self.numpy_dtype)
            return np.concatenate([cur, inc.reshape((-1,) + cur.shape[1:])])
        cur = np.asarray(current, dtype=self.numpy_dtype)
        if cur is current and cur.flags.writeable and cur.shape == np.shape(inc):
            cur += inc              # a large sum (SFD's D x D moments) is accumulated in place, not re-allocated
            return cur
        return cur + inc

    def merge(self, a: Any, b: Any) -> np.ndarray:
        """Two states combined by the declared reduction (exact for ``int64`` / ``exact`` sums)."""
        dt = np.int64 if self.dtype == "exact" else self.numpy_dtype
        if self.reduce == "cat":
            return np.concatenate([np.asarray(a, dtype=dt), np.asarray(b, dtype=dt)])
        return np.asarray(a, dtype=dt) + np.asarray(b, dtype=dt)


def empty(states: Sequence[State], dims: Mapping[str, int]) -> Dict[str, np.ndarray]:
    """``{name: empty state}`` of a metric's declared states."""
    return {s.name: s.empty(dims) for s in states}


def add(states: Sequence[State], current: Mapping[str, Any], increments: Mapping[str, Any]) -> Dict[str, Any]:
    """Add an update's increments (a state left out of ``increments`` is unchanged)."""
    unknown = set(increments) - {s.name for s in states}
    if unknown:
        raise ValueError(f"update returned undeclared state(s) {sorted(unknown)}")
    return {s.name: s.add(current[s.name], increments[s.name]) if s.name in increments else current[s.name]
            for s in states}


def merge(states: Sequence[State], a: Mapping[str, Any], b: Mapping[str, Any]) -> Dict[str, Any]:
    """Merge two states of one metric by their declared reductions."""
    return {s.name: s.merge(a[s.name], b[s.name]) for s in states}
