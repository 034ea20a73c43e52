"""Measure how far Sem (Eq. 10) and SFD move when only the way of running sem-score changes.

Runs ``sem-score`` (the real entry point, one subprocess per configuration) on the same inputs under
every source of variation a user meets: the classifier batch size, ``--gt-cache`` cold or warm, the
number of CPU threads, the number of processes, ``--compile``, and the CPU instruction set (ATen's
kernels via ``ATEN_CPU_CAPABILITY``, oneDNN's convolutions via ``ONEDNN_MAX_CPU_ISA``). Each
configuration is compared with the reference run (batch 64, one thread, one process, eager, the
machine's default instruction set, no cache): the largest per-sample |delta Sem|, |delta mean Sem| and
|delta SFD| (absolute and relative). tIOU, hamm and NN must be bit-identical in every configuration
(integer counts); the script fails when they are not.

The registry's documented bounds (``sem_metric.registry``, ``Metric.reproducibility``) must hold
every figure this script prints, with a margin for machines it did not run on::

    python benchmarks/reproducibility.py --out benchmarks/results/reproducibility_cpu.json

Inputs: the shipped example (``examples/``) and a synthetic set (``benchmarks/synthetic.py``:
``--maps`` maps of 256 x 256 with 4 boxes each, seeded), scored together with
``--metrics tiou,hamm,nn,sem,sfd``.
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
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import machine_info, write_json  # noqa: E402
from synthetic import write_dataset  # noqa: E402

METRICS = "tiou,hamm,nn,sem,sfd"
EXACT = ("tiou", "hamm", "nn")

#: name -> (extra sem-score options, extra environment, launcher processes); the first is the reference
CONFIGS: Dict[str, Any] = {
    "reference": ([], {}, 1),
    "batch 1": (["--batch-size", "1"], {}, 1),
    "batch 7": (["--batch-size", "7"], {}, 1),
    "batch 256": (["--batch-size", "256"], {}, 1),
    "threads 2": (["--threads", "2"], {}, 1),
    "gt-cache cold": (["--gt-cache", "{cache}"], {}, 1),
    "gt-cache warm": (["--gt-cache", "{cache}"], {}, 1),
    "ISA avx2 (ATen)": ([], {"ATEN_CPU_CAPABILITY": "avx2"}, 1),
    "ISA avx2 (ATen + oneDNN)": ([], {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, 1),
    "processes 2": ([], {}, 2),
    "processes 3 + batch 5": (["--batch-size", "5"], {}, 3),
    "compile": (["--compile"], {}, 1),
}


def _run(name: str, data: Path, out: Path, cache: Path, threads_default: int) -> Dict[str, Any]:
    opts, env_extra, procs = CONFIGS[name]
    opts = [o.replace("{cache}", str(cache)) for o in opts]
    if "--threads" not in opts:
        opts += ["--threads", str(threads_default)]
    if procs > 1:
        opts += ["--processes", str(procs)]
    cmd = [sys.executable, "-m", "sem_metric.cli", str(data / "pred"), str(data / "gt"),
           "--boxes", str(data / "boxes.json"), "--metrics", METRICS, "--json", str(out), "-q"] + opts
    env = {**os.environ, **env_extra}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: sem-score exited {proc.returncode}\n{proc.stderr}")
    result = json.loads(out.read_text())
    result["_seconds"] = time.perf_counter() - t0
    return result


def _compare(ref: Dict[str, Any], cur: Dict[str, Any], name: str) -> Dict[str, Any]:
    for m in EXACT:
        a = [r[m] for r in ref["samples"]]
        b = [r[m] for r in cur["samples"]]
        if a != b or ref["means"][m] != cur["means"][m]:
            raise SystemExit(f"{name}: {m} is not bit-identical to the reference run")
    sem_a = [r["sem"] for r in ref["samples"]]
    sem_b = [r["sem"] for r in cur["samples"]]
    sfd_a, sfd_b = ref["means"]["sfd"], cur["means"]["sfd"]
    return {
        "sem_sample_max_abs": max(abs(x - y) for x, y in zip(sem_a, sem_b)),
        "sem_mean_abs": abs(ref["means"]["sem"] - cur["means"]["sem"]),
        "sfd_abs": abs(sfd_a - sfd_b),
        "sfd_rel": abs(sfd_a - sfd_b) / max(abs(sfd_a), 1e-300),
        "seconds": round(cur["_seconds"], 2),
    }


def _merge_examples(root: Path, data: Path) -> None:
    """Put the shipped example next to the synthetic set (under ``examples/``), boxes merged."""
    import shutil

    boxes = json.loads((data / "boxes.json").read_text())
    ex_boxes = json.loads((root / "examples" / "boxes.json").read_text())
    for side in ("pred", "gt"):
        shutil.copytree(root / "examples" / side, data / side / "examples")
    boxes.update({f"examples/{k}": v for k, v in ex_boxes.items()})
    (data / "boxes.json").write_text(json.dumps(boxes, sort_keys=True))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", type=int, default=60, help="synthetic maps (4 boxes each)")
    ap.add_argument("--threads", type=int, default=1, help="threads of every run but 'threads 2'")
    ap.add_argument("--skip", default="", help="comma-separated configuration names to skip")
    ap.add_argument("--out", help="JSON result path")
    args = ap.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    from sem_metric import registry

    with tempfile.TemporaryDirectory() as tmp:
        data = write_dataset(Path(tmp) / "data", maps=args.maps, size=256, boxes_per_map=4, seed=0)
        _merge_examples(HERE.parent, data)
        cache = Path(tmp) / "gt_cache.npz"
        ref = _run("reference", data, Path(tmp) / "ref.json", cache, args.threads)
        rows: Dict[str, Dict[str, Any]] = {}
        for name in CONFIGS:
            if name == "reference" or name in skip:
                continue
            cur = _run(name, data, Path(tmp) / "cur.json", cache, args.threads)
            rows[name] = _compare(ref, cur, name)
            print(f"{name:<28} {json.dumps(rows[name])}", flush=True)
    worst = {k: max(r[k] for r in rows.values()) for k in ("sem_sample_max_abs", "sem_mean_abs", "sfd_abs", "sfd_rel")}
    bounds = {m: registry.get(m).reproducibility.as_dict() for m in ("tiou", "hamm", "nn", "sem", "sfd")}
    result = {"machine": machine_info(args.threads), "samples": len(ref["samples"]), "sfd": ref["means"]["sfd"],
              "sem_mean": ref["means"]["sem"], "configs": rows, "worst": worst, "documented_bounds": bounds}
    sem_b, sfd_b = registry.get("sem").reproducibility, registry.get("sfd").reproducibility
    result["within_bounds"] = bool(worst["sem_sample_max_abs"] <= sem_b.bound(1.0)
                                   and worst["sfd_abs"] <= sfd_b.bound(ref["means"]["sfd"]))
    print(json.dumps({"worst": worst, "within_bounds": result["within_bounds"]}, indent=1))
    write_json(result, args.out)
    return 0 if result["within_bounds"] else 1


if __name__ == "__main__":
    sys.exit(main())
