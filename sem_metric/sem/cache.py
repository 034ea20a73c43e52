"""Cache of the classifier's probabilities for ground-truth samples (``Softmax(F_{-1}(O^c))`` of Eq. 10).

Like pytorch-fid's ``--save-stats``: the ground truth of a benchmark does not change between runs, so
its half of Sem can be computed once. The cache is a ``.npz`` file (written with :func:`numpy.savez`,
read with ``allow_pickle=False``) holding

``keys``                 unicode array (N,), one per sample, see :func:`sample_key`
``probs``                float64 array (N, 80)
``weights_sha256``       0-d unicode array: sha256 of the classifier weights that produced ``probs``
``preprocessing_version`` 0-d unicode array: :data:`sem_metric.sem.preprocess.PREPROCESSING_VERSION`
``package_version``      0-d unicode array: :data:`sem_metric.version.__version__` (informational)
``format``               0-d unicode array: :data:`CACHE_FORMAT`

Probabilities are only reused when the weights sha256 and the preprocessing version both match;
otherwise the whole file is ignored (with a warning) and rebuilt, so entries from different
classifiers are never mixed. The file is updated atomically (temporary file + :func:`os.replace`).
"""
from __future__ import annotations

import hashlib
import os
import warnings
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..atomic import atomic_write
from ..errors import InputError

__all__ = ["CACHE_FORMAT", "GTProbabilityCache", "map_digest", "sample_key"]

CACHE_FORMAT = "sem-metric-gt-probs/1"
NUM_OUTPUTS = 80


def map_digest(seg) -> str:
    """sha256 of a decoded label map's content: shape plus its pixels as little-endian int64.

    The key is computed from the decoded map (after colour mapping), not the file bytes, so that the
    same file read with a different ``--color-map`` never hits a stale entry, and re-encoding a file
    without changing its pixels still hits.
    """
    arr = np.ascontiguousarray(np.asarray(seg), dtype="<i8")
    h = hashlib.sha256()
    h.update(("%s:" % (arr.shape,)).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def sample_key(content_digest: str, box: Sequence[int], label: int) -> str:
    """Cache key of one ground-truth sample: sha256 over (map content digest, box coords, label)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    text = f"{content_digest}|{x0},{y0},{x1},{y1}|{int(label)}"
    return hashlib.sha256(text.encode()).hexdigest()


def _scalar(data, name: str) -> Optional[str]:
    if name not in data.files:
        return None
    arr = data[name]
    if arr.ndim != 0 or arr.dtype.kind != "U":
        return None
    return str(arr[()])


class GTProbabilityCache:
    """Ground-truth probability cache bound to one classifier (weights sha256 + preprocessing version).

    Usage::

        cache = GTProbabilityCache.open(path, weights_sha256, PREPROCESSING_VERSION)
        probs, missing = cache.lookup(keys)          # rows for hits, indices of misses
        cache.put([keys[i] for i in missing], new_probs)
        cache.save()                                 # no-op when nothing changed

    ``hits`` / ``misses`` count lookups; ``status`` is ``"new"`` (no file), ``"loaded"`` or
    ``"rebuilt"`` (file ignored because it was made by another classifier / unreadable).
    """

    def __init__(self, path: Optional[str], weights_sha256: str, preprocessing_version: str,
                 package_version: str = "", warn: Optional[Callable[[str], None]] = None):
        self.path = None if path is None else os.fspath(path)
        self.weights_sha256 = str(weights_sha256)
        self.preprocessing_version = str(preprocessing_version)
        self.package_version = str(package_version)
        self._warn = warn or (lambda msg: warnings.warn(msg, stacklevel=3))
        self._entries: Dict[str, np.ndarray] = {}
        self.hits = 0
        self.misses = 0
        self.status = "new"
        self.dirty = False

    # ------------------------------------------------------------------ loading
    @classmethod
    def open(cls, path, weights_sha256: str, preprocessing_version: str, package_version: str = "",
             warn: Optional[Callable[[str], None]] = None) -> "GTProbabilityCache":
        """Open (or start) the cache at ``path``; an incompatible or unreadable file is ignored with a warning."""
        cache = cls(path, weights_sha256, preprocessing_version, package_version, warn)
        cache._load()
        return cache

    def _load(self) -> None:
        if self.path is None or not os.path.exists(self.path):
            return
        if os.path.isdir(self.path):
            raise InputError(f"--gt-cache {self.path!r} is a directory; give a file path such as gt_probs.npz")
        try:
            with np.load(self.path, allow_pickle=False) as data:
                fmt = _scalar(data, "format")
                sha = _scalar(data, "weights_sha256")
                prep = _scalar(data, "preprocessing_version")
                keys = data["keys"] if "keys" in data.files else None
                probs = data["probs"] if "probs" in data.files else None
        except Exception as e:  # noqa: BLE001 - any unreadable file is treated the same way
            self._rebuild(f"cannot be read ({type(e).__name__}: {e})")
            return
        if fmt != CACHE_FORMAT or keys is None or probs is None:
            self._rebuild(f"is not a sem-metric ground-truth cache (format {fmt!r})")
            return
        if keys.ndim != 1 or keys.dtype.kind != "U" or probs.ndim != 2 or probs.shape != (keys.shape[0], NUM_OUTPUTS) \
                or probs.dtype.kind != "f":
            self._rebuild(f"is malformed (keys {keys.shape} {keys.dtype}, probs {probs.shape} {probs.dtype})")
            return
        why = []
        if sha != self.weights_sha256:
            why.append(f"weights sha256 {sha!r} != {self.weights_sha256!r}")
        if prep != self.preprocessing_version:
            why.append(f"preprocessing version {prep!r} != {self.preprocessing_version!r}")
        if why:
            self._rebuild("was made with a different classifier (" + "; ".join(why) + ")")
            return
        probs = probs.astype(np.float64, copy=False)
        self._entries = {str(k): probs[i] for i, k in enumerate(keys)}
        self.status = "loaded"

    def _rebuild(self, why: str) -> None:
        self._warn(f"ground-truth cache {self.path!r} {why}; ignoring it and rebuilding it")
        self._entries = {}
        self.status = "rebuilt"
        self.dirty = True  # the incompatible file must be replaced even if nothing new is computed

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def lookup(self, keys: Sequence[str]) -> Tuple[np.ndarray, List[int]]:
        """Return ``(probs (N, 80) float64, missing indices)``; rows of missing keys are NaN."""
        out = np.full((len(keys), NUM_OUTPUTS), np.nan, dtype=np.float64)
        missing: List[int] = []
        for i, k in enumerate(keys):
            row = self._entries.get(k)
            if row is None:
                missing.append(i)
            else:
                out[i] = row
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        return out, missing

    def put(self, keys: Iterable[str], probs) -> None:
        """Store probabilities (N, 80) for ``keys``."""
        probs = np.asarray(probs, dtype=np.float64)
        keys = list(keys)
        if probs.shape != (len(keys), NUM_OUTPUTS):
            raise ValueError(f"expected probabilities of shape ({len(keys)}, {NUM_OUTPUTS}), got {probs.shape}")
        for k, row in zip(keys, probs):
            self._entries[str(k)] = row.copy()
        if keys:
            self.dirty = True

    # ------------------------------------------------------------------ saving
    def save(self) -> bool:
        """Write the cache atomically if anything changed; returns True when the file was written."""
        if self.path is None or not self.dirty:
            return False
        keys = sorted(self._entries)
        probs = (np.stack([self._entries[k] for k in keys]) if keys
                 else np.zeros((0, NUM_OUTPUTS), dtype=np.float64))
        arrays = dict(keys=np.array(keys, dtype=np.str_).reshape(-1), probs=probs,
                      weights_sha256=np.array(self.weights_sha256),
                      preprocessing_version=np.array(self.preprocessing_version),
                      package_version=np.array(self.package_version), format=np.array(CACHE_FORMAT))
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot write ground-truth cache {self.path!r}: {e}") from None
        atomic_write(self.path, lambda f: np.savez(f, **arrays), binary=True, what="ground-truth cache")
        self.dirty = False
        return True

    def stats(self) -> Dict[str, object]:
        """``{path, status, hits, misses, entries}`` for the result's runtime section."""
        return {"path": self.path, "status": self.status, "hits": self.hits, "misses": self.misses,
                "entries": len(self._entries)}
