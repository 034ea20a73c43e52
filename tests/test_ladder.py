"""The ladder benchmark (benchmarks/validity/ladder.py, issue 24): the rungs are built as documented and
the order shares count as documented. The orders themselves are held on the shipped fixture by
``tests/test_readme.py::test_ladder_commands``, which runs the README's command."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.validity.ladder import (  # noqa: E402
    RUNGS, SHRINK, LadderObject, ellipse, fill_class, load_objects, order_share, rung_objects)


def _objects():
    return load_objects(ROOT / "examples" / "gt", ROOT / "examples" / "boxes.json")


def test_objects_and_erased_maps():
    objs = _objects()
    assert len(objs) == 5
    for o in objs:
        assert o.target.any()
        assert not (o.erased == o.label).any()                 # erased: no target pixel left in the box
        np.testing.assert_array_equal(o.erased[~o.target], o.gt[~o.target])   # everything else kept


def test_fill_class_is_the_class_below_the_box():
    seg = np.zeros((6, 6), np.int64)
    seg[1:3, 1:4] = 5                  # the object
    seg[3, :] = 2                      # the road below it
    assert fill_class(seg, (1, 1, 4, 3), 5) == 2
    assert fill_class(seg, (0, 3, 6, 6), 5) == 0               # bottom edge: inside the box instead


def test_rungs_are_built_as_documented():
    objs = [LadderObject("a", np.pad(np.ones((20, 10), np.int64), 2) * 3, np.zeros((24, 14), np.int64), 3, "a"),
            LadderObject("b", np.pad(np.ones((12, 30), np.int64), 2) * 4, np.zeros((16, 34), np.int64), 4, "b"),
            LadderObject("c", np.pad(np.ones((18, 8), np.int64), 3) * 3, np.zeros((24, 14), np.int64), 3, "c")]
    masks = rung_objects(objs, seed=0)
    assert set(masks) == set(RUNGS)
    for i, o in enumerate(objs):
        t = o.target
        assert np.array_equal(masks["identical"][i], t) and np.array_equal(masks["shrink_1"][i], t)
        assert masks["shift2"][i].sum() == t.sum()             # a 2 px shift of an object 2+ px from the edge
        assert masks["erode8"][i].sum() < t.sum()
        assert masks["s_u"][i].all() and not masks["erased"][i].any()
        np.testing.assert_array_equal(masks["ellipse"][i], ellipse(*t.shape))
        sizes = [masks[f"shrink_{s:g}"][i].sum() for s in SHRINK]
        assert sizes == sorted(sizes, reverse=True) and sizes[-1] >= 1    # never empty: at least a speck
    assert masks["same_class"][1] is None                      # no other car-like object of class 4
    assert masks["other_class"][0].shape == objs[0].gt.shape


def test_order_share_counts_strict_order_and_ties():
    v = {"a": np.array([1.0, 0.5, 0.2, np.nan]), "b": np.array([0.5, 0.5, 0.9, 0.1])}
    got = order_share(v, [("a", "b")], higher_is_better=True)
    assert got == {"in_order": 1 / 3, "ties": 1 / 3, "pairs": 3}
