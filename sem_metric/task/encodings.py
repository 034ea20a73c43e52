"""The datasets' pixel encodings (paper Sec. 4.1 datasets): Cityscapes instanceIds, COCO panoptic PNGs, full
ADE20K ``*_seg.png`` and its per-image object names. Pure numpy decoders used by :mod:`.sources` (which
re-exports them), the reference data and the training shape sources. Torch-free.
"""
from __future__ import annotations

import json
from typing import Dict, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["decode_cityscapes_instances", "decode_panoptic_ids", "decode_ade20k_seg"]


def decode_cityscapes_instances(inst: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Split a Cityscapes (Sec. 4.1 dataset) ``*_gtFine_instanceIds.png`` map into (class ids, instance ids), int64: pixels
    >= 1000 hold ``class * 1000 + k`` (thing instances), smaller values are the class id itself (stuff, or a
    crowd region without instances) and get instance id 0."""
    inst = np.asarray(inst).astype(np.int64)
    thing = inst >= 1000
    return np.where(thing, inst // 1000, inst), np.where(thing, inst, 0)


def decode_panoptic_ids(rgb: np.ndarray) -> np.ndarray:
    """Decode a COCO panoptic PNG (H, W, 3) (the paper's PS-COCO, Sec. 4.1) into segment ids
    ``R + 256 G + 256^2 B`` (int64, 0 = unlabelled)."""
    rgb = np.asarray(rgb).astype(np.int64)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise InputError(f"decode_panoptic_ids: expected an RGB image (H, W, 3), got {rgb.shape}")
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def decode_ade20k_seg(rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Decode a full-ADE20K (Sec. 4.1 dataset) ``*_seg.png`` (H, W, 3): class = R / 10 * 256 + G (integer division), instance
    mask id = B (0 = none). Returns (class ids, instance ids), int64."""
    rgb = np.asarray(rgb).astype(np.int64)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise InputError(f"decode_ade20k_seg: expected an RGB image (H, W, 3), got {rgb.shape}")
    return (rgb[..., 0] // 10) * 256 + rgb[..., 1], rgb[..., 2].copy()


def _ade_names(path: str) -> Dict[int, str]:
    """``{name_ndx: first name}`` of the objects of a full-ADE20K per-image JSON (empty when unreadable)."""
    try:
        with open(path, encoding="utf-8") as f:
            objs = json.load(f)["annotation"]["object"]
        return {int(o["name_ndx"]): str(o["name"]).split(",")[0].strip() for o in objs if "name_ndx" in o}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
