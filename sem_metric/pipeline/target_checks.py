"""Id-space checks on the target labels of the boxes: the mistakes that would still score perfectly.

In SISM (paper Sec. 3) the target l^t of a box is an object that exists in the ground truth S^c. Two
label mistakes break that and yet give tIOU 1.0 and Sem 0 for an erased object:

* **absent target**: the ground-truth box region has no pixel of the label (e.g. Cityscapes trainId 13
  for car on labelIds maps, where 13 is ``fence``), or the ground truth is an instance map
  (Cityscapes ``*_instanceIds.png``: ids ``class * 1000 + instance``), whose ids never equal a class id;
* **stuff target**: the label exists in the box but names a class without instances (trainId 11 =
  person given on labelIds maps is labelId 11 = ``building``, present in every person box). This needs
  the class names (``--class-names`` or a task), which say what is stuff
  (:data:`sem_metric.pipeline.class_names.STUFF_IDS`).

Both refuse the run (:class:`InputError`, exit 2) naming the boxes, unless explicitly allowed.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..errors import InputError
from .class_names import ClassNames

__all__ = ["LISTED", "listing", "instance_map_like", "absent_target_error", "stuff_targets", "check_stuff_targets"]

#: boxes named in a message / recorded in metadata (``first``)
LISTED = 5


def listing(entries: Sequence[Mapping[str, Any]], names: Optional[ClassNames] = None) -> str:
    """``'a.png' box 0 (label 11 building), ...`` for the first :data:`LISTED` entries."""
    def one(a: Mapping[str, Any]) -> str:
        label = names.label(a["label"]) if names is not None else a["label"]
        return f"{a['file']!r} box {a['box_index']} (label {label})"
    shown = ", ".join(one(a) for a in entries[:LISTED])
    return shown + (f" and {len(entries) - LISTED} more" if len(entries) > LISTED else "")


def instance_map_like(gt_region: np.ndarray, label: int) -> bool:
    """Whether a ground-truth box region looks like a Cityscapes instanceIds map for ``label``.

    True when it holds ids ``label * 1000 + k`` (k < 1000): the encoding of ``*_gtFine_instanceIds.png``.
    """
    lo, hi = int(label) * 1000, int(label) * 1000 + 1000
    if lo < 1000 or gt_region.size == 0 or int(gt_region.max()) < lo:
        return False
    return bool(((gt_region >= lo) & (gt_region < hi)).any())


def absent_target_error(absent: Sequence[Mapping[str, Any]], samples: int) -> InputError:
    """The refusal of boxes whose ground-truth region has no pixel of their label (Sec. 3)."""
    head = (f"{len(absent)} of {samples} box(es) have no pixel of their target label inside the box in the "
            f"ground truth: {listing(absent)}. In SISM the target object always exists in the ground truth, so ")
    tail = ("Fix the labels, or pass --allow-absent-target (allow_absent_target=True) to score these boxes "
            "anyway.")
    if any(a.get("instance_ids") for a in absent):
        return InputError(
            head + "this is an id-space mistake: the ground-truth box holds ids label * 1000 + instance "
            "(e.g. 26001 for the first car), the encoding of a Cityscapes *_gtFine_instanceIds.png map, "
            "whose ids never equal a class id. Score against the *_gtFine_labelIds.png maps (class ids "
            "0..33) instead. " + tail)
    return InputError(
        head + "this is almost always an id-space mistake: box labels must be class ids of the label maps "
        "themselves (e.g. Cityscapes labelIds such as 26 for car, not trainIds such as 13). " + tail)


def stuff_targets(specs: Mapping[str, Sequence[Any]], names: Optional[ClassNames]) -> List[Dict[str, Any]]:
    """Boxes (``{file, box_index, label}``) whose label is a class without instances in ``names``."""
    if names is None:
        return []
    return [{"file": name, "box_index": i, "label": int(s.label)}
            for name, boxes in specs.items() for i, s in enumerate(boxes) if names.is_stuff(s.label)]


def check_stuff_targets(specs: Mapping[str, Sequence[Any]], names: Optional[ClassNames], allow: bool
                        ) -> List[Dict[str, Any]]:
    """Refuse target labels of stuff classes (Sec. 3: l^t is an object) unless ``allow``; return them.

    The message names the boxes, the class of each listed label and, where a known id-space confusion
    leads to an object class, the id that was probably meant (Cityscapes trainId 11 -> labelId 24 person).
    """
    found = stuff_targets(specs, names)
    if not found or allow:
        return found
    labels = sorted({a["label"] for a in found})
    meant = [h for h in (names.intended_id(c) for c in labels) if h]
    classes = ", ".join(f"{c} is {names.name(c)!r}" for c in labels[:LISTED])
    guess = (" If the labels are trainIds: " + "; ".join(meant) + ".") if meant else ""
    total = sum(len(b) for b in specs.values())
    raise InputError(
        f"{len(found)} of {total} box(es) have a target label of a class without instances in the "
        f"{names.source} class names: {listing(found, names)}. In {names.source} ids, {classes}: a stuff class, "
        f"but in SISM the target is an object (paper Sec. 3), and a stuff class fills every box, so an erased "
        f"object would score perfectly.{guess} Fix the labels, or pass --allow-stuff-target "
        "(allow_stuff_target=True) to score these boxes anyway.")
