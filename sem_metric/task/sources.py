"""Reading the complete label maps S^c (paper Sec. 3) of each protocol's dataset, in its own encoding.

:func:`scan` finds a protocol's files under a data root and checks the layout (every problem is an
:class:`InputError` saying what was found and what is expected); :func:`load` decodes one entry into a
:class:`SourceMap` (class ids, instance ids or None, the files read). Formats (``Protocol.fmt``):

``camvid``        SegNet CamVid ``<split>annot/*.png`` (grayscale ids 0..11); the root may be the folder
                  holding ``testannot/`` or ``testannot/`` itself.
``cityscapes``    ``*_gtFine_labelIds.png`` + ``*_gtFine_instanceIds.png`` (instance = class * 1000 + k for
                  things, the class id itself otherwise): the official ``gtFine/<split>/<city>/`` layout (root
                  = the folder holding ``gtFine/``, ``gtFine/`` or ``gtFine/<split>/``) or a flat folder with
                  each instanceIds file beside its labelIds file.
``ade20k``        full ADE20K ``*_seg.png`` (class = R / 10 * 256 + G, instance = B)
                  in the protocol's scene folders (``bedroom``) under ``<split>/`` (names from the per-image
                  ``.json`` when present); an empty scene / split reads every ``*_seg.png``.
``coco-panoptic`` ``panoptic_<split>.json`` + ``panoptic_<split>/*.png`` (segment id = R + 256 G + 256^2 B),
                  under the root or ``annotations/``; class = category id (0 = unlabelled), instance = the
                  segment id of non-crowd thing segments.
``labelmaps``     (custom) any single-channel ``.png`` / ``.npy`` maps, recursively; optional instance maps
                  at the same relative paths.

Nothing here imports torch.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..pipeline.io import LABEL_EXTENSIONS, read_json, read_label_map, read_rgb_image
from .encodings import _ade_names, decode_ade20k_seg, decode_cityscapes_instances, decode_panoptic_ids  # noqa: F401
from .protocols import Protocol

__all__ = ["SourceEntry", "SourceMap", "scan", "load", "decode_cityscapes_instances", "decode_ade20k_seg",
           "decode_panoptic_ids", "CITYSCAPES_CITIES", "cityscapes_city", "check_split"]

_CITY_RE = re.compile(r"^([a-z]+)_\d+_\d+_gtFine_labelIds\.png$")
_MAX_LISTED = 5

#: The cities of each split of the official Cityscapes release (gtFine / leftImg8bit): a map's city is the
#: first part of its file name, ``<city>_<sequence>_<frame>_gtFine_labelIds.png``.
CITYSCAPES_CITIES: Dict[str, Tuple[str, ...]] = {
    "train": ("aachen", "bochum", "bremen", "cologne", "darmstadt", "dusseldorf", "erfurt", "hamburg", "hanover",
              "jena", "krefeld", "monchengladbach", "strasbourg", "stuttgart", "tubingen", "ulm", "weimar", "zurich"),
    "val": ("frankfurt", "lindau", "munster"),
    "test": ("berlin", "bielefeld", "bonn", "leverkusen", "mainz", "munich"),
}


@dataclass(frozen=True)
class SourceEntry:
    """One map to read: ``name`` is its relative path in the task (POSIX, no extension); ``files`` the
    source files as ``(path relative to the data root, absolute path)``, label map first."""

    name: str
    files: Tuple[Tuple[str, str], ...]
    extra: Tuple[Tuple[str, object], ...] = ()


@dataclass
class SourceMap:
    """A decoded complete map S^c (Sec. 3) at native resolution: int64 class ids, int64 instance ids
    (0 = none) or None, and ``{class id: name}`` names found in the data (ADE20K JSON)."""

    name: str
    seg: np.ndarray
    instances: Optional[np.ndarray]
    names: Dict[int, str] = field(default_factory=dict)


def _listing(items: List[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _root(root: str) -> Path:
    p = Path(root)
    if not p.exists():
        raise InputError(f"data root {root!r} does not exist; pass the folder that holds the dataset")
    if not p.is_dir():
        raise InputError(f"data root {root!r} is not a directory")
    return p


def _walk(root: Path, pattern: str) -> List[Path]:
    """Files under ``root`` matching the glob ``pattern``, hidden folders skipped, sorted by path."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for n in filenames:
            if not n.startswith(".") and Path(n).match(pattern):
                out.append(Path(dirpath) / n)
    return sorted(out, key=lambda p: p.as_posix())


# ------------------------------------------------------------------------------------------- scan
def scan(protocol: Protocol, root: str) -> List[SourceEntry]:
    """The entries (complete maps S^c of Sec. 3 to read) of ``protocol`` under ``root``, sorted by name;
    layout errors name what
    was found and what the protocol expects."""
    r = _root(root)
    fn = {"camvid": _scan_camvid, "cityscapes": _scan_cityscapes, "ade20k": _scan_ade20k,
          "coco-panoptic": _scan_coco, "labelmaps": _scan_labelmaps}[protocol.fmt]
    entries = fn(protocol, r)
    names = [e.name for e in entries]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"{root}: several source files map to the same task name: {_listing(dup)}")
    return sorted(entries, key=lambda e: e.name)


def _scan_camvid(protocol: Protocol, root: Path) -> List[SourceEntry]:
    sub = f"{protocol.split}annot"
    folder = root / sub if (root / sub).is_dir() else root if root.name == sub else None
    if folder is None:
        present = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name.endswith("annot"))
        found = f"found {', '.join(present)}" if present else "found no *annot/ folder"
        raise InputError(f"{root}: no {sub}/ folder ({found}); protocol {protocol.key} expects the SegNet CamVid "
                         f"layout: DATA_ROOT/{sub}/*.png (grayscale class ids 0..11)")
    files = sorted(folder.glob("*.png"))
    if not files:
        raise InputError(f"{folder}: no .png label maps; protocol {protocol.key} expects {sub}/*.png "
                         "(grayscale class ids 0..11)")
    return [SourceEntry(f.stem, ((_rel(f, root), str(f)),)) for f in files]


def _cityscapes_folder(protocol: Protocol, root: Path) -> Tuple[Path, str]:
    """The folder of the split's maps and its layout: ``"official"`` (``<city>/`` subfolders), ``"flat"`` or
    ``"none"``."""
    split = protocol.split
    if (root / "gtFine" / split).is_dir():
        return root / "gtFine" / split, "official"
    if (root / split).is_dir() and any((root / split).glob("*/*_gtFine_labelIds.png")):
        return root / split, "official"
    if root.name == split and any(root.glob("*/*_gtFine_labelIds.png")):
        return root, "official"
    if any(root.glob("*_gtFine_labelIds.png")):
        return root, "flat"
    return root, "none"


def _scan_cityscapes(protocol: Protocol, root: Path) -> List[SourceEntry]:
    split = protocol.split
    folder, layout = _cityscapes_folder(protocol, root)
    expected = (f"protocol {protocol.key} expects Cityscapes gtFine: DATA_ROOT/gtFine/{split}/<city>/"
                f"*_gtFine_labelIds.png with *_gtFine_instanceIds.png beside each, or a flat folder of such pairs")
    if layout == "none":
        deeper = _walk(root, "*_gtFine_labelIds.png")
        splits = sorted({d.name for d in (root / "gtFine").iterdir() if d.is_dir()}) if (root / "gtFine").is_dir() else []
        if splits:
            found = f"found gtFine/ with {', '.join(s + '/' for s in splits)} but no gtFine/{split}/"
        elif deeper:
            found = (f"found {len(deeper)} *_gtFine_labelIds.png in subfolders "
                     f"({_listing(sorted({_rel(p.parent, root) + '/' for p in deeper}))}) but no gtFine/{split}/ "
                     "and none directly in the folder")
        else:
            train = _walk(root, "*_gtFine_labelTrainIds.png")
            if train:
                found = (f"found {len(train)} *_gtFine_labelTrainIds.png but no *_gtFine_labelIds.png: the protocol "
                         "reads labelIds (car = 26), not trainIds (car = 13); use the labelIds files")
            else:
                pngs = _walk(root, "*.png")
                found = (f"found no *_gtFine_labelIds.png ({len(pngs)} other .png file(s)"
                         + (f", e.g. {_rel(pngs[0], root)}" if pngs else "") + ")")
        raise InputError(f"{root}: {found}; {expected}")
    if layout == "official":
        files = sorted(folder.glob("*/*_gtFine_labelIds.png"))
        if not files:
            flat = sorted(folder.glob("*_gtFine_labelIds.png"))
            train = sorted(folder.glob("*/*_gtFine_labelTrainIds.png"))
            found = (f"{len(flat)} labelIds file(s) directly in {folder} but no <city>/ subfolders" if flat
                     else f"found {len(train)} *_gtFine_labelTrainIds.png but no *_gtFine_labelIds.png in {folder}: "
                          "the protocol reads labelIds (car = 26), not trainIds (car = 13); use the labelIds files"
                     if train else f"no <city>/*_gtFine_labelIds.png in {folder}")
            raise InputError(f"{root}: {found}; {expected}")
    else:
        files = sorted(folder.glob("*_gtFine_labelIds.png"))
    entries = []
    missing = []
    for f in files:
        inst = f.with_name(f.name[: -len("_gtFine_labelIds.png")] + "_gtFine_instanceIds.png")
        if not inst.is_file():
            missing.append(_rel(inst, root))
            continue
        m = _CITY_RE.match(f.name)
        stem = f.name[: -len("_gtFine_labelIds.png")]
        name = f"{m.group(1)}/{stem}" if m else _rel(f.parent, folder) + "/" + stem if layout == "official" else stem
        entries.append(SourceEntry(name.lstrip("./"), ((_rel(f, root), str(f)), (_rel(inst, root), str(inst)))))
    if missing:
        raise InputError(f"{root}: {len(missing)} of {len(files)} labelIds map(s) have no instance map beside them "
                         f"(missing: {_listing(missing)}); the protocol's objects are Cityscapes instances: "
                         "put each *_gtFine_instanceIds.png next to its *_gtFine_labelIds.png")
    return entries


def _scan_ade20k(protocol: Protocol, root: Path) -> List[SourceEntry]:
    split, scene = protocol.split, protocol.scene
    segs = _walk(root, "*_seg.png")
    where = f".../{split or '<split>'}/<category>/{scene or '<scene>'}/"
    expected = (f"protocol {protocol.key} expects full ADE20K scenes: {where}*_seg.png "
                "(class = R / 10 * 256 + G, instance = B), e.g. DATA_ROOT = ADE20K_2021_17_01/")
    if not segs:
        scene = root / "annotations"
        hint = (" (found annotations/: that is SceneParsing ADEChallengeData2016, class-only grayscale maps; this "
                "protocol needs the full ADE20K release with instances)" if scene.is_dir() else "")
        raise InputError(f"{root}: no *_seg.png file{hint}; {expected}")
    chosen = [p for p in segs if (not scene or p.parent.name == scene)
              and (not split or split in p.relative_to(root).parts)]
    if not chosen:
        scenes = sorted({f"{_rel(p.parent, root)}/" for p in segs})
        raise InputError(f"{root}: {len(segs)} *_seg.png found but none in a {split}/.../{scene}/ folder "
                         f"(found {_listing(scenes)}); {expected}")
    entries = []
    for p in chosen:
        files = [(_rel(p, root), str(p))]
        js = p.with_name(p.name[: -len("_seg.png")] + ".json")
        if js.is_file():
            files.append((_rel(js, root), str(js)))
        entries.append(SourceEntry(p.name[: -len("_seg.png")], tuple(files)))
    return entries


def _scan_coco(protocol: Protocol, root: Path) -> List[SourceEntry]:
    split = protocol.split
    base = root / "annotations" if (root / "annotations" / f"panoptic_{split}.json").is_file() else root
    js, folder = base / f"panoptic_{split}.json", base / f"panoptic_{split}"
    expected = (f"protocol {protocol.key} expects COCO panoptic: DATA_ROOT[/annotations]/panoptic_{split}.json "
                f"and the PNG folder panoptic_{split}/ beside it")
    if not js.is_file():
        found = sorted(p.name for p in list(root.glob("panoptic_*.json")) + list(root.glob("annotations/panoptic_*.json")))
        raise InputError(f"{root}: no panoptic_{split}.json" + (f" (found {_listing(found)})" if found else "")
                         + f"; {expected}")
    if not folder.is_dir():
        raise InputError(f"{root}: {_rel(js, root)} found but no {_rel(folder, root)}/ folder of PNGs; {expected}")

    data = read_json(js, "COCO panoptic JSON")
    if not isinstance(data, dict) or not all(k in data for k in ("annotations", "categories")):
        raise InputError(f"{js}: not a COCO panoptic JSON (needs 'annotations' and 'categories'); {expected}")
    things = {int(c["id"]) for c in data["categories"] if int(c.get("isthing", 0)) == 1}
    entries, missing = [], []
    for ann in data["annotations"]:
        png = folder / ann["file_name"]
        if not png.is_file():
            missing.append(ann["file_name"])
            continue
        segments = tuple(sorted((int(s["id"]), int(s["category_id"]), int(s.get("iscrowd", 0)) == 1)
                                for s in ann.get("segments_info", ())))
        entries.append(SourceEntry(Path(ann["file_name"]).stem, ((_rel(png, root), str(png)), (_rel(js, root), str(js))),
                                   (("segments", segments), ("things", tuple(sorted(things))))))
    if missing:
        raise InputError(f"{folder}: {len(missing)} PNG(s) named in {js.name} are missing ({_listing(missing)})")
    if not entries:
        raise InputError(f"{js}: no annotations; {expected}")
    return entries


def _scan_labelmaps(protocol: Protocol, root: Path) -> List[SourceEntry]:
    files = [p for p in _walk(root, "*") if p.suffix.lower() in LABEL_EXTENSIONS]
    if not files:
        raise InputError(f"{root}: no label maps (.png or .npy, searched recursively); the custom protocol reads "
                         "any folder of single-channel label maps")
    inst_root = None if protocol.instances_dir is None else _root(protocol.instances_dir)
    entries, missing = [], []
    for f in files:
        rel = _rel(f, root)
        items = [(rel, str(f))]
        if inst_root is not None:
            ip = inst_root / rel
            if not ip.is_file():
                missing.append(rel)
                continue
            items.append(("instances/" + rel, str(ip)))
        entries.append(SourceEntry(rel[: -len(f.suffix)], tuple(items)))
    if missing:
        raise InputError(f"{inst_root}: {len(missing)} label map(s) have no instance map at the same relative path "
                         f"(missing: {_listing(missing)}); pass --instances DIR holding one per label map")
    return entries


# ------------------------------------------------------------------------------------------- split
def cityscapes_city(entry: SourceEntry) -> Optional[str]:
    """The Cityscapes city of one scanned map (Sec. 4.1 dataset): the first part of its file name
    (``<city>_<seq>_<frame>_gtFine_labelIds.png``), else its ``<city>/`` folder in the official layout;
    None when neither names one (a renamed file in a flat folder)."""
    rel = entry.files[0][0]
    parts = rel.split("/")
    m = _CITY_RE.match(parts[-1])
    if m:
        return m.group(1)
    return parts[-2] if len(parts) > 1 else None


def _split_of(city: Optional[str]) -> str:
    return next((s for s, cities in CITYSCAPES_CITIES.items() if city in cities), "unknown city")


def check_split(protocol: Protocol, entries: Sequence[SourceEntry], allow_other_split: bool = False,
                where: str = "") -> Optional[Dict[str, object]]:
    """Check that the maps a protocol reads are of its split (Sec. 4.1: a ``val`` protocol is scored on val
    maps only). Cityscapes protocols know their split's cities (:data:`CITYSCAPES_CITIES`): a map of any other
    city (or of none) raises :class:`InputError` naming the cities found, unless ``allow_other_split``.
    Returns the record kept in ``task.json["split"]`` (``{"name", "cities": {city: maps}, "other_split_allowed",
    "other_split_cities"}``), or None for formats whose layout already selects the split."""
    if protocol.fmt != "cityscapes":
        return None
    expected = CITYSCAPES_CITIES.get(protocol.split, ())
    counts: Dict[str, int] = {}
    for e in entries:
        city = cityscapes_city(e) or "?"
        counts[city] = counts.get(city, 0) + 1
    other = sorted(c for c in counts if c not in expected)
    if other and not allow_other_split:
        found = ", ".join(f"{c} ({_split_of(c)}, {counts[c]} map(s))" if c != "?" else
                          f"{counts[c]} map(s) with no city in the file name" for c in other[:_MAX_LISTED])
        more = f" and {len(other) - _MAX_LISTED} more" if len(other) > _MAX_LISTED else ""
        raise InputError(f"{where or 'data root'}: protocol {protocol.key} reads the Cityscapes {protocol.split} split "
                         f"(cities {', '.join(expected)}) but {sum(counts[c] for c in other)} of {len(entries)} "
                         f"map(s) are of other cities: {found}{more}; pass the {protocol.split} maps, or build "
                         "anyway with --allow-other-split (recorded in task.json)")
    return {"name": protocol.split, "cities": dict(sorted(counts.items())), "other_split_allowed": bool(allow_other_split),
            "other_split_cities": other}


# ------------------------------------------------------------------------------------------- load
def _read(path: str) -> np.ndarray:
    return read_label_map(path).astype(np.int64)


def _check_range(seg: np.ndarray, top: int, path: str, hint: str) -> None:
    if seg.size and int(seg.max()) > top:
        bad = np.unique(seg[seg > top])[:8].tolist()
        raise InputError(f"{path}: class ids {bad} outside 0..{top}; {hint}")


def _same_size(a: np.ndarray, b: np.ndarray, path_a: str, path_b: str) -> None:
    if a.shape != b.shape:
        raise InputError(f"{path_b}: instance map of size {b.shape[1]}x{b.shape[0]} (WxH) but its label map "
                         f"{path_a} is {a.shape[1]}x{a.shape[0]}; use the instance map made for that label map")


def load(protocol: Protocol, entry: SourceEntry) -> SourceMap:
    """Decode one entry of :func:`scan` (its own dataset encoding; a Sec. 4.1 dataset) into a :class:`SourceMap`."""
    fmt = protocol.fmt
    path = entry.files[0][1]
    if fmt == "camvid":
        seg = _read(path)
        _check_range(seg, 11, path, "SegNet CamVid maps hold ids 0..11 (11 = unlabelled); colour or other "
                                    "encodings must be converted first")
        return SourceMap(entry.name, seg, None)
    if fmt == "cityscapes":
        seg = _read(path)
        _check_range(seg, 33, path, "Cityscapes labelIds are 0..33 (car = 26); 255 is the ignore label of "
                                    "*_labelTrainIds.png: this looks like a trainIds map, use *_gtFine_labelIds.png")
        ipath = entry.files[1][1]
        raw = _read(ipath)
        _same_size(seg, raw, path, ipath)
        return SourceMap(entry.name, seg, decode_cityscapes_instances(raw)[1])
    if fmt == "ade20k":
        seg, inst = decode_ade20k_seg(read_rgb_image(path))
        names: Dict[int, str] = {}
        if len(entry.files) > 1:
            names = _ade_names(entry.files[1][1])
        return SourceMap(entry.name, seg, inst, names)
    if fmt == "coco-panoptic":
        ids = decode_panoptic_ids(read_rgb_image(path))
        extra = dict(entry.extra)
        segments, things = extra["segments"], set(extra["things"])
        known = np.array([0] + [s[0] for s in segments], np.int64)
        present = np.unique(ids)
        unknown = np.setdiff1d(present, known)
        if unknown.size:
            raise InputError(f"{path}: segment ids {unknown[:5].tolist()} are not in the JSON's segments_info of "
                             f"{Path(path).name}; the PNG and the JSON do not belong together")
        cls_of = np.zeros(len(known), np.int64)
        inst_of = np.zeros(len(known), np.int64)
        for k, (sid, cat, crowd) in enumerate(segments, start=1):
            cls_of[k] = cat
            inst_of[k] = sid if (cat in things and not crowd) else 0
        pos = np.searchsorted(np.sort(known), ids)
        order = np.argsort(known)
        idx = order[pos]
        return SourceMap(entry.name, cls_of[idx], inst_of[idx])
    # custom label maps
    seg = _read(path)
    inst = None
    if len(entry.files) > 1:
        ipath = entry.files[1][1]
        inst = _read(ipath)
        _same_size(seg, inst, path, ipath)
    return SourceMap(entry.name, seg, inst)
