"""Golden values (issue #17): Sem and SFD of the shipped example, for every shipped weights file, held to
the documented reproducibility bound. A failure means a dependency upgrade (torch, timm, Pillow) or a
code change moved the numbers users put in their tables: see the README, "Reproducibility"."""
import json

import pytest
from bounds import within
from golden import GOLDEN, compute

from sem_metric.sem.weights import list_weights

FROZEN = json.loads(GOLDEN.read_text())["weights"]


def test_every_shipped_weights_file_has_golden_values():
    assert sorted(FROZEN) == sorted(list_weights()), "regenerate with: python tests/sem/golden.py --write"


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_sem_and_sfd_of_the_examples_match_the_golden_values(name, one_torch_thread):
    frozen = FROZEN[name]
    assert list_weights()[name] == frozen["sha256"], "shipped weights changed: a published entry must never change"
    got = compute(name)
    assert got["preprocessing_version"] == frozen["preprocessing_version"]
    assert len(got["sem"]) == len(frozen["sem"])
    for g, f in zip(got["sem"], frozen["sem"]):
        assert g == within("sem", f)
    assert got["sem_mean"] == within("sem", frozen["sem_mean"])
    assert got["sfd"] == within("sfd", frozen["sfd"])


@pytest.mark.parametrize("isa", ["avx2", "default"])
def test_golden_values_hold_on_another_instruction_set(isa, subprocess_env):
    """ATen's kernels restricted to AVX2 (``ATEN_CPU_CAPABILITY``): the same golden values, within the bound.

    On an AVX-512 machine ``default`` is AVX-512 and ``avx2`` the other family, so both families are
    checked on one machine; CI also runs the Sem tests under ``ATEN_CPU_CAPABILITY=avx2`` (``.ci/run``).
    """
    import subprocess
    import sys

    from golden import ROOT

    env = {**subprocess_env, "ATEN_CPU_CAPABILITY": isa}
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "sem" / "golden.py")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)["weights"]
    for name, frozen in FROZEN.items():
        for g, f in zip(got[name]["sem"], frozen["sem"]):
            assert g == within("sem", f)
        assert got[name]["sfd"] == within("sfd", frozen["sfd"])
