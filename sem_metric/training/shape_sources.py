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
import math
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from sem_metric.sem.classes import COCO_CATEGORY_IDS, COCO_CLASSES, coco_counterpart, coco_index
from sem_metric.training.shape_bank import DEFAULT_MAX_SIDE, ShapeBank, tight_crop

PathLike = Union[str, Path]

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


# ============================================================================ COCO RLE / polygons
def rle_decode_uncompressed(counts: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """Decode COCO uncompressed RLE (``{"counts": [..], "size": [h, w]}``) into an (h, w) bool mask.

    Runs alternate 0,1,0,... starting with zeros, over the pixels in column-major (Fortran) order.
    """
    h, w = int(size[0]), int(size[1])
    cnts = np.asarray(counts, dtype=np.int64).reshape(-1)
    if cnts.size and cnts.min() < 0:
        raise ValueError("RLE counts must be non-negative")
    total = int(cnts.sum())
    if total != h * w:
        raise ValueError(f"RLE counts sum to {total}, expected h*w = {h}*{w} = {h * w}")
    vals = (np.arange(cnts.size) % 2).astype(bool)
    flat = np.repeat(vals, cnts)
    return np.ascontiguousarray(flat.reshape(w, h).T)


def rle_string_to_counts(s: Union[str, bytes]) -> List[int]:
    """Decode COCO's compressed RLE string (pycocotools ``rleFrString``) into a list of run lengths.

    Each count is stored as 5-bit groups (LSB first) in characters offset by 48; bit 0x20 means "more
    groups follow", bit 0x10 of the last group is the sign. From the 4th count on, the value stored is
    the difference to the count two positions earlier.
    """
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("ascii")
    counts: List[int] = []
    p, n = 0, len(s)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError("truncated compressed RLE string")
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_decode_compressed(counts: Union[str, bytes], size: Sequence[int]) -> np.ndarray:
    """Decode COCO compressed RLE (``{"counts": "<string>", "size": [h, w]}``) into an (h, w) bool mask."""
    return rle_decode_uncompressed(rle_string_to_counts(counts), size)


def rle_decode(rle: Mapping) -> np.ndarray:
    """Decode a COCO RLE dict, compressed (string counts) or uncompressed (list counts)."""
    counts, size = rle["counts"], rle["size"]
    if isinstance(counts, (str, bytes, bytearray)):
        return rle_decode_compressed(counts, size)
    return rle_decode_uncompressed(counts, size)


def polygons_to_mask(
    polygons: Sequence[Sequence[float]], height: int, width: int
) -> Tuple[Optional[np.ndarray], Tuple[int, int]]:
    """Rasterise COCO polygons (``[[x0, y0, x1, y1, ...], ...]``, union of the parts) inside an image.

    COCO polygon coordinates are continuous, pixel ``(i, j)`` covering ``[j, j+1) x [i, i+1)``; a
    pixel is set when its centre ``(j + 0.5, i + 0.5)`` lies inside a part (even-odd rule, vectorised
    scanline), so the mask area matches the polygon area (COCO's ``area`` field) up to boundary
    rounding. Only the parts' bounding box (clipped to the image) is rasterised, for speed. Returns
    ``(mask, (y0, x0))``: the bool mask of that box and its top-left corner in the image;
    ``(None, (0, 0))`` if nothing falls inside the image.
    """
    polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons if len(p) >= 6]
    if not polys:
        return None, (0, 0)
    allpts = np.concatenate(polys, axis=0)
    x0 = max(0, int(math.floor(allpts[:, 0].min())))
    y0 = max(0, int(math.floor(allpts[:, 1].min())))
    x1 = min(int(width), int(math.ceil(allpts[:, 0].max())))
    y1 = min(int(height), int(math.ceil(allpts[:, 1].max())))
    if x1 <= x0 or y1 <= y0:
        return None, (0, 0)
    h, w = y1 - y0, x1 - x0
    yc = np.arange(h, dtype=np.float64) + (y0 + 0.5)  # scanline = pixel-centre rows
    mask = np.zeros((h, w), dtype=bool)
    for pts in polys:
        xa, ya = pts[:, 0], pts[:, 1]
        xb, yb = np.roll(xa, -1), np.roll(ya, -1)
        below_a = ya[None, :] <= yc[:, None]
        below_b = yb[None, :] <= yc[:, None]
        rows, edges = np.nonzero(below_a != below_b)  # edge crosses the scanline (half-open rule)
        if rows.size == 0:
            continue
        t = (yc[rows] - ya[edges]) / (yb[edges] - ya[edges])
        xint = xa[edges] + t * (xb[edges] - xa[edges]) - x0
        # first pixel whose centre is right of the crossing; parity of crossings to the left = inside
        first = np.clip(np.ceil(xint - 0.5), 0, w).astype(np.int64)
        diff = np.zeros((h, w + 1), dtype=np.int32)
        np.add.at(diff, (rows, first), 1)
        mask |= (np.cumsum(diff[:, :w], axis=1) & 1).astype(bool)
    return mask, (y0, x0)


def decode_coco_segmentation(segmentation, height: int, width: int) -> Optional[np.ndarray]:
    """Decode a COCO ``segmentation`` (polygon list, RLE dict) to a mask cropped to its bbox (or None)."""
    if isinstance(segmentation, dict):
        m = rle_decode(segmentation)
        return m if m.any() else None
    if isinstance(segmentation, (list, tuple)):
        m, _ = polygons_to_mask(segmentation, height, width)
        return m if (m is not None and m.any()) else None
    raise ValueError(f"unsupported COCO segmentation of type {type(segmentation).__name__}")


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
    from ..pipeline.io import read_rgb_image
    from ..task.sources import decode_panoptic_ids

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
    from ..pipeline.io import read_label_map

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
    from ..task.targets import connected_components

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
        import multiprocessing as mp

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


# ============================================================================ silhouettes
ANIMAL_MNIST_THRESHOLD = 24


def animal_silhouette(img: np.ndarray, threshold: int = ANIMAL_MNIST_THRESHOLD) -> np.ndarray:
    """Binary silhouette of a grayscale animal drawing: ``img >= threshold``, holes filled, largest
    8-connected component kept. A low threshold plus hole filling keeps zebra stripes inside the body."""
    return _fill_and_keep_largest(np.asarray(img) >= threshold)


def _fill_and_keep_largest(m: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    from ..task.targets import connected_components

    m = ndimage.binary_fill_holes(m)
    comps = connected_components(m, 8)
    if len(comps) > 1:                      # the largest (the first of equal ones), in the map's frame
        sl, mask = max(comps, key=lambda c: int(c[1].sum()))
        m = np.zeros_like(m)
        m[sl] = mask
    return m


def animal_mnist_split(labels: np.ndarray, val_frac: float = 0.1, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified (per class) split of animal-mnist indices -> (train_idx, val_idx), sorted."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val: List[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(val_frac * idx.size))
        val.append(rng.permutation(idx)[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    train_mask = np.ones(labels.shape[0], dtype=bool)
    train_mask[val_idx] = False
    return np.flatnonzero(train_mask), val_idx.astype(np.int64)


def from_animal_mnist(
    npz_path: PathLike,
    threshold: int = ANIMAL_MNIST_THRESHOLD,
    indices: Optional[Sequence[int]] = None,
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    max_side: int = DEFAULT_MAX_SIDE,
    source: str = "animal_mnist",
) -> ShapeBank:
    """Animal silhouettes (28x28 grayscale, ``images``/``labels``/``class_names`` npz) as shapes.

    Each image is thresholded (:func:`animal_silhouette`), class names are mapped to COCO indices;
    ``indices`` selects a subset (e.g. from :func:`animal_mnist_split`).
    """
    with np.load(npz_path, allow_pickle=False) as z:
        images = z["images"]
        lab = z["labels"].astype(np.int64)
        names = [str(n) for n in z["class_names"]]
    to_coco = {}
    for i, n in enumerate(names):
        try:
            to_coco[i] = coco_index(n)
        except KeyError:
            pass
    sel = np.arange(len(lab)) if indices is None else np.asarray(indices, dtype=np.int64)
    masks: List[np.ndarray] = []
    labels: List[int] = []
    for i in sel:
        c = int(lab[i])
        if c not in to_coco:
            continue
        m = animal_silhouette(images[i], threshold)
        if m.sum() == 0 or m.sum() < min_area_frac * m.size:
            continue
        masks.append(tight_crop(m, max_side))
        labels.append(to_coco[c])
    return ShapeBank.from_lists(masks, labels, source)


def from_mpeg7(
    root: PathLike,
    mapping: Optional[Mapping[str, str]] = None,
    min_area_frac: float = DEFAULT_MIN_AREA_FRAC,
    max_side: int = DEFAULT_MAX_SIDE,
    source: str = "mpeg7",
    clean: bool = True,
) -> ShapeBank:
    """MPEG-7 CE-Shape-1 silhouettes ``root/shapes/<class>-<n>.png`` (object > 0 on 0) as shapes.

    ``mapping`` (MPEG-7 class -> COCO class name) defaults to ``root/coco_names.json``; unmapped
    classes are skipped. Files are read in sorted order. With ``clean`` (default), holes are filled
    and only the largest 8-connected component is kept (a few files have specks / spotted fur).
    """
    root = Path(root)
    if mapping is None:
        with open(root / "coco_names.json", "r", encoding="utf-8") as f:
            mapping = json.load(f)
    to_coco = {str(k): coco_index(str(v)) for k, v in mapping.items()}
    shape_dir = root / "shapes" if (root / "shapes").is_dir() else root
    masks: List[np.ndarray] = []
    labels: List[int] = []
    for p in sorted(shape_dir.glob("*.png")) + sorted(shape_dir.glob("*.gif")):
        cls = p.stem.rsplit("-", 1)[0]
        if cls not in to_coco:
            continue
        with Image.open(p) as im:
            arr = np.asarray(im if im.mode in ("P", "L", "1") else im.convert("L"))
        m = arr > 0
        if clean:
            m = _fill_and_keep_largest(m)
        if m.sum() == 0 or m.sum() < min_area_frac * m.size:
            continue
        masks.append(tight_crop(m, max_side))
        labels.append(to_coco[cls])
    return ShapeBank.from_lists(masks, labels, source)
