"""TwoSM generator / discriminator (paper Sec. 3.1) and the losses of Eqs. 1 and 7 on a tiny config."""
import numpy as np
import pytest
import torch

from sem_metric.reference.twosm import (PatchDiscriminator, TwoSM, TwoSMConfig, TwoSMGenerator, load_generator,
                                        save_generator)

TINY = dict(num_classes=5, base_channels=4, max_channels=16, n_down=2, n_res=1, disc_channels=8, disc_layers=2)


def _batch(n=3, h=13, w=18, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    seg_c = torch.randint(0, k - 1, (n, h, w), generator=g)
    seg_c[:, 4:9, 5:12] = k - 1  # the target object
    seg_c[:, 6, 5] = 1
    mask = torch.zeros(n, h, w)
    mask[:, 3:10, 4:13] = 1
    label = torch.full((n,), k - 1)
    seg_u = torch.where(mask > 0, label[:, None, None].expand(n, h, w), seg_c)
    return {"seg_c": seg_c, "seg_u": seg_u, "mask": mask, "label": label}


def test_generator_and_discriminator_shapes_odd_size():
    torch.manual_seed(0)
    cfg = TwoSMConfig(**TINY)
    g, d = TwoSMGenerator(cfg), PatchDiscriminator(cfg)
    b = _batch()
    x = g.encode_input(b["seg_u"], b["mask"])
    assert x.shape == (3, 6, 13, 18)  # one-hot S^u (K) + M
    assert torch.equal(x[:, :5].argmax(1), b["seg_u"]) and torch.equal(x[:, 5], b["mask"])
    logits, obj = g(b["seg_u"], b["mask"])
    assert logits.shape == (3, 5, 13, 18) and obj.shape == (3, 1, 13, 18)
    score = d(x[:, :5], torch.sigmoid(obj))
    assert score.dim() == 4 and score.shape[:2] == (3, 1)


@pytest.mark.parametrize("use_da", [False, True])
def test_training_steps_finite_and_reduce_reconstruction(use_da):
    torch.manual_seed(0)
    cfg = TwoSMConfig(**TINY, use_da=use_da, lr=3e-3)
    m = TwoSM(cfg)
    opt_g, opt_d = m.make_optimizers()
    b = _batch()
    first = m.train_step(b, opt_g, opt_d)
    for _ in range(8):
        last = m.train_step(b, opt_g, opt_d)
    for losses in (first, last):
        assert all(np.isfinite(v) for v in losses.values())
    assert last["l_rec_p"] < first["l_rec_p"]
    assert last["l_rec_o"] < first["l_rec_o"]
    probs = m.predict_probs(b["seg_u"], b["mask"],
                            torch.ones(3, 5) if use_da else None)
    torch.testing.assert_close(probs.sum(1), torch.full((3, 13, 18), 2.0 if use_da else 1.0))


def test_default_lr_is_paper_value():
    assert TwoSMConfig().lr == 2e-5  # Sec. 4.1: Adam, learning rate 0.00002
    cfg = TwoSMConfig(**TINY)
    assert TwoSMConfig.from_dict(cfg.to_dict()) == cfg


def test_export_roundtrip(tmp_path):
    torch.manual_seed(0)
    m = TwoSM(TwoSMConfig(**TINY, use_da=True))
    b = _batch()
    sha = save_generator(tmp_path / "g.safetensors", m, {"x": 1}, half=False)
    m2 = load_generator(tmp_path / "g.safetensors")
    assert m2.cfg == m.cfg and m2.meta == {"x": 1} and m2.sha256 == sha
    f = torch.ones(3, 5)
    torch.testing.assert_close(m2.predict_probs(b["seg_u"], b["mask"], f), m.predict_probs(b["seg_u"], b["mask"], f))
    save_generator(tmp_path / "h.safetensors", m)  # float16 export: close, half the size
    m3 = load_generator(tmp_path / "h.safetensors")
    assert (m3.predict_probs(b["seg_u"], b["mask"], f) - m.predict_probs(b["seg_u"], b["mask"], f)).abs().max() < 2e-2
    assert (tmp_path / "h.safetensors").stat().st_size < 0.6 * (tmp_path / "g.safetensors").stat().st_size


def test_a_pinned_checkpoint_is_verified_before_it_is_loaded(tmp_path):
    from sem_metric.errors import WeightsError

    torch.manual_seed(0)
    sha = save_generator(tmp_path / "g.safetensors", TwoSM(TwoSMConfig(**TINY)), half=False)
    assert load_generator(tmp_path / "g.safetensors", sha256=sha.upper()).sha256 == sha
    data = bytearray((tmp_path / "g.safetensors").read_bytes())
    data[-1] ^= 1                                    # one flipped bit in a tensor
    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="expected " + sha):
        load_generator(tmp_path / "bad.safetensors", sha256=sha)
    with pytest.raises(WeightsError, match="sha256 hex digest"):
        load_generator(tmp_path / "g.safetensors", sha256="abc")
