"""COCO instance segmentations (RLE, compressed RLE, polygons) decoded into binary masks, without
pycocotools: the shapes of the paper's classifier data (Sec. 4.1, PS-COCO / COCO instances)."""
from __future__ import annotations

import math
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

def rle_decode_uncompressed(counts: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """Decode COCO uncompressed RLE (``{"counts": [..], "size": [h, w]}``) into an (h, w) bool mask.

    Runs alternate 0,1,0,... starting with zeros, over the pixels in column-major (Fortran) order.
    """
    h, w = int(size[0]), int(size[1])
    cnts = np.asarray(counts, dtype=np.int64).reshape(-1)
    if cnts.size and cnts.min() < 0:
        raise ValueError("RLE counts must be non-negative")
    total = int(cnts.sum())
    if total != h * w:
        raise ValueError(f"RLE counts sum to {total}, expected h*w = {h}*{w} = {h * w}")
    vals = (np.arange(cnts.size) % 2).astype(bool)
    flat = np.repeat(vals, cnts)
    return np.ascontiguousarray(flat.reshape(w, h).T)


def rle_string_to_counts(s: Union[str, bytes]) -> List[int]:
    """Decode COCO's compressed RLE string (pycocotools ``rleFrString``) into a list of run lengths.

    Each count is stored as 5-bit groups (LSB first) in characters offset by 48; bit 0x20 means "more
    groups follow", bit 0x10 of the last group is the sign. From the 4th count on, the value stored is
    the difference to the count two positions earlier.
    """
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("ascii")
    counts: List[int] = []
    p, n = 0, len(s)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError("truncated compressed RLE string")
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_decode_compressed(counts: Union[str, bytes], size: Sequence[int]) -> np.ndarray:
    """Decode COCO compressed RLE (``{"counts": "<string>", "size": [h, w]}``) into an (h, w) bool mask."""
    return rle_decode_uncompressed(rle_string_to_counts(counts), size)


def rle_decode(rle: Mapping) -> np.ndarray:
    """Decode a COCO RLE dict, compressed (string counts) or uncompressed (list counts)."""
    counts, size = rle["counts"], rle["size"]
    if isinstance(counts, (str, bytes, bytearray)):
        return rle_decode_compressed(counts, size)
    return rle_decode_uncompressed(counts, size)


def polygons_to_mask(
    polygons: Sequence[Sequence[float]], height: int, width: int
) -> Tuple[Optional[np.ndarray], Tuple[int, int]]:
    """Rasterise COCO polygons (``[[x0, y0, x1, y1, ...], ...]``, union of the parts) inside an image.

    COCO polygon coordinates are continuous, pixel ``(i, j)`` covering ``[j, j+1) x [i, i+1)``; a
    pixel is set when its centre ``(j + 0.5, i + 0.5)`` lies inside a part (even-odd rule, vectorised
    scanline), so the mask area matches the polygon area (COCO's ``area`` field) up to boundary
    rounding. Only the parts' bounding box (clipped to the image) is rasterised, for speed. Returns
    ``(mask, (y0, x0))``: the bool mask of that box and its top-left corner in the image;
    ``(None, (0, 0))`` if nothing falls inside the image.
    """
    polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons if len(p) >= 6]
    if not polys:
        return None, (0, 0)
    allpts = np.concatenate(polys, axis=0)
    x0 = max(0, int(math.floor(allpts[:, 0].min())))
    y0 = max(0, int(math.floor(allpts[:, 1].min())))
    x1 = min(int(width), int(math.ceil(allpts[:, 0].max())))
    y1 = min(int(height), int(math.ceil(allpts[:, 1].max())))
    if x1 <= x0 or y1 <= y0:
        return None, (0, 0)
    h, w = y1 - y0, x1 - x0
    yc = np.arange(h, dtype=np.float64) + (y0 + 0.5)  # scanline = pixel-centre rows
    mask = np.zeros((h, w), dtype=bool)
    for pts in polys:
        xa, ya = pts[:, 0], pts[:, 1]
        xb, yb = np.roll(xa, -1), np.roll(ya, -1)
        below_a = ya[None, :] <= yc[:, None]
        below_b = yb[None, :] <= yc[:, None]
        rows, edges = np.nonzero(below_a != below_b)  # edge crosses the scanline (half-open rule)
        if rows.size == 0:
            continue
        t = (yc[rows] - ya[edges]) / (yb[edges] - ya[edges])
        xint = xa[edges] + t * (xb[edges] - xa[edges]) - x0
        # first pixel whose centre is right of the crossing; parity of crossings to the left = inside
        first = np.clip(np.ceil(xint - 0.5), 0, w).astype(np.int64)
        diff = np.zeros((h, w + 1), dtype=np.int32)
        np.add.at(diff, (rows, first), 1)
        mask |= (np.cumsum(diff[:, :w], axis=1) & 1).astype(bool)
    return mask, (y0, x0)


def decode_coco_segmentation(segmentation, height: int, width: int) -> Optional[np.ndarray]:
    """Decode a COCO ``segmentation`` (polygon list, RLE dict) to a mask cropped to its bbox (or None)."""
    if isinstance(segmentation, dict):
        m = rle_decode(segmentation)
        return m if m.any() else None
    if isinstance(segmentation, (list, tuple)):
        m, _ = polygons_to_mask(segmentation, height, width)
        return m if (m is not None and m.any()) else None
    raise ValueError(f"unsupported COCO segmentation of type {type(segmentation).__name__}")
