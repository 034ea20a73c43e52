"""Shape KID (skd, issue 26): the unbiased MMD^2 with KID's cubic kernel, seeded subsets, order-free, registered."""
import numpy as np
import pytest

from sem_metric import registry
from sem_metric.engine import skd
from sem_metric.errors import InputError
from sem_metric.pipeline.evaluate import evaluate_samples
from sem_metric.pipeline.options import SemOptions


def _brute(x, y):
    """Hand-written double loops of the unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3."""
    m, d = x.shape
    k = lambda a, b: (float(a @ b) / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_mmd2_matches_the_definition_and_is_zero_for_identical_sets():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    assert skd.mmd2_unbiased(x, y) == pytest.approx(_brute(x, y), rel=1e-12)
    # hand value: one-dimensional, x = (0, 1), y = (0, 0): k(0,.) = 1, k(1,1) = 8
    assert skd.mmd2_unbiased(np.array([[0.0], [1.0]]), np.zeros((2, 1))) == pytest.approx((1 + 1) / 2 + 1 - 2 * 1)
    assert skd.kid(x, x)["value"] == pytest.approx(skd.mmd2_unbiased(x, x))


def test_unbiased_on_draws_from_one_distribution():
    """Mean over 300 pairs of sets of 20 drawn from one Gaussian: 0 within 3 standard errors (the biased
    V-statistic is clearly positive at this size)."""
    rng = np.random.default_rng(1)
    vals, biased = [], []
    for _ in range(300):
        x, y = rng.normal(size=(20, 8)) + 0.5, rng.normal(size=(20, 8)) + 0.5
        vals.append(skd.mmd2_unbiased(x, y))
        k = skd.polynomial_kernel
        biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
    vals = np.asarray(vals)
    assert abs(vals.mean()) < 3 * vals.std() / np.sqrt(len(vals))
    assert np.mean(biased) > 10 * vals.std() / np.sqrt(len(vals))
    # a real shift is found
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 0.5
    out = skd.kid(x, y, subset_size=100, subsets=20)
    assert out["value"] > 5 * out["std"] > 0 and out["subsets"] == 20 and out["subset_size"] == 100


def test_subsets_are_seeded_and_order_free():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(60, 6)), rng.normal(size=(50, 6))
    a = skd.kid(x, y, subsets=10, subset_size=30)
    b = skd.kid(x[::-1], y[rng.permutation(50)], subsets=10, subset_size=30)
    assert a == b and a["std"] > 0                      # bit-identical: rows are sorted before the draws
    assert skd.kid(x, y, subsets=10, subset_size=30, seed=1)["value"] != a["value"]
    whole = skd.kid(x[:40], y[:40])                      # N <= subset size on both sides: one evaluation
    assert whole["subsets"] == 1 and whole["std"] == 0.0 and whole["subset_size"] == 40
    with pytest.raises(InputError, match="at least 2"):
        skd.kid(x[:1], y)


def test_registered_beside_sfd_and_exact_across_state_merges(tiny_classifier):
    spec = registry.get("skd")
    assert spec.level == "dataset" and spec.needs == ("features",) and not spec.default and not spec.higher_is_better
    assert {s.reduce for s in spec.resolve("states")} == {"cat"}
    rng = np.random.default_rng(3)
    samples, boxes = {}, {}
    for i in range(6):
        gt = np.zeros((24, 24), np.uint8)
        gt[4:20, 6:18] = 2
        pred = gt.copy()
        pred[4:4 + int(rng.integers(0, 10)), 6:18] = 0
        samples[f"s{i}"] = (pred, gt)
        boxes[f"s{i}"] = [{"bbox": [3, 3, 21, 21], "label": 2}]
    r = evaluate_samples(samples, boxes, "tiou,sfd,skd", sem_options=SemOptions(classifier=tiny_classifier))
    meta = r["metadata"]["dataset_metrics"]["skd"]
    assert isinstance(r["means"]["skd"], float) and meta["n_pred"] == meta["n_gt"] == 6
    assert meta["subset_size"] == 6 and meta["subsets"] == 1 and meta["std"] == 0.0
    assert "skd" not in r["intervals"] and "sfd" in r["means"]
    # the cat states of two "ranks" in either order give the same value, bit for bit
    f_p, f_g = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    cfg = {"subsets": 5, "subset_size": 10, "seed": 0, "dim": 4, "sha256": None}
    one = skd.skd_finalize({"pred_features": f_p, "gt_features": f_g}, cfg)
    swapped = skd.skd_finalize({"pred_features": np.concatenate([f_p[12:], f_p[:12]]),
                                "gt_features": np.concatenate([f_g[20:], f_g[:20]])}, cfg)
    assert one == swapped


def test_the_table_shows_skd_spread_over_subsets():
    from sem_metric.pipeline.tables import means_text

    r = {"metrics": ["tiou", "skd"], "means": {"tiou": 0.5, "skd": 0.00123}, "samples": [{"tiou": 0.5}],
         "intervals": {"tiou": {"low": 0.4, "high": 0.6, "level": 0.95, "method": "m", "resamples": 2, "seed": 0,
                                "unit": "file", "n_units": 1}},
         "metadata": {"dataset_metrics": {"skd": {"std": 0.0004, "subsets": 100}}}}
    line = next(ln for ln in means_text(r).splitlines() if ln.startswith("SKD"))
    assert "0.00123" in line and "± 0.00040 (sd, 100 subsets)" in line
    r["metadata"]["dataset_metrics"]["skd"]["subsets"] = 1          # one evaluation: no spread to show
    assert "±" not in means_text(r)
