"""Sem's latent-GT macro AUC of several classifiers with paired bootstrap intervals (issue #19 ship rule).

    python benchmarks/classifier/paired_auc.py --threads 2 --out benchmarks/classifier/v3/paired_auc.json \
        --candidates sem-effb0-v2 sem-effb0-v1 runs/classifier_lite0_pretrained_v3/epoch_007.safetensors

The first candidate is the reference. Every classifier is scored on the same latent-ground-truth pairs
(``benchmarks/validity/latent_gt.py``, ``--split`` default ``select``: the half used for selection),
so the anchors can be resampled *together*: each bootstrap replicate draws the anchors of every source
with replacement (each source keeps its size), recomputes Sem's AUC per source for every classifier
and averages the sources (macro AUC, the selection figure). Reported per classifier: macro AUC and its
95% percentile interval; and against the reference: the difference, its paired 95% interval and the
fraction of replicates in which the candidate is not better. "Beats the reference by more than the
bootstrap noise" = the lower end of the paired interval is above 0. ``--accuracy`` adds the balanced
top-1 on coco-union val and VOC val with the same kind of paired interval (shapes resampled).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.validity.latent_gt import ORIENTATION, latent_gt_auc  # noqa: E402
from benchmarks.validity.stats import percentile_interval, roc_auc  # noqa: E402


def sem_scores(weights: str, split: str, cache: Path | None = None) -> tuple[dict, dict]:
    """Per source: (same-class Sem, other-class Sem, anchors) for ``weights``; and the weights' identity.

    With ``cache`` (a folder), the scores are kept in ``<cache>/<sha256>_<split>.npz`` and reused."""
    from sem_metric import load_classifier

    model = load_classifier(str(weights), device="cpu")
    ident = {k: model.info.get(k) for k in ("name", "sha256")}
    path = None if cache is None else cache / f"{ident['sha256']}_{split}.npz"
    if path is not None and path.is_file():
        z = np.load(path)
        names = [k[:-len(".same")] for k in z.files if k.endswith(".same")]
        return {n: (z[n + ".same"], z[n + ".diff"], z[n + ".anchor"]) for n in names}, ident
    res = latent_gt_auc(model, split=split, n_boot=1, return_scores=True)
    out = {name: (r["scores"]["same"]["sem"], r["scores"]["diff"]["sem"], r["pairs"]["anchor"])
           for name, r in res["_scores"].items()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{f"{n}.{k}": v for n, t in out.items() for k, v in zip(("same", "diff", "anchor"), t)})
    return out, ident


def balanced_top1(hit: np.ndarray, labels: np.ndarray) -> float:
    """Mean recall over the classes present (``classification_report``'s balanced top-1)."""
    classes, inv = np.unique(labels, return_inverse=True)
    return float(np.mean(np.bincount(inv, weights=hit, minlength=classes.size) / np.bincount(inv)))


def paired_accuracy(candidates: list, banks_dir: Path, n_boot: int, seed: int) -> dict:
    """Balanced top-1 on coco-union val and VOC val per classifier, and minus the first classifier's,
    with a paired bootstrap over the shapes of each bank (the same resample for every classifier)."""
    from sem_metric import load_classifier
    from sem_metric.training.shape_bank import ShapeBank
    from sem_metric.training.train_classifier import predict_logits

    out = {}
    for bank_name in ("val_coco", "val_voc"):
        bank = ShapeBank.load(banks_dir / f"{bank_name}.npz")
        hits = {c: (predict_logits(load_classifier(str(c), device="cpu"), bank).argmax(1) == bank.labels).astype(float)
                for c in candidates}
        rng = np.random.default_rng(seed)
        boot = [rng.integers(0, len(bank), len(bank)) for _ in range(n_boot)]
        reps = {c: np.array([balanced_top1(hits[c][i], bank.labels[i]) for i in boot]) for c in candidates}
        ref = candidates[0]
        out[bank_name] = {}
        for c in candidates:
            point = balanced_top1(hits[c], bank.labels)
            lo, hi = percentile_interval(reps[c])
            dlo, dhi = percentile_interval(reps[c] - reps[ref])
            out[bank_name][c] = {"balanced_top1": round(point, 4), "ci": [round(lo, 4), round(hi, 4)],
                                 "diff_vs_reference": round(point - balanced_top1(hits[ref], bank.labels), 4),
                                 "diff_ci": [round(dlo, 4), round(dhi, 4)]}
    return out


def macro_auc(scores: dict, idx: dict | None = None) -> tuple[float, dict]:
    per = {}
    sign = ORIENTATION["sem"]
    for name, (same, diff, _) in scores.items():
        i = slice(None) if idx is None else idx[name]
        per[name] = roc_auc(sign * same[i], sign * diff[i])
    return float(np.mean(list(per.values()))), per


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", nargs="+", required=True, help="shipped names or .safetensors; first = reference")
    ap.add_argument("--split", default="select", choices=["select", "report", "all"])
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-class", nargs="*", default=["camvid"], metavar="SOURCE",
                    help="also report Sem's AUC per class (>= 10 anchors) within these sources (default: camvid)")
    ap.add_argument("--accuracy", action="store_true",
                    help="also balanced top-1 on coco-union val / VOC val with paired bootstrap intervals")
    ap.add_argument("--banks-dir", type=Path, default=REPO / "cache" / "shapes")
    ap.add_argument("--cache", type=Path, default=REPO / "cache" / "paired_auc",
                    help="folder for the per-classifier scores (by sha256; default cache/paired_auc)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    scores, ids = {}, {}
    for cand in args.candidates:
        scores[cand], ids[cand] = sem_scores(cand, args.split, args.cache)
        print(f"{cand}: scored in {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    ref = args.candidates[0]
    for cand in args.candidates[1:]:  # same pairs for everyone (the sampler does not depend on the classifier)
        for name in scores[ref]:
            if not np.array_equal(scores[cand][name][2], scores[ref][name][2]):
                raise SystemExit(f"{cand}: anchors of {name} differ from {ref}'s")
    rng = np.random.default_rng(args.seed)
    sizes = {name: v[2].size for name, v in scores[ref].items()}
    reps = {c: np.empty(args.n_boot) for c in args.candidates}
    for b in range(args.n_boot):
        idx = {name: rng.integers(0, n, n) for name, n in sizes.items()}
        for c in args.candidates:
            reps[c][b] = macro_auc(scores[c], idx)[0]
    per_class = {}
    if args.per_class:
        from benchmarks.validity.shapes import load_heldout_sets
        from sem_metric.sem.classes import COCO_CLASSES

        sets = load_heldout_sets(args.per_class)
        for src in args.per_class:
            labels = sets[src].labels[scores[ref][src][2]]
            for cls in np.unique(labels):
                anchors = np.flatnonzero(labels == cls)
                if anchors.size < 10:
                    continue
                key = f"{src}/{COCO_CLASSES[int(cls)]}"
                per_class[key] = {"n_anchors": int(anchors.size)}
                boot = rng.integers(0, anchors.size, (args.n_boot, anchors.size))
                for c in args.candidates:
                    same, diff = (-scores[c][src][0][anchors], -scores[c][src][1][anchors])
                    reps_c = [roc_auc(same[i], diff[i]) for i in boot]
                    lo, hi = percentile_interval(np.array(reps_c))
                    per_class[key][c] = {"auc": round(roc_auc(same, diff), 4), "auc_ci": [round(lo, 4), round(hi, 4)]}
    accuracy = paired_accuracy(args.candidates, args.banks_dir, args.n_boot, args.seed) if args.accuracy else {}
    rows = []
    for c in args.candidates:
        auc, per = macro_auc(scores[c])
        lo, hi = percentile_interval(reps[c])
        d = reps[c] - reps[ref]
        dlo, dhi = percentile_interval(d)
        point = auc - macro_auc(scores[ref])[0]
        rows.append({"candidate": c, **ids[c], "macro_auc": round(auc, 4), "macro_auc_ci": [round(lo, 4), round(hi, 4)],
                     "sources": {k: round(v, 4) for k, v in per.items()},
                     "diff_vs_reference": round(point, 4), "diff_ci": [round(dlo, 4), round(dhi, 4)],
                     "p_not_better": round(float(np.mean(d <= 0)), 4) if c != ref else None,
                     "beats_reference_beyond_noise": bool(dlo > 0) if c != ref else None})
    result = {"split": args.split, "n_boot": args.n_boot, "seed": args.seed, "reference": ref,
              "n_anchors": sizes, "rule": "beats = lower end of the paired 95% bootstrap interval of "
                                          "(macro AUC - reference's) above 0", "rows": rows,
              "per_class": per_class, "balanced_top1": accuracy, "seconds": round(time.time() - t0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"Sem latent-GT macro AUC, split `{args.split}`, {args.n_boot} paired bootstrap replicates "
             f"(reference `{ref}`)", "",
             "| classifier | macro AUC [95% CI] | " + " | ".join(sizes) + " | minus reference [paired 95% CI] | "
             "P(not better) |", "|---|---|" + "---:|" * len(sizes) + "---|---:|"]
    for r in rows:
        lines.append(f"| {r['candidate']} | {r['macro_auc']:.4f} [{r['macro_auc_ci'][0]:.4f}, {r['macro_auc_ci'][1]:.4f}] | "
                     + " | ".join(f"{r['sources'][k]:.4f}" for k in sizes)
                     + (f" | {r['diff_vs_reference']:+.4f} [{r['diff_ci'][0]:+.4f}, {r['diff_ci'][1]:+.4f}] | "
                        f"{r['p_not_better']:.3f} |" if r["candidate"] != ref else " | (reference) | |"))
    if per_class:
        lines += ["", "Sem AUC per class within a source (same pairs; 95% bootstrap interval over that class's anchors):",
                  "", "| source / class | anchors | " + " | ".join(args.candidates) + " |",
                  "|---|---:|" + "---|" * len(args.candidates)]
        for key, v in per_class.items():
            lines.append(f"| {key} | {v['n_anchors']} | " + " | ".join(
                f"{v[c]['auc']:.3f} [{v[c]['auc_ci'][0]:.3f}, {v[c]['auc_ci'][1]:.3f}]" for c in args.candidates) + " |")
    if accuracy:
        lines += ["", "Balanced top-1 (95% bootstrap interval over the bank's shapes; minus reference, paired):", "",
                  "| classifier | " + " | ".join(f"{b} | {b} minus reference" for b in accuracy) + " |",
                  "|---|" + "---|---|" * len(accuracy)]
        for c in args.candidates:
            cells = []
            for b in accuracy:
                v = accuracy[b][c]
                cells += [f"{v['balanced_top1']:.4f} [{v['ci'][0]:.4f}, {v['ci'][1]:.4f}]",
                          "(reference)" if c == ref else
                          f"{v['diff_vs_reference']:+.4f} [{v['diff_ci'][0]:+.4f}, {v['diff_ci'][1]:+.4f}]"]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
