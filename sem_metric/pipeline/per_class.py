"""Per-class breakdown of a result: each sample-level metric's mean and count per target label ``l^t``.

The paper reports tIOU, hamm, NN (Sec. 4.1) and Sem (Eq. 10) as means over all samples; a mean over
several target classes can hide a class the model fails on. :func:`per_class_breakdown` groups the
per-sample rows by target label (one sample = one box); every result carries it as ``per_class``.

Sem is only as good as its shape classifier F on the class at hand. When a *reliability file* exists for
the classifier weights in use (same sha256), each target label is mapped by name to a COCO class
(:func:`sem_metric.pipeline.class_names.coco_counterpart`) and its Sem is flagged ``weak`` (the file
says ``reliable: false`` for that COCO class) or ``unknown`` (no COCO counterpart, or no name). Schema of
a reliability file (``weights/eval/<weights name>_reliability.json``, e.g. ``sem-effb0-v1_reliability.json``,
produced by the validity study)::

    {"weights": {"name": ..., "sha256": ...}, "rule": "...",
     "classes": [{"index": 0..79, "name": COCO name, "n_heldout", "top1", "sem_auc", "sem_auc_ci",
                  "reliable": bool}, ...]}

``result["per_class"]``::

    {"class_names": None | "cityscapes" | "path/names.json" | {"id": "name"},
     "reliability": None | {"file", "weights_sha256", "rule"},
     "classes": [{"label", "name", "samples", "metrics": {metric: {"mean", "count"}},
                  "sem_reliability": None | {"status": "reliable" | "weak" | "unknown", "coco_class",
                                             "top1", "sem_auc", "sem_auc_ci", "note"}}, ...]}

``sem_reliability`` is None when Sem was not computed or no reliability file matches the weights.

The reliability file says how F did on COCO's held-out shapes; ``gt_recognition`` says how it does on
*this run's* ground truth, from the probabilities of the run's own classifier pass (no second pass):
the share of the class's ground-truth objects O^c whose top-1 class is the class's COCO counterpart.
A class whose own ground-truth shapes F does not recognise (another dataset's masks, a low resolution)
gives Sem values that say little about the prediction. Objects identical in prediction and ground truth
are not counted, whatever the metrics (a run whose only classifier metric is Sem does not classify them:
Sem = 0 there without F; with SFD they are classified but still left out), so the counts depend on the
data only::

    "gt_recognition": None (Sem not computed) | {"coco_class": str | None, "classified": int,
                                                  "agree": int | None, "rate": float | None}
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from .. import registry
from ..engine.exact import exact_mean
from ..errors import InputError
from ..sem.classes import COCO_CLASSES
from .class_names import ClassNames, coco_counterpart
from .json_file import read_json
from .tables import per_class_text, sem_note  # noqa: F401 (sem_note: the tables' flag, re-exported)

__all__ = ["RELIABILITY_SUFFIX", "read_reliability", "find_reliability", "per_class_breakdown", "format_per_class",
           "sem_note", "gt_recognition"]

#: a reliability file is named ``<weights name or file stem>_reliability.json`` (found by sha256 in any case)
RELIABILITY_SUFFIX = "_reliability.json"


# ------------------------------------------------------------------------------------ reliability
def read_reliability(path: "str | os.PathLike[str]") -> Dict[str, Any]:
    """Read and validate a per-class reliability file (schema in the module docstring).

    Returns ``{"file", "weights_sha256", "rule", "classes": {coco name: record}}``; a malformed file is
    an :class:`InputError` naming it.
    """
    where = f"reliability file {os.fspath(path)!r}"
    data = read_json(path, "reliability file")
    weights = data.get("weights") if isinstance(data, dict) else None
    classes = data.get("classes") if isinstance(data, dict) else None
    if not isinstance(weights, dict) or not isinstance(weights.get("sha256"), str) or not isinstance(classes, list):
        raise InputError(f"{where}: expected {{\"weights\": {{\"name\", \"sha256\"}}, \"rule\", \"classes\": [...]}} "
                         "(see sem_metric.pipeline.per_class); fix or remove the file")
    by_name: Dict[str, Dict[str, Any]] = {}
    for i, rec in enumerate(classes):
        if not isinstance(rec, dict) or not isinstance(rec.get("name"), str) or not isinstance(
                rec.get("reliable"), bool):
            raise InputError(f"{where}, classes[{i}]: expected an object with a COCO \"name\" and a boolean "
                             "\"reliable\"; fix or remove the file")
        by_name[rec["name"]] = rec
    return {"file": os.fspath(path), "weights_sha256": weights["sha256"].lower(), "rule": data.get("rule"),
            "classes": by_name}


def _candidate_dirs(classifier: Mapping[str, Any]) -> List[Path]:
    """Where a reliability file for these weights may be: ``eval/`` next to the weights file, the file's own
    folder, and the shipped weights' ``eval/`` folder(s)."""
    dirs: List[Path] = []
    source = str(classifier.get("source") or "")
    if source and source != "shipped" and not source.startswith("hf://") and os.path.isfile(source):
        dirs += [Path(source).parent / "eval", Path(source).parent]
    package = Path(__file__).resolve().parents[1]
    dirs += [package / "_weights" / "eval", package.parent / "weights" / "eval"]
    return [d for i, d in enumerate(dirs) if d.is_dir() and d not in dirs[:i]]


def find_reliability(classifier: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """The reliability file (:func:`read_reliability`) whose ``weights.sha256`` equals the classifier's.

    ``classifier`` is ``result["metadata"]["sem"]["classifier"]`` (``name``, ``sha256``, ``source``).
    Files named ``*_reliability.json`` are looked for in ``eval/`` next to a local weights file, in that
    file's folder and in the shipped weights' ``eval/``; the one named after the weights is read first.
    None when the weights have no sha256 or no file matches.
    """
    if not classifier or not classifier.get("sha256"):
        return None
    sha = str(classifier["sha256"]).lower()
    name = str(classifier.get("name") or "")
    stems = {name, name.replace("-", "_"), Path(str(classifier.get("source") or "")).stem}
    for d in _candidate_dirs(classifier):
        files = sorted(d.glob(f"*{RELIABILITY_SUFFIX}"),
                       key=lambda p: (p.name[:-len(RELIABILITY_SUFFIX)] not in stems, p.name))
        for f in files:
            rel = read_reliability(f)
            if rel["weights_sha256"] == sha:
                return rel
    return None


def _assess(name: Optional[str], reliability: Mapping[str, Any]) -> Dict[str, Any]:
    coco = coco_counterpart(name)
    rec = reliability["classes"].get(coco) if coco else None
    out: Dict[str, Any] = {"status": "unknown", "coco_class": coco, "top1": None, "sem_auc": None,
                           "sem_auc_ci": None}
    if rec is None:
        why = ("the class has no name (pass --class-names)" if not name else
               f"{name!r} has no COCO counterpart" if coco is None else
               f"the reliability file has no record for COCO {coco!r}")
        out["note"] = f"Sem: unknown for this class ({why})"
        return out
    out.update(top1=rec.get("top1"), sem_auc=rec.get("sem_auc"), sem_auc_ci=rec.get("sem_auc_ci"))
    if rec["reliable"]:
        out.update(status="reliable", note=f"Sem: reliable (COCO {coco!r})")
    else:
        out.update(status="weak", note=f"Sem: weak for this class (COCO {coco!r} fails the reliability rule)")
    return out


def gt_recognition(name: Optional[str], top1: Sequence[Optional[int]]) -> Dict[str, Any]:
    """How often F's top-1 on this run's ground-truth objects of one class (``top1``: COCO indices, None
    where F did not run) is the class's COCO counterpart (module docstring; Eq. 10's O^c)."""
    coco = coco_counterpart(name)
    seen = [int(t) for t in top1 if t is not None]
    agree = None if coco is None else sum(COCO_CLASSES[t] == coco for t in seen)
    return {"coco_class": coco, "classified": len(seen), "agree": agree,
            "rate": None if agree is None or not seen else agree / len(seen)}


# ------------------------------------------------------------------------------------ breakdown
def per_class_breakdown(samples: Sequence[Mapping[str, Any]], metrics: Iterable[str],
                        class_names: Optional[ClassNames] = None,
                        sem_classifier: Optional[Mapping[str, Any]] = None,
                        reliability: Any = "auto", gt_top1: Optional[Sequence[Optional[int]]] = None
                        ) -> Dict[str, Any]:
    """Group per-sample rows by target label: per class, each sample-level metric's mean and count.

    ``samples``: ``result["samples"]`` rows (``label`` plus one value per metric, Sec. 4.1 / Eq. 10);
    ``metrics``: the metrics computed (dataset-level ones have no per-sample values and are left out);
    ``class_names``: names of the ids; ``sem_classifier``: ``metadata.sem.classifier`` when Sem was
    computed. ``reliability``: ``"auto"`` (:func:`find_reliability` for ``sem_classifier``), None, or a
    dict from :func:`read_reliability`. ``gt_top1``: per sample, the COCO index of F's top-1 on the
    ground-truth object (None where F did not run), for ``gt_recognition``. Labels are listed in
    increasing order; a metric value of None (not computed for that sample) is not counted. Returns the
    ``per_class`` dict of the module docstring.
    """
    per_sample = [m for m in metrics if registry.get(m).level == "sample"]
    if reliability == "auto":
        reliability = find_reliability(sem_classifier) if ("sem" in per_sample and sem_classifier) else None
    if reliability is not None and "sem" not in per_sample:
        reliability = None
    groups: Dict[int, List[int]] = {}
    for i, row in enumerate(samples):
        groups.setdefault(int(row["label"]), []).append(i)
    classes = []
    for label in sorted(groups):
        rows = [samples[i] for i in groups[label]]
        name = class_names.name(label) if class_names is not None else None
        stats: Dict[str, Dict[str, Any]] = {}
        for m in per_sample:
            vals = [float(r[m]) for r in rows if r.get(m) is not None]
            stats[m] = {"mean": exact_mean(vals), "count": len(vals)}   # correctly rounded, as the means
        classes.append({"label": label, "name": name, "samples": len(rows), "metrics": stats,
                        "sem_reliability": None if reliability is None else _assess(name, reliability),
                        "gt_recognition": None if gt_top1 is None else
                        gt_recognition(name, [gt_top1[i] for i in groups[label]])})
    return {
        "class_names": None if class_names is None else class_names.describe(),
        "reliability": None if reliability is None else {
            "file": reliability["file"], "weights_sha256": reliability["weights_sha256"],
            "rule": reliability.get("rule")},
        "classes": classes,
    }


def format_per_class(result: Mapping[str, Any]) -> str:
    """The ``--per-class`` table: one line per target label (id, name, samples, each metric's mean),
    with a ``Sem: weak`` / ``Sem: unknown`` flag where the classifier is not reliable for the class."""
    return per_class_text(result)
