"""Apply the v4 selection and ship rule (``SELECTION_RULE.md`` beside this file, issue #25).

    # selection figures for v3 and the v4 epochs (no CamVid test anywhere), the chosen epoch, calibration
    python benchmarks/classifier/v4/evaluate_v4.py select --threads 1 --out benchmarks/classifier/v4/selection.json \
        --candidates sem-lite0-v3 runs/classifier_lite0_v4/epoch_00[2-5].safetensors
    # report figures for v3 and the chosen epoch: report-half latent-GT AUC (with CamVid test) and the
    # camvid-test F@GT from sem-score's own per-class output (JSON files given by --fgt NAME=PATH)
    python benchmarks/classifier/v4/evaluate_v4.py report --threads 1 --out benchmarks/classifier/v4/report.json \
        --candidates sem-lite0-v3 runs/classifier_lite0_v4/epoch_005.safetensors \
        --fgt sem-lite0-v3=cache/v4_eval/fgt_v3.json runs/...=cache/v4_eval/fgt_v4.json

The first candidate is the reference (v3). Latent-GT scores per classifier are cached by sha256 in
``--cache``; the bootstrap resamples the anchors of every source together for all classifiers (paired).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from benchmarks.classifier.paired_auc import balanced_top1, macro_auc  # noqa: E402
from benchmarks.classifier.select_classifier import ece, nll, softmax  # noqa: E402
from benchmarks.validity.stats import percentile_interval  # noqa: E402

CAMVID_VAL_BLOCK = 20  # frame numbers per pairing group of CamVid val (see heldout_sets)


def heldout_sets(stage: str) -> dict:
    """The latent-GT sources: ``select`` = coco, voc, animal held-out banks + CamVid **val**;
    ``report`` = the study's standard four (CamVid **test**)."""
    from benchmarks.validity.shapes import camvid_set, load_heldout_sets

    sets = load_heldout_sets(("coco", "voc", "animal"))
    if stage == "select":
        s = camvid_set(split="valannot")
        s.name = "camvid_val"
        # CamVid val is one sequence (0016E5), so the study's "partner from another sequence" leaves no
        # pair: groups are blocks of 20 frame numbers (10 annotated frames) instead
        s.groups = np.array([int(f.split("_")[1]) // CAMVID_VAL_BLOCK for f in s.meta["frames"]], dtype=np.int64)
        sets["camvid_val"] = s
    else:
        sets["camvid"] = camvid_set()
    return sets


def latent_scores(model, sets: dict, split: str, cache: Path, tag: str) -> dict:
    """Per source: (same-class Sem, other-class Sem, anchors), cached as ``<cache>/<sha>_<tag>.npz``."""
    from benchmarks.validity.latent_gt import latent_gt_auc

    path = cache / f"{model.info['sha256']}_{tag}.npz"
    if path.is_file():
        z = np.load(path)
        names = [k[:-len(".same")] for k in z.files if k.endswith(".same")]
        return {n: (z[n + ".same"], z[n + ".diff"], z[n + ".anchor"]) for n in names}
    res = latent_gt_auc(model, banks=sets, split=split, n_boot=1, return_scores=True)
    out = {name: (r["scores"]["same"]["sem"], r["scores"]["diff"]["sem"], r["pairs"]["anchor"])
           for name, r in res["_scores"].items()}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{f"{n}.{k}": v for n, t in out.items() for k, v in zip(("same", "diff", "anchor"), t)})
    return out


def paired_macro(scores: dict, ref: str, n_boot: int, seed: int) -> dict:
    """Macro AUC per candidate with its 95% interval, and minus the reference's with the paired interval."""
    rng = np.random.default_rng(seed)
    sizes = {name: v[2].size for name, v in scores[ref].items()}
    for c in scores:
        for name in sizes:
            if not np.array_equal(scores[c][name][2], scores[ref][name][2]):
                raise SystemExit(f"{c}: anchors of {name} differ from the reference's")
    reps = {c: np.empty(n_boot) for c in scores}
    for b in range(n_boot):
        idx = {name: rng.integers(0, n, n) for name, n in sizes.items()}
        for c in scores:
            reps[c][b] = macro_auc(scores[c], idx)[0]
    out = {"n_anchors": sizes, "rows": {}}
    ref_point = macro_auc(scores[ref])[0]
    for c in scores:
        auc, per = macro_auc(scores[c])
        lo, hi = percentile_interval(reps[c])
        dlo, dhi = percentile_interval(reps[c] - reps[ref])
        out["rows"][c] = {"macro_auc": round(auc, 4), "ci": [round(lo, 4), round(hi, 4)],
                          "sources": {k: round(v, 4) for k, v in per.items()},
                          "diff": round(auc - ref_point, 4), "diff_ci": [round(dlo, 4), round(dhi, 4)]}
    return out


def paired_accuracy(hits: dict, labels: np.ndarray, ref: str, n_boot: int, seed: int) -> dict:
    """Balanced top-1 per candidate (95% interval) and minus the reference's (paired interval over shapes)."""
    rng = np.random.default_rng(seed)
    boot = [rng.integers(0, len(labels), len(labels)) for _ in range(n_boot)]
    reps = {c: np.array([balanced_top1(h[i], labels[i]) for i in boot]) for c, h in hits.items()}
    out = {}
    for c, h in hits.items():
        point = balanced_top1(h, labels)
        lo, hi = percentile_interval(reps[c])
        dlo, dhi = percentile_interval(reps[c] - reps[ref])
        out[c] = {"balanced_top1": round(point, 4), "ci": [round(lo, 4), round(hi, 4)],
                  "diff": round(point - balanced_top1(hits[ref], labels), 4), "diff_ci": [round(dlo, 4), round(dhi, 4)]}
    return out


def bank_logits(model, names: tuple, banks_dir: Path, cache: Path | None = None) -> dict:
    """Logits of F for every shape of each named bank (no augmentation) and the bank's labels; cached as
    ``<cache>/<sha>_<bank>_logits.npy`` when ``cache`` is given."""
    from sem_metric.training.shape_bank import ShapeBank
    from sem_metric.training.train_classifier import predict_logits

    out = {}
    for n in names:
        bank = ShapeBank.load(banks_dir / f"{n}.npz")
        path = None if cache is None else cache / f"{model.info['sha256']}_{n}_logits.npy"
        if path is not None and path.is_file():
            out[n] = (np.load(path), bank.labels)
            continue
        out[n] = (predict_logits(model, bank), bank.labels)
        if path is not None:
            cache.mkdir(parents=True, exist_ok=True)
            np.save(path, out[n][0])
    return out


def calibration(logits: dict) -> dict:
    """15-bin ECE over val_coco + val_voc + val_animal at T = 1 and at the NLL-optimal temperature."""
    lg = np.concatenate([logits[n][0] for n in ("val_coco", "val_voc", "val_animal")])
    lb = np.concatenate([logits[n][1] for n in ("val_coco", "val_voc", "val_animal")])
    grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 60))
    t_nll = float(grid[int(np.argmin([nll(lg, lb, t) for t in grid]))])
    return {"t_nll": round(t_nll, 3), "nll_t1": round(nll(lg, lb, 1.0), 4), "nll_tnll": round(nll(lg, lb, t_nll), 4),
            "ece_t1": round(ece(softmax(lg, 1.0), lb), 4), "ece_tnll": round(ece(softmax(lg, t_nll), lb), 4)}


def per_class_rate(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 rate per class present (COCO name -> {n, agree, rate}): F@GT on a bank of Eq. 10 views."""
    from sem_metric.sem.classes import COCO_CLASSES

    top = logits.argmax(1)
    return {COCO_CLASSES[int(c)]: {"n": int((labels == c).sum()), "agree": int((top[labels == c] == c).sum()),
                                   "rate": round(float((top[labels == c] == c).mean()), 4)} for c in np.unique(labels)}


def gate_checks(row: dict, refrow: dict, banks: tuple) -> dict:
    """The selection gates of the rule for one candidate against the reference (v3)."""
    return {
        "S1_beats_v3_beyond_noise": bool(row["S1_latent_select"]["diff_ci"][0] > 0),
        "S2_not_worse": bool(all(row["S2_balanced_top1"][b]["diff_ci"][1] >= 0 for b in banks)),
        "S3_not_below_v3": bool(all(row["S3_camvid_val_fgt"][k]["rate"] >= refrow["S3_camvid_val_fgt"][k]["rate"]
                                    for k in ("car", "person"))),
    }


def choose(cands: list, refrow: dict, banks: tuple, how: str = "score") -> dict:
    """The chosen candidate and its verdict. ``score`` (v4, v4b, v4c rules): the highest score (ties within
    0.001: the later epoch, i.e. the larger file name), then its gates. ``admissible`` (v4d rule): gates
    first, then the highest score among the candidates passing all of them (ties within 0.001: the one
    listed first); none passing: no choice."""
    checks = {r["candidate"]: gate_checks(r, refrow, banks) for r in cands}
    if how == "admissible":
        pool = [r for r in cands if all(checks[r["candidate"]].values())]
        if not pool:
            return {"rule": how, "chosen": None, "admissible": [], "checks_all": checks, "selection_figures_pass": False}
        top = max(r["score"] for r in pool)
        best = next(r for r in pool if r["score"] >= top - 0.001)
    else:
        top = max(r["score"] for r in cands)
        best = max((r for r in cands if r["score"] >= top - 0.001), key=lambda r: r["candidate"])
    out = {"chosen": best["candidate"], "sha256": best["sha256"], "checks": checks[best["candidate"]],
           "selection_figures_pass": bool(all(checks[best["candidate"]].values()))}
    if how == "admissible":
        out["admissible"] = [r["candidate"] for r in pool]
        out["checks_all"] = checks
    return {"rule": how, **out}


def verdict_line(v: dict) -> str:
    """One Markdown line: what the rule chose and why."""
    def gates(checks: dict) -> str:
        return ", ".join(f"{k} = {'yes' if ok else 'NO'}" for k, ok in checks.items())

    if v.get("rule") == "admissible":
        per = "; ".join(f"`{c}`: {gates(ch)}" for c, ch in v["checks_all"].items())
        if v["chosen"] is None:
            return f"Gates first (v4d rule): no candidate passes every gate ({per}); nothing is chosen."
        return (f"Gates first (v4d rule): admissible {', '.join(f'`{c}`' for c in v['admissible'])}; chosen (highest "
                f"score among them): `{v['chosen']}`; selection figures pass: **yes**. All gates: {per}.")
    return (f"Chosen (highest score): `{v['chosen']}`; checks: {gates(v['checks'])}; selection figures pass: "
            f"**{'yes' if v['selection_figures_pass'] else 'no'}**.")


def run_select(args) -> dict:
    """Selection figures S1-S3, calibration, the epoch score and the rule's verdict (see SELECTION_RULE.md)."""
    from sem_metric import load_classifier

    sets = heldout_sets("select")
    ref = args.candidates[0]
    scores, ids, logits = {}, {}, {}
    for c in args.candidates:
        t0 = time.time()
        model = load_classifier(str(c), device="cpu")
        ids[c] = {k: model.info.get(k) for k in ("name", "sha256")}
        scores[c] = latent_scores(model, sets, "select", args.cache, "v4select")
        logits[c] = bank_logits(model, ("val_coco", "val_voc", "val_animal", "val_camvid_sism", "val_coco_sism"),
                                args.banks_dir, args.cache)
        print(f"{c}: {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    s1 = paired_macro(scores, ref, args.n_boot, args.seed)
    s2 = {b: paired_accuracy({c: (logits[c][b][0].argmax(1) == logits[c][b][1]).astype(float) for c in args.candidates},
                             logits[ref][b][1], ref, args.n_boot, args.seed) for b in ("val_coco", "val_voc")}
    rows = []
    for c in args.candidates:
        s3 = per_class_rate(*logits[c]["val_camvid_sism"])
        coco_view = per_class_rate(*logits[c]["val_coco_sism"])
        score = (s1["rows"][c]["macro_auc"] + 0.5 * np.mean([s2[b][c]["balanced_top1"] for b in s2])
                 + 0.5 * np.mean([s3["car"]["rate"], s3["person"]["rate"]]))
        rows.append({"candidate": str(c), **ids[c], "S1_latent_select": s1["rows"][c],
                     "S2_balanced_top1": {b: s2[b][c] for b in s2}, "S3_camvid_val_fgt": s3,
                     "coco_val_sism_view_top1": {k: coco_view[k] for k in ("car", "person") if k in coco_view},
                     "calibration": calibration(logits[c]), "score": round(float(score), 4)})
    cands = [r for r in rows if r["candidate"] != ref]
    verdict = choose(cands, rows[0], tuple(s2), args.choose) if cands else {}
    return {"stage": "select", "reference": ref, "n_boot": args.n_boot, "seed": args.seed,
            "sources": s1["n_anchors"], "rows": rows, "verdict": verdict}


def run_report(args) -> dict:
    """Report-half latent-GT AUC (standard four sources, CamVid test) and camvid-test F@GT from sem-score JSON."""
    from sem_metric import load_classifier

    sets = heldout_sets("report")
    ref = args.candidates[0]
    scores, ids = {}, {}
    for c in args.candidates:
        model = load_classifier(str(c), device="cpu")
        ids[c] = {k: model.info.get(k) for k in ("name", "sha256")}
        scores[c] = latent_scores(model, sets, "report", args.cache, "v4report")
    lat = paired_macro(scores, ref, args.n_boot, args.seed)
    fgt = {}
    for item in args.fgt or []:
        name, path = item.split("=", 1)
        res = json.loads(Path(path).read_text())
        fgt[name] = {}
        for v in res.get("per_class", {}).get("classes", []):
            g = v.get("gt_recognition") or {}
            if g.get("rate") is not None:
                fgt[name][v.get("name", str(v.get("label")))] = {k: g[k] for k in ("coco_class", "classified", "agree",
                                                                                    "rate")}
    return {"stage": "report", "reference": ref, "n_boot": args.n_boot, "seed": args.seed,
            "latent_report": lat, "camvid_test_fgt": fgt, "ids": ids}


def markdown(result: dict) -> str:
    """The stage's tables as Markdown (written beside the JSON)."""
    def ci(v):
        return f"[{v[0]:.4f}, {v[1]:.4f}]"

    def dci(v):
        return f"[{v[0]:+.4f}, {v[1]:+.4f}]"

    def diffcell(row, is_ref):
        return "(reference)" if is_ref else f"{row['diff']:+.4f} {dci(row['diff_ci'])}"

    ref = result["reference"]
    if result["stage"] == "select":
        srcs = list(result["sources"])
        lines = [f"v4 selection figures (SELECTION_RULE.md), split `select`, {result['n_boot']} paired bootstrap "
                 f"replicates, reference `{ref}`; anchors per source: "
                 + ", ".join(f"{k} {v}" for k, v in result["sources"].items()), "",
                 "| classifier | S1 macro AUC [95% CI] | " + " | ".join(srcs) + " | S1 minus ref. [paired 95% CI] | "
                 "S2 coco bal. top-1 (minus ref. [paired CI]) | S2 VOC bal. top-1 (minus ref. [paired CI]) | "
                 "S3 CamVid-val F@GT car | person | ECE T=1 -> T_nll | score |",
                 "|---|---|" + "---:|" * len(srcs) + "---|---|---|---:|---:|---|---:|"]
        for r in result["rows"]:
            s1, s2, s3, cal = r["S1_latent_select"], r["S2_balanced_top1"], r["S3_camvid_val_fgt"], r["calibration"]
            lines.append(
                f"| {r['candidate']} | {s1['macro_auc']:.4f} {ci(s1['ci'])} | "
                + " | ".join(f"{s1['sources'][k]:.4f}" for k in srcs)
                + f" | {diffcell(s1, r['candidate'] == ref)} | "
                + " | ".join(f"{s2[b]['balanced_top1']:.4f} ({s2[b]['diff']:+.4f} {dci(s2[b]['diff_ci'])})" for b in ("val_coco", "val_voc"))
                + f" | {s3['car']['agree']}/{s3['car']['n']} = {s3['car']['rate']:.3f} | "
                  f"{s3['person']['agree']}/{s3['person']['n']} = {s3['person']['rate']:.3f} | "
                  f"{cal['ece_t1']:.3f} -> {cal['ece_tnll']:.3f} (T {cal['t_nll']}) | {r['score']:.4f} |")
        v = result.get("verdict") or {}
        if v:
            lines += ["", verdict_line(v)]
        return "\n".join(lines) + "\n"
    lat = result["latent_report"]
    srcs = list(lat["n_anchors"])
    lines = [f"v4 report figures, latent-GT split `report` (CamVid = test), {result['n_boot']} paired bootstrap "
             f"replicates, reference `{ref}`", "",
             "| classifier | macro AUC [95% CI] | " + " | ".join(srcs) + " | minus ref. [paired 95% CI] | "
             "camvid-test F@GT car | pedestrian |", "|---|---|" + "---:|" * len(srcs) + "---|---:|---:|"]
    for c, r in lat["rows"].items():
        f = result["camvid_test_fgt"].get(c, {})
        cells = [f"{f[k]['agree']}/{f[k]['classified']} = {f[k]['rate']:.3f}" if k in f else "" for k in ("car", "pedestrian")]
        lines.append(f"| {c} | {r['macro_auc']:.4f} {ci(r['ci'])} | " + " | ".join(f"{r['sources'][k]:.4f}" for k in srcs)
                     + f" | {diffcell(r, c == ref)} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """CLI: ``select`` or ``report`` stage; writes ``--out`` (JSON)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["select", "report"])
    ap.add_argument("--candidates", nargs="+", required=True, help="shipped names or .safetensors; first = reference")
    ap.add_argument("--fgt", nargs="*", help="report: NAME=sem-score --json output of the camvid-test task")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--choose", choices=["score", "admissible"], default="score",
                    help="select: score then gates (v4-v4c rules) or gates then score (v4d rule)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--banks-dir", type=Path, default=REPO / "cache" / "shapes")
    ap.add_argument("--cache", type=Path, default=REPO / "cache" / "v4_eval")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    result = run_select(args) if args.stage == "select" else run_report(args)
    result["seconds"] = round(time.time() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(json.dumps(result.get("verdict", result.get("camvid_test_fgt")), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
