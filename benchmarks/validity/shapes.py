"""Held-out shape sets, the study's box convention, and mask resizing.

A *held-out set* is a list of binary object shapes (tight crops), their COCO class index and a
*group* id: pairs in the latent-ground-truth study are only formed between shapes of different groups
(CamVid: the video sequence, so that a car is never paired with itself a few frames later; banks: the
shape index, i.e. any other shape).

Box convention (both studies): the object's tight box plus a margin of ``MARGIN_FRAC`` of its side on
each side (at least 1 px), on a label-map canvas with ``CANVAS_BORDER`` px of background (class 0)
around the box; the object has class id ``OBJECT_LABEL``. Sem only sees the binary map inside the box.
"""
from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]

MARGIN_FRAC = 0.05
CANVAS_BORDER = 4
OBJECT_LABEL = 1
MAX_SIDE = 128  # same cap as the shape banks

# default held-out banks (file names in the banks directory) and their short source names
BANK_FILES = {"coco": "val_coco.npz", "voc": "val_voc.npz", "animal": "val_animal.npz"}
SOURCES = ("coco", "voc", "animal", "camvid")

# CamVid (SegNet version) class ids -> COCO class names. Bicyclist -> 'bicycle': the CamVid label covers
# rider + bicycle; mapping it to 'bicycle' keeps it a class distinct from pedestrians (-> 'person').
CAMVID_CLASSES = {8: "car", 9: "person", 10: "bicycle"}
CAMVID_MIN_AREA = 100


@dataclass
class HeldOutSet:
    """Binary shapes (tight bool crops) of one source, with COCO labels and pairing groups."""

    name: str
    masks: list
    labels: np.ndarray
    groups: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.groups = np.asarray(self.groups, dtype=np.int64).reshape(-1)
        if not (len(self.masks) == self.labels.size == self.groups.size):
            raise ValueError(f"{self.name}: masks, labels and groups differ in length")

    def __len__(self):
        return len(self.masks)


def default_banks_dir() -> Path:
    env = os.environ.get("SEM_METRIC_SHAPES")
    return Path(env) if env else REPO_ROOT / "cache" / "shapes"


def default_data_root() -> Path:
    env = os.environ.get("SEM_METRIC_DATA")
    return Path(env) if env else (REPO_ROOT / ".." / "shared" / "data").resolve()


def set_from_bank(name: str, bank) -> HeldOutSet:
    """A :class:`HeldOutSet` from a ``ShapeBank`` (or a path to one); every shape is its own group."""
    if isinstance(bank, (str, os.PathLike)):
        from sem_metric.training.shape_bank import ShapeBank

        path = Path(bank)
        bank = ShapeBank.load(path)
        meta = {"path": str(path)}
    else:
        meta = {}
    n = len(bank)
    return HeldOutSet(name, list(bank.masks), np.asarray(bank.labels), np.arange(n), meta)


def tight(mask: np.ndarray) -> np.ndarray | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a binary mask to ``height x width``: area averaging (PIL BOX filter on 0/1 floats; it is
    nearest-neighbour-like when enlarging), then threshold at 0.5; never returns an empty mask (if all
    coverage is below 0.5 the best-covered pixel is kept)."""
    m = np.asarray(mask, dtype=bool)
    if m.shape == (height, width):
        return m.copy()
    img = Image.fromarray(m.astype(np.float32), mode="F")
    cover = np.asarray(img.resize((int(width), int(height)), resample=Image.BOX), dtype=np.float32)
    out = cover >= 0.5
    if not out.any() and m.any():
        out[np.unravel_index(int(np.argmax(cover)), cover.shape)] = True
    return out


def cap_side(mask: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Tight crop, downscaled (aspect kept) so that its longer side is at most ``max_side``."""
    m = tight(np.asarray(mask, dtype=bool))
    h, w = m.shape
    if max(h, w) <= max_side:
        return np.ascontiguousarray(m)
    s = max_side / max(h, w)
    out = tight(resize_mask(m, max(1, round(h * s)), max(1, round(w * s))))
    return np.ascontiguousarray(out)


def to_long_side(mask: np.ndarray, side: int) -> np.ndarray:
    """Rescale a tight crop so that its longer side is ``side`` px (aspect kept), re-cropped tight."""
    h, w = mask.shape
    s = side / max(h, w)
    return tight(resize_mask(mask, max(1, round(h * s)), max(1, round(w * s))))


def margins(h: int, w: int, frac: float = MARGIN_FRAC) -> tuple[int, int]:
    """Box margin (rows, cols) around an ``h x w`` object: ``max(1, round(frac * side))``."""
    return max(1, round(frac * h)), max(1, round(frac * w))


def in_box(obj: np.ndarray, frac: float = MARGIN_FRAC) -> np.ndarray:
    """The object (tight crop) centred in its box with margins: a bool array of the box's size."""
    h, w = obj.shape
    my, mx = margins(h, w, frac)
    box = np.zeros((h + 2 * my, w + 2 * mx), dtype=bool)
    box[my:my + h, mx:mx + w] = obj
    return box


def on_canvas(box_content: np.ndarray, border: int = CANVAS_BORDER, label: int = OBJECT_LABEL):
    """Label map (uint8, background 0, object ``label``) holding ``box_content`` inside a box at
    ``(border, border)``; returns ``(map, (x0, y0, x1, y1))`` with exclusive ends."""
    bh, bw = box_content.shape
    seg = np.zeros((bh + 2 * border, bw + 2 * border), dtype=np.uint8)
    seg[border:border + bh, border:border + bw][box_content] = label
    return seg, (border, border, border + bw, border + bh)


def camvid_set(data_root: str | os.PathLike | None = None, split: str = "testannot",
               min_area: int = CAMVID_MIN_AREA, max_side: int = MAX_SIDE) -> HeldOutSet:
    """8-connected components of car / pedestrian / bicyclist in CamVid label maps (default: test split).

    Each component of at least ``min_area`` px becomes a tight crop (downscaled to ``max_side`` like the
    banks). Group = video sequence (file-name prefix before the first ``_``).
    """
    from scipy import ndimage

    from sem_metric import COCO_CLASSES

    root = Path(data_root) if data_root is not None else default_data_root()
    folder = root / "camvid" / split
    files = sorted(folder.glob("*.png"))
    if not files:
        raise FileNotFoundError(f"no CamVid label maps in {folder} (set --data-root or SEM_METRIC_DATA)")
    structure = np.ones((3, 3), dtype=bool)
    masks, labels, groups, frames = [], [], [], []
    seq_ids: dict[str, int] = {}
    for f in files:
        seq = re.split(r"_", f.stem, maxsplit=1)[0]
        gid = seq_ids.setdefault(seq, len(seq_ids))
        lab = np.asarray(Image.open(f))
        for cid, cname in CAMVID_CLASSES.items():
            comp, n = ndimage.label(lab == cid, structure=structure)
            if n == 0:
                continue
            areas = np.bincount(comp.ravel(), minlength=n + 1)
            for k, sl in enumerate(ndimage.find_objects(comp), start=1):
                if areas[k] < min_area:
                    continue
                masks.append(cap_side(comp[sl] == k, max_side))
                labels.append(COCO_CLASSES.index(cname))
                groups.append(gid)
                frames.append(f.stem)
    meta = {"path": str(folder), "min_area": min_area, "sequences": {v: k for k, v in seq_ids.items()},
            "class_map": {str(k): v for k, v in CAMVID_CLASSES.items()}, "n_frames": len(files)}
    s = HeldOutSet("camvid", masks, np.array(labels, dtype=np.int64), np.array(groups, dtype=np.int64), meta)
    s.meta["frames"] = frames
    return s


def load_heldout_sets(names: Iterable[str] = SOURCES, banks_dir: str | os.PathLike | None = None,
                      data_root: str | os.PathLike | None = None) -> dict[str, HeldOutSet]:
    """The study's held-out sets by source name (``coco``, ``voc``, ``animal`` from the banks directory,
    ``camvid`` from the data root)."""
    bdir = Path(banks_dir) if banks_dir is not None else default_banks_dir()
    out = {}
    for name in names:
        if name == "camvid":
            out[name] = camvid_set(data_root)
        elif name in BANK_FILES:
            path = bdir / BANK_FILES[name]
            if not path.is_file():
                raise FileNotFoundError(
                    f"held-out bank {path} not found; build it with `python -m sem_metric.training.build_shapes "
                    f"--out cache/shapes` or pass --banks-dir / SEM_METRIC_SHAPES")
            out[name] = set_from_bank(name, path)
        else:
            raise ValueError(f"unknown source {name!r}; known: {', '.join(SOURCES)}")
    return out


def as_heldout_sets(banks) -> dict[str, HeldOutSet]:
    """Normalise the ``banks`` argument of :func:`latent_gt_auc`.

    Accepts ``None`` (the four default sources), a mapping ``name -> HeldOutSet | ShapeBank | path``,
    or a sequence of such items (names: the set's name, or the file stem of a path, or ``bank<i>``).
    A string item that is a known source name (``"camvid"``, ``"coco"``...) loads the default for it.
    """
    if banks is None:
        return load_heldout_sets()
    if isinstance(banks, Mapping):
        items = list(banks.items())
    else:
        items = []
        for i, b in enumerate(banks):
            if isinstance(b, HeldOutSet):
                items.append((b.name, b))
            elif isinstance(b, str) and b in SOURCES:
                items.append((b, b))
            elif isinstance(b, (str, os.PathLike)):
                items.append((Path(b).stem, b))
            else:
                items.append((f"bank{i}", b))
    out = {}
    for name, b in items:
        if isinstance(b, HeldOutSet):
            out[name] = b
        elif isinstance(b, str) and b in SOURCES and not Path(b).exists():
            out[name] = load_heldout_sets([b])[b]
        else:
            out[name] = set_from_bank(name, b)
    return out


def stable_hash(text: str) -> int:
    """A process-independent 32-bit hash of ``text`` (for per-source seeds)."""
    return zlib.crc32(text.encode("utf-8"))
