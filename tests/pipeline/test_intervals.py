"""Intervals (issue 26): seeded cluster bootstrap over units, paired sign-flip test; in every result."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from sem_metric.pipeline import intervals as iv
from sem_metric.pipeline.evaluate import evaluate_samples


def test_unit_index_is_canonical_and_sums_are_exact():
    keys, idx = iv.unit_index(["b", "a", "b", "c"])
    assert keys == ["a", "b", "c"] and idx.tolist() == [1, 0, 1, 2]
    sums, counts = iv.unit_sums([0.1, 0.2, 1e16, None], idx, 3)
    assert sums.tolist() == [0.2, math.fsum([0.1, 1e16]), 0.0] and counts.tolist() == [1, 2, 0]


def test_hand_computed_two_units():
    # units a = {0, 1} (sum 1, n 2), b = {2} (sum 4, n 1): a resample draws (a,a), (a,b), (b,a) or (b,b),
    # giving means 0.5, 5/3, 5/3, 4: the percentile interval lies inside [0.5, 4] and reaches both ends
    e = iv.bootstrap_interval([0.0, 1.0, 4.0], ["a", "a", "b"], unit="map", resamples=4000)
    assert e["low"] == pytest.approx(0.5) and e["high"] == pytest.approx(4.0)
    assert e["unit"] == "map" and e["n_units"] == 2 and e["level"] == 0.95 and e["seed"] == 0
    draws = iv.resampled_means(np.array([1.0, 4.0]), np.array([2.0, 1.0]), resamples=4000)[0]
    assert set(np.round(draws, 12)) == {0.5, round(5 / 3, 12), 4.0}
    assert np.mean(np.isclose(draws, 5 / 3)) == pytest.approx(0.5, abs=0.03)


def test_degenerate_cases():
    assert iv.bootstrap_interval([0.25, 0.75], ["m", "m"])["low"] == iv.bootstrap_interval([0.25, 0.75], ["m", "m"])["high"] == 0.5
    empty = iv.bootstrap_interval([], [])
    assert empty["low"] is None and empty["high"] is None and empty["n_units"] == 0
    assert iv.bootstrap_interval([None, 1.0], ["a", "b"])["n_units"] == 1


def test_order_independent_and_seeded():
    rng = np.random.default_rng(3)
    values = rng.random(300).tolist()
    units = [f"u{i % 37}" for i in range(300)]
    a = iv.bootstrap_interval(values, units)
    perm = list(range(300))
    random.Random(1).shuffle(perm)
    b = iv.bootstrap_interval([values[i] for i in perm], [units[i] for i in perm])
    assert a == b                                    # bit-identical in any row order
    c = iv.bootstrap_interval(values, units, seed=1)
    assert c["low"] != a["low"] and c["seed"] == 1
    assert a["low"] < float(np.mean(values)) < a["high"]


def test_cluster_interval_is_wider_than_the_naive_one_for_correlated_samples():
    rng = np.random.default_rng(0)
    level = np.repeat(rng.normal(size=40), 10)          # 40 maps of 10 samples sharing a map effect
    values = (level + 0.1 * rng.normal(size=400)).tolist()
    by_map = iv.bootstrap_interval(values, [i // 10 for i in range(400)])
    by_sample = iv.bootstrap_interval(values)
    assert (by_map["high"] - by_map["low"]) > 2.5 * (by_sample["high"] - by_sample["low"])


def test_sign_flip_p_value_hand_computed():
    # two units with sums +1 and +1: flips give |mean| 1, 0, 0, 1 -> half as extreme as observed
    p = iv.sign_flip_p_value(np.array([1.0, 1.0]), 2, permutations=20000)
    assert p == pytest.approx(0.5, abs=0.01)
    assert iv.sign_flip_p_value(np.zeros(5), 5) == 1.0
    p = iv.sign_flip_p_value(np.ones(20), 20, permutations=2000)   # all 20 units agree: p ~ 2 / 2^20
    assert p == 1 / 2001


def test_paired_difference_zeroes_the_bound_and_finds_a_shift():
    rng = np.random.default_rng(1)
    base = rng.random(200).tolist()
    noisy = [b + 1e-6 * (-1) ** i for i, b in enumerate(base)]        # float noise only
    units = [i // 2 for i in range(200)]
    same = iv.paired_difference(base, noisy, units, zero_within=[2e-6] * 200)
    assert same["diff"] == 0.0 and same["p_value"] == 1.0 and same["low"] == same["high"] == 0.0
    shifted = [b + 0.05 + 0.01 * rng.normal() for b in base]
    d = iv.paired_difference(base, shifted, units)
    assert d["low"] < d["diff"] < d["high"] and 0.04 < d["low"] and d["high"] < 0.06
    assert d["p_value"] == 1 / (1 + iv.PERMUTATIONS) and d["n_units"] == 100 and d["n"] == 200
    assert d["diff"] == pytest.approx(d["new"] - d["base"])


def _maps(n=12, seed=0):
    rng = np.random.default_rng(seed)
    samples, boxes = {}, {}
    for i in range(n):
        gt = np.zeros((16, 16), np.uint8)
        gt[4:12, 4:12] = 3
        pred = gt.copy()
        pred[4:4 + int(rng.integers(0, 8)), 4:12] = 0
        samples[f"m{i:02d}.png"] = (pred, gt)
        boxes[f"m{i:02d}.png"] = [{"bbox": [3, 3, 13, 13], "label": 3}, {"bbox": [2, 2, 14, 14], "label": 3}]
    return samples, boxes


def test_every_result_has_intervals_and_they_do_not_depend_on_the_order():
    samples, boxes = _maps()
    r = evaluate_samples(samples, boxes, "tiou,hamm,nn")
    assert set(r["intervals"]) == {"tiou", "hamm", "nn"}
    for m, e in r["intervals"].items():
        assert set(e) == {"low", "high", "level", "method", "resamples", "seed", "unit", "n_units"}
        assert e["unit"] == "map" and e["n_units"] == 12 and e["low"] <= r["means"][m] <= e["high"]
    rev = evaluate_samples(dict(reversed(list(samples.items()))), boxes, "tiou,hamm,nn")
    assert rev["intervals"] == r["intervals"]
    c = r["per_class"]["classes"][0]
    assert c["intervals"]["tiou"] == {"low": r["intervals"]["tiou"]["low"], "high": r["intervals"]["tiou"]["high"]}


def test_ten_thousand_samples_are_fast():
    import time

    rng = np.random.default_rng(0)
    rows = [{"file": f"f{i // 3}", "tiou": float(v), "nn": int(k)} for i, (v, k) in
            enumerate(zip(rng.random(10_000), rng.integers(0, 9, 10_000)))]
    t = time.perf_counter()
    out = iv.rows_intervals(rows, ["tiou", "nn"])
    assert time.perf_counter() - t < 5.0 and out["tiou"]["n_units"] == 3334


def test_intervals_do_not_depend_on_the_classifier_batch_size(tiny_classifier):
    from sem_metric import registry
    from sem_metric.pipeline.options import SemOptions

    samples, boxes = _maps(8, seed=2)
    runs = [evaluate_samples(samples, boxes, "tiou,nn,sem", sem_options=SemOptions(classifier=tiny_classifier,
                                                                                  batch_size=b)) for b in (1, 5, 64)]
    bound = registry.get("sem").reproducibility.bound(runs[0]["means"]["sem"])
    for r in runs[1:]:
        assert r["intervals"]["tiou"] == runs[0]["intervals"]["tiou"] and r["intervals"]["nn"] == runs[0]["intervals"]["nn"]
        for side in ("low", "high"):
            assert abs(r["intervals"]["sem"][side] - runs[0]["intervals"]["sem"][side]) <= bound
