"""Table-1-style evaluation of TwoSM and TwoSM+DA (paper Sec. 4.1-4.2) on CamVid test label maps.

    python -m sem_metric.reference.evaluate \\
        --twosm benchmarks/reference/checkpoints/twosm_e8.safetensors \\
        --twosm-da benchmarks/reference/checkpoints/twosm_da_e8.safetensors \\
        --out benchmarks/reference/camvid_table

Rows (Sec. 4.1, ablation settings):

* TwoSM           - plain model, S^ of Eq. 2 (argmax Softmax(P~), fused with S^u).
* TwoSM+DA(Train) - model trained with Eq. 7, S^d of Eq. 8 (argmax P~^d, fused).
* TwoSM+DA(Test)  - plain model, S^d of Eq. 9 (argmax(Softmax(P~) * f^N) in the box).
* TwoSM+DA(Both)  - model trained with Eq. 7, Eq. 9 applied to P~^d.

Metrics inside the box, on S^ vs S^c (the registry, :mod:`sem_metric.registry`): tIOU, hamm, NN (noise pixels:
box pixels whose class is absent from the ground-truth box, the core default; NN>0 = share of samples
with any) and, when the shape
classifier loads (:func:`sem_metric.sem.weights.load_classifier`), Sem of Eq. 10 with the classifier's
sha256 recorded. Also reported: NN_fN (noise w.r.t. the f^N set of Eq. 4) and per-class means.
Samples: every 8-connected component of car / pedestrian / bicyclist with area >= ``--min-area-frac``
of the working-resolution image, box = its bounding box (deterministic).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .. import registry
from ..atomic import atomic_write_all
from ..engine.core import Engine
from ..errors import InputError, run_command
from ..labelmap.context import context_classes
from ..labelmap.target_object import object_crop
from ..sem.weights import load_classifier
from ..version import LABELMAP_METRICS_VERSION, __version__
from .da import da_test, inpaint, noise_filter
from .sism_data import CAMVID_CLASSES, SISMDataset, collate
from .train import build_samples, parse_command
from .twosm import TwoSM, load_generator

ROWS = (("TwoSM", "twosm", "plain", "Eq. 2: argmax Softmax(P), fused with S^u"),
        ("TwoSM+DA(Train)", "twosm_da", "plain", "Eq. 8: argmax P^d (Eqs. 5-6), fused with S^u"),
        ("TwoSM+DA(Test)", "twosm", "da_test", "Eq. 9: argmax(Softmax(P) * f^N) in the box"),
        ("TwoSM+DA(Both)", "twosm_da", "da_test", "Eq. 9 applied to P^d"))
#: a model-free reference row: S^u itself, i.e. the whole box filled with the target class
BASELINE = ("(reference) S^u: box filled with l^t", "none", "su", "no model: S^ = S^u")


@torch.no_grad()
def predict(model: TwoSM, samples, batch_size: int = 32) -> Dict[str, List[np.ndarray]]:
    """Inpainted maps of ``model`` for ``samples`` with and without test-time DA.

    Returns ``{"plain": [...], "da_test": [...]}``: Eq. 2 (or Eq. 8 for a DA-trained model, where the
    probabilities are P^d) and Eq. 9 on the same probabilities.
    """
    k = model.cfg.num_classes
    out: Dict[str, List[np.ndarray]] = {"plain": [], "da_test": []}
    ds = SISMDataset(samples)
    for i in range(0, len(ds), batch_size):
        b = collate([ds[j] for j in range(i, min(len(ds), i + batch_size))])
        f_n = noise_filter(b["seg_u"], b["mask"], b["label"], k)
        probs = model.predict_probs(b["seg_u"], b["mask"], f_n if model.cfg.use_da else None)
        out["plain"] += list(inpaint(probs, b["seg_u"], b["mask"]).numpy())
        out["da_test"] += list(da_test(probs, b["seg_u"], b["mask"], f_n).numpy())
    return out


def score(preds: Sequence[np.ndarray], samples, classifier=None) -> Dict[str, np.ndarray]:
    """Per-sample tIOU, hamm, NN, NN_fN and (with a classifier) Sem of Eq. 10 (Sec. 4.1 metrics).

    The metrics come from the registry (:mod:`sem_metric.registry`); NN_fN is NN with DA's allowed set
    f^N (Eq. 4, :func:`sem_metric.labelmap.context.context_classes`), NN>0 the share of samples with noise.
    """
    preds = list(preds)
    gts = [s.seg_c for s in samples]
    boxes = [s.box for s in samples]
    labels = [s.label for s in samples]
    res = {m: np.asarray(registry.get(m).compute(preds, gts, boxes, labels), dtype=np.float64)
           for m in ("tiou", "hamm", "nn")}
    res["nn_fn"] = registry.get("nn").compute(
        preds, gts, boxes, labels, allowed=[context_classes(s.seg_u, s.box, s.label) for s in samples]
    ).astype(np.float64)
    res["nn_any"] = (res["nn"] > 0).astype(np.float64)  # share of samples with at least one noise pixel
    if classifier is not None:  # Sem through the engine's classifier queue (the path of sem-score)
        lab = [int(v) for v in labels]
        bl = [tuple(int(v) for v in b) for b in boxes]
        res["sem"] = Engine(("sem",), classifier=classifier).classified_values(
            [object_crop(p, b, l) for p, b, l in zip(preds, bl, lab)],
            [object_crop(g, b, l) for g, b, l in zip(gts, bl, lab)], lab)["sem"]
    return res


def _summ(values: np.ndarray) -> Dict[str, float]:
    v = np.asarray(values, np.float64)
    se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "se": se}


def _load_classifier(arg: Optional[str]):
    if arg == "none":
        return None, "Sem omitted (--classifier none)"
    # a classifier that cannot be found or verified is an error (WeightsError: one error line, exit 2),
    # never a table that silently lacks its Sem column; omitting Sem is asked for with --classifier none

    return load_classifier(None if arg in (None, "default") else arg, device="cpu"), None


def evaluate(args: argparse.Namespace) -> Dict:
    """Run the Sec. 4.2 / Table 1-style evaluation (rows: Eq. 2, Eq. 8, Eq. 9) and return the result dict
    written as JSON (see the module docstring)."""
    torch.set_num_threads(args.threads)
    size_hw = tuple(args.size)
    samples, k, tl = build_samples("camvid", args.data_root, [args.split], size_hw, args.min_area_frac,
                                   max_per_image=args.max_per_image, seed=args.seed, limit=args.limit)
    clf, sem_note = _load_classifier(args.classifier)
    groups = {"twosm": [load_generator(p) for p in args.twosm], "twosm_da": [load_generator(p) for p in args.twosm_da]}
    for name, models in groups.items():
        for m in models:
            if m.cfg.use_da != (name == "twosm_da"):
                raise InputError(f"--{name.replace('_', '-')}: checkpoint trained with use_da={m.cfg.use_da}; pass "
                                 "plain TwoSM generators to --twosm and DA-trained ones to --twosm-da")
            if m.cfg.num_classes != k:
                raise InputError(f"checkpoint has {m.cfg.num_classes} classes, CamVid has {k}; it was not trained on "
                                 "CamVid")
    # predictions, per model, then per-sample scores
    scores: Dict[tuple, List[Dict[str, np.ndarray]]] = {}
    for name, models in groups.items():
        for m in models:
            pr = predict(m, samples)
            for mode in ("plain", "da_test"):
                scores.setdefault((name, mode), []).append(score(pr[mode], samples, clf))
    scores[("none", "su")] = [score([smp.seg_u for smp in samples], samples, clf)]
    metric_names = ["tiou", "hamm", "nn", "nn_fn", "nn_any"] + (["sem"] if clf is not None else [])
    cls_names = {int(l): CAMVID_CLASSES[int(l)] for l in tl}
    labels = np.array([s.label for s in samples])
    rows = []
    for title, name, mode, how in ROWS + (BASELINE,):
        runs = scores[(name, mode)]
        # mean over seeds of each sample's score, then mean (and s.e.) over samples
        avg = {mn: np.mean([r[mn] for r in runs], axis=0) for mn in metric_names}
        row = {"method": title, "model": name, "inference": how, "num_models": len(runs)}
        for mn in metric_names:
            row[mn] = _summ(avg[mn])
        row["per_model"] = [{mn: float(np.mean(r[mn])) for mn in metric_names} for r in runs]
        row["per_class"] = {cls_names[c]: {mn: float(np.mean(avg[mn][labels == c])) for mn in metric_names}
                            for c in cls_names if (labels == c).any()}
        rows.append(row)
    # paired differences vs TwoSM (same samples; s.e. over samples)
    base = {mn: np.mean([r[mn] for r in scores[("twosm", "plain")]], axis=0) for mn in metric_names}
    for row, (title, name, mode, _) in zip(rows[1:], ROWS[1:] + (BASELINE,)):
        cur = {mn: np.mean([r[mn] for r in scores[(name, mode)]], axis=0) for mn in metric_names}
        row["diff_vs_twosm"] = {mn: _summ(cur[mn] - base[mn]) for mn in metric_names}
    result = {
        "dataset": "camvid", "split": args.split, "size_hw": list(size_hw), "min_area_frac": args.min_area_frac,
        "num_samples": len(samples), "num_images": len({s.name for s in samples}),
        "samples_per_class": {cls_names[c]: int((labels == c).sum()) for c in cls_names},
        "num_classes": k, "unlabelled": "class 11 kept as an ordinary class (input, f^N, loss, metrics)",
        "nn_definition": "NN: box pixels of S^ whose class does not occur in the ground-truth box "
                         "(sem_metric.labelmap.metrics.noise_count default); NN_fN: box pixels whose class is not "
                         "in f^N (Eq. 4: classes on the context ring + target); NN>0: share of samples "
                         "with at least one noise pixel",
        "rows": rows[:len(ROWS)], "reference_rows": rows[len(ROWS):],
        "checkpoints": {name: [{"path": str(p), "sha256": m.sha256, "train": m.meta.get("command")}
                               for p, m in zip(getattr(args, name), models)] for name, models in groups.items()},
        "classifier": None if clf is None else {kk: clf.info.get(kk) for kk in ("name", "sha256", "source", "arch",
                                                                                   "preprocessing", "input_size")},
        "sem_note": sem_note,
        "labelmap_metrics_version": LABELMAP_METRICS_VERSION, "sem_metric_version": __version__,
        "command": getattr(args, "command_line", None),
    }
    return result


def to_markdown(res: Dict) -> str:
    """Markdown rendering of :func:`evaluate`'s result (Table 1 layout of the paper, Sec. 4.2)."""
    has_sem = any("sem" in r for r in res["rows"])
    head = "| Method | tIOU ↑ | hamm ↑ | NN ↓ | " + ("Sem ↓ | " if has_sem else "") + "NN_fN ↓ | NN>0 ↓ | inference |"
    sep = "|---" * (head.count("|") - 1) + "|"
    lines = [f"# TwoSM vs TwoSM+DA on CamVid {res['split']} ({res['size_hw'][0]}x{res['size_hw'][1]})", "",
             f"{res['num_samples']} SISM samples from {res['num_images']} label maps "
             f"({', '.join(f'{k} {v}' for k, v in res['samples_per_class'].items())}); "
             f"mean ± standard error over samples"
             + (f", averaged over {res['rows'][0]['num_models']} seeds per model" if res['rows'][0]['num_models'] > 1 else "")
             + ".", "", head, sep]
    for r in res["rows"] + res.get("reference_rows", []):
        cells = [r["method"]] + [f"{r[m]['mean']:.4f} ± {r[m]['se']:.4f}" for m in ("tiou", "hamm")]
        cells += [f"{r['nn']['mean']:.3f} ± {r['nn']['se']:.3f}"]
        if has_sem:
            cells += [f"{r['sem']['mean']:.4f} ± {r['sem']['se']:.4f}"]
        cells += [f"{r['nn_fn']['mean']:.3f}", f"{r['nn_any']['mean']:.3f}", r["inference"]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Paired difference to TwoSM (same samples, mean ± s.e.):", "",
              "| Method | Δ tIOU | Δ hamm | Δ NN |" + (" Δ Sem |" if has_sem else ""),
              "|---|---|---|---|" + ("---|" if has_sem else "")]
    for r in res["rows"][1:] + res.get("reference_rows", []):
        d = r["diff_vs_twosm"]
        cells = [r["method"]] + [f"{d[m]['mean']:+.4f} ± {d[m]['se']:.4f}" for m in ("tiou", "hamm")]
        cells += [f"{d['nn']['mean']:+.3f} ± {d['nn']['se']:.3f}"]
        if has_sem:
            cells += [f"{d['sem']['mean']:+.4f} ± {d['sem']['se']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    classes = list(res["samples_per_class"])
    lines += ["", "Per class (means):", "",
              "| Method | " + " | ".join(f"{c} tIOU | {c} NN" for c in classes) + " |",
              "|---" * (1 + 2 * len(classes)) + "|"]
    for r in res["rows"] + res.get("reference_rows", []):
        pc = r["per_class"]
        lines.append("| " + r["method"] + " | " + " | ".join(
            f"{pc[c]['tiou']:.4f} | {pc[c]['nn']:.3f}" if c in pc else "- | -" for c in classes) + " |")
    n_models = len(res["rows"][0]["per_model"])
    if n_models > 1:
        ms = ["tiou", "hamm", "nn"] + (["sem"] if has_sem else [])
        lines += ["", "Per trained model (checkpoint order below; means over samples):", "",
                  "| Method | " + " | ".join(f"#{i} {m}" for i in range(n_models) for m in ms) + " |",
                  "|---" * (1 + n_models * len(ms)) + "|"]
        for r in res["rows"]:
            lines.append("| " + r["method"] + " | " + " | ".join(
                f"{pm[m]:.3f}" if m == "nn" else f"{pm[m]:.4f}" for pm in r["per_model"] for m in ms) + " |")
    lines += ["", res["nn_definition"] + ".", "",
              f"Label 11 (unlabelled): {res['unlabelled']}.", ""]
    if res.get("classifier"):
        c = res["classifier"]
        lines += [f"Sem classifier: {c.get('name')} ({c.get('arch')}), sha256 `{c.get('sha256')}`, "
                  f"preprocessing {c.get('preprocessing')}.", ""]
    elif res.get("sem_note"):
        lines += [res["sem_note"] + ". Re-run the command below once the classifier loads to add the column.", ""]
    lines += ["Checkpoints:", ""]
    for name, cks in res["checkpoints"].items():
        for ck in cks:
            lines.append(f"- {name}: `{ck['path']}` sha256 `{ck['sha256']}`")
    lines += ["", "Command:", "", "```", res.get("command") or "", "```", ""]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """Command-line options of ``python -m sem_metric.reference.evaluate`` (Sec. 4.1 metrics, Table 1 rows)."""
    p = argparse.ArgumentParser(prog="python -m sem_metric.reference.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--twosm", nargs="+", required=True, help="TwoSM generator(s) (.safetensors, one per seed)")
    p.add_argument("--twosm-da", nargs="+", required=True, help="TwoSM+DA(Train) generator(s)")
    p.add_argument("--data-root", default=None, help="CamVid folder (default ../shared/data/camvid)")
    p.add_argument("--split", default="test")
    p.add_argument("--size", nargs=2, type=int, default=[96, 128], metavar=("H", "W"))
    p.add_argument("--min-area-frac", type=float, default=0.001)
    p.add_argument("--max-per-image", type=int, default=None, help="seeded subset of targets per image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="first N maps only (smoke tests)")
    p.add_argument("--classifier", default="default",
                   help="Sem classifier weights: 'default' (shipped), a path / registry name, or 'none'")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/reference/camvid_table", help="output stem (.json and .md)")
    return p


def _main(argv: Optional[List[str]] = None) -> int:
    args = parse_command(parser(), argv, "sem_metric.reference.evaluate")
    res = evaluate(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    md = to_markdown(res)
    text = json.dumps(res, indent=2) + "\n"
    atomic_write_all([(out.with_suffix(".json"), lambda f: f.write(text), False),
                      (out.with_suffix(".md"), lambda f: f.write(md), False)])
    print(md)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``python -m sem_metric.reference.evaluate`` (Sec. 4.2, Table 1): writes ``<out>.json``
    and ``<out>.md`` (both or neither). Bad input (a missing checkpoint, a classifier that cannot be
    loaded or verified) is one ``error:`` line and exit 2, Ctrl-C exit 130 (:func:`sem_metric.errors.run_command`)."""
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
