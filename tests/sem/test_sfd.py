"""Shape Frechet Distance (beyond the paper, FID-style): linear algebra, features, statistics files, pipeline."""
import numpy as np
import pytest
import scipy.linalg
import torch

from sem_metric import registry
from sem_metric.errors import InputError
from sem_metric.pipeline.evaluate import evaluate_samples
from sem_metric.sem.metric import forward_chunks
from sem_metric.sem.preprocess import classifier_inputs
from sem_metric.sem.sfd import (SFDAccumulator, ShapeStats, frechet_distance, objects_digest, shape_features_batch,
                                shape_frechet_distance, shape_stats, sqrtm_psd)


def _maps(seed, n=12, shape=(40, 56)):
    rng = np.random.default_rng(seed)
    gts, preds, boxes, labels = [], [], [], []
    for _ in range(n):
        gt = rng.integers(0, 4, size=shape)
        x0, y0 = int(rng.integers(0, 25)), int(rng.integers(0, 15))
        box = (x0, y0, x0 + int(rng.integers(4, 30)), y0 + int(rng.integers(4, 24)))
        h, w = box[3] - box[1], box[2] - box[0]
        gt[box[1]:box[3], box[0]:box[2]] = np.where(rng.random((h, w)) > 0.4, 9, 1)
        pred = gt.copy()
        pred[box[1]:box[3], box[0]:box[2]] = np.where(rng.random((h, w)) > 0.6, 9, 2)
        gts.append(gt), preds.append(pred), boxes.append(box), labels.append(9)
    return preds, gts, boxes, labels


def _spd(rng, d, n=None):
    a = rng.normal(size=(n or 3 * d, d))
    return np.cov(a, rowvar=False)


def _newton_schulz_sqrt(a, iters=60):
    """Independent matrix square root (coupled Newton-Schulz iteration, scaled by the Frobenius norm)."""
    norm = np.linalg.norm(a)
    y, z = a / norm, np.eye(a.shape[0])
    for _ in range(iters):
        t = 0.5 * (3.0 * np.eye(a.shape[0]) - z @ y)
        y, z = y @ t, t @ z
    return y * np.sqrt(norm)


# ------------------------------------------------------------------------------ linear algebra
def test_sqrtm_psd_matches_two_independent_square_roots():
    rng = np.random.default_rng(0)
    s = _spd(rng, 40)
    r = sqrtm_psd(s)
    ref = scipy.linalg.sqrtm(s)
    ref = np.real(ref)
    assert np.linalg.norm(r - ref) / np.linalg.norm(ref) < 1e-6
    ns = _newton_schulz_sqrt(s)
    assert np.linalg.norm(r - ns) / np.linalg.norm(ns) < 1e-6
    np.testing.assert_allclose(r @ r, s, rtol=0, atol=1e-12 * np.abs(s).max())
    assert np.array_equal(r, r.T)


def test_sqrtm_psd_rank_deficient_is_real_symmetric_psd():
    rng = np.random.default_rng(1)
    s = _spd(rng, 60, n=10)                       # rank 9: eigenvalues are 0 up to round-off (some negative)
    r = sqrtm_psd(s)
    assert r.dtype == np.float64 and np.array_equal(r, r.T)
    assert np.linalg.eigvalsh(r).min() > -1e-12
    np.testing.assert_allclose(r @ r, s, rtol=0, atol=1e-12 * np.abs(s).max())


def test_frechet_hand_checkable_1d_and_diagonal():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(2.0 ** 2 + (2.0 - 3.0) ** 2, rel=1e-12)
    # diagonal: sum over dimensions
    m1, m2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 4.0, 1.0])
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(expected, rel=1e-12)


def test_frechet_identical_symmetric_and_matches_sqrtm_route():
    rng = np.random.default_rng(2)
    s1, s2 = _spd(rng, 30), _spd(rng, 30) * 1.7
    m1, m2 = rng.normal(size=30), rng.normal(size=30)
    assert frechet_distance(m1, s1, m1.copy(), s1.copy()) == 0.0
    d12 = frechet_distance(m1, s1, m2, s2)
    assert d12 > 0 and d12 == pytest.approx(frechet_distance(m2, s2, m1, s1), rel=1e-9)
    # the classic route: tr sqrtm(S1 S2) with scipy's general (complex Schur) square root
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    ref = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert d12 == pytest.approx(ref, rel=1e-6)


def test_frechet_rank_deficient_matches_closed_form():
    """Fewer samples than dimensions: tr((S1^1/2 S2 S1^1/2)^1/2) = ||A2^T A1||_* / sqrt((n1-1)(n2-1))."""
    rng = np.random.default_rng(3)
    d = 120
    f1 = rng.normal(size=(20, d))
    f2 = rng.normal(size=(15, d)) * 0.8 + 0.3
    c1, c2 = f1 - f1.mean(0), f2 - f2.mean(0)
    nuclear = np.linalg.svd(c2 @ c1.T, compute_uv=False).sum() / np.sqrt(19 * 14)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    ref = ((f1.mean(0) - f2.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * nuclear
    assert frechet_distance(f1.mean(0), s1, f2.mean(0), s2) == pytest.approx(ref, rel=1e-9)


def test_frechet_input_errors():
    with pytest.raises(InputError, match="shapes do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(InputError, match="NaN"):
        frechet_distance(np.zeros(2), np.array([[np.nan, 0], [0, 1]]), np.zeros(2), np.eye(2))
    with pytest.raises(InputError, match="square"):
        sqrtm_psd(np.zeros((2, 3)))


# ------------------------------------------------------------------------------ features
def test_features_are_the_timm_penultimate_layer(random_classifier, one_torch_thread):
    preds, gts, boxes, labels = _maps(4, n=5)
    f = shape_features_batch(preds, boxes, labels, classifier=random_classifier)
    assert f.shape == (5, 1280) and f.dtype == np.float64
    x = classifier_inputs(preds, boxes, labels).contiguous(memory_format=torch.channels_last)
    net = random_classifier.net
    with torch.inference_mode():      # in the batches F sees (forward_chunks: 5 rows = 4 + 1)
        ref = np.concatenate([net.forward_head(net.forward_features(x[c]), pre_logits=True).double().numpy()
                              for c in forward_chunks(len(x), 64)])
        logits = torch.cat([random_classifier(x[c]) for c in forward_chunks(len(x), 64)]).double()
    assert np.array_equal(f, ref)  # same batches -> bit-identical
    # the head applied to these features gives the classifier's output (Sem's F_{-1})
    with torch.inference_mode():
        head = net.get_classifier()(torch.from_numpy(f).float()).double()
    np.testing.assert_allclose(head.numpy(), logits.numpy(), rtol=0, atol=1e-5)
    f1 = shape_features_batch(preds, boxes, labels, classifier=random_classifier, batch_size=2)
    np.testing.assert_allclose(f1, f, rtol=0, atol=1e-5)
    # identical objects -> bit-identical features, whatever else is in the batch
    same = shape_features_batch([gts[0], gts[0], preds[1]], [boxes[0]] * 2 + [boxes[1]], [9, 9, 9],
                                classifier=random_classifier)
    assert np.array_equal(same[0], same[1])


def test_shape_frechet_distance_properties(tiny_classifier):
    preds, gts, boxes, labels = _maps(5)
    assert shape_frechet_distance(gts, gts, boxes, labels, classifier=tiny_classifier) == 0.0
    d = shape_frechet_distance(preds, gts, boxes, labels, classifier=tiny_classifier)
    fp = shape_features_batch(preds, boxes, labels, classifier=tiny_classifier)
    fg = shape_features_batch(gts, boxes, labels, classifier=tiny_classifier)
    ref = frechet_distance(fp.mean(0), np.cov(fp, rowvar=False), fg.mean(0), np.cov(fg, rowvar=False))
    assert d > 0 and d == pytest.approx(ref, rel=1e-6)
    assert shape_frechet_distance(gts, preds, boxes, labels, classifier=tiny_classifier) == pytest.approx(d, rel=1e-6)
    with pytest.raises(InputError, match="at least 2"):
        shape_frechet_distance(preds[:1], gts[:1], boxes[:1], labels[:1], classifier=tiny_classifier)
    with pytest.raises(InputError, match="differ in length"):
        shape_frechet_distance(preds, gts[:3], boxes, labels, classifier=tiny_classifier)


def test_gt_statistics_written_reused_and_refused(tiny_classifier, tmp_path):
    preds, gts, boxes, labels = _maps(6)
    path = tmp_path / "gt_stats.npz"
    d = shape_frechet_distance(preds, gts, boxes, labels, classifier=tiny_classifier, gt_stats=path)
    stats = ShapeStats.load(path)
    assert stats.n == 12 and stats.feature_dim == 8 and stats.weights_sha256 == "7" * 64
    assert stats.objects_digest == objects_digest(gts, boxes, labels)
    # the digest does not depend on the order of the objects
    assert objects_digest(gts[::-1], boxes[::-1], labels[::-1]) == stats.objects_digest
    ref = shape_stats(gts, boxes, labels, classifier=tiny_classifier)
    np.testing.assert_allclose(stats.mu, ref.mu, rtol=1e-12)
    # reused: the same value (ground truths are not classified again)
    assert shape_frechet_distance(preds, gts, boxes, labels, classifier=tiny_classifier,
                                  gt_stats=path) == pytest.approx(d, rel=1e-6)
    assert shape_frechet_distance(preds, gts, boxes, labels, classifier=tiny_classifier,
                                  gt_stats=ref) == pytest.approx(d, rel=1e-6)
    # other ground-truth objects: refused
    with pytest.raises(InputError, match="ground-truth objects differ.*Delete the file"):
        shape_frechet_distance(preds, preds, boxes, labels, classifier=tiny_classifier, gt_stats=path)
    # other weights: refused
    other = type(tiny_classifier)(seed=0)
    other.info = {**other.info, "sha256": "8" * 64}
    with pytest.raises(InputError, match="weights sha256"):
        shape_frechet_distance(preds, gts, boxes, labels, classifier=other, gt_stats=path)
    # other preprocessing: refused
    ShapeStats(stats.mu, stats.sigma, stats.n, stats.weights_sha256, "box-window-v0", stats.objects_digest).save(
        tmp_path / "old.npz")
    with pytest.raises(InputError, match="preprocessing"):
        shape_frechet_distance(preds, gts, boxes, labels, classifier=tiny_classifier, gt_stats=tmp_path / "old.npz")
    # not a statistics file
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot be read"):
        ShapeStats.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(InputError, match="not a sem-metric SFD statistics file"):
        ShapeStats.load(tmp_path / "other.npz")


def test_accumulator_any_chunking_and_merge(tiny_classifier):
    preds, gts, boxes, labels = _maps(7, n=15)
    ref = shape_frechet_distance(preds, gts, boxes, labels, classifier=tiny_classifier)
    one = SFDAccumulator(tiny_classifier, batch_size=4)
    for i in range(15):
        one.update(preds[i:i + 1], gts[i:i + 1], boxes[i:i + 1], labels[i:i + 1])
    a, b = SFDAccumulator(tiny_classifier), SFDAccumulator(tiny_classifier)
    a.update(preds[:4], gts[:4], boxes[:4], labels[:4])
    b.update(preds[4:], gts[4:], boxes[4:], labels[4:])
    a.merge(b.state())
    for acc in (one, a):
        assert acc.compute() == pytest.approx(ref, rel=1e-6)
        assert acc.metadata()["n_pred"] == acc.metadata()["n_gt"] == 15
    assert a.metadata()["gt_objects_digest"] == one.metadata()["gt_objects_digest"] == objects_digest(gts, boxes, labels)


# ------------------------------------------------------------------------------ registry / pipeline
def test_registry_entry():
    m = registry.get("sfd")
    assert (m.display_name, m.higher_is_better, m.kind, m.level, m.default) == ("SFD", False, "sem", "dataset", False)
    assert m.version_keys == ("sem_weights_sha256", "sem_preprocessing_version", "sem_definition_version")
    assert "sfd" not in registry.default_names()
    assert m.resolve() is SFDAccumulator


def test_pipeline_reports_sfd_as_a_dataset_value(tiny_classifier, tmp_path):
    preds, gts, boxes, labels = _maps(8, n=6)
    samples = {f"m{i}.png": (preds[i], gts[i]) for i in range(6)}
    box_map = {f"m{i}.png": [{"bbox": list(boxes[i]), "label": 9}] for i in range(6)}
    stats = tmp_path / "s.npz"
    r = evaluate_samples(samples, box_map, metrics="tiou,sfd",
                         sem_options={"classifier": tiny_classifier, "sfd_gt_stats": str(stats)})
    assert r["metrics"] == ["tiou", "sfd"]
    assert r["means"]["sfd"] == pytest.approx(shape_frechet_distance(preds, gts, boxes, labels,
                                                                     classifier=tiny_classifier), rel=1e-6)
    assert all("sfd" not in row for row in r["samples"])
    meta = r["metadata"]["dataset_metrics"]["sfd"]
    assert meta["weights_sha256"] == "7" * 64 and meta["feature_dim"] == 8 and meta["n_pred"] == meta["n_gt"] == 6
    assert r["metadata"]["sem"]["classifier"]["sha256"] == "7" * 64  # the version keys are there
    assert r["metadata"]["world_size"] == 1
    assert r["runtime"]["dataset_metrics"]["sfd"]["gt_stats"]["status"] == "written"
    r2 = evaluate_samples(samples, box_map, metrics="tiou,sfd",
                          sem_options={"classifier": tiny_classifier, "sfd_gt_stats": str(stats)})
    assert r2["runtime"]["dataset_metrics"]["sfd"]["gt_stats"]["status"] == "loaded"
    assert r2["means"]["sfd"] == pytest.approx(r["means"]["sfd"], rel=1e-6)
    # identical sets: exactly 0
    same = {k: (g, g) for k, (_, g) in samples.items()}
    assert evaluate_samples(same, box_map, metrics="sfd", sem_options={"classifier": tiny_classifier}
                            )["means"]["sfd"] == 0.0
