"""Weight interpolation of two classifiers (WiSE-FT candidates of the v4c rule, issue #25)."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.classifier.v4.interpolate import interpolate_state  # noqa: E402


def _states():
    g = torch.Generator().manual_seed(0)
    a = {"w": torch.randn(3, 4, generator=g), "bn.running_var": torch.rand(4, generator=g) + 0.5,
         "bn.num_batches_tracked": torch.tensor(7)}
    b = {"w": torch.randn(3, 4, generator=g), "bn.running_var": torch.rand(4, generator=g) + 0.5,
         "bn.num_batches_tracked": torch.tensor(11)}
    return a, b


def test_ends_are_the_two_weights_and_the_middle_is_the_mean():
    a, b = _states()
    for k in ("w", "bn.running_var"):
        assert torch.equal(interpolate_state(a, b, 0.0)[k], a[k])
        assert torch.equal(interpolate_state(a, b, 1.0)[k], b[k])
        torch.testing.assert_close(interpolate_state(a, b, 0.3)[k], 0.7 * a[k] + 0.3 * b[k])
    # an integer counter is not averaged: it is B's
    assert interpolate_state(a, b, 0.3)["bn.num_batches_tracked"].item() == 11
    assert interpolate_state(a, b, 0.3)["w"].dtype == torch.float32


def test_different_tensors_are_refused_with_their_names():
    a, b = _states()
    with pytest.raises(ValueError, match="extra"):
        interpolate_state(a, {**b, "extra": torch.zeros(1)}, 0.5)
    with pytest.raises(ValueError, match="tensor w"):
        interpolate_state(a, {**b, "w": torch.zeros(4, 3)}, 0.5)


def test_every_file_of_one_call_interpolates_the_original_ends(tmp_path):
    """Several alphas in one call: each file is (1 - a) A + a B of the *original* B (a model's state_dict
    shares storage with it, so writing one alpha must not move the next one's end)."""
    from safetensors.torch import load_file

    from benchmarks.classifier.v4.interpolate import main
    from sem_metric import load_classifier
    from sem_metric.sem.weights import save_classifier_weights

    model = load_classifier("sem-lite0-v3", device="cpu")
    a = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=g))
    b_path = tmp_path / "b.safetensors"
    save_classifier_weights(model, b_path)
    b = load_file(str(b_path))
    assert main(["sem-lite0-v3", str(b_path), "--alpha", "0.5", "1.0", "--out", str(tmp_path / "w")]) == 0
    mid = load_file(str(tmp_path / "w" / "wise_a050.safetensors"))
    end = load_file(str(tmp_path / "w" / "wise_a100.safetensors"))
    key = "net.conv_head.weight"
    torch.testing.assert_close(mid[key], 0.5 * a[key] + 0.5 * b[key])
    torch.testing.assert_close(end[key], b[key])


def test_a_folded_temperature_divides_the_logits():
    """fold_temperature.py: F(x) with the folded head equals F(x) / T (float32 rounding)."""
    from benchmarks.classifier.v4.fold_temperature import fold_temperature
    from sem_metric import load_classifier

    model = load_classifier("sem-lite0-v3", device="cpu")
    x = (torch.rand(3, 2, 96, 96, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    with torch.no_grad():
        before = model.net(x)
        model.load_state_dict(fold_temperature(model.state_dict(), 0.8))
        after = model.net(x)
    torch.testing.assert_close(after, before / 0.8, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        fold_temperature(model.state_dict(), 0.0)
