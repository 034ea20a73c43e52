"""The pieces of the classifier-selection benchmarks (issue #12): calibration figures, the cached
temperature wrapper and the probability ensemble, checked against hand-computed values."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.classifier.ensemble_probe import ProbabilityEnsemble  # noqa: E402
from benchmarks.classifier.select_classifier import CachedTemperatureClassifier, ece, nll, softmax  # noqa: E402


class Linear(torch.nn.Module):
    """A stand-in classifier with the attributes the wrappers read (``config``, ``info``)."""

    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(2 * 4 * 4, 80, generator=g)
        self.config = {"arch": "test"}
        self.info = {"name": f"lin{seed}", "sha256": None}
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x.flatten(1) @ self.w


def test_ece_hand_values():
    # every prediction has confidence 0.9: all correct -> |0.9 - 1| = 0.1; half correct -> |0.9 - 0.5| = 0.4
    probs = np.tile(np.r_[0.9, 0.1], (4, 1))
    assert ece(probs, np.zeros(4, int)) == pytest.approx(0.1)
    assert ece(probs, np.array([0, 1, 0, 1])) == pytest.approx(0.4)
    # two bins: conf 0.6 (1 of 2 correct) and 0.95 (2 of 2 correct): 0.5 x 0.1 + 0.5 x 0.05
    probs = np.array([[0.6, 0.4], [0.6, 0.4], [0.95, 0.05], [0.95, 0.05]])
    assert ece(probs, np.array([0, 1, 0, 0])) == pytest.approx(0.075)


def test_nll_and_softmax_with_temperature():
    logits = np.array([[np.log(3.0), 0.0]])  # softmax = (0.75, 0.25)
    assert softmax(logits, 1.0) == pytest.approx(np.array([[0.75, 0.25]]))
    assert nll(logits, np.array([1]), 1.0) == pytest.approx(-np.log(0.25))
    # T = 2 halves the logits: p = sqrt(3) / (sqrt(3) + 1)
    assert nll(logits, np.array([0]), 2.0) == pytest.approx(-np.log(np.sqrt(3) / (np.sqrt(3) + 1)))


def test_cached_temperature_divides_logits_and_infers_once_per_input():
    base, cache = Linear(0), {}
    x = torch.rand(3, 2, 4, 4)
    t1 = CachedTemperatureClassifier(base, cache, 1.0)
    t2 = CachedTemperatureClassifier(base, cache, 2.0)
    assert torch.allclose(t2(x), t1(x) / 2)
    assert base.calls == 1 and t2.info["temperature"] == 2.0
    t1(torch.rand(3, 2, 4, 4))
    assert base.calls == 2


def test_probability_ensemble_softmax_is_the_mean_of_the_members():
    a, b = Linear(1), Linear(2)
    x = torch.rand(5, 2, 4, 4)
    one = ProbabilityEnsemble([a])
    assert torch.allclose(torch.softmax(one(x), 1), torch.softmax(a(x), 1), atol=1e-6)
    two = ProbabilityEnsemble([a, b])
    mean = (torch.softmax(a(x), 1) + torch.softmax(b(x), 1)) / 2
    assert torch.allclose(torch.softmax(two(x), 1), mean, atol=1e-6)
    assert two.info["name"] == "ensemble(lin1, lin2)" and two.info["sha256"] is None
