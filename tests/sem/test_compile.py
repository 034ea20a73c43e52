"""Opt-in torch.compile of the Sem classifier (issue #10): Sem equals eager within the documented bound.

The compiled test compiles EfficientNet-B0 once: about a minute on an idle 2-core CPU the first time
(far longer on a heavily loaded one), a few seconds later, when torch's on-disk inductor cache is warm.
It is skipped, saying why, when no C++ compiler is available for inductor.
"""
import shutil
import time

import numpy as np
import pytest
import torch
from torch import nn

from sem_metric import registry
from sem_metric.errors import SemMetricError
from sem_metric.sem.metric import compute_sem_batch, probabilities_from_inputs


def _samples(seed=0, n=5):
    rng = np.random.default_rng(seed)
    preds, gts, boxes, labels = [], [], [], []
    for _ in range(n):
        gt = np.zeros((120, 160), np.uint8)
        h, w = int(rng.integers(20, 90)), int(rng.integers(20, 120))
        y0, x0 = int(rng.integers(0, 120 - h)), int(rng.integers(0, 160 - w))
        yy, xx = np.mgrid[0:h, 0:w]
        ell = ((yy - h / 2) / (h / 2.2)) ** 2 + ((xx - w / 2) / (w / 2.2)) ** 2 < 1
        gt[y0:y0 + h, x0:x0 + w][ell] = 5
        pred = gt.copy()
        pred[y0:y0 + h, x0:x0 + w] = np.where(rng.random((h, w)) < 0.1, 5 - pred[y0:y0 + h, x0:x0 + w], 0)
        pred[y0 + h // 3:y0 + h, x0:x0 + w // 2] = 5
        preds.append(pred), gts.append(gt), boxes.append((x0, y0, x0 + w, y0 + h)), labels.append(5)
    return preds, gts, boxes, labels


class _RowWise(nn.Module):
    """A stand-in classifier whose rows do not interact; records the batch sizes it is given."""

    def __init__(self):
        super().__init__()
        self.config = type("C", (), {"num_classes": 3})()
        self.w = nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
        self.sizes = []

    def forward(self, x):
        self.sizes.append(x.shape[0])
        return x.mean(dim=(1, 2, 3))[:, None] * self.w


def test_compiled_flag_pads_every_batch_to_batch_size():
    """A model marked sem_compiled gets fixed-size batches (one graph); padding rows never leak into results."""
    x = torch.rand(11, 2, 96, 96)
    plain = _RowWise()
    ref = probabilities_from_inputs(x, plain, batch_size=4)
    assert plain.sizes == [4, 4, 2, 1]   # the rest in powers of two (forward_chunks)
    fixed = _RowWise()
    fixed.sem_compiled = True
    out = probabilities_from_inputs(x, fixed, batch_size=4)
    assert fixed.sizes == [4, 4, 4]
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def _compiler_available():
    return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


@pytest.mark.skipif(not _compiler_available(), reason="torch.compile (inductor, CPU) needs a C++ compiler on PATH")
def test_compiled_sem_equals_eager_within_1e_4(one_torch_thread):
    from sem_metric.pipeline.evaluate import evaluate_samples
    from sem_metric.sem.weights import load_classifier

    preds, gts, boxes, labels = _samples()
    eager = load_classifier(None, device="cpu")
    ref = compute_sem_batch(preds, gts, boxes, labels, classifier=eager, batch_size=8)
    t = time.perf_counter()
    compiled = load_classifier(None, device="cpu", compile=True)
    assert compiled.sem_compiled and compiled.info["sha256"] == eager.info["sha256"]
    try:
        out = compute_sem_batch(preds, gts, boxes, labels, classifier=compiled, batch_size=8)
    except SemMetricError as e:   # the first-batch check refused a wrong compiled graph (never used for Sem)
        assert "torch.compile" in str(e) and "without --compile" in str(e)
        pytest.skip(f"torch.compile computes wrong outputs on this machine and was refused: {e}")
    print(f"compile + first batch: {time.perf_counter() - t:.1f} s")
    assert np.abs(out - ref).max() <= registry.get("sem").reproducibility.bound(1.0), (out, ref)
    assert (ref > 0.01).any()  # not a trivially zero comparison
    # through the pipeline: the compiled classifier is reused, runtime says so
    samples = [(f"s{i}", p, g) for i, (p, g) in enumerate(zip(preds, gts))]
    box_map = {f"s{i}": [{"bbox": list(b), "label": 5}] for i, b in enumerate(boxes)}
    r = evaluate_samples(samples, box_map, metrics="sem",
                         sem_options={"classifier": compiled, "compile": True, "batch_size": 8})
    assert r["runtime"]["sem"]["compiled"] is True and r["metadata"]["options"]["sem"]["compile"] is True
    np.testing.assert_allclose([s["sem"] for s in r["samples"]], ref, rtol=0, atol=registry.get("sem").reproducibility.bound(1.0))


class _Linear(nn.Module):
    """A small stand-in for F's network (timm module with the classifier's interface)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(2 * 96 * 96, 80)

    def forward(self, x):
        return self.fc(x.reshape(x.shape[0], -1))


def _fake_compiled(monkeypatch, wrong):
    """compile_classifier with torch.compile replaced by a 'compiled graph' that adds ``wrong(logits)``."""
    from sem_metric.sem import classifier as clf

    monkeypatch.setattr(clf.torch, "compile", lambda fn, **kw: (lambda x: fn(x) + wrong(fn(x))))
    model = nn.Module()
    model.net = _Linear()
    model.config = type("C", (), {"num_classes": 80})()
    return clf.compile_classifier(model)


@pytest.mark.parametrize("wrong", [lambda y: y * float("nan"), lambda y: torch.randn_like(y)])
def test_a_compiled_graph_that_computes_something_else_is_refused(monkeypatch, wrong):
    """Seen with torch 2.14.1 under ATEN_CPU_CAPABILITY=avx2 on an AVX-512 CPU: NaN from inductor."""
    model = _fake_compiled(monkeypatch, wrong)
    x = torch.rand(4, 2, 96, 96)
    with pytest.raises(SemMetricError, match=r"torch.compile \(inductor\) gives wrong classifier outputs.*without --compile"):
        probabilities_from_inputs(x, model, batch_size=4)


def test_a_compiled_graph_within_the_bound_is_used(monkeypatch):
    model = _fake_compiled(monkeypatch, lambda y: torch.full_like(y, 1e-7) * torch.arange(y.shape[1]))
    x = torch.rand(6, 2, 96, 96)
    out = probabilities_from_inputs(x, model, batch_size=4)        # verified on the first batch, then trusted
    assert out.shape == (6, 80) and np.isfinite(out).all()
