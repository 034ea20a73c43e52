"""What the untried levers of issue #12 (input resolution 96 vs 128, EfficientNet B0 vs B1/B2) cost on CPU.

    python benchmarks/classifier/arch_cost.py --threads 2 --out benchmarks/classifier/arch_cost.json

For each (arch, input size): the Sem classifier F (gated stem, 2 input channels, 80 classes; random
weights: cost does not depend on the values) in fp32, channels-last, ``--threads`` torch threads:

* inference images/s (``torch.inference_mode``, batch 64; what every Sem call pays), and
* training samples/s (forward + backward + AdamW step, batch 64, train mode; what a run of N draws costs),

each the median of ``--repeats`` timed rounds after one warm-up round, measured in this one process
so the ratios to B0 @ 96 (the shipped setting) are comparable. Also the parameter count and FLOPs per
image (``torch.utils.flop_counter``). 128 px would be a new preprocessing version (``box-window-v1``
fixes 96), so it is a definition change as well as a cost.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks._common import timed  # noqa: E402
from sem_metric.sem.classifier import ClassifierConfig, ShapeClassifier  # noqa: E402


def median_seconds(fn, repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls of ``fn`` after one warm-up call (``benchmarks/_common.timed``)."""
    fn()
    return timed(fn, repeats)["wall_median_s"]


def measure(arch: str, size: int, batch: int, repeats: int, train_batches: int) -> dict:
    torch.manual_seed(0)
    model = ShapeClassifier(ClassifierConfig(arch=arch)).to(memory_format=torch.channels_last)
    x = (torch.rand(batch, 2, size, size) > 0.5).float().contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 80, (batch,))
    model.eval()
    with torch.inference_mode():
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            model(x[:1])
        flops = counter.get_total_flops()

        def infer():
            model(x)

        t_inf = median_seconds(infer, repeats)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train_steps():
        for _ in range(train_batches):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

    t_train = median_seconds(train_steps, repeats)
    return {"arch": arch, "input_size": size, "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "gflops_per_image": round(flops / 1e9, 3), "infer_images_per_s": round(batch / t_inf, 1),
            "train_samples_per_s": round(batch * train_batches / t_train, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["efficientnet_b0", "efficientnet_b1", "efficientnet_b2"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[96, 128])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-batches", type=int, default=2, help="optimizer steps per timed training round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for arch in args.archs:
        for size in args.sizes:
            row = measure(arch, size, args.batch, args.repeats, args.train_batches)
            rows.append(row)
            print(json.dumps(row), flush=True)
    base = next((r for r in rows if r["arch"] == "efficientnet_b0" and r["input_size"] == 96), rows[0])
    for r in rows:
        r["infer_cost_vs_b0_96"] = round(base["infer_images_per_s"] / r["infer_images_per_s"], 2)
        r["train_cost_vs_b0_96"] = round(base["train_samples_per_s"] / r["train_samples_per_s"], 2)
    result = {"threads": args.threads, "batch": args.batch, "repeats": args.repeats,
              "torch": torch.__version__, "rows": rows}
    lines = ["| arch | input | params (M) | GFLOPs / image | inference images/s | training samples/s | "
             "inference cost vs B0@96 | training cost vs B0@96 |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['arch']} | {r['input_size']} | {r['params_m']} | {r['gflops_per_image']} | "
              f"{r['infer_images_per_s']} | {r['train_samples_per_s']} | x{r['infer_cost_vs_b0_96']} | "
              f"x{r['train_cost_vs_b0_96']} |" for r in rows]
    print("\n".join(lines))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
