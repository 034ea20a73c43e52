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
``nn_total``          total number of noise pixels over all samples (None when nn was not computed); in
                      general ``<name>_total`` for every registered metric with a ``total_unit``
``per_class``         per target label: each sample-level metric's mean and count, names, Sem reliability
                      flags (:mod:`sem_metric.pipeline.per_class`)
``counts``            ``pred_files, gt_files, pairs, pairs_with_boxes, pairs_without_boxes, samples,
                      skipped``
``skipped``           ``[{"file", "reason"}]`` unmatched files / boxes.json entries that were skipped
``pairs_without_boxes`` relative paths of pairs that have no box in boxes.json
``metadata``          deterministic description of how the numbers were produced: ``package_version``,
                      ``labelmap_metrics_version``, ``sem`` (``None`` or ``{classifier, preprocessing_version}``),
                      ``absent_target`` (``{count, first}``: boxes scored although their ground-truth region
                      has no pixel of their label; only with ``allow_absent_target``), ``inputs``,
                      ``options`` and ``world_size`` (1, or the number of processes under torchrun:
                      :mod:`sem_metric.distributed`); when a dataset-level metric describes itself,
                      ``dataset_metrics`` (e.g. SFD's weights sha256, feature dimension and n). The registry's
                      version keys are read from here.
``runtime``           run-dependent information (ground-truth cache hits/misses); never compared
``samples``           per-sample rows ``{file, box_index, bbox, label, <sample-level metric>...}``
``checks``            ``{passed, items: [{kind, metric, value, limit, passed, detail}],
                      baseline: None | {path, version_mismatches, notes, tolerances}}``
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import registry
from ..errors import InputError
from ..labelmap.box import Box, as_label_map
from ..labelmap.target_object import object_crop
from ..version import LABELMAP_METRICS_VERSION, __version__
from .checks import RESULT_SCHEMA, CheckOptions, run_checks
from .class_names import load_class_names
from .per_class import per_class_breakdown
from .io import BoxSpec, parse_boxes, validate_boxes
from .target_checks import LISTED as _ABSENT_LISTED
from .target_checks import absent_target_error, check_stuff_targets, instance_map_like
from .target_checks import listing as _absent_listing

__all__ = ["SemOptions", "CheckOptions", "evaluate_dirs", "evaluate_samples", "RESULT_SCHEMA"]

Progress = Callable[[int, int], None]

#: flush queued Sem samples once their object crops hold this many bytes
_SEM_QUEUE_BYTES = 256 * 1024 * 1024


@dataclass
class SemOptions:
    """How Sem (Eq. 10) is computed.

    ``weights``: anything :func:`sem_metric.sem.weights.load_classifier` accepts (None = shipped default,
    registry name, local path, ``hf://`` reference); ``sha256``: the weights file's expected sha256
    (checked before the weights are used); ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
    ``"auto"``/None; ``batch_size``: classifier batch size; ``gt_cache``: path of a ground-truth
    probability cache (:mod:`sem_metric.sem.cache`) or None; ``sfd_gt_stats``: ground-truth SFD
    statistics file (:class:`sem_metric.sem.sfd.ShapeStats`, written or verified) or None; ``classifier``: an already loaded
    classifier (then ``weights`` is ignored); ``warn``: callback for warnings (default
    :func:`warnings.warn`); ``compile``: opt-in ``torch.compile`` of the classifier
    (:func:`sem_metric.sem.classifier.compile_classifier`; Sem within the registry bound of eager).
    """

    weights: Any = None
    sha256: Optional[str] = None
    device: Optional[str] = None
    batch_size: int = 64
    gt_cache: Optional[str] = None
    sfd_gt_stats: Optional[str] = None
    classifier: Any = None
    warn: Optional[Callable[[str], None]] = field(default=None, repr=False)
    compile: bool = False

    @classmethod
    def coerce(cls, value: Any) -> "SemOptions":
        """A validated :class:`SemOptions` from None, itself or a dict of its fields (unknown keys are an error)."""
        if value is None:
            value = cls()
        elif isinstance(value, Mapping):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise InputError(f"sem_options: unknown option(s) {sorted(unknown)}; "
                                 f"valid: {sorted(cls.__dataclass_fields__)}")
            value = cls(**value)
        elif not isinstance(value, cls):
            raise InputError(f"sem_options: expected a SemOptions or a dict, got {type(value).__name__}")
        bs = value.batch_size
        if isinstance(bs, bool) or not isinstance(bs, numbers.Integral) or bs < 1:
            raise InputError(f"sem_options: batch size must be an integer >= 1, got {bs!r}")
        return value

    def metadata(self) -> Dict[str, Any]:
        """The options as recorded in ``metadata.options.sem``."""
        w = self.weights
        return {"weights": None if w is None else (os.fspath(w) if isinstance(w, (str, os.PathLike)) else repr(w)),
                "sha256": self.sha256, "device": self.device, "batch_size": int(self.batch_size),
                "gt_cache": None if self.gt_cache is None else os.fspath(self.gt_cache),
                "sfd_gt_stats": None if self.sfd_gt_stats is None else os.fspath(self.sfd_gt_stats),
                "compile": bool(self.compile)}


def _needs_classifier(metrics: Sequence[str]) -> bool:
    """Whether any of ``metrics`` needs the Sem classifier (registry kind ``"sem"``: Sem, SFD)."""
    return any(registry.get(m).kind == "sem" for m in metrics)


# ------------------------------------------------------------------------------------ Sem engine
class _SemRunner:
    """Queues (pred, gt, box, label) samples and computes Sem (Eq. 10) in batches."""

    def __init__(self, options: SemOptions, probabilities: bool = True):
        from ..version import PREPROCESSING_VERSION
        from ..sem.weights import load_classifier, resolve_device

        self.opts = options
        self.classifier = options.classifier
        if self.classifier is None:
            self.classifier = load_classifier(options.weights, device=options.device, sha256=options.sha256,
                                              compile=bool(options.compile))
        else:
            if options.device is not None:
                self.classifier = self.classifier.to(resolve_device(options.device))
            if options.compile:
                from ..sem.classifier import compile_classifier

                self.classifier = compile_classifier(self.classifier)
        info = dict(getattr(self.classifier, "info", None) or {})
        self.preprocessing_version = PREPROCESSING_VERSION
        self.info = {k: info.get(k) for k in ("name", "sha256", "source", "arch", "input_size", "preprocessing")}
        try:
            self.device = str(next(self.classifier.parameters()).device)
        except (StopIteration, AttributeError, TypeError):
            self.device = None
        self.cache = None
        self.record_new_entries = False  # set when sharded: rank 0 saves every rank's new cache entries
        self.new_cache_entries: List[Tuple[List[str], np.ndarray]] = []
        if options.gt_cache is not None and probabilities:
            from ..sem.cache import GTProbabilityCache

            if not info.get("sha256"):
                raise InputError("a ground-truth cache needs classifier weights with a known sha256 (load them with "
                                 "sem_metric.load_classifier); this classifier has none")
            self.cache = GTProbabilityCache.open(
                options.gt_cache, str(info.get("sha256")), PREPROCESSING_VERSION, __version__, warn=options.warn)
        self.queue: List[tuple] = []
        self.queue_maps: Dict[int, int] = {}
        self.identical = 0

    def add(self, pred: np.ndarray, gt: np.ndarray, spec: BoxSpec, gt_digest: Optional[str],
            row: Dict[str, Any]) -> None:
        """Queue one sample; ``spec`` is in the coordinates of ``pred``/``gt``, ``row`` receives ``sem``."""
        # Sem only sees O (target object inside the box) and M (the box): identical O gives Sem = 0 exactly.
        pred_crop, gt_crop = object_crop(pred, spec.box, spec.label), object_crop(gt, spec.box, spec.label)
        if np.array_equal(pred_crop, gt_crop):
            row["sem"] = 0.0
            self.identical += 1
            return
        # the queue keeps only the crops (box-sized), never the maps
        self.queue.append((pred_crop, gt_crop, spec, gt_digest, row))
        self.queue_maps[id(row)] = pred_crop.nbytes + gt_crop.nbytes
        if len(self.queue) >= int(self.opts.batch_size) or sum(self.queue_maps.values()) >= _SEM_QUEUE_BYTES:
            self.flush()

    def flush(self) -> None:
        """Classify the queued samples (ground truths from the cache when present) and fill their rows."""
        if not self.queue:
            return
        from ..sem.cache import sample_key
        from ..sem.metric import probabilities_from_inputs, sem_from_probabilities
        from ..sem.preprocess import windows_from_crops

        preds = [q[0] for q in self.queue]
        gts = [q[1] for q in self.queue]
        labels = [q[2].label for q in self.queue]
        n = len(self.queue)
        if self.cache is not None:
            keys = [sample_key(q[3], q[4]["bbox"], l) for q, l in zip(self.queue, labels)]
            gt_probs, missing = self.cache.lookup(keys)
        else:
            keys = []
            gt_probs, missing = None, list(range(n))
        # box-window-v1 inputs from the crops (batched, bit-identical to classifier_inputs on the maps)
        inputs = windows_from_crops(preds + [gts[i] for i in missing])
        probs = probabilities_from_inputs(inputs, self.classifier, batch_size=int(self.opts.batch_size))
        p = probs[:n]
        if gt_probs is None:
            gt_probs = probs[n:]
        else:
            gt_probs[missing] = probs[n:]
            self.cache.put([keys[i] for i in missing], probs[n:])
            if self.record_new_entries:
                self.new_cache_entries.append(([keys[i] for i in missing], probs[n:]))
        for q, v in zip(self.queue, sem_from_probabilities(p, gt_probs)):
            q[4]["sem"] = float(v)
        self.queue = []
        self.queue_maps = {}

    def finish(self) -> None:
        """Flush the queue and save the ground-truth cache."""
        self.flush()
        self.save()

    def save(self) -> None:
        """Save the ground-truth cache (when one is used and anything changed)."""
        if self.cache is not None:
            self.cache.save()

    def export(self) -> Dict[str, Any]:
        """What another process needs to merge this one's Sem work (see :meth:`absorb`)."""
        return {"identical": self.identical, "new_cache_entries": self.new_cache_entries,
                "cache_counts": None if self.cache is None else (self.cache.hits, self.cache.misses)}

    def absorb(self, part: Mapping[str, Any]) -> None:
        """Add another process's :meth:`export`: counters and the cache entries it computed."""
        self.identical += int(part["identical"])
        if self.cache is not None:
            for keys, probs in part["new_cache_entries"]:
                self.cache.put(keys, probs)
            if part["cache_counts"] is not None:
                self.cache.hits += part["cache_counts"][0]
                self.cache.misses += part["cache_counts"][1]

    def metadata(self) -> Dict[str, Any]:
        """``metadata.sem``: the classifier's provenance and the preprocessing version (Eq. 10 inputs)."""
        return {"classifier": self.info, "preprocessing_version": self.preprocessing_version}

    def runtime(self) -> Dict[str, Any]:
        """``runtime.sem``: device, batch size, identical object maps, ground-truth cache statistics."""
        return {"device": self.device, "batch_size": int(self.opts.batch_size),
                "compiled": bool(getattr(self.classifier, "sem_compiled", False)),
                "identical_object_maps": self.identical,
                "gt_cache": None if self.cache is None else self.cache.stats()}


# ------------------------------------------------------------------------------------ core loop

def _crop_to_boxes(pred: np.ndarray, gt: np.ndarray, specs: Sequence[BoxSpec]
                   ) -> Tuple[np.ndarray, np.ndarray, List[BoxSpec]]:
    """Views of both maps cropped to the union of the boxes, and the boxes in the crop's coordinates.

    Every metric reads only its box, so this is exact; it bounds the work by the boxes' extent.
    """
    x0 = min(s.box.x0 for s in specs)
    y0 = min(s.box.y0 for s in specs)
    x1 = max(s.box.x1 for s in specs)
    y1 = max(s.box.y1 for s in specs)
    shifted = [BoxSpec(Box(s.box.x0 - x0, s.box.y0 - y0, s.box.x1 - x0, s.box.y1 - y0), s.label) for s in specs]
    return pred[y0:y1, x0:x1], gt[y0:y1, x0:x1], shifted


class _Stream:
    """Runs the registered metrics over ``(name, load)`` items and aggregates them (Sec. 4.1, Eq. 10)."""

    def __init__(self, metrics: Sequence[str], sem_options: Optional[SemOptions], allow_absent_target: bool):
        self.metrics = list(metrics)
        self.allow_absent_target = bool(allow_absent_target)
        self.absent: List[Dict[str, Any]] = []
        self.absent_pair: List[int] = []       # pair index of each absent entry (merging across processes)
        specs = [registry.get(m) for m in metrics]
        self.sample_labelmap = [m for m in specs if m.kind == "labelmap" and m.level == "sample"]
        # tIOU, hamm and NN from one class-pair histogram per box (identical values, one pass)
        from ..labelmap.metrics import FUSED_FUNCTIONS

        fused = [m for m in self.sample_labelmap
                 if m.function == f"sem_metric.labelmap.metrics:{FUSED_FUNCTIONS.get(m.name)}"]
        self.fused = fused if len(fused) > 1 else []
        self.sample_labelmap = [m for m in self.sample_labelmap if m not in self.fused]
        unsupported = [m.name for m in specs if m.kind == "sem" and m.level == "sample" and m.name != "sem"]
        if unsupported:
            raise InputError(f"metric(s) {', '.join(unsupported)} need the Sem engine, which computes only 'sem' "
                             "per sample so far (see docs/ARCHITECTURE.md)")
        so = sem_options or SemOptions()
        self.sem = _SemRunner(so, probabilities="sem" in metrics) if _needs_classifier(metrics) else None
        self.sem_per_sample = "sem" in metrics
        # dataset-level metrics: a class with update/compute; those of kind "sem" get the loaded classifier
        self.dataset: Dict[str, Any] = {}
        for m in specs:
            if m.level == "dataset":
                cls = m.resolve()
                if m.kind == "sem":
                    self.dataset[m.name] = (cls.from_sem_options(self.sem.classifier, so)
                                            if hasattr(cls, "from_sem_options") else cls(classifier=self.sem.classifier))
                else:
                    self.dataset[m.name] = cls()
        self.rows: List[Dict[str, Any]] = []
        self.row_pair: List[int] = []          # index of the pair each row comes from (merging across processes)
        self.without_boxes: List[Tuple[int, str]] = []
        self.pairs = 0
        self.index = 0                         # index of the pair being scored

    def pair(self, name: str, pred: Any, gt: Any, specs: Sequence[BoxSpec]) -> None:
        """Score every box of one pair of maps."""
        pred = as_label_map(pred, f"prediction {name!r}")
        gt = as_label_map(gt, f"ground truth {name!r}")
        if pred.shape != gt.shape:
            raise InputError(
                f"{name!r}: prediction is {pred.shape[0]}x{pred.shape[1]} (HxW) but the ground truth is "
                f"{gt.shape[0]}x{gt.shape[1]}; both maps of a pair must have the same size "
                "(do not resize label maps with interpolation; use nearest-neighbour if you must)")
        validate_boxes(specs, name, pred.shape)
        rows = [{"file": name, "box_index": i, "bbox": list(s.box.as_tuple()), "label": s.label}
                for i, s in enumerate(specs)]
        digest = None
        if self.sem is not None and self.sem.cache is not None:
            from ..sem.cache import map_digest

            digest = map_digest(gt)  # of the whole map: the cache key does not depend on the crop
        p, g, local = _crop_to_boxes(pred, gt, specs)
        for i, s in enumerate(local):
            if not object_crop(g, s.box, s.label).any():
                entry = {"file": name, "box_index": i, "label": s.label}
                if instance_map_like(g[s.box.slices], s.label):
                    entry["instance_ids"] = True   # a Cityscapes instanceIds map given as ground truth
                self.absent.append(entry)
                self.absent_pair.append(self.index)
        refusing = bool(self.absent) and not self.allow_absent_target  # the run will be refused: skip Sem
        n = len(local)
        boxes = np.array([s.box.as_tuple() for s in local], dtype=np.int64)
        labels = np.array([s.label for s in local], dtype=np.int64)
        preds = np.broadcast_to(p, (n,) + p.shape)
        gts = np.broadcast_to(g, (n,) + g.shape)
        if self.fused:
            from ..labelmap.metrics import labelmap_metrics_batch

            values = labelmap_metrics_batch(preds, gts, boxes, labels)
            for m in self.fused:
                for r, v in zip(rows, values[m.name].tolist()):
                    r[m.name] = v
        for m in self.sample_labelmap:
            for r, v in zip(rows, m.compute(preds, gts, boxes, labels)):
                r[m.name] = int(v) if m.integer else float(v)
        if not refusing:
            for acc in self.dataset.values():
                acc.update(preds, gts, boxes, labels)
        if self.sem_per_sample and not refusing:
            for s, r in zip(local, rows):
                self.sem.add(p, g, s, digest, r)
        self.rows.extend(rows)
        self.row_pair.extend([self.index] * len(rows))

    def run(self, items: Iterable[Tuple[str, Callable[[], Tuple[Any, Any]]]], boxes: Mapping[str, Sequence[BoxSpec]],
            progress: Optional[Progress], total: int, shard: Any = None, save: bool = True) -> None:
        """Score every pair of ``items`` (``(name, load)``; pairs without boxes are counted, not read).

        With ``shard`` (a :class:`sem_metric.distributed.Distributed`) only this rank's pairs are scored,
        and the absent-target check is left to the merge on rank 0.
        """
        if shard is not None:
            total = shard.shard_size(total)
            if self.sem is not None:
                self.sem.record_new_entries = True
        if progress is not None:
            progress(0, total)
        done = 0
        for index, (name, load) in enumerate(items):
            if shard is not None and not shard.owns_index(index):
                continue
            self.index = index
            self.pairs += 1
            specs = boxes.get(name) or []
            if specs:
                self.pair(name, *load(), specs)
            else:  # nothing to score: counted, not read
                self.without_boxes.append((index, name))
            done += 1
            if progress is not None:
                progress(done, total)
        if shard is None:
            self.check_absent_target()
        if self.sem is not None:
            self.sem.flush()
            if save:
                self.sem.save()

    def export(self) -> Dict[str, Any]:
        """This process's rows, counts and dataset-level states, for rank 0 to :meth:`merge` (picklable)."""
        return {"rows": self.rows, "row_pair": self.row_pair, "without_boxes": self.without_boxes,
                "absent": self.absent, "absent_pair": self.absent_pair,
                "pairs": self.pairs, "dataset": {k: acc.state() for k, acc in self.dataset.items()},
                "sem": None if self.sem is None else self.sem.export()}

    def merge(self, parts: Sequence[Mapping[str, Any]]) -> None:
        """Add other processes' :meth:`export` and put every row back in pair order (as one process would)."""
        rows = list(zip(self.row_pair, self.rows))
        absent = list(zip(self.absent_pair, self.absent))
        for part in parts:
            rows += list(zip(part["row_pair"], part["rows"]))
            absent += list(zip(part["absent_pair"], part["absent"]))
            self.without_boxes += part["without_boxes"]
            self.pairs += part["pairs"]
            for name, state in part["dataset"].items():
                self.dataset[name].merge(state)
            if self.sem is not None and part["sem"] is not None:
                self.sem.absorb(part["sem"])
        # stable by pair index: boxes of one pair stay in their order (all on one rank)
        rows.sort(key=lambda t: t[0])
        self.rows = [r for _, r in rows]
        self.row_pair = [i for i, _ in rows]
        self.without_boxes.sort()
        absent.sort(key=lambda t: t[0])
        self.absent = [a for _, a in absent]
        self.absent_pair = [i for i, _ in absent]

    def check_absent_target(self) -> None:
        """Refuse boxes whose ground-truth region has no pixel of their label (unless allowed).

        In SISM (paper Sec. 3) the target object always exists in the ground truth S^c; a box without it
        scores tIOU 1 and Sem 0 for an erased object, which is almost always a label id-space mistake.
        """
        if not self.absent or self.allow_absent_target:
            return
        raise absent_target_error(self.absent, len(self.rows))

    def core(self) -> Dict[str, Any]:
        """Rows in canonical key order, means, totals, Sem metadata."""
        per_sample = [m for m in self.metrics if registry.get(m).level == "sample"]
        rows = [{**{k: r[k] for k in ("file", "box_index", "bbox", "label")}, **{m: r.get(m) for m in per_sample}}
                for r in self.rows]
        means: Dict[str, Optional[float]] = {}
        for m in self.metrics:
            if m in self.dataset:
                means[m] = float(self.dataset[m].compute()) if rows else None
            else:
                # correctly rounded sum (math.fsum), then / n: independent of order and of chunking
                vals = [float(r[m]) for r in rows]
                means[m] = math.fsum(vals) / len(vals) if vals else None
        totals = {f"{name}_total": (int(sum(r[name] for r in rows)) if registry.get(name).integer
                                    else math.fsum(r[name] for r in rows)) if name in per_sample else None
                  for name, spec in registry.METRICS.items() if spec.total_unit}
        described = {k: acc for k, acc in self.dataset.items() if hasattr(acc, "metadata")}
        return {"rows": rows, "means": means, "totals": totals, "pairs": self.pairs,
                "absent_target": {"count": len(self.absent), "first": self.absent[:_ABSENT_LISTED]},
                "without_boxes": [name for _, name in self.without_boxes],
                "sem_meta": None if self.sem is None else self.sem.metadata(),
                "sem_runtime": None if self.sem is None else self.sem.runtime(),
                "dataset_meta": {k: acc.metadata() for k, acc in described.items()} if rows else {},
                "dataset_runtime": {k: acc.runtime() for k, acc in self.dataset.items() if hasattr(acc, "runtime")}}


def _evaluate(items, total: int, specs: Mapping[str, Sequence[BoxSpec]], metrics: Sequence[str],
              sem_options: Optional[SemOptions], checks: Optional[CheckOptions], progress: Optional[Progress],
              counts_extra: Dict[str, Any], skipped: List[Dict[str, str]], inputs: Dict[str, Any],
              options: Dict[str, Any], nothing_hint: str, allow_absent_target: bool,
              warn: Optional[Callable[[str], None]], class_names: Any = None,
              distributed: Any = None, allow_stuff_target: bool = False,
              task: Optional[Mapping[str, Any]] = None) -> Optional[Dict[str, Any]]:
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
    world_size = 1
    if distributed is None or distributed.world_size == 1:
        stream = _Stream(metrics, sem_options, allow_absent_target)
        stream.run(items, specs, progress, total)
    else:
        holder: List[_Stream] = []

        def local() -> Dict[str, Any]:
            holder.append(_Stream(metrics, sem_options, allow_absent_target))
            holder[0].run(items, specs, progress, total, shard=distributed, save=False)
            return holder[0].export() if not distributed.is_main else {}

        world_size = distributed.world_size
        parts = distributed.run_and_gather(local)
        if not distributed.is_main:
            return None
        stream = holder[0]
        stream.merge(parts[1:])
        stream.check_absent_target()
        if stream.sem is not None:
            stream.sem.save()
    core = stream.core()
    absent = core["absent_target"]
    if stuff:
        warn(f"{len(stuff)} box(es) have a target label of a class without instances "
             f"({_absent_listing(stuff, class_names)}); scored anyway because of --allow-stuff-target "
             "(allow_stuff_target=True)")
    if absent["count"]:
        warn(f"{absent['count']} of {len(core['rows'])} box(es) have no pixel of their target label inside the box "
             f"in the ground truth ({_absent_listing(stream.absent)}); scored anyway because of "
             "--allow-absent-target (allow_absent_target=True)")
    counts = {
        "pred_files": counts_extra.get("pred_files", core["pairs"]),
        "gt_files": counts_extra.get("gt_files", core["pairs"]),
        "pairs": core["pairs"],
        "pairs_with_boxes": core["pairs"] - len(core["without_boxes"]),
        "pairs_without_boxes": len(core["without_boxes"]),
        "samples": len(core["rows"]),
        "skipped": len(skipped),
    }
    result = {
        "schema": RESULT_SCHEMA,
        "metrics": list(metrics),
        "means": core["means"],
        **core["totals"],
        "per_class": per_class_breakdown(core["rows"], metrics, class_names,
                                         (core["sem_meta"] or {}).get("classifier")),
        "counts": counts,
        "skipped": skipped,
        "pairs_without_boxes": core["without_boxes"],
        "metadata": {
            "package_version": __version__,
            "labelmap_metrics_version": LABELMAP_METRICS_VERSION,
            "sem": core["sem_meta"],
            "absent_target": absent,
            "stuff_target": {"count": len(stuff), "first": stuff[:_ABSENT_LISTED]},
            "reproducibility": {m: registry.get(m).reproducibility.as_dict() for m in metrics},
            "inputs": inputs,
            "options": options,
            "world_size": world_size,
        },
        "runtime": {"sem": core["sem_runtime"]},
        "samples": core["rows"],
    }
    if core["dataset_meta"]:
        result["metadata"]["dataset_metrics"] = core["dataset_meta"]
    if core["dataset_runtime"]:
        result["runtime"]["dataset_metrics"] = core["dataset_runtime"]
    if task is not None:  # sem-score --task: protocol and task digest (registry version key "task_digest")
        result["metadata"]["task"] = dict(task)
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
    from ..sem.weights import sha256_file
    from . import io as sio

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
        from ..distributed import current

        d = current()
        if d is None:
            raise InputError("distributed=True but torch.distributed is not initialised; call "
                             "torch.distributed.init_process_group first (or launch sem-score with torchrun)")
        return d
    return value
