"""Would distillation from an ensemble pay off in Sem's latent-GT AUC? (issue #12, the distillation lever)

    python benchmarks/classifier/ensemble_probe.py --threads 2 --out benchmarks/classifier/ensemble_probe.json \
        --member sem-effb0-v2 --ensemble sem-effb0-v1 sem-effb0-v2 \
        --ensemble runs/classifier_b0_v2_12ep/epoch_008.safetensors sem-effb0-v2 runs/classifier_b0_v2_12ep/epoch_011.safetensors

A distilled student can at best approach its teacher, so the teacher's own numbers bound the gain:
each ``--ensemble`` (the mean of its members' softmax outputs, returned as log-probabilities so that
Sem's softmax of them is that mean) is scored exactly as ``select_classifier.py`` scores a candidate:
Sem's macro latent-GT AUC on the ``select`` half of the held-out shapes, accuracy on coco / VOC /
animal val, ECE. ``--member`` rows are single classifiers for the comparison. If the best ensemble does
not beat its best member by more than the noise (0.005 AUC), distillation is not worth a training run.
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

from benchmarks.classifier.select_classifier import AUC_NOISE, accuracy, ece, nll, softmax  # noqa: E402
from benchmarks.validity.latent_gt import latent_gt_auc  # noqa: E402
from sem_metric import load_classifier  # noqa: E402
from sem_metric.training.shape_bank import ShapeBank  # noqa: E402


class ProbabilityEnsemble(torch.nn.Module):
    """Mean of the members' softmax outputs, returned as log-probabilities (softmax of them = the mean)."""

    def __init__(self, members):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.config = members[0].config
        self.info = {"name": "ensemble(" + ", ".join(m.info["name"] for m in members) + ")", "sha256": None}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.softmax(m(x).float(), dim=1) for m in self.members]).mean(0)
        return torch.log(probs.clamp_min(1e-12))


def score(model, banks: dict, n_boot: int) -> dict:
    """The selection figures of ``select_classifier.py`` for one classifier (or ensemble)."""
    t0 = time.time()
    acc, logits = accuracy(model, banks)
    lat = latent_gt_auc(model, split="select", n_boot=n_boot)
    lg = np.concatenate([logits[n] for n in banks])
    lb = np.concatenate([banks[n].labels for n in banks])
    return {"name": model.info["name"], "latent_select_macro_sem_auc": lat["macro"]["sem"],
            "sources": {k: v["sem"]["auc"] for k, v in lat["sources"].items()}, "accuracy": acc,
            "ece": round(ece(softmax(lg, 1.0), lb), 4), "nll": round(nll(lg, lb, 1.0), 4),
            "seconds": round(time.time() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--member", nargs="+", action="append", default=[], help="single classifiers to compare")
    ap.add_argument("--ensemble", nargs="+", action="append", default=[], help="members of one ensemble")
    ap.add_argument("--banks-dir", type=Path, default=REPO / "cache" / "shapes")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    banks = {n: ShapeBank.load(args.banks_dir / f"{n}.npz") for n in ("val_coco", "val_voc", "val_animal")}
    loaded: dict = {}

    def get(ref):
        if ref not in loaded:
            loaded[ref] = load_classifier(ref, device="cpu")
        return loaded[ref]

    rows = []
    for model in [get(r) for group in args.member for r in group] + \
                 [ProbabilityEnsemble([get(r) for r in group]) for group in args.ensemble]:
        rows.append(score(model, banks, args.n_boot))
        print(json.dumps(rows[-1]), flush=True)
    singles = [r for r in rows if not r["name"].startswith("ensemble(")]
    ensembles = [r for r in rows if r["name"].startswith("ensemble(")]
    best_single = max(singles, key=lambda r: r["latent_select_macro_sem_auc"]) if singles else None
    best_ens = max(ensembles, key=lambda r: r["latent_select_macro_sem_auc"]) if ensembles else None
    gain = (round(best_ens["latent_select_macro_sem_auc"] - best_single["latent_select_macro_sem_auc"], 4)
            if best_single and best_ens else None)
    verdict = None if gain is None else ("pays off" if gain > AUC_NOISE else "does not pay off")
    out = {"rows": rows, "best_single": best_single and best_single["name"], "best_ensemble": best_ens and best_ens["name"],
           "ensemble_auc_gain": gain, "noise": AUC_NOISE, "distillation_verdict": verdict}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    lines = ["| classifier | Sem AUC (select, macro) | coco top-1 / top-5 / bal. | VOC top-1 / bal. | animal | ECE | NLL |",
             "|---|---:|---|---|---:|---:|---:|"]
    for r in rows:
        a = r["accuracy"]
        lines.append(f"| {r['name']} | {r['latent_select_macro_sem_auc']:.4f} | {a['val_coco']['top1']:.3f} / "
                     f"{a['val_coco']['top5']:.3f} / {a['val_coco']['balanced_top1']:.3f} | {a['val_voc']['top1']:.3f} / "
                     f"{a['val_voc']['balanced_top1']:.3f} | {a['val_animal']['top1']:.3f} | {r['ece']:.3f} | {r['nll']:.3f} |")
    lines += ["", f"Best ensemble minus best single classifier: {gain:+.4f} AUC -> distillation {verdict} "
              f"(noise {AUC_NOISE})." if gain is not None else ""]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
