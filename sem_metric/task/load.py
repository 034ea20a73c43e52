"""Reading and verifying a SISM task directory (paper Sec. 3 samples of a Sec. 4.1 protocol).

:func:`load_task` reads ``task.json``; :func:`verify_task` re-hashes every file, recomputes the task
digest from the decoded ground truth and boxes, checks that each ``incomplete/`` map is S^u of its
ground truth (Sec. 3) and, given the data, rebuilds the task and compares. A task that does not verify
must not be scored as its protocol (``sem-score --task`` refuses it).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..errors import InputError
from ..pipeline.io import read_boxes, read_label_map
from ..sem.weights import sha256_file
from .build import TASK_SCHEMA, build_task
from .digest import DIGEST_VERSION, map_content_sha256, task_digest
from .protocols import PROTOCOLS, Protocol, custom_protocol
from .targets import incomplete_map

__all__ = ["Task", "load_task", "verify_task", "require_verified", "protocol_of", "format_show"]


@dataclass(frozen=True)
class Task:
    """A task directory (Sec. 3 samples of a Sec. 4.1 protocol): its path and parsed ``task.json`` (``meta``)."""

    path: Path
    meta: Dict[str, Any]

    @property
    def gt_dir(self) -> Path:
        """``gt/``: S^c, one map per sample."""
        return self.path / "gt"

    @property
    def incomplete_dir(self) -> Path:
        """``incomplete/``: S^u (Sec. 3), the inputs of an inpainting model."""
        return self.path / "incomplete"

    @property
    def boxes_path(self) -> Path:
        """``boxes.json`` in the format of ``sem-score --boxes``."""
        return self.path / "boxes.json"

    @property
    def digest(self) -> str:
        """The task digest recorded at build time (:mod:`sem_metric.task.digest`)."""
        return str(self.meta["digest"])

    @property
    def protocol(self) -> Dict[str, Any]:
        """The protocol description recorded at build time."""
        return self.meta["protocol"]


def load_task(path: "str | os.PathLike[str]") -> Task:
    """Read the task directory ``path`` (its ``task.json``; Sec. 3 samples); :class:`InputError` when it is not one."""
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"task directory {os.fspath(p)!r} does not exist or is not a directory; build one with "
                         "`sem-task build PROTOCOL DATA_ROOT --out TASK_DIR`")
    tj = p / "task.json"
    if not tj.is_file():
        raise InputError(f"{os.fspath(p)!r} is not a task directory (no task.json); build one with "
                         "`sem-task build PROTOCOL DATA_ROOT --out TASK_DIR`")
    try:
        meta = json.loads(tj.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{tj}: unreadable task.json ({type(e).__name__}: {e}); rebuild the task") from None
    needed = ("schema", "protocol", "digest", "files", "samples", "counts")
    if not isinstance(meta, dict) or meta.get("schema") != TASK_SCHEMA or any(k not in meta for k in needed):
        raise InputError(f"{tj}: not a sem-task task.json (schema {TASK_SCHEMA!r} with {', '.join(needed)}); "
                         "rebuild the task with sem-task build")
    return Task(p, meta)


def _listing(items: List[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def protocol_of(task: Task, instances_dir: Optional[str] = None) -> Protocol:
    """The :class:`Protocol` (Sec. 4.1) a task was built with: the registered entry (its recorded parameters must be
    the registry's, classes chosen from data aside) or, for ``custom``, one rebuilt from the record."""
    d = task.protocol
    key = (d.get("name"), d.get("version"))
    if key in PROTOCOLS:
        p = PROTOCOLS[key]
        if p.classes:
            mine = p.describe()
            if mine != d:
                diff = sorted(k for k in set(mine) | set(d) if mine.get(k) != d.get(k))
                raise InputError(f"{task.path}: task.json records protocol {p.key} with parameters that differ from "
                                 f"the registry ({', '.join(diff)}); it is not that protocol")
            return p
        return p.with_classes([(c["id"], c["name"]) for c in d["classes"]])
    if d.get("name") == "custom":
        res = d.get("resolution")
        p = custom_protocol([c["id"] for c in d["classes"]], "native" if res == "native" else tuple(res),
                            d.get("min_object_area_fraction", 0.0), d.get("min_box_area_fraction", 0.0),
                            instances_dir=instances_dir, selection=d.get("selection", "all"), seed=d.get("seed", 0),
                            connectivity=d.get("connectivity") or 8,
                            class_names={c["id"]: c["name"] for c in d["classes"]})
        if d.get("objects") == "instances" and instances_dir is None:
            raise InputError(f"{task.path}: this custom task was built from instance maps; pass --instances DIR "
                             "to rebuild it")
        return p
    raise InputError(f"{task.path}: task.json names protocol {key[0]}@{key[1]}, which this sem-metric "
                     "version does not know")


def _check_files(task: Task, problems: List[str]) -> None:
    recorded: Dict[str, str] = task.meta["files"]
    present = set()
    for dirpath, dirnames, filenames in os.walk(task.path):
        dirnames.sort()
        for n in filenames:
            rel = (Path(dirpath) / n).relative_to(task.path).as_posix()
            if rel != "task.json":
                present.add(rel)
    missing = sorted(set(recorded) - present)
    extra = sorted(present - set(recorded))
    if missing:
        problems.append(f"{len(missing)} file(s) listed in task.json are missing: {_listing(missing)}")
    if extra:
        problems.append(f"{len(extra)} file(s) not written by the build: {_listing(extra)}")
    changed = sorted(rel for rel in sorted(set(recorded) & present)
                     if sha256_file(task.path / rel) != recorded[rel])
    if changed:
        problems.append(f"{len(changed)} file(s) changed since the build (sha256 differs): {_listing(changed)}")


def _check_content(task: Task, problems: List[str], check_incomplete: bool = True) -> None:
    try:
        boxes = read_boxes(task.boxes_path)
    except InputError as e:
        problems.append(f"boxes.json: {e}")
        return
    listed = {s["file"]: s for s in task.meta["samples"]}
    if set(boxes) != set(listed):
        problems.append("boxes.json and task.json name different samples")
    gt_content = []
    bad_u = []
    for rel in sorted(boxes):
        gp, up = task.gt_dir / rel, task.incomplete_dir / rel
        if not gp.is_file() or (check_incomplete and not up.is_file()):
            continue  # reported by _check_files
        try:
            gt = read_label_map(gp)
            su = read_label_map(up) if check_incomplete else None
        except InputError as e:
            problems.append(str(e))
            continue
        gt_content.append((rel, map_content_sha256(gt)))
        specs = boxes[rel]
        if len(specs) != 1:
            problems.append(f"boxes.json: {rel} has {len(specs)} boxes; a task has one box per sample")
            continue
        spec = specs[0]
        if su is not None and (su.shape != gt.shape or not np.array_equal(
                su, incomplete_map(gt, spec.box.as_tuple(), spec.label))):
            bad_u.append(rel)
    if bad_u:
        problems.append(f"{len(bad_u)} incomplete map(s) are not S^u of their ground truth (box filled with the "
                        f"label): {_listing(bad_u)}")
    if task.meta.get("digest_version") != DIGEST_VERSION:
        problems.append(f"digest version {task.meta.get('digest_version')!r} is not {DIGEST_VERSION!r}")
        return
    digest = task_digest({k: [(s.box.as_tuple(), s.label) for s in v] for k, v in boxes.items()}, gt_content)
    if digest != task.digest:
        problems.append(f"the task digest of the ground truth and boxes is {digest[:16]}..., task.json records "
                        f"{task.digest[:16]}...")


def verify_task(path: "str | os.PathLike[str]", data_root: Optional[str] = None,
                instances_dir: Optional[str] = None, check_incomplete: bool = True) -> Dict[str, Any]:
    """Verify a task directory (Sec. 3 samples of a Sec. 4.1 protocol).

    Checks that every file listed in ``task.json`` is present with its sha256 and no other file is there,
    that the task digest recomputed from the decoded ground truth and ``boxes.json`` is the recorded one,
    and that each ``incomplete/`` map is S^u of its ground truth (``check_incomplete``; their sha256 is
    checked either way). With ``data_root``, the task is rebuilt
    from the data (in a temporary folder) and its digest, samples and source-file hashes compared.
    Returns ``{"ok", "problems", "digest", "protocol", "rebuilt"}``; an unreadable task raises
    :class:`InputError`.
    """
    task = load_task(path)
    problems: List[str] = []
    _check_files(task, problems)
    _check_content(task, problems, check_incomplete)
    rebuilt = None
    if data_root is not None:
        protocol = protocol_of(task, instances_dir)
        with tempfile.TemporaryDirectory(prefix="sem-task-verify-") as tmp:
            fresh = build_task(protocol, data_root, os.path.join(tmp, "task"), limit=task.meta.get("limit"),
                               allow_other_split=bool((task.meta.get("split") or {}).get("other_split_allowed")))
        rebuilt = fresh["digest"]
        if fresh["digest"] != task.digest:
            problems.append(f"rebuilt from {data_root}, the task digest is {fresh['digest'][:16]}..., not the "
                            f"recorded {task.digest[:16]}...")
        if fresh["samples"] != task.meta["samples"]:
            problems.append("rebuilt from the data, the samples (boxes, labels, areas) differ from task.json's")
        old_src, new_src = task.meta.get("sources", {}), fresh["sources"]
        changed = sorted(k for k in set(old_src) | set(new_src) if old_src.get(k) != new_src.get(k))
        if changed:
            problems.append(f"{len(changed)} source file(s) differ from those the task was built from: "
                            f"{_listing(changed)}")
    return {"ok": not problems, "problems": problems, "digest": task.digest,
            "protocol": f"{task.protocol['name']}@{task.protocol['version']}", "rebuilt": rebuilt}


def require_verified(path: "str | os.PathLike[str]") -> Task:
    """The task (Sec. 3 samples) at ``path`` if :func:`verify_task` passes; else :class:`InputError` listing the problems
    (a modified ground truth or boxes file must not be scored as the protocol). Every file's sha256 and the
    digest are checked; the S^u maps, which scoring does not read, only by their sha256."""
    report = verify_task(path, check_incomplete=False)
    if not report["ok"]:
        raise InputError(f"task {os.fspath(path)!r} does not verify ({'; '.join(report['problems'])}); it cannot be "
                         "scored as protocol " + report["protocol"] + ". Rebuild it with sem-task build, or run "
                         "sem-task verify TASK_DIR for details")
    return load_task(path)


def format_show(task: Task) -> str:
    """``sem-task show``: protocol, digest, counts per class and the scores of S^u (the null model; Sec. 3, 4.1)."""
    m = task.meta
    p = m["protocol"]
    c = m["counts"]
    res = p["resolution"] if isinstance(p["resolution"], str) else "x".join(map(str, p["resolution"]))
    lines = [f"task      {task.path}",
             f"protocol  {p['name']}@{p['version']} ({p['dataset']}; resolution {res}; selection {p['selection']})",
             f"digest    {m['digest']}",
             f"maps      {c['source_maps']} read, {c['maps_with_samples']} with samples; {c['objects_found']} objects "
             f"found, {c['samples']} samples",
             "", f"{'label':<6} {'name':<20} {'samples':>7}"]
    split = m.get("split") or {}
    if split.get("other_split_cities"):
        lines.insert(4, f"split     {split['name']}, built with --allow-other-split: maps of "
                        f"{', '.join(split['other_split_cities'])} included")
    for label, row in sorted(c["per_class"].items(), key=lambda kv: int(kv[0])):
        lines.append(f"{label:<6} {str(row['name']):<20} {row['samples']:>7}")
    nm = m.get("null_model") or {}
    means = nm.get("means") or {}
    if means:
        lines += ["", "null model (S^u: the box filled with l^t): "
                  + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in means.items()
                              if v is not None)]
    return "\n".join(lines) + "\n"
