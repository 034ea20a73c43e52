"""Gated convolution (Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019).

The first layer of the Sem shape classifier (paper Sec. 3.3): the input has large all-zero areas
(outside the object / outside the box) and the shape lives on the 0/1 boundaries, so a learned
per-pixel, per-channel gate lets the stem weight those regions dynamically.
"""
from __future__ import annotations

import torch
from torch import nn

# Activations applied to the feature branch, by name (a registry rather than an if-chain).
FEATURE_ACTIVATIONS = {
    "elu": nn.ELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "relu": nn.ReLU,
    "identity": nn.Identity,
}


class GatedConv2d(nn.Module):
    """``y = phi(W_f * x) . sigmoid(W_g * x)`` (Yu et al. 2019; used as the stem of F in Sec. 3.3).

    Two convolutions with identical geometry see the same input: the feature branch ``W_f`` goes
    through ``phi`` (``activation``, ELU by default as in Yu et al.), the gating branch ``W_g`` through a
    sigmoid, and the two are multiplied element-wise. Shapes behave exactly like ``nn.Conv2d`` with the
    same arguments.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = True,
        activation: str = "elu",
    ) -> None:
        super().__init__()
        if activation not in FEATURE_ACTIVATIONS:
            raise ValueError(
                f"unknown gated-conv activation {activation!r}; choose one of {sorted(FEATURE_ACTIVATIONS)}"
            )
        geometry = dict(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, bias=bias)
        self.feature = nn.Conv2d(in_channels, out_channels, **geometry)
        self.gate = nn.Conv2d(in_channels, out_channels, **geometry)
        self.activation_name = activation
        self.phi = FEATURE_ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``phi(W_f * x) * sigmoid(W_g * x)`` (Yu et al. 2019)."""
        return self.phi(self.feature(x)) * torch.sigmoid(self.gate(x))

    def extra_repr(self) -> str:
        return f"activation={self.activation_name}"
