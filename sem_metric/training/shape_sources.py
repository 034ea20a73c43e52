"""Builders that turn public segmentation data into :class:`ShapeBank` s of binary object shapes.

The paper (Sec. 4.1) extracts binary instance masks of the 80 COCO thing classes from PS-COCO panoptic
segmentations, dropping instances smaller than 1% of their image. :func:`from_coco_panoptic` does
exactly that for the PS-COCO format; :func:`from_coco_instances` reads COCO instances JSON (polygons
and RLE); :func:`from_label_maps` / :func:`from_voc` take connected components of semantic label maps;
:func:`from_animal_mnist` and :func:`from_mpeg7` add whole-object silhouettes. Every builder takes
explicit paths (no default data location here: see ``build_shapes`` for that) and returns tight crops
(:func:`~sem_metric.training.shape_bank.tight_crop`) labelled with contiguous COCO indices 0..79.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from sem_metric.sem.classes import COCO_CATEGORY_IDS, COCO_CLASSES, coco_counterpart, coco_index
from sem_metric.training.shape_bank import DEFAULT_MAX_SIDE, ShapeBank, tight_crop

from ..pipeline.io import read_label_map, read_rgb_image
from ..task.sources import decode_panoptic_ids
from ..task.targets import connected_components

PathLike = Union[str, Path]

# the decoders and the silhouette builders live in their own modules; their names stay importable here
from sem_metric.training.coco_masks import (decode_coco_segmentation, polygons_to_mask, rle_decode,  # noqa: E402,F401
                                            rle_decode_compressed, rle_decode_uncompressed, rle_string_to_counts)
from sem_metric.training.silhouettes import (ANIMAL_MNIST_THRESHOLD, _fill_and_keep_largest,  # noqa: E402,F401
                                             animal_mnist_split, animal_silhouette, from_animal_mnist, from_mpeg7)

DEFAULT_MIN_AREA_FRAC = 0.01  # paper Sec. 4.1: instances smaller than 1% of the image are dropped

# Pascal VOC class ids 1..20 (alphabetical VOC order) -> COCO class name.
VOC_CLASSES: Tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)
#: VOC name -> COCO class name, through the one synonym table (:data:`sem_metric.sem.classes.COCO_SYNONYMS`)
VOC_TO_COCO_NAME: Dict[str, str] = {name: coco_counterpart(name) for name in VOC_CLASSES}
VOC_TO_COCO: Dict[int, int] = {
    i + 1: coco_index(VOC_TO_COCO_NAME[name]) for i, name in enumerate(VOC_CLASSES)
}


def _progress(iterable, total=None, desc=None, disable=None):
    """tqdm to stderr when available (and not disabled), else the plain iterable."""
    if disable is None:
        disable = os.environ.get("SEM_METRIC_NO_PROGRESS", "") not in ("", "0")
    if disable:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the [train] extra
        return iterable
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False, mininterval=1.0)


def _disable(progress: Optional[bool]) -> Optional[bool]:
    """``progress=None`` -> decide from the environment; True/False -> show / hide."""
    return None if progress is None else (not progress)


def _category_map(categories: Iterable[Mapping]) -> Dict[int, int]:
    """COCO category id -> contiguous COCO index, by name first, then by thing category id."""
    out: Dict[int, int] = {}
    for c in categories:
        cid = int(c["id"])
        if "isthing" in c and not int(c["isthing"]):
            continue
        name = str(c.get("name", ""))
        if name in COCO_CLASSES:
            out[cid] = COCO_CLASSES.index(name)
        elif cid in COCO_CATEGORY_IDS and "isthing" in c:
            out[cid] = COCO_CATEGORY_IDS.index(cid)
    return out


def from_coco_instances(
    json_path: PathLike,
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    max_side: int = DEFAULT_MAX_SIDE,
    include_crowd: bool = False,
    source: str = "coco_instances",
    progress: Optional[bool] = None,
    max_area_frac: Optional[float] = None,
    min_area_px: int = 0,
) -> ShapeBank:
    """Shapes from a COCO instances JSON (polygons, uncompressed and compressed RLE).

    Paper Sec. 4.1: one binary mask per instance of the 80 thing classes, kept if its decoded area is at
    least ``min_area_frac`` of the image (``width * height`` from ``images``). Crowd annotations are
    skipped unless ``include_crowd``; categories that are not COCO thing classes are skipped.
    ``max_area_frac`` (exclusive) and ``min_area_px`` select a band of sizes, e.g. the small instances
    (>= 400 px but < 1%) that supplement rare classes in the shipped training set.
    """
    with open(json_path, "r", encoding="utf-8") as f:
        data = json.load(f)
    cat_map = _category_map(data.get("categories", []))
    if not data.get("categories"):
        cat_map = {cid: i for i, cid in enumerate(COCO_CATEGORY_IDS)}
    images = {int(im["id"]): (int(im["height"]), int(im["width"])) for im in data["images"]}
    masks: List[np.ndarray] = []
    labels: List[int] = []
    anns = data.get("annotations", [])
    for ann in _progress(anns, total=len(anns), desc=f"coco {Path(json_path).name}", disable=_disable(progress)):
        if ann.get("iscrowd", 0) and not include_crowd:
            continue
        label = cat_map.get(int(ann["category_id"]))
        if label is None:
            continue
        hw = images.get(int(ann["image_id"]))
        if hw is None:
            continue
        h, w = hw
        m = decode_coco_segmentation(ann.get("segmentation"), h, w)
        if m is None:
            continue
        area = int(m.sum())
        if area < min_area_frac * h * w or area < min_area_px:
            continue
        if max_area_frac is not None and area >= max_area_frac * h * w:
            continue
        masks.append(tight_crop(m, max_side))
        labels.append(label)
    return ShapeBank.from_lists(masks, labels, source)


# ============================================================================ COCO panoptic
def read_panoptic_png(path: PathLike) -> np.ndarray:
    """Read a COCO panoptic PNG into segment ids ``R + 256 G + 256^2 B`` (int64, H x W), with the core's
    reader and decoder (:func:`sem_metric.task.sources.decode_panoptic_ids`)."""
    return decode_panoptic_ids(read_rgb_image(path))


def from_coco_panoptic(
    json_path: PathLike,
    png_dir: PathLike,
    categories_json: Optional[PathLike] = None,
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    max_side: int = DEFAULT_MAX_SIDE,
    source: str = "coco_panoptic",
    progress: Optional[bool] = None,
) -> ShapeBank:
    """Shapes from COCO panoptic segmentations (PS-COCO), the paper's recipe (Sec. 4.1).

    For every annotation, the PNG ``png_dir/<file_name>`` is decoded to segment ids; each *thing*
    segment (``isthing`` from the segment or its category) of one of the 80 COCO classes whose pixel
    count is at least ``min_area_frac`` of the image becomes one binary shape. Categories come from the
    JSON's ``categories`` or from ``categories_json`` (``panoptic_coco_categories.json``: a list or a
    dict with ``categories``).
    """
    with open(json_path, "r", encoding="utf-8") as f:
        data = json.load(f)
    cats = data.get("categories")
    if categories_json is not None:
        with open(categories_json, "r", encoding="utf-8") as f:
            c = json.load(f)
        cats = c["categories"] if isinstance(c, dict) else c
    if not cats:
        raise ValueError(
            f"{json_path}: no 'categories' in the panoptic JSON; pass categories_json="
            "'panoptic_coco_categories.json'"
        )
    isthing = {int(c["id"]): bool(int(c.get("isthing", 1))) for c in cats}
    cat_map = _category_map(cats)
    png_dir = Path(png_dir)
    masks: List[np.ndarray] = []
    labels: List[int] = []
    anns = data.get("annotations", [])
    for ann in _progress(anns, total=len(anns), desc=f"panoptic {Path(json_path).name}", disable=_disable(progress)):
        segs = ann.get("segments_info", [])
        things = []
        for s in segs:
            cid = int(s["category_id"])
            thing = bool(int(s["isthing"])) if "isthing" in s else isthing.get(cid, False)
            if thing and cid in cat_map:
                things.append((s, cat_map[cid]))
        if not things:
            continue
        fname = ann.get("file_name") or f"{int(ann['image_id']):012d}.png"
        ids = read_panoptic_png(png_dir / fname)
        h, w = ids.shape
        for s, label in things:
            sid = int(s["id"])
            region = ids
            bbox = s.get("bbox")
            if bbox is not None and len(bbox) == 4:
                bx, by, bw, bh = (int(round(v)) for v in bbox)
                y0, x0 = max(0, by), max(0, bx)
                y1, x1 = min(h, by + bh + 1), min(w, bx + bw + 1)
                if y1 > y0 and x1 > x0:
                    region = ids[y0:y1, x0:x1]
            m = region == sid
            area = int(m.sum())
            if region is not ids and "area" in s and area != int(s["area"]):
                m = ids == sid  # bbox disagreed with the PNG: use the whole image
                area = int(m.sum())
            if area == 0 or area < min_area_frac * h * w:
                continue
            masks.append(tight_crop(m, max_side))
            labels.append(label)
    return ShapeBank.from_lists(masks, labels, source)


# ============================================================================ semantic label maps
def _read_label_png(path: PathLike) -> np.ndarray:
    """A semantic label map through the core's reader (palette index / grey value = class id; RGB refused)."""
    return read_label_map(path)


def label_map_components(
    seg: np.ndarray,
    class_to_coco: Mapping[int, int],
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    ignore: Sequence[int] = (255,),
    max_side: int = DEFAULT_MAX_SIDE,
    connectivity: int = 8,
) -> Tuple[List[np.ndarray], List[int]]:
    """Connected components (per mapped class) of one semantic label map -> (tight crops, COCO indices).

    Components smaller than ``min_area_frac`` of the map are dropped (paper Sec. 4.1); ``ignore``
    values and classes absent from ``class_to_coco`` are never objects.
    """
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise ValueError(f"label map must be 2-D, got shape {seg.shape}")
    h, w = seg.shape
    min_area = min_area_frac * h * w
    ignore_set = {int(v) for v in ignore}
    masks: List[np.ndarray] = []
    labels: List[int] = []
    for cls in np.unique(seg):
        cls = int(cls)
        if cls in ignore_set or cls not in class_to_coco:
            continue
        binary = seg == cls
        if binary.sum() < min_area:
            continue
        for _, comp in connected_components(binary, connectivity):
            area = int(comp.sum())
            if area < min_area or area == 0:
                continue
            masks.append(tight_crop(comp, max_side))
            labels.append(int(class_to_coco[cls]))
    return masks, labels


def _components_of_file(args):
    path, class_to_coco, min_area_frac, ignore, max_side, connectivity = args
    seg = _read_label_png(path)
    return label_map_components(seg, class_to_coco, min_area_frac, ignore, max_side, connectivity)


def from_label_maps(
    paths: Sequence[PathLike],
    class_to_coco: Mapping[int, int],
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    ignore: Sequence[int] = (255,),
    max_side: int = DEFAULT_MAX_SIDE,
    connectivity: int = 8,
    source: str = "label_maps",
    workers: int = 1,
    progress: Optional[bool] = None,
) -> ShapeBank:
    """Object shapes from semantic label maps (PNG, palette/grayscale class ids) as connected components.

    Class-level maps merge touching instances of a class, so each connected component (per class in
    ``class_to_coco``, ``connectivity`` 4 or 8) is taken as one object; components below
    ``min_area_frac`` of the map are dropped (paper Sec. 4.1). ``workers > 1`` uses a process pool
    (order of the output is the order of ``paths`` either way).
    """
    class_to_coco = {int(k): int(v) for k, v in class_to_coco.items()}
    for k, v in class_to_coco.items():
        if not 0 <= v < len(COCO_CLASSES):
            raise ValueError(f"class_to_coco[{k}] = {v} is not a COCO index 0..{len(COCO_CLASSES) - 1}")
    jobs = [(str(p), class_to_coco, min_area_frac, tuple(ignore), max_side, connectivity) for p in paths]
    masks: List[np.ndarray] = []
    labels: List[int] = []
    disable = _disable(progress)
    if workers and workers > 1 and len(jobs) > 1:
        with mp.get_context("fork" if sys.platform.startswith("linux") else "spawn").Pool(int(workers)) as pool:
            it = pool.imap(_components_of_file, jobs, chunksize=64)
            for ms, ls in _progress(it, total=len(jobs), desc=source, disable=disable):
                masks.extend(ms)
                labels.extend(ls)
    else:
        for job in _progress(jobs, total=len(jobs), desc=source, disable=disable):
            ms, ls = _components_of_file(job)
            masks.extend(ms)
            labels.extend(ls)
    return ShapeBank.from_lists(masks, labels, source)


def from_voc(
    root: PathLike,
    split: str,
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    max_side: int = DEFAULT_MAX_SIDE,
    connectivity: int = 8,
    workers: int = 1,
    source: str = "voc",
    label_dir: str = "SegmentationClassAug",
    progress: Optional[bool] = None,
) -> ShapeBank:
    """Connected-component shapes of Pascal VOC (+SBD) label maps ``root/<label_dir>/<id>.png`` listed in
    ``root/<split>.txt``, with the 20 VOC classes mapped to COCO (:data:`VOC_TO_COCO`); 255 is void."""
    root = Path(root)
    list_file = root / f"{split}.txt"
    if not list_file.is_file():
        raise FileNotFoundError(f"VOC split list {list_file} not found (expected <root>/{split}.txt)")
    ids = [ln.strip().split()[0] for ln in list_file.read_text().splitlines() if ln.strip()]
    paths = [root / label_dir / f"{i}.png" for i in ids]
    return from_label_maps(
        paths, VOC_TO_COCO, min_area_frac=min_area_frac, ignore=(255,), max_side=max_side,
        connectivity=connectivity, source=source, workers=workers, progress=progress,
    )
