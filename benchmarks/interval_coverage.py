"""Do the 95% intervals of issue 26 cover, and is the paired test's false-positive rate alpha?

    python benchmarks/interval_coverage.py --task cache/tasks/camvid-test --out benchmarks/results/interval_coverage.json

On a CamVid task (``sem-task build camvid-test ...``) the README's ellipse model is written to a scratch folder
and scored once (``--metrics``, Sem with the shipped default weights when asked); then, from its per-sample
values alone:

* **Coverage.** ``--trials`` small tasks of ``--maps`` source maps each are drawn *with replacement* from the
  task's maps (the task is the population; drawing without replacement 100 of 225 maps would shrink the
  sub-task's variance by the finite-population factor and make any interval over-cover). For each, the
  interval of :mod:`sem_metric.pipeline.intervals` by map (the default unit of a task) and by sample (objects as
  if independent) is computed; coverage = share of intervals holding the full task's mean.
* **A scene-dependent model.** The ellipse model's objects are nearly independent of their map; a model that
  fails on whole scenes is not. ``mixed``: S^u (the null model) on a seeded half of the maps, the ellipse on
  the others (its per-sample values are taken from the two scorings, nothing is re-scored); coverage as above.
* **False positives, re-scoring.** With Sem: the same predictions scored again with another classifier batch
  size (``--rescore-batch-size``); ``sem_metric.compare_results`` on the whole task and the paired test on
  ``--trials`` sub-tasks: a verdict other than ``same`` is a false positive (differences inside the
  reproducibility bound count as zero, so p = 1). Label-map metrics are bit-identical on a re-score.
* **False positives, random halves.** The task's maps are split at random into two halves and paired one to
  one (unit k: map a_k of half A against map b_k of half B); the paired sign-flip test of
  :func:`sem_metric.pipeline.intervals.sign_flip_p_value` on ``D_k = sum(B_k) - sum(A_k)``: under "same
  model" swapping a_k and b_k is as likely as not, so p < alpha should happen about alpha of the time.
* **Worked example.** ``compare_results`` of S^u (the task's ``incomplete/``, the null model) against the
  ellipse model.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_json  # noqa: E402

from sem_metric import compare_results  # noqa: E402
from sem_metric.pipeline import intervals as iv  # noqa: E402
from sem_metric.task import evaluate_task  # noqa: E402


def ellipse_predictions(task: Path, out: Path) -> None:
    """The README's trivial model: an ellipse of l^t on what lies below the box (one map per sample)."""
    from PIL import Image

    from sem_metric import read_label_map

    for name, [entry] in json.loads((task / "boxes.json").read_text()).items():
        seg_u = read_label_map(task / "incomplete" / name)
        (x0, y0, x1, y1), label = entry["bbox"], entry["label"]
        h, w = y1 - y0, x1 - x0
        yy, xx = np.mgrid[0:h, 0:w]
        ellipse = ((2 * yy + 1 - h) / h) ** 2 + ((2 * xx + 1 - w) / w) ** 2 <= 1
        below = np.bincount(seg_u[min(y1, seg_u.shape[0] - 1), x0:x1]).argmax()
        pred = seg_u.copy()
        pred[y0:y1, x0:x1] = np.where(ellipse, label, below)
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pred).save(out / name)


def _by_map(rows: Sequence[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    maps: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        maps.setdefault(r["source"], []).append(r)
    return maps


def coverage(result: Dict[str, Any], metrics: Sequence[str], n_maps: int, trials: int, resamples: int,
             seed: int) -> Dict[str, Any]:
    """Coverage of the full task's means by the intervals of ``trials`` sub-tasks of ``n_maps`` maps."""
    maps = _by_map(result["samples"])
    keys = sorted(maps)
    truth = {m: result["means"][m] for m in metrics}
    rng = np.random.default_rng(seed)
    hits = {kind: {m: 0 for m in metrics} for kind in ("map", "sample")}
    widths = {kind: {m: [] for m in metrics} for kind in ("map", "sample")}
    n_samples = []
    for t in range(trials):
        drawn = rng.integers(0, len(keys), n_maps)
        rows, units = [], []
        for j, k in enumerate(drawn):          # a map drawn twice is two units
            for r in maps[keys[k]]:
                rows.append(r)
                units.append(f"{j}")
        n_samples.append(len(rows))
        for kind, u in (("map", units), ("sample", [str(i) for i in range(len(rows))])):
            out = iv.rows_intervals(rows, metrics, u, kind, resamples=resamples, seed=t)
            for m in metrics:
                lo, hi = out[m]["low"], out[m]["high"]
                hits[kind][m] += lo <= truth[m] <= hi
                widths[kind][m].append(hi - lo)
    return {"maps": n_maps, "trials": trials, "resamples": resamples,
            "samples_per_subtask_mean": float(np.mean(n_samples)),
            "coverage_by_map": {m: hits["map"][m] / trials for m in metrics},
            "coverage_by_sample": {m: hits["sample"][m] / trials for m in metrics},
            "mean_width_by_map": {m: float(np.mean(widths["map"][m])) for m in metrics},
            "mean_width_by_sample": {m: float(np.mean(widths["sample"][m])) for m in metrics}}


def _mixed(ellipse: Dict[str, Any], null: Dict[str, Any], seed: int) -> Dict[str, Any]:
    """Per-sample values of a scene-dependent model: S^u on a seeded half of the maps, the ellipse elsewhere."""
    from math import fsum

    maps = sorted(_by_map(ellipse["samples"]))
    fail = set(np.random.default_rng(seed + 1).permutation(len(maps))[:len(maps) // 2].tolist())
    failed = {maps[i] for i in fail}
    by_key = {(r["file"], r["box_index"]): r for r in null["samples"]}
    rows = [dict(by_key[(r["file"], r["box_index"])]) if r["source"] in failed else dict(r)
            for r in ellipse["samples"]]
    metrics = [m for m in ellipse["means"] if all(m in r for r in rows)]
    means = {m: fsum(float(r[m]) for r in rows) / len(rows) for m in metrics}
    return {"samples": rows, "means": means}


def random_halves(result: Dict[str, Any], metrics: Sequence[str], trials: int, permutations: int, alpha: float,
                  seed: int) -> Dict[str, Any]:
    """False-positive rate of the sign-flip test on two random halves of the task's maps, paired one to one."""
    maps = _by_map(result["samples"])
    keys = sorted(maps)
    sums = {m: np.array([sum(float(r[m]) for r in maps[k] if r.get(m) is not None) for k in keys]) for m in metrics}
    counts = np.array([len(maps[k]) for k in keys], dtype=float)
    rng = np.random.default_rng(seed)
    half = len(keys) // 2
    hits = {m: 0 for m in metrics}
    for t in range(trials):
        perm = rng.permutation(len(keys))
        a, b = perm[:half], perm[half:2 * half]
        n = (counts[a].sum() + counts[b].sum()) / 2
        for m in metrics:
            p = iv.sign_flip_p_value(sums[m][b] - sums[m][a], n, permutations, seed=t)
            hits[m] += p < alpha
    return {"trials": trials, "pairs_of_maps": half, "permutations": permutations, "alpha": alpha,
            "false_positive_rate": {m: hits[m] / trials for m in metrics}}


def rescore_false_positives(a: Dict[str, Any], b: Dict[str, Any], metrics: Sequence[str], n_maps: int, trials: int,
                            alpha: float, seed: int) -> Dict[str, Any]:
    """Verdicts other than ``same`` between two scorings of the same predictions: whole task and sub-tasks."""
    from sem_metric.compare import compare_metric

    whole = compare_results(a, b, alpha=alpha, per_class=False)
    index = {(r["file"], r["box_index"]): i for i, r in enumerate(b["samples"])}
    maps = _by_map(a["samples"])
    keys = sorted(maps)
    rng = np.random.default_rng(seed)
    wrong = {m: 0 for m in metrics}
    max_abs_diff = {m: max(abs(r[m] - b["samples"][index[(r["file"], r["box_index"])]][m]) for r in a["samples"])
                    for m in metrics}
    for t in range(trials):
        rows_a, rows_b, units = [], [], []
        for j, k in enumerate(rng.integers(0, len(keys), n_maps)):
            for r in maps[keys[k]]:
                rows_a.append(r)
                rows_b.append(b["samples"][index[(r["file"], r["box_index"])]])
                units.append(str(j))
        for m in metrics:
            e = compare_metric(m, rows_a, rows_b, units, "source map", alpha, resamples=200, permutations=1000, seed=t)
            wrong[m] += e["verdict"] != "same"
    return {"whole_task": {m: {k: whole["metrics"][m][k] for k in ("diff", "p_value", "verdict")} for m in metrics},
            "max_abs_per_sample_difference": max_abs_diff, "subtasks": trials, "maps": n_maps,
            "false_positive_rate": {m: wrong[m] / trials for m in metrics}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="cache/tasks/camvid-test")
    ap.add_argument("--metrics", default="tiou,hamm,nn,sem")
    ap.add_argument("--maps", default="30,100", help="sub-task sizes in maps (comma-separated)")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per coverage interval")
    ap.add_argument("--permutations", type=int, default=2000)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rescore-batch-size", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    task = Path(a.task)
    metrics = [m for m in a.metrics.split(",") if m]
    sem = "sem" in metrics
    out: Dict[str, Any] = {"what": "issue 26: interval coverage and paired-test false positives",
                           "machine": machine_info(), "task": str(task), "metrics": metrics,
                           "model": "README ellipse model", "args": vars(a)}
    with tempfile.TemporaryDirectory() as tmp:
        pred = Path(tmp) / "pred"
        ellipse_predictions(task, pred)
        t0 = time.perf_counter()
        opts = {"sem_options": {"batch_size": a.batch_size}} if sem else {}
        res = evaluate_task(str(pred), str(task), metrics=metrics, **opts)
        out["score_seconds"] = time.perf_counter() - t0
        null = evaluate_task(str(task / "incomplete"), str(task), metrics=metrics, **opts)
        rescored = None
        if sem:
            rescored = evaluate_task(str(pred), str(task), metrics=metrics,
                                     sem_options={"batch_size": a.rescore_batch_size})
    out["means"] = res["means"]
    out["intervals"] = {m: {k: res["intervals"][m][k] for k in ("low", "high", "unit", "n_units")} for m in metrics}
    out["counts"] = {"samples": len(res["samples"]), "maps": len(_by_map(res["samples"]))}
    print(f"{out['counts']['samples']} samples, {out['counts']['maps']} maps; means {res['means']}")
    out["coverage"] = []
    for n_maps in (int(x) for x in a.maps.split(",")):
        c = coverage(res, metrics, n_maps, a.trials, a.resamples, a.seed)
        out["coverage"].append(c)
        print(f"{n_maps} maps: coverage by map {c['coverage_by_map']}, by sample {c['coverage_by_sample']}")
    mixed = _mixed(res, null, a.seed)
    out["mixed_means"] = mixed["means"]
    out["coverage_mixed"] = []
    for n_maps in (int(x) for x in a.maps.split(",")):
        c = coverage(mixed, metrics, n_maps, a.trials, a.resamples, a.seed)
        out["coverage_mixed"].append(c)
        print(f"mixed model, {n_maps} maps: coverage by map {c['coverage_by_map']}, by sample {c['coverage_by_sample']}")
    out["random_halves"] = random_halves(res, metrics, a.trials, a.permutations, a.alpha, a.seed)
    print(f"random halves: false positives {out['random_halves']['false_positive_rate']}")
    if rescored is not None:
        out["rescore"] = rescore_false_positives(res, rescored, metrics, 100, a.trials, a.alpha, a.seed)
        print(f"re-score (batch {a.batch_size} vs {a.rescore_batch_size}): {out['rescore']['false_positive_rate']}, "
              f"max per-sample |diff| {out['rescore']['max_abs_per_sample_difference']}")
    worked = compare_results(null, res, alpha=a.alpha)
    out["worked_example"] = {"base": "S^u (incomplete/)", "new": "ellipse model",
                             "metrics": {m: {k: worked["metrics"][m][k] for k in
                                             ("base", "new", "diff", "low", "high", "p_value", "verdict")}
                                         for m in metrics},
                             "per_class": [{"label": c["label"], "name": c["name"], "samples": c["samples"],
                                            "metrics": {m: {k: c["metrics"][m][k] for k in ("diff", "low", "high",
                                                                                          "p_value", "verdict")}
                                                        for m in metrics}} for c in worked["per_class"]]}
    from sem_metric.compare import format_comparison

    print(format_comparison(worked))
    if a.out:
        write_json(out, a.out)


if __name__ == "__main__":
    main()
