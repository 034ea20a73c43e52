"""Reading label maps: ``read_label_map`` against a plain Pillow decode of the same files.

    python benchmarks/bench_read.py --out benchmarks/results/read_cpu.json

Writes 23 Cityscapes-sized (2048 x 1024) L-mode PNGs (and 16-bit ``I;16`` copies) with the seeded
synthetic scenes of ``benchmarks/synthetic.py`` to a temporary folder, then times, in one process,
``np.asarray(Image.open(p))`` and ``sem_metric.read_label_map(p)`` over all files: the first pass of
each (fresh memory, "first call") and the best of ``--repeats`` further passes. The two readers
alternate, so both see the same machine state.
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
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402
from _common import load_note, machine_info, write_json  # noqa: E402

from sem_metric.pipeline.io import read_label_map  # noqa: E402


def plain(paths):
    return [np.asarray(Image.open(p)) for p in paths]


def ours(paths):
    return [read_label_map(p) for p in paths]


def one_pass(fn, paths):
    c, w = time.process_time(), time.perf_counter()
    out = fn(paths)
    return time.perf_counter() - w, time.process_time() - c, out


def first_call(reader: str, paths) -> tuple:
    """One pass of ``reader`` in a fresh process (imports excluded): the first-call cost."""
    out = subprocess.run([sys.executable, __file__, "--worker", reader, *paths], capture_output=True, text=True,
                         check=True)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return d["wall_s"], d["cpu_s"]


def compare(paths, repeats):
    res = {}
    a, b = plain(paths[:2]), ours(paths[:2])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    res["dtype"] = str(b[0].dtype)
    fo, fp = first_call("ours", paths), first_call("plain", paths)
    res["first_call"] = {"plain_wall_s": fp[0], "read_label_map_wall_s": fo[0], "plain_cpu_s": fp[1],
                         "read_label_map_cpu_s": fo[1], "ratio_wall": fo[0] / fp[0], "ratio_cpu": fo[1] / fp[1],
                         "how": "one pass over all files in a fresh process each"}
    pw, pc, ow, oc = [], [], [], []
    for _ in range(repeats):
        w, c, _ = one_pass(plain, paths)
        pw.append(w), pc.append(c)
        w, c, _ = one_pass(ours, paths)
        ow.append(w), oc.append(c)
    res["best_of_repeats"] = {"plain_wall_s": min(pw), "read_label_map_wall_s": min(ow), "plain_cpu_s": min(pc),
                              "read_label_map_cpu_s": min(oc), "ratio_wall": min(ow) / min(pw),
                              "ratio_cpu": min(oc) / min(pc)}
    # pairwise ratios (each pass of ours against the plain pass just before it): robust to drifting load
    res["pairwise_ratio_wall_median"] = float(np.median(np.array(ow) / np.array(pw)))
    return res


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        w, c, _ = one_pass(plain if sys.argv[2] == "plain" else ours, sys.argv[3:])
        print(json.dumps({"wall_s": w, "cpu_s": c}))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maps", type=int, default=23)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    res = {"benchmark": "read_label_map", "machine": machine_info(), "note": load_note(), "maps": args.maps,
           "size_hw": [1024, 2048], "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        _, gts, _ = synthetic.cityscapes_like(maps=args.maps)
        l_paths, i16_paths = [], []
        for i, g in enumerate(gts):
            l_paths.append(os.path.join(tmp, f"{i}_L.png"))
            Image.fromarray(g).save(l_paths[-1])
            i16_paths.append(os.path.join(tmp, f"{i}_I16.png"))
            Image.fromarray(g.astype(np.uint16) * 257).save(i16_paths[-1])
        del gts
        res["L_png"] = compare(l_paths, args.repeats)
        res["I16_png"] = compare(i16_paths, args.repeats)
    res["loadavg_1_5_15_at_end"] = list(os.getloadavg())
    write_json(res, args.out)


if __name__ == "__main__":
    main()
