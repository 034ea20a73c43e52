"""Per-class reliability of Sem: held-out shapes, classifier top-1 and Sem's latent-GT AUC per COCO class.

For class c, the anchors of class c (pooled over all sources) give one same-class pair and one
different-class pair each (:mod:`.latent_gt`); Sem's AUC is that of ``-Sem`` on the same-class pairs
against the different-class pairs, with a 95% bootstrap interval over those anchors.
"""
from __future__ import annotations

import numpy as np

from .stats import paired_auc_bootstrap

MIN_ANCHORS = 10
MIN_AUC_LOWER = 0.7
RULE = (f"reliable = at least {MIN_ANCHORS} anchors of the class with both latent-GT pairs AND the lower "
        f"bound of the 95% bootstrap interval of Sem's latent-GT AUC >= {MIN_AUC_LOWER} (anchors pooled over "
        "the held-out sources, split 'all', seed 0); sem_auc is null below "
        f"{MIN_ANCHORS} anchors and such classes are not reliable")


def per_class(sets: dict, gt_probs: dict, raw: dict, n_boot: int = 1000, seed: int = 0,
              min_anchors: int = MIN_ANCHORS, min_lower: float = MIN_AUC_LOWER) -> list[dict]:
    """One record per COCO class (index order). ``gt_probs[name]``: ``(len(set), 80)`` probabilities of
    every shape in its box; ``raw[name]``: ``{"pairs", "scores"}`` from ``latent_gt_auc(..., return_scores=True)``."""
    from sem_metric import COCO_CLASSES

    anchor_cls, same_sem, diff_sem, diff_tiou, same_tiou = [], [], [], [], []
    for name in sets:
        r = raw[name]
        anchor_cls.append(sets[name].labels[r["pairs"]["anchor"]])
        same_sem.append(r["scores"]["same"]["sem"])
        diff_sem.append(r["scores"]["diff"]["sem"])
        same_tiou.append(r["scores"]["same"]["tiou"])
        diff_tiou.append(r["scores"]["diff"]["tiou"])
    anchor_cls = np.concatenate(anchor_cls)
    same_sem, diff_sem = np.concatenate(same_sem), np.concatenate(diff_sem)
    same_tiou, diff_tiou = np.concatenate(same_tiou), np.concatenate(diff_tiou)
    out = []
    for c, cname in enumerate(COCO_CLASSES):
        by_source = {name: int((s.labels == c).sum()) for name, s in sets.items()}
        n_total = sum(by_source.values())
        correct = sum(int((gt_probs[name][sets[name].labels == c].argmax(1) == c).sum()) for name in sets)
        sel = anchor_cls == c
        n_anchors = int(sel.sum())
        rec = {"index": c, "name": cname, "n_heldout": n_total, "n_heldout_by_source": by_source,
               "top1": round(correct / n_total, 4) if n_total else None, "n_anchors": n_anchors,
               "sem_auc": None, "sem_auc_ci": None, "tiou_auc": None, "reliable": False}
        if n_anchors >= min_anchors:
            auc, lo, hi = paired_auc_bootstrap(-same_sem[sel], -diff_sem[sel], None, n_boot, 0.95, seed + c)
            rec["sem_auc"] = round(auc, 4)
            rec["sem_auc_ci"] = [round(lo, 4), round(hi, 4)]
            t_auc, _, _ = paired_auc_bootstrap(same_tiou[sel], diff_tiou[sel], None, 0, 0.95, seed)
            rec["tiou_auc"] = round(t_auc, 4)
            rec["reliable"] = bool(lo >= min_lower)
        out.append(rec)
    return out
