"""Sem's shape classifier F (EfficientNet-B0, gated stem, 2 x 96 x 96 inputs): throughput, FLOP rate, options.

    python benchmarks/bench_classifier.py --threads 1,2 --out benchmarks/results/classifier_cpu.json
    python benchmarks/bench_classifier.py --device cuda --out benchmarks/results/classifier_cuda.json

In one process, on box-window-v1 inputs of the seeded synthetic objects of ``benchmarks/synthetic.py``
(predictions and ground truths), with the shipped weights:

* ``flops_per_image`` counted by ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add = 2 FLOPs);
* ``matmul_peak``: a large fp32 ``torch.mm`` in the same run (the attainable fp32 rate of this device and
  thread count), so every throughput is also reported as GFLOP/s and % of that rate;
* eager fp32 at several batch sizes and thread counts (the default path), channels_last vs contiguous,
  ``torch.inference_mode`` vs ``torch.no_grad``;
* ``torch.compile`` (``compile_classifier``: inductor, freezing): one-time compile seconds, images/s and the
  largest Sem deviation from eager on the samples;
* bf16 autocast: images/s and the largest Sem deviation (why it is not offered as a default);
* preprocessing: ``classifier_input`` one sample at a time vs the batched ``classifier_inputs``
  (bit-identical; checked).
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402
from _common import load_note, machine_info, write_json  # noqa: E402

from sem_metric.sem.metric import sem_from_probabilities  # noqa: E402
from sem_metric.sem.preprocess import classifier_input, classifier_inputs  # noqa: E402
from sem_metric.sem.weights import load_classifier  # noqa: E402


def make_inputs(samples: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    segs, boxes, labels = [], [], []
    while len(boxes) < 2 * samples:
        p, g, bxs = synthetic.make_pair(rng, 256, 256, 4, 25, 128)
        for b in bxs:
            segs += [p, g]
            boxes += [b, b]
            labels += [synthetic.CAR] * 2
    segs, boxes, labels = segs[:2 * samples], boxes[:2 * samples], labels[:2 * samples]
    return segs, boxes, labels


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def run_model(model, x, bs, device, memory_format=torch.channels_last, grad_ctx=torch.inference_mode,
              autocast=None, pad=False):
    """Logits of all rows of x, in batches of bs (padded to bs when ``pad``)."""
    outs = []
    with grad_ctx():
        for s in range(0, x.shape[0], bs):
            b = x[s:s + bs]
            n = b.shape[0]
            if pad and n < bs:
                b = torch.cat([b, b.new_zeros((bs - n,) + tuple(b.shape[1:]))])
            b = b.to(device).contiguous(memory_format=memory_format)
            if autocast is not None:
                with torch.autocast(device_type=str(device).split(":")[0], dtype=autocast):
                    y = model(b)
            else:
                y = model(b)
            outs.append(y[:n].float())
    sync(device)
    return torch.cat(outs)


def throughput(fn, images, repeats, device):
    walls, cpus = [], []
    fn()  # warm-up
    for _ in range(repeats):
        sync(device)
        c, w = time.process_time(), time.perf_counter()
        fn()
        sync(device)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return {"images_per_s": images / min(walls), "images_per_cpu_s": images / min(cpus), "best_wall_s": min(walls)}


def matmul_peak(device, repeats, n=2048):
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)
    torch.mm(a, b)
    best = 1e9
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t)
    return {"n": n, "gflop_per_s": 2 * n ** 3 / best / 1e9}


def sem_dev(logits, ref_logits, n):
    p = torch.softmax(logits.double(), 1).numpy()
    r = torch.softmax(ref_logits.double(), 1).numpy()
    s, s_ref = sem_from_probabilities(p[:n], p[n:]), sem_from_probabilities(r[:n], r[n:])
    return {"max_abs_sem_deviation": float(np.abs(s - s_ref).max()),
            "mean_abs_sem_deviation": float(np.abs(s - s_ref).mean()),
            "max_abs_logit_deviation": float((logits - ref_logits).abs().max())}


def annotate(entry, flops, peak):
    entry["gflop_per_s"] = entry["images_per_s"] * flops / 1e9
    entry["percent_of_matmul_peak"] = 100 * entry["gflop_per_s"] / peak
    return entry


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (CPU)")
    p.add_argument("--batch-sizes", default="16,32,64")
    p.add_argument("--samples", type=int, default=128, help="Sem samples (2 images each)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--no-bf16", action="store_true")
    p.add_argument("--bf16-samples", type=int, default=8, help="samples for the bf16 run on a CPU")
    p.add_argument("--weights", default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    device = args.device
    threads = [int(t) for t in args.threads.split(",")] if device == "cpu" else [torch.get_num_threads()]
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    res = {"benchmark": "classifier", "device": device, "machine": machine_info(), "note": load_note(),
           "samples": args.samples, "images": 2 * args.samples, "repeats": args.repeats}

    segs, boxes, labels = make_inputs(args.samples)
    n = args.samples
    order = list(range(0, 2 * n, 2)) + list(range(1, 2 * n, 2))  # predictions first, then ground truths
    segs, boxes, labels = [segs[i] for i in order], [boxes[i] for i in order], [labels[i] for i in order]
    images = len(segs)

    # preprocessing (CPU): per sample vs batched; bit-identical
    t = time.perf_counter()
    single = torch.stack([classifier_input(s, b, l) for s, b, l in zip(segs, boxes, labels)])
    t_single = time.perf_counter() - t
    t = time.perf_counter()
    x = classifier_inputs(segs, boxes, labels)
    t_batched = time.perf_counter() - t
    res["preprocessing"] = {"per_sample_images_per_s": images / t_single, "batched_images_per_s": images / t_batched,
                            "speedup": t_single / t_batched, "bit_identical": bool(torch.equal(single, x))}

    model = load_classifier(args.weights, device=device)
    res["weights"] = {k: model.info[k] for k in ("name", "sha256")}
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        model(x[:1].to(device).contiguous(memory_format=torch.channels_last))
    flops = fc.get_total_flops()
    res["flops_per_image"] = flops
    res["runs"] = []
    ref_logits = run_model(model, x, 64, device).cpu()
    default_threads = torch.get_num_threads()
    contiguous = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    for th in threads:
        if device == "cpu":
            torch.set_num_threads(th)
        peak = matmul_peak(device, args.repeats)
        block = {"threads": th, "matmul_peak": peak, "eager": {}}
        for bs in sizes:
            block["eager"][f"batch_{bs}"] = annotate(throughput(lambda: run_model(model, x, bs, device), images,
                                                                args.repeats, device), flops, peak["gflop_per_s"])
        block["eager_contiguous_batch_64"] = annotate(throughput(
            lambda: run_model(contiguous, x, 64, device, memory_format=torch.contiguous_format), images,
            args.repeats, device), flops, peak["gflop_per_s"])
        block["eager_no_grad_batch_64"] = annotate(throughput(
            lambda: run_model(model, x, 64, device, grad_ctx=torch.no_grad), images, args.repeats, device),
            flops, peak["gflop_per_s"])
        print(f"threads {th}: {block['eager']}", file=sys.stderr)
        res["runs"].append(block)
    if device == "cpu":
        torch.set_num_threads(max(threads))
    peak = matmul_peak(device, args.repeats)["gflop_per_s"]
    res["options_threads"] = torch.get_num_threads()
    res["options_matmul_peak_gflop_per_s"] = peak
    res["eager_batch_64"] = annotate(throughput(lambda: run_model(model, x, 64, device), images, args.repeats,
                                                device), flops, peak)
    if not args.no_bf16:
        # bf16 on a CPU without native bf16 instructions can be very slow: measure a subset of the samples
        k = n if device != "cpu" else min(n, args.bf16_samples)
        sub = torch.cat([x[:k], x[n:n + k]])
        dt = torch.bfloat16
        logits = run_model(model, sub, 64, device, autocast=dt).cpu()
        entry = throughput(lambda: run_model(model, sub, 64, device, autocast=dt), 2 * k, 1, device)
        fp32 = throughput(lambda: run_model(model, sub, 64, device), 2 * k, 1, device)
        res["bf16_autocast_batch_64"] = {**annotate(entry, flops, peak),
                                         **sem_dev(logits, torch.cat([ref_logits[:k], ref_logits[n:n + k]]), k),
                                         "samples": k, "fp32_same_subset_images_per_s": fp32["images_per_s"],
                                         "speedup_vs_eager": entry["images_per_s"] / fp32["images_per_s"],
                                         "verdict": "rejected: moves Sem far beyond 1e-4; never used, no option"}
    if not args.no_compile:
        from sem_metric.sem.classifier import compile_classifier

        cmodel = compile_classifier(load_classifier(args.weights, device=device))
        t = time.perf_counter()
        run_model(cmodel, x[:64], 64, device, pad=True)
        compile_s = time.perf_counter() - t
        logits = run_model(cmodel, x, 64, device, pad=True).cpu()
        entry = throughput(lambda: run_model(cmodel, x, 64, device, pad=True), images, args.repeats, device)
        res["compiled_batch_64"] = {**annotate(entry, flops, peak), **sem_dev(logits, ref_logits, n),
                                    "compile_and_first_batch_s": compile_s,
                                    "speedup_vs_eager": entry["images_per_s"] / res["eager_batch_64"]["images_per_s"]}
    torch.set_num_threads(default_threads)
    res["loadavg_1_5_15_at_end"] = list(os.getloadavg())
    write_json(res, args.out)


if __name__ == "__main__":
    main()
