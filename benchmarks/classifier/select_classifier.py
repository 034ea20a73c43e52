"""Select and calibrate Sem classifier weights for what Sem needs (issue #12).

    python benchmarks/classifier/select_classifier.py --threads 2 --out benchmarks/classifier/v2_12ep \
        --candidates sem-effb0-v1 runs/classifier_b0_v2_12ep/epoch_01[01].safetensors

For every candidate (a shipped name or a ``.safetensors`` path):

1. **Latent-ground-truth separation** on the ``select`` half of the held-out shapes
   (``benchmarks/validity/latent_gt.py``: coco-union val, VOC val components, animal held-out, CamVid
   test; the ``report`` half is never used here, so the published numbers are not selected on).
2. **Accuracy** on the held-out banks (top-1, top-5, balanced top-1; coco-union val and VOC val).
3. Selection score = Sem's macro latent-GT AUC (select half) + the mean of the balanced top-1 on
   coco-union val and VOC val. Both matter: Sem needs probability vectors that are close within a
   class and far across classes (the AUC), and a classifier that knows the classes (accuracy).

For the selected candidate, **temperature**: the NLL-optimal temperature on the held-out banks and the
expected calibration error (15 bins) before / after, and Sem's latent-GT AUC (select half) for a grid
of temperatures. A temperature becomes part of the weights' definition only if it raises the AUC by
more than the noise (here: 0.005); ``selected.json`` then records it as ``temperature``
(else 1.0), and the weights would be re-saved with it in their metadata.

The classifier's logits are cached by input content, so trying temperatures costs no extra inference.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.validity.latent_gt import latent_gt_auc  # noqa: E402
from sem_metric import load_classifier  # noqa: E402
from sem_metric.training.classifier_metrics import classification_report  # noqa: E402
from sem_metric.training.shape_bank import ShapeBank  # noqa: E402
from sem_metric.training.train_classifier import predict_logits  # noqa: E402

TEMPERATURES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
AUC_NOISE = 0.005


class CachedTemperatureClassifier(torch.nn.Module):
    """``base`` with logits divided by ``temperature``; logits are cached by the input batch's bytes."""

    def __init__(self, base, cache: dict, temperature: float = 1.0):
        super().__init__()
        self.base = base
        self.config = base.config
        self.info = dict(base.info, temperature=temperature)
        self.cache = cache
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = hashlib.blake2b(x.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).digest()
        logits = self.cache.get(key)
        if logits is None:
            logits = self.base(x).detach().cpu()
            self.cache[key] = logits
        return logits / self.temperature


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-1 confidence (equal-width bins)."""
    conf = probs.max(1)
    correct = probs.argmax(1) == labels
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(conf[sel].mean() - correct[sel].mean())
    return float(total)


def softmax(z: np.ndarray, t: float) -> np.ndarray:
    z = z / t
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    p = softmax(logits.astype(np.float64), t)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None))))


def accuracy(model, banks: dict) -> tuple[dict, dict]:
    reports, logits = {}, {}
    for name, bank in banks.items():
        lg = predict_logits(model, bank)
        logits[name] = lg
        rep = classification_report(lg, bank.labels)
        reports[name] = {k: round(rep[k], 4) for k in ("n", "top1", "top5", "balanced_top1")}
    return reports, logits


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", nargs="+", required=True, help="shipped names or .safetensors paths")
    ap.add_argument("--banks-dir", type=Path, default=REPO / "cache" / "shapes")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n-boot", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    banks = {n: ShapeBank.load(args.banks_dir / f"{n}.npz") for n in ("val_coco", "val_voc", "val_animal")}
    results = []
    for cand in args.candidates:
        t0 = time.time()
        model = load_classifier(str(cand), device="cpu")
        acc, logits = accuracy(model, banks)
        cache: dict = {}
        lat = latent_gt_auc(CachedTemperatureClassifier(model, cache), split="select", n_boot=args.n_boot)
        row = {"candidate": str(cand), "sha256": model.info["sha256"], "accuracy": acc,
               "latent_select": {"macro": lat["macro"], "pooled_sem_auc": lat["pooled"]["sem"]["auc"],
                                 "sources": {k: v["sem"]["auc"] for k, v in lat["sources"].items()}},
               "score": round(lat["macro"]["sem"] + 0.5 * (acc["val_coco"]["balanced_top1"]
                                                        + acc["val_voc"]["balanced_top1"]), 4)}
        # temperature: NLL fit on all held-out banks, ECE before/after, Sem AUC for a grid (cached logits)
        lg = np.concatenate([logits[n] for n in banks])
        lb = np.concatenate([banks[n].labels for n in banks])
        grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 60))
        t_nll = float(grid[int(np.argmin([nll(lg, lb, t) for t in grid]))])
        row["calibration"] = {"t_nll": round(t_nll, 3), "nll_t1": round(nll(lg, lb, 1.0), 4),
                              "nll_tnll": round(nll(lg, lb, t_nll), 4),
                              "ece_t1": round(ece(softmax(lg, 1.0), lb), 4),
                              "ece_tnll": round(ece(softmax(lg, t_nll), lb), 4)}
        sweep = {}
        for t in sorted(set(TEMPERATURES) | {round(t_nll, 3)}):
            r = latent_gt_auc(CachedTemperatureClassifier(model, cache, t), split="select", n_boot=50)
            sweep[str(t)] = r["macro"]["sem"]
        row["temperature_sweep_select_auc"] = sweep
        row["seconds"] = round(time.time() - t0, 1)
        print(json.dumps(row), flush=True)
        results.append(row)
        (args.out / "selection.json").write_text(json.dumps(results, indent=1) + "\n")
    best = max(results, key=lambda r: r["score"])
    sweep = best["temperature_sweep_select_auc"]
    t_best = max(sweep, key=lambda k: sweep[k])
    gain = sweep[t_best] - sweep["1.0"]
    summary = {"selected": best["candidate"], "sha256": best["sha256"], "score": best["score"],
               "temperature": float(t_best) if gain > AUC_NOISE else 1.0, "temperature_auc_gain": round(gain, 4),
               "rule": "score = Sem macro latent-GT AUC (select half) + mean(balanced top-1 coco val, VOC val); "
                       f"temperature kept only if it raises the select-half AUC by > {AUC_NOISE}"}
    (args.out / "selected.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = ["| candidate | Sem AUC (select, macro) | coco top-1 / top-5 / bal. | VOC top-1 / bal. | animal top-1 | "
             "score | T_nll | ECE T=1 -> T_nll |", "|---|---:|---|---|---:|---:|---:|---|"]
    for r in results:
        a = r["accuracy"]
        lines.append(f"| {r['candidate']} | {r['latent_select']['macro']['sem']:.4f} | "
                     f"{a['val_coco']['top1']:.3f} / {a['val_coco']['top5']:.3f} / {a['val_coco']['balanced_top1']:.3f} | "
                     f"{a['val_voc']['top1']:.3f} / {a['val_voc']['balanced_top1']:.3f} | {a['val_animal']['top1']:.3f} | "
                     f"{r['score']:.4f} | {r['calibration']['t_nll']} | {r['calibration']['ece_t1']} -> "
                     f"{r['calibration']['ece_tnll']} |")
    lines += ["", f"Selected: `{summary['selected']}` (temperature {summary['temperature']}, AUC gain of the best "
              f"temperature on the select half: {summary['temperature_auc_gain']:+.4f})", "",
              "Temperature sweep of the selected candidate (Sem macro latent-GT AUC, select half): "
              + ", ".join(f"T={k}: {v:.4f}" for k, v in sweep.items())]
    (args.out / "selection.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
