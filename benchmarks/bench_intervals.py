"""Cost of the intervals of issue 26 (``sem_metric.pipeline.intervals``) at 10,000 samples.

    python benchmarks/bench_intervals.py --out benchmarks/results/intervals_cpu.json

Seeded synthetic rows (tIOU, hamm, NN, Sem values) of ``--samples`` samples grouped ``--per-unit`` to a
unit (3: CamVid's 686 objects come from 225 maps), and, for the worst case, one unit per sample. Timed:
``rows_intervals`` (the four means' intervals of a result, one shared resampling, 2,000 resamples) and
``paired_difference`` (one metric of sem-compare: paired interval + 10,000 sign flips). For scale: the
classifier's forward pass alone costs about 1 s per 100 objects on one CPU core (README, Performance).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, timed, write_json  # noqa: E402

from sem_metric.pipeline import intervals as iv  # noqa: E402

METRICS = ("tiou", "hamm", "nn", "sem")


def rows(n: int, per_unit: int, seed: int = 0):
    """Seeded synthetic result rows."""
    rng = np.random.default_rng(seed)
    return [{"file": f"map{i // per_unit:05d}", "tiou": float(a), "hamm": float(b), "nn": int(c), "sem": float(d)}
            for i, (a, b, c, d) in enumerate(zip(rng.random(n), rng.random(n), rng.integers(0, 50, n), rng.random(n)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--per-unit", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    out = {"what": "issue 26 interval cost", "machine": machine_info(), "samples": a.samples, "cases": {}}
    for label, per_unit in ((f"{a.per_unit} samples per unit", a.per_unit), ("one sample per unit", 1)):
        r = rows(a.samples, per_unit)
        t_int = timed(lambda: iv.rows_intervals(r, METRICS), repeats=a.repeats)
        base = [x["sem"] for x in r]
        new = [x["sem"] + 0.01 for x in r]
        units = [x["file"] for x in r]
        t_pair = timed(lambda: iv.paired_difference(base, new, units), repeats=a.repeats)
        out["cases"][label] = {"units": len(set(units)), "rows_intervals_4_metrics": t_int,
                               "paired_difference_1_metric": t_pair}
        print(f"{label}: {len(set(units))} units; intervals of 4 means {t_int['wall_s']:.3f} s, "
              f"paired test of one metric {t_pair['wall_s']:.3f} s")
    if a.out:
        write_json(out, a.out)


if __name__ == "__main__":
    main()
