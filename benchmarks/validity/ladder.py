"""The ladder: predictions of known order for every real object, and how each metric ranks them (issue 24).

For every object of a SISM evaluation set (a ``sem-task`` directory, e.g. the CamVid test task, or a
``gt/`` folder with ``boxes.json`` such as ``examples/``), the box gets these predictions, drawn into the
ground-truth map whose target pixels in the box are first replaced by the class below the box (the
*erased* map: every other class in the box is kept, so only the object changes):

==================  ===========================================================================
rung                the object drawn in the box
==================  ===========================================================================
identical           the true object O^c
shift2              O^c shifted by 2 px (direction drawn per object)
erode8              O^c eroded by a disk of radius ~8% of the box's shorter side
same_class          another object of the same class (another source map), resized into the box
other_class         an object of another class, resized into the box
ellipse             the ellipse inscribed in the box
s_u                 the whole box (S^u, the null model)
shrink_1 ... 0.03   O^c shrunk about the box centre by 1, 0.6, 0.3, 0.1, 0.03 (linear factor; at least
                    one pixel stays: a speck, never the erased answer)
erased              nothing (no pixel of l^t in the box)
==================  ===========================================================================

Known orders, scored per object pair (a strictly better value of the metric on the better answer counts
as in order; ties are reported apart):

* ``degradation``: identical before shift2 and before erode8; shrink 1 > 0.6 > 0.3 > 0.1 > 0.03;
* ``same_before_other``: same_class before other_class (the latent ground truth of Sec. 3.3);
* ``nonempty_before_erased``: every other rung before erased.

Every metric is reported: tIOU, hamm, NN, Sem for each weights file, and SFD (a set-level value per
rung, default weights) with its ``n_missing``. Metric values come from the public pipeline
(``sem_metric.evaluate_samples``) on box crops (every metric reads the box only).

Run (the README's validity section)::

    sem-task build camvid-test ../shared/data/camvid --out tasks/camvid-test
    python benchmarks/validity/ladder.py --task tasks/camvid-test --out benchmarks/validity/results/ladder_camvid_test
    python benchmarks/validity/ladder.py --gt examples/gt --boxes examples/boxes.json \
        --out benchmarks/validity/results/ladder_examples
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.validity.shapes import resize_mask  # noqa: E402
from benchmarks.validity.transforms import disk, scale  # noqa: E402

SHRINK = (1.0, 0.6, 0.3, 0.1, 0.03)
RUNGS = ("identical", "shift2", "erode8", "same_class", "other_class", "ellipse", "s_u",
         *[f"shrink_{s:g}" for s in SHRINK], "erased")
DEGRADATION_PAIRS = (("identical", "shift2"), ("identical", "erode8"),
                     *[(f"shrink_{a:g}", f"shrink_{b:g}") for a, b in zip(SHRINK, SHRINK[1:])])
ERODE_FRACTION = 0.08


@dataclass
class LadderObject:
    """One object: its ground-truth box crop, the erased crop, the target label and its source group."""

    name: str
    gt: np.ndarray          # ground truth inside the box (h x w, integer ids)
    erased: np.ndarray      # the same crop with the target pixels replaced by the class below the box
    label: int
    group: str

    @property
    def target(self) -> np.ndarray:
        return self.gt == self.label


def fill_class(seg: np.ndarray, box: Sequence[int], label: int) -> int:
    """The class an erased object is replaced by: the commonest class other than ``label`` on the row
    just below the box (e.g. the road under a car), else inside the box, else 0."""
    x0, y0, x1, y1 = box
    for row in (seg[y1, x0:x1] if y1 < seg.shape[0] else None, seg[y0:y1, x0:x1].ravel()):
        if row is None:
            continue
        row = row[row != label].astype(np.int64)
        if row.size:
            return int(np.bincount(row).argmax())
    return 0


def load_objects(gt_dir: Path, boxes_file: Path, task_json: Optional[Path] = None) -> List[LadderObject]:
    """Every (map, box) of a ``gt/`` folder and its ``boxes.json``; the group is the task's source map when
    a ``task.json`` is given, else the file."""
    from sem_metric import read_boxes, read_label_map

    source = {}
    if task_json is not None and task_json.exists():
        source = {s["file"]: s["source"] for s in json.loads(task_json.read_text())["samples"]}
    out = []
    for rel, entries in sorted(read_boxes(boxes_file).items()):
        seg = np.asarray(read_label_map(gt_dir / rel)).astype(np.int64)
        for k, e in enumerate(entries):
            box, label = e.box.as_tuple(), int(e.label)
            x0, y0, x1, y1 = box
            gt = seg[y0:y1, x0:x1].copy()
            erased = gt.copy()
            erased[gt == label] = fill_class(seg, box, label)
            out.append(LadderObject(f"{rel}#{k}", gt, erased, label, source.get(rel, rel)))
    return out


def _draw(i: int, candidates: Sequence[int], seed: int, what: str) -> Optional[int]:
    if not candidates:
        return None
    rng = np.random.default_rng([seed, i, zlib.crc32(what.encode())])
    return int(candidates[int(rng.integers(len(candidates)))])


def ellipse(h: int, w: int) -> np.ndarray:
    """The ellipse inscribed in an ``h x w`` box (the README's ellipse model)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return ((2 * yy + 1 - h) / h) ** 2 + ((2 * xx + 1 - w) / w) ** 2 <= 1


def rung_objects(objects: Sequence[LadderObject], seed: int = 0) -> Dict[str, List[Optional[np.ndarray]]]:
    """The object mask (bool, box-sized) of every rung for every object (None where a rung has no partner)."""
    out: Dict[str, List[Optional[np.ndarray]]] = {r: [] for r in RUNGS}
    from scipy import ndimage

    for i, o in enumerate(objects):
        t = o.target
        h, w = t.shape
        same = [j for j, p in enumerate(objects) if p.label == o.label and p.group != o.group]
        other = [j for j, p in enumerate(objects) if p.label != o.label]
        js, jo = _draw(i, same, seed, "same"), _draw(i, other, seed, "other")
        radius = max(1, int(round(ERODE_FRACTION * min(h, w))))
        out["identical"].append(t)
        out["shift2"].append(_shift_px(t, 2, _draw(i, [0, 1, 2, 3], seed, "dir")))
        out["erode8"].append(ndimage.binary_erosion(t, structure=disk(radius), border_value=0))
        out["same_class"].append(None if js is None else resize_mask(objects[js].target, h, w))
        out["other_class"].append(None if jo is None else resize_mask(objects[jo].target, h, w))
        out["ellipse"].append(ellipse(h, w))
        out["s_u"].append(np.ones_like(t))
        for s in SHRINK:
            out[f"shrink_{s:g}"].append(t.copy() if s == 1.0 else _speck_at_least(scale(t, s), t))
        out["erased"].append(np.zeros_like(t))
    return out


def _speck_at_least(shrunk: np.ndarray, t: np.ndarray) -> np.ndarray:
    """A shrunk object never vanishes: when nothing is left, the object pixel nearest the box centre stays
    (a speck of l^t, the near-empty answer that a rule for "empty" alone would not catch)."""
    if shrunk.any() or not t.any():
        return shrunk
    ys, xs = np.nonzero(t)
    k = int(np.argmin((ys - (t.shape[0] - 1) / 2) ** 2 + (xs - (t.shape[1] - 1) / 2) ** 2))
    out = np.zeros_like(t)
    out[ys[k], xs[k]] = True
    return out


def _shift_px(t: np.ndarray, px: int, direction: int) -> np.ndarray:
    """``t`` translated by ``px`` pixels along one of the four axis directions (clipped to the box)."""
    dy, dx = ((0, 1), (0, -1), (1, 0), (-1, 0))[direction]
    h, w = t.shape
    out = np.zeros_like(t)
    sy, sx = dy * px, dx * px
    out[max(sy, 0):h + min(sy, 0), max(sx, 0):w + min(sx, 0)] = t[max(-sy, 0):h + min(-sy, 0), max(-sx, 0):w + min(-sx, 0)]
    return out


def score_rung(objects, masks, metrics: str, classifier=None, gt_cache=None, sfd_stats=None) -> dict:
    """Per-object values (NaN where the rung has no partner) and dataset values of one rung."""
    from sem_metric import evaluate_samples
    from sem_metric.pipeline.options import SemOptions

    idx = [i for i, m in enumerate(masks) if m is not None]
    samples, boxes = {}, {}
    for i in idx:
        o, m = objects[i], masks[i]
        pred = o.erased.copy()
        pred[m] = o.label
        name = f"{i:06d}"
        samples[name] = (pred, o.gt)
        boxes[name] = [{"bbox": [0, 0, o.gt.shape[1], o.gt.shape[0]], "label": o.label}]
    so = None if classifier is None else SemOptions(classifier=classifier, gt_cache=gt_cache, sfd_gt_stats=sfd_stats)
    res = evaluate_samples(samples, boxes, metrics=metrics, sem_options=so)
    names = [m for m in metrics.split(",") if m != "sfd"]
    values = {m: np.full(len(objects), np.nan) for m in names}
    for row, i in zip(res["samples"], idx):
        for m in names:
            values[m][i] = row[m]
    out = {"values": values}
    if "sfd" in metrics:
        out["sfd"] = res["means"]["sfd"]
        out["sfd_metadata"] = {k: res["metadata"]["dataset_metrics"]["sfd"].get(k)
                               for k in ("n_missing", "absence", "absence_penalty", "n_pred")}
    return out


def order_share(values: Dict[str, np.ndarray], pairs, higher_is_better: bool) -> dict:
    """Share of (object, pair) comparisons in the known order (strict), and of ties."""
    good = ties = n = 0
    for a, b in pairs:
        va, vb = values[a], values[b]
        ok = ~(np.isnan(va) | np.isnan(vb))
        d = (va - vb)[ok] if higher_is_better else (vb - va)[ok]
        good += int((d > 0).sum())
        ties += int((d == 0).sum())
        n += int(ok.sum())
    return {"in_order": good / n if n else None, "ties": ties / n if n else None, "pairs": n}


def summarize(values: Dict[str, np.ndarray], higher_is_better: bool) -> dict:
    """Rung means and the three order shares of one metric."""
    means = {r: (float(np.nanmean(v)) if np.isfinite(v).any() else None) for r, v in values.items()}
    shrink = [means[f"shrink_{s:g}"] for s in SHRINK] + [means["erased"]]
    steps = np.diff(shrink) if higher_is_better is False else -np.diff(shrink)
    return {"means": means,
            "degradation": order_share(values, DEGRADATION_PAIRS, higher_is_better),
            "same_before_other": order_share(values, [("same_class", "other_class")], higher_is_better),
            "nonempty_before_erased": order_share(values, [(r, "erased") for r in RUNGS if r != "erased"],
                                                  higher_is_better),
            "shrink_curve_monotone": bool(np.all(steps >= 0))}


def run(objects, weights: Sequence[str], sfd_weights: Optional[str], seed: int = 0, log=print, tmp=None) -> dict:
    """The whole ladder: every metric on every rung (see the module docstring)."""
    import tempfile

    from sem_metric import load_classifier, registry

    masks = rung_objects(objects, seed)
    per_metric: Dict[str, Dict[str, np.ndarray]] = {}
    sfd: Dict[str, dict] = {}
    t0 = time.perf_counter()
    for r in RUNGS:
        v = score_rung(objects, masks[r], "tiou,hamm,nn")["values"]
        for m in v:
            per_metric.setdefault(m, {})[r] = v[m]
    with tempfile.TemporaryDirectory(dir=tmp) as d:
        for w in weights:
            clf = load_classifier(w)
            for r in RUNGS:
                with_sfd = w == sfd_weights
                got = score_rung(objects, masks[r], "sem,sfd" if with_sfd else "sem", clf,
                                 gt_cache=str(Path(d) / f"{w}.npz"),
                                 # the ground-truth statistics file only where the rung covers every object
                                 sfd_stats=str(Path(d) / f"{w}_sfd.npz")
                                 if with_sfd and all(m is not None for m in masks[r]) else None)
                per_metric.setdefault(f"sem[{w}]", {})[r] = got["values"]["sem"]
                if with_sfd:
                    sfd[r] = {"value": got["sfd"], **got["sfd_metadata"]}
                log(f"  {w} {r}: Sem {np.nanmean(got['values']['sem']):.4f}"
                    + (f" SFD {got['sfd']:.3f}" if with_sfd else ""))
    out = {"n_objects": len(objects), "rungs": list(RUNGS), "seconds": round(time.perf_counter() - t0, 1),
           "metrics": {}}
    for m, vals in per_metric.items():
        base = m.split("[")[0]
        out["metrics"][m] = summarize(vals, registry.get(base).higher_is_better)
    if sfd:
        others = [sfd[r]["value"] for r in RUNGS if r != "erased"]
        out["sfd"] = {"weights": sfd_weights, "per_rung": sfd,
                      "erased_above_every_other_rung": bool(sfd["erased"]["value"] > max(others))}
    return out


def markdown(res: dict) -> str:
    """The README's ladder table: rung means per metric, then the order shares."""
    ms = list(res["metrics"])
    lines = ["| rung | " + " | ".join(ms) + (" | SFD |" if "sfd" in res else " |"),
             "|---|" + "---|" * (len(ms) + ("sfd" in res))]
    for r in res["rungs"]:
        cells = [f"{res['metrics'][m]['means'][r]:.3f}" if res["metrics"][m]["means"][r] is not None else "-"
                 for m in ms]
        if "sfd" in res:
            cells.append(f"{res['sfd']['per_rung'][r]['value']:.2f}")
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    for key, label in (("degradation", "degradations in order"), ("same_before_other", "same-class before other-class"),
                       ("nonempty_before_erased", "non-empty before erased")):
        cells = [f"{res['metrics'][m][key]['in_order']:.3f}" for m in ms]
        lines.append(f"| **{label}** | " + " | ".join(cells) + (" | |" if "sfd" in res else " |"))
    cells = ["yes" if res["metrics"][m]["shrink_curve_monotone"] else "**no**" for m in ms]
    extra = (" | " + ("yes" if res["sfd"]["erased_above_every_other_rung"] else "**no**") + " |") if "sfd" in res else " |"
    lines.append("| **shrink curve never falls** (SFD: erased above every rung) | " + " | ".join(cells) + extra)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="The ladder validity benchmark (issue 24)")
    ap.add_argument("--task", type=Path, help="a sem-task directory (gt/, boxes.json, task.json)")
    ap.add_argument("--gt", type=Path, help="a ground-truth folder (with --boxes)")
    ap.add_argument("--boxes", type=Path)
    ap.add_argument("--weights", nargs="+", default=None, help="registry names (default: every shipped file)")
    ap.add_argument("--sfd-weights", default="default", help="weights for SFD ('default': the shipped default)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    import torch

    from sem_metric import list_weights
    from sem_metric.sem.weights import DEFAULT_WEIGHTS

    torch.set_num_threads(args.threads)
    if args.task is not None:
        objects = load_objects(args.task / "gt", args.task / "boxes.json", args.task / "task.json")
    else:
        objects = load_objects(args.gt, args.boxes)
    weights = args.weights or sorted(list_weights())
    sfd_w = DEFAULT_WEIGHTS if args.sfd_weights == "default" else args.sfd_weights
    res = run(objects, weights, sfd_w, args.seed)
    res["command"] = "python benchmarks/validity/ladder.py " + " ".join(argv if argv is not None else sys.argv[1:])
    res["default_weights"] = DEFAULT_WEIGHTS
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ladder.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / "ladder.md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
