"""Frozen values of today's numbers (issue 18): the engine refactor must not move them.

tIOU, hamm and NN per sample and their means bit-identical; Sem per sample / mean and SFD within the
registry's ``Metric.reproducibility`` bound. Sets: the shipped ``examples/`` (evaluate_dirs) and a
synthetic set of random maps with several boxes per map (evaluate_samples and SISMMetrics), all with
``sem-effb0-v1`` (the shipped default when the values were frozen; pinned since the default changed in
issue 25, so the guard keeps its values) on the CPU.

    python tests/engine/frozen.py --write     # regenerate tests/data/engine_frozen.json (deliberate change only)
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FROZEN = ROOT / "tests" / "data" / "engine_frozen.json"
METRICS = "tiou,hamm,nn,sem,sfd"
WEIGHTS = "sem-effb0-v1"


def synthetic(n_maps: int = 12, seed: int = 18):
    """``({name: (pred, gt)}, {name: [box entries]})``: blobs on 64 x 80 maps, 1-3 boxes each, some identical."""
    rng = np.random.default_rng(seed)
    samples, boxes = {}, {}
    for i in range(n_maps):
        gt = rng.integers(0, 3, size=(64, 80)).astype(np.uint8)
        entries = []
        for j in range(1 + i % 3):
            x0, y0 = int(rng.integers(0, 50)), int(rng.integers(0, 36))
            w, h = int(rng.integers(8, 30)), int(rng.integers(8, 28))
            x1, y1 = min(80, x0 + w), min(64, y0 + h)
            label = 5 + j
            gt[y0 + 2:y1 - 2, x0 + 2:x1 - 2] = label
            entries.append({"bbox": [x0, y0, x1, y1], "label": label})
        for e in entries:                           # a later box may cover an earlier object: keep a core of each
            x0, y0, x1, y1 = e["bbox"]
            gt[(y0 + y1) // 2 - 1:(y0 + y1) // 2 + 2, (x0 + x1) // 2 - 1:(x0 + x1) // 2 + 2] = e["label"]
        pred = gt.copy()
        if i % 4:                                   # every 4th map is predicted perfectly (Sem = 0 exactly)
            noise = rng.random(gt.shape) < 0.15
            pred[noise] = rng.integers(0, 9, size=int(noise.sum()))
        samples[f"s{i:02d}"] = (pred, gt)
        boxes[f"s{i:02d}"] = entries
    return samples, boxes


def _result_values(r) -> dict:
    rows = [{k: s[k] for k in ("file", "box_index", "tiou", "hamm", "nn", "sem")} for s in r["samples"]]
    return {"rows": rows, "means": r["means"], "nn_total": r["nn_total"]}


def compute() -> dict:
    import torch

    from sem_metric import SISMMetrics, evaluate_dirs, evaluate_samples
    from sem_metric.pipeline.evaluate import SemOptions

    torch.set_num_threads(1)
    so = SemOptions(weights=WEIGHTS, device="cpu")
    ex = evaluate_dirs(EXAMPLES / "pred", EXAMPLES / "gt", EXAMPLES / "boxes.json", metrics=METRICS, sem_options=so)
    samples, boxes = synthetic()
    syn = evaluate_samples(samples, boxes, metrics=METRICS, sem_options=so)
    m = SISMMetrics(metrics=METRICS, weights=WEIGHTS, device="cpu", batch_size=8)
    for name, (pred, gt) in samples.items():
        b = np.array([e["bbox"] for e in boxes[name]])
        m.update([pred] * len(b), [gt] * len(b), b, [e["label"] for e in boxes[name]])
    streaming = m.compute()
    return {"examples": _result_values(ex), "synthetic": _result_values(syn),
            "streaming": {k: v for k, v in streaming.items()}}


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bounds import freeze_command

    return freeze_command("Write or print the frozen values of issue 18", FROZEN, compute, argv)


if __name__ == "__main__":
    sys.exit(main())
