"""The README's Python example runs as written (from the repository root)."""
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(monkeypatch):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(ROOT)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    assert 0.0 <= ns["compute_sem"](ns["pred"], ns["gt"], ns["box"], ns["label"]) <= 1.0
    assert ns["O"].shape == ns["gt"].shape and ns["M"].sum() == (24 - 9) * (60 - 34)


def test_readme_opens_with_the_two_commands():
    lines = [l for l in (ROOT / "README.md").read_text().splitlines() if l.strip()]
    block = lines[lines.index("```bash") + 1:lines.index("```bash") + 3]
    assert block[0].startswith("pip install . && sem-score examples/pred examples/gt --boxes examples/boxes.json")
    assert block[1] == 'pip install ".[test]" && python -m pytest -q'
    assert os.path.isfile(ROOT / ".ci" / "run") and "python -m pytest -q" in (ROOT / ".ci" / "run").read_text()


def test_public_functions_are_not_shadowed_by_submodules():
    """A submodule named like a public function would replace it once imported (lazy attributes)."""
    import importlib

    import sem_metric

    for name, module in sem_metric._LAZY.items():
        importlib.import_module(f"sem_metric.{module}")
    for name in sem_metric._LAZY:
        assert not isinstance(getattr(sem_metric, name), type(sem_metric)), name
