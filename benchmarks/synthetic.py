"""Deterministic synthetic SISM data for the performance benchmarks (no dataset needed).

* :func:`write_dataset` writes ``pred/``, ``gt/`` (L-mode PNGs) and ``boxes.json`` for ``sem-score``:
  ``maps`` pairs of ``size x size`` street-like maps with ``boxes_per_map`` boxes each.
* :func:`cityscapes_like` returns in-memory 2048 x 1024 maps with several small car boxes each
  (Cityscapes ``labelIds`` range 0..33, car = 26), predictions perturbed inside the boxes only.

Ground-truth objects are random ellipses / rectangles with bumps; predictions move, grow, erode or
add noise to them, so almost no prediction equals its ground truth (the costly case for Sem).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Tuple

import numpy as np

CAR = 26


def _scene(rng: np.random.Generator, h: int, w: int, classes: int = 34) -> np.ndarray:
    """Blocky background: horizontal bands of a few classes with rectangles of others (uint8)."""
    seg = np.zeros((h, w), np.uint8)
    cuts = np.sort(rng.integers(0, h, 4))
    for k, c in enumerate(cuts):
        seg[c:] = rng.integers(0, classes)
    for _ in range(6):
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        seg[y0:y0 + int(rng.integers(h // 16, h // 3)), x0:x0 + int(rng.integers(w // 16, w // 3))] = \
            rng.integers(0, classes)
    seg[seg == CAR] = 0
    return seg


def _object(rng: np.random.Generator, bh: int, bw: int) -> np.ndarray:
    """A random filled shape inside a bh x bw box (bool)."""
    yy, xx = np.mgrid[0:bh, 0:bw]
    cy, cx = bh / 2 + rng.normal(0, bh / 12), bw / 2 + rng.normal(0, bw / 12)
    ry, rx = bh * rng.uniform(0.3, 0.48), bw * rng.uniform(0.3, 0.48)
    shape = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    if rng.random() < 0.5:  # a rectangle body under the ellipse (car-like)
        shape |= (yy > cy) & (yy < cy + ry * 0.8) & (np.abs(xx - cx) < rx * 1.1)
    return shape


def _perturb(rng: np.random.Generator, obj: np.ndarray) -> np.ndarray:
    """A plausible inpainting of ``obj``: shifted, dilated/eroded, or noisy (never the identity)."""
    kind = int(rng.integers(0, 3))
    if kind == 0:
        dy, dx = (int(v) for v in rng.integers(-3, 4, 2))
        out = np.roll(obj, (dy or 1, dx), axis=(0, 1))
    elif kind == 1:
        pad = np.pad(obj, 1)
        grow = pad[1:-1, 1:-1] | pad[:-2, 1:-1] | pad[2:, 1:-1] | pad[1:-1, :-2] | pad[1:-1, 2:]
        shrink = pad[1:-1, 1:-1] & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
        out = grow if rng.random() < 0.5 else shrink
    else:
        out = obj ^ (rng.random(obj.shape) < 0.04)
    if np.array_equal(out, obj):
        out = obj.copy()
        out[obj.shape[0] // 2, obj.shape[1] // 2] ^= True
    return out


def make_pair(rng: np.random.Generator, h: int, w: int, n_boxes: int, min_box: int, max_box: int,
              label: int = CAR) -> Tuple[np.ndarray, np.ndarray, List[Tuple[int, int, int, int]]]:
    """One (pred, gt, boxes) triple: uint8 maps, ``n_boxes`` boxes with one object of ``label`` each."""
    gt = _scene(rng, h, w)
    pred = gt.copy()
    boxes = []
    for _ in range(n_boxes):
        bh = int(np.exp(rng.uniform(np.log(min_box), np.log(max_box))))
        bw = int(min(w, max(min_box, bh * rng.uniform(0.8, 2.0))))
        bh = min(bh, h)
        y0, x0 = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        obj = _object(rng, bh, bw)
        background = gt[y0:y0 + bh, x0:x0 + bw].copy()
        gt[y0:y0 + bh, x0:x0 + bw][obj] = label
        region = pred[y0:y0 + bh, x0:x0 + bw]
        region[...] = background
        region[_perturb(rng, obj)] = label
        if rng.random() < 0.3:  # a few noise pixels of a class absent from the scene
            noise = rng.random(region.shape) < 0.002
            region[noise] = 40
        boxes.append((x0, y0, x0 + bw, y0 + bh))
    return pred, gt, boxes


def cityscapes_like(maps: int = 23, boxes_per_map: int = 13, h: int = 1024, w: int = 2048, seed: int = 0):
    """Lists ``preds, gts`` of ``maps`` 2048 x 1024 uint8 maps and, per box, ``(map_index, box, label)``.

    Box sides are log-uniform in 12..400 px like Cityscapes cars; the maps are shared by their boxes.
    """
    rng = np.random.default_rng(seed)
    preds, gts, samples = [], [], []
    for i in range(maps):
        p, g, bxs = make_pair(rng, h, w, boxes_per_map, 12, 400)
        preds.append(p)
        gts.append(g)
        samples += [(i, b, CAR) for b in bxs]
    return preds, gts, samples


def write_dataset(out: Path, maps: int = 2500, size: int = 256, boxes_per_map: int = 4, seed: int = 0) -> Path:
    """Write ``out/pred``, ``out/gt`` (L-mode PNGs ``00000.png``...) and ``out/boxes.json``; returns ``out``.

    Skips the work when ``out/boxes.json`` already describes the same parameters.
    """
    from PIL import Image

    out = Path(out)
    params = {"maps": maps, "size": size, "boxes_per_map": boxes_per_map, "seed": seed, "format": 1}
    stamp = out / "params.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == params and (out / "boxes.json").is_file():
        return out
    rng = np.random.default_rng(seed)
    (out / "pred").mkdir(parents=True, exist_ok=True)
    (out / "gt").mkdir(parents=True, exist_ok=True)
    boxes = {}
    for i in range(maps):
        p, g, bxs = make_pair(rng, size, size, boxes_per_map, size // 10, size // 2)
        name = f"{i:05d}.png"
        Image.fromarray(p).save(out / "pred" / name)
        Image.fromarray(g).save(out / "gt" / name)
        boxes[name] = [{"bbox": list(b), "label": CAR} for b in bxs]
    (out / "boxes.json").write_text(json.dumps(boxes))
    stamp.write_text(json.dumps(params))
    return out
