"""Helpers shared by the performance benchmarks: machine description, timers, JSON output.

Timings: ``wall`` is the best (minimum) wall-clock time of ``repeats`` runs; ``cpu`` the best CPU time of
this thread (``time.thread_time``) or process. On a shared, loaded machine wall time measures the
contention as much as the code, so ratios are always taken within one run and both clocks are kept.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(threads: int | None = None) -> Dict[str, Any]:
    """CPU model, cores, load, library versions and thread settings of this run."""
    import numpy as np

    info: Dict[str, Any] = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "loadavg_1_5_15_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
    }
    try:
        import torch

        info.update({"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                     "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
                     "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None})
    except ImportError:
        pass
    try:
        import PIL

        info["pillow"] = PIL.__version__
    except ImportError:
        pass
    try:
        import sem_metric

        info["sem_metric"] = sem_metric.__version__
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(sem_metric.__file__).parent)
        info["git_commit"] = rev.stdout.strip() or None
    except Exception:  # noqa: BLE001 - informational only
        pass
    if threads is not None:
        info["threads_requested"] = threads
    return info


def timed(fn: Callable[[], Any], repeats: int = 3, clock: str = "thread") -> Dict[str, float]:
    """Best and median wall seconds and best CPU seconds (``clock``: "thread" or "process") of ``fn()``."""
    cpu_clock = time.thread_time if clock == "thread" else time.process_time
    walls, cpus = [], []
    for _ in range(repeats):
        c0, w0 = cpu_clock(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(cpu_clock() - c0)
    return {"wall_s": min(walls), "wall_median_s": statistics.median(walls), "cpu_s": min(cpus)}


def write_json(result: Dict[str, Any], out: str | os.PathLike | None) -> None:
    text = json.dumps(result, indent=1, sort_keys=False)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
        print(f"wrote {out}", file=sys.stderr)


def load_note() -> str:
    return ("measured on a shared machine: ratios are within one run; absolute numbers depend on the load "
            "(see loadavg); 'cpu' columns are CPU seconds of the measuring thread/process, less affected by "
            "other jobs than wall time")
