"""The sem-score command line: outputs, checks, exit codes and error messages."""
import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sem_metric.pipeline.checks import load_result
from sem_metric.cli import main
from sem_metric.version import LABELMAP_METRICS_VERSION, __version__

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture
def tiny(tiny_paths):
    """sem-score arguments for the hand-computed tree of tests/conftest.py (Tiny)."""
    pred, gt, boxes = tiny_paths
    return [pred, gt, "--boxes", boxes]


def write_tree(tiny_data, root, maps=None, boxes=None):
    pred, gt, bpath = tiny_data.write(root, maps, boxes)
    return [pred, gt, "--boxes", bpath]


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def assert_error(res, code, *fragments, stdout_empty=True):
    assert res.exit_code == code, res.output
    for f in fragments:
        assert f in res.stderr, res.stderr
    assert "Traceback" not in res.output
    if stdout_empty:
        assert res.stdout == ""


# ------------------------------------------------------------------------------ outputs
def test_table_and_defaults(tiny, tiny_data):
    res = run(tiny)
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "samples 3 | pairs 3 (2 with boxes, 1 without) | files pred 3, gt 3 | skipped 0" in out
    for name in ("tIOU", "hamm", "NN"):
        assert name in out
    assert "Sem" not in out  # not computed by default
    assert f"{tiny_data.MEANS['tiou']:.4f}" in out and "total 2 noise pixels" in out


def test_json_schema_round_trip_and_csv(tiny, tmp_path, tiny_data):
    jpath, cpath = tmp_path / "r.json", tmp_path / "s.csv"
    res = run(tiny + ["--json", jpath, "--per-sample", cpath, "--metrics", "nn,tiou,hamm"])
    assert res.exit_code == 0, res.output
    data = load_result(str(jpath))
    assert set(data) == {"schema", "metrics", "means", "intervals", "nn_total", "per_class", "counts", "skipped",
                         "pairs_without_boxes", "metadata", "runtime", "samples", "checks"}
    assert data["metrics"] == ["tiou", "hamm", "nn"]
    assert data["means"] == pytest.approx(tiny_data.MEANS, abs=1e-15)
    assert data["nn_total"] == 2
    assert data["counts"] == {"pred_files": 3, "gt_files": 3, "pairs": 3, "pairs_with_boxes": 2,
                              "pairs_without_boxes": 1, "samples": 3, "skipped": 0}
    meta = data["metadata"]
    assert meta["package_version"] == __version__
    assert meta["labelmap_metrics_version"] == LABELMAP_METRICS_VERSION
    assert meta["sem"] is None
    assert meta["options"]["cli"]["metrics"] == ["tiou", "hamm", "nn"]
    assert meta["options"]["cli"]["json_path"] == str(jpath)
    assert data["checks"] == {"passed": True, "items": [], "baseline": None}
    assert [s["file"] for s in data["samples"]] == ["a.png", "a.png", "b.npy"]
    # JSON floats keep full precision
    assert data["samples"][0]["tiou"] == 4 / 6
    rows = list(csv.DictReader(cpath.open()))
    assert len(rows) == data["counts"]["samples"] == 3
    assert list(rows[0]) == ["file", "box_index", "x0", "y0", "x1", "y1", "label", "tiou", "hamm", "nn"]
    assert rows[0]["file"] == "a.png" and rows[0]["x1"] == "6" and float(rows[0]["tiou"]) == 4 / 6
    # a second run gives byte-identical JSON (deterministic, no timestamps)
    run(tiny + ["--json", tmp_path / "r2.json", "--per-sample", cpath, "--metrics", "nn,tiou,hamm"])
    d2 = json.loads((tmp_path / "r2.json").read_text())
    d2["metadata"]["options"]["cli"]["json_path"] = str(jpath)
    assert d2 == data


def test_json_to_stdout_keeps_stdout_valid(tiny, tiny_data):
    res = run(tiny + ["--json", "-"])
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["means"] == pytest.approx(tiny_data.MEANS)
    assert "tIOU" in res.stderr  # the table moved to stderr


def test_csv_to_stdout(tiny):
    res = run(tiny + ["--per-sample", "-", "--metrics", "nn"])
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0][-1] == "nn" and len(rows) == 4
    assert_error(run(tiny + ["--per-sample", "-", "--json", "-"]), 2, "cannot both write to stdout")


def test_quiet_and_progress(tiny):
    res = run(tiny + ["--quiet"])
    assert res.exit_code == 0 and res.output == ""
    res = run(tiny + ["--progress"])
    assert "3/3 pairs" in res.stderr and "tIOU" in res.stdout
    res = run(tiny + ["--progress", "--quiet"])
    assert res.output == ""


def test_version():
    res = run(["--version"])
    assert res.exit_code == 0 and __version__ in res.stdout and LABELMAP_METRICS_VERSION in res.stdout


# ------------------------------------------------------------------------------ thresholds
@pytest.mark.parametrize("opts, code", [
    (["--fail-above", "nn=1", "--fail-below", "tiou=0.8"], 0),
    (["--fail-above", f"nn={2 / 3}"], 0),                       # equal passes
    (["--fail-above", "nn=0.5"], 1),
    (["--fail-below", "tiou=0.9"], 1),
    (["--fail-below", "hamm=0.5", "--fail-below", "tiou=0.95"], 1),
])
def test_thresholds(tiny, opts, code):
    res = run(tiny + opts)
    assert res.exit_code == code, res.output
    if code:
        assert "FAIL" in res.stderr and "check(s) failed" in res.stderr


def test_threshold_failure_message_has_values(tiny, tmp_path):
    res = run(tiny + ["--fail-above", "nn=0.5", "--json", tmp_path / "r.json", "-q"])
    assert res.exit_code == 1
    assert "FAIL nn mean 0.666667 > 0.5 (--fail-above nn=0.5)" in res.stderr
    data = json.loads((tmp_path / "r.json").read_text())  # outputs are written even when a check fails
    assert data["checks"]["passed"] is False and data["checks"]["items"][0]["metric"] == "nn"


@pytest.mark.parametrize("opts, fragment", [
    (["--fail-above", "nn"], "METRIC=VALUE"),
    (["--fail-above", "nn=abc"], "not a number"),
    (["--fail-below", "foo=1"], "unknown metric 'foo'"),
    (["--fail-above", "nn=1", "--metrics", "tiou"], "nn is not computed"),
    (["--metrics", "tiou,iou"], "unknown metric(s) 'iou'"),
    (["--frobnicate"], "No such option"),
    (["--tolerance", "0.1"], "need --baseline"),
    (["--batch-size", "0"], "batch-size"),
])
def test_usage_errors(tiny, opts, fragment):
    assert_error(run(tiny + opts), 2, fragment)


# ------------------------------------------------------------------------------ input errors
def test_missing_dir(tmp_path, tiny):
    assert_error(run([tmp_path / "nope"] + tiny[1:]), 2, "does not exist")
    assert_error(run(tiny[:3] + [tmp_path / "nope.json"]), 2, "does not exist")


def test_unmatched_files(tiny, tmp_path):
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(Path(tiny[1], "only_gt.png"))
    assert_error(run(tiny), 2, "error:", "only_gt.png", "--allow-unmatched")
    res = run(tiny + ["--allow-unmatched", "--json", tmp_path / "r.json"])
    assert res.exit_code == 0, res.output
    assert "skipped only_gt.png: missing in pred" in res.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["skipped"] == [{"file": "only_gt.png", "reason": "missing in pred"}]
    assert data["counts"]["gt_files"] == 4 and data["counts"]["skipped"] == 1


def test_boxes_without_pair(tmp_path, tiny_data):
    args = write_tree(tiny_data, tmp_path, boxes=dict(tiny_data.BOXES, **{"x/y.png": [{"bbox": [0, 0, 1, 1], "label": 1}]}))
    assert_error(run(args), 2, "error:", "x/y.png")
    assert run(args + ["--allow-unmatched"]).exit_code == 0


def test_size_mismatch_names_file(tmp_path, tiny_data):
    maps = tiny_data.maps()
    g, p = maps["a.png"]
    maps["a.png"] = (g, np.pad(p, ((0, 1), (0, 0))))
    assert_error(run(write_tree(tiny_data, tmp_path, maps)), 2, "error: 'a.png'", "7x8", "6x8")


def test_box_out_of_bounds_names_file_and_box(tmp_path, tiny_data):
    boxes = {"b.npy": [{"bbox": [0, 0, 4, 4], "label": 2}, {"bbox": [5, 0, 9, 2], "label": 2}]}
    assert_error(run(write_tree(tiny_data, tmp_path, boxes=boxes)), 2, "b.npy", "box 1", "outside the image")


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "invalid JSON"),
    ('["a.png"]', "top level must be an object"),
    ('{"a.png": [{"bbox": [1, 1, 6, 5]}]}', "missing key(s) 'label'"),
    ('{"a.png": [{"bbox": [1, 1, 0.5, 5], "label": 3}]}', "not an integer"),
    ('{"a.png": [{"bbox": [1, 1, 6, 5], "lable": 3}]}', "unknown key(s) 'lable'"),
])
def test_bad_boxes_json(tiny, text, fragment):
    Path(tiny[3]).write_text(text)
    assert_error(run(tiny), 2, "error:", fragment)


def test_no_samples_is_an_error(tmp_path, tiny_data):
    assert_error(run(write_tree(tiny_data, tmp_path, boxes={})), 2, "nothing to evaluate")


def test_rgb_map_needs_color_map(tmp_path):
    gt = np.zeros((6, 8, 3), np.uint8)
    gt[2:4, 2:5] = (255, 0, 0)
    pred = gt.copy()
    pred[2, 2] = (0, 0, 255)
    for side, arr in (("gt", gt), ("pred", pred)):
        (tmp_path / side).mkdir()
        Image.fromarray(arr).save(tmp_path / side / "x.png")
    (tmp_path / "boxes.json").write_text(json.dumps({"x.png": [{"bbox": [1, 1, 6, 5], "label": 1}]}))
    args = [tmp_path / "pred", tmp_path / "gt", "--boxes", tmp_path / "boxes.json"]
    assert_error(run(args), 2, "error:", "RGB", "color_map")
    cmap = tmp_path / "cmap.json"
    cmap.write_text(json.dumps({"#000000": 0, "255,0,0": 1}))
    assert_error(run(args + ["--color-map", cmap]), 2, "(0, 0, 255)", "not in color_map")
    cmap.write_text(json.dumps({"#000000": 0, "255,0,0": 1, "#0000ff": 2}))
    res = run(args + ["--color-map", cmap, "--json", "-", "--metrics", "tiou"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["means"]["tiou"] == 5 / 6
    cmap.write_text("[1, 2]")
    assert_error(run(args + ["--color-map", cmap]), 2, "error: color map")


def test_unwritable_output_is_usage_error(tiny, tmp_path):
    assert_error(run(tiny + ["--json", tmp_path / "no" / "r.json"]), 2, "does not exist")
    assert_error(run(tiny + ["--per-sample", tmp_path]), 2, "is a directory")


# ------------------------------------------------------------------------------ baseline
@pytest.fixture
def baseline(tiny, tmp_path):
    path = tmp_path / "base.json"
    assert run(tiny + ["--json", path]).exit_code == 0
    return path


def edit_baseline(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    out = path.with_name("edited.json")
    out.write_text(json.dumps(data))
    return out


def test_baseline_same_run_passes(tiny, baseline):
    res = run(tiny + ["--baseline", baseline])
    assert res.exit_code == 0, res.output
    assert "PASS tiou" in res.stderr and "unchanged" in res.stderr


@pytest.mark.parametrize("metric, delta, tolerance, code", [
    ("tiou", +0.05, ["0.1"], 0),           # baseline better by 0.05, tolerance 0.1
    ("tiou", +0.05, ["0.01"], 1),
    ("tiou", -0.05, [], 0),                # this run is better
    ("nn", -0.5, ["nn=1"], 0),             # lower is better: baseline lower by 0.5
    ("nn", -0.5, ["1", "nn=0.1"], 1),      # per-metric tolerance overrides the global one
    ("hamm", +0.2, ["0.1"], 1),
])
def test_baseline_regression(tiny, baseline, metric, delta, tolerance, code):
    def shift(d):
        d["means"][metric] += delta
    edited = edit_baseline(baseline, shift)
    args = tiny + ["--baseline", edited]
    for t in tolerance:
        args += ["--tolerance", t]
    res = run(args)
    assert res.exit_code == code, res.output
    if code:
        assert f"FAIL {metric} mean" in res.stderr and "worse by" in res.stderr


def test_baseline_version_mismatch(tiny, baseline, tmp_path):
    def other_version(d):
        d["metadata"]["labelmap_metrics_version"] = "labelmap-v0"
    edited = edit_baseline(baseline, other_version)
    res = run(tiny + ["--baseline", edited, "--json", tmp_path / "r.json"])
    # a refused run (exit 2) writes no result file: its numbers cannot be compared with the baseline
    assert_error(res, 2, "not comparable", "labelmap-v0", "--allow-version-mismatch")
    assert not (tmp_path / "r.json").exists()
    res = run(tiny + ["--baseline", edited, "--allow-version-mismatch"])
    assert res.exit_code == 0 and "warning:" in res.stderr and "compared anyway" in res.stderr


def test_baseline_errors(tiny, baseline, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    assert_error(run(tiny + ["--baseline", bad]), 2, "not a sem-score result")
    assert_error(run(tiny + ["--baseline", baseline, "--tolerance", "-1"]), 2, ">= 0")
    only_nn = edit_baseline(baseline, lambda d: d.update(means={"nn": 1.0}))
    assert_error(run(tiny + ["--baseline", only_nn, "--metrics", "tiou"]), 2, "no metric in common")


# ------------------------------------------------------------------------------ entry point & example
def test_installed_entry_point_exit_code(subprocess_env):
    """The `sem-score` console script (pyproject [project.scripts]) as a user runs it."""
    exe = shutil.which("sem-score") or shutil.which("sem-score", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("sem-score console script is not installed (pip install -e .)")
    proc = subprocess.run([exe, str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), "--boxes", str(EXAMPLES / "boxes.json"),
                           "--fail-below", "tiou=0.99"], capture_output=True, text=True, timeout=120,
                          env=subprocess_env)
    assert proc.returncode == 1, proc.stderr
    assert "tIOU" in proc.stdout and "FAIL tiou" in proc.stderr
    proc = subprocess.run([exe, "--frobnicate"], capture_output=True, text=True, timeout=120, env=subprocess_env)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Usage:" not in proc.stderr


def test_example_is_reproducible(tmp_path):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import make_example
    finally:
        sys.path.remove(str(EXAMPLES))
    make_example.main(["--out", str(tmp_path)])
    assert (tmp_path / "boxes.json").read_text() == (EXAMPLES / "boxes.json").read_text()
    from sem_metric.pipeline.io import read_label_map

    files = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*") if p.suffix in (".png", ".npy"))
    assert files == sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                           if p.suffix in (".png", ".npy"))
    assert any(f.endswith(".npy") for f in files) and any(f.count("/") >= 2 for f in files)
    for f in files:
        np.testing.assert_array_equal(read_label_map(EXAMPLES / f), read_label_map(tmp_path / f))
    res = run([EXAMPLES / "pred", EXAMPLES / "gt", "--boxes", EXAMPLES / "boxes.json", "--json", "-"])
    data = json.loads(res.stdout)
    assert data["counts"]["samples"] == 5 and data["counts"]["pairs_without_boxes"] == 1
    assert 0 < data["means"]["tiou"] < 1 and data["nn_total"] > 0


# ------------------------------------------------------------------------------ Sem through the CLI

@pytest.fixture
def sem_weights(random_weights_path, one_torch_thread):
    """The random but valid weights file of tests/conftest.py: the numbers mean nothing, the tests
    check the plumbing (metadata, cache, baseline comparability)."""
    return random_weights_path


def test_sem_cli_metadata_cache_and_baseline(tiny, sem_weights, tmp_path):
    from sem_metric.sem.preprocess import PREPROCESSING_VERSION
    from sem_metric.sem.weights import sha256_file

    cache = tmp_path / "gt.npz"
    common = tiny + ["--metrics", "tiou,sem", "--weights", sem_weights, "--device", "cpu", "--gt-cache", cache,
                     "--batch-size", "4"]
    res = run(common + ["--json", tmp_path / "r1.json"])
    assert res.exit_code == 0, res.output
    assert "Sem" in res.stdout and "preprocessing" in res.stdout
    r1 = json.loads((tmp_path / "r1.json").read_text())
    sem_meta = r1["metadata"]["sem"]
    assert sem_meta["classifier"]["sha256"] == sha256_file(sem_weights)
    assert sem_meta["classifier"]["source"] and sem_meta["classifier"]["name"]
    assert sem_meta["preprocessing_version"] == PREPROCESSING_VERSION
    assert all(0 <= s["sem"] <= 1 for s in r1["samples"])
    assert r1["runtime"]["sem"]["gt_cache"]["misses"] >= 1 and cache.is_file()

    # second run: ground-truth probabilities come from the cache, and the run compares with the first
    res = run(common + ["--json", tmp_path / "r2.json", "--baseline", tmp_path / "r1.json", "--tolerance", "1e-6"])
    assert res.exit_code == 0, res.output
    r2 = json.loads((tmp_path / "r2.json").read_text())
    assert r2["runtime"]["sem"]["gt_cache"]["hits"] == r1["runtime"]["sem"]["gt_cache"]["misses"]
    assert r2["runtime"]["sem"]["gt_cache"]["misses"] == 0

    # a baseline made with other weights is not comparable for Sem -> exit 2 ...
    def other_weights(d):
        d["metadata"]["sem"]["classifier"]["sha256"] = "0" * 64
    edited = edit_baseline(tmp_path / "r1.json", other_weights)
    res = run(common + ["--baseline", edited, "-q"])
    assert_error(res, 2, "Sem classifier weights sha256", "not comparable")
    # ... but fine when Sem is not compared
    res = run(tiny + ["--metrics", "tiou", "--baseline", edited])
    assert res.exit_code == 0, res.output


def test_sem_cli_bad_weights_and_ignored_options(tiny, tmp_path):
    res = run(tiny + ["--metrics", "sem", "--weights", tmp_path / "missing.safetensors"])
    assert_error(res, 2, "error:", "missing.safetensors")
    res = run(tiny + ["--weights", "x", "--gt-cache", tmp_path / "c.npz"])
    assert res.exit_code == 0 and "only apply to Sem" in res.stderr


def test_sem_cli_default_weights(tiny, one_torch_thread):
    res = run(tiny + ["--metrics", "sem", "--device", "cpu", "--json", "-"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["metadata"]["sem"]["classifier"]["sha256"]


# ------------------------------------------------------------------------------ issue 9: weights through the CLI
def test_weights_sha256_pin(tiny, sem_weights):
    from sem_metric.sem.weights import sha256_file

    common = tiny + ["--metrics", "sem", "--weights", sem_weights, "--device", "cpu"]
    res = run(common + ["--weights-sha256", "1" * 64])
    assert_error(res, 2, "error: sha256 mismatch", "1" * 64)
    assert res.stderr.count("\n") == 1
    res = run(common + ["--weights-sha256", sha256_file(sem_weights).upper(), "--json", "-"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["metadata"]["options"]["sem"]["sha256"] == sha256_file(sem_weights).upper()


def test_tampered_shipped_weights_are_refused(tiny, tmp_path):
    from sem_metric.sem.weights import DEFAULT_WEIGHTS, SHIPPED_WEIGHTS, shipped_weights_path

    entry = SHIPPED_WEIGHTS[DEFAULT_WEIGHTS]
    data = bytearray(shipped_weights_path(entry.filename).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / entry.filename).write_bytes(bytes(data))
    res = run(tiny + ["--metrics", "sem", "--weights", tmp_path / entry.filename, "--json", tmp_path / "r.json"])
    assert_error(res, 2, "error:", "presents itself as the shipped classifier weights", f"--weights {DEFAULT_WEIGHTS}")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("env", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}])
def test_hub_weights_fail_fast_offline_or_unreachable(tiny, tmp_path, env, subprocess_env):
    """No network in tests: an empty HF_HOME with offline mode, or a Hub endpoint nobody listens on."""
    import time

    full_env = {k: v for k, v in subprocess_env.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    full_env.update(env, HF_HOME=str(tmp_path / "hf_home"))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sem_metric.cli", *map(str, tiny), "--metrics", "sem",
                           "--weights", "hf://my-lab/sem-cls/model.safetensors", "--device", "cpu"],
                          capture_output=True, text=True, timeout=120, env=full_env)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not get classifier weights hf://my-lab/sem-cls"), lines
    assert "HF_HUB_OFFLINE" in lines[0]
    assert elapsed < 15, elapsed  # import time included; huggingface_hub's own retries took ~25 s


# ------------------------------------------------------------------------------ issue 9: absent target, exit codes
def test_absent_target_exit_2_then_allowed(tmp_path, tiny_data):
    boxes = json.loads(json.dumps(tiny_data.BOXES))
    for b in boxes["a.png"]:
        b["label"] += 10  # e.g. trainIds instead of labelIds: no box holds its label any more
    args = write_tree(tiny_data, tmp_path, boxes=boxes)
    res = run(args + ["--json", tmp_path / "r.json", "--per-sample", tmp_path / "r.csv"])
    assert_error(res, 2, "error: 2 of 3 box(es) have no pixel of their target label", "'a.png' box 0 (label 13)",
                 "'a.png' box 1 (label 11)", "labelIds", "trainIds", "--allow-absent-target")
    assert res.stderr.count("\n") == 1
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.csv").exists()
    res = run(args + ["--allow-absent-target", "--json", tmp_path / "r.json"])
    assert res.exit_code == 0, res.output
    assert "warning: 2 of 3 box(es)" in res.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["metadata"]["absent_target"]["count"] == 2
    assert data["metadata"]["options"]["cli"]["allow_absent_target"] is True


def test_ctrl_c_exits_130_and_leaves_no_file(tiny, tmp_path, monkeypatch):
    import sem_metric.pipeline.io as sio

    real = sio.read_label_map
    calls = []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 3:  # second pair: the first one was already scored
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(sio, "read_label_map", interrupted)
    res = run(tiny + ["--json", tmp_path / "r.json", "--per-sample", tmp_path / "r.csv"])
    assert res.exit_code == 130, res.output
    assert "Traceback" not in res.output and res.stderr.strip().startswith("error: interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["pred", "gt", "boxes.json"])


def test_ctrl_c_while_writing_leaves_no_file(tiny, tmp_path, monkeypatch):
    from sem_metric.pipeline import report

    def interrupted(result):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "to_csv", interrupted)
    res = run(tiny + ["--json", tmp_path / "r.json", "--per-sample", tmp_path / "r.csv"])
    assert res.exit_code == 130, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["pred", "gt", "boxes.json"])


def test_ctrl_c_real_signal(tmp_path, tiny_data, subprocess_env):
    """A real SIGINT to `python -m sem_metric.cli` while it reads a large tree: exit 130, no output file."""
    import signal
    import time

    maps = {f"m{i:03d}.png": (np.full((400, 400), 1, np.uint8), np.full((400, 400), 1, np.uint8)) for i in range(300)}
    boxes = {k: [{"bbox": [0, 0, 400, 400], "label": 1}] for k in maps}
    args = write_tree(tiny_data, tmp_path, maps, boxes)
    proc = subprocess.Popen([sys.executable, "-m", "sem_metric.cli", *args, "--progress", "--json",
                             str(tmp_path / "r.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env)
    line = proc.stderr.readline()  # "sem-score: 0/300 pairs": the run has started
    assert "pairs" in line, line
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_usage_errors_use_the_package_form(tiny):
    for opts in (["--frobnicate"], ["--metrics", "iou"], ["--fail-above", "nn"]):
        res = run(tiny + opts)
        assert res.exit_code == 2
        assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
        assert "Usage:" not in res.stderr and "Error:" not in res.stderr
    res = run([])
    assert res.exit_code == 2 and res.stderr.startswith("error: Missing argument")


def test_version_names_weights_and_preprocessing():
    from sem_metric.sem.weights import DEFAULT_WEIGHTS, SHIPPED_WEIGHTS
    from sem_metric.version import PREPROCESSING_VERSION

    res = run(["--version"])
    assert res.exit_code == 0
    out = res.stdout
    for part in (__version__, LABELMAP_METRICS_VERSION, DEFAULT_WEIGHTS, SHIPPED_WEIGHTS[DEFAULT_WEIGHTS].sha256[:12],
                 PREPROCESSING_VERSION):
        assert part in out, out
