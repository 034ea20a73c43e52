"""Shape KID (``skd``, issue 26) at 10,000 objects: the memory of its ``cat`` states and the time of its finalize.

    python benchmarks/bench_skd.py --out benchmarks/results/skd_cpu.json

Synthetic float64 features (N x D, D = 1280 as the shipped classifier's) for both sides are added to the
declared states in batches of ``--batch`` rows (as the engine does), then :func:`sem_metric.engine.skd.skd_finalize`
runs (100 subsets of 1000). Reported: the states' bytes, the peak RSS growth of the process, and the times.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_json  # noqa: E402

from sem_metric.engine import states as st  # noqa: E402
from sem_metric.engine.skd import SKD_STATES, skd_finalize  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--subsets", type=int, default=100)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    base_mb = _peak_mb()
    state = st.empty(SKD_STATES, {"features": a.dim})
    t0 = time.perf_counter()
    for start in range(0, a.objects, a.batch):
        n = min(a.batch, a.objects - start)
        inc = {"pred_features": rng.random((n, a.dim)), "gt_features": rng.random((n, a.dim)) + 0.01}
        state = st.add(SKD_STATES, state, inc)
    t_acc = time.perf_counter() - t0
    state_mb = sum(v.nbytes for v in state.values()) / 2**20
    t0 = time.perf_counter()
    out = skd_finalize(state, {"subsets": a.subsets, "subset_size": 1000, "seed": 0, "dim": a.dim})
    t_fin = time.perf_counter() - t0
    res = {"what": "issue 26: SKD states and finalize", "machine": machine_info(), "objects": a.objects,
           "dim": a.dim, "batch": a.batch, "subsets": out["metadata"]["subsets"],
           "subset_size": out["metadata"]["subset_size"], "state_mb": state_mb,
           "peak_rss_growth_mb": _peak_mb() - base_mb, "accumulate_s": t_acc, "finalize_s": t_fin,
           "value": out["value"], "std": out["metadata"]["std"]}
    print(f"{a.objects} objects x {a.dim}: states {state_mb:.0f} MB, peak RSS growth {res['peak_rss_growth_mb']:.0f} MB, "
          f"accumulate {t_acc:.2f} s, finalize ({res['subsets']} subsets of {res['subset_size']}) {t_fin:.1f} s")
    if a.out:
        write_json(res, a.out)


if __name__ == "__main__":
    main()
