"""Reading label maps, pairing prediction / ground-truth files and reading box annotations.

Label maps are the single-channel segmentation maps of paper Sec. 3 (pixel value = semantic class id);
boxes are the ``B = {b, l^t}`` of Sec. 3 (corner coordinates + target label) that define the
inpainted area in which the Sec. 4.1 metrics and Sem (Eq. 10) are computed.

Nothing here imports torch. :func:`read_boxes` never opens images; check boxes against an image
with :func:`validate_boxes` once its size is known.
"""
from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from ..errors import InputError
from ..labelmap.box import Box, as_label, as_label_map
from .color_map import (ColorMap, _apply_color_map, load_color_map, parse_color_map,  # noqa: F401 (public)
                        read_color_map)
from .json_file import _no_duplicate_keys, read_json  # noqa: F401 (public: io.read_json)

__all__ = ["read_label_map", "read_rgb_image", "parse_color_map", "read_color_map", "load_color_map", "pair_files",
           "BoxSpec", "parse_box_entry", "parse_boxes", "read_boxes", "validate_boxes", "read_json", "LABEL_EXTENSIONS"]

PathLike = Union[str, "os.PathLike[str]"]

#: file extensions recognised as label maps by :func:`pair_files` (compared case-insensitively)
LABEL_EXTENSIONS: Tuple[str, ...] = (".png", ".npy")

_SINGLE_CHANNEL_MODES = ("1", "L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N")
_CONVERT_HINT = (
    "Save the class ids as a single-channel image instead: a PNG in mode 'L' (ids < 256), 'I;16' "
    "(ids < 65536) or 'P' (palette index = class id, the palette colours are ignored), or a 2-D "
    "integer .npy; or pass a colour -> class id mapping, color_map={(r, g, b): id}."
)
#: the same advice for the command line (sem-score's option instead of the Python argument)
_CONVERT_HINT_CLI = _CONVERT_HINT.replace(
    "color_map={(r, g, b): id}", '--color-map colors.json (a JSON object {"#rrggbb": id, ...})')


def _not_a_label_map(message: str) -> InputError:
    """An InputError ending with the how-to-convert advice, phrased for Python and for the CLI."""
    return InputError(f"{message} {_CONVERT_HINT}", cli_message=f"{message} {_CONVERT_HINT_CLI}")


def _as_path(path: Any, what: str) -> Path:
    if isinstance(path, (str, os.PathLike)):
        return Path(path)
    raise InputError(f"{what}: expected a file path, got {type(path).__name__} {path!r}")


# --------------------------------------------------------------------------- colour maps (pipeline/color_map.py)


# --------------------------------------------------------------------------- label maps
def _decode(p: Path) -> Tuple[np.ndarray, str]:
    """The one image / .npy decoder: ``(array, mode)`` where mode is Pillow's (``"npy"`` for .npy)."""
    if not p.exists():
        raise InputError(f"label map not found: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a directory, expected a label map file (.png or .npy)")
    if p.suffix.lower() == ".npy":
        return _read_npy(p), "npy"
    try:
        with Image.open(p) as im:
            im.load()
            mode, fmt = im.mode, im.format
            arr = np.array(im)
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad files
        raise InputError(
            f"cannot read {p} as a label map: not a readable image or .npy file ({type(e).__name__}: {e})"
        ) from None
    if fmt in ("JPEG", "MPO", "WEBP") and mode not in ("I", "I;16"):
        raise InputError(
            f"{p}: {fmt} is a lossy format that alters class ids at object boundaries; "
            "store label maps as PNG (mode L, P or I;16) or .npy"
        )
    return arr, mode


def _native(arr: np.ndarray) -> np.ndarray:
    """``arr`` in native byte order (a no-op for the usual little-endian data)."""
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def read_label_map(path: PathLike, color_map: Optional[Mapping[Any, int]] = None) -> np.ndarray:
    """Read a label map (paper Sec. 3: single-channel map, pixel = class id) as a 2-D integer array (H, W).

    The array keeps the narrowest integer dtype that holds the file's ids, so reading costs about a
    plain decode: ``uint8`` for modes ``L``, ``P`` and ``1``, ``uint16`` for ``I;16*``, ``int32`` for
    ``I``, the file's own integer dtype for ``.npy`` (native byte order; ``uint64`` becomes ``int64``),
    and for colour maps the narrowest of uint8 / uint16 / int32 / int64 that holds the mapping's ids.
    Every metric accepts any integer dtype; convert with ``.astype(np.int64)`` before arithmetic that
    could overflow it.

    Supported: PNG (or other lossless formats Pillow reads, e.g. TIFF) in mode ``L``, ``P`` (the
    palette *index* is the class id; palette colours are ignored), ``I;16`` (any byte order), ``I``
    and ``1``; ``.npy`` files holding a 2-D integer array (loaded without pickle).
    RGB / RGBA images are refused with a how-to-convert message unless ``color_map``
    ``{(r, g, b): class_id}`` is given (keys may also be ``"#rrggbb"`` or ``"r,g,b"``); the alpha
    channel is ignored and colours missing from the mapping are an error listing up to 5 of them with
    their pixel counts. ``color_map`` is not used for single-channel images, which already hold ids.
    Missing, unreadable or non-image files raise :class:`InputError` naming the path.
    """
    p = _as_path(path, "label map")
    arr, mode = _decode(p)
    if mode == "npy":
        return arr
    if mode in _SINGLE_CHANNEL_MODES:
        if arr.dtype == np.bool_:  # mode "1"
            arr = arr.astype(np.uint8)  # Pillow stores True as byte 255: convert, do not view
        # 2-D, integer, non-negative (only mode I is signed and needs the scan); the narrowest dtype is kept:
        # uint8 (L, P, 1), uint16 (I;16*), int32 (I), no widening
        return _native(as_label_map(arr, str(p)))
    if mode in ("RGB", "RGBA"):
        if color_map is None:
            raise _not_a_label_map(f"{p} is an {mode} colour image, not a label map of class ids.")
        return _apply_color_map(arr, color_map, p)
    if mode in ("LA", "PA"):
        raise InputError(
            f"{p}: mode {mode} has an alpha channel; save the label map without it as mode "
            f"{mode[0]} (e.g. Image.open(path).convert('{mode[0]}') keeps the class ids)"
        )
    if mode == "F":
        raise _not_a_label_map(f"{p}: float image (mode F); label maps must hold integer class ids.")
    raise _not_a_label_map(f"{p}: unsupported image mode {mode!r} for a label map.")


def read_rgb_image(path: PathLike) -> np.ndarray:
    """Read an RGB(A) PNG whose colours *encode* class ids (e.g. full ADE20K ``*_seg.png``, Sec. 4.1
    datasets) as int64 (H, W, 3), with the same decoder and errors as :func:`read_label_map`; the caller
    decodes the colours. Single-channel maps are refused: read them with :func:`read_label_map`."""
    p = _as_path(path, "label map")
    arr, mode = _decode(p)
    if mode not in ("RGB", "RGBA"):
        raise InputError(f"{p}: expected an RGB image whose colours encode class ids, got mode {mode!r}")
    return arr[..., :3].astype(np.int64)


def _read_npy(p: Path) -> np.ndarray:
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise InputError(
                f"{p}: the .npy holds Python objects (object dtype), which are not loaded for safety; "
                "save a 2-D integer array, e.g. np.save(path, seg.astype(np.int64))"
            ) from None
        raise InputError(f"cannot read {p} as a .npy label map ({e})") from None
    except Exception as e:  # noqa: BLE001
        raise InputError(f"cannot read {p} as a .npy label map ({type(e).__name__}: {e})") from None
    if not isinstance(arr, np.ndarray):
        close = getattr(arr, "close", None)
        if close is not None:
            close()
        raise InputError(f"{p}: is an .npz archive, not a .npy array; save a single 2-D integer array with np.save")
    arr = as_label_map(arr, str(p))
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8:  # the only dtype whose ids may not fit in int64
        if arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            raise InputError(f"{p}: class ids larger than {np.iinfo(np.int64).max} are not supported")
        return arr.astype(np.int64)
    return _native(arr)


# --------------------------------------------------------------------------- pairing files
def _list_label_files(root: Path, side: str) -> Dict[str, Path]:
    if not root.exists():
        raise InputError(f"{side} directory not found: {root}")
    if not root.is_dir():
        raise InputError(f"{side} path is not a directory: {root}")
    files: Dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in LABEL_EXTENSIONS:
                continue
            full = Path(dirpath) / name
            files[full.relative_to(root).as_posix()] = full
    if not files:
        raise InputError(
            f"{side} directory {root} contains no label maps (files ending in "
            f"{' or '.join(LABEL_EXTENSIONS)}, searched recursively)"
        )
    return files


def _listing(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def pair_files(
    pred_dir: PathLike, gt_dir: PathLike, allow_unmatched: bool = False
) -> Tuple[List[Tuple[str, str, str]], List[Dict[str, str]]]:
    """Pair predicted and ground-truth label maps (``S^`` and ``S^c`` of paper Sec. 3) by relative path.

    Both directories are searched recursively for ``.png`` / ``.npy`` files (hidden files and
    directories are skipped). A prediction pairs with the ground truth at the same relative POSIX path,
    extension included (``a/x.npy`` pairs only with ``a/x.npy``).

    Returns ``(pairs, skipped)``: ``pairs`` is the sorted list of ``(relpath, pred_path, gt_path)``
    (paths as str); ``skipped`` lists ``{"file": relpath, "reason": "missing in gt" | "missing in pred"}``.
    Unmatched files raise :class:`InputError` listing them unless ``allow_unmatched``; missing or
    empty directories, or no pair at all, always raise.
    """
    pred_root = _as_path(pred_dir, "pred_dir")
    gt_root = _as_path(gt_dir, "gt_dir")
    preds = _list_label_files(pred_root, "prediction")
    gts = _list_label_files(gt_root, "ground-truth")
    common = sorted(set(preds) & set(gts))
    only_pred = sorted(set(preds) - set(gts))
    only_gt = sorted(set(gts) - set(preds))
    if (only_pred or only_gt) and not allow_unmatched:
        parts = []
        if only_pred:
            parts.append(f"{len(only_pred)} file(s) in {pred_root} have no ground truth in {gt_root}: {_listing(only_pred)}")
        if only_gt:
            parts.append(f"{len(only_gt)} file(s) in {gt_root} have no prediction in {pred_root}: {_listing(only_gt)}")
        stems_gt = {os.path.splitext(r)[0]: r for r in only_gt}
        ext_mismatch = [(r, stems_gt[os.path.splitext(r)[0]]) for r in only_pred if os.path.splitext(r)[0] in stems_gt]
        if ext_mismatch:
            a, b = ext_mismatch[0]
            parts.append(
                f"note: {len(ext_mismatch)} name(s) differ only by extension (e.g. {a} vs {b}); "
                "files pair by relative path including the extension"
            )
        raise InputError(
            "; ".join(parts)
            + ". Files are paired by relative path. Fix the file names, or pass --allow-unmatched "
            "(allow_unmatched=True) to skip unmatched files."
        )
    if not common:
        raise InputError(
            f"no file in {pred_root} has a counterpart with the same relative path in {gt_root} "
            f"(predictions: {_listing(sorted(preds), 3)}; ground truths: {_listing(sorted(gts), 3)})"
        )
    pairs = [(rel, str(preds[rel]), str(gts[rel])) for rel in common]
    skipped = sorted(
        [{"file": r, "reason": "missing in gt"} for r in only_pred]
        + [{"file": r, "reason": "missing in pred"} for r in only_gt],
        key=lambda d: (d["file"], d["reason"]),
    )
    return pairs, skipped


# --------------------------------------------------------------------------- boxes
@dataclass(frozen=True)
class BoxSpec:
    """One annotated box ``B = {b, l^t}`` of paper Sec. 3: corner coordinates and target label."""

    box: Box
    label: int


def _normalise_key(key: str, path: Path) -> str:
    k = key.strip().replace("\\", "/")
    pp = PurePosixPath(k)
    if not k or pp.is_absolute() or ".." in pp.parts or str(pp) == ".":
        raise InputError(
            f"{path}: file key {key!r} must be a path relative to the prediction / ground-truth "
            "directories, e.g. \"city/0001.png\""
        )
    return str(pp)


_ENTRY_FORM = '{"bbox": [x0, y0, x1, y1], "label": id}'
_BOXES_FORM = '{"rel/path.png": [{"bbox": [x0, y0, x1, y1], "label": 26}]}'


def parse_box_entry(entry: Any, where: str) -> BoxSpec:
    """One box ``B = {b, l^t}`` (paper Sec. 3) from ``{"bbox": [x0, y0, x1, y1], "label": id}``, a
    :class:`BoxSpec`, or (in Python only) a ``(box, label)`` tuple: the one box-entry parser, used for
    boxes.json and for :func:`sem_metric.pipeline.evaluate.evaluate_samples`.

    An entry has exactly the keys ``bbox`` and ``label`` (an unknown key, e.g. the typo ``"lable"``, is an
    error naming it). Coordinates are whole, non-negative pixels with ``x1 > x0`` and ``y1 > y0`` (x1/y1
    exclusive); the label is a non-negative integer class id (not a bool). Errors name ``where`` (file
    key and box index).
    """
    if isinstance(entry, BoxSpec):
        bbox, label = entry.box, entry.label
    elif isinstance(entry, Mapping):
        unknown = [k for k in entry if k not in ("bbox", "label")]
        if unknown:
            hint = {"lable": "label", "labels": "label", "box": "bbox", "bboxes": "bbox", "class": "label",
                    "category_id": "label"}
            typos = [f"{k!r} -> {hint[str(k).lower()]!r}" for k in unknown if str(k).lower() in hint]
            raise InputError(f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)} in a box entry; "
                             f"an entry is exactly {_ENTRY_FORM}" + (f" (did you mean {', '.join(typos)}?)" if typos else ""))
        missing = [k for k in ("bbox", "label") if k not in entry]
        if missing:
            raise InputError(f"{where}: missing key(s) {', '.join(repr(m) for m in missing)}; expected {_ENTRY_FORM}")
        bbox, label = entry["bbox"], entry["label"]
    elif isinstance(entry, tuple) and len(entry) == 2:
        bbox, label = entry
    else:
        raise InputError(f"{where}: expected an object {_ENTRY_FORM}, got {entry!r}")
    if isinstance(bbox, (str, bytes, Mapping, numbers.Number)) or bbox is None:
        raise InputError(f"{where}: \"bbox\" must be a list [x0, y0, x1, y1], got {bbox!r}")
    box = Box.coerce(bbox, where=where)
    if min(box.as_tuple()) < 0:
        raise InputError(f"{where}: negative coordinate in bbox {list(box.as_tuple())}; coordinates are pixels >= 0")
    if box.x1 <= box.x0 or box.y1 <= box.y0:
        raise InputError(
            f"{where}: empty bbox {list(box.as_tuple())}; need x1 > x0 and y1 > y0 (format [x0, y0, x1, y1] "
            "with x1/y1 exclusive, not [x, y, width, height])"
        )
    lab = as_label(label, f"{where}: \"label\"")
    if lab < 0:
        raise InputError(f"{where}: \"label\" must be a non-negative class id, got {lab}")
    return BoxSpec(box, lab)


def parse_boxes(data: Any, where: str, key=None) -> Dict[str, List[BoxSpec]]:
    """The boxes of every file / sample from ``{name: [entry, ...]}`` (entries as in :func:`parse_box_entry`).

    ``key(name) -> str`` normalises names (boxes.json: relative POSIX paths); two names normalising to
    the same key are an error. ``where`` prefixes messages (e.g. the boxes.json path).
    """
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: top level must be an object mapping file paths to box lists, e.g. {_BOXES_FORM}")
    out: Dict[str, List[BoxSpec]] = {}
    for name, entries in data.items():
        nkey = str(name) if key is None else key(name)
        if nkey in out:
            raise InputError(f"{where}: file keys {name!r} and another key both name {nkey!r}")
        if isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, (list, tuple)):
            raise InputError(
                f"{where}: file {name!r}: expected a list of boxes, got {type(entries).__name__}, e.g. {_BOXES_FORM}"
            )
        out[nkey] = [parse_box_entry(e, f"{where}: file {name!r}, box {i}") for i, e in enumerate(entries)]
    return out


def read_boxes(path: PathLike) -> Dict[str, List[BoxSpec]]:
    """Read the boxes ``B = {b, l^t}`` (paper Sec. 3) of every file from a JSON file.

    Format: ``{"rel/path.png": [{"bbox": [x0, y0, x1, y1], "label": 26}, ...], ...}`` with pixel
    coordinates, ``x1``/``y1`` exclusive; keys are relative POSIX paths as returned by
    :func:`pair_files` (``./`` prefixes and backslashes are normalised). Structural problems (invalid
    JSON -> line/column, missing or unknown keys such as a typo ``"lable"``, wrong types, non-integer or
    negative coordinates, empty boxes, bool / negative labels) raise :class:`InputError` naming the file
    key and box index. Images are not opened: use :func:`validate_boxes` for bounds.
    """
    p = _as_path(path, "boxes file")
    data = read_json(p, "boxes file", object_pairs_hook=_no_duplicate_keys)
    return parse_boxes(data, str(p), key=lambda k: _normalise_key(k, p))


def validate_boxes(boxes: Sequence[Union[BoxSpec, Box]], file: str, shape_hw: Sequence[int]) -> None:
    """Check every box of one file against its image of shape ``(H, W)`` (paper Sec. 3.1: mask ``M``).

    Raises :class:`InputError` naming ``file``, the box index and the image size when a box is empty
    or not inside the image.
    """
    for i, spec in enumerate(boxes):
        box = spec.box if isinstance(spec, BoxSpec) else Box.coerce(spec, where=f"file {file!r}, box {i}")
        box.validate(shape_hw, where=f"file {file!r}, box {i}")
