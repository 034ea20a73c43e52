"""The 80 COCO "thing" classes, in COCO order: the output space of the Sem shape classifier (Sec. 3.3).

Index ``i`` of the classifier's 80-dim output is ``COCO_CLASSES[i]``; ``COCO_CATEGORY_IDS[i]`` is the
original (non-contiguous) COCO category id of that class, as found in COCO instances / panoptic JSON.
"""
from __future__ import annotations

import re
from typing import Dict, Optional

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

COCO_CATEGORY_IDS: tuple[int, ...] = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
    31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90,
)

NUM_CLASSES = len(COCO_CLASSES)


def coco_index(name_or_category_id: str | int) -> int:
    """Return the contiguous index (0..79) of a COCO thing class given its name or COCO category id."""
    if isinstance(name_or_category_id, str):
        try:
            return COCO_CLASSES.index(name_or_category_id)
        except ValueError:
            raise KeyError(f"{name_or_category_id!r} is not one of the 80 COCO thing classes") from None
    try:
        return COCO_CATEGORY_IDS.index(int(name_or_category_id))
    except ValueError:
        raise KeyError(f"COCO category id {name_or_category_id} is not a thing class") from None


#: Names (normalised: lower case, single spaces) of other datasets' classes whose objects are a COCO
#: thing class under another name. Classes that only partly match (CamVid "bicyclist" = a person *and*
#: a bicycle; ADE20K "plant", "table", "monitor") are deliberately absent: no counterpart.
COCO_SYNONYMS: Dict[str, str] = {
    "rider": "person", "pedestrian": "person", "people": "person", "human": "person",
    "motorbike": "motorcycle", "minibike": "motorcycle", "bike": "bicycle",
    "aeroplane": "airplane", "sofa": "couch", "tvmonitor": "tv", "tv monitor": "tv",
    "television receiver": "tv", "television": "tv", "diningtable": "dining table", "pottedplant": "potted plant",
    "cellphone": "cell phone", "mobile phone": "cell phone", "hairdryer": "hair drier", "hair dryer": "hair drier",
    "microwave oven": "microwave", "fridge": "refrigerator", "trafficlight": "traffic light",
    "traffic signal": "traffic light", "firehydrant": "fire hydrant", "stopsign": "stop sign",
}


def _normalise(name: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[_\-]+", " ", name.strip().lower()))


def coco_counterpart(name: Optional[str]) -> Optional[str]:
    """The COCO thing class (a name of :data:`sem_metric.sem.classes.COCO_CLASSES`) that a class name denotes.

    Matching is by name: the name itself (case, ``_`` / ``-`` and spacing ignored), then
    :data:`COCO_SYNONYMS`, then each comma-separated alias (``"sofa, couch, lounge"`` -> ``couch``). None
    when nothing matches: Sem's classifier (Eq. 10) has no class for it.
    """
    if not name:
        return None
    coco = {_normalise(c): c for c in COCO_CLASSES}
    for alias in [name] + name.split(","):
        key = _normalise(alias)
        if key in coco:
            return coco[key]
        if key in COCO_SYNONYMS:
            return COCO_SYNONYMS[key]
    return None
