"""Latent ground truths: can a metric tell a *different valid object of the right class* from an
object of another class?

For each anchor shape A of a held-out set, a fixed sampler picks

* a **same-class** partner B: another shape of A's class (a different physical object), and
* a **different-class** partner B': its class drawn uniformly among the other classes present, then a
  shape drawn uniformly within that class.

Each partner is resized into A's tight box (area averaging + threshold 0.5, :func:`.shapes.resize_mask`)
and scored as the *prediction* against A (the ground truth) in A's box (tight box + 5% margin), with
tIOU, hamm and Sem. A metric that measures semantics should rank same-class predictions as better:
ROC AUC of ``-Sem`` / ``tIOU`` / ``hamm`` at telling the same-class group (positive) from the
different-class group, with a 95% bootstrap interval over anchors (both pairs of an anchor resampled
together; pooled: stratified by source).

Sampler (deterministic, documented):

* shapes are split by the parity of their index in the set: even = ``"select"``, odd = ``"report"``;
  an anchor's partners are always drawn from its own parity, so the two splits share no shape at all
  and ``"all"`` is exactly their union (use ``"select"`` for model selection, ``"report"`` to report);
* partners must come from a different *group* than the anchor (CamVid: a different video sequence, so
  a car is never paired with itself a few frames later; banks: any other shape);
* for every anchor, in index order, three uniform numbers are drawn from
  ``np.random.default_rng([seed, crc32(source name)])`` (same-class pick, other-class pick, shape in
  that class), whether or not the anchor is used, so the pairs do not depend on the split asked for;
* anchors whose class has no other shape (in the parity, other group), or with no other class, are
  skipped (counted in ``n_skipped``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .scoring import Counter, label_metrics, probabilities, sem
from .shapes import HeldOutSet, as_heldout_sets, in_box, margins, resize_mask, stable_hash
from .stats import paired_auc_bootstrap

METRICS = ("sem", "tiou", "hamm")
# Non-semantic controls (not metrics of a SISM result; they bound what a trivial cue could do):
# area_diff = |object fraction of the box in prediction - in ground truth| (a label-map statistic),
# aspect_distortion = |log(aspect of B) - log(aspect of A)|, how much the construction stretches B.
CONTROLS = ("area_diff", "aspect_distortion")
# sign that makes "higher = same class" for the AUC
ORIENTATION = {"sem": -1.0, "tiou": 1.0, "hamm": 1.0, "area_diff": -1.0, "aspect_distortion": -1.0}
SPLITS = ("select", "report", "all")
CHUNK = 128  # anchors per classifier call
# distortion-matched check: only anchors whose two partners both keep their aspect ratio within 25%
MATCHED_MAX_DISTORTION = float(np.log(1.25))
HIST_BINS = 20  # histograms of the scores on [0, 1], kept in the result for the figures


def sample_pairs(s: HeldOutSet, seed: int = 0, split: str = "all") -> dict:
    """The fixed pair sampler (module docstring). Returns int arrays ``anchor``, ``same``, ``diff``
    (indices into ``s``) for the anchors of ``split`` that have both partners, and ``n_skipped``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    n = len(s)
    rng = np.random.default_rng([seed, stable_hash(s.name)])
    u = rng.random((n, 3))
    labels, groups = s.labels, s.groups
    parity = np.arange(n) % 2
    # per parity: indices of each class
    by_class = {}
    for p in (0, 1):
        ids = np.flatnonzero(parity == p)
        by_class[p] = {int(c): ids[labels[ids] == c] for c in np.unique(labels[ids])}
    anchors, same, diff = [], [], []
    skipped = 0
    want = {"select": (0,), "report": (1,), "all": (0, 1)}[split]
    for a in range(n):
        p = int(parity[a])
        if p not in want:
            continue
        ca, ga = int(labels[a]), int(groups[a])
        cands = by_class[p][ca]
        cands = cands[(cands != a) & (groups[cands] != ga)]
        others = []
        for c, ids in by_class[p].items():
            if c == ca:
                continue
            ok = ids[groups[ids] != ga]
            if ok.size:
                others.append(ok)
        if cands.size == 0 or not others:
            skipped += 1
            continue
        anchors.append(a)
        same.append(int(cands[min(cands.size - 1, int(u[a, 0] * cands.size))]))
        cls = others[min(len(others) - 1, int(u[a, 1] * len(others)))]
        diff.append(int(cls[min(cls.size - 1, int(u[a, 2] * cls.size))]))
    return {"anchor": np.array(anchors, dtype=np.int64), "same": np.array(same, dtype=np.int64),
            "diff": np.array(diff, dtype=np.int64), "n_skipped": skipped}


def partner_in_box(anchor: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """Partner shape resized into the anchor's tight box, placed in the anchor's box (with margin)."""
    h, w = anchor.shape
    my, mx = margins(h, w)
    box = np.zeros((h + 2 * my, w + 2 * mx), dtype=bool)
    box[my:my + h, mx:mx + w] = resize_mask(partner, h, w)
    return box


def gt_probabilities(classifier, s: HeldOutSet, indices=None, batch_size: int = 64,
                     counter: Counter | None = None, log=None) -> np.ndarray:
    """Classifier probabilities of shapes of ``s`` in their own boxes: ``(len(indices), 80)``."""
    idx = np.arange(len(s)) if indices is None else np.asarray(indices)
    out = np.empty((idx.size, 80), dtype=np.float64)
    t0 = time.perf_counter()
    for start in range(0, idx.size, CHUNK * 2):
        rows = idx[start:start + CHUNK * 2]
        out[start:start + rows.size] = probabilities(classifier, [in_box(s.masks[i]) for i in rows], batch_size, counter)
        if log:
            log(f"  ground truths {s.name}: {start + rows.size}/{idx.size}, {time.perf_counter() - t0:.0f}s")
    return out


def score_pairs(classifier, s: HeldOutSet, pairs: dict, gt_probs: np.ndarray | None = None, batch_size: int = 64,
                counter: Counter | None = None, log=None) -> dict:
    """Scores of the same-class and different-class predictions of every anchor of ``pairs``:
    ``{"same": {"sem","tiou","hamm"}, "diff": {...}}`` arrays aligned with ``pairs["anchor"]``.

    ``gt_probs``: optional ``(len(s), 80)`` cache of the ground truths' probabilities (rows of anchors
    are used; others may be anything)."""
    anchors = pairs["anchor"]
    if gt_probs is None:
        p_gt = gt_probabilities(classifier, s, anchors, batch_size, counter)
    else:
        p_gt = gt_probs[anchors]
    out = {g: {m: np.empty(anchors.size) for m in METRICS + CONTROLS} for g in ("same", "diff")}
    t0 = time.perf_counter()
    for start in range(0, anchors.size, CHUNK):
        sl = slice(start, start + CHUNK)
        a_idx = anchors[sl]
        gts = [in_box(s.masks[a]) for a in a_idx]
        for g in ("same", "diff"):
            preds = [partner_in_box(s.masks[a], s.masks[b]) for a, b in zip(a_idx, pairs[g][sl])]
            ti, ha = label_metrics(preds, gts)
            pp = probabilities(classifier, preds, batch_size, counter)
            out[g]["sem"][sl] = sem(pp, p_gt[sl])
            out[g]["tiou"][sl] = ti
            out[g]["hamm"][sl] = ha
            out[g]["area_diff"][sl] = [abs(p.mean() - t.mean()) for p, t in zip(preds, gts)]
            out[g]["aspect_distortion"][sl] = [
                abs(np.log(s.masks[b].shape[0] / s.masks[b].shape[1]) - np.log(s.masks[a].shape[0] / s.masks[a].shape[1]))
                for a, b in zip(a_idx, pairs[g][sl])]
        if log:
            log(f"  latent pairs {s.name}: {min(anchors.size, start + CHUNK)}/{anchors.size}, "
                f"{time.perf_counter() - t0:.0f}s")
    return out


def _subset(scores: dict, keep: np.ndarray) -> dict:
    return {g: {m: v[keep] for m, v in scores[g].items()} for g in scores}


def _matched(scores: dict, strata=None, n_boot: int = 1000, seed: int = 0) -> dict:
    """AUCs on the anchors whose both partners are stretched by at most 25% in aspect ratio, so that the
    distortion made by resizing B into A's box cannot tell the groups apart."""
    keep = ((scores["same"]["aspect_distortion"] <= MATCHED_MAX_DISTORTION)
            & (scores["diff"]["aspect_distortion"] <= MATCHED_MAX_DISTORTION))
    sub = _subset(scores, keep)
    res = _summary(sub, None if strata is None else strata[keep], n_boot, seed, METRICS + ("area_diff",), hist=False)
    res["n_anchors"] = int(keep.sum())
    res["max_aspect_distortion"] = round(MATCHED_MAX_DISTORTION, 4)
    return res


def _summary(scores: dict, strata=None, n_boot: int = 1000, seed: int = 0, metrics=METRICS + CONTROLS,
             hist: bool = True) -> dict:
    res = {}
    for m in [m for m in metrics if m in scores["same"]]:
        sign = ORIENTATION[m]
        pos, neg = sign * scores["same"][m], sign * scores["diff"][m]
        auc, lo, hi = paired_auc_bootstrap(pos, neg, strata, n_boot, 0.95, seed)
        res[m] = {"auc": _f(auc), "auc_ci": [_f(lo), _f(hi)],
                  "mean_same": _f(scores["same"][m].mean()) if pos.size else None,
                  "mean_diff": _f(scores["diff"][m].mean()) if neg.size else None}
        if hist and m in METRICS:
            for g in ("same", "diff"):
                res[m]["hist_" + g] = np.histogram(scores[g][m], bins=HIST_BINS, range=(0.0, 1.0))[0].tolist()
    return res


def _f(x, nd=4):
    x = float(x)
    return None if np.isnan(x) else round(x, nd)


def _classifier(classifier_or_weights):
    if isinstance(classifier_or_weights, (str, os.PathLike)):
        from sem_metric import load_classifier

        return load_classifier(str(classifier_or_weights), device="cpu")
    return classifier_or_weights


def latent_gt_auc(classifier_or_weights, banks=None, split: str = "all", *, seed: int = 0, n_boot: int = 1000,
                  batch_size: int = 64, gt_probs: Mapping[str, np.ndarray] | None = None,
                  return_scores: bool = False, log=None) -> dict:
    """Latent-ground-truth ROC AUCs of Sem, tIOU and hamm (same class vs different class), per source and pooled.

    ``classifier_or_weights``: a classifier from ``sem_metric.load_classifier`` (any device), or anything
    ``load_classifier`` accepts (registry name such as ``"sem-effb0-v1"``, a ``.safetensors`` path,
    ``"hf://..."``), loaded on the CPU.
    ``banks``: ``None`` (coco, voc, animal from ``$SEM_METRIC_SHAPES`` or ``cache/shapes``, and CamVid
    test from ``$SEM_METRIC_DATA`` or ``../shared/data``), a mapping ``name -> ShapeBank | path.npz |
    HeldOutSet``, or a sequence of those (``"camvid"`` loads the CamVid set). Use held-out banks only.
    ``split``: ``"select"`` (even-index anchors, for model selection), ``"report"`` (odd, for the numbers
    you publish) or ``"all"``; the two halves share no shape.
    ``gt_probs``: optional cache ``name -> (len(set), 80)`` of ground-truth probabilities for this
    classifier (filled in place when given as a dict).

    Returns a JSON-able dict: ``sources[name][metric]`` and ``pooled[metric]`` with ``auc``, ``auc_ci``
    (95% percentile bootstrap over anchors, ``n_boot`` replicates), ``mean_same``, ``mean_diff``;
    ``n_anchors`` / ``n_skipped`` per source; the same for the non-semantic controls ``area_diff`` and
    ``aspect_distortion`` (see ``CONTROLS``); ``distortion_matched``: the AUCs restricted to anchors whose
    partners are both stretched by at most 25% in aspect ratio; ``macro[metric]`` (mean of the per-source AUCs, every
    source weighted equally) and ``score`` = ``macro["sem"]`` (one number for model selection; higher is
    better). Sem's AUC is for ``-Sem`` (lower Sem = same class), tIOU's and hamm's for the raw value.
    With ``return_scores=True`` the per-pair scores and pairs are added under ``"_scores"`` (numpy; not
    JSON-able).
    """
    classifier = _classifier(classifier_or_weights)
    sets = as_heldout_sets(banks)
    t0 = time.perf_counter()
    counter = Counter()
    result = {"split": split, "seed": seed, "n_boot": n_boot,
              "weights": {k: classifier.info.get(k) for k in ("name", "sha256")} if hasattr(classifier, "info") else {},
              "sources": {}}
    all_scores, strata, raw = [], [], {}
    for k, (name, s) in enumerate(sets.items()):
        pairs = sample_pairs(s, seed, split)
        cache = None
        if gt_probs is not None:
            cache = gt_probs.get(name)
            if cache is None:
                cache = np.full((len(s), 80), np.nan)
                if isinstance(gt_probs, dict):
                    gt_probs[name] = cache
            need = pairs["anchor"][np.isnan(cache[pairs["anchor"], 0])]
            if need.size:
                cache[need] = gt_probabilities(classifier, s, need, batch_size, counter, log)
        scores = score_pairs(classifier, s, pairs, cache, batch_size, counter, log)
        summary = _summary(scores, None, n_boot, seed)
        summary["distortion_matched"] = _matched(scores, None, n_boot, seed)
        summary["n_anchors"] = int(pairs["anchor"].size)
        summary["n_skipped"] = int(pairs["n_skipped"])
        result["sources"][name] = summary
        all_scores.append(scores)
        strata.append(np.full(pairs["anchor"].size, k))
        raw[name] = {"pairs": pairs, "scores": scores}
    pooled = {g: {m: np.concatenate([sc[g][m] for sc in all_scores]) for m in METRICS + CONTROLS}
              for g in ("same", "diff")}
    result["pooled"] = _summary(pooled, np.concatenate(strata), n_boot, seed)
    result["pooled"]["distortion_matched"] = _matched(pooled, np.concatenate(strata), n_boot, seed)
    result["pooled"]["n_anchors"] = int(sum(v["n_anchors"] for v in result["sources"].values()))
    result["macro"] = {m: _f(np.nanmean([v[m]["auc"] if v[m]["auc"] is not None else np.nan
                                         for v in result["sources"].values()]))
                       for m in METRICS}
    result["score"] = result["macro"]["sem"]
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["classifier"] = counter.as_dict()
    if return_scores:
        result["_scores"] = raw
    return result
