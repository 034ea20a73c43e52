"""``sem-compare BASE.json NEW.json``: is NEW really better than BASE on the same samples? (issue 26)

Two sem-score results (``--json``) of the same samples (paper Sec. 4.1 tIOU, hamm, NN; Sem of Eq. 10) are
paired by ``(file, box_index)``; for each sample-level metric :func:`compare_results` gives both means,
the difference ``new - base``, its paired 95% interval (paired cluster bootstrap over the same units as the
results' intervals: source maps of a task, else files) and a two-sided p-value (paired sign-flip
randomization over units), and a verdict in the metric's own direction:

* ``better`` / ``worse``: ``p < alpha`` *and* the difference is larger than the metric's documented
  reproducibility bound (:class:`sem_metric.registry.Reproducibility`);
* ``same``: otherwise. Per-sample differences inside the bound count as 0, so two scorings of the same
  predictions on other machines, batch sizes or process counts are ``same`` with p = 1.

Results that are not comparable (task digest, metric definition, weights, preprocessing: the registry's
:data:`~sem_metric.registry.VERSION_KEYS`, the rule of ``sem-score --baseline``,
:func:`sem_metric.pipeline.checks.version_mismatches`) or whose samples do not pair are refused
(:class:`InputError`; exit 2). Dataset-level metrics (SFD) are listed with both values and no test.

Exit status of ``sem-compare``: 0 no metric is significantly worse, 1 one is, 2 bad input, 130 interrupted.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import click

from . import registry
from .command import Command
from .errors import InputError
from .pipeline.checks import validate_result, version_mismatches
from .pipeline.json_file import read_json
from .pipeline.report import to_json, write_outputs
from .pipeline.tables import _aligned
from .pipeline.paired import _key, _units, compare_metric, pair_samples, verdict  # noqa: F401 (public here too)

__all__ = ["COMPARE_SCHEMA", "pair_samples", "compare_metric", "compare_results", "format_comparison", "main"]

COMPARE_SCHEMA = "sem-metric-compare/1"
EXIT_OK, EXIT_WORSE = 0, 1


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not (0.0 < alpha < 1.0) or math.isnan(alpha):
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
    return alpha


def compare_results(base: Any, new: Any, alpha: float = 0.05, per_class: bool = True,
                    allow_version_mismatch: bool = False, **kwargs: Any) -> Dict[str, Any]:
    """Compare two sem-score results of the same samples (``sem-compare``; paper Sec. 4.1 metrics, Eq. 10).

    ``base`` / ``new``: result dicts or paths of result JSON files. ``alpha``: the test's level. ``kwargs``:
    ``resamples``, ``permutations``, ``seed``, ``level`` (:mod:`sem_metric.pipeline.intervals`). Returns
    ``{"schema", "alpha", "unit", "n_units", "samples", "metrics": {m: {"base", "new", "diff", "low", "high",
    "p_value", "verdict", ...}}, "per_class": [{"label", "name", "samples", "metrics": {...}}], "worse",
    "better", "passed", "version_mismatches"}``. :class:`InputError` when the results are not comparable
    (version keys, unless ``allow_version_mismatch``; samples that do not pair; no common metric).
    """
    alpha = _check_alpha(alpha)
    loaded = []
    for what, r in (("BASE", base), ("NEW", new)):
        if not isinstance(r, Mapping):
            r = read_json(r, f"{what} result")
        loaded.append(validate_result(dict(r), where=f"{what} result"))
    base, new = loaded
    common = [m for m in registry.METRICS if m in base["means"] and m in new["means"]]
    if not common:
        raise InputError(f"the results have no metric in common (BASE: {','.join(base['means']) or 'none'}; "
                         f"NEW: {','.join(new['means']) or 'none'})")
    mismatches = version_mismatches(new, base, common)
    if mismatches and not allow_version_mismatch:
        raise InputError("the results are not comparable: " + "; ".join(mismatches).replace("baseline", "BASE")
                         .replace("this run", "NEW") + ". Score both with the same version, weights and task.")
    b_rows, n_rows = pair_samples(base, new)
    units, unit = _units(b_rows)
    sample = [m for m in common if registry.get(m).level == "sample"]
    metrics: Dict[str, Any] = {}
    for m in common:
        if m in sample:
            metrics[m] = compare_metric(m, b_rows, n_rows, units, unit, alpha, **kwargs)
        else:   # dataset level (SFD): one value per run, no paired samples to test
            b, n = base["means"][m], new["means"][m]
            metrics[m] = {"base": b, "new": n, "diff": None if b is None or n is None else n - b, "low": None,
                          "high": None, "p_value": None, "verdict": None, "note": "dataset-level: no paired test"}
    classes: List[Dict[str, Any]] = []
    if per_class:
        names = {c["label"]: c.get("name") for c in (base.get("per_class") or {}).get("classes") or []}
        for label in sorted({r["label"] for r in b_rows}, key=lambda v: (str(type(v)), v)):
            idx = [i for i, r in enumerate(b_rows) if r["label"] == label]
            sub_b, sub_n, sub_u = [b_rows[i] for i in idx], [n_rows[i] for i in idx], [units[i] for i in idx]
            classes.append({"label": label, "name": names.get(label), "samples": len(idx),
                            "metrics": {m: compare_metric(m, sub_b, sub_n, sub_u, unit, alpha, **kwargs)
                                        for m in sample}})
    worse = [m for m in sample if metrics[m]["verdict"] == "worse"]
    return {"schema": COMPARE_SCHEMA, "alpha": alpha, "unit": unit, "n_units": len(set(units)),
            "samples": len(b_rows), "metrics": metrics, "per_class": classes, "worse": worse,
            "better": [m for m in sample if metrics[m]["verdict"] == "better"], "passed": not worse,
            "version_mismatches": mismatches}


# ------------------------------------------------------------------------------ text
def _signed(spec: registry.Metric, v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:+.{spec.decimals}f}"


def _p(p: Optional[float]) -> str:
    return "-" if p is None else f"{p:.4f}"


def format_comparison(out: Mapping[str, Any]) -> str:
    """The readable table of :func:`compare_results`: one line per metric, then one line per class."""
    some = next((e for e in out["metrics"].values() if e.get("method")), None)
    head = (f"{out['samples']} paired samples over {out['n_units']} {out['unit']}(s); alpha {out['alpha']:g}")
    if some:
        head += (f"; {100 * some['level']:g}% interval: {some['method']} ({some['resamples']} resamples), "
                 f"p: {some['test']} ({some['permutations']} flips), seed {some['seed']}")
    rows = [("metric", "base", "new", "diff", f"{100 * some['level']:g}% interval" if some else "interval", "p",
             "verdict")]
    for m, e in out["metrics"].items():
        spec = registry.get(m)
        ci = "-" if e.get("low") is None else f"[{_signed(spec, e['low'])}, {_signed(spec, e['high'])}]"
        rows.append((spec.display_name, spec.format(e["base"]), spec.format(e["new"]), _signed(spec, e["diff"]), ci,
                     _p(e["p_value"]), f"{e['verdict'] or 'not tested'} ({spec.better} is better)"))
    lines = [head, *_aligned(rows, {0, 6})]
    if out.get("per_class"):
        ms = list(out["per_class"][0]["metrics"])
        crow = [("label", "name", "n", *[registry.get(m).display_name + " diff (p)" for m in ms])]
        for c in out["per_class"]:
            cells = []
            for m in ms:
                e, spec = c["metrics"][m], registry.get(m)
                mark = {"better": " +", "worse": " -"}.get(e["verdict"], "")
                cells.append(f"{_signed(spec, e['diff'])} ({_p(e['p_value'])}){mark}")
            crow.append((str(c["label"]), c.get("name") or "-", str(c["samples"]), *cells))
        lines += ["", f"per class (+ better, - worse at alpha {out['alpha']:g}; one test per class and metric, "
                      "not corrected for multiple tests)", *_aligned(crow, {0, 1})]
    if out.get("version_mismatches"):
        lines.append("warning: not comparable (compared anyway): " + "; ".join(out["version_mismatches"]))
    lines.append(f"worse: {', '.join(out['worse'])}" if out["worse"] else "no metric is significantly worse")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ command
_HELP = """Compare two sem-score results (--json) of the same samples: is NEW better than BASE?

\b
Samples pair by (file, box index). Per metric: both means, the difference NEW - BASE, its paired 95%
interval (paired bootstrap over units: the source maps of a task, else the files) and a two-sided
p-value (paired sign-flip randomization over the same units). Verdict, in the metric's direction:
better / worse when p < ALPHA and the difference exceeds the metric's reproducibility bound, else same;
per-sample differences inside the bound count as 0. Results with other weights, definitions or task
digest (the rule of sem-score --baseline), or other samples, are refused.

\b
Exit status: 0 no metric is significantly worse, 1 one is, 2 bad input, 130 interrupted.
"""


def _command():
    class _Cmd(Command):
        prog = "sem-compare"

    @click.command("sem-compare", cls=_Cmd, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
                   help=_HELP)
    @click.argument("base", type=click.Path(dir_okay=False))
    @click.argument("new", type=click.Path(dir_okay=False))
    @click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
                  help="Write the comparison as JSON ('-': stdout).")
    @click.option("--alpha", type=float, default=0.05, show_default=True,
                  help="Level of the paired test: better / worse only when p < ALPHA (and beyond the bound).")
    @click.option("--allow-version-mismatch", is_flag=True,
                  help="Compare results whose version keys (weights, definitions, task digest) differ.")
    @click.option("--no-per-class", is_flag=True, help="Leave out the per-class rows.")
    @click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (and --json -).")
    def cli(base, new, json_path, alpha, allow_version_mismatch, no_per_class, quiet):
        out = compare_results(base, new, alpha=alpha, per_class=not no_per_class,
                              allow_version_mismatch=allow_version_mismatch)
        if json_path and json_path != "-":
            write_outputs({json_path: to_json(out)})
        elif json_path == "-":
            click.echo(to_json(out), nl=False)
        if not quiet:
            click.echo(format_comparison(out), nl=False, err=json_path == "-")
        return EXIT_OK if out["passed"] else EXIT_WORSE

    return cli


#: the ``sem-compare`` command (console script; a click command: ``main(args)`` / ``CliRunner().invoke(main, ...)``)
main = _command()


if __name__ == "__main__":  # pragma: no cover
    main()
