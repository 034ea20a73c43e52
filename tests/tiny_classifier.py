"""A tiny stand-in for the Sem classifier with timm's feature API (8-d penultimate features).

Sem (Eq. 10) and SFD properties hold for any classifier, and an 8-d feature space keeps the SFD
linear algebra instant; the real EfficientNet-B0 (1280-d) is used where the features themselves matter.
Not a test module: imported by tests and by the processes they spawn.
"""
from types import SimpleNamespace

import torch
from torch import nn


class _Trunk(nn.Module):
    num_features = 8

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 8, kernel_size=5, stride=4)
        self.head = nn.Linear(8, 80)

    def forward_features(self, x):
        return torch.tanh(self.conv(x))

    def forward_head(self, x, pre_logits=False):
        x = x.mean(dim=(2, 3))
        return x if pre_logits else self.head(x)

    def get_classifier(self):
        return self.head

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class TinyFeatureClassifier(nn.Module):
    """Deterministic (seeded) 2-channel -> 80-class classifier with ``.net`` / ``.config`` / ``.info``."""

    def __init__(self, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.net = _Trunk()
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        self.config = SimpleNamespace(num_classes=80)
        self.info = {"name": "tiny", "sha256": "7" * 64, "source": "test"}
        self.eval()

    def forward(self, x):
        return self.net.forward_head(self.net.forward_features(x))
