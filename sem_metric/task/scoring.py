"""Scoring predictions on a SISM task directory: ``sem-score PRED_DIR --task TASK_DIR`` (paper Sec. 4.1, Eq. 10).

The task gives the ground truth (``gt/``) and the boxes (``boxes.json``); it must verify
(:func:`sem_metric.task.load.require_verified`), so a modified ground truth or boxes file is never scored
as the protocol. The protocol and the task digest are recorded in the result's ``metadata.task``; the
registry's ``task_digest`` version key (:data:`sem_metric.registry.VERSION_KEYS`) makes a baseline made
on another task not comparable.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

from ..pipeline.evaluate import evaluate_dirs
from .load import load_task, require_verified

__all__ = ["resolve_task", "task_metadata", "task_class_names", "evaluate_task"]

#: protocol format -> the built-in class-name set of its maps' ids (sem_metric.pipeline.class_names)
_BUILTIN_NAMES = {"camvid": "camvid", "cityscapes": "cityscapes", "coco-panoptic": "coco"}


def task_metadata(task: Any) -> Dict[str, Any]:
    """``metadata.task`` of a result (Sec. 4.1 metrics) scored on ``task`` (a :class:`sem_metric.task.load.Task`): protocol
    name, version and parameters digest-relevant to comparability, the task digest and its definition."""
    p = task.protocol
    return {"protocol": p["name"], "protocol_version": p["version"], "dataset": p["dataset"],
            "digest": task.digest, "digest_version": task.meta.get("digest_version"),
            "samples": task.meta["counts"]["samples"], "path": os.fspath(task.path)}


def task_class_names(task_dir: "str | os.PathLike[str]") -> Any:
    """The class names of a task's ids (Sec. 3 labels l^t) for ``per_class``: the built-in set of its dataset
    (``camvid``, ``cityscapes``, ``coco``), else ``{id: name}`` of its target classes when the data named them
    (ADE20K), else None."""
    p = load_task(task_dir).protocol
    if p.get("format") in _BUILTIN_NAMES:
        return _BUILTIN_NAMES[p["format"]]
    named = {int(c["id"]): c["name"] for c in p.get("classes", ()) if not str(c["name"]).startswith("class ")}
    return named or None


def resolve_task(task_dir: "str | os.PathLike[str]") -> Tuple[str, str, Dict[str, Any]]:
    """``(gt_dir, boxes_json, metadata)`` (Sec. 3 S^c and B) of a verified task directory (raises
    :class:`InputError` when it does
    not verify), for :func:`sem_metric.pipeline.evaluate.evaluate_dirs`."""
    task = require_verified(task_dir)
    return os.fspath(task.gt_dir), os.fspath(task.boxes_path), task_metadata(task)


def evaluate_task(pred_dir: str, task_dir: str, metrics: Any = None, **kwargs: Any) -> Optional[Dict[str, Any]]:
    """Score the predictions in ``pred_dir`` (one map per sample, at the paths of ``incomplete/``) on the
    task ``task_dir``: :func:`sem_metric.pipeline.evaluate.evaluate_dirs` with the task's ground truth and
    boxes, ``metadata.task`` recorded and, unless given, the task's class names (:func:`task_class_names`)
    (Sec. 4.1 metrics; Sem of Eq. 10 when asked)."""
    gt_dir, boxes, meta = resolve_task(task_dir)
    if kwargs.get("class_names") is None:
        kwargs["class_names"] = task_class_names(task_dir)
    return evaluate_dirs(pred_dir, gt_dir, boxes, metrics=metrics, task=meta, **kwargs)
