"""Reusable logic of the validity study (benchmarks/validity): AUC, bootstrap, sampler, transforms.

Fast, synthetic; no data from ../shared/data is needed.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.validity.latent_gt import latent_gt_auc, partner_in_box, sample_pairs  # noqa: E402
from benchmarks.validity.shapes import HeldOutSet, in_box, margins, resize_mask  # noqa: E402
from benchmarks.validity.stats import (  # noqa: E402
    average_ranks, bootstrap_mean_ci, paired_auc_bootstrap, roc_auc)
from benchmarks.validity.transforms import LEVELS, apply, conditions  # noqa: E402


# ----------------------------------------------------------------------------- AUC
def test_auc_hand_computed_with_ties():
    # pairs (pos, neg): (.9,.5) 1, (.9,.3) 1, (.8,.5) 1, (.8,.3) 1, (.5,.5) 0.5 (tie), (.5,.3) 1 -> 5.5 / 6
    assert roc_auc([0.9, 0.8, 0.5], [0.5, 0.3]) == pytest.approx(5.5 / 6)


def test_auc_edge_cases():
    assert roc_auc([1, 2, 3], [0, -1]) == 1.0
    assert roc_auc([0, -1], [1, 2, 3]) == 0.0
    assert roc_auc([1, 1], [1, 1, 1]) == 0.5
    assert np.isnan(roc_auc([], [1.0]))


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(1)
    pos = rng.integers(0, 6, 40).astype(float)  # many ties
    neg = rng.integers(0, 5, 30).astype(float)
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert roc_auc(pos, neg) == pytest.approx(pairwise)


def test_average_ranks():
    np.testing.assert_allclose(average_ranks([10, 20, 10, 30, 20, 20]), [1.5, 4, 1.5, 6, 4, 4])


def test_bootstrap_intervals_contain_point_and_are_seeded():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 200), rng.normal(0, 1, 200)
    auc, lo, hi = paired_auc_bootstrap(pos, neg, n_boot=200, seed=3)
    assert lo < auc < hi and 0.6 < auc < 0.9
    assert paired_auc_bootstrap(pos, neg, n_boot=200, seed=3) == (auc, lo, hi)
    strata = np.r_[np.zeros(100), np.ones(100)]
    a2, lo2, hi2 = paired_auc_bootstrap(pos, neg, strata, n_boot=200, seed=3)
    assert a2 == auc and lo2 < auc < hi2
    m, mlo, mhi = bootstrap_mean_ci(np.c_[pos, neg], n_boot=200, seed=0)
    assert (mlo < m).all() and (m < mhi).all()


# ----------------------------------------------------------------------------- shapes and transforms
def _blob(h, w, seed=0):
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), dtype=bool)
    m[h // 4: 3 * h // 4, : w // 2] = True
    m[: h // 2, w // 3:] = True
    m[rng.integers(0, h), rng.integers(0, w)] = True
    return m


def test_resize_mask_never_empty_and_exact_size():
    tiny = np.zeros((50, 50), dtype=bool)
    tiny[3, 4] = True
    out = resize_mask(tiny, 5, 5)
    assert out.shape == (5, 5) and out.sum() == 1
    assert resize_mask(_blob(20, 30), 40, 60).shape == (40, 60)


def test_transforms_keep_box_and_basic_identities():
    b = in_box(_blob(30, 20))
    for t, lv in conditions():
        out = apply(b, t, lv, direction=1)
        assert out.shape == b.shape and out.dtype == bool
    np.testing.assert_array_equal(apply(apply(b, "hflip"), "hflip"), b)
    np.testing.assert_array_equal(apply(b, "rotate", 180), b[::-1, ::-1])
    assert apply(b, "fill").all()
    assert apply(b, "erode", 1).sum() < b.sum() < apply(b, "dilate", 1).sum()
    assert apply(b, "shift", 0.3, 0)[:, : round(0.3 * b.shape[1])].sum() == 0  # moved right
    assert len(conditions()) == sum(len(v) for v in LEVELS.values()) == 41


def test_partner_in_box_uses_anchor_tight_box():
    a, b = _blob(30, 20), _blob(10, 40, 1)
    p = partner_in_box(a, b)
    my, mx = margins(*a.shape)
    assert p.shape == in_box(a).shape
    assert not p[:my].any() and not p[:, :mx].any()


# ----------------------------------------------------------------------------- sampler and latent_gt_auc
def _toy_set(n=24, groups=None):
    masks = [_blob(12 + (i % 5), 14 + (i % 3), i) for i in range(n)]
    labels = np.arange(n) % 3
    return HeldOutSet("toy", masks, labels, np.arange(n) if groups is None else groups)


def test_sampler_is_fixed_and_splits_are_disjoint():
    s = _toy_set(groups=np.arange(24) // 6)
    a, sel, rep = (sample_pairs(s, 0, sp) for sp in ("all", "select", "report"))
    np.testing.assert_array_equal(np.sort(np.r_[sel["anchor"], rep["anchor"]]), a["anchor"])
    for p in (sel, rep):
        used = set(p["anchor"]) | set(p["same"]) | set(p["diff"])
        other = rep if p is sel else sel
        assert used.isdisjoint(set(other["anchor"]) | set(other["same"]) | set(other["diff"]))
    assert (s.labels[a["same"]] == s.labels[a["anchor"]]).all()
    assert (s.labels[a["diff"]] != s.labels[a["anchor"]]).all()
    assert (s.groups[a["same"]] != s.groups[a["anchor"]]).all()
    assert (s.groups[a["diff"]] != s.groups[a["anchor"]]).all()
    b = sample_pairs(s, 0, "all")
    for k in ("anchor", "same", "diff"):
        np.testing.assert_array_equal(a[k], b[k])
    # a split's pairs are those of "all" restricted to its anchors
    keep = np.isin(a["anchor"], sel["anchor"])
    np.testing.assert_array_equal(a["same"][keep], sel["same"])


def test_sampler_skips_anchors_without_partner():
    s = HeldOutSet("x", [_blob(10, 10)] * 4, [0, 1, 2, 3], [0, 1, 2, 3])  # every class once
    p = sample_pairs(s, 0, "all")
    assert p["anchor"].size == 0 and p["n_skipped"] == 4


def test_latent_gt_auc_end_to_end(random_classifier, random_weights_path, one_torch_thread):
    sets = {"toy": _toy_set(), "toy2": _toy_set(18)}
    r = latent_gt_auc(random_classifier, sets, "select", n_boot=20)
    assert set(r["sources"]) == {"toy", "toy2"}
    for m in ("sem", "tiou", "hamm"):
        assert 0.0 <= r["pooled"][m]["auc"] <= 1.0
        lo, hi = r["pooled"][m]["auc_ci"]
        assert lo <= hi
    assert r["score"] == r["macro"]["sem"]
    assert r["sources"]["toy"]["n_anchors"] == 12
    # a .safetensors path gives the same numbers as the loaded classifier
    r2 = latent_gt_auc(str(random_weights_path), sets, "select", n_boot=20)
    assert r2["pooled"] == r["pooled"]
