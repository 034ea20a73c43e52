"""sem-score --baseline B.json --significance ALPHA (issue 26): an unchanged re-score passes, a real regression
fails, a regression too small to tell from the luck of the samples passes (it fails without --significance)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from sem_metric.cli import main


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _write(root, cut, n_maps=30, seed=0):
    """n_maps 20 x 20 maps (.npy) with two car boxes each; the prediction erases cut(rng, i) rows of each car."""
    rng = np.random.default_rng(seed)
    (root / "pred").mkdir(parents=True)
    (root / "gt").mkdir(exist_ok=True)
    boxes = {}
    for i in range(n_maps):
        gt = np.zeros((20, 20), np.uint8)
        gt[2:9, 2:9] = 3
        gt[11:18, 11:18] = 3
        pred = gt.copy()
        pred[2:2 + cut(rng, i), 2:9] = 0
        pred[11:11 + cut(rng, i), 11:18] = 0
        np.save(root / "gt" / f"m{i:02d}.npy", gt)
        np.save(root / "pred" / f"m{i:02d}.npy", pred)
        boxes[f"m{i:02d}.npy"] = [{"bbox": [1, 1, 10, 10], "label": 3}, {"bbox": [10, 10, 19, 19], "label": 3}]
    (root / "boxes.json").write_text(json.dumps(boxes))
    return [root / "pred", root / "gt", "--boxes", root / "boxes.json"]


@pytest.fixture
def baseline(tmp_path):
    args = _write(tmp_path / "base", lambda rng, i: int(rng.integers(0, 3)))
    res = run(args + ["--json", tmp_path / "base.json", "-q"])
    assert res.exit_code == 0, res.output
    return tmp_path / "base.json"


def test_unchanged_rescore_passes(tmp_path, baseline):
    args = _write(tmp_path / "same", lambda rng, i: int(rng.integers(0, 3)))
    res = run(args + ["--baseline", baseline, "--significance", "0.05", "--json", tmp_path / "r.json"])
    assert res.exit_code == 0, res.output
    assert "PASS tiou" in res.stderr and "p = 1 " in res.stderr and "over 30 file(s)" in res.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["checks"]["baseline"]["significance"] == 0.05


def test_real_regression_fails(tmp_path, baseline):
    args = _write(tmp_path / "worse", lambda rng, i: int(rng.integers(0, 3)) + 2)
    res = run(args + ["--baseline", baseline, "--significance", "0.05"])
    assert res.exit_code == 1, res.output
    line = next(ln for ln in res.stderr.splitlines() if ln.startswith("FAIL tiou"))
    assert "worse by" in line and "interval [" in line and "p = 9.999e-05" in line


def test_small_regression_fails_only_without_significance(tmp_path, baseline):
    # one map of thirty loses one more row: worse in the means, not beyond the luck of the maps
    args = _write(tmp_path / "small", lambda rng, i: int(rng.integers(0, 3)) + (i == 0))
    plain = run(args + ["--baseline", baseline])
    assert plain.exit_code == 1 and "FAIL tiou" in plain.stderr
    tested = run(args + ["--baseline", baseline, "--significance", "0.05"])
    assert tested.exit_code == 0, tested.output
    assert "PASS tiou" in tested.stderr and "p = 1 " in tested.stderr   # one unit differs: every flip is as extreme


def test_significance_needs_baseline_and_a_valid_alpha(tmp_path, baseline):
    args = _write(tmp_path / "x", lambda rng, i: 0)
    res = run(args + ["--significance", "0.05"])
    assert res.exit_code == 2 and "need --baseline" in res.stderr
    res = run(args + ["--baseline", baseline, "--significance", "1.5"])
    assert res.exit_code == 2 and "--significance" in res.stderr


def test_sem_rescored_with_another_batch_size_passes(tmp_path, random_weights_path, one_torch_thread):
    args = _write(tmp_path / "s", lambda rng, i: int(rng.integers(0, 3)), n_maps=12)
    sem = ["--metrics", "tiou,sem", "--weights", random_weights_path, "-q"]
    res = run(args + sem + ["--batch-size", "64", "--json", tmp_path / "b.json"])
    assert res.exit_code == 0, res.output
    again = run(args + sem + ["--batch-size", "5", "--baseline", tmp_path / "b.json", "--significance", "0.05"])
    assert again.exit_code == 0, again.output
