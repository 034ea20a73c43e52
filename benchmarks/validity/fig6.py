"""Fig. 6 extended: transform the ground-truth object inside its box, score it against the original.

For each sampled held-out shape (rescaled so that its longer side is ``canon_side`` px, so that pixel
levels of erosion / dilation mean the same on every source; ``canon_side=0`` keeps the native size),
placed in its box (:mod:`.shapes`), every (transform, level) of :data:`.transforms.LEVELS` gives a
prediction scored against the untransformed ground truth with 1 - tIOU, 1 - hamm and Sem (the ground
truth's probabilities are computed once per shape and reused).
"""
from __future__ import annotations

import time

import numpy as np

from .scoring import Counter, label_metrics, probabilities, sem
from .shapes import in_box, stable_hash, to_long_side
from .stats import bootstrap_mean_replicates, percentile_interval
from .transforms import LEVELS, apply, conditions

METRICS = ("1-tiou", "1-hamm", "sem")
CHUNK = 16  # shapes per classifier call


def score_source(classifier, s, n_shapes: int, canon_side: int = 64, seed: int = 0, batch_size: int = 64,
                 counter: Counter | None = None, log=None):
    """Per-shape values ``(n, C, 3)`` (metrics in :data:`METRICS` order), the sampled indices, the
    empty-prediction flags ``(n, C)`` and the ground truths' top-1 correctness ``(n,)``."""
    conds = conditions()
    rng = np.random.default_rng([seed, stable_hash(s.name), 6])
    n = min(n_shapes, len(s))
    idx = np.sort(rng.choice(len(s), size=n, replace=False))
    directions = rng.integers(0, 4, size=n)
    vals = np.empty((n, len(conds), len(METRICS)), dtype=np.float64)
    empty = np.zeros((n, len(conds)), dtype=bool)
    correct = np.zeros(n, dtype=bool)
    t0 = time.perf_counter()
    for start in range(0, n, CHUNK):
        rows = range(start, min(n, start + CHUNK))
        gts, preds = [], []
        for r in rows:
            m = s.masks[idx[r]]
            g = in_box(to_long_side(m, canon_side) if canon_side else m)
            gts.append(g)
            preds.extend(apply(g, t, lv, int(directions[r])) for t, lv in conds)
        p_gt = probabilities(classifier, gts, batch_size, counter)
        p_pred = probabilities(classifier, preds, batch_size, counter)
        gts_rep = [g for g in gts for _ in conds]
        ti, ha = label_metrics(preds, gts_rep)
        se = sem(p_pred, np.repeat(p_gt, len(conds), axis=0))
        k = len(rows)
        vals[start:start + k, :, 0] = (1.0 - ti).reshape(k, -1)
        vals[start:start + k, :, 1] = (1.0 - ha).reshape(k, -1)
        vals[start:start + k, :, 2] = se.reshape(k, -1)
        empty[start:start + k] = np.array([not p.any() for p in preds]).reshape(k, -1)
        correct[start:start + k] = p_gt.argmax(1) == s.labels[idx[list(rows)]]
        if log:
            log(f"  fig6 {s.name}: {start + k}/{n} shapes, {time.perf_counter() - t0:.0f}s")
    return vals, idx, empty, correct


def _ci(reps):
    lo, hi = percentile_interval(reps, 0.95)
    return lo, hi


def _r(x, nd=4):
    if isinstance(x, np.ndarray):
        return [_r(v, nd) for v in x.tolist()]
    if isinstance(x, (list, tuple)):
        return [_r(v, nd) for v in x]
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    return round(float(x), nd)


def spearman(x, y) -> float:
    from .stats import average_ranks

    rx, ry = average_ranks(np.asarray(x)), average_ranks(np.asarray(y))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def summarise(vals: np.ndarray, empty: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Curves (mean and 95% CI per level) and the checks of the paper's Sec. 4.4 observations."""
    conds = conditions()
    col = {c: i for i, c in enumerate(conds)}
    mean = vals.mean(axis=0)  # (C, 3)
    reps = bootstrap_mean_replicates(vals, n_boot, seed)  # (B, C, 3)
    lo, hi = _ci(reps)
    curves = {}
    for t, levels in LEVELS.items():
        cols = [col[(t, lv)] for lv in levels]
        curves[t] = {"levels": levels,
                     "empty_fraction": _r(empty[:, cols].mean(axis=0))}
        for j, m in enumerate(METRICS):
            curves[t][m] = {"mean": _r(mean[cols, j]), "ci": _r(np.stack([lo[cols, j], hi[cols, j]], 1))}

    def stat(fn):
        """Point value and CI of a statistic of the (C, 3) mean table."""
        point = fn(mean)
        boots = np.array([fn(r) for r in reps])
        a, b = percentile_interval(boots, 0.95)
        return {"value": _r(point), "ci": [_r(a), _r(b)]}

    fill = col[("fill", None)]
    obs = {}
    # (1) flips, each on its own: Sem relative to 1 - tIOU / 1 - hamm, raw and as a fraction of the value
    # for the filled box (S^u, the largest damage short of an empty box), which makes the metrics comparable
    for t in ("hflip", "vflip"):
        c = col[(t, None)]
        obs[t] = {
            "sem_over_1-tiou": stat(lambda m, c=c: m[c, 2] / m[c, 0]),
            "sem_over_1-hamm": stat(lambda m, c=c: m[c, 2] / m[c, 1]),
            "fraction_of_fill": {mn: stat(lambda m, c=c, j=j: m[c, j] / m[fill, j]) for j, mn in enumerate(METRICS)},
        }
    # (2) erosion / dilation: Sem - (1 - tIOU) and Sem - (1 - hamm) per level
    for t in ("erode", "dilate"):
        cols = [col[(t, lv)] for lv in LEVELS[t]]
        obs[t] = {
            "sem_minus_1-tiou": [stat(lambda m, c=c: m[c, 2] - m[c, 0]) for c in cols],
            "sem_minus_1-hamm": [stat(lambda m, c=c: m[c, 2] - m[c, 1]) for c in cols],
            "fraction_of_fill": {mname: [stat(lambda m, c=c, j=j: m[c, j] / m[fill, j]) for c in cols]
                                 for j, mname in enumerate(METRICS)},
        }
    # (3) rotation: does each metric rise with the angle? (15..90 and the fall from the peak to 180)
    rcols = [col[("rotate", lv)] for lv in LEVELS["rotate"]]
    upto90 = [col[("rotate", lv)] for lv in LEVELS["rotate"] if lv <= 90]
    angles = np.array(LEVELS["rotate"], dtype=float)
    obs["rotate"] = {}
    for j, m in enumerate(METRICS):
        curve = mean[rcols, j]
        obs["rotate"][m] = {
            "spearman_vs_angle": _r(spearman(angles, curve)),
            "spearman_15_to_90": _r(spearman(angles[angles <= 90], mean[upto90, j])),
            "decreases_between_steps": int((np.diff(curve) < 0).sum()),
            "peak_angle": LEVELS["rotate"][int(np.argmax(curve))],
            "relative_fall_peak_to_180": stat(lambda t, j=j: 1.0 - t[rcols[-1], j] / t[rcols, j].max()),
            "90_minus_15": stat(lambda t, j=j: t[col[("rotate", 90)], j] - t[rcols[0], j]),
        }
    return {"n_shapes": int(vals.shape[0]), "curves": curves, "observations": obs}


def run(classifier, sets: dict, per_source: int = 100, canon_side: int = 64, seed: int = 0, n_boot: int = 1000,
        batch_size: int = 64, counter: Counter | None = None, log=None) -> dict:
    """The whole transform study over ``sets``: per source and pooled summaries."""
    per = {}
    all_vals, all_empty = [], []
    for name, s in sets.items():
        vals, idx, empty, correct = score_source(classifier, s, per_source, canon_side, seed, batch_size, counter, log)
        summary = summarise(vals, empty, n_boot, seed)
        summary["gt_top1"] = _r(correct.mean())
        summary["sampled_indices_sha"] = stable_hash(",".join(map(str, idx.tolist())))
        per[name] = summary
        all_vals.append(vals)
        all_empty.append(empty)
    pooled = summarise(np.concatenate(all_vals), np.concatenate(all_empty), n_boot, seed)
    return {
        "settings": {"per_source": per_source, "canon_side": canon_side, "seed": seed, "n_boot": n_boot,
                     "levels": LEVELS, "metrics": list(METRICS)},
        "sources": per,
        "pooled": pooled,
    }
