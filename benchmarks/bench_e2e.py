"""End to end: ``sem-score`` on synthetic folders, wall time and peak RSS of the whole process.

    python benchmarks/bench_e2e.py --sizes 1000,10000 --out benchmarks/results/e2e_cpu.json
    # the same runs for another checkout, interleaved in one session (before/after ratios):
    python benchmarks/bench_e2e.py --sizes 10000 --baseline-pythonpath ../main --out ...

Data (``benchmarks/synthetic.write_dataset``, seeded, cached under ``--data``): ``N / 4`` pairs of
256 x 256 L-mode PNGs with 4 boxes each (N samples). Runs, each a fresh ``python -m sem_metric.cli``
process timed from outside (``os.wait4`` gives its peak RSS):

* ``label_only``   ``--metrics tiou,hamm,nn``
* ``sem``          ``--metrics tiou,hamm,nn,sem``
* ``sem_warm_cache`` the same with a ``--gt-cache`` filled by a previous (untimed) run
* ``sem_compile``  ``--compile`` (includes the one-time compilation; inductor's on-disk cache is warm
                   after the first compiled run of the session, which is untimed)
* ``sem_sfd``      ``--metrics tiou,hamm,nn,sem,sfd`` (issue 18: one classifier pass serves both; the
                   ratio to ``sem`` is printed; repeat both runs in ABBA order, e.g.
                   ``--runs sem,sem_sfd,sem_sfd,sem,sem,sem_sfd``, for run-by-run ratios and their median)
* ``forward``      in this process, the classifier's own forward passes on exactly the windows the
                   ``sem`` run classifies (non-identical objects, prediction and ground truth, batches of
                   64 like sem-score), timed alone; the ratio ``sem`` wall / forward is printed

``--threads`` is passed to every Sem run. Each run's per-sample values are compared with the first
``sem`` run (and with the baseline checkout's): the largest |difference| is reported per metric.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402
from _common import load_note, machine_info, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args, pythonpath: str, out_json: str, env_extra=None) -> dict:
    """Run ``python -m sem_metric.cli ARGS -q --json OUT`` as a fresh process: wall, CPU and peak RSS.

    Peak RSS comes from GNU ``/usr/bin/time -f %M`` when available: a child forked from this (large)
    benchmark process would count the parent's pages in its own high-water mark (``ru_maxrss`` keeps
    the pre-``exec`` peak), so ``os.wait4`` is only the fallback.
    """
    env = dict(os.environ, PYTHONPATH=pythonpath, **(env_extra or {}))
    cmd = [sys.executable, "-m", "sem_metric.cli", *args, "-q", "--json", out_json]
    gnu_time = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
    stats_file = out_json + ".time"
    if gnu_time:
        cmd = [gnu_time, "-f", "%e %U %S %M", "-o", stats_file] + cmd
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}): {err[-2000:]}")
    out = {"wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime}
    if gnu_time:
        _, user, system, kib = Path(stats_file).read_text().split()[-4:]
        out.update(user_s=float(user), sys_s=float(system), peak_rss_mib=int(kib) / 1024,
                   peak_rss_source="/usr/bin/time %M")
    else:
        out.update(peak_rss_mib=usage.ru_maxrss / 1024, peak_rss_source="wait4 (includes this process's RSS at fork)")
    return out


def forward_time(data: Path, threads, device=None, batch_size: int = 64) -> dict:
    """Seconds of the classifier's forward passes alone on the windows a ``sem`` run classifies (issue 18)."""
    import torch

    from sem_metric.labelmap.target_object import object_crop
    from sem_metric.pipeline.io import read_boxes, read_label_map
    from sem_metric.sem.metric import probabilities_from_inputs
    from sem_metric.sem.preprocess import windows_from_crops
    from sem_metric.sem.weights import load_classifier

    from sem_metric._allocator import keep_freed_memory

    if threads:
        torch.set_num_threads(int(threads))
    keep_freed_memory()  # the malloc setting sem-score itself runs with: the same conditions, not page faults
    clf = load_classifier(None, device=device or "cpu")
    queue, seconds, windows = [], 0.0, 0

    def flush() -> float:
        x = windows_from_crops([q[0] for q in queue] + [q[1] for q in queue])
        t = time.perf_counter()
        probabilities_from_inputs(x, clf, batch_size=batch_size)
        return time.perf_counter() - t

    for rel, entries in sorted(read_boxes(str(data / "boxes.json")).items()):
        pred, gt = read_label_map(str(data / "pred" / rel)), read_label_map(str(data / "gt" / rel))
        for e in entries:
            o_p, o_g = object_crop(pred, e.box, e.label), object_crop(gt, e.box, e.label)
            if np.array_equal(o_p, o_g):
                continue
            queue.append((o_p, o_g))
            windows += 2
            if len(queue) >= batch_size:
                seconds += flush()
                queue = []
    if queue:
        seconds += flush()
    return {"forward_s": seconds, "windows": windows, "threads": torch.get_num_threads()}


def values(path: str) -> dict:
    r = json.loads(Path(path).read_text())
    return {m: np.array([s[m] for s in r["samples"]], dtype=np.float64) for m in r["metrics"]
            if r["samples"] and m in r["samples"][0]}      # per-sample metrics (not SFD)


def max_diff(a: dict, b: dict) -> dict:
    return {m: float(np.abs(a[m] - b[m]).max()) for m in a if m in b}


def paired_ratios(a: dict, b: dict) -> dict:
    """Ratios of the i-th runs of ``a`` and ``b`` (repeated runs, e.g. ``--runs sem,sem_sfd,sem_sfd,sem``:
    neighbours pair up, so load drifting over the session cancels) and their median; {} without repeats."""
    wa, wb = a.get("walls_s"), b.get("walls_s")
    if not wa or not wb or len(wa) != len(wb):
        return {}
    ratios = [x / y for x, y in zip(wa, wb)]
    return {"ratios": ratios, "median": float(np.median(ratios)),
            "ratio_of_medians": float(np.median(wa) / np.median(wb))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000", help="numbers of samples (4 per map)")
    p.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "sem_metric_bench_e2e")
    p.add_argument("--threads", type=int, default=None, help="--threads for the Sem runs (default: torch's)")
    p.add_argument("--device", default=None, help="--device for the Sem runs (cpu, cuda; default: sem-score's auto)")
    p.add_argument("--runs", default="label_only,sem,sem_warm_cache,sem_compile,sem_sfd,forward")
    p.add_argument("--baseline-pythonpath", default=None,
                   help="another checkout to time the same runs with (skips runs it does not support)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    runs = args.runs.split(",")
    res = {"benchmark": "e2e", "machine": machine_info(), "note": load_note(), "threads": args.threads,
           "device": args.device,
           "sizes": {}, "baseline_pythonpath": args.baseline_pythonpath}
    trees = [("this", str(ROOT))] + ([("baseline", os.path.abspath(args.baseline_pythonpath))]
                                     if args.baseline_pythonpath else [])
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            data = synthetic.write_dataset(args.data / f"n{n}", maps=n // 4, size=256, boxes_per_map=4)
            base = [str(data / "pred"), str(data / "gt"), "--boxes", str(data / "boxes.json")]
            sem = base + ["--metrics", "tiou,hamm,nn,sem"] + (["--threads", str(args.threads)] if args.threads else []) \
                + (["--device", args.device] if args.device else [])
            entry: dict = {}
            ref_values = None
            for run in runs:
                for tree, pp in trees:
                    key = run if tree == "this" else f"{run}__baseline"
                    out = os.path.join(tmp, f"{n}_{key}.json")
                    if run == "forward":
                        if tree == "this":
                            entry["forward"] = forward_time(data, args.threads, args.device)
                            print(f"n={n} forward: {entry['forward']}", file=sys.stderr)
                        continue
                    if run == "label_only":
                        cli = base + ["--metrics", "tiou,hamm,nn"]
                    elif run == "sem_sfd":
                        cli = [a if a != "tiou,hamm,nn,sem" else "tiou,hamm,nn,sem,sfd" for a in sem]
                    elif run == "sem":
                        cli = sem
                    elif run == "sem_warm_cache":
                        cache = os.path.join(tmp, f"{n}_{tree}_cache.npz")
                        run_cli(sem + ["--gt-cache", cache], pp, out)  # fill (untimed)
                        cli = sem + ["--gt-cache", cache]
                    elif run == "sem_compile":
                        if tree == "baseline":
                            continue  # the baseline has no --compile
                        if not entry.get("_compile_warmed"):
                            run_cli(sem + ["--compile"], pp, out)  # fill inductor's on-disk cache (untimed)
                            entry["_compile_warmed"] = True
                        cli = sem + ["--compile"]
                    else:
                        raise SystemExit(f"unknown run {run!r}")
                    stats = run_cli(cli, pp, out)
                    vals = values(out)
                    if ref_values is None and run == "sem" and tree == "this":
                        ref_values = vals
                    if ref_values is not None:
                        stats["max_abs_diff_vs_sem_run"] = max_diff(vals, ref_values)
                    if key in entry:                 # a repeated run (interleaved): keep the fastest, list all
                        stats["walls_s"] = entry[key].get("walls_s", [entry[key]["wall_s"]]) + [stats["wall_s"]]
                        if entry[key]["wall_s"] < stats["wall_s"]:
                            stats = {**entry[key], "walls_s": stats["walls_s"]}
                    entry[key] = stats
                    print(f"n={n} {key}: {stats}", file=sys.stderr)
            entry.pop("_compile_warmed", None)
            if "sem" in entry and "sem_sfd" in entry:
                entry["sem_sfd_over_sem"] = entry["sem_sfd"]["wall_s"] / entry["sem"]["wall_s"]
                print(f"n={n} sem,sfd / sem wall: {entry['sem_sfd_over_sem']:.3f}", file=sys.stderr)
                paired = paired_ratios(entry["sem_sfd"], entry["sem"])
                if paired:
                    entry["sem_sfd_over_sem_paired"] = paired
                    print(f"n={n} sem,sfd / sem, run by run: {paired}", file=sys.stderr)
            if "sem" in entry and "forward" in entry:
                entry["sem_over_forward"] = entry["sem"]["wall_s"] / entry["forward"]["forward_s"]
                print(f"n={n} sem wall {entry['sem']['wall_s']:.2f} s / forward {entry['forward']['forward_s']:.2f} s"
                      f" = {entry['sem_over_forward']:.3f}", file=sys.stderr)
            for run in runs:
                if f"{run}__baseline" in entry and run in entry:
                    entry[f"{run}__speedup_vs_baseline"] = entry[f"{run}__baseline"]["wall_s"] / entry[run]["wall_s"]
            res["sizes"][str(n)] = entry
    res["loadavg_1_5_15_at_end"] = list(os.getloadavg())
    write_json(res, args.out)


if __name__ == "__main__":
    main()
