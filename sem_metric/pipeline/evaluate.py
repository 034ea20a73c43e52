"""The evaluation pipeline behind ``sem-score``: it builds the complete result, checks included.

:func:`evaluate_dirs` pairs the label maps of a prediction folder and a ground-truth folder, reads
each pair once, checks sizes and boxes, and computes the registered metrics (:mod:`sem_metric.registry`:
tIOU, hamm and NN of paper Sec. 4.1, optionally Sem of Eq. 10) for every box of ``boxes.json``, then
runs the requested threshold / baseline checks (:mod:`sem_metric.pipeline.checks`).
:func:`evaluate_samples` does the same on maps that are already in memory. The CLI only parses
options, calls :func:`evaluate_dirs` and writes what it returns (:mod:`sem_metric.pipeline.report`).

Aggregation: sample-level metrics are averaged over samples (one sample = one box); NN is the mean
number of noise pixels per sample (the paper's NN), and ``nn_total`` is their sum. Pairs without
boxes are counted but not read. Every metric only looks inside its box, so each pair is cropped to
the union of its boxes before the metrics run (exact, and cheap on large maps).

Sem: predictions (and ground truths not found in the optional cache, :mod:`sem_metric.sem.cache`)
are classified together in batches of ``batch_size``. A sample whose predicted target object inside
the box equals the ground truth's (same O and M, hence the same classifier input) gets Sem = 0
exactly without running the classifier. Sem labels are class ids of the label maps themselves (the
classifier only sees the binary object map O and the box mask M, so no mapping to COCO ids is needed).

Result dict (``schema == RESULT_SCHEMA``), top-level keys:

``schema``            format identifier, ``sem-metric-result/1``
``metrics``           metric names computed, in canonical (registry) order
``means``             ``{metric: float | None}``: means over samples, or the value of a dataset-level metric
``intervals``         ``{metric: {low, high, level, method, resamples, seed, unit, n_units}}``: the seeded 95%
                      cluster-bootstrap interval of every sample-level mean (:mod:`sem_metric.pipeline.intervals`);
                      the unit is the source map in a SISM task, the file in a folder, the map in memory
``nn_total``          total number of noise pixels over all samples (None when nn was not computed); in
                      general ``<name>_total`` for every registered metric with a ``total_unit``
``per_class``         per target label: each sample-level metric's mean and count, names, Sem reliability
                      flags (:mod:`sem_metric.pipeline.per_class`)
``counts``            ``pred_files, gt_files, pairs, pairs_with_boxes, pairs_without_boxes, samples,
                      skipped``
``skipped``           ``[{"file", "reason"}]`` unmatched files / boxes.json entries that were skipped
``pairs_without_boxes`` relative paths of pairs that have no box in boxes.json
``metadata``          deterministic description of how the numbers were produced: ``package_version``,
                      ``labelmap_metrics_version``, ``sem`` (``None`` or ``{classifier, preprocessing_version,
                      definition_version}``),
                      ``absent_target`` (``{count, first}``: boxes scored although their ground-truth region
                      has no pixel of their label; only with ``allow_absent_target``), ``inputs``,
                      ``options`` and ``world_size`` (1, or the number of processes under torchrun:
                      :mod:`sem_metric.distributed`); when a dataset-level metric describes itself,
                      ``dataset_metrics`` (e.g. SFD's weights sha256, feature dimension and n). The registry's
                      version keys are read from here.
``runtime``           run-dependent information (ground-truth cache hits/misses); never compared
``samples``           per-sample rows ``{file, box_index, bbox, label, <sample-level metric>...}``; in a SISM
                      task also ``source``: the source map of the sample (``task.json``), its resampling unit
``checks``            ``{passed, items: [{kind, metric, value, limit, passed, detail}],
                      baseline: None | {path, version_mismatches, notes, tolerances}}``
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from .. import registry
from ..distributed import current
from ..errors import InputError
from ..sem.weights import sha256_file
from ..version import LABELMAP_METRICS_VERSION, __version__
from . import io as sio
from .checks import RESULT_SCHEMA, CheckOptions, run_checks
from .class_names import load_class_names
from .intervals import rows_intervals
from .io import BoxSpec, parse_boxes
from .json_file import read_json
from .options import SemOptions
from .per_class import per_class_breakdown
from .result import Result
from .stream import Stream as _Stream, needs_classifier as _needs_classifier
from .target_checks import LISTED as _ABSENT_LISTED, check_stuff_targets, listing as _absent_listing

__all__ = ["SemOptions", "CheckOptions", "evaluate_dirs", "evaluate_samples", "RESULT_SCHEMA"]

Progress = Callable[[int, int], None]

def _stream(items, total: int, specs: Mapping[str, Sequence[BoxSpec]], metrics: Sequence[str],
            sem_options: Optional[SemOptions], progress: Optional[Progress], allow_absent_target: bool,
            distributed: Any) -> Optional[_Stream]:
    """Score every pair in one process, or this rank's shard (rank 0 merges all; other ranks get None)."""
    if distributed is None or distributed.world_size == 1:
        stream = _Stream(metrics, sem_options, allow_absent_target)
        stream.run(items, specs, progress, total)
        return stream
    holder: List[_Stream] = []

    def local() -> Dict[str, Any]:
        holder.append(_Stream(metrics, sem_options, allow_absent_target))
        holder[0].run(items, specs, progress, total, shard=distributed, save=False)
        return holder[0].export() if not distributed.is_main else {}

    parts = distributed.run_and_gather(local)
    if not distributed.is_main:
        return None
    stream = holder[0]
    stream.merge(parts[1:])
    stream.check_absent_target()
    stream.save()
    return stream


def _gt_top1(core: Mapping[str, Any], metrics: Sequence[str]) -> Optional[List[Optional[int]]]:
    """Per row, F's top-1 class on the ground-truth object from the run's own pass (None: not classified);
    None for a run without Sem."""
    if "sem" not in metrics:
        return None
    return [None if t is None else int(t[0][0][0]) for t in core["top3"]]


def _assemble(core: Mapping[str, Any], metrics: Sequence[str], counts_extra: Mapping[str, Any],
              skipped: List[Dict[str, str]], inputs: Dict[str, Any], options: Dict[str, Any], class_names: Any,
              stuff: List[Dict[str, Any]], world_size: int, task: Optional[Mapping[str, Any]],
              unit: str = "file") -> Result:
    """The result (module docstring) from the stream's :meth:`~sem_metric.pipeline.stream.Stream.core`."""
    sources = _task_sources(task)
    if sources is not None:   # a task: the resampling unit is the source map of each sample
        unit = "source map"
        for r in core["rows"]:
            r["source"] = sources.get(r["file"], r["file"])
    counts = {
        "pred_files": counts_extra.get("pred_files", core["pairs"]),
        "gt_files": counts_extra.get("gt_files", core["pairs"]),
        "pairs": core["pairs"],
        "pairs_with_boxes": core["pairs"] - len(core["without_boxes"]),
        "pairs_without_boxes": len(core["without_boxes"]),
        "samples": len(core["rows"]),
        "skipped": len(skipped),
    }
    result = Result({
        "schema": RESULT_SCHEMA,
        "metrics": list(metrics),
        "means": core["means"],
        "intervals": {},
        **core["totals"],
        "per_class": per_class_breakdown(core["rows"], metrics, class_names,
                                         (core["sem_meta"] or {}).get("classifier"), gt_top1=_gt_top1(core, metrics)),
        "counts": counts,
        "skipped": skipped,
        "pairs_without_boxes": core["without_boxes"],
        "metadata": {
            "package_version": __version__,
            "labelmap_metrics_version": LABELMAP_METRICS_VERSION,
            "sem": core["sem_meta"],
            "absent_target": core["absent_target"],
            "stuff_target": {"count": len(stuff), "first": stuff[:_ABSENT_LISTED]},
            "reproducibility": {m: registry.get(m).reproducibility.as_dict() for m in metrics},
            "inputs": inputs,
            "options": options,
            "world_size": world_size,
        },
        "runtime": {"sem": core["sem_runtime"]},
        "samples": core["rows"],
    })
    result.top3 = core.get("top3")
    if core["dataset_meta"]:
        result["metadata"]["dataset_metrics"] = core["dataset_meta"]
    if core["dataset_runtime"]:
        result["runtime"]["dataset_metrics"] = core["dataset_runtime"]
    if task is not None:  # sem-score --task: protocol and task digest (registry version key "task_digest")
        result["metadata"]["task"] = dict(task)
    _add_intervals(result, unit)
    return result


def _task_sources(task: Optional[Mapping[str, Any]]) -> Optional[Dict[str, str]]:
    """``{file: source map}`` of a SISM task's samples (``task.json``), or None without a task directory.

    The task layer verified the directory before handing its metadata here; the pipeline only reads the
    samples' sources (the resampling unit of the intervals), with its own JSON reader."""
    if task is None or not task.get("path"):
        return None
    meta = read_json(os.path.join(os.fspath(task["path"]), "task.json"), "task file")
    return {str(s["file"]): str(s["source"]) for s in meta["samples"]}


def _add_intervals(result: Result, unit: str) -> None:
    """``result["intervals"]`` and each class's ``intervals`` (``{metric: {low, high}}``): seeded 95%
    cluster-bootstrap intervals of the sample-level means over ``unit`` (:mod:`.intervals`)."""
    sample = [m for m in result["metrics"] if registry.get(m).level == "sample"]
    rows = result["samples"]
    result["intervals"] = rows_intervals(rows, sample, unit=unit)
    by_label: Dict[Any, List[Mapping[str, Any]]] = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r)
    for c in (result.get("per_class") or {}).get("classes") or []:
        ci = rows_intervals(by_label.get(c["label"], []), sample, unit=unit)
        c["intervals"] = {m: {"low": e["low"], "high": e["high"]} for m, e in ci.items()}


def _evaluate(items, total: int, specs: Mapping[str, Sequence[BoxSpec]], metrics: Sequence[str],
              sem_options: Optional[SemOptions], checks: Optional[CheckOptions], progress: Optional[Progress],
              counts_extra: Dict[str, Any], skipped: List[Dict[str, str]], inputs: Dict[str, Any],
              options: Dict[str, Any], nothing_hint: str, allow_absent_target: bool,
              warn: Optional[Callable[[str], None]], class_names: Any = None,
              distributed: Any = None, allow_stuff_target: bool = False,
              task: Optional[Mapping[str, Any]] = None) -> Optional[Result]:
    """Everything after input parsing, shared by both entry points: checks up front, the stream, the result.

    With ``distributed`` (a :class:`sem_metric.distributed.Distributed` of more than one process) each
    rank scores its shard of the pairs, rank 0 merges everything and returns the result; other ranks
    return None. An error while scoring on any rank is raised on every rank.
    """
    warn = warn or (lambda msg: warnings.warn(msg, stacklevel=3))
    if sem_options is not None and sem_options.warn is None:
        sem_options = dataclasses.replace(sem_options, warn=warn)
    options["allow_absent_target"] = bool(allow_absent_target)
    options["allow_stuff_target"] = bool(allow_stuff_target)
    checks = checks or CheckOptions()
    checks.validate(metrics)
    stuff = check_stuff_targets(specs, class_names, allow_stuff_target)
    baseline, baseline_path = checks.load_baseline()
    if not any(specs.values()):
        raise InputError(f"nothing to evaluate: {nothing_hint}")
    stream = _stream(items, total, specs, metrics, sem_options, progress, allow_absent_target, distributed)
    if stream is None:
        return None
    core = stream.core()
    if stuff:
        warn(f"{len(stuff)} box(es) have a target label of a class without instances "
             f"({_absent_listing(stuff, class_names)}); scored anyway because of --allow-stuff-target "
             "(allow_stuff_target=True)")
    if core["absent_target"]["count"]:
        warn(f"{core['absent_target']['count']} of {len(core['rows'])} box(es) have no pixel of their target label "
             f"inside the box in the ground truth ({_absent_listing(stream.absent)}); scored anyway because of "
             "--allow-absent-target (allow_absent_target=True)")
    world_size = 1 if distributed is None else distributed.world_size
    result = _assemble(core, metrics, counts_extra, skipped, inputs, options, class_names, stuff, world_size, task,
                       unit="file" if inputs.get("source") != "memory" else "map")
    result["checks"] = run_checks(result, checks, baseline, baseline_path)
    return result


# ------------------------------------------------------------------------------------ public API
def evaluate_samples(samples: Any, boxes: Mapping[str, Any], metrics: Any = None, sem_options: Any = None,
                     progress: Optional[Progress] = None, checks: Optional[CheckOptions] = None,
                     allow_absent_target: bool = False, warn: Optional[Callable[[str], None]] = None,
                     class_names: Any = None, distributed: Any = None,
                     allow_stuff_target: bool = False) -> Optional[Dict[str, Any]]:
    """Evaluate already-loaded maps (paper Sec. 4.1 metrics, Sem of Eq. 10 when asked).

    ``samples``: a mapping ``name -> (pred, gt)`` or a sequence of ``(name, pred, gt)``; maps are 2-D
    integer arrays / tensors. ``boxes``: ``name -> [box entries]`` where an entry is an
    ``io.BoxSpec``, ``{"bbox": [x0, y0, x1, y1], "label": id}`` or ``(box, label)``. ``metrics``:
    ``"tiou,hamm"`` or an iterable of names (default: the registry's default set). ``checks``:
    thresholds / baseline (:class:`CheckOptions`). ``class_names``: names of the class ids for ``per_class``
    (a built-in set such as ``"cityscapes"``, a ``{id: name}`` JSON file or mapping; see
    :mod:`sem_metric.pipeline.class_names`). Box names that are not among ``samples`` raise
    :class:`InputError`; samples without boxes are counted in ``pairs_without_boxes``. A box whose
    ground-truth region has no pixel of its label is an :class:`InputError` (an id-space mistake in SISM,
    Sec. 3) unless ``allow_absent_target``, which scores it with a warning (``warn``, default
    :func:`warnings.warn`) and records the count in ``metadata.absent_target``. With ``class_names`` of a
    built-in set, a box label of a class without instances (stuff, e.g. Cityscapes labelId 11 building)
    is an :class:`InputError` too unless ``allow_stuff_target`` (``metadata.stuff_target``; see
    :mod:`sem_metric.pipeline.target_checks`).
    ``distributed``: see :func:`evaluate_dirs`. Returns the result dict described in the module docstring.
    """
    metrics = registry.parse_metrics(metrics)
    so = SemOptions.coerce(sem_options) if _needs_classifier(metrics) else None
    names_table = load_class_names(class_names)
    if isinstance(samples, Mapping):
        triples = [(str(k), v[0], v[1]) for k, v in samples.items()]
    else:
        triples = []
        for i, t in enumerate(samples):
            try:
                name, pred, gt = t
            except (TypeError, ValueError):
                raise InputError(f"samples[{i}]: expected (name, pred, gt)") from None
            triples.append((str(name), pred, gt))
    names = [t[0] for t in triples]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"sample names must be unique; repeated: {', '.join(map(repr, dup[:5]))}")
    if not isinstance(boxes, Mapping):
        raise InputError(f"boxes: expected a mapping name -> list of boxes, got {type(boxes).__name__}")
    specs = parse_boxes(boxes, "boxes")
    extra = sorted(set(specs) - set(names))
    if extra:
        raise InputError(f"boxes given for {len(extra)} name(s) that are not among the samples: "
                         f"{', '.join(map(repr, extra[:5]))}{' ...' if len(extra) > 5 else ''}")
    items = ((name, (lambda p=pred, g=gt: (p, g))) for name, pred, gt in triples)
    options = {"metrics": list(metrics), "sem": None if so is None else so.metadata(),
               "class_names": None if names_table is None else names_table.describe()}
    return _evaluate(items, len(triples), specs, metrics, so, checks, progress, {}, [], {"source": "memory"},
                     options, f"no sample has a box (boxes given for {len(specs)} of {len(triples)} samples)",
                     allow_absent_target, warn, names_table, _distributed(distributed),
                     allow_stuff_target=allow_stuff_target)


def evaluate_dirs(pred_dir: str, gt_dir: str, boxes_path: str, metrics: Any = None,
                  allow_unmatched: bool = False, color_map: Any = None, sem_options: Any = None,
                  progress: Optional[Progress] = None, checks: Optional[CheckOptions] = None,
                  allow_absent_target: bool = False, warn: Optional[Callable[[str], None]] = None,
                  cli_options: Optional[Mapping[str, Any]] = None, class_names: Any = None,
                  distributed: Any = None, allow_stuff_target: bool = False,
                  task: Optional[Mapping[str, Any]] = None) -> Optional[Dict[str, Any]]:
    """Evaluate a folder of predicted label maps against a folder of ground truths (paper Sec. 4.1, Eq. 10).

    Files are paired by relative path (``io.pair_files``); ``boxes_path`` is a ``boxes.json``
    mapping relative paths to ``[{"bbox": [x0, y0, x1, y1], "label": id}, ...]``. Each pair is read
    once; a size mismatch or a box outside its image is an :class:`InputError` naming the file (and
    box index). Unmatched files, and boxes.json entries without a pair, are errors unless
    ``allow_unmatched`` (then they are listed in ``skipped``). Pairs without boxes are counted; no box
    at all is an error. ``color_map``: ``{(r, g, b): id}`` or a JSON file path for RGB maps.
    ``sem_options``: :class:`SemOptions` or dict. ``progress(done, total)`` is called after each pair.
    ``checks``: thresholds / baseline (:class:`CheckOptions`); a baseline that is not comparable is an
    :class:`InputError` unless allowed. A box whose ground-truth region has no pixel of its label is an
    :class:`InputError` naming the first boxes and the likely cause (label ids from another id space,
    e.g. Cityscapes trainIds instead of labelIds) unless ``allow_absent_target`` (then a warning via
    ``warn`` and ``metadata.absent_target``). ``cli_options`` is recorded as ``metadata.options.cli``.
    ``class_names``: names of the class ids for ``per_class`` (as in :func:`evaluate_samples`); with a
    built-in set, stuff target labels are refused unless ``allow_stuff_target`` (as there).
    ``distributed``: None (one process), True (the initialised ``torch.distributed`` default group) or a
    :class:`sem_metric.distributed.Distributed`: pairs are sharded by index over the ranks, rank 0 gets
    the same result as one process (``metadata.world_size`` records the number of processes) and the
    other ranks get None. ``task``: the description of a verified SISM task (``sem-score --task``,
    :func:`sem_metric.task.scoring.resolve_task`), recorded as ``metadata.task``.
    """
    metrics = registry.parse_metrics(metrics)
    so = SemOptions.coerce(sem_options) if _needs_classifier(metrics) else None
    cmap = sio.load_color_map(color_map)
    names_table = load_class_names(class_names)
    boxes = sio.read_boxes(boxes_path)
    pairs, skipped = sio.pair_files(pred_dir, gt_dir, allow_unmatched=allow_unmatched)
    skipped_rows = [{"file": str(s["file"]), "reason": str(s["reason"])} for s in skipped]
    pair_names = {rel for rel, _p, _g in pairs}
    extra = sorted(set(boxes) - pair_names)
    if extra and not allow_unmatched:
        raise InputError(
            f"boxes.json {os.fspath(boxes_path)!r} has boxes for {len(extra)} file(s) that are not a "
            f"prediction/ground-truth pair: {', '.join(map(repr, extra[:5]))}{' ...' if len(extra) > 5 else ''}; "
            "keys must be paths relative to PRED_DIR/GT_DIR (e.g. 'city/0001.png'); "
            "use --allow-unmatched to skip them")
    skipped_rows += [{"file": k, "reason": "boxes.json entry without a prediction/ground-truth pair"}
                     for k in extra]
    specs = {k: v for k, v in boxes.items() if k in pair_names}

    def items() -> Iterator[Tuple[str, Callable[[], Tuple[Any, Any]]]]:
        for rel, pp, gp in pairs:
            def load(pp=pp, gp=gp):
                return sio.read_label_map(pp, color_map=cmap), sio.read_label_map(gp, color_map=cmap)
            yield rel, load

    inputs = {
        "pred_dir": os.fspath(pred_dir), "gt_dir": os.fspath(gt_dir), "boxes": os.fspath(boxes_path),
        "boxes_sha256": sha256_file(os.fspath(boxes_path)),
    }
    options: Dict[str, Any] = {
        "metrics": list(metrics), "allow_unmatched": bool(allow_unmatched),
        "color_map": None if cmap is None else {"#%02x%02x%02x" % k: v for k, v in sorted(cmap.items())},
        "sem": None if so is None else so.metadata(),
        "class_names": None if names_table is None else names_table.describe(),
    }
    if cli_options is not None:
        options["cli"] = dict(cli_options)
    reasons = [s.get("reason") for s in skipped]
    counts = {"pred_files": len(pairs) + reasons.count("missing in gt"),
              "gt_files": len(pairs) + reasons.count("missing in pred")}
    hint = (f"boxes.json {os.fspath(boxes_path)!r} has no box for any of the {len(pairs)} pairs (keys must be "
            "paths relative to PRED_DIR/GT_DIR, e.g. 'city/0001.png')")
    return _evaluate(items(), len(pairs), specs, metrics, so, checks, progress, counts, skipped_rows, inputs,
                     options, hint, allow_absent_target, warn, names_table, _distributed(distributed),
                     allow_stuff_target=allow_stuff_target, task=task)


def _distributed(value: Any) -> Any:
    """None / False -> None; True -> the initialised default process group (error when there is none)."""
    if value is None or value is False:
        return None
    if value is True:
        d = current()
        if d is None:
            raise InputError("distributed=True but torch.distributed is not initialised; call "
                             "torch.distributed.init_process_group first (or launch sem-score with torchrun)")
        return d
    return value
