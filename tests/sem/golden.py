"""Golden values: Sem (Eq. 10) and SFD of the shipped example for every shipped weights file.

``tests/sem/test_golden.py`` recomputes them and holds them to the registry's documented
reproducibility bound, so that a torch, timm or Pillow upgrade that moves the numbers is caught. To
regenerate after a deliberate change (new weights entry, a new definition version; see the README,
"Reproducibility"):

    python tests/sem/golden.py --write
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "data" / "golden_values.json"


def compute(name: str) -> dict:
    """Per-sample Sem, its mean, and SFD of ``examples/`` with the shipped weights ``name`` (CPU, eager)."""
    from sem_metric.pipeline.evaluate import SemOptions, evaluate_dirs
    from sem_metric.sem.weights import list_weights

    r = evaluate_dirs(EXAMPLES / "pred", EXAMPLES / "gt", EXAMPLES / "boxes.json", metrics="tiou,hamm,nn,sem,sfd",
                      sem_options=SemOptions(weights=name, device="cpu"))
    return {"sha256": list_weights()[name], "preprocessing_version": r["metadata"]["sem"]["preprocessing_version"],
            "sem": [s["sem"] for s in r["samples"]], "sem_mean": r["means"]["sem"], "sfd": r["means"]["sfd"]}


def _all_weights() -> dict:
    import torch
    from sem_metric.sem.weights import list_weights

    torch.set_num_threads(1)
    return {"examples": "examples/ (pred, gt, boxes.json)",
            "weights": {name: compute(name) for name in sorted(list_weights())}}


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    from bounds import freeze_command

    return freeze_command("Write or print the golden Sem / SFD values of the examples", GOLDEN, _all_weights, argv)


if __name__ == "__main__":
    sys.exit(main())
