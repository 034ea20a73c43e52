"""Exact sums of float64 values: fixed-point integers in 32-bit limbs (the engine's reduction for means).

Every finite float64 times ``2**FRAC_BITS`` is an integer; the sum of such integers is held in an int64
vector of ``N_LIMBS`` 32-bit limbs. Limb vectors add exactly (element-wise, across batches, with
``all_reduce(SUM)`` across ranks, in torchmetrics' ``sum`` reduction) as long as fewer than 2**31 vectors
are added; :func:`limbs_to_float` rounds the total once, correctly, so a mean is ``correctly_rounded(sum)
/ n`` whatever the chunking, order or number of processes (equal to ``math.fsum(values) / n``).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional

from ..errors import InputError
from ._lazy import np

__all__ = ["FRAC_BITS", "LIMB_BITS", "N_LIMBS", "exact_sum_limbs", "limbs_to_float", "limbs_to_int",
           "int_to_limbs", "exact_mean", "exact_total"]

#: fixed-point exact sums: value * 2**FRAC_BITS is an integer for every finite float64
FRAC_BITS = 1074
LIMB_BITS = 32
#: 2**(1024 + 1074) < 2**(32 * 66): the largest finite float64 fits, with room for 2**31 additions per limb
N_LIMBS = 66
_LIMB_MASK = (1 << LIMB_BITS) - 1


def _fixed_point(values: Iterable[float]) -> int:
    total = 0
    for v in values:
        v = float(v)
        if not math.isfinite(v):
            raise InputError(f"cannot average a non-finite metric value ({v!r})")
        p, q = v.as_integer_ratio()          # q is a power of two <= 2**1074
        total += p << (FRAC_BITS - (q.bit_length() - 1))
    return total


def exact_sum_limbs(values: Iterable[float]) -> np.ndarray:
    """Exact sum of finite float64 values as an int64 vector of ``N_LIMBS`` 32-bit limbs (value * 2**1074)."""
    return int_to_limbs(_fixed_point(values))


def int_to_limbs(total: int, n_limbs: int = N_LIMBS) -> np.ndarray:
    """A Python integer as ``n_limbs`` signed 32-bit limbs (int64), least significant first."""
    sign = -1 if total < 0 else 1
    a = abs(total)
    if a >> (LIMB_BITS * n_limbs):
        raise OverflowError("exact sum out of range")
    return np.array([sign * ((a >> (LIMB_BITS * i)) & _LIMB_MASK) for i in range(n_limbs)], dtype=np.int64)


def limbs_to_int(limbs: Any) -> int:
    """The integer held in a limb vector (any sum of :func:`int_to_limbs` vectors)."""
    arr = np.asarray(limbs, dtype=np.int64).reshape(-1)
    return sum(int(v) << (LIMB_BITS * i) for i, v in enumerate(arr.tolist()))


def limbs_to_float(limbs: Any) -> float:
    """The exact sum held in ``limbs``, correctly rounded to float64 (equal to ``math.fsum`` of the values)."""
    return limbs_to_int(limbs) / (1 << FRAC_BITS)   # int / int is correctly rounded in Python


def exact_mean(values: Iterable[float]) -> Optional[float]:
    """Correctly rounded sum of ``values`` divided by their count (None when empty): the one mean of the package."""
    vals = list(values)
    return limbs_to_float(exact_sum_limbs(vals)) / len(vals) if vals else None


def exact_total(limbs: Any, integer: bool) -> Any:
    """The sum held in ``limbs``: an ``int`` for integer metrics, else the correctly rounded float."""
    total = limbs_to_int(limbs)
    return total >> FRAC_BITS if integer else total / (1 << FRAC_BITS)
