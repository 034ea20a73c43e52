"""SISM samples from label maps (paper Sec. 3, 3.1 and 4.1) and dataset loaders.

A SISM sample is built from a complete label map S^c and a target object: the box B = {b, l^t} is the
bounding box of the object, M is the box mask (Sec. 3.1), and the incomplete map S^u is S^c with the box
filled with l^t (Sec. 3). Targets are instances when the dataset has instance ids (Cityscapes, ADE20K)
and 8-connected components of the target class otherwise (CamVid, Pascal-style maps), with a minimum
area measured at the working resolution.

Loaders (all return :class:`LabelMapRecord` lists, label maps resized with nearest neighbour):

* :func:`load_camvid` - SegNet CamVid ``{train,val,test}annot/*.png`` (grayscale, 0..11, 11 unlabelled).
* :func:`load_cityscapes` - ``gtFine/<split>/<city>/*_gtFine_labelIds.png`` + ``*_gtFine_instanceIds.png``
  (instance id = class * 1000 + k for thing classes, = class id for stuff).
* :func:`load_ade20k` - full ADE20K ``*_seg.png`` (class = R / 10 * 256 + G, instance in B) or
  SceneParsing ``annotations/<split>/*.png`` (grayscale class index, 0 = other).

None of this is imported by the core package; label maps are read with :func:`sem_metric.pipeline.io.read_label_map`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import InputError
from ..pipeline.class_names import CAMVID_NAMES

# --------------------------------------------------------------------------------------------------
# dataset constants

#: CamVid (SegNet version) class ids; 11 = unlabelled is kept as an ordinary class (see README). The one
#: name table is :data:`sem_metric.pipeline.class_names.CAMVID_NAMES`.
CAMVID_CLASSES = tuple(CAMVID_NAMES[i] for i in range(len(CAMVID_NAMES)))
CAMVID_NUM_CLASSES = 12
CAMVID_TARGETS = {"car": 8, "pedestrian": 9, "bicyclist": 10}

#: Cityscapes labelIds 0..33 (license plate -1 never appears in the PNGs); the 8 movable classes that
#: Hong et al. 2018 / the paper (Sec. 4.1) use as SISM targets.
CITYSCAPES_NUM_CLASSES = 34
CITYSCAPES_TARGETS = {"person": 24, "rider": 25, "car": 26, "truck": 27, "bus": 28, "train": 31,
                      "motorcycle": 32, "bicycle": 33}

#: ADE20K SceneParsing (ADEChallengeData2016) has 150 classes + 0 = other.
ADE20K_SCENEPARSING_NUM_CLASSES = 151



def default_data_root() -> Path:
    """Data folder of the label maps used for SISM (Sec. 4.1 datasets): ``$SEM_METRIC_DATA`` when set, else
    ``../shared/data`` next to the repository."""
    env = os.environ.get("SEM_METRIC_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


# --------------------------------------------------------------------------------------------------
# records, targets, samples

@dataclass
class LabelMapRecord:
    """One complete label map S^c (Sec. 3) at working resolution: ``seg`` (H, W) int64 class ids, optional ``instances``
    (H, W) int64 instance ids (0 / negative = no instance), and the file it came from."""

    name: str
    seg: np.ndarray
    instances: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Target:
    """A target object (Sec. 3): box ``(x0, y0, x1, y1)`` (x1/y1 exclusive), label l^t, area in pixels."""

    box: Tuple[int, int, int, int]
    label: int
    area: int


@dataclass
class SISMSample:
    """A SISM sample (Sec. 3, 3.1): S^c, S^u (box filled with l^t), M (box mask), box, l^t."""

    seg_c: np.ndarray
    seg_u: np.ndarray
    mask: np.ndarray
    box: Tuple[int, int, int, int]
    label: int
    name: str = ""
    extra: dict = field(default_factory=dict)


def resize_nearest(seg: np.ndarray, size_hw: Optional[Tuple[int, int]]) -> np.ndarray:
    """Resize a label map (or instance map) to ``size_hw`` = (H, W) with nearest neighbour (Sec. 4.1
    working resolution); ``None`` keeps the size. Returns int64."""
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise InputError(f"resize_nearest: expected a 2-D label map, got shape {seg.shape}")
    if size_hw is None or tuple(seg.shape) == tuple(size_hw):
        return seg.astype(np.int64, copy=True)
    h, w = int(size_hw[0]), int(size_hw[1])
    if h <= 0 or w <= 0:
        raise InputError(f"resize_nearest: size must be positive, got {size_hw}")
    # exact nearest-neighbour index mapping (pixel centres), independent of PIL's integer modes
    ys = np.minimum(((np.arange(h) + 0.5) * seg.shape[0] / h).astype(np.int64), seg.shape[0] - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * seg.shape[1] / w).astype(np.int64), seg.shape[1] - 1)
    return seg[ys[:, None], xs[None, :]].astype(np.int64)


def _bbox(mask: np.ndarray) -> Tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def find_targets(seg: np.ndarray, labels: Iterable[int], instances: Optional[np.ndarray] = None,
                 min_area: int = 1, connectivity: int = 8) -> List[Target]:
    """Target objects of the given classes in one label map (Sec. 3: B = {b, l^t}).

    With ``instances`` (same shape as ``seg``), each instance id > 0 whose pixels have a target class
    is one object (pixels of the instance that carry another class are ignored). Without it, every
    ``connectivity``-connected component (8 or 4) of a target class is one object. Objects with fewer
    than ``min_area`` pixels are dropped. The box is the object's bounding box, x1/y1 exclusive.
    Deterministic order: by label, then by (y0, x0, x1, y1).
    """
    from scipy import ndimage

    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise InputError(f"find_targets: expected a 2-D label map, got shape {seg.shape}")
    if connectivity not in (4, 8):
        raise InputError(f"find_targets: connectivity must be 4 or 8, got {connectivity}")
    structure = np.ones((3, 3), bool) if connectivity == 8 else ndimage.generate_binary_structure(2, 1)
    out: List[Target] = []
    for label in sorted({int(l) for l in labels}):
        cls = seg == label
        if not cls.any():
            continue
        if instances is not None:
            inst = np.asarray(instances)
            if inst.shape != seg.shape:
                raise InputError(f"find_targets: instance map shape {inst.shape} != label map "
                                 f"shape {seg.shape}")
            ids = np.unique(inst[cls])
            comps = [(cls & (inst == i)) for i in ids if i > 0]
        else:
            lab, n = ndimage.label(cls, structure=structure)
            comps = [lab == i for i in range(1, n + 1)]
        found = []
        for comp in comps:
            area = int(comp.sum())
            if area >= max(1, int(min_area)):
                found.append(Target(_bbox(comp), label, area))
        out.extend(sorted(found, key=lambda t: (t.box[1], t.box[0], t.box[2], t.box[3])))
    return out


def min_area_pixels(size_hw: Tuple[int, int], fraction: float) -> int:
    """Minimum target-object area in pixels (cf. the 1% size filter of Sec. 4.1): ``ceil(fraction * H * W)``,
    at least 1."""
    return max(1, int(np.ceil(float(fraction) * size_hw[0] * size_hw[1])))


def make_sample(seg_c: np.ndarray, box: Sequence[int], label: int, name: str = "") -> SISMSample:
    """Build a SISM sample (Sec. 3): M_ij = 1 inside the box (Sec. 3.1), S^u = S^c with the box filled
    with l^t. ``box`` = (x0, y0, x1, y1), x1/y1 exclusive, must lie inside the map and be non-empty."""
    seg_c = np.asarray(seg_c).astype(np.int64, copy=True)
    if seg_c.ndim != 2:
        raise InputError(f"make_sample({name!r}): expected a 2-D label map, got shape {seg_c.shape}")
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = seg_c.shape
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise InputError(f"make_sample({name!r}): box {tuple(box)} is empty or outside the "
                         f"{h}x{w} map; use x0 < x1 <= W, y0 < y1 <= H")
    mask = np.zeros((h, w), np.uint8)
    mask[y0:y1, x0:x1] = 1
    seg_u = seg_c.copy()
    seg_u[y0:y1, x0:x1] = int(label)
    return SISMSample(seg_c, seg_u, mask, (x0, y0, x1, y1), int(label), name)


def samples_from_records(records: Sequence[LabelMapRecord], target_labels: Iterable[int],
                         min_area: int, max_per_image: Optional[int] = None, seed: int = 0,
                         connectivity: int = 8) -> List[SISMSample]:
    """All SISM samples of a list of label maps (Sec. 4.1 evaluation protocol of this repo).

    Every target of :func:`find_targets` becomes a sample; ``max_per_image`` keeps a seeded random
    subset per image (``numpy.random.default_rng(seed)``, images in the given order), so the
    selection is deterministic.
    """
    rng = np.random.default_rng(seed)
    out: List[SISMSample] = []
    for rec in records:
        targets = find_targets(rec.seg, target_labels, rec.instances, min_area, connectivity)
        if max_per_image is not None and len(targets) > max_per_image:
            keep = sorted(rng.choice(len(targets), size=max_per_image, replace=False).tolist())
            targets = [targets[i] for i in keep]
        for t in targets:
            s = make_sample(rec.seg, t.box, t.label, rec.name)
            s.extra["area"] = t.area
            out.append(s)
    return out


# --------------------------------------------------------------------------------------------------
# loaders

def _read_map(path: Path) -> np.ndarray:
    """A single-channel label map (grayscale, palette index or 16/32-bit ids) with the package's one
    reader, :func:`sem_metric.pipeline.io.read_label_map` (RGB maps are refused with a how-to), as int64:
    the loaders below do arithmetic on ids (the reader keeps the file's narrow dtype)."""
    from ..pipeline.io import read_label_map

    return read_label_map(path).astype(np.int64)


def _check_range(seg: np.ndarray, num_classes: int, path: Path) -> None:
    if seg.size and (seg.min() < 0 or seg.max() >= num_classes):
        bad = np.unique(seg[(seg < 0) | (seg >= num_classes)])[:8].tolist()
        raise InputError(f"{path}: class ids {bad} outside 0..{num_classes - 1}; pass a class_map "
                         f"(raw id -> training id) or a larger num_classes")


def _remap(seg: np.ndarray, class_map: Optional[Mapping[int, int]], default: Optional[int],
           path: Path) -> np.ndarray:
    if class_map is None:
        return seg
    out = np.full(seg.shape, -1 if default is None else int(default), np.int64)
    for raw, new in class_map.items():
        out[seg == int(raw)] = int(new)
    if default is None and (out < 0).any():
        bad = np.unique(seg[out < 0])[:8].tolist()
        raise InputError(f"{path}: raw class ids {bad} are not in class_map and no default class "
                         f"was given")
    return out


def load_camvid(root: Optional[str] = None, split: str = "test",
                size_hw: Optional[Tuple[int, int]] = (96, 128),
                limit: Optional[int] = None) -> List[LabelMapRecord]:
    """CamVid (SegNet version) label maps of ``split`` in ``train | val | test`` (folders
    ``<split>annot/*.png``, grayscale, classes 0..11), resized with nearest neighbour to ``size_hw``.
    ``root`` defaults to ``$SEM_METRIC_DATA/camvid`` (``../shared/data/camvid``). Targets for SISM
    (Sec. 4.1 protocol transposed to CamVid): :data:`CAMVID_TARGETS`; no instance ids, so targets are
    connected components."""
    root_p = Path(root) if root else default_data_root() / "camvid"
    folder = root_p / f"{split}annot"
    if not folder.is_dir():
        raise InputError(f"CamVid folder {folder} not found; pass --data-root pointing at the folder "
                         f"that holds trainannot/ valannot/ testannot/ (or set SEM_METRIC_DATA)")
    files = sorted(folder.glob("*.png"))
    if limit is not None:
        files = files[:limit]
    out = []
    for f in files:
        seg = _read_map(f)
        _check_range(seg, CAMVID_NUM_CLASSES, f)
        out.append(LabelMapRecord(f.stem, resize_nearest(seg, size_hw)))
    return out


def decode_cityscapes_instances(inst: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Split a Cityscapes (Sec. 4.1 dataset) ``instanceIds`` map into (class ids, instance ids): pixels >= 1000 hold
    ``class * 1000 + k`` (thing instances), smaller values are the class id itself (stuff or a crowd
    region without instances) and get instance id 0."""
    inst = np.asarray(inst).astype(np.int64)
    thing = inst >= 1000
    cls = np.where(thing, inst // 1000, inst)
    ids = np.where(thing, inst, 0)
    return cls, ids


def load_cityscapes(root: str, split: str = "val", size_hw: Optional[Tuple[int, int]] = (128, 256),
                    class_map: Optional[Mapping[int, int]] = None, default_class: Optional[int] = None,
                    limit: Optional[int] = None) -> List[LabelMapRecord]:
    """Cityscapes ``gtFine/<split>/<city>/*_gtFine_labelIds.png`` (class ids 0..33) with the matching
    ``*_gtFine_instanceIds.png`` when present (instance id = class * 1000 + k for thing classes), both
    resized with nearest neighbour. ``root`` is the folder that contains ``gtFine/`` (or ``gtFine``
    itself). ``class_map`` optionally maps raw labelIds to training ids (unmapped -> ``default_class``).
    Targets: :data:`CITYSCAPES_TARGETS` (Sec. 4.1, the 8 movable classes), as instances."""
    root_p = Path(root)
    base = root_p / "gtFine" if (root_p / "gtFine").is_dir() else root_p
    folder = base / split
    if not folder.is_dir():
        raise InputError(f"Cityscapes folder {folder} not found; pass the folder that contains "
                         f"gtFine/<split>/<city>/*_gtFine_labelIds.png")
    files = sorted(folder.glob("*/*_gtFine_labelIds.png"))
    if not files:
        raise InputError(f"no *_gtFine_labelIds.png under {folder}/<city>/")
    if limit is not None:
        files = files[:limit]
    out = []
    for f in files:
        seg = _read_map(f)
        inst_path = f.with_name(f.name.replace("_gtFine_labelIds.png", "_gtFine_instanceIds.png"))
        inst = None
        if inst_path.is_file():
            raw = _read_map(inst_path)
            if raw.shape != seg.shape:
                raise InputError(f"{inst_path}: shape {raw.shape} != labelIds shape {seg.shape}")
            _, inst = decode_cityscapes_instances(raw)
        seg = _remap(seg, class_map, default_class, f)
        if class_map is None:
            _check_range(seg, CITYSCAPES_NUM_CLASSES, f)
        name = f.name.replace("_gtFine_labelIds.png", "")
        out.append(LabelMapRecord(name, resize_nearest(seg, size_hw),
                                  None if inst is None else resize_nearest(inst, size_hw)))
    return out


def decode_ade20k_seg(rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Decode a full-ADE20K (Sec. 4.1 dataset) ``*_seg.png`` (H, W, 3): class = R / 10 * 256 + G (integer division),
    instance mask id = B (0 = none). Returns (class ids, instance ids) int64."""
    rgb = np.asarray(rgb).astype(np.int64)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise InputError(f"decode_ade20k_seg: expected an RGB image (H, W, 3), got {rgb.shape}")
    cls = (rgb[..., 0] // 10) * 256 + rgb[..., 1]
    inst = rgb[..., 2].copy()
    return cls, inst


def load_ade20k(root: str, split: str = "validation", size_hw: Optional[Tuple[int, int]] = (128, 128),
                class_map: Optional[Mapping[int, int]] = None, default_class: Optional[int] = None,
                limit: Optional[int] = None) -> List[LabelMapRecord]:
    """ADE20K label maps, in either encoding:

    * full ADE20K: every ``*_seg.png`` under ``root`` (recursively); class = R / 10 * 256 + G, instance
      = B (:func:`decode_ade20k_seg`); ``split`` is ignored.
    * SceneParsing (ADEChallengeData2016): ``root/annotations/<split>/*.png`` (grayscale, 0 = other,
      1..150); no instances, targets are connected components.

    ``class_map`` maps raw class ids to training ids (e.g. the 49 bedroom classes of Sec. 4.1),
    unmapped ids -> ``default_class`` (error when None). Maps are resized with nearest neighbour.
    """
    root_p = Path(root)
    scene = root_p / "annotations" / split
    files: List[Path]
    if scene.is_dir():
        files = sorted(scene.glob("*.png"))
        full = False
    else:
        files = sorted(root_p.rglob("*_seg.png"))
        full = True
    if not files:
        raise InputError(f"no ADE20K label maps under {root_p}: expected annotations/{split}/*.png "
                         f"(SceneParsing) or *_seg.png files (full ADE20K)")
    if limit is not None:
        files = files[:limit]
    out = []
    for f in files:
        inst = None
        if full:
            from ..pipeline.io import read_rgb_image

            seg, inst = decode_ade20k_seg(read_rgb_image(f))
        else:
            seg = _read_map(f)
        seg = _remap(seg, class_map, default_class, f)
        name = f.name[: -len("_seg.png")] if full else f.stem
        out.append(LabelMapRecord(name, resize_nearest(seg, size_hw),
                                  None if inst is None else resize_nearest(inst, size_hw)))
    return out


# --------------------------------------------------------------------------------------------------
# torch dataset

class SISMDataset(torch.utils.data.Dataset):
    """Torch dataset of SISM samples (Sec. 3): each item is a dict of tensors
    ``seg_c`` (H, W) long, ``seg_u`` (H, W) long, ``mask`` (H, W) float, ``label`` () long,
    ``box`` (4,) long. ``hflip`` mirrors a sample (map and box) with probability 0.5; the coin is a
    function of (seed, epoch, index) only (:meth:`set_epoch`), so runs and resumed runs agree."""

    def __init__(self, samples: Sequence[SISMSample], hflip: bool = False, seed: int = 0):
        self.samples = list(samples)
        self.hflip = bool(hflip)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the flip coins of ``epoch`` (data augmentation of the Sec. 3 samples)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        s = self.samples[i]
        seg_c, seg_u, mask, box = s.seg_c, s.seg_u, s.mask, s.box
        if self.hflip and np.random.default_rng([self.seed, self.epoch, i]).random() < 0.5:
            w = seg_c.shape[1]
            seg_c, seg_u, mask = seg_c[:, ::-1], seg_u[:, ::-1], mask[:, ::-1]
            box = (w - box[2], box[1], w - box[0], box[3])
        return {
            "seg_c": torch.from_numpy(np.ascontiguousarray(seg_c)).long(),
            "seg_u": torch.from_numpy(np.ascontiguousarray(seg_u)).long(),
            "mask": torch.from_numpy(np.ascontiguousarray(mask)).float(),
            "label": torch.tensor(s.label, dtype=torch.long),
            "box": torch.tensor(box, dtype=torch.long),
        }


def collate(items: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Stack :class:`SISMDataset` items (SISM samples of Sec. 3) into a batch."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}
