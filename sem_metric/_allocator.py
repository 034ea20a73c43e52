"""Process-level memory-allocator setting used by the ``sem-score`` command (never by the library).

Eager CPU inference of the Sem classifier allocates and frees activation tensors of tens of MiB per
layer. glibc's malloc serves blocks above its mmap threshold (at most 32 MiB by default) with fresh
``mmap`` pages and returns them on ``free``, so every forward pass page-faults its activations in
again: on the 2-core benchmark machine a 1,000-sample Sem run took 3.2 million minor page faults and
7 s of system time out of 40 s of CPU. Raising the mmap and trim thresholds keeps freed blocks in the
heap for reuse (0.2 million faults, 1 s of system time; about 130 MiB more peak RSS). Numbers are
unaffected: only where memory comes from changes.
"""
from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")


def keep_freed_memory(mmap_threshold: int = 1 << 30, trim_threshold: int = 1 << 30) -> bool:
    """On Linux with glibc, serve allocations below ``mmap_threshold`` from the heap and keep up to
    ``trim_threshold`` bytes of freed memory for reuse (``mallopt``). Returns True when applied; a no-op
    elsewhere, or when the user already tuned malloc through the environment."""
    if not sys.platform.startswith("linux") or any(k in os.environ for k in _ENV):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) and mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
