"""GatedConv2d: y = phi(W_f * x) . sigmoid(W_g * x), pinned on hand-set kernels."""
import math

import pytest
import torch

from sem_metric.sem.gated_conv import GatedConv2d


def _set(conv, weight, bias):
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        conv.bias.fill_(bias)


def test_1x1_kernel_hand_computed_elu():
    g = GatedConv2d(1, 1, kernel_size=1, activation="elu")
    _set(g.feature, [[[[-1.0]]]], 0.0)  # phi(-x) = exp(-x) - 1 for x > 0
    _set(g.gate, [[[[1.0]]]], 0.5)  # sigmoid(x + 0.5)
    x = torch.tensor([[[[0.0, 1.0], [2.0, -3.0]]]])
    y = g(x)
    expected = []
    for v in (0.0, 1.0, 2.0, -3.0):
        f = -v
        phi = f if f > 0 else math.exp(f) - 1.0
        expected.append(phi / (1.0 + math.exp(-(v + 0.5))))
    assert torch.allclose(y.flatten(), torch.tensor(expected), atol=1e-6)
    # x=0: phi(0) = 0 -> 0 whatever the gate
    assert y[0, 0, 0, 0].item() == 0.0


def test_3x3_kernel_identity_activation_matches_manual_sum():
    g = GatedConv2d(1, 1, kernel_size=3, padding=1, activation="identity")
    k = [[[[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]]]  # plus-shaped neighbour sum
    _set(g.feature, k, 0.0)
    _set(g.gate, [[[[0.0] * 3] * 3]], 0.0)  # gate = sigmoid(0) = 0.5 everywhere
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 4.0
    x[0, 0, 0, 0] = 2.0
    y = g(x)[0, 0]
    # centre: 4 (itself); (0,1): 4 + 2; (1,0): 4 + 2; (0,0): 2; corners far from both: 0
    manual = torch.tensor([[2.0, 6.0, 0.0], [6.0, 4.0, 4.0], [0.0, 4.0, 0.0]]) * 0.5
    assert torch.allclose(y, manual)


def test_gate_closed_zeroes_output_and_shape_matches_conv2d():
    g = GatedConv2d(2, 8, kernel_size=3, stride=2, padding=1)
    with torch.no_grad():
        g.gate.weight.zero_()
        g.gate.bias.fill_(-100.0)
    x = torch.randn(2, 2, 17, 17, generator=torch.Generator().manual_seed(0))
    y = g(x)
    assert y.shape == torch.nn.Conv2d(2, 8, 3, stride=2, padding=1)(x).shape == (2, 8, 9, 9)
    assert y.abs().max().item() < 1e-30


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown gated-conv activation"):
        GatedConv2d(1, 1, activation="swishy")
