"""Speed and memory of sem-metric on synthetic SISM samples (no data needed).

    python benchmarks/bench_metrics.py --samples 512 --out benchmarks/results/bench_cpu.json

Measures, in one run so ratios are comparable: label-map metrics single-sample loop vs batched forms;
Sem preprocessing alone; Sem end to end (preprocessing + classifier) at several batch sizes; peak RSS.
Timings are wall-clock medians of ``--repeats`` runs; compare ratios, not absolute numbers, across machines.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import sem_metric
from sem_metric.labelmap import metrics
from sem_metric.sem.preprocess import classifier_inputs
from sem_metric.sem.metric import compute_sem_batch
from sem_metric.sem.weights import load_classifier


def make_samples(n: int, h: int, w: int, seed: int = 0):
    """n (pred, gt, box, label) samples: random scene classes, one boxed object with a perturbed prediction."""
    rng = np.random.default_rng(seed)
    gts = rng.integers(0, 12, size=(n, h, w)).astype(np.int64)
    preds = gts.copy()
    boxes, labels = [], []
    for i in range(n):
        bh, bw = int(rng.integers(16, h // 2)), int(rng.integers(16, w // 2))
        y0, x0 = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
        yy, xx = np.mgrid[0:bh, 0:bw]
        ell = ((yy - bh / 2) / (bh / 2)) ** 2 + ((xx - bw / 2) / (bw / 2)) ** 2 < 1
        gts[i, y0:y0 + bh, x0:x0 + bw][ell] = 20
        noisy = ell ^ (rng.random(ell.shape) < 0.05)
        preds[i, y0:y0 + bh, x0:x0 + bw] = np.where(noisy, 20, gts[i, y0:y0 + bh, x0:x0 + bw])
        boxes.append((x0, y0, x0 + bw, y0 + bh))
        labels.append(20)
    return preds, gts, boxes, labels


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--weights", default=None, help="classifier weights (default: shipped)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    preds, gts, boxes, labels = make_samples(args.samples, args.height, args.width)
    n = args.samples
    res = {"samples": n, "map_size": [args.height, args.width], "torch_threads": torch.get_num_threads(),
           "device": args.device, "platform": platform.platform(), "python": platform.python_version(),
           "torch": torch.__version__, "sem_metric": sem_metric.__version__}

    loop = timed(lambda: [(metrics.tiou(a, b, c, d), metrics.hamm(a, b, c), metrics.noise_count(a, b, c))
                          for a, b, c, d in zip(preds, gts, boxes, labels)], args.repeats)
    batched = timed(lambda: (metrics.tiou_batch(preds, gts, boxes, labels), metrics.hamm_batch(preds, gts, boxes),
                             metrics.noise_count_batch(preds, gts, boxes)), args.repeats)
    res["labelmap_metrics"] = {"single_loop_samples_per_s": n / loop, "batched_samples_per_s": n / batched,
                               "batched_over_loop_speedup": loop / batched}

    pre = timed(lambda: classifier_inputs(list(preds), boxes, labels), args.repeats)
    res["sem_preprocessing_samples_per_s"] = n / pre
    model = load_classifier(args.weights, device=args.device)
    res["weights"] = {k: model.info[k] for k in ("name", "sha256")}
    res["sem"] = {}
    for bs in (1, 16, 64, 128):
        m = min(n, 64) if bs == 1 else n
        t = timed(lambda: compute_sem_batch(preds[:m], gts[:m], boxes[:m], labels[:m], classifier=model,
                                            batch_size=bs), args.repeats)
        res["sem"][f"batch_{bs}"] = {"samples": m, "sem_samples_per_s": m / t, "classifier_images_per_s": 2 * m / t}
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
