"""Training command (checkpoint, resume, logs, export) and the evaluation table on synthetic CamVid maps."""
import json

import numpy as np
import torch
from PIL import Image

from sem_metric.reference import evaluate as ev
from sem_metric.reference import train as tr


def _camvid(root, splits=("train", "val", "test"), n=3):
    rng = np.random.default_rng(0)
    for split in splits:
        d = root / f"{split}annot"
        d.mkdir(parents=True)
        for i in range(n):
            a = np.zeros((24, 32), np.uint8)  # sky
            a[10:, :] = 3  # road
            a[8:12, :] = 1  # building strip
            x = int(rng.integers(2, 20))
            a[9:16, x:x + 8] = 8  # car
            a[6:14, 26:28] = 9  # pedestrian
            Image.fromarray(a).save(d / f"{split}_{i:03d}.png")
    return root


def _args(root, tmp, *extra):
    return ["--name", "tiny", "--data-root", str(root), "--size", "24", "32", "--batch-size", "2",
            "--base-channels", "4", "--n-down", "2", "--n-res", "1", "--lr", "1e-3", "--val-samples", "2",
            "--ckpt-dir", str(tmp / "ck"), "--log-dir", str(tmp / "logs"), "--min-area-frac", "0.01", *extra]


def test_resume_continues_step_count_and_matches_uninterrupted_run(tmp_path):
    root = _camvid(tmp_path / "camvid")
    # interrupted: 2 steps, checkpoint, then resume to the end of 2 epochs (3 batches per epoch)
    assert tr.main(_args(root, tmp_path / "a", "--epochs", "2", "--max-steps", "2")) == 0
    ck = torch.load(tmp_path / "a" / "ck" / "tiny" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 2 and ck["state"]["batch"] == 2 and ck["state"]["epoch"] == 0
    assert tr.main(_args(root, tmp_path / "a", "--epochs", "2", "--resume",
                         "--export", str(tmp_path / "a" / "g.safetensors"))) == 0
    ck = torch.load(tmp_path / "a" / "ck" / "tiny" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 6 and ck["state"]["epoch"] == 2
    log = [json.loads(l) for l in (tmp_path / "a" / "logs" / "tiny.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and [r["step"] for r in log] == [3, 6]
    assert all(np.isfinite(r["loss_g"]) and "tiou" in r["val"] for r in log)
    summary = json.loads((tmp_path / "a" / "logs" / "tiny.summary.json").read_text())
    assert summary["steps"] == 6 and "--resume" in summary["command"]
    # uninterrupted run with the same seed: same weights
    assert tr.main(_args(root, tmp_path / "b", "--epochs", "2")) == 0
    cb = torch.load(tmp_path / "b" / "ck" / "tiny" / "last.pt", weights_only=False)
    for k, v in ck["G"].items():
        torch.testing.assert_close(v, cb["G"][k], rtol=1e-5, atol=1e-6)


def test_resume_with_more_epochs_matches_longer_uninterrupted_run(tmp_path):
    # how the committed 8-epoch CamVid generators were made: a finished shorter run's last.pt, resumed with
    # a larger --epochs, gives the same weights and per-epoch log as training that long from the start
    root = _camvid(tmp_path / "camvid")
    assert tr.main(_args(root, tmp_path / "a", "--epochs", "1")) == 0
    assert tr.main(_args(root, tmp_path / "a", "--epochs", "2", "--resume")) == 0
    assert tr.main(_args(root, tmp_path / "b", "--epochs", "2")) == 0
    ca = torch.load(tmp_path / "a" / "ck" / "tiny" / "last.pt", weights_only=False)
    cb = torch.load(tmp_path / "b" / "ck" / "tiny" / "last.pt", weights_only=False)
    assert ca["state"]["step"] == cb["state"]["step"] == 6 and ca["state"]["epoch"] == 2
    for k, v in ca["G"].items():
        torch.testing.assert_close(v, cb["G"][k], rtol=1e-5, atol=1e-6)
    la = [json.loads(l) for l in (tmp_path / "a" / "logs" / "tiny.jsonl").read_text().splitlines()]
    lb = [json.loads(l) for l in (tmp_path / "b" / "logs" / "tiny.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in la] == [1, 2]
    for ra, rb in zip(la, lb):
        assert abs(ra["loss_g"] - rb["loss_g"]) < 1e-5 and ra["val"] == rb["val"]


def test_evaluate_writes_four_row_table(tmp_path):
    root = _camvid(tmp_path / "camvid")
    for name, extra in (("p", []), ("d", ["--da"])):
        assert tr.main(_args(root, tmp_path / name, "--epochs", "1", "--val-split", "",
                             "--export", str(tmp_path / f"{name}.safetensors"), *extra)) == 0
    out = tmp_path / "bench" / "table"
    assert ev.main(["--twosm", str(tmp_path / "p.safetensors"), "--twosm-da", str(tmp_path / "d.safetensors"),
                    "--data-root", str(root), "--size", "24", "32", "--min-area-frac", "0.01",
                    "--classifier", "none", "--out", str(out)]) == 0
    res = json.loads(out.with_suffix(".json").read_text())
    assert [r["method"] for r in res["rows"]] == ["TwoSM", "TwoSM+DA(Train)", "TwoSM+DA(Test)", "TwoSM+DA(Both)"]
    assert res["num_samples"] == 6 and res["samples_per_class"] == {"car": 3, "pedestrian": 3, "bicyclist": 0}
    for r in res["rows"]:
        assert 0 <= r["tiou"]["mean"] <= 1 and 0 <= r["hamm"]["mean"] <= 1 and r["nn"]["mean"] >= 0
        assert "sem" not in r
    # Eq. 9 leaves no pixel outside f^N
    assert res["rows"][2]["nn_fn"]["mean"] == 0 and res["rows"][3]["nn_fn"]["mean"] == 0
    assert res["classifier"] is None and "Sem omitted" in res["sem_note"]
    md = out.with_suffix(".md").read_text()
    assert "TwoSM+DA(Both)" in md and "python -m sem_metric.reference.evaluate" in md


def test_evaluate_refuses_a_classifier_it_cannot_load_instead_of_dropping_sem(tmp_path, capsys):
    root = _camvid(tmp_path / "camvid")
    assert tr.main(_args(root, tmp_path / "p", "--epochs", "1", "--val-split", "",
                         "--export", str(tmp_path / "p.safetensors"))) == 0
    out = tmp_path / "bench" / "table"
    code = ev.main(["--twosm", str(tmp_path / "p.safetensors"), "--twosm-da", str(tmp_path / "p.safetensors"),
                    "--data-root", str(root), "--size", "24", "32", "--min-area-frac", "0.01",
                    "--classifier", str(tmp_path / "missing.safetensors"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "missing.safetensors" in err and "Traceback" not in err
    assert not out.with_suffix(".json").exists()


def test_evaluate_with_a_classifier_adds_sem_and_its_sha256(tmp_path, random_weights_path):
    from sem_metric.sem.weights import sha256_file

    root = _camvid(tmp_path / "camvid", splits=("train", "test"), n=2)
    for name, extra in (("p", []), ("d", ["--da"])):
        assert tr.main(_args(root, tmp_path / name, "--epochs", "1", "--val-split", "", "--max-steps", "1",
                             "--export", str(tmp_path / f"{name}.safetensors"), *extra)) == 0
    out = tmp_path / "table"
    assert ev.main(["--twosm", str(tmp_path / "p.safetensors"), "--twosm-da", str(tmp_path / "d.safetensors"),
                    "--data-root", str(root), "--size", "24", "32", "--min-area-frac", "0.01",
                    "--classifier", str(random_weights_path), "--out", str(out)]) == 0
    res = json.loads(out.with_suffix(".json").read_text())
    assert res["classifier"]["sha256"] == sha256_file(random_weights_path)
    assert all(0 <= r["sem"]["mean"] <= 1 for r in res["rows"])
    assert "Sem ↓" in out.with_suffix(".md").read_text()


def test_evaluate_without_camvid_is_one_error_line(tmp_path, subprocess_env):
    """Issue 9: `python -m sem_metric.reference.evaluate` without the data exits 2 with one `error:` line."""
    import subprocess
    import sys
    from pathlib import Path

    ck = Path(__file__).resolve().parents[2] / "benchmarks" / "reference" / "checkpoints"
    proc = subprocess.run([sys.executable, "-m", "sem_metric.reference.evaluate",
                           "--twosm", str(ck / "twosm_e8.safetensors"), "--twosm-da", str(ck / "twosm_da_e8.safetensors"),
                           "--data-root", str(tmp_path / "no-camvid"), "--out", str(tmp_path / "t")],
                          capture_output=True, text=True, timeout=300, env=subprocess_env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: CamVid folder") and proc.stderr.count("\n") == 1, proc.stderr
    assert "--data-root" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())
