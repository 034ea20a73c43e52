"""Issue 27: a failure importing torch / torchvision / timm (e.g. a torchvision built for another torch) is one
``error:`` line of sem-score / sem-task (what failed, the versions installed, the pip command), exit 2, not a
traceback. Simulated with a ``torchvision`` package that fails on import, put first on the path of a child
process (as a mismatched torchvision fails inside its own import)."""
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sem_metric.errors import dependency_failure

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NMS = "operator torchvision::nms does not exist"


@pytest.fixture
def broken_torchvision(tmp_path):
    """A folder whose ``torchvision`` raises what a torchvision built for another torch raises."""
    pkg = tmp_path / "shadow" / "torchvision"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"raise RuntimeError({NMS!r})\n")
    return tmp_path / "shadow"


def _run(shadow, module, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shadow)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    code = f"import sys; from {module} import main; main()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)


def _expected_fix():
    major, minor = metadata.version("torch").split("+")[0].split(".")[:2]
    return f'pip install "torchvision==0.{int(minor) + 15}.*"' if major == "2" else "pip install --force-reinstall"


def _check_line(r):
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-3000:]
    line = lines[0]
    assert f"importing torchvision failed (RuntimeError: {NMS})" in line, line
    for name in ("torch", "torchvision", "timm"):
        assert f"{name} {metadata.version(name)}" in line, line
    assert _expected_fix() in line, line
    assert "Traceback" not in r.stderr


def test_sem_score_with_a_broken_torchvision_is_one_error_line(tmp_path, broken_torchvision):
    r = _run(broken_torchvision, "sem_metric.cli", EXAMPLES / "pred", EXAMPLES / "gt", "--boxes",
             EXAMPLES / "boxes.json", "--metrics", "tiou,sem", "--json", tmp_path / "r.json")
    _check_line(r)
    assert not (tmp_path / "r.json").exists()
    # the label-map metrics need no classifier, so they run whatever the torch stack
    r = _run(broken_torchvision, "sem_metric.cli", EXAMPLES / "pred", EXAMPLES / "gt", "--boxes",
             EXAMPLES / "boxes.json", "--metrics", "tiou,hamm,nn", "--json", tmp_path / "r.json")
    assert r.returncode == 0, r.stderr[-3000:]


def test_sem_task_null_sem_with_a_broken_torchvision_is_one_error_line(tmp_path, broken_torchvision):
    maps = tmp_path / "maps"
    maps.mkdir()
    seg = np.zeros((16, 16), np.uint8)
    seg[4:10, 4:10] = 1
    Image.fromarray(seg).save(maps / "a.png")
    r = _run(broken_torchvision, "sem_metric.task.cli", "build", "custom", maps, "--labels", "1", "--out",
             tmp_path / "task", "--null-sem", "-q")
    _check_line(r)
    assert not (tmp_path / "task").exists()


def test_only_import_failures_of_the_dependencies_become_a_line():
    import torch

    try:
        torch.zeros(2) + torch.zeros(3)        # a runtime error inside torch, not an import failure
    except RuntimeError as e:
        assert dependency_failure(e) is None
    assert dependency_failure(ValueError("x")) is None
    assert dependency_failure(ModuleNotFoundError("No module named 'yaml'", name="yaml")) is None
    # a dependency that is not installed at all
    msg = dependency_failure(ModuleNotFoundError("No module named 'timm'", name="timm"))
    assert msg.startswith(("timm is not installed", "importing timm failed")) and 'pip install --upgrade "timm' in msg
