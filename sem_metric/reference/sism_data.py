"""SISM samples from label maps (paper Sec. 3, 3.1 and 4.1) for the reference models, built through
:mod:`sem_metric.task`.

A SISM sample is built from a complete label map S^c and a target object: the box B = {b, l^t} is the
bounding box of the object, M is the box mask (Sec. 3.1), and the incomplete map S^u is S^c with the box
filled with l^t (Sec. 3). Objects, tight boxes, S^u, nearest-neighbour resizing, area thresholds and the
datasets' encodings have one implementation, in :mod:`sem_metric.task` (``targets``, ``sources``); this
module keeps the reference models' records, samples and torch dataset on top of it, and the names it
always exported (``find_targets``, ``make_sample``, ``resize_nearest``, the loaders, ...).

Loaders (all return :class:`LabelMapRecord` lists, label maps resized with nearest neighbour), each a
:mod:`sem_metric.task.sources` format:

* :func:`load_camvid` - SegNet CamVid ``{train,val,test}annot/*.png`` (grayscale, 0..11, 11 unlabelled).
* :func:`load_cityscapes` - ``gtFine/<split>/<city>/*_gtFine_labelIds.png`` + ``*_gtFine_instanceIds.png``
  (instance id = class * 1000 + k for thing classes, = class id for stuff), or a flat folder of such pairs.
* :func:`load_ade20k` - full ADE20K ``*_seg.png`` (class = R / 10 * 256 + G, instance in B) or
  SceneParsing ``annotations/<split>/*.png`` (grayscale class index, 0 = other).

None of this is imported by the core package.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..data_root import default_data_root  # noqa: F401 (public name: the one data-root rule)
from ..errors import InputError
from ..pipeline.class_names import CAMVID_NAMES
from ..task import sources, targets as _targets
from ..task.protocols import Protocol
from ..task.sources import decode_ade20k_seg, decode_cityscapes_instances  # noqa: F401 (public names)
from ..task.targets import Target, min_area_pixels, resize_nearest  # noqa: F401 (public names)

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




# --------------------------------------------------------------------------------------------------
# records, targets, samples

@dataclass
class LabelMapRecord:
    """One complete label map S^c (Sec. 3) at working resolution: ``seg`` (H, W) int64 class ids, optional ``instances``
    (H, W) int64 instance ids (0 / negative = no instance), and the file it came from."""

    name: str
    seg: np.ndarray
    instances: Optional[np.ndarray] = None


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


def find_targets(seg: np.ndarray, labels: Iterable[int], instances: Optional[np.ndarray] = None,
                 min_area: int = 1, connectivity: int = 8) -> List[Target]:
    """Target objects of the given classes in one label map (Sec. 3: B = {b, l^t}) with at least
    ``min_area`` pixels: :func:`sem_metric.task.targets.find_targets` (instances, or ``connectivity``-connected
    components), then the area filter. Deterministic order: by label, then by (y0, x0, x1, y1)."""
    found = _targets.find_targets(seg, labels, instances, connectivity=connectivity)
    return [t for t in found if t.area >= max(1, int(min_area))]


def make_sample(seg_c: np.ndarray, box: Sequence[int], label: int, name: str = "") -> SISMSample:
    """Build a SISM sample (Sec. 3): M_ij = 1 inside the box (Sec. 3.1), S^u = S^c with the box filled
    with l^t (:func:`sem_metric.task.targets.incomplete_map`). ``box`` = (x0, y0, x1, y1), x1/y1
    exclusive, must lie inside the map and be non-empty."""
    seg_c = np.asarray(seg_c).astype(np.int64, copy=True)
    if seg_c.ndim != 2:
        raise InputError(f"make_sample({name!r}): expected a 2-D label map, got shape {seg_c.shape}")
    try:
        seg_u = _targets.incomplete_map(seg_c, box, label)
    except InputError as e:
        raise InputError(f"make_sample({name!r}): {e}") from None
    x0, y0, x1, y1 = (int(v) for v in box)
    return SISMSample(seg_c, seg_u, _targets.box_mask(seg_c.shape, box), (x0, y0, x1, y1), int(label), name)


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
# loaders (the encodings are read by sem_metric.task.sources)

def _remap(seg: np.ndarray, class_map: Optional[Mapping[int, int]], default: Optional[int],
           path: str) -> np.ndarray:
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


def reading_protocol(fmt: str, split: str, size_hw: Optional[Tuple[int, int]] = None, targets: Sequence[int] = (),
                     min_area_frac: float = 0.0, objects: Optional[str] = None) -> Protocol:
    """A (non-registered) :class:`sem_metric.task.Protocol` (Sec. 4.1 samples) that reads ``fmt`` / ``split`` at ``size_hw``
    (None = native), with ``targets`` as classes and ``min_area_frac`` as the object-area fraction: how the
    reference models read a dataset through :mod:`sem_metric.task`."""
    objects = objects or ("components" if fmt in ("camvid", "labelmaps") else "instances")
    return Protocol(f"reference-{fmt}", 1, fmt, "reference-model samples", "sem_metric.reference", fmt, split,
                    tuple((int(t), f"class {int(t)}") for t in targets),
                    resolution="native" if size_hw is None else (int(size_hw[0]), int(size_hw[1])),
                    objects=objects, min_object_area_fraction=float(min_area_frac))


def _records(protocol: Protocol, root: str, limit: Optional[int], class_map=None, default_class=None,
             keep_instances: bool = True) -> List[LabelMapRecord]:
    entries = sources.scan(protocol, root)
    if limit is not None:
        entries = entries[: int(limit)]
    size = None if protocol.resolution == "native" else protocol.resolution
    out = []
    for e in entries:
        m = sources.load(protocol, e)
        seg = _remap(m.seg, class_map, default_class, e.files[0][1])
        inst = m.instances if keep_instances else None
        out.append(LabelMapRecord(Path(e.name).name, resize_nearest(seg, size),
                                  None if inst is None else resize_nearest(inst, size)))
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
    return _records(reading_protocol("camvid", split, size_hw), str(root_p), limit)


def load_cityscapes(root: str, split: str = "val", size_hw: Optional[Tuple[int, int]] = (128, 256),
                    class_map: Optional[Mapping[int, int]] = None, default_class: Optional[int] = None,
                    limit: Optional[int] = None) -> List[LabelMapRecord]:
    """Cityscapes ``gtFine/<split>/<city>/*_gtFine_labelIds.png`` (class ids 0..33) with the matching
    ``*_gtFine_instanceIds.png`` (instance id = class * 1000 + k for thing classes), both resized with
    nearest neighbour. ``root`` is the folder that contains ``gtFine/`` (or ``gtFine`` itself, or a flat
    folder of pairs). ``class_map`` optionally maps raw labelIds to training ids (unmapped ->
    ``default_class``). Targets: :data:`CITYSCAPES_TARGETS` (Sec. 4.1, the 8 movable classes), as instances."""
    return _records(reading_protocol("cityscapes", split, size_hw), root, limit, class_map, default_class)


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
    scene = Path(root) / "annotations" / split
    if scene.is_dir():
        return _records(reading_protocol("labelmaps", "", size_hw), str(scene), limit, class_map, default_class,
                        keep_instances=False)
    return _records(dataclasses.replace(reading_protocol("ade20k", "", size_hw), scene=""), root, limit,
                    class_map, default_class)


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
