"""A bank of binary object shapes for training the Sem shape classifier (paper Sec. 3.3 and 4.1).

The paper trains its shape classifier on binary instance masks of the 80 COCO thing classes (PS-COCO
instances with an area of at least 1% of their image). A :class:`ShapeBank` stores such masks as tight
crops (the bounding box of the mask's True pixels, max side ``max_side``), the contiguous COCO class
index 0..79 of each (see :mod:`sem_metric.sem.classes`) and a short source tag (``"coco_instances"``,
``"voc"``, ...). Banks are saved as ``.npz`` files that load without pickle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np
from PIL import Image

from sem_metric.atomic import atomic_write
from sem_metric.sem.classes import NUM_CLASSES

DEFAULT_MAX_SIDE = 128
_FORMAT_VERSION = 1

PathLike = Union[str, Path]


def tight_crop(mask: np.ndarray, max_side: int = DEFAULT_MAX_SIDE) -> np.ndarray:
    """Crop a binary mask to the bounding box of its True pixels; downscale it if larger than ``max_side``.

    Shapes are what the Sem classifier sees (Sec. 3.3), so only the object's extent is kept. When the
    crop's longer side exceeds ``max_side`` it is resized, keeping the aspect ratio (each side rounded,
    at least 1 px), with area averaging (PIL ``BOX`` filter on the 0/1 mask) and re-thresholded at
    ``>= 0.5``; if that leaves nothing, the pixel with the largest coverage is kept so the result is
    never empty. The result is cropped tight again and returned as a C-contiguous bool array.

    Raises ValueError for a mask that is not 2-D or has no True pixel.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"tight_crop expects a 2-D mask, got shape {m.shape}")
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    m = m.astype(bool, copy=False)
    crop = _crop_to_true(m)
    if crop is None:
        raise ValueError("tight_crop got an empty mask (no True pixel)")
    h, w = crop.shape
    if max(h, w) <= max_side:
        return np.ascontiguousarray(crop)
    scale = max_side / max(h, w)
    nh = min(max_side, max(1, int(round(h * scale))))
    nw = min(max_side, max(1, int(round(w * scale))))
    img = Image.fromarray(crop.astype(np.float32), mode="F")
    cover = np.asarray(img.resize((nw, nh), resample=Image.BOX), dtype=np.float32)
    small = cover >= 0.5
    if not small.any():
        small = np.zeros_like(small)
        small[np.unravel_index(int(np.argmax(cover)), cover.shape)] = True
    out = _crop_to_true(small)
    assert out is not None
    return np.ascontiguousarray(out)


def _crop_to_true(m: np.ndarray):
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    return m[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]


@dataclass
class ShapeBank:
    """Binary object shapes + COCO class index (0..79) + source tag; the shape classifier's training data.

    ``masks[i]`` is a 2-D bool array (tight crop, max side <= 128 by default), ``labels[i]`` its
    contiguous COCO index (paper Sec. 4.1: 80 object categories), ``sources[i]`` where it came from.
    """

    masks: list = field(default_factory=list)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sources: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="<U1"))

    def __post_init__(self) -> None:
        self.masks = [np.ascontiguousarray(np.asarray(m, dtype=bool)) for m in self.masks]
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        src = np.asarray(self.sources)
        if src.size == 0:
            src = np.zeros(0, dtype="<U1")
        self.sources = src.astype(str).reshape(-1)
        n = len(self.masks)
        if self.labels.shape[0] != n or self.sources.shape[0] != n:
            raise ValueError(
                f"ShapeBank: {n} masks but {self.labels.shape[0]} labels and {self.sources.shape[0]} sources"
            )
        for i, m in enumerate(self.masks):
            if m.ndim != 2:
                raise ValueError(f"ShapeBank: mask {i} is not 2-D (shape {m.shape})")
        if n and (self.labels.min() < 0 or self.labels.max() >= NUM_CLASSES):
            raise ValueError(f"ShapeBank: labels must be COCO indices 0..{NUM_CLASSES - 1}")

    def __len__(self) -> int:
        return len(self.masks)

    @classmethod
    def from_lists(cls, masks: Sequence[np.ndarray], labels: Sequence[int], source) -> "ShapeBank":
        """Build a bank; ``source`` is one tag for all masks or a sequence with one per mask."""
        if isinstance(source, str):
            sources = np.full(len(masks), source, dtype=f"<U{max(1, len(source))}")
        else:
            sources = np.asarray(list(source), dtype=str)
        return cls(list(masks), np.asarray(labels, dtype=np.int64), sources)

    # ------------------------------------------------------------------ persistence
    def save(self, path: PathLike) -> Path:
        """Write an ``.npz`` (no object arrays): packed bits of all masks, shapes, bit offsets, labels, sources."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        shapes = np.array([m.shape for m in self.masks], dtype=np.int32).reshape(-1, 2)
        sizes = shapes[:, 0].astype(np.int64) * shapes[:, 1].astype(np.int64)
        offsets = np.zeros(len(self.masks) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        if self.masks:
            bits = np.packbits(np.concatenate([m.ravel() for m in self.masks]))
        else:
            bits = np.zeros(0, dtype=np.uint8)
        sources = self.sources.astype(str)
        if sources.size == 0:
            sources = np.zeros(0, dtype="<U1")
        arrays = {"bits": bits, "shapes": shapes, "offsets": offsets, "labels": self.labels.astype(np.int64),
                  "sources": sources, "format_version": np.array(_FORMAT_VERSION, dtype=np.int64)}
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays), binary=True, what="shape bank")
        return path

    @classmethod
    def load(cls, path: PathLike) -> "ShapeBank":
        """Load a bank written by :meth:`save` (``np.load(allow_pickle=False)``)."""
        with np.load(Path(path), allow_pickle=False) as z:
            version = int(z["format_version"]) if "format_version" in z.files else 1
            if version != _FORMAT_VERSION:
                raise ValueError(f"{path}: unsupported ShapeBank format version {version}")
            shapes = z["shapes"].astype(np.int64)
            offsets = z["offsets"].astype(np.int64)
            labels = z["labels"].astype(np.int64)
            sources = z["sources"].astype(str)
            total = int(offsets[-1]) if offsets.size else 0
            flat = np.unpackbits(z["bits"], count=total).astype(bool)
        masks = [
            flat[offsets[i]: offsets[i + 1]].reshape(int(shapes[i, 0]), int(shapes[i, 1]))
            for i in range(len(labels))
        ]
        return cls(masks, labels, sources)

    # ------------------------------------------------------------------ manipulation
    @classmethod
    def concat(cls, banks: Iterable["ShapeBank"]) -> "ShapeBank":
        """Concatenate banks in order."""
        banks = list(banks)
        masks = [m for b in banks for m in b.masks]
        labels = np.concatenate([b.labels for b in banks]) if banks else np.zeros(0, np.int64)
        srcs = [b.sources.astype(str) for b in banks if len(b)]
        sources = np.concatenate(srcs) if srcs else np.zeros(0, dtype="<U1")
        return cls(masks, labels, sources)

    def subset(self, indices) -> "ShapeBank":
        """A new bank with the given indices (int array or bool mask), in that order."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"boolean subset mask must have shape ({len(self)},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        return ShapeBank([self.masks[i] for i in idx], self.labels[idx], self.sources[idx])

    def class_counts(self, num_classes: int = NUM_CLASSES) -> np.ndarray:
        """Number of shapes per COCO index, shape (num_classes,) int64."""
        return np.bincount(self.labels, minlength=num_classes).astype(np.int64)

    def source_counts(self) -> dict:
        """Number of shapes per source tag."""
        names, counts = np.unique(self.sources, return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}
