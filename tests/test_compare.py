"""sem-compare / compare_results (issue 26): pairing, verdicts in each metric's direction, the bound, exit codes."""
import copy
import json

import numpy as np
import pytest
from click.testing import CliRunner

from sem_metric import compare_results, registry
from sem_metric.compare import format_comparison, main
from sem_metric.errors import InputError
from sem_metric.pipeline.evaluate import evaluate_samples


def _maps(n_maps, cut, seed=0):
    """n_maps 20 x 20 maps with two car boxes each; the prediction erases ``cut(rng)`` rows of each car."""
    rng = np.random.default_rng(seed)
    samples, boxes = {}, {}
    for i in range(n_maps):
        gt = np.zeros((20, 20), np.uint8)
        gt[2:9, 2:9] = 3
        gt[11:18, 11:18] = 3
        pred = gt.copy()
        pred[2:2 + cut(rng), 2:9] = 0
        pred[11:11 + cut(rng), 11:18] = 0
        samples[f"m{i:02d}.png"] = (pred, gt)
        boxes[f"m{i:02d}.png"] = [{"bbox": [1, 1, 10, 10], "label": 3}, {"bbox": [10, 10, 19, 19], "label": 3}]
    return samples, boxes


@pytest.fixture(scope="module")
def results():
    base = evaluate_samples(*_maps(40, lambda r: int(r.integers(0, 4))), "tiou,hamm,nn")
    better = evaluate_samples(*_maps(40, lambda r: int(r.integers(0, 2))), "tiou,hamm,nn")
    return dict(base), dict(better)


def test_known_difference_better_and_worse(results):
    base, better = results
    out = compare_results(base, better)
    t = out["metrics"]["tiou"]
    assert t["base"] == pytest.approx(base["means"]["tiou"]) and t["new"] == pytest.approx(better["means"]["tiou"])
    assert t["diff"] > 0 and t["low"] < t["diff"] < t["high"] and t["low"] > 0 and t["p_value"] < 0.01
    assert t["verdict"] == "better" and out["passed"] and out["worse"] == [] and "tiou" in out["better"]
    assert out["unit"] == "map" or out["unit"] == "file"
    assert out["n_units"] == 40 and out["samples"] == 80
    back = compare_results(better, base)
    assert back["metrics"]["tiou"]["verdict"] == "worse" and not back["passed"] and "tiou" in back["worse"]
    assert back["metrics"]["tiou"]["diff"] == pytest.approx(-t["diff"])
    assert back["metrics"]["nn"]["verdict"] == "same"            # no noise pixels either way
    assert [c["label"] for c in out["per_class"]] == [3] and out["per_class"][0]["samples"] == 80
    text = format_comparison(back)
    assert "worse: tiou" in text and "tIOU" in text and "(higher is better)" in text


def test_same_predictions_are_same_with_p_1(results):
    base, _ = results
    out = compare_results(base, copy.deepcopy(base))
    for m, e in out["metrics"].items():
        assert e["diff"] == 0.0 and e["p_value"] == 1.0 and e["verdict"] == "same", m


def test_differences_inside_the_bound_count_as_zero(results, monkeypatch):
    """A re-scoring whose values moved by float noise only (here: a Sem-like bound on tiou) is ``same``."""
    base, _ = results
    noisy = copy.deepcopy(base)
    for i, r in enumerate(noisy["samples"]):
        r["tiou"] += 1e-6 * (1 if i % 3 else -1)
    strict = compare_results(base, noisy)["metrics"]["tiou"]
    assert strict["diff"] != 0.0                                   # tiou is EXACT: any change is a change
    monkeypatch.setitem(registry.METRICS, "tiou", registry.Metric(
        **{**registry.get("tiou").__dict__, "reproducibility": registry.Reproducibility(absolute=2e-6)}))
    loose = compare_results(base, noisy)["metrics"]["tiou"]
    assert loose["diff"] == 0.0 and loose["p_value"] == 1.0 and loose["verdict"] == "same"


def test_not_comparable_results_are_refused(results):
    base, better = results
    other = copy.deepcopy(better)
    other["metadata"]["labelmap_metrics_version"] = "labelmap-v0"
    with pytest.raises(InputError, match="not comparable"):
        compare_results(base, other)
    assert compare_results(base, other, allow_version_mismatch=True)["version_mismatches"]
    fewer = copy.deepcopy(better)
    fewer["samples"] = fewer["samples"][:-1]
    with pytest.raises(InputError, match="same samples"):
        compare_results(base, fewer)
    moved = copy.deepcopy(better)
    moved["samples"][0]["bbox"] = [0, 0, 5, 5]
    with pytest.raises(InputError, match="not the same samples"):
        compare_results(base, moved)
    with pytest.raises(InputError, match="alpha"):
        compare_results(base, better, alpha=1.5)


def test_cli_exit_codes_and_json(results, tmp_path):
    base, better = results
    for name, r in (("base", base), ("better", better)):
        (tmp_path / f"{name}.json").write_text(json.dumps(r))
    b, n = str(tmp_path / "base.json"), str(tmp_path / "better.json")
    run = lambda *a: CliRunner().invoke(main, list(a), catch_exceptions=False)  # noqa: E731
    ok = run(b, n, "--json", str(tmp_path / "c.json"))
    assert ok.exit_code == 0, ok.output
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["schema"] == "sem-metric-compare/1"
    assert set(data["metrics"]["tiou"]) >= {"base", "new", "diff", "low", "high", "p_value", "verdict"}
    assert "better (higher is better)" in ok.stdout
    worse = run(n, b, "--alpha", "0.01")
    assert worse.exit_code == 1 and "worse: tiou" in worse.stdout
    bad = run(b, str(tmp_path / "missing.json"))
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.output
    (tmp_path / "x.json").write_text("{}")
    assert run(b, str(tmp_path / "x.json")).exit_code == 2


def test_false_positive_rate_of_random_halves_is_near_alpha():
    """Two halves of one model's samples, re-paired at random, differ by luck only: p < 0.05 about 5% of the time."""
    from sem_metric.pipeline.intervals import paired_difference

    rng = np.random.default_rng(7)
    values = rng.beta(2, 2, size=400)
    hits = 0
    trials = 200
    for _ in range(trials):
        perm = rng.permutation(400)
        d = paired_difference(values[perm[:200]].tolist(), values[perm[200:]].tolist(), list(range(200)),
                              resamples=10, permutations=400, seed=int(rng.integers(1 << 30)))
        hits += d["p_value"] < 0.05
    assert 0.01 <= hits / trials <= 0.10
