"""Bounding boxes and label-map input checks shared by the label-map metrics.

A box ``B = {b, l^t}`` (paper Sec. 3) is stored here as its corner coordinates ``b = (x0, y0, x1, y1)``
in pixels, with ``x1`` / ``y1`` exclusive, so that the box region is ``seg[y0:y1, x0:x1]`` and the
mask map ``M`` of Sec. 3.1 is 1 exactly on that region. The target label ``l^t`` travels separately.

This module also holds the small input-validation helpers (label maps as 2-D integer numpy arrays or
torch tensors, integer labels) used by :mod:`.metrics`, :mod:`.target_object` and
:mod:`.context`. It never imports torch: tensors are recognised by duck typing.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InputError

__all__ = ["Box", "BoxLike", "box_mask", "box_masks", "as_label_map", "as_label", "as_labels", "check_batch_size"]


def _is_tensor(x: Any) -> bool:
    """True for a torch tensor (checked without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "cpu")


def _to_numpy(x: Any) -> np.ndarray:
    """numpy view/copy of a numpy array or torch tensor (inputs are never modified)."""
    if _is_tensor(x):
        return np.asarray(x.detach().cpu())
    return np.asarray(x)


def _coord(v: Any, name: str, where: str) -> int:
    """One box coordinate as a Python int: ints and integral floats; never bools or strings."""
    if _is_tensor(v) or isinstance(v, np.ndarray):
        arr = _to_numpy(v)
        if arr.ndim != 0:
            raise InputError(f"{where}: coordinate {name} must be a number, got an array of shape {arr.shape}")
        v = arr.item()
    if isinstance(v, (bool, np.bool_)):
        raise InputError(f"{where}: coordinate {name} must be an integer, got the bool {v!r}")
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        f = float(v)
        if np.isfinite(f) and f.is_integer():
            return int(f)
        raise InputError(
            f"{where}: coordinate {name}={v!r} is not an integer; box coordinates are whole pixels "
            "(round them, e.g. x0=floor, x1=ceil)"
        )
    raise InputError(f"{where}: coordinate {name} must be an integer, got {type(v).__name__} {v!r}")


@dataclass(frozen=True)
class Box:
    """A bounding box ``b = (x0, y0, x1, y1)`` in pixels, ``x1``/``y1`` exclusive (paper Sec. 3, 3.1).

    The region is ``seg[y0:y1, x0:x1]`` (``seg[box.slices]``), i.e. the pixels where the mask map ``M``
    of Sec. 3.1 equals 1. Construction only checks that the four values are integers; use
    :meth:`validate` to check the box against an image.
    """

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        for name in ("x0", "y0", "x1", "y1"):
            object.__setattr__(self, name, _coord(getattr(self, name), name, "Box"))

    @property
    def height(self) -> int:
        """Number of rows ``y1 - y0`` (may be <= 0 for an invalid box)."""
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        """Number of columns ``x1 - x0`` (may be <= 0 for an invalid box)."""
        return self.x1 - self.x0

    @property
    def area(self) -> int:
        """Number of pixels in the box (``sum(M)`` of Sec. 3.1); 0 for an empty box."""
        return max(self.height, 0) * max(self.width, 0)

    @property
    def slices(self) -> Tuple[slice, slice]:
        """``(slice(y0, y1), slice(x0, x1))`` so that ``seg[box.slices]`` is the box region."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def as_tuple(self) -> Tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``."""
        return self.x0, self.y0, self.x1, self.y1

    @classmethod
    def coerce(cls, b: "BoxLike", where: str = "box") -> "Box":
        """Convert ``b`` to a :class:`Box` (paper Sec. 3: box corner coordinates ``b``).

        Accepts a :class:`Box` or a length-4 sequence / array / tensor ``(x0, y0, x1, y1)`` of integers
        (integral floats such as ``3.0`` are accepted). Bools, non-integral floats, strings and
        sequences of another length raise :class:`InputError` mentioning ``where``.
        """
        if isinstance(b, Box):
            return b
        if isinstance(b, (str, bytes, dict)) or b is None:
            raise InputError(
                f"{where}: expected a box (x0, y0, x1, y1), got {type(b).__name__} {b!r}"
            )
        if _is_tensor(b) or isinstance(b, np.ndarray):
            arr = _to_numpy(b)
            if arr.ndim != 1:
                raise InputError(f"{where}: expected 4 box coordinates (x0, y0, x1, y1), got shape {arr.shape}")
            b = arr.tolist()
        try:
            vals = list(b)  # type: ignore[arg-type]
        except TypeError:
            raise InputError(
                f"{where}: expected a box (x0, y0, x1, y1), got {type(b).__name__} {b!r}"
            ) from None
        if len(vals) != 4:
            raise InputError(
                f"{where}: a box needs exactly 4 coordinates (x0, y0, x1, y1), got {len(vals)}: {vals!r}"
            )
        names = ("x0", "y0", "x1", "y1")
        return cls(*(_coord(v, n, where) for v, n in zip(vals, names)))

    def validate(self, shape_hw: Sequence[int], where: str = "") -> None:
        """Check that the box is non-empty and inside an image of shape ``(H, W)`` (paper Sec. 3.1, M).

        Requires ``0 <= x0 < x1 <= W`` and ``0 <= y0 < y1 <= H``. Raises :class:`InputError` naming
        ``where`` (e.g. ``"box 3 of 'a/b.png'"``), the box and the image size.
        """
        h, w = int(shape_hw[0]), int(shape_hw[1])
        what = where or "box"
        coords = f"(x0={self.x0}, y0={self.y0}, x1={self.x1}, y1={self.y1})"
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise InputError(
                f"{what}: box {coords} is empty (need x1 > x0 and y1 > y0; x1/y1 are exclusive) "
                f"for an image of width {w} and height {h}"
            )
        if self.x0 < 0 or self.y0 < 0 or self.x1 > w or self.y1 > h:
            raise InputError(
                f"{what}: box {coords} is outside the image of width {w} and height {h} "
                f"(need 0 <= x0 < x1 <= {w} and 0 <= y0 < y1 <= {h}; x1/y1 are exclusive)"
            )


BoxLike = Union[Box, Sequence[int], np.ndarray]


def box_mask(shape_hw: Sequence[int], box: BoxLike) -> np.ndarray:
    """Mask map ``M`` of paper Sec. 3.1: bool (H, W), True exactly inside ``box``.

    The box is validated against ``shape_hw`` first.
    """
    b = Box.coerce(box)
    h, w = int(shape_hw[0]), int(shape_hw[1])
    b.validate((h, w))
    m = np.zeros((h, w), dtype=bool)
    m[b.slices] = True
    return m


def _array_or_list(values: Any, what: str, expected: str) -> Union[np.ndarray, list]:
    """``values`` as a numpy array (from an array / tensor) or a list (from any other iterable).

    Strings, bytes and non-iterables raise :class:`InputError`: ``"{what}: expected {expected}, got ..."``.
    """
    if _is_tensor(values) or isinstance(values, np.ndarray):
        return _to_numpy(values)
    if not isinstance(values, (str, bytes)):
        try:
            return list(values)
        except TypeError:
            pass
    raise InputError(f"{what}: expected {expected}, got {type(values).__name__} {values!r:.60}")


def _per_sample(values: Any, n: Optional[int], what: str, one: str, from_array, from_sequence) -> np.ndarray:
    """Per-sample values (``what`` = "boxes" or "labels", ``one`` its singular) as int64, one row per sample.

    ``values`` is a numpy array / torch tensor (converted by ``from_array``) or any sequence
    (converted item by item by ``from_sequence``). With ``n`` given, the number of rows must be ``n``.
    """
    data = _array_or_list(values, what, f"a sequence of {what}")
    out = from_array(data) if isinstance(data, np.ndarray) else from_sequence(data)
    if n is not None and out.shape[0] != n:
        raise InputError(f"got {out.shape[0]} {what} for {n} label maps; give exactly one {one} per map")
    return out


def _boxes_from_array(arr: np.ndarray) -> np.ndarray:
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InputError(f"boxes: expected an (N, 4) array of (x0, y0, x1, y1), got shape {arr.shape}")
    if arr.dtype.kind == "b":
        raise InputError("boxes: box coordinates must be integers, got a bool array")
    if arr.dtype.kind == "f":
        bad = ~(np.isfinite(arr) & (np.floor(arr) == arr))
        if bad.any():
            i = int(np.argwhere(bad)[0, 0])
            raise InputError(f"box {i}: coordinates {arr[i].tolist()} are not integers")
    elif arr.dtype.kind not in "iu":
        raise InputError(f"boxes: box coordinates must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _boxes_from_sequence(seq: list) -> np.ndarray:
    # fast path: plain (x0, y0, x1, y1) tuples / lists of Python ints (what JSON and most callers give)
    if all(type(b) in (tuple, list) and len(b) == 4 for b in seq) and all(type(v) is int for b in seq for v in b):
        try:
            return np.array(seq, dtype=np.int64).reshape(-1, 4)
        except OverflowError:
            pass
    return np.array([Box.coerce(b, where=f"box {i}").as_tuple() for i, b in enumerate(seq)],
                    dtype=np.int64).reshape(-1, 4)


def _coerce_boxes(boxes: Any, n: Optional[int]) -> np.ndarray:
    """(N, 4) int64 array of box coordinates from an (N, 4) array / tensor or a sequence of boxes."""
    return _per_sample(boxes, n, "boxes", "box", _boxes_from_array, _boxes_from_sequence)


def _labels_from_array(arr: np.ndarray) -> np.ndarray:
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise InputError(
            f"labels: expected a 1-D integer array of class ids, got dtype {arr.dtype} and shape {arr.shape}"
        )
    if arr.size and int(arr.min()) < 0:
        i = int(np.argmin(arr))
        raise InputError(f"labels[{i}]: must be a non-negative class id, got {int(arr[i])}. {NEGATIVE_IDS_HINT}")
    return arr.astype(np.int64)


def as_labels(labels: Any, n: int) -> np.ndarray:
    """(N,) int64 target labels ``l^t`` (paper Sec. 3), one per sample, from an integer array / tensor or a
    sequence of ints; each item is checked like :func:`as_label`."""
    return _per_sample(labels, n, "labels", "label", _labels_from_array, lambda seq: np.array(
        [as_label(v, f"labels[{i}]") for i, v in enumerate(seq)], dtype=np.int64))


def _validate_boxes_array(boxes: np.ndarray, shape_hw: Sequence[int]) -> None:
    """Vectorised :meth:`Box.validate` for an (N, 4) array; the message names the first bad box."""
    h, w = int(shape_hw[0]), int(shape_hw[1])
    x0, y0, x1, y1 = boxes.T
    bad = (x1 <= x0) | (y1 <= y0) | (x0 < 0) | (y0 < 0) | (x1 > w) | (y1 > h)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        Box(*boxes[i].tolist()).validate((h, w), where=f"box {i}")


def box_masks(shape_hw: Sequence[int], boxes: Any) -> np.ndarray:
    """Batched mask maps ``M`` (paper Sec. 3.1): bool (N, H, W) built by broadcasting coordinates.

    ``boxes`` is an (N, 4) array / tensor or a sequence of boxes; each is validated against
    ``shape_hw``.
    """
    h, w = int(shape_hw[0]), int(shape_hw[1])
    arr = _coerce_boxes(boxes, None)
    _validate_boxes_array(arr, (h, w))
    return _masks_from_array(arr, h, w)


def _masks_from_array(arr: np.ndarray, h: int, w: int) -> np.ndarray:
    ys = np.arange(h)[None, :, None]
    xs = np.arange(w)[None, None, :]
    x0, y0, x1, y1 = (arr[:, k, None, None] for k in range(4))
    return (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)


def as_label_map(x: Any, name: str = "label map", ndim: int = 2) -> np.ndarray:
    """Validate a label map (paper Sec. 3: pixel value = semantic class) and return it as numpy.

    Accepts a numpy array or torch tensor of any integer dtype with ``ndim`` dimensions (2 for one
    map, 3 for an (N, H, W) stack) and non-negative values. Float, bool and other dtypes, and negative
    class ids (:data:`NEGATIVE_IDS_HINT`), raise :class:`InputError`. The input is not copied when it
    already is a numpy array.
    """
    if x is None:
        raise InputError(f"{name}: expected a label map (2-D integer array), got None")
    try:
        arr = _to_numpy(x)
    except Exception as e:  # noqa: BLE001 - anything numpy cannot take
        raise InputError(f"{name}: cannot be converted to an array ({e})") from None
    if arr.dtype == object:
        raise InputError(f"{name}: expected an integer array, got {type(x).__name__} of Python objects")
    shape_txt = "(H, W)" if ndim == 2 else "(N, H, W)"
    if arr.ndim != ndim:
        hint = ""
        if ndim == 2 and arr.ndim == 3 and arr.shape[-1] in (3, 4):
            hint = (" It looks like an RGB(A) colour image; convert colours to class ids first "
                    "(e.g. sem_metric.read_label_map(path, color_map={(r, g, b): id})).")
        elif ndim == 2 and arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
            hint = " Squeeze the channel axis first (e.g. seg[0] or seg[..., 0])."
        raise InputError(f"{name}: expected a {ndim}-D label map {shape_txt}, got shape {tuple(arr.shape)}.{hint}")
    if arr.dtype.kind == "f":
        raise InputError(
            f"{name}: label maps must have an integer dtype (pixel = class id), got {arr.dtype}. "
            "If these are probabilities/logits take argmax over classes first; if they are integral "
            "class ids stored as floats, convert with .astype(np.int64) / .long()."
        )
    if arr.dtype.kind not in "iu":
        raise InputError(
            f"{name}: label maps must have an integer dtype (pixel = class id), got {arr.dtype}"
        )
    if arr.dtype.kind == "i" and arr.size:  # unsigned maps (e.g. PNGs) need no scan
        # a broadcast stack (stride 0, e.g. one map repeated for its N boxes) is scanned once, not N times
        distinct = arr[0] if arr.ndim == 3 and arr.strides[0] == 0 else arr
        lowest = int(distinct.min())
        if lowest < 0:
            raise InputError(f"{name}: class ids must be non-negative, found {lowest}. {NEGATIVE_IDS_HINT}")
    return arr


#: The policy for negative class ids, cited by every error that enforces it.
NEGATIVE_IDS_HINT = (
    "sem-metric rejects negative class ids everywhere (label maps, box labels, colour maps, Python API): "
    "map ignore / void pixels to a non-negative id first (e.g. seg[seg < 0] = 255)"
)


def as_label(label: Any, name: str = "label") -> int:
    """Validate a target label ``l^t`` (paper Sec. 3): a non-negative Python / numpy int or 0-d integer
    tensor, not a bool."""
    if _is_tensor(label) or isinstance(label, np.ndarray):
        arr = _to_numpy(label)
        if arr.ndim != 0 or arr.dtype.kind not in "iu":
            raise InputError(f"{name}: expected an integer class id, got an array of dtype {arr.dtype} and shape {arr.shape}")
        value = int(arr.item())
    elif isinstance(label, (bool, np.bool_)) or not isinstance(label, numbers.Integral):
        raise InputError(f"{name}: expected an integer class id, got {type(label).__name__} {label!r}")
    else:
        value = int(label)
    if value < 0:
        raise InputError(f"{name}: must be a non-negative class id, got {value}. {NEGATIVE_IDS_HINT}")
    return value


def check_batch_size(batch_size: Any, what: str = "batch_size") -> int:
    """THE check of a classifier batch size (how many objects F of Eq. 10 sees per forward pass), for every
    entry point (``SISMMetrics``, ``SemOptions``, the Sem / SFD functions, the classifier stage): an integer
    >= 1 of any integer type (``np.int64(32)`` is accepted; bool, float and str are refused with
    :class:`InputError`). Returns it as an int. Torch-free, so label-map-only callers can run it."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise InputError(f"{what} must be an integer >= 1, got {batch_size!r}")
    return int(batch_size)
