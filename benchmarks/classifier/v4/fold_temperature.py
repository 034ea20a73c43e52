"""Fold a softmax temperature into a classifier's weights: logits / T from the last layer itself.

    python benchmarks/classifier/v4/fold_temperature.py runs/classifier_lite0_v4c/epoch_006.safetensors 0.856 \
        runs/classifier_lite0_v4c/epoch_006_t0856.safetensors

F's logits are ``W h + b`` (``net.classifier``); dividing ``W`` and ``b`` by ``T`` gives ``(W h + b) / T``
exactly up to float32 rounding, so Sem (Eq. 10) with the folded file is Sem of ``softmax(logits / T)``
and needs no temperature anywhere else in the package. The rule (SELECTION_RULE.md, "Calibration")
folds the NLL-optimal temperature only if it raises S1 by more than 0.005.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

HEAD = ("net.classifier.weight", "net.classifier.bias")


def fold_temperature(state: dict, temperature: float) -> dict:
    """A copy of ``state`` whose last layer (``net.classifier``) is divided by ``temperature`` (> 0)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    missing = [k for k in HEAD if k not in state]
    if missing:
        raise ValueError(f"no last layer {missing} in these weights: cannot fold a temperature")
    return {k: (v / temperature if k in HEAD else v.clone()) for k, v in state.items()}


def main(argv=None) -> int:
    """CLI: ``fold_temperature.py WEIGHTS T OUT``; prints the written file's sha256 as JSON."""
    from sem_metric import load_classifier
    from sem_metric.sem.weights import save_classifier_weights

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        raise SystemExit("usage: fold_temperature.py WEIGHTS T OUT")
    src, t, out = argv[0], float(argv[1]), Path(argv[2])
    model = load_classifier(src, device="cpu")
    model.load_state_dict(fold_temperature(model.state_dict(), t))  # fold_temperature returns new tensors
    sha = save_classifier_weights(model, out, {"sem_metric.temperature_folded": f"{t} (from {src})"})
    print(json.dumps({"file": str(out), "temperature": t, "sha256": sha}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
