"""Markdown job summary (issue #11 item 5): python -m sem_metric.pipeline.summary."""
import json
import subprocess
import sys
from pathlib import Path

from sem_metric.pipeline import summary

ROOT = Path(__file__).resolve().parents[2]


def _checks(*items):
    return {"passed": all(i["passed"] for i in items), "items": list(items), "baseline": None}


def test_markdown_table_and_failed_checks(make_result):
    res = make_result(means={"tiou": 0.75, "nn": 1.4})
    res["checks"] = _checks({"kind": "fail-above", "metric": "nn", "value": 1.4, "limit": 1.0, "passed": False,
                             "detail": "nn mean 1.4 > 1 (--fail-above nn=1)"},
                            {"kind": "fail-below", "metric": "tiou", "value": 0.75, "limit": 0.7, "passed": True,
                             "detail": "tiou mean 0.75 >= 0.7 (--fail-below tiou=0.7)"})
    res["per_class"] = {"class_names": None, "reliability": None, "classes": [
        {"label": 5, "name": "car|truck", "samples": 1, "metrics": {"tiou": {"mean": 0.75, "count": 1},
                                                                  "nn": {"mean": 2.0, "count": 1}},
         "sem_reliability": None}]}
    md = summary.to_markdown(res, exit_code=1)
    lines = md.splitlines()
    assert lines[0] == "## sem-score: ❌ 1 check failed (exit 1)"
    assert "| metric | mean | better | samples | checks |" in lines
    assert "| tIOU | 0.7500 | higher | 1 | ✅ |" in lines and "| NN | 1.400 | lower | 1 | ❌ |" in lines
    assert "### Failed checks" in lines and "- ❌ nn mean 1.4 > 1 (--fail-above nn=1)" in lines
    assert "- ✅ tiou mean 0.75 >= 0.7 (--fail-below tiou=0.7)" in lines
    assert "| 5 | car\\|truck | 1 | 0.7500 | 2.000 |" in lines            # cells are escaped
    assert "label-map metrics labelmap-v1" in lines[-1]


def test_markdown_without_checks_and_with_sem(make_result):
    res = make_result()
    res["checks"] = _checks()
    md = summary.to_markdown(res)
    assert md.startswith("## sem-score: no checks requested\n")
    assert "| Sem | 0.3000 | lower | 1 |  |" in md and "Sem weights w (sha256 `aaaaaaaaaaaa`)" in md


def _run(*args):
    return subprocess.run([sys.executable, "-m", "sem_metric.pipeline.summary", *map(str, args)],
                          capture_output=True, cwd=ROOT, timeout=60)


def test_entry_point(tmp_path, make_result):
    res = make_result(means={"tiou": 0.8})
    res["checks"] = _checks()
    p = tmp_path / "r.json"
    p.write_text(json.dumps(res))
    proc = _run(p, "--exit-code", "0", "--title", "Sem on PR")
    assert proc.returncode == 0 and proc.stdout.decode("utf-8").startswith("## Sem on PR: no checks requested (exit 0)")
    # sem-score stopped with exit 2 and wrote nothing: a note, not a crash
    proc = _run(tmp_path / "missing.json", "--exit-code", "2")
    assert proc.returncode == 0 and "❌ no result (exit 2)" in proc.stdout.decode("utf-8")
    proc = _run(tmp_path / "missing.json")
    assert proc.returncode == 2 and proc.stderr.decode().startswith("error: result not found")
