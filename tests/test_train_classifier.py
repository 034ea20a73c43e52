"""Classifier training: schedules, balanced order, metrics by hand, a tiny resumable run."""
import json

import numpy as np
import pytest

from sem_metric.errors import InputError
import torch

from sem_metric.training.classifier_metrics import classification_report
from sem_metric.training.shape_augment import augment_shape
from sem_metric.training.shape_bank import ShapeBank
from sem_metric.training.train_classifier import PRESETS, TrainConfig, epoch_order, lr_factor, make_batch, train


def test_paper_preset_is_the_papers_recipe():
    p = PRESETS["paper"]
    assert (p.arch, p.optimizer, p.lr, p.schedule, p.step_every, p.step_gamma, p.epochs) == (
        "efficientnet_b7", "adam", 1e-5, "step", 10, 0.7, 50)
    assert lr_factor(p, 0) == 1.0 and lr_factor(p, 9.99) == 1.0
    assert lr_factor(p, 10) == pytest.approx(0.7) and lr_factor(p, 25) == pytest.approx(0.49)


def test_cosine_schedule_with_warmup():
    c = TrainConfig(epochs=11, warmup_epochs=1.0, schedule="cosine")
    assert lr_factor(c, 0.5) == pytest.approx(0.5)
    assert lr_factor(c, 1.0) == pytest.approx(1.0)
    assert lr_factor(c, 6.0) == pytest.approx(0.5)
    assert lr_factor(c, 11.0) == pytest.approx(0.0, abs=1e-12)


def test_epoch_order_is_seeded_and_balanced():
    labels = np.array([0] * 900 + [1] * 100)
    cfg = TrainConfig(balance_power=1.0, epoch_size=20000)
    a, b = epoch_order(labels, cfg, 3), epoch_order(labels, cfg, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, epoch_order(labels, cfg, 4))
    frac1 = np.mean(labels[a] == 1)
    assert 0.47 < frac1 < 0.53  # power 1 -> classes drawn equally often
    plain = epoch_order(labels, TrainConfig(balance_power=0.0, epoch_size=20000), 0)
    assert 0.08 < np.mean(labels[plain] == 1) < 0.12


def test_classification_report_hand_computed():
    logits = np.zeros((4, 80))
    logits[0, 0] = 5  # label 0 -> correct
    logits[1, 3] = 5
    logits[1, 1] = 4  # label 1 -> 2nd: top-5 only
    logits[2, 2] = 5  # label 1 -> wrong; label 1 is at a tie rank > 5 (stable order puts 0,1.. first)
    logits[2, 4:10] = 4
    logits[3, 0] = 5  # label 0 -> correct
    rep = classification_report(logits, np.array([0, 1, 1, 0]))
    assert rep["top1"] == 0.5
    assert rep["top5"] == 0.75
    assert rep["balanced_top1"] == pytest.approx((1.0 + 0.0) / 2)
    assert [r["class"] for r in rep["per_class"]] == ["person", "bicycle"]


def test_augmentation_is_deterministic_and_keeps_the_object():
    mask = np.zeros((30, 20), bool)
    mask[5:25, 3:17] = True
    for s in range(20):
        a = augment_shape(mask, np.random.default_rng(s))
        assert np.array_equal(a, augment_shape(mask, np.random.default_rng(s)))
        assert a.any() and a.ndim == 2


def _bank(n=24, seed=0):
    rng = np.random.default_rng(seed)
    masks = [rng.random((int(rng.integers(4, 40)), int(rng.integers(4, 40)))) > 0.3 for _ in range(n)]
    return ShapeBank.from_lists(masks, rng.integers(0, 5, n), "synthetic")


def test_make_batch_shapes():
    x, y = make_batch(_bank(), np.array([0, 3, 5]), augment=True, seed_key=(0, 0, 1))
    assert x.shape == (3, 2, 96, 96) and y.tolist() == _bank().labels[[0, 3, 5]].tolist()


def test_tiny_run_checkpoints_resumes_and_exports(tmp_path):
    torch.set_num_threads(1)
    from sem_metric.sem.weights import load_classifier

    bank = _bank()
    cfg = TrainConfig(epochs=1, batch_size=8, epoch_size=16, warmup_epochs=0.0)
    state = train(bank, {"val": bank.subset(np.arange(8))}, cfg, tmp_path, max_steps=1, progress=False)
    assert state["step_in_epoch"] == 1 and (tmp_path / "last.pt").exists()
    state = train(bank, {"val": bank.subset(np.arange(8))}, cfg, tmp_path, progress=False)
    assert state["epoch"] == 1 and state["global_step"] == 2
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and "val" in log[0] and log[0]["best"]["sha256"]
    model = load_classifier(tmp_path / "best.safetensors", device="cpu")
    assert model.info["sha256"] == log[0]["best"]["sha256"]
    with pytest.raises(InputError, match="different config"):
        train(bank, {"val": bank}, TrainConfig(epochs=2, batch_size=8, epoch_size=16), tmp_path, progress=False)


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_augmentation_recipes_are_seeded_and_keep_an_object(recipe):
    yy, xx = np.mgrid[:40, :30]
    mask = ((yy - 20) ** 2 / 18 ** 2 + (xx - 15) ** 2 / 12 ** 2) <= 1.0  # an ellipse filling its box
    outs = [augment_shape(mask, np.random.default_rng([0, k]), recipe) for k in range(60)]
    again = [augment_shape(mask, np.random.default_rng([0, k]), recipe) for k in range(60)]
    for a, b in zip(outs, again):
        np.testing.assert_array_equal(a, b)  # a (seed, position) pair always gives the same sample
    for o in outs:
        assert o.dtype == bool and o.ndim == 2 and o.any()
        # never a different object: the area stays within a factor of the original's
        assert 0.3 * mask.sum() <= o.sum() <= 2.5 * mask.sum()
    assert len({o.tobytes() + bytes(o.shape) for o in outs}) > 30  # it does vary


def test_v2_augmentation_adds_rotation_and_truncation():
    from sem_metric.training import shape_augment as A

    bar = np.zeros((10, 40), bool)
    bar[3:7, :] = True
    rot = A._rotate(bar, 10.0)
    assert rot.shape[0] > bar.shape[0]  # the tilted bar needs a taller box
    cut = A._truncate(np.ones((20, 20), bool), np.random.default_rng(1))
    assert cut.size < 400 and cut.all()
    with pytest.raises(ValueError, match="unknown augmentation recipe"):
        augment_shape(bar, np.random.default_rng(0), "v9")
