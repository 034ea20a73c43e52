"""Colour -> class id mappings for RGB label maps (``--color-map``, ``color_map=``): parsing, reading, applying.

Used by :func:`sem_metric.pipeline.io.read_label_map` (the one reader); class ids are non-negative
(``labelmap.box.NEGATIVE_IDS_HINT``). Nothing here imports torch.
"""
from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from ..errors import InputError
from .json_file import read_json

__all__ = ["ColorMap", "parse_color_map", "read_color_map", "load_color_map", "apply_color_map"]

PathLike = Any


# --------------------------------------------------------------------------- colour maps
ColorMap = Dict[Tuple[int, int, int], int]


def _color(value: Any, where: str) -> Tuple[int, int, int]:
    """A colour written as (r, g, b) / [r, g, b], "#rrggbb" or "r,g,b" (components 0..255)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("#") and len(text) == 7:
            try:
                value = [int(text[k:k + 2], 16) for k in (1, 3, 5)]
            except ValueError:
                pass
        else:
            parts = [p.strip() for p in text.strip("()[]").split(",")]
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                value = [int(p) for p in parts]
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and 0 <= int(v) <= 255
            for v in value):
        return int(value[0]), int(value[1]), int(value[2])
    raise InputError(f"{where}: bad colour {value!r}; write colours as (r, g, b), \"#rrggbb\" or \"r,g,b\" "
                     "with components 0..255")


def _class_id(value: Any, where: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or int(value) < 0:
        raise InputError(f"{where}: class id must be a non-negative integer, got {value!r}")
    return int(value)


def parse_color_map(data: Any, where: str = "color_map") -> ColorMap:
    """Validate a colour -> class id mapping for RGB label maps (paper Sec. 3: pixel = class id).

    Accepted forms: a mapping whose keys are ``(r, g, b)`` tuples, ``"#rrggbb"`` or ``"r,g,b"`` strings
    and whose values are class ids, e.g. ``{"#000000": 0, "128,64,128": 7}``; or a list of
    ``{"color": [r, g, b], "id": n}``. Returns ``{(r, g, b): id}``. Errors name ``where`` and the entry.
    """
    if isinstance(data, Mapping):
        items = [(k, v, f"{where}, key {k!r}") for k, v in data.items()]
    elif isinstance(data, list):
        items = []
        for i, entry in enumerate(data):
            if not isinstance(entry, Mapping) or set(entry) != {"color", "id"}:
                raise InputError(f"{where}, entry {i}: expected {{\"color\": [r, g, b], \"id\": n}}, got {entry!r}")
            items.append((entry["color"], entry["id"], f"{where}, entry {i}"))
    else:
        raise InputError(f"{where}: expected a JSON object {{\"#rrggbb\": id, ...}} or a list of "
                         f"{{\"color\": [r, g, b], \"id\": n}}, got {type(data).__name__}")
    out: ColorMap = {}
    for key, cid, w in items:
        rgb = _color(key, w)
        if rgb in out:
            raise InputError(f"{w}: colour {rgb} is given twice")
        out[rgb] = _class_id(cid, w)
    return out


def read_color_map(path: PathLike) -> ColorMap:
    """Read a ``--color-map`` JSON file (forms of :func:`parse_color_map`); an empty mapping is an error."""
    where = f"color map {os.fspath(path)!r}"
    out = parse_color_map(read_json(path, "color map"), where=where)
    if not out:
        raise InputError(f"{where}: is empty")
    return out


def load_color_map(color_map: Any) -> Optional[ColorMap]:
    """``None``, a JSON file path (:func:`read_color_map`) or an in-memory mapping (:func:`parse_color_map`)."""
    if color_map is None:
        return None
    if isinstance(color_map, (str, os.PathLike)):
        return read_color_map(color_map)
    return parse_color_map(color_map)


def _apply_color_map(rgb: np.ndarray, color_map: Any, path: Path) -> np.ndarray:
    """Vectorised colour -> class id conversion of an (H, W, 3+) uint8 image."""
    table = parse_color_map(color_map)
    keys = np.array(sorted((r << 16) | (g << 8) | b for r, g, b in table), dtype=np.int32)
    ids = np.array([table[(k >> 16, (k >> 8) & 255, k & 255)] for k in keys.tolist()], dtype=np.int64)
    if len(ids):  # narrowest dtype that holds the ids (output is as large as the image)
        top = int(ids.max())
        ids = ids.astype(np.uint8 if top < 256 else np.uint16 if top < 65536 else np.int32 if top < 2**31 else np.int64)
    c = rgb[..., :3].astype(np.int32)
    codes = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
    pos = np.clip(np.searchsorted(keys, codes), 0, max(len(keys) - 1, 0))
    found = keys[pos] == codes if len(keys) else np.zeros(codes.shape, dtype=bool)
    if not found.all():
        uniq, counts = np.unique(codes[~found], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        shown = ", ".join(
            f"({u >> 16}, {(u >> 8) & 255}, {u & 255}): {n} px"
            for u, n in zip(uniq[order][:5].tolist(), counts[order][:5].tolist())
        )
        more = f" and {len(uniq) - 5} more colours" if len(uniq) > 5 else ""
        raise InputError(
            f"{path}: {len(uniq)} colour(s) are not in color_map: {shown}{more}. "
            "Add them to the colour -> class id mapping."
        )
    return ids[pos]



apply_color_map = _apply_color_map
