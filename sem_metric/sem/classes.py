"""The 80 COCO "thing" classes, in COCO order: the output space of the Sem shape classifier (Sec. 3.3).

Index ``i`` of the classifier's 80-dim output is ``COCO_CLASSES[i]``; ``COCO_CATEGORY_IDS[i]`` is the
original (non-contiguous) COCO category id of that class, as found in COCO instances / panoptic JSON.
"""
from __future__ import annotations

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
