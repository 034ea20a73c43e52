"""Small-N bias of the Shape Frechet Distance (SFD; beyond the paper, FID-style), with Shape KID (SKD) beside it.

Two disjoint random halves of one set of real shapes come from the same distribution, so their
true SFD is 0; the measured value is the estimator's bias (plus noise) at that N. Shapes: a
ShapeBank (default: the VOC validation shapes, ``cache/shapes/val_voc.npz``), each fed to the Sem
classifier as a one-object label map with the box = the shape's tight crop (the same inputs as Sem).
For scale, SFD between the VOC and COCO validation shapes (a real distribution shift) at the largest N.
SKD (issue 26, :mod:`sem_metric.engine.skd`) is unbiased: on the same splits it should sit at 0 within its
spread at every N, and clearly above 0 for the shift.

    python benchmarks/sfd/sfd_bias.py --out benchmarks/sfd/results.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def bank_features(path, n, rng, classifier, batch_size):
    from sem_metric.sem.sfd import shape_features_batch
    from sem_metric.training.shape_bank import ShapeBank

    bank = ShapeBank.load(path)
    idx = rng.permutation(len(bank))[:n]
    segs = [bank.masks[i].astype(np.uint8) for i in idx]
    boxes = [(0, 0, m.shape[1], m.shape[0]) for m in segs]
    return shape_features_batch(segs, boxes, [1] * len(segs), classifier=classifier, batch_size=batch_size)


def sfd(a, b):
    from sem_metric.sem.sfd import frechet_distance

    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def skd(a, b):
    """Shape KID (issue 26): unbiased MMD^2, cubic kernel, mean over seeded subsets of min(1000, N)."""
    from sem_metric.engine.skd import kid

    return kid(a, b)["value"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", default="cache/shapes/val_voc.npz")
    ap.add_argument("--other", default="cache/shapes/val_coco.npz", help="a second bank, for scale ('' = skip)")
    ap.add_argument("--sizes", default="50,100,200,400,1000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import torch

    from sem_metric.sem.weights import load_classifier

    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(args.seed)
    clf = load_classifier(args.weights, device="cpu")
    t0 = time.time()
    pool = bank_features(args.bank, 2 * max(sizes), rng, clf, args.batch_size)
    rows = []
    for n in sizes:
        if 2 * n > len(pool):
            print(f"skip N={n}: the bank has {len(pool)} shapes")
            continue
        vals, kvals = [], []
        for _ in range(args.repeats):
            perm = rng.permutation(len(pool))
            vals.append(sfd(pool[perm[:n]], pool[perm[n:2 * n]]))
            kvals.append(skd(pool[perm[:n]], pool[perm[n:2 * n]]))
        rows.append({"n": n, "mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)), "values": vals,
                     "skd_mean": float(np.mean(kvals)), "skd_std": float(np.std(kvals, ddof=1)), "skd_values": kvals})
        print(f"N={n:5d}  same-distribution SFD {np.mean(vals):8.3f} +- {np.std(vals, ddof=1):.3f}  "
              f"SKD {np.mean(kvals):+.5f} +- {np.std(kvals, ddof=1):.5f}  ({args.repeats} random splits)", flush=True)
    shift = None
    if args.other:
        n = max(r["n"] for r in rows)
        other = bank_features(args.other, n, rng, clf, args.batch_size)
        if len(other) == n:
            mine = pool[rng.permutation(len(pool))[:n]]
            shift = {"n": n, "bank": args.other, "sfd": sfd(mine, other), "skd": skd(mine, other)}
            print(f"N={n:5d}  {Path(args.bank).name} vs {Path(args.other).name}: SFD {shift['sfd']:.3f}, "
                  f"SKD {shift['skd']:.5f}")
    result = {"bank": args.bank, "weights_sha256": clf.info["sha256"], "feature_dim": int(pool.shape[1]),
              "repeats": args.repeats, "seed": args.seed, "same_distribution": rows, "shift": shift,
              "seconds": round(time.time() - t0, 1)}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
