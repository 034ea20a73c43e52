"""THE JSON input reader (boxes, colour maps, baselines, results): every failure is one :class:`InputError`.

Torch-free and below every other reader of ``pipeline/`` (``io``, ``color_map``, ``checks``, ``summary``
import it; it imports only ``errors``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

from ..errors import InputError

__all__ = ["read_json"]


def _no_duplicate_keys(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise InputError(f"duplicate key {k!r} in a JSON object")
        out[k] = v
    return out


def read_json(path: Union[str, os.PathLike], what: str, object_pairs_hook=None) -> Any:
    """Parse a JSON input file (boxes, colour map, baseline result); every failure is an :class:`InputError`
    naming ``what`` and the path (missing, a directory, unreadable, invalid JSON with line and column)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} not found: {p} does not exist")
    if p.is_dir():
        raise InputError(f"{what} {p} is a directory, expected a JSON file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {what} {p} ({type(e).__name__}: {e})") from None
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as e:
        raise InputError(f"{what} {p} is not valid JSON: invalid JSON at line {e.lineno}, column {e.colno}: "
                         f"{e.msg}") from None
    except InputError as e:
        raise InputError(f"{p}: {e}") from None
