"""Numbers do not move (issue 18): today's values of the examples and a synthetic set, frozen before the
engine refactor (``tests/data/engine_frozen.json``, written by ``tests/engine/frozen.py``).

tIOU, hamm and NN per sample, their means and ``nn_total``: bit-identical. Sem per sample and its mean,
SFD: within the registry's documented ``Metric.reproducibility`` bound (:func:`bounds.within`).
"""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bounds import within  # noqa: E402
from frozen import FROZEN, compute  # noqa: E402

EXPECTED = json.loads(FROZEN.read_text())
EXACT = ("tiou", "hamm", "nn")


@pytest.fixture(scope="module")
def got(one_torch_thread_module):
    return compute()


@pytest.fixture(scope="module")
def one_torch_thread_module():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("which", ["examples", "synthetic"])
def test_rows_and_means_do_not_move(got, which):
    g, e = got[which], EXPECTED[which]
    assert [(r["file"], r["box_index"]) for r in g["rows"]] == [(r["file"], r["box_index"]) for r in e["rows"]]
    for gr, er in zip(g["rows"], e["rows"]):
        assert {m: gr[m] for m in EXACT} == {m: er[m] for m in EXACT}      # bit-identical
        assert gr["sem"] == within("sem", er["sem"])
        if er["sem"] == 0.0:
            assert gr["sem"] == 0.0                                         # identical objects: exactly 0
    assert {m: g["means"][m] for m in EXACT} == {m: e["means"][m] for m in EXACT}
    assert g["nn_total"] == e["nn_total"]
    assert g["means"]["sem"] == within("sem", e["means"]["sem"])
    assert g["means"]["sfd"] == within("sfd", e["means"]["sfd"])


def test_streaming_does_not_move(got):
    g, e = got["streaming"], EXPECTED["streaming"]
    assert {k: g[k] for k in (*EXACT, "n_samples", "nn_total")} == {k: e[k] for k in (*EXACT, "n_samples", "nn_total")}
    assert g["sem"] == within("sem", e["sem"])
    assert g["sfd"] == within("sfd", e["sfd"])
    # the streaming means equal the pipeline's on the same samples
    assert {m: g[m] for m in EXACT} == {m: got["synthetic"]["means"][m] for m in EXACT}
