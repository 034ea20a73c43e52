"""Training shapes as SISM's Eq. 10 presents them (issue #25): the class's pixels inside a target's box.

In a label map the classifier F never sees an isolated instance mask: Sem feeds it
``O = (seg[box] == l^t)``, so every same-class pixel inside the box (a parked neighbour, a merged crowd)
is part of the object, and the object is cut by the image border. The banks built here present shapes
that way:

* :func:`coco_sism_view` / :func:`from_coco_instances_sism`: for every COCO instance, the union of all
  instances of its class on the same image (crowd regions included: they are class pixels in a label
  map) inside the instance's tight box; by default only the instances whose view differs from their
  own mask are kept (the isolated ones are already in the COCO instance bank).
* :func:`label_map_sism_views` / :func:`from_label_maps_sism` / :func:`from_camvid_sism`: for every
  connected component of a mapped class in a class-level label map (VOC, CamVid), the class's pixels in
  the component's tight box, plus ``sub_regions`` views of random sub-boxes of the component (the box
  of one car of a row of cars that the label map merged into one blob).

All crops are tight (:func:`~sem_metric.training.shape_bank.tight_crop`), labelled with contiguous COCO
indices; randomness comes from a seed per map, so a bank is a pure function of its inputs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from sem_metric.data_root import default_data_root
from sem_metric.sem.classes import coco_index
from sem_metric.training.coco_masks import polygons_to_mask, rle_decode
from sem_metric.training.shape_bank import DEFAULT_MAX_SIDE, ShapeBank, tight_crop
from sem_metric.training.shape_sources import VOC_TO_COCO, _category_map

from ..pipeline.io import read_label_map
from ..task.targets import connected_components

PathLike = Union[str, Path]

__all__ = ["CAMVID_TO_COCO", "box_view", "sub_boxes", "label_map_sism_views", "coco_sism_view",
           "from_label_maps_sism", "from_camvid_sism", "from_coco_instances_sism"]

#: CamVid (SegNet) ids with a COCO counterpart: car, pedestrian -> person. Bicyclist (a person *and* a
#: bicycle) has none and is not a training class.
CAMVID_TO_COCO: Dict[int, int] = {8: coco_index("car"), 9: coco_index("person")}


def box_view(class_map: np.ndarray, box: Sequence[int]) -> Optional[np.ndarray]:
    """``O`` of Eq. 10 for a box ``(x0, y0, x1, y1)`` (x1/y1 exclusive): the class pixels inside it, or
    ``None`` when the box holds none."""
    x0, y0, x1, y1 = (int(v) for v in box)
    crop = np.asarray(class_map, bool)[y0:y1, x0:x1]
    return crop if crop.any() else None


def sub_boxes(box: Sequence[int], rng: np.random.Generator, n: int, min_frac: float = 0.35,
              max_frac: float = 0.8) -> List[Tuple[int, int, int, int]]:
    """``n`` random sub-boxes of ``box``: each spans ``min_frac``-``max_frac`` of the box along its longer
    side (where merged neighbours line up) and 70-100% along the other, at a uniform position."""
    x0, y0, x1, y1 = (int(v) for v in box)
    w, h = x1 - x0, y1 - y0
    out = []
    for _ in range(int(n)):
        fw, fh = rng.uniform(min_frac, max_frac), rng.uniform(0.7, 1.0)
        if h > w:
            fw, fh = fh, fw
        sw, sh = max(1, int(round(fw * w))), max(1, int(round(fh * h)))
        ox = int(rng.integers(0, w - sw + 1))
        oy = int(rng.integers(0, h - sh + 1))
        out.append((x0 + ox, y0 + oy, x0 + ox + sw, y0 + oy + sh))
    return out


def label_map_sism_views(seg: np.ndarray, class_to_coco: Mapping[int, int], min_area: int,
                         sub_regions: int = 0, rng: Optional[np.random.Generator] = None,
                         min_sub_area: Optional[int] = None, max_side: int = DEFAULT_MAX_SIDE,
                         connectivity: int = 8, only_changed: bool = False, sub_fraction: float = 1.0
                         ) -> Tuple[List[np.ndarray], List[int], List[str]]:
    """SISM views of one class-level label map -> (tight crops, COCO indices, kinds ``"box"``/``"sub"``).

    Every ``connectivity``-connected component of a class in ``class_to_coco`` with at least
    ``min_area`` pixels gives the class's pixels inside its tight box (other components of the class
    that reach into the box included); components that are large enough also give ``sub_regions``
    views of random sub-boxes (:func:`sub_boxes`) holding at least ``min_sub_area`` class pixels
    (default ``min_area``). ``only_changed`` leaves out the box views equal to the component alone
    (already in a component bank); ``sub_fraction`` is the share of components (drawn) given sub-views.
    """
    seg = np.asarray(seg)
    rng = rng if rng is not None else np.random.default_rng(0)
    min_sub = min_area if min_sub_area is None else int(min_sub_area)
    masks: List[np.ndarray] = []
    labels: List[int] = []
    kinds: List[str] = []
    for cls in sorted(int(c) for c in np.unique(seg)):
        if cls not in class_to_coco:
            continue
        binary = seg == cls
        if binary.sum() < min_area:
            continue
        for sl, comp in connected_components(binary, connectivity):
            if int(comp.sum()) < min_area:
                continue
            box = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
            view = box_view(binary, box)
            if not (only_changed and int(view.sum()) == int(comp.sum())):
                masks.append(tight_crop(view, max_side))
                labels.append(int(class_to_coco[cls]))
                kinds.append("box")
            if (sub_regions and min(box[2] - box[0], box[3] - box[1]) >= 8
                    and (sub_fraction >= 1.0 or rng.random() < sub_fraction)):
                for sb in sub_boxes(box, rng, sub_regions):
                    view = box_view(binary, sb)
                    if view is None or int(view.sum()) < min_sub:
                        continue
                    masks.append(tight_crop(view, max_side))
                    labels.append(int(class_to_coco[cls]))
                    kinds.append("sub")
    return masks, labels, kinds


def _seed_of(name: str, seed: int) -> np.random.Generator:
    h = int.from_bytes(hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()[:8], "big")
    return np.random.default_rng(h)


def from_label_maps_sism(paths: Sequence[PathLike], class_to_coco: Mapping[int, int],
                         min_area_frac: float = 0.001, sub_regions: int = 2, seed: int = 0,
                         max_side: int = DEFAULT_MAX_SIDE, source: str = "label_maps_sism",
                         connectivity: int = 8, only_changed: bool = False, sub_fraction: float = 1.0) -> ShapeBank:
    """SISM-view bank of class-level label maps (:func:`label_map_sism_views` on each map).

    ``min_area_frac`` of the map is the component (and sub-view) size filter; each map's sub-boxes are
    drawn from ``sha256(f"{seed}:{file name}")``. Source tags are ``<source>`` (component boxes) and
    ``<source>_sub`` (sub-regions); ``only_changed`` / ``sub_fraction`` as in :func:`label_map_sism_views`.
    """
    masks: List[np.ndarray] = []
    labels: List[int] = []
    sources: List[str] = []
    for p in paths:
        seg = read_label_map(p)
        min_area = max(1, int(np.ceil(min_area_frac * seg.shape[0] * seg.shape[1])))
        ms, ls, ks = label_map_sism_views(seg, class_to_coco, min_area, sub_regions, _seed_of(Path(p).name, seed),
                                          max_side=max_side, connectivity=connectivity, only_changed=only_changed,
                                          sub_fraction=sub_fraction)
        masks += ms
        labels += ls
        sources += [source if k == "box" else f"{source}_sub" for k in ks]
    return _bank(masks, labels, sources, source)


def _bank(masks, labels, sources, default_source: str) -> ShapeBank:
    return ShapeBank.from_lists(masks, labels, sources if masks else default_source)


def from_camvid_sism(root: PathLike, splits: Sequence[str] = ("train",), min_area_frac: float = 0.001,
                     sub_regions: int = 2, seed: int = 0, max_side: int = DEFAULT_MAX_SIDE) -> ShapeBank:
    """SISM views of CamVid (SegNet) ``<root>/<split>annot/*.png`` for car and pedestrian
    (:data:`CAMVID_TO_COCO`). The test split is the report (the ``camvid-test`` task): refused here."""
    if "test" in splits:
        raise ValueError("CamVid test is the evaluation task; it never enters classifier training or selection")
    paths: List[Path] = []
    for split in splits:
        paths += sorted((Path(root) / f"{split}annot").glob("*.png"))
    return from_label_maps_sism(paths, CAMVID_TO_COCO, min_area_frac, sub_regions, seed, max_side,
                                source="camvid_sism")


def coco_sism_view(masks: Sequence[np.ndarray], index: int) -> np.ndarray:
    """The Eq. 10 view of instance ``index`` among the same-class instance masks of one image: their
    union inside the instance's tight box (uncropped box crop)."""
    own = np.asarray(masks[index], bool)
    rows, cols = np.flatnonzero(own.any(axis=1)), np.flatnonzero(own.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    view = own[y0:y1, x0:x1].copy()
    for j, m in enumerate(masks):
        if j != index:
            view |= np.asarray(m, bool)[y0:y1, x0:x1]
    return view


def _full_mask(segmentation, h: int, w: int) -> Optional[np.ndarray]:
    """A COCO segmentation (polygons or RLE) as an ``h x w`` mask in image coordinates (or None)."""
    if isinstance(segmentation, dict):
        m = rle_decode(segmentation).astype(bool)
        return m if m.shape == (h, w) and m.any() else None
    if isinstance(segmentation, (list, tuple)):
        crop, (y0, x0) = polygons_to_mask(segmentation, h, w)
        if crop is None or not crop.any():
            return None
        full = np.zeros((h, w), bool)
        ch, cw = min(crop.shape[0], h - y0), min(crop.shape[1], w - x0)
        full[y0:y0 + ch, x0:x0 + cw] = crop[:ch, :cw]
        return full
    return None


def from_coco_instances_sism(json_path: PathLike, min_area_frac: float = 0.01, min_area_px: int = 400,
                             only_changed: float = 0.02, max_side: int = DEFAULT_MAX_SIDE,
                             source: str = "coco_sism") -> ShapeBank:
    """COCO instances seen as in a label map: for every non-crowd instance with at least
    ``max(min_area_px, min_area_frac * image area)`` pixels, :func:`coco_sism_view` over all instances
    of its class on the image (crowd included). With ``only_changed > 0``, only views where the
    neighbours add at least that fraction of the instance's own area are kept."""
    with open(json_path, "r", encoding="utf-8") as f:
        data = json.load(f)
    cat_map = _category_map(data.get("categories", []))
    images = {int(im["id"]): (int(im["height"]), int(im["width"])) for im in data["images"]}
    groups: Dict[Tuple[int, int], list] = defaultdict(list)
    for ann in data.get("annotations", []):
        label = cat_map.get(int(ann["category_id"]))
        if label is not None and int(ann["image_id"]) in images:
            groups[(int(ann["image_id"]), label)].append(ann)
    masks: List[np.ndarray] = []
    labels: List[int] = []
    for (image_id, label), anns in sorted(groups.items()):
        if len(anns) < 2:
            continue
        h, w = images[image_id]
        decoded = [_full_mask(a.get("segmentation"), h, w) for a in anns]
        keep = [(a, m) for a, m in zip(anns, decoded) if m is not None and m.any()]
        ms = [m for _, m in keep]
        for i, (a, m) in enumerate(keep):
            area = int(m.sum())
            if a.get("iscrowd", 0) or area < max(min_area_px, min_area_frac * h * w):
                continue
            view = coco_sism_view(ms, i)
            if only_changed > 0 and int(view.sum()) - area < only_changed * area:
                continue
            masks.append(tight_crop(view, max_side))
            labels.append(label)
    return ShapeBank.from_lists(masks, labels, source)


def main(argv: Optional[List[str]] = None) -> int:
    """CLI: write the SISM-view banks ``train_sism.npz`` (COCO train, VOC train, CamVid train with
    sub-regions) and ``val_camvid_sism.npz`` (CamVid val component boxes) / ``val_coco_sism.npz``, plus
    ``summary_sism.json``, into ``--out``."""
    ap = argparse.ArgumentParser(prog="python -m sem_metric.training.sism_shapes", description=main.__doc__)
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("cache/shapes"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--camvid-sub-regions", type=int, default=3)
    ap.add_argument("--voc-sub-regions", type=int, default=1)
    ap.add_argument("--voc-sub-fraction", type=float, default=0.3,
                    help="share of VOC components given sub-region views (VOC components are in train.npz already)")
    args = ap.parse_args(argv)
    root = args.data_root or default_data_root()
    t0 = time.time()
    banks: Dict[str, ShapeBank] = {}
    coco = from_coco_instances_sism(root / "coco-union" / "instances_train.json")
    print(f"[sism_shapes] coco {len(coco)} ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)
    voc_root = root / "voc-segclassaug"
    ids = [ln.split()[0] for ln in (voc_root / "train.txt").read_text().splitlines() if ln.strip()]
    voc = from_label_maps_sism([voc_root / "SegmentationClassAug" / f"{i}.png" for i in ids], VOC_TO_COCO,
                               min_area_frac=0.01, sub_regions=args.voc_sub_regions, seed=args.seed, source="voc_sism",
                               only_changed=True, sub_fraction=args.voc_sub_fraction)
    print(f"[sism_shapes] voc {len(voc)} ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)
    cam = from_camvid_sism(root / "camvid", ("train",), sub_regions=args.camvid_sub_regions, seed=args.seed)
    banks["train_sism"] = ShapeBank.concat([coco, voc, cam])
    banks["val_camvid_sism"] = from_camvid_sism(root / "camvid", ("val",), sub_regions=0, seed=args.seed)
    banks["val_coco_sism"] = from_coco_instances_sism(root / "coco-union" / "instances_val.json")
    summary = {}
    for name, bank in banks.items():
        bank.save(args.out / f"{name}.npz")
        counts = bank.class_counts()
        summary[name] = {"total": len(bank), "per_source": bank.source_counts(),
                         "car": int(counts[coco_index("car")]), "person": int(counts[coco_index("person")])}
    summary["seconds"] = round(time.time() - t0, 1)
    (args.out / "summary_sism.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
