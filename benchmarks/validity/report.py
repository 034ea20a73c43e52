"""Markdown tables and PNG figures of the validity study, built from its JSON files only."""
from __future__ import annotations

from pathlib import Path

import numpy as np

METRIC_LABEL = {"1-tiou": "1 - tIOU", "1-hamm": "1 - hamm", "sem": "Sem", "tiou": "tIOU", "hamm": "hamm"}
COLORS = {"1-tiou": "tab:blue", "1-hamm": "tab:orange", "sem": "tab:green", "tiou": "tab:blue", "hamm": "tab:orange"}
TRANSFORM_TITLE = {"rotate": "rotation (degrees)", "erode": "erosion (px)", "dilate": "dilation (px)",
                   "shift": "shift (fraction of box side)", "scale": "scale (factor)"}


def _ci(v, ci, nd=3):
    if v is None:
        return "n/a"
    if not ci or ci[0] is None:
        return f"{v:.{nd}f}"
    return f"{v:.{nd}f} [{ci[0]:.{nd}f}, {ci[1]:.{nd}f}]"


# ----------------------------------------------------------------------------- verdicts
def fig6_verdicts(summary: dict) -> dict:
    """Checks of the paper's Sec. 4.4 observations on one source's Fig. 6 summary.

    * flips: Sem / (1 - tIOU) with its CI below 1 (the paper: "1-Sem decreases around 50% slower");
    * erosion / dilation: number of levels where the CI of Sem - (1 - tIOU) (resp. Sem - (1 - hamm)) is above 0;
    * rotation: Spearman correlation of the mean with the angle over 15..90 degrees >= 0.8 and 90 - 15 degrees
      CI above 0 ("rises"); the relative fall from the peak to 180 degrees compared across metrics.
    """
    o = summary["observations"]
    v = {}
    for t in ("hflip", "vflip"):
        hi = o[t]["sem_over_1-tiou"]["ci"][1]
        v[t + "_sem_below_tiou"] = hi is not None and hi < 1.0
    for t in ("erode", "dilate"):
        for m in ("1-tiou", "1-hamm"):
            v[f"{t}_levels_sem_above_{m}"] = int(sum(d["ci"][0] is not None and d["ci"][0] > 0
                                                     for d in o[t]["sem_minus_" + m]))
        v[t + "_n_levels"] = len(o[t]["sem_minus_1-tiou"])
    r = o["rotate"]["sem"]
    v["rotate_sem_rises_to_90"] = (r["spearman_15_to_90"] is not None and r["spearman_15_to_90"] >= 0.8
                                   and r["90_minus_15"]["ci"][0] > 0)
    return v


# ----------------------------------------------------------------------------- markdown
def latent_table(latent: dict) -> str:
    rows = ["| source | anchors | Sem AUC [95% CI] | tIOU AUC [95% CI] | hamm AUC [95% CI] |",
            "|---|---:|---|---|---|"]
    names = list(latent["sources"]) + ["pooled"]
    for name in names:
        r = latent["pooled"] if name == "pooled" else latent["sources"][name]
        label = "**pooled** (stratified)" if name == "pooled" else name
        rows.append(f"| {label} | {r['n_anchors']} | " + " | ".join(
            _ci(r[m]["auc"], r[m]["auc_ci"]) for m in ("sem", "tiou", "hamm")) + " |")
    m = latent["macro"]
    rows.append(f"| macro (mean of sources) | | {m['sem']:.3f} | {m['tiou']:.3f} | {m['hamm']:.3f} |")
    return "\n".join(rows)


def latent_controls_table(latent: dict) -> str:
    """AUCs of the non-semantic controls (absent in results written before they were added)."""
    if "area_diff" not in latent["pooled"]:
        return ""
    rows = ["| source | area difference AUC [95% CI] | aspect distortion AUC [95% CI] |", "|---|---|---|"]
    for name in list(latent["sources"]) + ["pooled"]:
        r = latent["pooled"] if name == "pooled" else latent["sources"][name]
        rows.append(f"| {name} | " + " | ".join(_ci(r[m]["auc"], r[m]["auc_ci"])
                                                for m in ("area_diff", "aspect_distortion")) + " |")
    return "\n".join(rows)


def latent_matched_table(latent: dict) -> str:
    """AUCs on the distortion-matched anchors (absent in results written before it was added)."""
    if "distortion_matched" not in latent["pooled"]:
        return ""
    rows = ["| source | anchors kept | Sem AUC [95% CI] | tIOU AUC [95% CI] | hamm AUC [95% CI] | area difference AUC |",
            "|---|---:|---|---|---|---|"]
    for name in list(latent["sources"]) + ["pooled"]:
        r = (latent["pooled"] if name == "pooled" else latent["sources"][name])["distortion_matched"]
        rows.append(f"| {name} | {r['n_anchors']} | " + " | ".join(
            _ci(r[m]["auc"], r[m]["auc_ci"]) for m in ("sem", "tiou", "hamm", "area_diff")) + " |")
    return "\n".join(rows)


def latent_means_table(latent: dict) -> str:
    rows = ["| source | Sem same | Sem diff | tIOU same | tIOU diff | hamm same | hamm diff |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name in list(latent["sources"]) + ["pooled"]:
        r = latent["pooled"] if name == "pooled" else latent["sources"][name]
        rows.append(f"| {name} | " + " | ".join(
            f"{r[m]['mean_same']:.3f} | {r[m]['mean_diff']:.3f}" for m in ("sem", "tiou", "hamm")) + " |")
    return "\n".join(rows)


def fig6_observation_table(fig6: dict) -> str:
    rows = ["| source | h-flip: Sem / (1-tIOU) | v-flip: Sem / (1-tIOU) | h-flip, fraction of filled box: "
            "1-tIOU / 1-hamm / Sem | erosion: levels Sem > 1-tIOU, > 1-hamm | dilation: levels Sem > 1-tIOU, > 1-hamm | "
            "rotation 15..90: Spearman 1-tIOU / 1-hamm / Sem | rotation, fall from peak to 180: 1-tIOU / 1-hamm / Sem |",
            "|---|---|---|---|---|---|---|---|"]
    for name in list(fig6["sources"]) + ["pooled"]:
        s = fig6["pooled"] if name == "pooled" else fig6["sources"][name]
        o = s["observations"]
        v = fig6_verdicts(s)
        fr = o["hflip"]["fraction_of_fill"]
        rot = o["rotate"]
        ratio = {t: _ci(o[t]["sem_over_1-tiou"]["value"], o[t]["sem_over_1-tiou"]["ci"], 2) for t in ("hflip", "vflip")}
        n = v["erode_n_levels"]
        rows.append(
            f"| {name} (n={s['n_shapes']}) | {ratio['hflip']} | {ratio['vflip']} | "
            f"{fr['1-tiou']['value']:.2f} / {fr['1-hamm']['value']:.2f} / {fr['sem']['value']:.2f} | "
            f"{v['erode_levels_sem_above_1-tiou']}/{n}, {v['erode_levels_sem_above_1-hamm']}/{n} | "
            f"{v['dilate_levels_sem_above_1-tiou']}/{n}, {v['dilate_levels_sem_above_1-hamm']}/{n} | "
            + " / ".join(f"{rot[m]['spearman_15_to_90']:.2f}" for m in ("1-tiou", "1-hamm", "sem")) + " | "
            + " / ".join(f"{rot[m]['relative_fall_peak_to_180']['value']:.0%}" for m in ("1-tiou", "1-hamm", "sem"))
            + " |")
    return "\n".join(rows)


KEY_LEVELS = [("hflip", None), ("vflip", None), ("rotate", 15), ("rotate", 45), ("rotate", 90), ("rotate", 180),
              ("erode", 1), ("erode", 3), ("erode", 7), ("dilate", 1), ("dilate", 3), ("dilate", 7),
              ("shift", 0.1), ("shift", 0.3), ("scale", 0.7), ("scale", 0.9), ("scale", 1.1), ("scale", 1.3),
              ("fill", None)]


def _level_name(t, lv):
    if lv is None:
        return {"fill": "box filled (S^u)"}.get(t, t)
    unit = {"rotate": " deg", "erode": " px", "dilate": " px"}.get(t, "")
    if t == "shift":
        return f"shift {int(round(lv * 100))}%"
    if t == "scale":
        return f"scale x{lv:g}"
    return f"{t} {lv:g}{unit}"


def fig6_curve_table(fig6: dict) -> str:
    names = list(fig6["sources"]) + ["pooled"]
    head = "| transform | " + " | ".join(f"{n}: 1-tIOU / 1-hamm / Sem" for n in names) + " |"
    rows = [head, "|---|" + "---|" * len(names)]
    for t, lv in KEY_LEVELS:
        cells = []
        for n in names:
            c = (fig6["pooled"] if n == "pooled" else fig6["sources"][n])["curves"][t]
            i = c["levels"].index(lv)
            cells.append(" / ".join(f"{c[m]['mean'][i]:.2f}" for m in ("1-tiou", "1-hamm", "sem")))
        rows.append(f"| {_level_name(t, lv)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def reliability_table(rel: dict, only_with_data: bool = True) -> str:
    sources = list(next(iter(rel["classes"]))["n_heldout_by_source"])
    rows = ["| # | class | held-out (" + " / ".join(sources) + ") | total | top-1 | anchors | Sem AUC [95% CI] | "
            "tIOU AUC | reliable |", "|---:|---|---|---:|---:|---:|---|---:|---|"]
    for c in rel["classes"]:
        if only_with_data and c["n_heldout"] == 0:
            continue
        by = " / ".join(str(c["n_heldout_by_source"][s]) for s in sources)
        top1 = "n/a" if c["top1"] is None else f"{c['top1']:.2f}"
        auc = _ci(c["sem_auc"], c["sem_auc_ci"], 2) if c["sem_auc"] is not None else "n/a"
        tauc = "n/a" if c.get("tiou_auc") is None else f"{c['tiou_auc']:.2f}"
        rows.append(f"| {c['index']} | {c['name']} | {by} | {c['n_heldout']} | {top1} | {c['n_anchors']} | {auc} | "
                    f"{tauc} | {'yes' if c['reliable'] else 'no'} |")
    missing = [c["name"] for c in rel["classes"] if c["n_heldout"] == 0]
    if only_with_data and missing:
        rows.append("")
        rows.append(f"No held-out shape at all ({len(missing)} classes, not reliable): {', '.join(missing)}.")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_latent(latent: dict, path: Path, title: str = ""):
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1.5, 1, 1]})
    names = list(latent["sources"]) + ["pooled"]
    x = np.arange(len(names))
    width = 0.26
    ax = axes[0]
    for k, m in enumerate(("sem", "tiou", "hamm")):
        vals, lo, hi = [], [], []
        for n in names:
            r = (latent["pooled"] if n == "pooled" else latent["sources"][n])[m]
            vals.append(r["auc"])
            lo.append(r["auc"] - r["auc_ci"][0])
            hi.append(r["auc_ci"][1] - r["auc"])
        ax.bar(x + (k - 1) * width, vals, width, yerr=[lo, hi], capsize=2, color=COLORS[m],
               label=METRIC_LABEL[m] + (" (lower = same)" if m == "sem" else ""))
    ax.axhline(0.5, color="k", lw=0.8, ls="--")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{n}\n(n={(latent['pooled'] if n == 'pooled' else latent['sources'][n])['n_anchors']})"
                        for n in names], fontsize=8)
    ax.set_ylim(0.3, 1.0)
    ax.set_ylabel("ROC AUC: same class vs other class")
    ax.set_title("Latent ground truths: AUC with 95% CI", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    edges = np.linspace(0, 1, len(latent["pooled"]["sem"]["hist_same"]) + 1)
    for ax, m in zip(axes[1:], ("sem", "tiou")):
        r = latent["pooled"][m]
        for key, col, lab in (("hist_same", "tab:green", "same class"), ("hist_diff", "tab:red", "other class")):
            h = np.asarray(r[key], dtype=float)
            ax.stairs(h / h.sum(), edges, color=col, label=f"{lab} (mean {r['mean_' + key[5:]]:.2f})", lw=1.5)
        ax.set_xlabel(METRIC_LABEL[m] + " of B resized into A's box, vs A")
        ax.set_ylabel("fraction of pairs")
        ax.set_title(f"pooled: {METRIC_LABEL[m]}", fontsize=10)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_fig6(summary: dict, path: Path, title: str):
    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    curves = summary["curves"]
    ax = axes[0, 0]
    cats = ["hflip", "vflip", "fill"]
    x = np.arange(len(cats))
    for k, m in enumerate(("1-tiou", "1-hamm", "sem")):
        vals = [curves[c][m]["mean"][0] for c in cats]
        err = [[curves[c][m]["mean"][0] - curves[c][m]["ci"][0][0] for c in cats],
               [curves[c][m]["ci"][0][1] - curves[c][m]["mean"][0] for c in cats]]
        ax.bar(x + (k - 1) * 0.26, vals, 0.26, yerr=err, capsize=2, color=COLORS[m], label=METRIC_LABEL[m])
    ax.set_xticks(x)
    ax.set_xticklabels(["h-flip", "v-flip", "box filled (S^u)"])
    ax.set_ylim(0, 1)
    ax.set_title("flips and filled box", fontsize=10)
    ax.legend(fontsize=8)
    for ax, t in zip(axes.ravel()[1:], ("rotate", "erode", "dilate", "shift", "scale")):
        c = curves[t]
        lv = np.asarray(c["levels"], dtype=float)
        for m in ("1-tiou", "1-hamm", "sem"):
            mean = np.asarray(c[m]["mean"])
            ci = np.asarray(c[m]["ci"])
            if t == "scale":  # the identity (1.0) splits the levels: draw both sides
                for part in (lv < 1, lv > 1):
                    ax.plot(lv[part], mean[part], "o-", ms=3, color=COLORS[m])
                    ax.fill_between(lv[part], ci[part, 0], ci[part, 1], color=COLORS[m], alpha=0.2)
            else:
                ax.plot(lv, mean, "o-", ms=3, color=COLORS[m], label=METRIC_LABEL[m])
                ax.fill_between(lv, ci[:, 0], ci[:, 1], color=COLORS[m], alpha=0.2)
        ax.set_title(TRANSFORM_TITLE[t], fontsize=10)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_reliability(rel: dict, path: Path, title: str):
    plt = _plt()
    cls = [c for c in rel["classes"] if c["sem_auc"] is not None]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for c in cls:
        col = "tab:green" if c["reliable"] else "tab:red"
        ax.errorbar(c["top1"], c["sem_auc"], yerr=[[c["sem_auc"] - c["sem_auc_ci"][0]], [c["sem_auc_ci"][1] - c["sem_auc"]]],
                    fmt="o", ms=4, color=col, elinewidth=0.7, capsize=0)
        ax.annotate(c["name"], (c["top1"], c["sem_auc"]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.axhline(0.5, color="k", lw=0.8, ls="--")
    ax.axhline(0.7, color="gray", lw=0.8, ls=":")
    ax.set_xlabel("classifier top-1 on the class's held-out shapes")
    ax.set_ylabel("Sem latent-GT AUC (95% CI)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
