"""Class names for label-map ids: the built-in tables, user ``{id: name}`` files, and the COCO counterpart.

The label maps scored by ``sem-score`` hold class ids of their own dataset (paper Sec. 3: pixel = class
id; the target label ``l^t`` of a box is such an id). Names only make reports readable and let the
per-class breakdown find the COCO class of the Sem classifier (Eq. 10's F outputs the 80 COCO thing
classes, :mod:`sem_metric.sem.classes`) that corresponds to a target label, to say how reliable Sem
is for it (:mod:`sem_metric.pipeline.per_class`).

Built-in sets (``--class-names NAME``), one convention each:

``coco``        the 80 COCO *thing* classes under their **original COCO category ids** (1..90 with gaps:
                person = 1, car = 3, ..., toothbrush = 90), as in COCO instances / panoptic JSON and in
                semantic maps rendered from panoptic segments. COCO-Stuff's ``stuffthingmaps`` PNGs store
                ``category_id - 1`` (person = 0): pass your own ``{id: name}`` file for those. Stuff
                classes and 0 (unlabelled in panoptic-style maps) have no built-in name.
``cityscapes``  Cityscapes ``labelIds`` 0..33 (``*_gtFine_labelIds.png``; not the 19 trainIds).
``ade20k``      ADE20K SceneParsing (ADEChallengeData2016) ids 1..150, 0 = other; the first (short) name of
                each class of ``objectInfo150``.
``camvid``      CamVid, SegNet version, ids 0..11 (11 = unlabelled).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from ..errors import InputError
from ..sem.classes import COCO_CATEGORY_IDS, COCO_CLASSES, COCO_SYNONYMS, coco_counterpart  # noqa: F401 (re-exported)
from .io import read_json

__all__ = ["BUILTIN_CLASS_NAMES", "STUFF_IDS", "CITYSCAPES_TRAIN_TO_LABEL_ID", "CITYSCAPES_NAMES", "CAMVID_NAMES", "ADE20K_NAMES", "COCO_NAMES",
           "ClassNames", "load_class_names", "coco_counterpart", "COCO_SYNONYMS"]

#: COCO category id -> name (the 80 thing classes; Sem's classifier output space, in another id space).
COCO_NAMES: Dict[int, str] = dict(zip(COCO_CATEGORY_IDS, COCO_CLASSES))

#: Cityscapes labelIds 0..33.
CITYSCAPES_NAMES: Dict[int, str] = dict(enumerate((
    "unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic", "ground", "road",
    "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge", "tunnel", "pole",
    "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle")))

#: CamVid (SegNet) ids 0..11.
CAMVID_NAMES: Dict[int, str] = dict(enumerate((
    "sky", "building", "pole", "road", "pavement", "tree", "sign-symbol", "fence", "car", "pedestrian",
    "bicyclist", "unlabelled")))

#: ADE20K SceneParsing ids 0..150 (0 = other), first name of each objectInfo150 entry.
ADE20K_NAMES: Dict[int, str] = dict(enumerate((
    "other", "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car",
    "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence",
    "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
    "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
    "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
    "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass", "clock", "flag")))

#: Cityscapes trainIds 0..18 -> labelIds (the 19 evaluated classes; trainId 255 = ignore).
CITYSCAPES_TRAIN_TO_LABEL_ID: Dict[int, int] = dict(enumerate(
    (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)))

#: Ids of each built-in set whose class has no instances (stuff, void): in SISM (Sec. 3) the target
#: l^t is an object, so such a box label is almost always an id-space mistake. Cityscapes: every labelId
#: without ``hasInstances`` (0..23); CamVid: all but car, pedestrian, bicyclist; ADE20K: the unambiguous
#: stuff classes (surfaces, terrain, sky, water, vegetation masses); COCO: 0 and the COCO-Stuff / panoptic
#: stuff category ids 92..200.
_ADE20K_STUFF_NAMES = ("other", "wall", "building", "sky", "floor", "tree", "ceiling", "road", "grass", "sidewalk",
                       "earth", "mountain", "water", "sea", "field", "sand", "path", "runway", "river", "hill",
                       "land", "dirt track", "lake", "waterfall", "stairway", "stairs")
STUFF_IDS: Dict[str, frozenset] = {
    "cityscapes": frozenset(range(0, 24)),
    "camvid": frozenset({0, 1, 2, 3, 4, 5, 6, 7, 11}),
    "ade20k": frozenset(i for i, n in ADE20K_NAMES.items() if n in _ADE20K_STUFF_NAMES),
    "coco": frozenset({0} | set(range(92, 201))),
}

#: ``--class-names`` built-in sets (conventions in the module docstring).
BUILTIN_CLASS_NAMES: Dict[str, Dict[int, str]] = {
    "coco": COCO_NAMES, "cityscapes": CITYSCAPES_NAMES, "ade20k": ADE20K_NAMES, "camvid": CAMVID_NAMES,
}

@dataclass(frozen=True)
class ClassNames:
    """A table ``{class id: name}`` for the ids of the label maps, and where it came from.

    ``source`` is the built-in set's name (``"cityscapes"``), the path of a user file, or ``"mapping"``
    (given in Python); :meth:`describe` is what results record in ``metadata.options.class_names``.
    """

    source: str
    names: Dict[int, str] = field(default_factory=dict)

    def name(self, class_id: int) -> Optional[str]:
        """The name of ``class_id`` (None when the table does not have it)."""
        return self.names.get(int(class_id))

    def label(self, class_id: int) -> str:
        """``"26 car"``, or ``"26"`` when the id has no name."""
        n = self.name(class_id)
        return f"{int(class_id)} {n}" if n else str(int(class_id))

    def is_stuff(self, class_id: int) -> bool:
        """Whether ``class_id`` is a class without instances in this built-in set (:data:`STUFF_IDS`).

        User tables know nothing about stuff: always False for them.
        """
        return int(class_id) in STUFF_IDS.get(self.source, frozenset())

    def intended_id(self, class_id: int) -> Optional[str]:
        """For a stuff id: the object class the user probably meant, from a known id-space confusion.

        Cityscapes: ``class_id`` read as a trainId (``11`` -> trainId person -> labelId 24). None when
        no known confusion leads to an object class.
        """
        cid = int(class_id)
        if self.source == "cityscapes" and cid in CITYSCAPES_TRAIN_TO_LABEL_ID:
            label_id = CITYSCAPES_TRAIN_TO_LABEL_ID[cid]
            if not self.is_stuff(label_id):
                return (f"trainId {cid} is {self.name(label_id)!r}, whose labelId is {label_id}: "
                        f"use label {label_id}")
        return None

    def describe(self) -> Any:
        """JSON-friendly record: the built-in name / file path, or the mapping itself."""
        if self.source == "mapping":
            return {str(k): v for k, v in sorted(self.names.items())}
        return self.source


def _from_mapping(data: Any, where: str) -> Dict[int, str]:
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected a JSON object {{\"class id\": \"name\", ...}} such as "
                         f"{{\"24\": \"person\", \"26\": \"car\"}}, got {type(data).__name__}")
    out: Dict[int, str] = {}
    for key, value in data.items():
        text = str(key).strip()
        if isinstance(key, bool) or not re.fullmatch(r"\d+", text):
            raise InputError(f"{where}: key {key!r} is not a class id; keys are the non-negative integer ids "
                             "of the label maps, written as strings in JSON (\"26\": \"car\")")
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{where}, id {text}: the name must be a non-empty string, got {value!r}")
        cid = int(text)
        if cid in out:
            raise InputError(f"{where}: class id {cid} is given twice")
        out[cid] = value.strip()
    if not out:
        raise InputError(f"{where}: is empty; give at least one \"id\": \"name\" entry")
    return out


def load_class_names(spec: Any) -> Optional[ClassNames]:
    """Resolve ``--class-names`` / ``class_names=``: None, a :class:`ClassNames`, a built-in set name
    (``coco``, ``cityscapes``, ``ade20k``, ``camvid``; case-insensitive), a JSON file ``{"id": "name"}``,
    or a mapping ``{id: name}``. Errors (:class:`InputError`) name the file / entry and the valid forms."""
    if spec is None or isinstance(spec, ClassNames):
        return spec
    if isinstance(spec, Mapping):
        return ClassNames("mapping", _from_mapping(spec, "class_names"))
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        key = text.strip().lower()
        if key in BUILTIN_CLASS_NAMES and not os.path.exists(text):
            return ClassNames(key, dict(BUILTIN_CLASS_NAMES[key]))
        if not os.path.exists(text):
            raise InputError(f"class names {text!r}: neither a built-in set ({', '.join(BUILTIN_CLASS_NAMES)}) "
                             "nor an existing JSON file {\"id\": \"name\"}")

        return ClassNames(text, _from_mapping(read_json(text, "class names file"), f"class names file {text!r}"))
    raise InputError(f"class_names: expected a built-in set name ({', '.join(BUILTIN_CLASS_NAMES)}), a JSON file "
                     f"path or a mapping {{id: name}}, got {type(spec).__name__}")


def builtin_names() -> Tuple[str, ...]:
    """Names of the built-in sets."""
    return tuple(BUILTIN_CLASS_NAMES)
