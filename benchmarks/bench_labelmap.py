"""Label-map metrics (tIOU, hamm, NN of paper Sec. 4.1): single-call loop vs batched forms vs one fused pass.

    python benchmarks/bench_labelmap.py --out benchmarks/results/labelmap_cpu.json

Inputs (``benchmarks/synthetic.py``, seeded):

* ``cityscapes_like``: a *list* of 23 maps of 2048 x 1024 (uint8 class ids) with 13 car boxes each
  (sides 12..400 px), every map shared by its boxes: the case that used to stack N whole maps;
* ``synthetic_stack``: an (N, 256, 512) stack with one box per map (the old bench_metrics case);
* ``synthetic_list``: the same maps as a list.

For each: the loop of single-sample calls ``tiou + hamm + noise_count``, the three batched functions,
and ``labelmap_metrics_batch`` (one class-pair histogram per box; skipped when the installed
sem-metric predates it). ``fused_mpix_per_s`` is box pixels per second of the fused pass on one
thread (wall and thread-CPU clocks). Runs with older checkouts too (PYTHONPATH=...) for before/after.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402
from _common import load_note, machine_info, timed, write_json  # noqa: E402

from sem_metric.labelmap import metrics as M  # noqa: E402


def synthetic_stack(n: int, h: int = 256, w: int = 512, seed: int = 0):
    rng = np.random.default_rng(seed)
    preds, gts, boxes = [], [], []
    for _ in range(n):
        p, g, b = synthetic.make_pair(rng, h, w, 1, 16, min(h, w) // 2)
        preds.append(p)
        gts.append(g)
        boxes += b
    return np.stack(preds), np.stack(gts), boxes, [synthetic.CAR] * n


def measure(name: str, preds, gts, boxes, labels, repeats: int, dtype: str) -> dict:
    cast = (lambda m: m) if dtype == "uint8" else (lambda m: m.astype(dtype))
    if isinstance(preds, np.ndarray):
        preds, gts = cast(preds), cast(gts)
    else:  # keep maps shared between boxes: cast each distinct map once
        cache = {}
        preds = [cache.setdefault(id(m), cast(m)) for m in preds]
        gts = [cache.setdefault(id(m), cast(m)) for m in gts]
    pixels = int(sum((b[2] - b[0]) * (b[3] - b[1]) for b in boxes))
    n = len(boxes)

    def loop():
        return [(M.tiou(p, g, b, l), M.hamm(p, g, b), M.noise_count(p, g, b))
                for p, g, b, l in zip(preds, gts, boxes, labels)]

    def three():
        return M.tiou_batch(preds, gts, boxes, labels), M.hamm_batch(preds, gts, boxes), M.noise_count_batch(
            preds, gts, boxes)

    out = {"samples": n, "box_pixels": pixels, "map_dtype": dtype,
           "input": "stack" if isinstance(preds, np.ndarray) else "list"}
    ref = loop()
    t_loop = timed(loop, repeats)
    t_three = timed(three, repeats)
    t3 = three()
    assert t3[0].tolist() == [r[0] for r in ref] and t3[2].tolist() == [r[2] for r in ref]
    out["single_loop"] = t_loop
    out["batched_three_functions"] = t_three
    out["batched_over_loop_speedup_wall"] = t_loop["wall_s"] / t_three["wall_s"]
    out["batched_over_loop_speedup_cpu"] = t_loop["cpu_s"] / t_three["cpu_s"]
    if hasattr(M, "labelmap_metrics_batch"):
        fused = M.labelmap_metrics_batch(preds, gts, boxes, labels)
        assert fused["tiou"].tolist() == [r[0] for r in ref] and fused["hamm"].tolist() == [r[1] for r in ref]
        assert fused["nn"].tolist() == [r[2] for r in ref]
        t_fused = timed(lambda: M.labelmap_metrics_batch(preds, gts, boxes, labels), repeats)
        out["fused"] = t_fused
        out["fused_over_loop_speedup_wall"] = t_loop["wall_s"] / t_fused["wall_s"]
        out["fused_over_loop_speedup_cpu"] = t_loop["cpu_s"] / t_fused["cpu_s"]
        out["fused_mpix_per_s_wall"] = pixels / t_fused["wall_s"] / 1e6
        out["fused_mpix_per_s_cpu"] = pixels / t_fused["cpu_s"] / 1e6
    out["loop_mpix_per_s_cpu"] = pixels / t_loop["cpu_s"] / 1e6
    print(f"{name}: loop {t_loop['wall_s']:.3f}s, three batched {t_three['wall_s']:.3f}s"
          + (f", fused {out['fused']['wall_s']:.3f}s ({out['fused_mpix_per_s_cpu']:.0f} Mpix/cpu-s)"
             if "fused" in out else ""), file=sys.stderr)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--stack-samples", type=int, default=256)
    p.add_argument("--city-maps", type=int, default=23)
    p.add_argument("--dtypes", default="uint8", help="comma-separated map dtypes to test, e.g. uint8,int64")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    res = {"benchmark": "labelmap", "machine": machine_info(), "note": load_note(), "repeats": args.repeats,
           "cases": {}}
    preds, gts, samples = synthetic.cityscapes_like(maps=args.city_maps)
    city = ([preds[i] for i, _, _ in samples], [gts[i] for i, _, _ in samples], [b for _, b, _ in samples],
            [lab for _, _, lab in samples])
    sp, sg, sb, sl = synthetic_stack(args.stack_samples)
    for dtype in args.dtypes.split(","):
        res["cases"][f"cityscapes_like_list_{dtype}"] = measure("cityscapes_like", *city, args.repeats, dtype)
        res["cases"][f"synthetic_stack_{dtype}"] = measure("synthetic_stack", sp, sg, sb, sl, args.repeats, dtype)
        res["cases"][f"synthetic_list_{dtype}"] = measure("synthetic_list", list(sp), list(sg), sb, sl,
                                                          args.repeats, dtype)
    res["loadavg_1_5_15_at_end"] = list(os.getloadavg())
    write_json(res, args.out)


if __name__ == "__main__":
    main()
