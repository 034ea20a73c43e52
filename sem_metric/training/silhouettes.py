"""Whole-object silhouettes as classifier training shapes (Sec. 4.1 classifier data, beyond PS-COCO):
animal-mnist drawings (thresholded, holes filled, largest component) and MPEG-7 CE-Shape-1 binary shapes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from sem_metric.sem.classes import coco_index
from sem_metric.training.shape_bank import DEFAULT_MAX_SIDE, ShapeBank, tight_crop

from ..task.targets import connected_components

PathLike = Union[str, Path]
DEFAULT_MIN_AREA_FRAC = 0.01  # paper Sec. 4.1: instances smaller than 1% of the image are dropped

ANIMAL_MNIST_THRESHOLD = 24


def animal_silhouette(img: np.ndarray, threshold: int = ANIMAL_MNIST_THRESHOLD) -> np.ndarray:
    """Binary silhouette of a grayscale animal drawing: ``img >= threshold``, holes filled, largest
    8-connected component kept. A low threshold plus hole filling keeps zebra stripes inside the body."""
    return _fill_and_keep_largest(np.asarray(img) >= threshold)


def _fill_and_keep_largest(m: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    m = ndimage.binary_fill_holes(m)
    comps = connected_components(m, 8)
    if len(comps) > 1:                      # the largest (the first of equal ones), in the map's frame
        sl, mask = max(comps, key=lambda c: int(c[1].sum()))
        m = np.zeros_like(m)
        m[sl] = mask
    return m


def animal_mnist_split(labels: np.ndarray, val_frac: float = 0.1, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified (per class) split of animal-mnist indices -> (train_idx, val_idx), sorted."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val: List[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(val_frac * idx.size))
        val.append(rng.permutation(idx)[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    train_mask = np.ones(labels.shape[0], dtype=bool)
    train_mask[val_idx] = False
    return np.flatnonzero(train_mask), val_idx.astype(np.int64)


def from_animal_mnist(
    npz_path: PathLike,
    threshold: int = ANIMAL_MNIST_THRESHOLD,
    indices: Optional[Sequence[int]] = None,
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    max_side: int = DEFAULT_MAX_SIDE,
    source: str = "animal_mnist",
) -> ShapeBank:
    """Animal silhouettes (28x28 grayscale, ``images``/``labels``/``class_names`` npz) as shapes.

    Each image is thresholded (:func:`animal_silhouette`), class names are mapped to COCO indices;
    ``indices`` selects a subset (e.g. from :func:`animal_mnist_split`).
    """
    with np.load(npz_path, allow_pickle=False) as z:
        images = z["images"]
        lab = z["labels"].astype(np.int64)
        names = [str(n) for n in z["class_names"]]
    to_coco = {}
    for i, n in enumerate(names):
        try:
            to_coco[i] = coco_index(n)
        except KeyError:
            pass
    sel = np.arange(len(lab)) if indices is None else np.asarray(indices, dtype=np.int64)
    masks: List[np.ndarray] = []
    labels: List[int] = []
    for i in sel:
        c = int(lab[i])
        if c not in to_coco:
            continue
        m = animal_silhouette(images[i], threshold)
        if m.sum() == 0 or m.sum() < min_area_frac * m.size:
            continue
        masks.append(tight_crop(m, max_side))
        labels.append(to_coco[c])
    return ShapeBank.from_lists(masks, labels, source)


def from_mpeg7(
    root: PathLike,
    mapping: Optional[Mapping[str, str]] = None,
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    max_side: int = DEFAULT_MAX_SIDE,
    source: str = "mpeg7",
    clean: bool = True,
) -> ShapeBank:
    """MPEG-7 CE-Shape-1 silhouettes ``root/shapes/<class>-<n>.png`` (object > 0 on 0) as shapes.

    ``mapping`` (MPEG-7 class -> COCO class name) defaults to ``root/coco_names.json``; unmapped
    classes are skipped. Files are read in sorted order. With ``clean`` (default), holes are filled
    and only the largest 8-connected component is kept (a few files have specks / spotted fur).
    """
    root = Path(root)
    if mapping is None:
        with open(root / "coco_names.json", "r", encoding="utf-8") as f:
            mapping = json.load(f)
    to_coco = {str(k): coco_index(str(v)) for k, v in mapping.items()}
    shape_dir = root / "shapes" if (root / "shapes").is_dir() else root
    masks: List[np.ndarray] = []
    labels: List[int] = []
    for p in sorted(shape_dir.glob("*.png")) + sorted(shape_dir.glob("*.gif")):
        cls = p.stem.rsplit("-", 1)[0]
        if cls not in to_coco:
            continue
        with Image.open(p) as im:
            arr = np.asarray(im if im.mode in ("P", "L", "1") else im.convert("L"))
        m = arr > 0
        if clean:
            m = _fill_and_keep_largest(m)
        if m.sum() == 0 or m.sum() < min_area_frac * m.size:
            continue
        masks.append(tight_crop(m, max_side))
        labels.append(to_coco[cls])
    return ShapeBank.from_lists(masks, labels, source)
