"""The evaluation pipeline's stream: pairs of maps in, rows and one engine state out (issue 18).

:class:`Stream` validates each pair, crops it to the union of its boxes (every metric reads only its
box: exact, and the work is bounded by the boxes' extent), computes the label-map metrics per pair and
queues the target objects O (Eq. 10) of all pairs for the engine's classifier stage
(:mod:`sem_metric.engine`), which runs F once per object in batches of ``batch_size``. It never names
a metric: what runs comes from the registry entries through :class:`~sem_metric.engine.core.Engine`.
Under ``torch.distributed`` each rank streams its shard; :meth:`Stream.export` / :meth:`Stream.merge`
put rows back in pair order and merge the states by their declared reductions.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import registry
from ..engine.core import Engine, merge_states
from ..errors import InputError
from ..labelmap.box import Box, as_label_map
from ..labelmap.target_object import object_crop
from ..sem.cache import map_digest, sample_key
from .io import BoxSpec, validate_boxes
from .options import SemOptions
from .result import top3_of
from .target_checks import LISTED as _ABSENT_LISTED, absent_target_error, instance_map_like

__all__ = ["Stream", "crop_to_boxes", "needs_classifier"]

Progress = Callable[[int, int], None]

#: flush queued objects once their crops hold this many bytes
_QUEUE_BYTES = 256 * 1024 * 1024
#: classifier batches queued before the stage runs: the per-object metrics' updates (e.g. SFD's feature moments,
#: one GEMM per flush) then see 8 batches at once instead of one, which keeps them off the critical path
_QUEUE_BATCHES = 8


def needs_classifier(metrics: Sequence[str]) -> bool:
    """Whether any of ``metrics`` needs the shape classifier (registry kind ``"sem"``)."""
    return any(registry.get(m).kind == "sem" for m in metrics)


def crop_to_boxes(pred: np.ndarray, gt: np.ndarray, specs: Sequence[BoxSpec]
                  ) -> Tuple[np.ndarray, np.ndarray, List[BoxSpec]]:
    """Views of both maps cropped to the union of the boxes, and the boxes in the crop's coordinates."""
    x0 = min(s.box.x0 for s in specs)
    y0 = min(s.box.y0 for s in specs)
    x1 = max(s.box.x1 for s in specs)
    y1 = max(s.box.y1 for s in specs)
    shifted = [BoxSpec(Box(s.box.x0 - x0, s.box.y0 - y0, s.box.x1 - x0, s.box.y1 - y0), s.label) for s in specs]
    return pred[y0:y1, x0:x1], gt[y0:y1, x0:x1], shifted


class Stream:
    """Runs the registered metrics over ``(name, load)`` items and aggregates them (Sec. 4.1, Eq. 10)."""

    def __init__(self, metrics: Sequence[str], sem_options: Optional[SemOptions], allow_absent_target: bool):
        from ..engine.classify import load_stage_classifier

        self.metrics = list(metrics)
        self.allow_absent_target = bool(allow_absent_target)
        self.absent: List[Dict[str, Any]] = []
        self.absent_pair: List[int] = []       # pair index of each absent entry (merging across processes)
        so = sem_options or SemOptions()
        classifier = load_stage_classifier(so) if needs_classifier(metrics) else None
        self.engine = Engine(metrics, classifier, so, warn=so.warn)
        self.stage = self.engine.stage
        self.state = self.engine.empty_state()
        self.queue: List[Tuple[np.ndarray, np.ndarray, int, Optional[str], Dict[str, Any]]] = []
        self.queue_bytes = 0
        self.rows: List[Dict[str, Any]] = []
        self.row_pair: List[int] = []          # index of the pair each row comes from (merging across processes)
        self.without_boxes: List[Tuple[int, str]] = []
        self.pairs = 0
        self.index = 0                         # index of the pair being scored

    # ------------------------------------------------------------------ one pair
    def _absent_targets(self, name: str, g: np.ndarray, local: Sequence[BoxSpec]) -> None:
        for i, s in enumerate(local):
            if not object_crop(g, s.box, s.label).any():
                entry = {"file": name, "box_index": i, "label": s.label}
                if instance_map_like(g[s.box.slices], s.label):
                    entry["instance_ids"] = True   # a Cityscapes instanceIds map given as ground truth
                self.absent.append(entry)
                self.absent_pair.append(self.index)

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
        if self.stage is not None and self.stage.cache is not None:
            digest = map_digest(gt)  # of the whole map: the cache key does not depend on the crop
        p, g, local = crop_to_boxes(pred, gt, specs)
        self._absent_targets(name, g, local)
        refusing = bool(self.absent) and not self.allow_absent_target  # the run will be refused: skip the rest
        n = len(local)
        boxes = np.array([s.box.as_tuple() for s in local], dtype=np.int64)
        labels = np.array([s.label for s in local], dtype=np.int64)
        preds, gts = np.broadcast_to(p, (n,) + p.shape), np.broadcast_to(g, (n,) + g.shape)
        values = self.engine.map_values(preds, gts, boxes, labels)
        for m, vals in values.items():
            for r, v in zip(rows, vals):
                r[m] = v
        self.engine.update_maps(self.state, preds, gts, boxes, labels, values, datasets=not refusing)
        if self.engine.uses_classifier_phase and not refusing:
            for s, r in zip(local, rows):
                self._queue(object_crop(p, s.box, s.label), object_crop(g, s.box, s.label), s.label, digest, r)
        self.rows.extend(rows)
        self.row_pair.extend([self.index] * len(rows))

    def _queue(self, o_pred: np.ndarray, o_gt: np.ndarray, label: int, digest: Optional[str],
               row: Dict[str, Any]) -> None:
        """Queue one object pair for the classifier stage (identical objects may be settled here)."""
        if np.array_equal(o_pred, o_gt):
            settled = self.engine.identical_values()
            if settled is not None:            # nothing needs F for identical objects (e.g. Sem = 0 exactly)
                row.update(settled)
                self.engine.add_values(self.state, {m: [v] for m, v in settled.items()})
                self.stage.identical += 1
                return
        key = None
        if digest is not None:
            key = sample_key(digest, row["bbox"], label)
        # the queue keeps only the box-sized object crops, never the maps
        self.queue.append((o_pred, o_gt, label, key, row))
        self.queue_bytes += o_pred.nbytes + o_gt.nbytes
        if len(self.queue) >= _QUEUE_BATCHES * self.engine.batch_size or self.queue_bytes >= _QUEUE_BYTES:
            self.flush()

    def flush(self) -> None:
        """Run the classifier stage on the queued objects and fill their rows."""
        if not self.queue:
            return
        keys = [q[3] for q in self.queue] if self.stage.cache is not None else None
        batch = self.engine.classify([q[0] for q in self.queue], [q[1] for q in self.queue],
                                     [q[2] for q in self.queue], keys)
        for m, vals in self.engine.update_classified(self.state, batch).items():
            for q, v in zip(self.queue, vals.tolist()):
                q[4][m] = float(v)
        if batch.probs_pred is not None:          # what --report shows (Result.top3): no second classifier pass

            # identical objects are left out whatever the metrics (F@GT's sample set; Sem = 0 without F)
            for q, pp, pg, same in zip(self.queue, batch.probs_pred, batch.probs_gt, batch.identical):
                if not same and np.isfinite(pp).all() and np.isfinite(pg).all():
                    q[4]["_top3"] = (top3_of(pg), top3_of(pp))
        self.queue, self.queue_bytes = [], 0

    def save(self) -> None:
        """Save the ground-truth cache (when one is used)."""
        if self.stage is not None:
            self.stage.save()

    # ------------------------------------------------------------------ the run
    def run(self, items: Iterable[Tuple[str, Callable[[], Tuple[Any, Any]]]], boxes: Mapping[str, Sequence[BoxSpec]],
            progress: Optional[Progress], total: int, shard: Any = None, save: bool = True) -> None:
        """Score every pair of ``items`` (``(name, load)``; pairs without boxes are counted, not read).

        With ``shard`` (a :class:`sem_metric.distributed.Distributed`) only this rank's pairs are scored,
        and the absent-target check is left to the merge on rank 0.
        """
        if shard is not None:
            total = shard.shard_size(total)
            if self.stage is not None:
                self.stage.record_new_entries = True
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
        if self.stage is not None:
            self.flush()
            if save:
                self.save()

    def export(self) -> Dict[str, Any]:
        """This process's rows, counts and engine state, for rank 0 to :meth:`merge` (picklable)."""
        return {"rows": self.rows, "row_pair": self.row_pair, "without_boxes": self.without_boxes,
                "absent": self.absent, "absent_pair": self.absent_pair, "pairs": self.pairs, "state": self.state,
                "legacy": {k: acc.state() for k, acc in self.engine.legacy.items()},
                "stage": None if self.stage is None else self.stage.export()}

    def merge(self, parts: Sequence[Mapping[str, Any]]) -> None:
        """Add other processes' :meth:`export` and put every row back in pair order (as one process would)."""
        rows = list(zip(self.row_pair, self.rows))
        absent = list(zip(self.absent_pair, self.absent))
        for part in parts:
            rows += list(zip(part["row_pair"], part["rows"]))
            absent += list(zip(part["absent_pair"], part["absent"]))
            self.without_boxes += part["without_boxes"]
            self.pairs += part["pairs"]
            self.state = merge_states(self.state, part["state"])
            for name, state in part["legacy"].items():
                self.engine.legacy[name].merge(state)
            if self.stage is not None and part["stage"] is not None:
                self.stage.absorb(part["stage"])
        # stable by pair index: boxes of one pair stay in their order (all on one rank)
        rows.sort(key=lambda t: t[0])
        self.rows, self.row_pair = [r for _, r in rows], [i for i, _ in rows]
        self.without_boxes.sort()
        absent.sort(key=lambda t: t[0])
        self.absent, self.absent_pair = [a for _, a in absent], [i for i, _ in absent]

    def check_absent_target(self) -> None:
        """Refuse boxes whose ground-truth region has no pixel of their label (unless allowed).

        In SISM (paper Sec. 3) the target object always exists in the ground truth S^c; a box without it
        scores tIOU 1 and Sem 0 for an erased object, which is almost always a label id-space mistake.
        """
        if not self.absent or self.allow_absent_target:
            return
        raise absent_target_error(self.absent, len(self.rows))

    def core(self) -> Dict[str, Any]:
        """Rows in canonical key order, means, totals, classifier and dataset-metric metadata."""
        per_sample = [m for m in self.metrics if registry.get(m).level == "sample"]
        rows = [{**{k: r[k] for k in ("file", "box_index", "bbox", "label")}, **{m: r.get(m) for m in per_sample}}
                for r in self.rows]
        values, totals, meta, runtime = self.engine.compute(self.state)
        return {"rows": rows, "means": values if rows else {m: None for m in self.metrics},
                "totals": {f"{name}_total": totals.get(f"{name}_total") if name in per_sample else None
                           for name, spec in registry.METRICS.items() if spec.total_unit},
                "pairs": self.pairs,
                "absent_target": {"count": len(self.absent), "first": self.absent[:_ABSENT_LISTED]},
                "without_boxes": [name for _, name in self.without_boxes],
                "sem_meta": None if self.stage is None else self.stage.metadata(),
                "sem_runtime": None if self.stage is None else self.stage.runtime(),
                "dataset_meta": meta if rows else {}, "dataset_runtime": runtime,
                "top3": [r.get("_top3") for r in self.rows]}
