"""Evaluate Sem classifier weights on ShapeBank validation sets: top-1, top-5, balanced accuracy, per class.

    python -m sem_metric.training.evaluate_classifier --weights weights/sem_effb0_v1.safetensors \
        --bank cache/shapes/val_coco.npz cache/shapes/val_voc.npz --out weights/eval.json --markdown weights/eval.md

``--weights`` accepts anything :func:`sem_metric.load_classifier` does (a shipped name, a path, hf://...).
Inputs are prepared exactly as at inference (``box-window-v1``) from the banks' stored crops.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..atomic import atomic_write
from ..sem.weights import load_classifier
from .classifier_metrics import classification_report
from .shape_bank import ShapeBank
from .train_classifier import predict_logits


def evaluate_banks(weights, banks: dict[str, ShapeBank], device: str = "cpu") -> dict:
    """Classification report per bank plus the weights' provenance."""
    model = load_classifier(weights, device=device)
    result = {"weights": {k: model.info[k] for k in ("name", "sha256", "source", "arch", "preprocessing")}, "sets": {}}
    for name, bank in banks.items():
        result["sets"][name] = classification_report(predict_logits(model, bank), bank.labels)
    return result


def to_markdown(result: dict, min_n: int = 1) -> str:
    """Summary table (one row per set) and a per-class table per set."""
    lines = [f"Weights `{result['weights']['name']}` sha256 `{result['weights']['sha256']}`", "",
             "| set | n | top-1 | top-5 | balanced top-1 | balanced top-5 |", "|---|---:|---:|---:|---:|---:|"]
    for name, rep in result["sets"].items():
        lines.append(f"| {name} | {rep['n']} | {rep['top1']:.3f} | {rep['top5']:.3f} | {rep['balanced_top1']:.3f} "
                     f"| {rep['balanced_top5']:.3f} |")
    for name, rep in result["sets"].items():
        lines += ["", f"### {name}: per class", "", "| class | n | top-1 | top-5 |", "|---|---:|---:|---:|"]
        for row in sorted(rep["per_class"], key=lambda r: -r["n"]):
            if row["n"] >= min_n:
                lines.append(f"| {row['class']} | {row['n']} | {row['top1']:.3f} | {row['top5']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: evaluate classifier weights on ShapeBank validation sets."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="shipped name, path or hf://owner/repo/file (default: shipped)")
    p.add_argument("--bank", type=Path, nargs="+", required=True, help="ShapeBank .npz files to evaluate on")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=None, help="write the full JSON report here")
    p.add_argument("--markdown", type=Path, default=None, help="write the markdown tables here")
    args = p.parse_args(argv)
    banks = {path.stem: ShapeBank.load(path) for path in args.bank}
    result = evaluate_banks(args.weights, banks, args.device)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=1) + "\n"
        atomic_write(args.out, lambda f: f.write(text), what="evaluation")
    if args.markdown:
        md = to_markdown(result)
        atomic_write(args.markdown, lambda f: f.write(md), what="evaluation table")
    summary = {name: {k: round(rep[k], 4) for k in ("n", "top1", "top5", "balanced_top1")}
               for name, rep in result["sets"].items()}
    print(json.dumps({"weights": result["weights"], "sets": summary}, indent=1), file=sys.stdout)
    return 0


if __name__ == "__main__":
    from ..errors import run_command

    sys.exit(run_command(main))
