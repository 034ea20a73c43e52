"""The registry of SISM evaluation protocols: which maps, which objects, which boxes (paper Sec. 3, 4.1).

A *protocol* fixes everything that decides which objects a SISM evaluation removes, and so every number
of tIOU, hamm, NN and Sem (Sec. 4.1, Eq. 10): the dataset files read and their layout, the target
classes, the working resolution (nearest-neighbour resizing is part of the definition), how an object
is found (dataset instances or connected components of a class), the area thresholds, and which objects
are kept (all, or one per image drawn with a recorded seed). Like the metric registry
(:mod:`sem_metric.registry`) and the weights registry (:mod:`sem_metric.sem.weights`), each protocol is
one frozen entry of :data:`PROTOCOLS`; a published ``(name, version)`` never changes: a new rule is a
new version.

Nothing here reads files; :mod:`sem_metric.task.sources` reads each protocol's ``fmt``.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import InputError
from ..pipeline.class_names import COCO_NAMES

__all__ = ["Protocol", "PROTOCOLS", "get_protocol", "list_protocols", "custom_protocol", "parse_resolution",
           "FORMATS"]

#: the source formats :mod:`sem_metric.task.sources` reads
FORMATS = ("camvid", "cityscapes", "ade20k", "coco-panoptic", "labelmaps")

Resolution = Union[str, Tuple[int, int]]


@dataclass(frozen=True)
class Protocol:
    """One SISM evaluation protocol (paper Sec. 3: which ``B = {b, l^t}`` are removed from which S^c).

    ``classes``                 ``((id, name), ...)`` target labels l^t in the maps' own id space; empty when
                                ``class_rule`` chooses them from the data (``"top-K-by-instance-count"``)
    ``class_rule``              ``"fixed"`` or ``"top-K-by-instance-count"`` (K classes with the most objects)
    ``resolution``              ``"native"`` or ``(H, W)``: maps (and instance maps) resized by nearest
                                neighbour before objects are found
    ``objects``                 ``"instances"`` (the dataset's instance ids) or ``"components"`` (connected
                                components of a class, ``connectivity`` 4 or 8)
    ``min_box_area_fraction``   keep an object when its tight box covers at least this share of the map
    ``min_object_area_fraction`` keep an object when its pixels cover at least this share of the map
    ``selection``               ``"all"`` or ``"one-per-image"`` (drawn from ``seed`` and the file name only)
    ``fmt`` / ``split``         what :mod:`sem_metric.task.sources` reads (see :data:`FORMATS`); ``scene``:
                                for ADE20K, the scene folder name (e.g. ``"bedroom"``; empty = every scene)
    """

    name: str
    version: int
    dataset: str
    description: str
    source: str
    fmt: str
    split: str
    classes: Tuple[Tuple[int, str], ...]
    resolution: Resolution = "native"
    objects: str = "instances"
    connectivity: int = 8
    min_box_area_fraction: float = 0.0
    min_object_area_fraction: float = 0.0
    selection: str = "all"
    seed: int = 0
    class_rule: str = "fixed"
    instances_dir: Optional[str] = None  # custom protocol: folder of instance maps (same relative paths)
    scene: str = ""

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ValueError(f"protocol {self.name!r}: unknown format {self.fmt!r}")
        if self.selection not in ("all", "one-per-image"):
            raise ValueError(f"protocol {self.name!r}: selection must be 'all' or 'one-per-image'")
        if self.objects not in ("instances", "components"):
            raise ValueError(f"protocol {self.name!r}: objects must be 'instances' or 'components'")
        if self.connectivity not in (4, 8):
            raise ValueError(f"protocol {self.name!r}: connectivity must be 4 or 8")
        if self.class_rule != "fixed" and not re.fullmatch(r"top-\d+-by-instance-count", self.class_rule):
            raise ValueError(f"protocol {self.name!r}: class_rule must be 'fixed' or 'top-K-by-instance-count'")

    @property
    def key(self) -> str:
        """``name@version``, how a protocol is cited (``sem-task build NAME@VERSION``)."""
        return f"{self.name}@{self.version}"

    @property
    def top_k(self) -> Optional[int]:
        """K of a ``top-K-by-instance-count`` class rule (None for fixed classes)."""
        m = re.fullmatch(r"top-(\d+)-by-instance-count", self.class_rule)
        return int(m.group(1)) if m else None

    def with_classes(self, classes: Sequence[Tuple[int, str]]) -> "Protocol":
        """This protocol with its data-chosen classes filled in (recorded in ``task.json``)."""
        return dataclasses.replace(self, classes=tuple((int(i), str(n)) for i, n in classes))

    def describe(self) -> Dict[str, Any]:
        """The JSON description (Sec. 4.1 protocol; ``sem-task list --json``, ``task.json["protocol"]``): every parameter."""
        return {
            "name": self.name, "version": self.version, "dataset": self.dataset, "description": self.description,
            "source": self.source, "format": self.fmt, "split": self.split, "scene": self.scene or None,
            "classes": [{"id": i, "name": n} for i, n in self.classes], "class_rule": self.class_rule,
            "resolution": self.resolution if isinstance(self.resolution, str) else list(self.resolution),
            "resize": "nearest", "objects": self.objects,
            "connectivity": self.connectivity if self.objects == "components" else None,
            "box": "tight (x0, y0, x1, y1), x1/y1 exclusive",
            "min_box_area_fraction": self.min_box_area_fraction,
            "min_object_area_fraction": self.min_object_area_fraction,
            "selection": self.selection, "seed": self.seed,
        }


_CITYSCAPES_MOVABLE = ((24, "person"), (25, "rider"), (26, "car"), (27, "truck"), (28, "bus"), (31, "train"),
                       (32, "motorcycle"), (33, "bicycle"))
_CAMVID_TARGETS = ((8, "car"), (9, "pedestrian"), (10, "bicyclist"))

#: (name, version) -> protocol. Published entries are never edited: a new rule gets a new version.
PROTOCOLS: Dict[Tuple[str, int], Protocol] = {(p.name, p.version): p for p in (
    Protocol(
        "camvid-test", 1, "CamVid (SegNet version)",
        "CamVid test, native 360x480: every 8-connected component of car, pedestrian, bicyclist covering >= 0.1% "
        "of the map",
        "SegNet CamVid testannot/ (233 maps); components because CamVid has no instance ids; the 0.1% object "
        "filter of this repository's reference CamVid table (sem_metric.reference)",
        "camvid", "test", _CAMVID_TARGETS, objects="components", min_object_area_fraction=0.001),
    Protocol(
        "cityscapes-val", 1, "Cityscapes gtFine",
        "Cityscapes gtFine val, native 1024x2048: every instance of the 8 movable classes whose tight box covers "
        ">= 1% of the map",
        "8 movable classes by labelId as in Hong et al. 2018 / the paper (Sec. 4.1); the paper's 1% size filter "
        "(Sec. 4.1, PS-COCO) applied to the tight instance box",
        "cityscapes", "val", _CITYSCAPES_MOVABLE, min_box_area_fraction=0.01),
    Protocol(
        "cityscapes-val-128x256", 1, "Cityscapes gtFine",
        "Cityscapes gtFine val at 128x256 (nearest): one instance of the 8 movable classes per image, tight box "
        "covering >= 2% of the map, drawn with seed 0",
        "the rule of the paper's first author's earlier SISM code (Cityscapes val at 128x256, 8 movable classes, "
        "tight instance box, box area >= 2%, one object per image, fixed seed), which committed 376 boxes "
        "without class labels",
        "cityscapes", "val", _CITYSCAPES_MOVABLE, resolution=(128, 256), min_box_area_fraction=0.02,
        selection="one-per-image", seed=0),
    Protocol(
        "ade20k-bedroom", 1, "ADE20K (full, 2021 release)",
        "ADE20K validation bedroom scenes (*_seg.png), native: every instance covering >= 1% of the image of the "
        "7 classes with the most instances in the scenes built",
        "the paper (Sec. 4.1) chooses 7 of the 49 ADE20K bedroom classes 'based on the rank of object numbers' "
        "without naming them; this protocol applies that rule to the scenes read (instances counted at any size; "
        "ties: lower class id) and records the classes chosen; the paper's 1% size filter (Sec. 4.1)",
        "ade20k", "validation", (), class_rule="top-7-by-instance-count", min_object_area_fraction=0.01,
        scene="bedroom"),
    Protocol(
        "coco-panoptic-val2017", 1, "COCO panoptic",
        "COCO panoptic val2017 (PNG + JSON), native: every non-crowd thing segment covering >= 1% of the image",
        "the paper's PS-COCO size filter (Sec. 4.1: instances smaller than 1% of the image are dropped); label = "
        "COCO category id",
        "coco-panoptic", "val2017", tuple(sorted(COCO_NAMES.items())), min_object_area_fraction=0.01),
)}


def list_protocols() -> List[Protocol]:
    """Every registered protocol (Sec. 4.1 evaluation sets), by name then version."""
    return [PROTOCOLS[k] for k in sorted(PROTOCOLS)]


def get_protocol(spec: Union[str, Protocol]) -> Protocol:
    """The protocol (Sec. 4.1 evaluation set) ``NAME`` (its latest version) or ``NAME@VERSION``;
    :class:`InputError` listing the names."""
    if isinstance(spec, Protocol):
        return spec
    text = str(spec).strip()
    name, _, ver = text.partition("@")
    versions = sorted(v for n, v in PROTOCOLS if n == name)
    if not versions:
        names = ", ".join(sorted({n for n, _ in PROTOCOLS}) + ["custom"])
        raise InputError(f"unknown protocol {text!r}; choose one of {names} (sem-task list shows them)")
    if not ver:
        return PROTOCOLS[(name, versions[-1])]
    if not ver.isdigit() or (name, int(ver)) not in PROTOCOLS:
        raise InputError(f"protocol {name!r} has no version {ver!r}; versions: {', '.join(map(str, versions))}")
    return PROTOCOLS[(name, int(ver))]


def parse_resolution(value: Any) -> Resolution:
    """The working resolution (Sec. 4.1): ``"native"``, ``"HxW"`` / ``"H,W"`` or ``(H, W)`` -> ``"native"`` or
    ``(H, W)`` (positive ints)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "native"):
        return "native"
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*[x,]\s*(\d+)\s*", value)
        if not m:
            raise InputError(f"--resolution {value!r}: expected 'native' or HxW, e.g. 128x256")
        value = (int(m.group(1)), int(m.group(2)))
    try:
        h, w = (int(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"resolution {value!r}: expected 'native' or (H, W)") from None
    if h <= 0 or w <= 0:
        raise InputError(f"resolution {value!r}: H and W must be positive")
    return (h, w)


def _fraction(value: Any, what: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} {value!r}: expected a fraction of the map area in [0, 1), e.g. 0.01") from None
    if not 0.0 <= f < 1.0:
        raise InputError(f"{what} {value!r}: expected a fraction of the map area in [0, 1), e.g. 0.01 for 1%")
    return f


def custom_protocol(labels: Any, resolution: Any = "native", min_area: Any = 0.0, min_box_area: Any = 0.0,
                    instances_dir: Optional[str] = None, selection: str = "all", seed: int = 0,
                    connectivity: int = 8, class_names: Optional[Dict[int, str]] = None) -> Protocol:
    """The ``custom`` protocol: any folder of single-channel label maps (Sec. 3 S^c), recorded in the task
    like a registered one. ``labels``: target class ids (``"8,9"`` or ints); objects are the instances of
    ``instances_dir`` (instance maps at the same relative paths) or ``connectivity``-connected components;
    ``min_area`` / ``min_box_area``: object / box area fractions of the map."""
    if isinstance(labels, str):
        parts = [p.strip() for p in labels.split(",") if p.strip()]
    else:
        parts = list(labels or [])
    ids = []
    for p in parts:
        try:
            v = int(p)
        except (TypeError, ValueError):
            raise InputError(f"--labels: {p!r} is not a class id; pass comma-separated ids, e.g. --labels 8,9,10") from None
        if v < 0:
            raise InputError(f"--labels: class ids are non-negative, got {v}")
        ids.append(v)
    if not ids:
        raise InputError("the custom protocol needs --labels (comma-separated target class ids, e.g. 8,9,10)")
    names = class_names or {}
    classes = tuple((i, names.get(i, f"class {i}")) for i in sorted(set(ids)))
    if selection not in ("all", "one-per-image"):
        raise InputError(f"--selection {selection!r}: use 'all' or 'one-per-image'")
    if int(connectivity) not in (4, 8):
        raise InputError(f"--connectivity {connectivity!r}: use 4 or 8")
    return Protocol(
        "custom", 1, "custom label maps", "any folder of label maps (.png / .npy), recorded like a registered protocol",
        "user-defined", "labelmaps", "", classes, resolution=parse_resolution(resolution),
        objects="instances" if instances_dir else "components", connectivity=int(connectivity),
        min_box_area_fraction=_fraction(min_box_area, "--min-box-area"),
        min_object_area_fraction=_fraction(min_area, "--min-area"), selection=selection, seed=int(seed),
        instances_dir=None if instances_dir is None else str(instances_dir))
