"""Building a SISM task directory from a protocol and a data root (paper Sec. 3, 3.1, 4.1).

``TASK_DIR/`` holds

* ``gt/<name>_objKKK.png``: S^c at the protocol's resolution, one file per sample (the source map's
  relative path kept, ``KKK`` = the object's index in that map), lossless PNG (mode L, or I;16 when ids
  exceed 255);
* ``incomplete/<same path>``: S^u of Sec. 3, S^c with the box filled with l^t (what a model takes);
* ``boxes.json``: ``{"<name>_objKKK.png": [{"bbox": [x0, y0, x1, y1], "label": l^t}]}``, the format
  ``sem-score --boxes`` reads;
* ``task.json``: protocol (every parameter), package version, counts per class, sha256 of every source
  file read and every file written, the samples, the task digest (:mod:`sem_metric.task.digest`) and the
  scores of S^u itself (the null model: the box filled with the target class).

The directory is built in a temporary folder next to ``out`` and renamed at the very end, so an
interrupted or failed build leaves no task (and ``task.json``, written last, never describes a partial
one). The same data gives byte-identical files on every run.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from ..errors import InputError
from ..labelmap.metrics import labelmap_metrics_batch
from ..sem.weights import sha256_file
from ..version import __version__
from . import sources
from .digest import DIGEST_VERSION, map_content_sha256, task_digest
from .null_model import _NullSem, null_model_scores
from .protocols import Protocol, get_protocol
from .targets import Target, filter_targets, find_targets, incomplete_map, resize_nearest, select_one

__all__ = ["TASK_SCHEMA", "TaskSample", "resolve_protocol", "iter_samples", "build_task", "encode_png",
           "sample_file", "null_model_scores"]

#: identifies a task.json
TASK_SCHEMA = "sem-task/1"

Progress = Callable[[int, int], None]


@dataclass
class TaskSample:
    """One SISM sample (Sec. 3): the map's task name, S^c at the protocol's resolution (shared by the
    samples of one map; never modified) and its target (box, l^t, areas)."""

    name: str
    index: int
    seg_c: np.ndarray
    target: Target

    @property
    def file(self) -> str:
        """The sample's relative path in ``gt/`` and ``incomplete/`` (and its boxes.json key; Sec. 3 B = {b, l^t})."""
        return sample_file(self.name, self.index)

    def incomplete(self) -> np.ndarray:
        """S^u: S^c with the box filled with l^t (Sec. 3)."""
        return incomplete_map(self.seg_c, self.target.box, self.target.label)


def sample_file(name: str, index: int) -> str:
    """``<name>_obj<index:03d>.png``: the file of object ``index`` of the map ``name`` (one Sec. 3 sample)."""
    return f"{name}_obj{int(index):03d}.png"


def _size(protocol: Protocol, seg: np.ndarray) -> Tuple[int, int]:
    return tuple(seg.shape) if protocol.resolution == "native" else tuple(protocol.resolution)  # type: ignore


def resolve_protocol(protocol: Union[str, Protocol], data_root: str,
                     entries: Optional[Sequence[sources.SourceEntry]] = None) -> Protocol:
    """``protocol`` with its classes fixed: for a ``top-K-by-instance-count`` rule, the K classes with the
    most objects (instances, counted over every map read at the protocol's resolution; ties: lower id;
    class 0 excluded), as the paper chooses ADE20K's 7 classes by object count (Sec. 4.1)."""
    p = get_protocol(protocol)
    if p.top_k is None:
        return p
    entries = list(entries) if entries is not None else sources.scan(p, data_root)
    counts: Dict[int, int] = {}
    names: Dict[int, str] = {}
    for e in entries:
        m = sources.load(p, e)
        names.update(m.names)
        size = _size(p, m.seg)
        seg = resize_nearest(m.seg, size)
        inst = resize_nearest(m.instances, size) if m.instances is not None else None
        if inst is None:
            continue
        sel = inst > 0
        if not sel.any():
            continue
        ids = inst[sel]
        span = int(ids.max()) + 1
        pairs = np.unique(seg[sel] * span + ids)  # one entry per (class, instance) pair
        for c in (pairs // span).tolist():
            if c != 0:
                counts[c] = counts.get(c, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: p.top_k]
    if not ranked:
        raise InputError(f"{data_root}: no instance found in the maps of protocol {p.key}; cannot choose its classes")
    return p.with_classes(sorted((c, names.get(c, f"class {c}")) for c, _ in ranked))


def iter_samples(protocol: Union[str, Protocol], data_root: str, limit: Optional[int] = None,
                 entries: Optional[Sequence[sources.SourceEntry]] = None,
                 on_map: Optional[Callable[[sources.SourceEntry, int, int], None]] = None) -> Iterator[TaskSample]:
    """Every SISM sample (Sec. 3) of ``protocol`` on ``data_root``, in task order: maps sorted by name,
    objects by label then position. Maps are resized with nearest neighbour to the protocol's resolution
    before objects are found; objects below the area fractions are dropped; ``one-per-image`` keeps one,
    drawn by :func:`sem_metric.task.targets.select_one`. ``limit``: the first N maps only. ``on_map(entry,
    objects_found, samples_kept)`` is called after each map. The protocol must have its classes
    (:func:`resolve_protocol`)."""
    p = get_protocol(protocol)
    if not p.classes:
        raise InputError(f"protocol {p.key} chooses its classes from the data: resolve_protocol() first")
    entries = list(entries) if entries is not None else sources.scan(p, data_root)
    if limit is not None:
        entries = entries[: int(limit)]
    labels = [c for c, _ in p.classes]
    for e in entries:
        m = sources.load(p, e)
        size = _size(p, m.seg)
        seg = resize_nearest(m.seg, size)
        inst = None
        if p.objects == "instances":
            if m.instances is None:
                raise InputError(f"{e.files[0][0]}: protocol {p.key} takes dataset instances but this map has none")
            inst = resize_nearest(m.instances, size)
        found = find_targets(seg, labels, inst, connectivity=p.connectivity)
        kept = filter_targets(found, size, p.min_object_area_fraction, p.min_box_area_fraction)
        if p.selection == "one-per-image":
            kept = select_one(kept, p.seed, e.name)
        if on_map is not None:
            on_map(e, len(found), len(kept))
        seg.setflags(write=False)
        for k, t in enumerate(kept):
            yield TaskSample(e.name, k, seg, t)


def encode_png(seg: np.ndarray, where: str) -> bytes:
    """A label map (Sec. 3: pixel = class id) as PNG bytes (mode L for ids < 256, I;16 for ids < 65536),
    deterministic."""
    top = int(seg.max()) if seg.size else 0
    if seg.size and int(seg.min()) < 0:
        raise InputError(f"{where}: negative class ids cannot be written")
    if top < 256:
        im = Image.fromarray(np.ascontiguousarray(seg.astype(np.uint8)))  # mode L
    elif top < 65536:
        im = Image.fromarray(np.ascontiguousarray(seg.astype(np.uint16)))  # mode I;16
    else:
        raise InputError(f"{where}: class ids up to {top} do not fit a 16-bit PNG")
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _check_out(out: Path, protocol: Protocol) -> bool:
    """Whether ``out`` holds an earlier task of the same protocol to replace; errors for anything else."""
    if not out.exists() and not out.is_symlink():
        parent = next((q for q in out.absolute().parents if q.exists()), None)
        if parent is not None and not parent.is_dir():
            raise InputError(f"--out {os.fspath(out)!r}: {os.fspath(parent)!r} is a file, not a folder")
        return False
    if not out.is_dir():
        raise InputError(f"--out {os.fspath(out)!r} exists and is not a directory; choose a new path")
    if not any(out.iterdir()):
        return True
    tj = out / "task.json"
    hint = "choose a new --out, or remove it if it is yours"
    if not tj.is_file():
        raise InputError(f"--out {os.fspath(out)!r} exists and is not a task directory (no task.json); {hint}")
    try:
        meta = json.loads(tj.read_text(encoding="utf-8"))
        prev = meta["protocol"]["name"], meta["protocol"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"--out {os.fspath(out)!r}: its task.json is unreadable, so it is not an earlier task; "
                         f"{hint}") from None
    if prev != (protocol.name, protocol.version):
        raise InputError(f"--out {os.fspath(out)!r} holds a task of protocol {prev[0]}@{prev[1]}, not "
                         f"{protocol.key}; {hint}")
    return True


def _dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


class _TaskWriter:
    """The files and records of one task being built in the temporary folder ``tmp`` (Sec. 3 samples)."""

    def __init__(self, tmp: Path, total_maps: int, progress: Optional[Progress], sem: Any):
        self.tmp, self.total_maps, self.progress, self.sem = tmp, total_maps, progress, sem
        self.files: Dict[str, str] = {}
        self.src_hashes: Dict[str, str] = {}
        self.boxes: Dict[str, List[Tuple[Tuple[int, ...], int]]] = {}
        self.gt_content: List[Tuple[str, str]] = []
        self.rows: List[Dict[str, Any]] = []
        self.samples: List[Dict[str, Any]] = []
        self.per_map = {"maps": 0, "maps_with_samples": 0, "objects_found": 0}
        self._gt: Dict[str, Tuple[bytes, str]] = {}   # the samples of one map share S^c: encode and hash it once
        (tmp / "gt").mkdir()
        (tmp / "incomplete").mkdir()

    def on_map(self, entry: "sources.SourceEntry", found: int, kept: int) -> None:
        """Record one source map read (its files' sha256, counts) and report progress."""
        for rel, path in entry.files:
            if rel not in self.src_hashes:
                self.src_hashes[rel] = sha256_file(path)
        self.per_map["maps"] += 1
        self.per_map["maps_with_samples"] += int(kept > 0)
        self.per_map["objects_found"] += found
        if self.progress is not None:
            self.progress(self.per_map["maps"], self.total_maps)

    def add(self, s: Any) -> None:
        """Write one sample's S^c and S^u, record its box and the null model's label-map scores."""
        rel, box, label = s.file, s.target.box, s.target.label
        if s.name not in self._gt:
            self._gt.clear()
            self._gt[s.name] = (encode_png(s.seg_c, f"gt/{rel}"), map_content_sha256(s.seg_c))
        gt_png, gt_sha = self._gt[s.name]
        seg_u = s.incomplete()
        for folder, data in (("gt", gt_png), ("incomplete", encode_png(seg_u, f"incomplete/{rel}"))):
            target = self.tmp / folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            self.files[f"{folder}/{rel}"] = sha256_file(data)
        self.gt_content.append((rel, gt_sha))
        self.boxes[rel] = [(box, label)]
        m = labelmap_metrics_batch([seg_u], [s.seg_c], [box], [label])
        self.rows.append({"label": label, "tiou": float(m["tiou"][0]), "hamm": float(m["hamm"][0]),
                          "nn": int(m["nn"][0])})
        if self.sem is not None:
            self.sem.add(self.rows[-1], seg_u, s.seg_c, box, label)
        self.samples.append({"file": rel, "source": s.name, "bbox": list(box), "label": label,
                             "object_area": s.target.area, "box_area": s.target.box_area,
                             "instance": s.target.instance})

    def finish(self, p: Protocol, limit: Optional[int], split: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Write ``boxes.json`` and ``task.json``; return the latter's content."""
        if self.sem is not None:
            self.sem.flush()
        boxes_text = _dumps({k: [{"bbox": list(b), "label": l} for b, l in v] for k, v in sorted(self.boxes.items())})
        (self.tmp / "boxes.json").write_text(boxes_text, encoding="utf-8")
        self.files["boxes.json"] = sha256_file(boxes_text.encode("utf-8"))
        per_class = {str(c): {"name": n, "samples": sum(1 for r in self.samples if r["label"] == c)}
                     for c, n in p.classes}
        counts = {"source_maps": self.per_map["maps"], "maps_with_samples": self.per_map["maps_with_samples"],
                  "objects_found": self.per_map["objects_found"], "samples": len(self.samples),
                  "per_class": per_class}
        meta = {
            "schema": TASK_SCHEMA, "protocol": p.describe(), "package_version": __version__,
            "digest": task_digest(self.boxes, self.gt_content), "digest_version": DIGEST_VERSION,
            "limit": limit, "counts": counts,
            "null_model": null_model_scores(self.rows, dict(p.classes), None if self.sem is None else self.sem.meta),
            "sources": dict(sorted(self.src_hashes.items())), "files": dict(sorted(self.files.items())),
            "samples": self.samples,
        }
        if split is not None:
            meta["split"] = split
        (self.tmp / "task.json").write_text(_dumps(meta), encoding="utf-8")
        return meta


def _temporary_dir(out: Path) -> Path:
    """An empty folder beside ``out`` with a plain mkdir's permissions (not mkdtemp's 0700)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.sem-task-", dir=os.fspath(out.parent.resolve())))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)
    return tmp


def build_task(protocol: Union[str, Protocol], data_root: str, out: str, progress: Optional[Progress] = None,
               limit: Optional[int] = None, null_sem: bool = False, weights: Any = None,
               classifier: Any = None, allow_other_split: bool = False) -> Dict[str, Any]:
    """Build the SISM task directory ``out`` (layout in the module docstring) of ``protocol`` (a registered
    name, ``NAME@VERSION`` or a :class:`Protocol`, e.g. :func:`sem_metric.task.custom_protocol`) from the
    dataset under ``data_root`` (Sec. 3 samples, Sec. 4.1 protocols). Returns the ``task.json`` content.

    ``out`` must not exist (missing parent folders are created), be empty, or hold an earlier task of
    the same protocol (then it is replaced at the end). Bad data (layout, encodings, sizes) raises
    :class:`InputError` before ``out`` is
    touched; an interruption leaves ``out`` as it was. ``progress(done, total)`` is called per map;
    ``limit`` keeps the first N maps (smoke tests; recorded). ``null_sem``: also Sem (Eq. 10) of S^u,
    with ``weights`` (default: the shipped weights) or a loaded ``classifier``; the weights' name and
    sha256 are recorded in ``null_model.sem`` (this loads torch). A Cityscapes protocol reads the maps of
    its split's cities only (:func:`sem_metric.task.sources.check_split`); ``allow_other_split`` accepts
    others, recorded with the cities read in ``task.json["split"]``.
    """
    p = get_protocol(protocol)
    out_p = Path(out)
    replace = _check_out(out_p, p)
    entries = sources.scan(p, data_root)
    if limit is not None:
        entries = entries[: int(limit)]
    split = sources.check_split(p, entries, allow_other_split, where=os.fspath(data_root))
    p = resolve_protocol(p, data_root, entries)
    sem = _NullSem(weights, classifier) if (null_sem or classifier is not None) else None
    out_p.parent.mkdir(parents=True, exist_ok=True)  # only once the data is known to be good
    tmp = _temporary_dir(out_p)
    try:
        writer = _TaskWriter(tmp, len(entries), progress, sem)
        for s in iter_samples(p, data_root, entries=entries, on_map=writer.on_map):
            writer.add(s)
        if not writer.samples:
            raise InputError(f"{data_root}: {writer.per_map['maps']} map(s) read but no object of classes "
                             f"{sorted(dict(p.classes))} passes protocol {p.key}'s rules (min object area "
                             f"{p.min_object_area_fraction:g}, min box area {p.min_box_area_fraction:g} of the map); "
                             "check the class ids (labelIds, not trainIds) and the data")
        meta = writer.finish(p, limit, split)
        _install(tmp, out_p, replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _install(tmp: Path, out: Path, replace: bool) -> None:
    """Rename the finished ``tmp`` to ``out`` (an earlier task there is moved aside first, then removed)."""
    old = None
    if replace:
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.sem-task-old-", dir=os.fspath(out.parent.resolve())))
        os.rmdir(old)
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
