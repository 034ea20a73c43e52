"""The evaluation pipeline behind ``sem-score``, as plain functions.

:func:`evaluate_dirs` pairs the label maps of a prediction folder and a ground-truth folder, reads
each pair once, checks sizes and boxes, and computes the metrics of paper Sec. 4.1 for every box of
``boxes.json``: tIOU, hamm, NN (noise pixels) and optionally Sem (Eq. 10). :func:`evaluate_samples`
does the same on maps that are already in memory. Both return a result dict whose layout is
documented in :mod:`sem_metric.report` (``schema == report.RESULT_SCHEMA``).

Aggregation: tIOU, hamm and Sem are averaged over samples (one sample = one box); NN is the mean
number of noise pixels per sample (the paper's NN), and ``nn_total`` is their sum. Pairs without
boxes are counted but not read. tIOU / hamm / NN only look inside the box, so each pair is cropped
to the union of its boxes before the batched metric functions run (exact, and cheap on large maps).

Sem: predictions (and ground truths not found in the optional cache, :mod:`sem_metric.sem_cache`)
are classified together in batches of ``batch_size``. A sample whose predicted target object inside
the box equals the ground truth's (same O and M, hence the same classifier input) gets Sem = 0
exactly without running the classifier.

Sem labels are class ids of the label maps themselves (the classifier only sees the binary target
object map O and the box mask M, so no mapping to COCO ids is needed).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .box import Box, as_label, as_label_map
from .errors import InputError
from .io import BoxSpec as _Spec
from .io import validate_boxes as _validate_boxes
from .report import ALL_METRICS, DEFAULT_METRICS, RESULT_SCHEMA, parse_metrics
from .version import LABELMAP_METRICS_VERSION, __version__

__all__ = ["SemOptions", "evaluate_dirs", "evaluate_samples", "read_color_map", "DEFAULT_METRICS",
           "ALL_METRICS"]

Progress = Callable[[int, int], None]

#: flush queued Sem samples once the maps they reference hold this many bytes
_SEM_QUEUE_BYTES = 256 * 1024 * 1024


@dataclass
class SemOptions:
    """How Sem is computed.

    ``weights``: anything :func:`sem_metric.weights.load_classifier` accepts (None = shipped default,
    registry name, local path, ``hf://`` reference); ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
    ``"auto"``/None; ``batch_size``: classifier batch size; ``gt_cache``: path of a ground-truth
    probability cache (:mod:`sem_metric.sem_cache`) or None; ``classifier``: an already loaded
    classifier (then ``weights`` is ignored); ``warn``: callback for warnings (default
    :func:`warnings.warn`).
    """

    weights: Any = None
    device: Optional[str] = None
    batch_size: int = 64
    gt_cache: Optional[str] = None
    classifier: Any = None
    warn: Optional[Callable[[str], None]] = field(default=None, repr=False)

    @classmethod
    def coerce(cls, value: Any) -> "SemOptions":
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise InputError(f"sem_options: unknown option(s) {sorted(unknown)}; "
                                 f"valid: {sorted(cls.__dataclass_fields__)}")
            return cls(**value)
        raise InputError(f"sem_options: expected a SemOptions or a dict, got {type(value).__name__}")


# ------------------------------------------------------------------------------------ inputs
def read_color_map(path: str) -> Dict[Tuple[int, int, int], int]:
    """Read a ``--color-map`` JSON file: colour -> class id, for RGB label maps.

    Accepted forms: an object whose keys are ``"#rrggbb"`` or ``"r,g,b"`` and values class ids, e.g.
    ``{"#000000": 0, "128,64,128": 7}``; or a list of ``{"color": [r, g, b], "id": n}``.
    """
    from .io import read_json

    return parse_color_map(read_json(path, "color map"), where=f"color map {path!r}")


def _color(value: Any, where: str) -> Tuple[int, int, int]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("#") and len(text) == 7:
            try:
                return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
            except ValueError:
                pass
        else:
            parts = [p.strip() for p in text.strip("()[]").split(",")]
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                value = [int(p) for p in parts]
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise InputError(f"{where}: bad colour {value!r}; write colours as \"#rrggbb\", \"r,g,b\" or [r, g, b] "
                     "with components 0..255")


def _class_id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where}: class id must be a non-negative integer, got {value!r}")
    return int(value)


def parse_color_map(data: Any, where: str = "color map") -> Dict[Tuple[int, int, int], int]:
    """Validate an in-memory colour map (see :func:`read_color_map` for the accepted forms)."""
    out: Dict[Tuple[int, int, int], int] = {}
    if isinstance(data, dict):
        items = [(k, v, f"{where}, key {k!r}") for k, v in data.items()]
    elif isinstance(data, list):
        items = []
        for i, entry in enumerate(data):
            if not isinstance(entry, dict) or set(entry) != {"color", "id"}:
                raise InputError(f"{where}, entry {i}: expected {{\"color\": [r, g, b], \"id\": n}}, got {entry!r}")
            items.append((entry["color"], entry["id"], f"{where}, entry {i}"))
    else:
        raise InputError(f"{where}: expected a JSON object {{\"#rrggbb\": id, ...}} or a list of "
                         f"{{\"color\": [r, g, b], \"id\": n}}, got {type(data).__name__}")
    for k, v, w in items:
        if isinstance(k, tuple) and len(k) == 3:
            k = list(k)
        rgb = _color(k, w)
        if rgb in out:
            raise InputError(f"{w}: colour {rgb} is given twice")
        out[rgb] = _class_id(v, w)
    if not out:
        raise InputError(f"{where}: is empty")
    return out


def _coerce_color_map(color_map: Any) -> Optional[Dict[Tuple[int, int, int], int]]:
    if color_map is None:
        return None
    if isinstance(color_map, (str, os.PathLike)):
        return read_color_map(os.fspath(color_map))
    return parse_color_map(color_map)


def _coerce_specs(name: str, entries: Any) -> List[_Spec]:
    """Boxes of one file: ``io.BoxSpec``, ``{"bbox": [...], "label": n}`` or ``(box, label)`` entries."""
    if isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, Iterable):
        raise InputError(f"boxes for {name!r}: expected a list of boxes, got {type(entries).__name__}")
    out = []
    for i, e in enumerate(entries):
        where = f"{name!r} box {i}"
        if hasattr(e, "box") and hasattr(e, "label"):
            box, label = e.box, e.label
        elif isinstance(e, Mapping):
            if "bbox" not in e or "label" not in e:
                raise InputError(f"{where}: expected {{\"bbox\": [x0, y0, x1, y1], \"label\": id}}, got {e!r}")
            box, label = e["bbox"], e["label"]
        else:
            try:
                box, label = e
            except (TypeError, ValueError):
                raise InputError(f"{where}: expected (box, label), got {e!r}") from None
        out.append(_Spec(Box.coerce(box, where=where), as_label(label, f"{where} label")))
    return out


# ------------------------------------------------------------------------------------ Sem state
class _SemRunner:
    """Queues (pred, gt, box, label) samples and computes Sem in batches (Eq. 10)."""

    def __init__(self, options: SemOptions):
        from . import sem as sem_mod
        from .preprocess import PREPROCESSING_VERSION
        from .weights import load_classifier

        self.opts = options
        if options.batch_size is None or int(options.batch_size) < 1:
            raise InputError(f"batch size must be >= 1, got {options.batch_size!r}")
        self.sem = sem_mod
        self.classifier = options.classifier
        if self.classifier is None:
            self.classifier = load_classifier(options.weights, device=options.device)
        elif options.device is not None:
            from .weights import resolve_device
            self.classifier = self.classifier.to(resolve_device(options.device))
        info = dict(getattr(self.classifier, "info", None) or {})
        self.preprocessing_version = PREPROCESSING_VERSION
        self.info = {k: info.get(k) for k in ("name", "sha256", "source", "arch", "input_size", "preprocessing")}
        try:
            self.device = str(next(self.classifier.parameters()).device)
        except (StopIteration, AttributeError, TypeError):
            self.device = None
        self.cache = None
        if options.gt_cache is not None:
            from .sem_cache import GTProbabilityCache

            if not info.get("sha256"):
                raise InputError("a ground-truth cache needs classifier weights with a known sha256 (load them with "
                                 "sem_metric.weights.load_classifier); this classifier has none")

            self.cache = GTProbabilityCache.open(
                options.gt_cache, str(info.get("sha256")), PREPROCESSING_VERSION, __version__, warn=options.warn)
        self.queue: List[tuple] = []
        self.queue_maps: Dict[int, int] = {}
        self.identical = 0

    def add(self, pred: np.ndarray, gt: np.ndarray, spec: _Spec, gt_digest: Optional[str],
            row: Dict[str, Any]) -> None:
        # Sem only sees O (target object inside the box) and M (the box): identical O gives Sem = 0 exactly.
        sl = spec.box.slices
        if np.array_equal(pred[sl] == spec.label, gt[sl] == spec.label):
            row["sem"] = 0.0
            self.identical += 1
            return
        self.queue.append((pred, gt, spec, gt_digest, row))
        for a in (pred, gt):
            self.queue_maps[id(a)] = a.nbytes
        if len(self.queue) >= int(self.opts.batch_size) or sum(self.queue_maps.values()) >= _SEM_QUEUE_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.queue:
            return
        from .sem_cache import sample_key

        preds = [q[0] for q in self.queue]
        gts = [q[1] for q in self.queue]
        boxes = [q[2].box.as_tuple() for q in self.queue]
        labels = [q[2].label for q in self.queue]
        n = len(self.queue)
        if self.cache is not None:
            keys = [sample_key(q[3], b, l) for q, b, l in zip(self.queue, boxes, labels)]
            gt_probs, missing = self.cache.lookup(keys)
        else:
            keys = []
            gt_probs, missing = None, list(range(n))
        probs = self.sem.shape_probabilities_batch(
            preds + [gts[i] for i in missing], boxes + [boxes[i] for i in missing],
            labels + [labels[i] for i in missing], classifier=self.classifier,
            batch_size=int(self.opts.batch_size))
        p = probs[:n]
        if gt_probs is None:
            gt_probs = probs[n:]
        else:
            gt_probs[missing] = probs[n:]
            self.cache.put([keys[i] for i in missing], probs[n:])
        values = self.sem.sem_from_probabilities(p, gt_probs)
        for q, v in zip(self.queue, values):
            q[4]["sem"] = float(v)
        self.queue = []
        self.queue_maps = {}

    def finish(self) -> None:
        self.flush()
        if self.cache is not None:
            self.cache.save()

    def metadata(self) -> Dict[str, Any]:
        return {"classifier": self.info, "preprocessing_version": self.preprocessing_version}

    def runtime(self) -> Dict[str, Any]:
        return {"device": self.device, "batch_size": int(self.opts.batch_size),
                "identical_object_maps": self.identical,
                "gt_cache": None if self.cache is None else self.cache.stats()}


# ------------------------------------------------------------------------------------ core loop
def _label_metric_rows(name: str, pred: np.ndarray, gt: np.ndarray, specs: Sequence[_Spec],
                       metrics: Sequence[str]) -> List[Dict[str, Any]]:
    """tIOU / hamm / NN of every box of one pair with the batched metric functions (Sec. 4.1).

    The maps are broadcast (views, no copies) to one per box; the metrics only read the box regions.
    """
    from . import metrics as M

    n = len(specs)
    boxes = np.array([s.box.as_tuple() for s in specs], dtype=np.int64)
    labels = np.array([s.label for s in specs], dtype=np.int64)
    preds = np.broadcast_to(pred, (n,) + pred.shape)
    gts = np.broadcast_to(gt, (n,) + gt.shape)
    rows = [{"file": name, "box_index": i, "bbox": list(s.box.as_tuple()), "label": s.label}
            for i, s in enumerate(specs)]
    if "tiou" in metrics:
        for r, v in zip(rows, M.tiou_batch(preds, gts, boxes, labels)):
            r["tiou"] = float(v)
    if "hamm" in metrics:
        for r, v in zip(rows, M.hamm_batch(preds, gts, boxes)):
            r["hamm"] = float(v)
    if "nn" in metrics:
        for r, v in zip(rows, M.noise_count_batch(preds, gts, boxes)):
            r["nn"] = int(v)
    return rows


def _evaluate_stream(items: Iterable[Tuple[str, Callable[[], Tuple[Any, Any]]]],
                     boxes: Mapping[str, Sequence[_Spec]], metrics: Sequence[str],
                     sem_options: Optional[SemOptions], progress: Optional[Progress], total: int
                     ) -> Dict[str, Any]:
    sem_runner = _SemRunner(sem_options or SemOptions()) if "sem" in metrics else None
    use_cache = sem_runner is not None and sem_runner.cache is not None
    rows: List[Dict[str, Any]] = []
    without_boxes: List[str] = []
    n_pairs = 0
    done = 0
    if progress is not None:
        progress(0, total)
    for name, load in items:
        n_pairs += 1
        specs = boxes.get(name) or []
        if not specs:  # nothing to score: counted, not read
            without_boxes.append(name)
            done += 1
            if progress is not None:
                progress(done, total)
            continue
        pred, gt = load()
        pred = as_label_map(pred, f"prediction {name!r}")
        gt = as_label_map(gt, f"ground truth {name!r}")
        if pred.shape != gt.shape:
            raise InputError(
                f"{name!r}: prediction is {pred.shape[0]}x{pred.shape[1]} (HxW) but the ground truth is "
                f"{gt.shape[0]}x{gt.shape[1]}; both maps of a pair must have the same size "
                "(do not resize label maps with interpolation; use nearest-neighbour if you must)")
        _validate_boxes(specs, name, pred.shape)
        pair_rows = _label_metric_rows(name, pred, gt, specs, metrics)
        if sem_runner is not None:
            from .sem_cache import map_digest

            digest = map_digest(gt) if use_cache else None
            for spec, row in zip(specs, pair_rows):
                sem_runner.add(pred, gt, spec, digest, row)
        rows.extend(pair_rows)
        done += 1
        if progress is not None:
            progress(done, total)
    if sem_runner is not None:
        sem_runner.finish()
    # canonical key order in every row
    ordered = [{**{k: r[k] for k in ("file", "box_index", "bbox", "label")}, **{m: r.get(m) for m in metrics}}
               for r in rows]
    means: Dict[str, Optional[float]] = {}
    for m in metrics:
        vals = [r[m] for r in ordered]
        means[m] = float(np.mean(np.asarray(vals, dtype=np.float64))) if vals else None
    nn_total = int(sum(r["nn"] for r in ordered)) if "nn" in metrics else None
    return {
        "rows": ordered, "means": means, "nn_total": nn_total, "pairs": n_pairs,
        "without_boxes": without_boxes,
        "sem_meta": None if sem_runner is None else sem_runner.metadata(),
        "sem_runtime": None if sem_runner is None else sem_runner.runtime(),
    }


def _result(core: Dict[str, Any], metrics: Sequence[str], counts_extra: Dict[str, Any],
            skipped: List[Dict[str, str]], inputs: Dict[str, Any], options: Dict[str, Any]) -> Dict[str, Any]:
    counts = {
        "pred_files": counts_extra.get("pred_files", core["pairs"]),
        "gt_files": counts_extra.get("gt_files", core["pairs"]),
        "pairs": core["pairs"],
        "pairs_with_boxes": core["pairs"] - len(core["without_boxes"]),
        "pairs_without_boxes": len(core["without_boxes"]),
        "samples": len(core["rows"]),
        "skipped": len(skipped),
    }
    return {
        "schema": RESULT_SCHEMA,
        "metrics": list(metrics),
        "means": core["means"],
        "nn_total": core["nn_total"],
        "counts": counts,
        "skipped": skipped,
        "pairs_without_boxes": core["without_boxes"],
        "metadata": {
            "package_version": __version__,
            "labelmap_metrics_version": LABELMAP_METRICS_VERSION,
            "sem": core["sem_meta"],
            "inputs": inputs,
            "options": options,
        },
        "runtime": {"sem": core["sem_runtime"]},
        "samples": core["rows"],
    }


def _sem_options_meta(metrics: Sequence[str], so: Optional[SemOptions]) -> Optional[Dict[str, Any]]:
    if "sem" not in metrics:
        return None
    so = so or SemOptions()
    w = so.weights
    return {"weights": None if w is None else (os.fspath(w) if isinstance(w, (str, os.PathLike)) else repr(w)),
            "device": so.device, "batch_size": int(so.batch_size),
            "gt_cache": None if so.gt_cache is None else os.fspath(so.gt_cache)}


# ------------------------------------------------------------------------------------ public API
def evaluate_samples(samples: Any, boxes: Mapping[str, Any], metrics: Any = DEFAULT_METRICS,
                     sem_options: Any = None, progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Evaluate already-loaded maps (paper Sec. 4.1 metrics, Sem of Eq. 10 when asked).

    ``samples``: a mapping ``name -> (pred, gt)`` or a sequence of ``(name, pred, gt)``; maps are 2-D
    integer arrays / tensors. ``boxes``: ``name -> [box entries]`` where an entry is an
    ``io.BoxSpec``, ``{"bbox": [x0, y0, x1, y1], "label": id}`` or ``(box, label)``. ``metrics``:
    ``"tiou,hamm"`` or an iterable of names. Box names that are not among ``samples`` raise
    :class:`InputError`; samples without boxes are counted in ``pairs_without_boxes``.
    Returns the result dict described in :mod:`sem_metric.report`.
    """
    metrics = parse_metrics(metrics)
    so = SemOptions.coerce(sem_options) if "sem" in metrics else None
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
    specs = {str(k): _coerce_specs(str(k), v) for k, v in boxes.items()}
    extra = sorted(set(specs) - set(names))
    if extra:
        raise InputError(f"boxes given for {len(extra)} name(s) that are not among the samples: "
                         f"{', '.join(map(repr, extra[:5]))}{' ...' if len(extra) > 5 else ''}")
    items = ((name, (lambda p=pred, g=gt: (p, g))) for name, pred, gt in triples)
    core = _evaluate_stream(items, specs, metrics, so, progress, len(triples))
    options = {"metrics": list(metrics), "sem": _sem_options_meta(metrics, so)}
    return _result(core, metrics, {}, [], {"source": "memory"}, options)


def _skipped_rows(skipped: Any) -> List[Dict[str, str]]:
    """``io.pair_files``'s skipped list as ``[{"file", "reason"}]``."""
    return [{"file": str(s["file"]), "reason": str(s["reason"])} for s in skipped or []]


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def evaluate_dirs(pred_dir: str, gt_dir: str, boxes_path: str, metrics: Any = DEFAULT_METRICS,
                  allow_unmatched: bool = False, color_map: Any = None, sem_options: Any = None,
                  progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Evaluate a folder of predicted label maps against a folder of ground truths (paper Sec. 4.1).

    Files are paired by relative path (``io.pair_files``); ``boxes_path`` is a ``boxes.json``
    mapping relative paths to ``[{"bbox": [x0, y0, x1, y1], "label": id}, ...]``. Each pair is read
    once; a size mismatch or a box outside its image is an :class:`InputError` naming the file (and
    box index). Unmatched files, and boxes.json entries without a pair, are errors unless
    ``allow_unmatched`` (then they are listed in ``skipped``). Pairs without boxes are counted.
    ``color_map``: ``{(r, g, b): id}`` or a JSON file path for RGB maps. ``sem_options``:
    :class:`SemOptions` or dict. ``progress(done, total)`` is called after each pair.
    """
    from . import io as sio

    metrics = parse_metrics(metrics)
    so = SemOptions.coerce(sem_options) if "sem" in metrics else None
    cmap = _coerce_color_map(color_map)
    boxes = sio.read_boxes(boxes_path)
    pairs, skipped = sio.pair_files(pred_dir, gt_dir, allow_unmatched=allow_unmatched)
    skipped_rows = _skipped_rows(skipped)
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
    specs = {k: _coerce_specs(k, v) for k, v in boxes.items() if k in pair_names}

    def items() -> Iterator[Tuple[str, Callable[[], Tuple[Any, Any]]]]:
        for rel, pp, gp in pairs:
            def load(pp=pp, gp=gp):
                return sio.read_label_map(pp, color_map=cmap), sio.read_label_map(gp, color_map=cmap)
            yield rel, load

    core = _evaluate_stream(items(), specs, metrics, so, progress, len(pairs))
    inputs = {
        "pred_dir": os.fspath(pred_dir), "gt_dir": os.fspath(gt_dir), "boxes": os.fspath(boxes_path),
        "boxes_sha256": _sha256_file(os.fspath(boxes_path)),
    }
    options = {
        "metrics": list(metrics), "allow_unmatched": bool(allow_unmatched),
        "color_map": None if cmap is None else {"#%02x%02x%02x" % k: v for k, v in sorted(cmap.items())},
        "sem": _sem_options_meta(metrics, so),
    }
    reasons = [s.get("reason") for s in skipped]
    counts = {"pred_files": len(pairs) + reasons.count("missing in gt"),
              "gt_files": len(pairs) + reasons.count("missing in pred")}
    return _result(core, metrics, counts, skipped_rows, inputs, options)
