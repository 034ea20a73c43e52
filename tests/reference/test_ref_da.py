"""Denoise Activation (paper Sec. 3.2): f^N (Eqs. 3-4) on hand-built maps, DA for training (Eqs. 5-6),
DA for testing (Eq. 9) and the fusion of Eqs. 2 / 8."""

import numpy as np
import pytest
import torch

from sem_metric.errors import InputError
from sem_metric.labelmap.context import context_classes
from sem_metric.labelmap.metrics import noise_count
from sem_metric.reference.da import (DenoiseActivation, da_log_prob, da_test, denoise_activation, filtered_logits,
                                     fuse, inpaint, noise_filter)

# A box cutting two objects. Box (x0, y0, x1, y1) = (3, 3, 7, 5): rows 3-4, columns 3-6.
#   object 1 (cols 2-4, rows 2-4) and object 2 (cols 5-7, rows 3-4) are both cut by the box;
#   class 4 (row 7) is not adjacent to the box.
SEG_TWO = np.array([
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 1, 1, 1, 0, 0, 0, 0, 0],
    [0, 0, 1, 1, 1, 2, 2, 2, 0, 0],
    [0, 0, 1, 1, 1, 2, 2, 2, 0, 0],
    [3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
    [3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
    [4, 4, 4, 4, 4, 4, 4, 4, 4, 4],
])
BOX_TWO = (3, 3, 7, 5)
# The ring M^1 of Eq. 3, written out: rows 2-5 x cols 2-7 minus the box.
RING_TWO = np.zeros_like(SEG_TWO, dtype=bool)
RING_TWO[2, 2:8] = True
RING_TWO[5, 2:8] = True
RING_TWO[3:5, 2] = True
RING_TWO[3:5, 7] = True


def _mask(shape, box):
    m = np.zeros(shape, np.float32)
    m[box[1]:box[3], box[0]:box[2]] = 1
    return m


def _seg_u(seg, box, label):
    s = seg.copy()
    s[box[1]:box[3], box[0]:box[2]] = label
    return s


def test_ring_written_out_by_hand_matches_core():
    from sem_metric.labelmap.context import ring_mask
    np.testing.assert_array_equal(ring_mask(SEG_TWO.shape, BOX_TWO), RING_TWO)
    assert sorted(np.unique(SEG_TWO[RING_TWO]).tolist()) == [0, 1, 2, 3]


def test_noise_filter_box_cutting_two_objects():
    label = 5
    su = _seg_u(SEG_TWO, BOX_TWO, label)
    f = noise_filter(torch.from_numpy(su), torch.from_numpy(_mask(su.shape, BOX_TWO)), label, 6)
    # ring classes 0 (background), 1 and 2 (the two cut objects), 3 (below) + target 5; class 4 is not
    # adjacent to the box
    assert f.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 1.0]


def test_noise_filter_box_on_image_border():
    seg = np.array([
        [1, 1, 1, 2, 5, 5],
        [1, 1, 1, 2, 5, 5],
        [3, 3, 3, 3, 5, 5],
        [4, 4, 4, 4, 4, 4],
        [4, 4, 4, 4, 4, 4],
        [7, 7, 7, 7, 7, 7],
    ])
    box = (0, 0, 3, 2)  # top-left corner: the ring exists only right of and below the box
    su = _seg_u(seg, box, 6)
    f = noise_filter(torch.from_numpy(su), torch.from_numpy(_mask(seg.shape, box)), 6, 8)
    # ring = (r0,c3)=2, (r1,c3)=2, (r2,c0..c3)=3 -> {2, 3} + target 6; 1 only inside the box,
    # 5 at column 4 is not on the ring
    assert f.tolist() == [0, 0, 1, 1, 0, 0, 1, 0]


def test_noise_filter_target_absent_from_ring_and_whole_image_box():
    su = _seg_u(SEG_TWO, BOX_TWO, 9)
    f = noise_filter(torch.from_numpy(su)[None], torch.from_numpy(_mask(su.shape, BOX_TWO))[None],
                     torch.tensor([9]), 10)
    assert f.shape == (1, 10)
    assert f[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]  # 9 is nowhere in the map but is the target
    whole = (0, 0, 10, 8)
    f2 = noise_filter(torch.from_numpy(_seg_u(SEG_TWO, whole, 2)), torch.ones(8, 10), 2, 5)
    assert f2.tolist() == [0, 0, 1, 0, 0]  # empty ring: only the target


def test_noise_filter_batched_matches_single():
    su1 = _seg_u(SEG_TWO, BOX_TWO, 5)
    su2 = _seg_u(SEG_TWO, (0, 5, 4, 8), 2)
    segs = torch.from_numpy(np.stack([su1, su2]))
    masks = torch.from_numpy(np.stack([_mask(su1.shape, BOX_TWO), _mask(su1.shape, (0, 5, 4, 8))]))
    f = noise_filter(segs, masks, torch.tensor([5, 2]), 6)
    assert f[0].tolist() == noise_filter(segs[0], masks[0], 5, 6).tolist()
    # box (0,5,4,8): rows 5-7, cols 0-3; ring = row 4 cols 0-4 (0,0,1,1,1) + col 4 rows 5-7 (3,3,4)
    assert f[1].tolist() == [1, 1, 1, 1, 1, 0]


def test_noise_count_uses_the_same_allowed_set():
    """NN with allowed = f^N classes (core context_classes) counts exactly the pixels DA calls noise."""
    label = 5
    su = _seg_u(SEG_TWO, BOX_TWO, label)
    allowed = context_classes(su, BOX_TWO, label)
    f = noise_filter(torch.from_numpy(su), torch.from_numpy(_mask(su.shape, BOX_TWO)), label, 6)
    assert allowed.tolist() == torch.nonzero(f).flatten().tolist()
    pred = SEG_TWO.copy()
    pred[3, 3], pred[4, 6] = 4, 4  # two noise pixels of class 4 inside the box
    pred[3, 4] = 5
    n_da = int(sum(f[int(c)] == 0 for c in pred[3:5, 3:7].ravel()))
    assert noise_count(pred, SEG_TWO, BOX_TWO, allowed=allowed) == n_da == 2


# ---------------------------------------------------------------------------------------------
# DA for training, Eqs. 5-6

def _logits(seed=0, shape=(2, 5, 4, 6)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * 3


def test_da_train_shape_and_sums_to_two():
    p = _logits()
    f = torch.tensor([[1, 0, 1, 0, 1], [0, 1, 1, 0, 0]], dtype=torch.float32)
    pd = DenoiseActivation()(p, f)
    assert pd.shape == p.shape
    torch.testing.assert_close(pd.sum(1), torch.full((2, 4, 6), 2.0))
    # Eq. 5-6 written out
    expected = torch.softmax(torch.nn.functional.leaky_relu(p, 0.01) * f[:, :, None, None], 1) + torch.softmax(p, 1)
    torch.testing.assert_close(pd, expected)
    torch.testing.assert_close(denoise_activation(p, f), expected)
    assert list(DenoiseActivation().parameters()) == []


def test_da_log_prob_is_log_half_pd_and_stable():
    p = _logits(1)
    f = torch.tensor([[1, 1, 0, 0, 1], [0, 0, 1, 0, 0]], dtype=torch.float32)
    torch.testing.assert_close(da_log_prob(p, f), torch.log(denoise_activation(p, f) / 2))
    big = p * 1e4
    lp = DenoiseActivation().log_prob(big, f)
    assert torch.isfinite(lp).all()
    torch.testing.assert_close(lp.exp().sum(1), torch.ones(2, 4, 6))


def test_da_train_gradient_flows():
    p = _logits(2).requires_grad_(True)
    f = torch.tensor([[1, 0, 1, 0, 1], [0, 1, 1, 0, 0]], dtype=torch.float32)
    target = torch.randint(0, 5, (2, 4, 6), generator=torch.Generator().manual_seed(3))
    loss = torch.nn.functional.nll_loss(da_log_prob(p, f), target)
    loss.backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_da_train_suppresses_a_dominant_noise_class():
    # one pixel, K = 4, f^N = {0, 2}; noise class 3 has the largest logit
    p = torch.tensor([1.0, 0.5, 2.0, 5.0]).view(1, 4, 1, 1)
    f = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    plain = torch.softmax(p, 1)
    pd = denoise_activation(p, f)
    filt = torch.softmax(filtered_logits(p, f), 1)
    assert plain.argmax(1).item() == 3  # without DA the noise class wins
    assert filt.argmax(1).item() == 2  # the filtered branch picks an allowed class
    assert pd[0, 3, 0, 0] / 2 < plain[0, 3, 0, 0]  # the noise class loses mass in P^d / 2
    assert pd[0, 2, 0, 0] / 2 > plain[0, 2, 0, 0]  # an allowed class gains it
    # every class outside f^N weighs exp(0) in the filtered branch, never more than an allowed class with
    # a non-negative logit
    q = _logits(4)
    ff = torch.tensor([[1, 0, 1, 0, 1], [0, 1, 1, 0, 0]], dtype=torch.float32)
    s = torch.softmax(filtered_logits(q, ff), 1)
    for n in range(2):
        out = s[n, ff[n] == 0]
        assert torch.allclose(out, out[:1].expand_as(out))
        m0 = out[0]  # (H, W): mass of any class outside f^N
        ok = (q[n] >= 0) & (ff[n][:, None, None] > 0)
        assert ok.any()
        assert (s[n] >= m0[None] - 1e-7)[ok].all()


def test_da_rejects_bad_filter_shape():
    from sem_metric.errors import InputError
    with pytest.raises(InputError):
        denoise_activation(_logits(), torch.ones(2, 4))


# ---------------------------------------------------------------------------------------------
# Eq. 2 / Eq. 8 fusion and Eq. 9

def test_fuse_eq2():
    s_tilde = torch.tensor([[7, 7, 7], [7, 7, 7]])
    seg_u = torch.tensor([[1, 2, 3], [4, 5, 6]])
    mask = torch.tensor([[0, 1, 1], [0, 0, 1]])
    assert fuse(s_tilde, seg_u, mask).tolist() == [[1, 7, 7], [4, 5, 7]]


def test_da_test_eq9_on_hand_built_probabilities():
    # K = 4, map 2 x 3, box = column 1..2 of both rows; f^N = {0, 2}
    seg_u = torch.tensor([[[0, 2, 2], [1, 2, 2]]])
    mask = torch.tensor([[[0, 1, 1], [0, 1, 1]]], dtype=torch.float32)
    f = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    probs = torch.zeros(1, 4, 2, 3)
    probs[0, :, 0, 1] = torch.tensor([0.1, 0.6, 0.2, 0.1])  # noise class 1 wins -> 2 under DA
    probs[0, :, 0, 2] = torch.tensor([0.5, 0.1, 0.3, 0.1])  # allowed 0 wins either way
    probs[0, :, 1, 1] = torch.tensor([0.2, 0.1, 0.1, 0.6])  # noise class 3 wins -> 0 under DA
    probs[0, :, 1, 2] = torch.tensor([0.1, 0.1, 0.7, 0.1])
    probs[0, :, :, 0] = torch.tensor([0.0, 0.0, 0.0, 1.0])[:, None]  # outside the box: ignored
    plain = inpaint(probs, seg_u, mask)
    assert plain.tolist() == [[[0, 1, 0], [1, 3, 2]]]  # Eq. 2 keeps the noise pixels
    d = da_test(probs, seg_u, mask, f)
    assert d.tolist() == [[[0, 2, 0], [1, 0, 2]]]  # Eq. 9: noise suppressed, outside = S^u
    # ties with a filtered class resolve to an allowed class (underflowed probabilities)
    z = torch.zeros(1, 4, 2, 3)
    assert set(da_test(z, seg_u, mask, f)[0][mask[0] > 0].tolist()) <= {0, 2}


# ------------------------------------------------------------------------------ issue 9: exports, unbatched maps
def test_reference_exports_its_public_names_lazily():
    """`from sem_metric.reference import noise_filter` works (torch-free import: tests/test_registry.py)."""
    import sem_metric.reference as r
    import sem_metric.reference.da as da
    from sem_metric.reference import (DenoiseActivation, SISMDataset, TwoSM, TwoSMConfig, da_test, fuse,  # noqa: F401
                                      inpaint, load_ade20k, load_camvid, load_cityscapes, load_generator,
                                      make_sample, noise_filter, save_generator)

    assert r.noise_filter is da.noise_filter and noise_filter is da.noise_filter
    assert set(r.__all__) <= set(dir(r))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        r.nope


def test_da_test_fuse_inpaint_accept_one_unbatched_sample():
    from sem_metric.reference import da_test, fuse, inpaint, noise_filter

    torch.manual_seed(0)
    seg_u = torch.zeros(6, 7, dtype=torch.long)
    seg_u[:, 4:] = 2
    mask = torch.zeros(6, 7)
    mask[1:4, 2:5] = 1
    seg_u[mask > 0] = 1
    probs = torch.softmax(torch.randn(4, 6, 7), 0)
    f_n = noise_filter(seg_u, mask, 1, 4)
    assert f_n.shape == (4,)
    single = da_test(probs, seg_u, mask, f_n)
    batched = da_test(probs[None], seg_u[None], mask[None], f_n[None])
    assert single.shape == (6, 7) and torch.equal(single, batched[0])
    assert set(single[mask > 0].tolist()) <= {0, 1, 2}
    assert torch.equal(inpaint(probs, seg_u, mask), inpaint(probs[None], seg_u[None], mask[None])[0])
    assert torch.equal(fuse(probs.argmax(0), seg_u, mask), fuse(probs.argmax(0)[None], seg_u[None], mask[None])[0])
    with pytest.raises(InputError, match=r"\(K, H, W\) with maps \(H, W\)"):
        da_test(probs[0], seg_u, mask, f_n)
    with pytest.raises(InputError, match="one sample"):
        da_test(probs, seg_u[None], mask[None], f_n)
