"""Same inputs, same verdict (issue #17): reproducibility bounds in checks, id-space traps, CLI hints,
``--processes`` exit codes. Everything through the real entry points (sem-score / evaluate_*)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sem_metric import registry
from sem_metric.cli import main
from sem_metric.errors import InputError
from sem_metric.pipeline.evaluate import evaluate_samples

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_error_line(stderr):
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# ------------------------------------------------------------------------------ bounds
def test_every_metric_declares_its_bound():
    for name in ("tiou", "hamm", "nn"):
        assert registry.get(name).reproducibility.exact
    sem, sfd = registry.get("sem").reproducibility, registry.get("sfd").reproducibility
    assert not sem.exact and 0 < sem.bound(0.5) <= 1e-4
    assert not sfd.exact and sfd.bound(100.0) > sfd.bound(1.0) > 0       # relative part: grows with SFD


def _example_result(tmp_path, *extra):
    out = tmp_path / "r.json"
    res = run([EXAMPLES / "pred", EXAMPLES / "gt", "--boxes", EXAMPLES / "boxes.json", "--metrics",
               "tiou,hamm,nn,sem", "--threads", "1", "--json", out, "-q", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


def _shifted_baseline(result, path, sem_delta):
    base = json.loads(json.dumps(result))
    base["means"]["sem"] = result["means"]["sem"] - sem_delta      # the baseline was better by sem_delta
    path.write_text(json.dumps(base))
    return path


def test_baseline_never_fails_inside_the_bound_and_still_fails_outside(tmp_path):
    ref = _example_result(tmp_path)
    bound = registry.get("sem").reproducibility.bound(ref["means"]["sem"])
    # float noise of the size the bound allows, no --tolerance: passes; the detail names the bound
    inside = _shifted_baseline(ref, tmp_path / "inside.json", 0.9 * bound)
    res = run([EXAMPLES / "pred", EXAMPLES / "gt", "--boxes", EXAMPLES / "boxes.json", "--metrics",
               "tiou,hamm,nn,sem", "--threads", "1", "--baseline", inside, "--batch-size", "3"])
    assert res.exit_code == 0, res.output
    assert "reproducibility bound" in res.stderr
    # a real regression (10x the bound) fails, with and without a user tolerance below it
    outside = _shifted_baseline(ref, tmp_path / "outside.json", 10 * bound)
    for extra in ([], ["--tolerance", f"sem={bound}"]):
        res = run([EXAMPLES / "pred", EXAMPLES / "gt", "--boxes", EXAMPLES / "boxes.json", "--metrics",
                   "tiou,hamm,nn,sem", "--threads", "1", "--baseline", outside, *extra])
        assert res.exit_code == 1, res.output
    # a user tolerance adds to the bound: 10x bound worse passes with tolerance 9.5x bound
    res = run([EXAMPLES / "pred", EXAMPLES / "gt", "--boxes", EXAMPLES / "boxes.json", "--metrics",
               "tiou,hamm,nn,sem", "--threads", "1", "--baseline", outside, "--tolerance", f"sem={9.5 * bound}"])
    assert res.exit_code == 0, res.output


def test_same_predictions_other_batch_size_and_cache_state_pass_their_own_baseline(tmp_path):
    """The issue's CI failure: baseline at batch 64 / cold cache, rerun at batch 1 and 5 with a warm cache."""
    cache = tmp_path / "gt.npz"
    ref = _example_result(tmp_path, "--gt-cache", cache)
    base = tmp_path / "base.json"
    base.write_text(json.dumps(ref))
    for bs in ("1", "5"):
        res = run([EXAMPLES / "pred", EXAMPLES / "gt", "--boxes", EXAMPLES / "boxes.json", "--metrics",
                   "tiou,hamm,nn,sem", "--threads", "1", "--batch-size", bs, "--gt-cache", cache,
                   "--baseline", base])
        assert res.exit_code == 0, res.output


def test_thresholds_never_fail_inside_the_bound(tmp_path):
    ref = _example_result(tmp_path)
    sem = ref["means"]["sem"]
    bound = registry.get("sem").reproducibility.bound(sem)
    args = [EXAMPLES / "pred", EXAMPLES / "gt", "--boxes", EXAMPLES / "boxes.json", "--metrics", "tiou,hamm,nn,sem",
            "--threads", "1", "-q"]
    assert run(args + ["--fail-above", f"sem={sem - 0.5 * bound!r}"]).exit_code == 0
    assert run(args + ["--fail-above", f"sem={sem - 10 * bound!r}"]).exit_code == 1
    # exact metrics have no slack at all
    tiou = ref["means"]["tiou"]
    assert run(args + ["--fail-below", f"tiou={tiou + 1e-12!r}"]).exit_code == 1


def test_results_record_the_bounds(tmp_path):
    ref = _example_result(tmp_path)
    rep = ref["metadata"]["reproducibility"]
    assert rep["tiou"] == {"exact": True, "absolute": 0.0, "relative": 0.0}
    assert rep["sem"] == registry.get("sem").reproducibility.as_dict()


# ------------------------------------------------------------------------------ id-space traps
def _cityscapes_person_scene(tmp_path, gt_kind="labelIds"):
    """Two 64 x 128 labelIds maps: road (7) below, building (11) above, a person (24) standing in front.

    The prediction erases the person (the box is filled with building / road): what an inpainting
    model that failed would produce.
    """
    boxes = {}
    for i in range(2):
        gt = np.full((64, 128), 11, np.uint8)
        gt[40:] = 7
        x = 20 + 40 * i
        gt[14:50, x:x + 12] = 24
        pred = gt.copy()
        pred[14:50, x:x + 12] = 11
        pred[40:50, x:x + 12] = 7
        if gt_kind == "instanceIds":       # Cityscapes *_instanceIds.png: class * 1000 + instance, 16-bit
            gt = gt.astype(np.uint16)
            gt[gt == 24] = 24000 + i
        name = f"frankfurt/frankfurt_00000{i}.png"
        for side, arr in (("pred", pred), ("gt", gt)):
            p = tmp_path / side / name
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(p)
        boxes[name] = [{"bbox": [x - 2, 12, x + 14, 52], "label": 11 if gt_kind == "trainIds-label" else 24}]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    return [tmp_path / "pred", tmp_path / "gt", "--boxes", tmp_path / "boxes.json"]


def test_trainid_person_on_labelids_maps_is_refused_when_the_names_are_known(tmp_path):
    args = _cityscapes_person_scene(tmp_path, "trainIds-label")
    # without class names nothing can tell building from person: scored (this is why --class-names matters)
    res = run(args + ["--json", tmp_path / "blind.json"])
    assert res.exit_code == 0 and json.loads((tmp_path / "blind.json").read_text())["means"]["tiou"] > 0.3
    res = run(args + ["--class-names", "cityscapes", "--json", tmp_path / "out.json"])
    assert res.exit_code == 2, res.output
    line = one_error_line(res.stderr)
    assert "'frankfurt/frankfurt_000000.png' box 0 (label 11 building)" in line
    assert "11 is 'building'" in line and "trainId 11 is 'person', whose labelId is 24" in line
    assert "--allow-stuff-target" in line and "2 of 2 box(es)" in line
    assert not (tmp_path / "out.json").exists()
    res = run(args + ["--class-names", "cityscapes", "--allow-stuff-target", "--json", tmp_path / "ok.json"])
    assert res.exit_code == 0, res.output
    assert "warning: 2 box(es) have a target label of a class without instances" in res.stderr
    meta = json.loads((tmp_path / "ok.json").read_text())["metadata"]
    assert meta["stuff_target"]["count"] == 2 and meta["options"]["allow_stuff_target"] is True


def test_real_person_label_is_scored(tmp_path):
    res = run(_cityscapes_person_scene(tmp_path) + ["--class-names", "cityscapes", "--json", tmp_path / "o.json"])
    assert res.exit_code == 0, res.output
    r = json.loads((tmp_path / "o.json").read_text())
    assert r["means"]["tiou"] == 0.0 and r["metadata"]["stuff_target"]["count"] == 0


def test_instanceids_ground_truth_gets_its_own_hint(tmp_path):
    res = run(_cityscapes_person_scene(tmp_path, "instanceIds"))
    assert res.exit_code == 2, res.output
    line = one_error_line(res.stderr)
    assert "instanceIds" in line and "labelIds" in line and "label * 1000 + instance" in line
    assert "not trainIds" not in line


def test_stuff_check_in_python_and_for_other_sets():
    gt = np.zeros((8, 8), np.uint8)
    gt[2:6, 2:6] = 3                    # CamVid 3 = road: stuff
    with pytest.raises(InputError, match=r"3 is 'road'.*allow_stuff_target=True"):
        evaluate_samples({"a": (gt, gt)}, {"a": [{"bbox": [0, 0, 8, 8], "label": 3}]}, class_names="camvid")
    r = evaluate_samples({"a": (gt, gt)}, {"a": [{"bbox": [0, 0, 8, 8], "label": 3}]}, class_names="camvid",
                         allow_stuff_target=True, warn=lambda m: None)
    assert r["metadata"]["stuff_target"]["first"] == [{"file": "a", "box_index": 0, "label": 3}]
    # a user {id: name} table says nothing about stuff: never refused
    r = evaluate_samples({"a": (gt, gt)}, {"a": [{"bbox": [0, 0, 8, 8], "label": 3}]}, class_names={3: "road"})
    assert r["metadata"]["stuff_target"]["count"] == 0


# ------------------------------------------------------------------------------ hints for the interface in use
def test_rgb_hint_names_the_cli_option_in_the_cli_and_the_argument_in_python(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    rgb = np.zeros((8, 8, 3), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "ex" / "pred" / "0002.png")
    res = run([tmp_path / "ex" / "pred", tmp_path / "ex" / "gt", "--boxes", tmp_path / "ex" / "boxes.json"])
    assert res.exit_code == 2
    line = one_error_line(res.stderr)
    assert "--color-map colors.json" in line and "color_map={" not in line
    from sem_metric import read_label_map

    with pytest.raises(InputError, match=r"color_map=\{\(r, g, b\): id\}") as e:
        read_label_map(tmp_path / "ex" / "pred" / "0002.png")
    assert "--color-map" not in str(e.value)


# ------------------------------------------------------------------------------ --processes
def _sem_score(args, env):
    return subprocess.run([sys.executable, "-m", "sem_metric.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=600)


def test_processes_gives_one_process_result_and_exit_codes(tmp_path, subprocess_env):
    base = [EXAMPLES / "pred", EXAMPLES / "gt", "--boxes", EXAMPLES / "boxes.json", "--metrics", "tiou,hamm,nn,sem,sfd"]
    one = _sem_score(base + ["--json", tmp_path / "one.json", "-q"], subprocess_env)
    assert one.returncode == 0, one.stderr
    many = _sem_score(base + ["--processes", "2", "--json", tmp_path / "many.json"], subprocess_env)
    assert many.returncode == 0, many.stderr
    assert "Traceback" not in many.stderr and many.stdout.count("samples 5") == 1     # rank 0 alone prints
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "many.json"))
    assert b["metadata"]["world_size"] == 2
    for m in ("tiou", "hamm", "nn"):
        assert a["means"][m] == b["means"][m]
        assert a["intervals"][m] == b["intervals"][m]          # issue 26: the same interval with 2 processes
    for m in ("sem", "sfd"):
        bound = registry.get(m).reproducibility.bound(a["means"][m])
        assert abs(a["means"][m] - b["means"][m]) <= bound
    # F@GT comes from the ranks' own classifier passes, merged with the rows: the 4 objects that differ from
    # their ground truth (identical objects are left out whatever the metrics, issue 27)
    rec = [[(c["label"], c["gt_recognition"]["classified"]) for c in r["per_class"]["classes"]] for r in (a, b)]
    assert rec[0] == rec[1] and sum(n for _, n in rec[0]) == 4
    # a failed check: 1 (not the launcher's code)
    failed = _sem_score(base[:4] + ["--processes", "2", "--fail-below", "tiou=0.99", "-q"], subprocess_env)
    assert failed.returncode == 1, failed.stderr
    assert "FAIL tiou" in failed.stderr and "Traceback" not in failed.stderr


def test_processes_bad_input_exits_2_with_one_error_line(tmp_path, subprocess_env):
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    (tmp_path / "ex" / "pred" / "0002.png").write_bytes(b"not a png")
    res = _sem_score([tmp_path / "ex" / "pred", tmp_path / "ex" / "gt", "--boxes", tmp_path / "ex" / "boxes.json",
                      "--processes", "2", "--json", tmp_path / "o.json"], subprocess_env)
    assert res.returncode == 2, res.stderr
    assert one_error_line(res.stderr).startswith("error: cannot read")
    assert not (tmp_path / "o.json").exists()


def test_exit_code_of_the_workers_prefers_a_real_code_over_the_launchers_sigterm():
    import signal

    from sem_metric.launch import code_from_failures, worker_threads

    # rank 1 exited 2 (bad input); the launcher then terminated rank 0 while it tore down
    assert code_from_failures({0: -int(signal.SIGTERM), 1: 2}) == 2
    assert code_from_failures({0: 1, 1: 1}) == 1
    assert code_from_failures({0: -int(signal.SIGINT), 1: -int(signal.SIGINT)}) == 130
    assert code_from_failures({0: -int(signal.SIGKILL)}) == 2
    assert worker_threads(2, 3) == 3 and worker_threads(10 ** 6) == 1


def test_rank_0_records_its_exit_code_for_the_launcher(tmp_path, monkeypatch):
    """A worker that crashes in teardown after rank 0 finished cannot change the verdict."""
    from sem_metric import launch

    path = tmp_path / "code"
    monkeypatch.setenv(launch.EXIT_CODE_FILE_ENV, str(path))
    launch.record_exit_code(1)
    assert path.read_text() == "1" and launch._recorded_exit_code(str(path)) == 1
    monkeypatch.delenv(launch.EXIT_CODE_FILE_ENV)
    launch.record_exit_code(2)                      # outside --processes: nothing is written
    assert path.read_text() == "1" and launch._recorded_exit_code(str(tmp_path / "none")) is None
