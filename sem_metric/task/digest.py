"""The task digest: one sha256 over a SISM task's boxes and ground truth (paper Sec. 3: the ``B = {b, l^t}``
and the S^c that every Sec. 4.1 metric and Sem, Eq. 10, depend on).

The digest is computed on *content*, not on file bytes: each ground-truth map enters as its relative
path, size and pixel values (little-endian uint16 when every id is below 65536, else int64), and the
boxes as canonical JSON. Two tasks with the same digest remove the same objects from the same maps,
whatever PNG encoder wrote the files; the sha256 of every file is recorded separately (``task.json``
``files``) to detect any change on disk.
"""
from __future__ import annotations

import hashlib
import json
from typing import Iterable, Mapping, Sequence, Tuple

import numpy as np

__all__ = ["DIGEST_VERSION", "map_content_sha256", "boxes_canonical", "task_digest"]

#: identifies the digest definition; a new definition gets a new name
DIGEST_VERSION = "sem-task-digest/1"


def map_content_sha256(seg: np.ndarray) -> str:
    """sha256 of a label map's content (Sec. 3 S^c): ``"H W dtype\\n"`` then the pixel values, row-major,
    as little-endian uint16 (ids < 65536) or int64."""
    seg = np.asarray(seg)
    wide = bool(seg.size) and (int(seg.max()) >= 65536 or int(seg.min()) < 0)
    dtype = "<i8" if wide else "<u2"
    h = hashlib.sha256(f"{seg.shape[0]} {seg.shape[1]} {dtype}\n".encode())
    h.update(np.ascontiguousarray(seg.astype(dtype)).tobytes())
    return h.hexdigest()


def boxes_canonical(boxes: Mapping[str, Sequence[Tuple[Sequence[int], int]]]) -> str:
    """Canonical JSON of the boxes B = {b, l^t} (Sec. 3) ``{file: [((x0, y0, x1, y1), label), ...]}``: keys
    sorted, no spaces."""
    data = {k: [[*(int(v) for v in box), int(label)] for box, label in boxes[k]] for k in sorted(boxes)}
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def task_digest(boxes: Mapping[str, Sequence[Tuple[Sequence[int], int]]], gt_sha256: Iterable[Tuple[str, str]]) -> str:
    """The task digest (``DIGEST_VERSION``; Sec. 3 boxes and S^c): sha256 over the canonical boxes and, in
    sorted path order, each
    ground-truth map's path and :func:`map_content_sha256`."""
    h = hashlib.sha256(f"{DIGEST_VERSION}\nboxes {boxes_canonical(boxes)}\n".encode())
    for rel, digest in sorted(gt_sha256):
        h.update(f"gt {rel} {digest}\n".encode())
    return h.hexdigest()
