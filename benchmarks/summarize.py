"""Print the Markdown performance tables of benchmarks/README.md from the JSON results.

    python benchmarks/summarize.py [benchmarks/results]

Reads ``labelmap_cpu*.json``, ``read_cpu*.json``, ``classifier_cpu.json`` and ``e2e_cpu*.json`` (files
named ``*_before.json`` hold the same benchmark run on the code before issue #10).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def load(d: Path, name: str):
    p = d / name
    return json.loads(p.read_text()) if p.is_file() else None


def labelmap(d: Path) -> None:
    after, before = load(d, "labelmap_cpu.json"), load(d, "labelmap_cpu_before.json")
    if not after:
        return
    print("| label-map metrics (tIOU+hamm+NN) | boxes | box Mpx | single-call loop | 3 batched functions | "
          "fused `labelmap_metrics_batch` | fused Mpx/s (wall / thread CPU) | before: 3 batched vs its loop |")
    print("|---|---|---|---|---|---|---|---|")
    for key, c in after["cases"].items():
        b = (before or {}).get("cases", {}).get(key)
        old = (f"{b['batched_three_functions']['wall_s'] * 1e3:.0f} ms vs {b['single_loop']['wall_s'] * 1e3:.0f} ms "
               f"({b['batched_over_loop_speedup_wall']:.2f}x)") if b else "-"
        print(f"| {key} | {c['samples']} | {c['box_pixels'] / 1e6:.1f} | {c['single_loop']['wall_s'] * 1e3:.0f} ms | "
              f"{c['batched_three_functions']['wall_s'] * 1e3:.0f} ms ({c['batched_over_loop_speedup_wall']:.2f}x) | "
              f"{c['fused']['wall_s'] * 1e3:.0f} ms ({c['fused_over_loop_speedup_wall']:.2f}x) | "
              f"{c['fused_mpix_per_s_wall']:.0f} / {c['fused_mpix_per_s_cpu']:.0f} | {old} |")
    print()


def read(d: Path) -> None:
    after, before = load(d, "read_cpu.json"), load(d, "read_cpu_before.json")
    if not after:
        return
    print("| reading 23 PNGs of 2048 x 1024 | dtype | best of 3 vs plain PIL | first call vs plain PIL | before (int64) |")
    print("|---|---|---|---|---|")
    for key in ("L_png", "I16_png"):
        a, b = after[key], (before or {}).get(key)
        old = (f"{b['best_of_repeats']['ratio_wall']:.2f}x / {b['first_call']['ratio_wall']:.2f}x" if b else "-")
        print(f"| {key} | {a['dtype']} | {a['best_of_repeats']['ratio_wall']:.2f}x "
              f"({a['best_of_repeats']['read_label_map_wall_s']:.3f} s vs {a['best_of_repeats']['plain_wall_s']:.3f} s) | "
              f"{a['first_call']['ratio_wall']:.2f}x | {old} (best / first) |")
    print()


def classifier(d: Path) -> None:
    r = load(d, "classifier_cpu.json")
    if not r:
        return
    print(f"Classifier: {r['flops_per_image'] / 1e9:.3f} GFLOP per image (FlopCounterMode).\n")
    print("| classifier, fp32 | threads | images/s | GFLOP/s | % of same-run fp32 matmul peak |")
    print("|---|---|---|---|---|")
    for b in r["runs"]:
        for bs, e in b["eager"].items():
            print(f"| eager channels_last, {bs.replace('_', ' ')} | {b['threads']} | {e['images_per_s']:.0f} | "
                  f"{e['gflop_per_s']:.1f} | {e['percent_of_matmul_peak']:.0f}% of {b['matmul_peak']['gflop_per_s']:.0f} |")
        for k, label in (("eager_contiguous_batch_64", "eager contiguous (NCHW), batch 64"),
                         ("eager_no_grad_batch_64", "eager `no_grad` instead of `inference_mode`, batch 64")):
            e = b[k]
            print(f"| {label} | {b['threads']} | {e['images_per_s']:.0f} | {e['gflop_per_s']:.1f} | "
                  f"{e['percent_of_matmul_peak']:.0f}% |")
    th = r["options_threads"]
    e = r["eager_batch_64"]
    print(f"| eager, batch 64 (reference for the rows below) | {th} | {e['images_per_s']:.0f} | {e['gflop_per_s']:.1f} | "
          f"{e['percent_of_matmul_peak']:.0f}% |")
    c = r.get("compiled_batch_64")
    if c:
        print(f"| `--compile` (torch.compile), batch 64: {c['speedup_vs_eager']:.2f}x, max abs Sem deviation "
              f"{c['max_abs_sem_deviation']:.1e}, compile {c['compile_and_first_batch_s']:.0f} s | {th} | "
              f"{c['images_per_s']:.0f} | {c['gflop_per_s']:.1f} | {c['percent_of_matmul_peak']:.0f}% |")
    f = r.get("bf16_autocast_batch_64")
    if f:
        print(f"| bf16 autocast (rejected): {f['speedup_vs_eager']:.2f}x, max abs Sem deviation "
              f"{f['max_abs_sem_deviation']:.3f} on {f['samples']} samples | {th} | {f['images_per_s']:.0f} | "
              f"{f['gflop_per_s']:.1f} | {f['percent_of_matmul_peak']:.0f}% |")
    p = r["preprocessing"]
    print(f"\nPreprocessing (box-window-v1): batched {p['batched_images_per_s']:.0f} images/s vs one at a time "
          f"{p['per_sample_images_per_s']:.0f} ({p['speedup']:.2f}x, bit-identical: {p['bit_identical']}).\n")


def e2e(d: Path) -> None:
    for name in sorted(p.name for p in d.glob("e2e_cpu*.json")):
        r = load(d, name)
        print(f"`{name}` (threads: {r.get('threads') or 'torch default'}):\n")
        print("| samples | run | wall s | CPU s | peak RSS MiB | before: wall s | max abs diff of Sem vs the eager run |")
        print("|---|---|---|---|---|---|---|")
        for n, entry in r["sizes"].items():
            for run, s in entry.items():
                if "__" in run:
                    continue
                b = entry.get(f"{run}__baseline")
                diff = s.get("max_abs_diff_vs_sem_run", {}).get("sem")
                bdiff = (b or {}).get("max_abs_diff_vs_sem_run", {}).get("sem")
                print(f"| {n} | {run} | {s['wall_s']:.1f} | {s['user_s'] + s['sys_s']:.1f} | {s['peak_rss_mib']:.0f} | "
                      f"{b['wall_s']:.1f}" if b else f"| {n} | {run} | {s['wall_s']:.1f} | {s['user_s'] + s['sys_s']:.1f} | "
                      f"{s['peak_rss_mib']:.0f} | -", end="")
                print(f" | {'-' if diff is None else f'{diff:.1e}'}"
                      f"{'' if bdiff is None else f' (before vs after: {bdiff:.1e})'} |")
        print()


def main() -> None:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results"
    labelmap(d)
    read(d)
    classifier(d)
    e2e(d)


if __name__ == "__main__":
    main()
