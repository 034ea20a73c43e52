"""The Sem shape classifier F (paper Sec. 3.3): a timm EfficientNet whose stem is a gated convolution.

Input: 2 channels (binary target-object map O, box mask M) prepared by :mod:`sem_metric.sem.preprocess`;
output: 80 logits over :data:`sem_metric.sem.classes.COCO_CLASSES`. The EfficientNet variant is a
parameter (the paper used B7; the shipped weights use B0, see ``weights/MODEL_CARD.md``; ``efficientnet_lite0``,
no squeeze-excitation, ReLU6, is the architecture of the ImageNet-initialised candidates of issue #19).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..comparability import SEM_REPRODUCIBILITY
from ..errors import SemMetricError
from .classes import NUM_CLASSES
from .gated_conv import GatedConv2d


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything needed to rebuild F exactly; stored in the weights file's metadata."""

    arch: str = "efficientnet_b0"
    in_chans: int = 2
    num_classes: int = NUM_CLASSES
    gate_activation: str = "elu"
    drop_rate: float = 0.2

    def to_dict(self) -> dict[str, Any]:
        """The config as stored in the weights' ``sem_metric.config`` metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ClassifierConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error (weights from another version)."""
        fields = cls.__dataclass_fields__
        unknown = set(d) - set(fields)
        if unknown:
            raise ValueError(f"unknown classifier config keys {sorted(unknown)}")
        defaults = cls()
        return cls(**{k: type(getattr(defaults, k))(v) for k, v in d.items()})


class ShapeClassifier(nn.Module):
    """F of Eq. 10: EfficientNet with a :class:`GatedConv2d` stem; ``forward`` returns logits F_{-1}."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()) -> None:
        super().__init__()
        import timm  # heavy import, deferred until a model is built

        if not config.arch.startswith("efficientnet_"):
            raise ValueError(f"arch must be a timm EfficientNet (efficientnet_b0..b7, efficientnet_lite0..4), "
                             f"got {config.arch!r}")
        net = timm.create_model(
            config.arch,
            pretrained=False,
            in_chans=config.in_chans,
            num_classes=config.num_classes,
            drop_rate=config.drop_rate,
        )
        stem = net.conv_stem
        if type(stem) is not nn.Conv2d or not isinstance(stem.padding, tuple):
            raise ValueError(f"{config.arch}: only plain-Conv2d stems can be gated (not TF 'same' padding)")
        net.conv_stem = GatedConv2d(
            config.in_chans,
            stem.out_channels,
            kernel_size=stem.kernel_size[0],
            stride=stem.stride[0],
            padding=stem.padding[0],
            bias=True,
            activation=config.gate_activation,
        )
        self.config = config
        self.net = net
        # provenance, filled by sem_metric.sem.weights.load_classifier (timm's pretrained_cfg analogue)
        self.info: dict[str, Any] = {"name": None, "sha256": None, "source": "random-init"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits F_{-1}(x) of Eq. 10 for inputs (N, 2, S, S) (channels O and M)."""
        return self.net(x)


def build_shape_classifier(config: ClassifierConfig | None = None, **overrides: Any) -> ShapeClassifier:
    """Build an untrained F (Sec. 3.3) from a config (defaults: EfficientNet-B0, ELU-gated stem)."""
    cfg = config or ClassifierConfig()
    if overrides:
        cfg = ClassifierConfig(**{**cfg.to_dict(), **overrides})
    return ShapeClassifier(cfg)


def compile_classifier(model: ShapeClassifier, freezing: bool = False) -> ShapeClassifier:
    """Opt-in ``torch.compile`` of F (Sec. 3.3) for inference; returns the same module, compiled in place.

    For large runs: after a one-time compilation (about a minute on a 2-core CPU, a few seconds in later
    processes, which reuse torch's on-disk inductor cache) inference is about 1.35x faster than eager on
    a CPU (``benchmarks/bench_classifier.py``). Compiled logits differ from eager ones by float rounding
    only (fused kernels); Sem stays within its documented bound of eager (tested), so results remain
    comparable. The first batch is run through both and compared (:func:`verify_compiled_outputs`): a
    compiled graph that computes something else is refused, not used.
    ``freezing=True`` also folds batch norm into the convolutions (inductor freezing): measured no
    faster here, and its compilation is not reused from the cache (28 s instead of 8 s per process).
    The module is marked ``sem_compiled`` so that :func:`sem_metric.sem.metric.probabilities_from_inputs`
    feeds it fixed-size batches (padded with zero images, which do not influence other rows): exactly
    one graph is compiled. The parameters, ``state_dict`` and ``info`` are unchanged. Idempotent.
    """
    if getattr(model, "sem_compiled", False):
        return model
    from torch._inductor import config as inductor_config

    model.eval()
    compiled = torch.compile(model.net, dynamic=False)
    verified = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        # freezing is read when inductor compiles (first call); torch.compile(options=...) does not pass it on
        with inductor_config.patch(freezing=bool(freezing)):
            out = compiled(x)
        if not verified:            # the first batch, as the run feeds it, against eager: never a silent wrong number
            verify_compiled_outputs(out, model.net(x))
            verified.append(True)
        return out

    model.forward = forward
    model.sem_compiled = True
    return model


def verify_compiled_outputs(compiled_logits: torch.Tensor, eager_logits: torch.Tensor) -> None:
    """Refuse a compiled F (Sec. 3.3) whose softmax differs from eager beyond Sem's reproducibility bound.

    Each row's 0.5 x L1 distance between the two softmax outputs (Eq. 10's distance) must be finite
    and at most half of Sem's documented bound (:data:`sem_metric.comparability.SEM_REPRODUCIBILITY`), so that
    Sem of a compiled run stays within the bound of eager. Inductor has been seen to produce NaN on some
    machines (torch 2.14.1 with ``ATEN_CPU_CAPABILITY=avx2`` on an AVX-512 CPU); that run is refused with
    a :class:`sem_metric.errors.SemMetricError` instead of scoring.
    """
    p = torch.softmax(compiled_logits.detach().double(), dim=1)
    q = torch.softmax(eager_logits.detach().double(), dim=1)
    dist = 0.5 * (p - q).abs().sum(dim=1)
    worst = float(dist.max()) if dist.numel() else 0.0
    limit = SEM_REPRODUCIBILITY.bound(1.0) / 2
    if not bool(torch.isfinite(p).all()) or not worst <= limit:
        raise SemMetricError(
            f"torch.compile (inductor) gives wrong classifier outputs on this machine: its softmax differs from "
            f"eager mode by {worst:.3g} (0.5 x L1, allowed {limit:g}) on the first batch. Run without --compile "
            "(compile=False); eager results are unaffected.")
