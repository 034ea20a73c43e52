"""The composite GitHub Action (action.yml, issue #11 item 5) runs as written on the shipped example.

Its ``run:`` steps are executed locally in bash, in order, the way the runner does: ``${{ ... }}``
expressions substituted (inputs with their defaults, ``github.action_path``, step outputs read back from
``$GITHUB_OUTPUT``), ``env:`` applied, steps without ``if: always()`` skipped after a failure. Only the
``uses:`` steps (setup-python, cache, upload-artifact) and the pip-install step are skipped: the package
under test is already importable. ``python`` and ``sem-score`` on PATH are this interpreter.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sem_metric.sem.weights import DEFAULT_WEIGHTS

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read action.yml (pip install '.[test]')")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _action():
    with open(ROOT / "action.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def _shims(tmp_path: Path) -> Path:
    """A bin folder whose ``python`` and ``sem-score`` are this interpreter and this checkout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("python", f'exec "{sys.executable}" "$@"'),
                       ("sem-score", f'exec "{sys.executable}" -m sem_metric.cli "$@"')):
        p = bin_dir / name
        p.write_text(f"#!/usr/bin/env bash\n{body}\n")
        p.chmod(0o755)
    return bin_dir


def run_action(tmp_path: Path, inputs: dict):
    """Run the action's ``run:`` steps; returns ``(exit status of the job, step summary text, workspace)``."""
    action = _action()
    values = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    unknown = set(inputs) - set(values)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    values.update({k: str(v) for k, v in inputs.items()})
    missing = [k for k, v in action["inputs"].items() if v.get("required") and k not in inputs]
    assert not missing, missing
    ws = tmp_path / "workspace"
    shutil.copytree(EXAMPLES, ws / "examples")
    summary_file = tmp_path / "step_summary.md"
    summary_file.write_text("")
    outputs: dict = {}

    def expr(m):
        e = m.group(1)
        if e.startswith("inputs."):
            return values[e[len("inputs."):]]
        if e == "github.action_path":
            return str(ROOT)
        hit = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", e)
        if hit:
            return outputs.get(hit.group(1), {}).get(hit.group(2), "")
        raise AssertionError(f"expression ${{{{ {e} }}}} in a run step is not emulated by this test")

    env_base = {**os.environ, "PATH": f"{_shims(tmp_path)}{os.pathsep}{os.environ['PATH']}",
                "PYTHONPATH": os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
                "GITHUB_STEP_SUMMARY": str(summary_file), "GITHUB_WORKSPACE": str(ws), "OMP_NUM_THREADS": "1",
                "CI": "true"}
    failed = False
    ran = []
    for i, step in enumerate(action["runs"]["steps"]):
        if "uses" in step or step.get("id") == "install":
            continue
        condition = str(step.get("if", "")).strip()
        assert condition in ("", "always()", "${{ always() }}"), f"run step {step.get('name')!r}: if: {condition}"
        if failed and not condition:
            continue
        assert step.get("shell") == "bash", "composite run steps need an explicit shell"
        out_file = tmp_path / f"output_{i}"
        out_file.write_text("")
        env = {**env_base, "GITHUB_OUTPUT": str(out_file)}
        env.update({k: _EXPR.sub(expr, str(v)) for k, v in (step.get("env") or {}).items()})
        script = tmp_path / f"step_{i}.sh"
        script.write_text(_EXPR.sub(expr, step["run"]))
        # the runner's "bash" shell: bash --noprofile --norc -eo pipefail {0}
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=ws, env=env,
                              capture_output=True, text=True, timeout=300)
        ran.append((step.get("name"), proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
        if step.get("id"):
            outputs[step["id"]] = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)
        if proc.returncode != 0:
            failed = True
            last = proc.returncode
    job_status = last if failed else 0
    return job_status, summary_file.read_text(encoding="utf-8"), ws, ran, outputs


BASE = {"pred-dir": "examples/pred", "gt-dir": "examples/gt", "boxes": "examples/boxes.json"}


def test_action_inputs_and_steps_are_complete():
    action = _action()
    assert action["runs"]["using"] == "composite"
    wanted = {"pred-dir", "gt-dir", "boxes", "metrics", "baseline", "tolerance", "fail-above", "fail-below",
              "gt-cache", "weights", "report-dir", "python-version", "extra-args", "torch-index-url"}
    assert wanted <= set(action["inputs"])
    uses = [s["uses"].split("@")[0] for s in action["runs"]["steps"] if "uses" in s]
    assert uses == ["actions/setup-python", "actions/cache", "actions/cache", "actions/upload-artifact"]
    names = [s.get("id") or s.get("uses", "").split("@")[0] for s in action["runs"]["steps"]]
    # the exit status is propagated only after the upload
    assert names.index("actions/upload-artifact") < len(names) - 1
    assert "python -m pip install \"$SEM_METRIC_SOURCE\"" in next(
        s["run"] for s in action["runs"]["steps"] if s.get("id") == "install")


def test_action_passing_run_with_sem_and_gt_cache(tmp_path):
    code, md, ws, ran, outputs = run_action(tmp_path, {
        **BASE, "metrics": "tiou,hamm,nn,sem", "fail-below": "tiou=0.5 hamm=0.5", "gt-cache": ".cache/sem_gt.npz",
        "class-names": "examples/class_names.json", "report-k": "1", "extra-args": "--threads 1 --batch-size 8"})
    assert code == 0, ran
    assert outputs["score"]["exit-code"] == "0" and outputs["score"]["result-json"] == "sem-result.json"
    assert md.startswith("## sem-score: ✅ all 2 checks passed (exit 0)")
    assert "| tIOU | 0.7493 | [0.6233, 0.9000] | higher | 5 | ✅ |" in md and "| 5 | car | 2 |" in md   # issue 26 interval
    assert "| Sem |" in md and f"Sem weights {DEFAULT_WEIGHTS}" in md
    result = json.loads((ws / "sem-result.json").read_text())
    assert result["checks"]["passed"] and result["per_class"]["class_names"] == "examples/class_names.json"
    assert result["metadata"]["options"]["cli"]["batch_size"] == 8
    assert (ws / ".cache" / "sem_gt.npz").is_file() and (ws / "sem-report" / "index.html").is_file()


def test_action_failing_threshold_and_baseline(tmp_path):
    from sem_metric.pipeline.evaluate import evaluate_dirs
    from sem_metric.pipeline.report import to_json

    base = tmp_path / "baseline.json"      # an earlier result on the same inputs
    base.write_text(to_json(evaluate_dirs(str(EXAMPLES / "pred"), str(EXAMPLES / "gt"), str(EXAMPLES / "boxes.json"))))
    code, md, ws, ran, outputs = run_action(tmp_path, {
        **BASE, "fail-above": "nn=1", "baseline": str(base), "tolerance": "0.001\nnn=0.5",
        "report-dir": "out/report", "json": "out/result.json"})
    assert code == 1, ran
    assert outputs["score"]["exit-code"] == "1" and ran[-1][0].startswith("Propagate") and ran[-1][1] == 1
    assert md.startswith("## sem-score: ❌ 1 check failed (exit 1)")
    assert "### Failed checks" in md and "- ❌ nn mean 1.4 > 1 (--fail-above nn=1)" in md
    result = json.loads((ws / "out" / "result.json").read_text())
    assert result["checks"]["baseline"]["tolerances"] == {"tiou": 0.001, "hamm": 0.001, "nn": 0.5}
    assert (ws / "out" / "report" / "index.html").is_file()


def test_action_bad_input_exit_2(tmp_path):
    code, md, ws, ran, outputs = run_action(tmp_path, {**BASE, "fail-above": "nosuchmetric=1"})
    assert code == 2, ran
    assert md.startswith("## sem-score: ❌ no result (exit 2)")
    assert "unknown metric 'nosuchmetric'" in ran[0][3] + ran[0][2]


def test_readme_workflow_example_uses_the_action():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(# \.github/workflows/.*?)```", text, re.S)
    assert block, "README needs a complete workflow example in a ```yaml block starting with # .github/workflows/"
    wf = yaml.safe_load(block.group(1))
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    ours = [s for s in steps if s.get("uses", "").split("@")[0].endswith("/sem-metric")]
    assert len(ours) == 1 and ours[0]["uses"].endswith("@v0.2")
    inputs = _action()["inputs"]
    assert set(ours[0]["with"]) <= set(inputs)
    assert {k for k, v in inputs.items() if v.get("required")} <= set(ours[0]["with"])


def test_action_task_form(tmp_path):
    """``task:`` instead of gt-dir / boxes runs ``sem-score PRED_DIR --task TASK_DIR`` (sem-task, issue 20)."""
    from sem_metric.task import build_task, custom_protocol

    task = tmp_path / "task"
    meta = build_task(custom_protocol("5,6,7"), str(EXAMPLES / "gt"), str(task))
    shutil.copytree(task / "incomplete", tmp_path / "pred")  # the null model S^u as the predictions
    code, md, ws, ran, outputs = run_action(tmp_path, {"pred-dir": str(tmp_path / "pred"), "task": str(task)})
    assert code == 0, ran
    result = json.loads((ws / "sem-result.json").read_text())
    assert result["metadata"]["task"]["digest"] == meta["digest"]
    assert result["means"] == meta["null_model"]["means"]
    code, md, ws, ran, outputs = run_action(tmp_path / "both", {"pred-dir": str(tmp_path / "pred"), "task": str(task),
                                                                "gt-dir": "examples/gt"})
    assert code == 2, ran
