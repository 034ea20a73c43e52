"""Randomised property tests of the label-map metrics (paper Sec. 4.1): every form equals a naive
reference on random maps of every integer dtype, including negative and very large class ids.

Policy (README "Class ids" and the input contract): maps of any numpy / torch integer dtype; class ids
are non-negative (a negative id is an InputError in every form); ids of any size are ordinary classes
and all counts are exact.
"""
import numpy as np
import pytest
import torch

from sem_metric.labelmap import kernels
from sem_metric.labelmap import metrics as M

DTYPES = [np.uint8, np.uint16, np.int32, np.int64, np.int8, np.uint32, np.uint64]


def _naive(p, g, box, lab, allowed=None):
    """Set-based reference on Python ints."""
    x0, y0, x1, y1 = box
    pv = [int(v) for v in p[y0:y1, x0:x1].ravel()]
    gv = [int(v) for v in g[y0:y1, x0:x1].ravel()]
    inter = sum(1 for a, b in zip(pv, gv) if a == lab and b == lab)
    union = sum(1 for a, b in zip(pv, gv) if a == lab or b == lab)
    ok = set(gv) if allowed is None else {int(a) for a in allowed}
    return (1.0 if union == 0 else inter / union, sum(a == b for a, b in zip(pv, gv)) / len(pv),
            sum(1 for a in pv if a not in ok))


def _ids(rng, dtype, k, mode):
    """k class ids representable in dtype: small, negative (signed dtypes), or spread over 0 .. the
    dtype's largest value (at most 2**63 - 1)."""
    info = np.iinfo(dtype)
    if mode == "small":
        return rng.choice(np.arange(0, min(int(info.max), 40) + 1), size=k, replace=False).astype(dtype)
    if mode == "negative":
        return rng.choice(np.arange(-20, 20), size=k, replace=False).astype(dtype)
    hi = min(int(info.max), (1 << 63) - 1)
    ids = {0, hi} | {int(v) for v in rng.integers(0, min(hi, 1 << 62), size=k, dtype=np.int64)}
    return np.array(sorted(ids)[:k], dtype=object).astype(dtype)


def _case(rng, dtype, mode, n_maps=3, boxes_per_map=4, h=13, w=17, k=5):
    ids = _ids(rng, dtype, k, mode)
    preds = [ids[rng.integers(0, len(ids), (h, w))] for _ in range(n_maps)]
    gts = [np.where(rng.random((h, w)) < 0.6, p, ids[rng.integers(0, len(ids), (h, w))]).astype(dtype) for p in preds]
    P, G, boxes, labels = [], [], [], []
    for i in range(n_maps):
        for _ in range(boxes_per_map):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            boxes.append((x0, y0, int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1))))
            P.append(preds[i])  # the same map object for every box of the image
            G.append(gts[i])
            labels.append(int(ids[rng.integers(0, len(ids))]) if rng.random() < 0.8 else 12345)
    return P, G, boxes, labels, ids


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", ["small", "large"])
def test_every_form_equals_naive_reference(dtype, mode):
    rng = np.random.default_rng(hash((np.dtype(dtype).name, mode)) % 2**32)
    for _ in range(2):
        P, G, boxes, labels, ids = _case(rng, dtype, mode)
        allowed = [[int(a) for a in rng.choice(ids, size=int(rng.integers(0, len(ids))), replace=False)]
                   for _ in boxes]
        ref = [_naive(p, g, b, l) for p, g, b, l in zip(P, G, boxes, labels)]
        ref_a = [_naive(p, g, b, l, a)[2] for p, g, b, l, a in zip(P, G, boxes, labels, allowed)]
        t_ref = np.array([r[0] for r in ref])
        h_ref = np.array([r[1] for r in ref])
        n_ref = np.array([r[2] for r in ref])
        # single-sample forms
        assert [M.tiou(p, g, b, l) for p, g, b, l in zip(P, G, boxes, labels)] == t_ref.tolist()
        assert [M.hamm(p, g, b) for p, g, b in zip(P, G, boxes)] == h_ref.tolist()
        assert [M.noise_count(p, g, b) for p, g, b in zip(P, G, boxes)] == n_ref.tolist()
        assert [M.noise_count(p, g, b, a) for p, g, b, a in zip(P, G, boxes, allowed)] == ref_a
        # batched forms on lists sharing maps
        np.testing.assert_array_equal(M.tiou_batch(P, G, boxes, labels), t_ref)
        np.testing.assert_array_equal(M.hamm_batch(P, G, boxes), h_ref)
        np.testing.assert_array_equal(M.noise_count_batch(P, G, boxes), n_ref)
        np.testing.assert_array_equal(M.noise_count_batch(P, G, boxes, allowed), ref_a)
        fused = M.labelmap_metrics_batch(P, G, boxes, labels)
        np.testing.assert_array_equal(fused["tiou"], t_ref)
        np.testing.assert_array_equal(fused["hamm"], h_ref)
        np.testing.assert_array_equal(fused["nn"], n_ref)
        assert fused["tiou"].dtype == np.float64 and fused["nn"].dtype == np.int64
        np.testing.assert_array_equal(M.labelmap_metrics_batch(P, G, boxes, labels, allowed)["nn"], ref_a)
        # a stack of the same maps
        np.testing.assert_array_equal(M.tiou_batch(np.stack(P), np.stack(G), boxes, labels), t_ref)


@pytest.mark.parametrize("pdt, gdt", [(np.uint8, np.int64), (np.uint16, np.int8), (np.uint64, np.int64),
                                      (np.int32, np.uint32)])
def test_mixed_dtypes_between_pred_and_gt(pdt, gdt):
    rng = np.random.default_rng(7)
    p = rng.integers(0, 6, (20, 30)).astype(pdt)
    g = np.where(rng.random((20, 30)) < 0.5, p, rng.integers(0, 8, (20, 30))).astype(gdt)
    boxes = [(0, 0, 30, 20), (3, 4, 9, 19), (10, 2, 11, 3)]
    ref = [_naive(p, g, b, 3) for b in boxes]
    out = M.labelmap_metrics_batch([p] * 3, [g] * 3, boxes, [3] * 3)
    assert out["tiou"].tolist() == [r[0] for r in ref]
    assert out["hamm"].tolist() == [r[1] for r in ref]
    assert out["nn"].tolist() == [r[2] for r in ref]


def test_torch_tensors_of_every_integer_dtype():
    rng = np.random.default_rng(8)
    P, G, boxes, labels, _ = _case(rng, np.int64, "small")
    ref = M.labelmap_metrics_batch(P, G, boxes, labels)
    for tdt in (torch.int8, torch.int16, torch.int32, torch.int64):
        tp = [torch.from_numpy(p).to(tdt) for p in P]
        tg = [torch.from_numpy(g).to(tdt) for g in G]
        out = M.labelmap_metrics_batch(tp, tg, torch.tensor(boxes), torch.tensor(labels))
        for k in ref:
            np.testing.assert_array_equal(out[k], ref[k])


def test_histogram_paths_agree_on_large_boxes():
    """Direct indexing (small ids, big box) and the compact remap (huge ids) give the same counts."""
    rng = np.random.default_rng(9)
    small = rng.integers(0, 60, (300, 400)).astype(np.uint8)
    gsmall = np.where(rng.random(small.shape) < 0.7, small, rng.integers(0, 60, small.shape)).astype(np.uint8)
    big, gbig = small.astype(np.int64) * (1 << 40) + 7, gsmall.astype(np.int64) * (1 << 40) + 7
    box = [(5, 5, 390, 290)]
    a = M.box_counts_batch([small], [gsmall], box, [17])
    b = M.box_counts_batch([big], [gbig], box, [17 * (1 << 40) + 7])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert int(a.noise[0]) == M.noise_count(small, gsmall, box[0]) and a.pixels[0] == 385 * 285


def test_list_of_large_maps_is_not_stacked(monkeypatch):
    """A list of maps shared between boxes is validated once per map and never stacked (O(box area))."""
    calls = []
    real = M.as_label_map
    monkeypatch.setattr(M, "as_label_map", lambda x, *a, **k: calls.append(1) or real(x, *a, **k))
    monkeypatch.setattr(np, "stack", lambda *a, **k: pytest.fail("maps were stacked"))
    big = np.zeros((1024, 2048), np.uint8)
    out = M.labelmap_metrics_batch([big] * 50, [big] * 50, [(0, 0, 8, 8)] * 50, [0] * 50)
    assert out["tiou"].tolist() == [1.0] * 50 and len(calls) == 2


@pytest.mark.parametrize("bins, pixels", [(1 << 22, 1 << 23), (5000, 300), (1, 1)])
def test_grouped_counting_equals_per_box(monkeypatch, bins, pixels):
    """Boxes sharing one histogram (split into groups by the bin / pixel budgets, mixed with boxes that
    need the compact remap) give the per-box counts."""
    from sem_metric.labelmap import kernels

    monkeypatch.setattr(kernels, "_GROUP_BINS", bins)      # the grouping budgets live with the kernels
    monkeypatch.setattr(kernels, "_GROUP_PIXELS", pixels)
    rng = np.random.default_rng(11)
    P, G, boxes, labels = [], [], [], []
    for mode, dtype in [("small", np.uint8), ("large", np.int16), ("small", np.int64), ("large", np.uint32),
                        ("small", np.uint16)]:
        p, g, b, lab, _ = _case(rng, dtype, mode, n_maps=2, boxes_per_map=3)
        P += p
        G += g
        boxes += b
        labels += lab
    counts = M.box_counts_batch(P, G, boxes, labels)
    for i, (p, g, b, lab) in enumerate(zip(P, G, boxes, labels)):
        x0, y0, x1, y1 = b
        assert [int(c[i]) for c in counts] == list(kernels._region_counts(p[y0:y1, x0:x1], g[y0:y1, x0:x1], lab, None))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_negative_ids_are_rejected_by_every_form(dtype):
    """The policy of the whole package: a negative class id in a map is an InputError, never a class."""
    from sem_metric.errors import InputError

    rng = np.random.default_rng(12)
    P, G, boxes, labels, _ = _case(rng, dtype, "negative")
    G = [g.copy() for g in G]
    for g in G:
        g[0, 0] = -1  # at least one negative id in every map
    calls = [lambda: M.tiou(P[0], G[0], boxes[0], 0), lambda: M.hamm(G[0], G[0], boxes[0]),
             lambda: M.noise_count(P[0], G[0], boxes[0]), lambda: M.tiou_batch(P, G, boxes, [0] * len(P)),
             lambda: M.hamm_batch(P, G, boxes), lambda: M.noise_count_batch(P, G, boxes),
             lambda: M.labelmap_metrics_batch(P, G, boxes, [0] * len(P)),
             lambda: M.labelmap_metrics_batch(np.stack(P), np.stack(G), boxes, [0] * len(P))]
    for call in calls:
        with pytest.raises(InputError, match="non-negative"):
            call()


def test_broadcast_stack_is_scanned_once():
    """A map repeated for its boxes with np.broadcast_to (what sem-score does) is checked once, not N times."""
    from sem_metric.errors import InputError

    m = np.zeros((64, 64), np.int64)
    m[5, 5] = -3
    with pytest.raises(InputError, match="non-negative"):
        M.labelmap_metrics_batch(np.broadcast_to(m, (1000, 64, 64)), np.broadcast_to(m, (1000, 64, 64)),
                                 [(0, 0, 8, 8)] * 1000, [0] * 1000)
    ok = np.abs(m)
    out = M.labelmap_metrics_batch(np.broadcast_to(ok, (3, 64, 64)), np.broadcast_to(ok, (3, 64, 64)),
                                   [(0, 0, 8, 8), (4, 4, 9, 9), (0, 0, 64, 64)], [0, 3, 3])
    assert out["hamm"].tolist() == [1.0, 1.0, 1.0] and out["tiou"].tolist() == [1.0, 1.0, 1.0]
